"""ImageNet-style folder trees: layout checks, ImageFolder datasets and transforms."""
import numpy as np
import pytest
from PIL import Image

from nasrepro.data.embedded_data import FASHION_CLASSES, embedded_path
from nasrepro.data.imagenet import (check_imagenet_layout, imagenet_datasets,
                                    imagenet_train_transform, imagenet_valid_transform)
from nasrepro.errors import DataError


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NASREPRO_CACHE", str(tmp_path_factory.getbasetemp() / "nasrepro-cache"))
        yield


def make_tree(root, splits=("train", "valid"), classes=("a", "b"), per_class=1):
    for split in splits:
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.new("RGB", (8, 8), (i, 0, 0)).save(folder / f"{i}.png")
    return root


def test_embedded_tree_and_datasets(cache):
    root = embedded_path("imagenet")
    layout = check_imagenet_layout(root)
    assert layout.valid_dir.name == "valid"
    assert layout.classes == [f"{i}_{n}" for i, n in enumerate(FASHION_CLASSES)]
    train, valid = imagenet_datasets(root, imagenet_train_transform(crop_size=48),
                                     imagenet_valid_transform(crop_size=56))
    assert len(train) == 1000 and len(valid) == 200
    assert np.bincount(train.targets).tolist() == [100] * 10
    assert np.bincount(valid.targets).tolist() == [20] * 10
    assert train.class_to_idx["3_dress"] == 3          # folder order equals label order
    x, y = valid[len(valid) - 1]
    assert x.shape == (3, 56, 56) and y == 9
    assert train[0][0].shape == (3, 48, 48)
    with Image.open(train.samples[0][0]) as image:
        assert image.size == (64, 64) and image.mode == "RGB"


def test_val_and_validation_aliases(tmp_path):
    for alias in ("val", "validation"):
        root = make_tree(tmp_path / alias, splits=("train", alias))
        assert check_imagenet_layout(root).valid_dir == root / alias


def test_missing_root_or_split_folders(tmp_path):
    with pytest.raises(DataError, match="ImageNet-style folder not found"):
        check_imagenet_layout(tmp_path / "nowhere")
    make_tree(tmp_path / "r1", splits=("valid",))
    with pytest.raises(DataError, match="no train/ folder"):
        check_imagenet_layout(tmp_path / "r1")
    make_tree(tmp_path / "r2", splits=("train",))
    with pytest.raises(DataError, match=r"no validation folder \(looked for valid/, val/, "
                                        r"validation/\)"):
        check_imagenet_layout(tmp_path / "r2")


def test_no_class_folders_and_empty_class_folder(tmp_path):
    root = tmp_path / "flat"
    (root / "train").mkdir(parents=True)
    (root / "valid").mkdir()
    Image.new("RGB", (8, 8)).save(root / "train" / "loose.png")   # images without class folders
    with pytest.raises(DataError, match=r"train: no class folders"):
        check_imagenet_layout(root)
    root = make_tree(tmp_path / "empty")
    (root / "valid" / "b" / "0.png").unlink()
    (root / "valid" / "b" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=r"valid/b: class folder has no image files"):
        check_imagenet_layout(root)


def test_class_sets_differ(tmp_path):
    root = make_tree(tmp_path / "r", classes=("a", "b", "c"))
    (root / "valid" / "c" / "0.png").unlink()
    (root / "valid" / "c").rmdir()
    make_tree(tmp_path / "r", splits=("valid",), classes=("d",))
    with pytest.raises(DataError, match=r"only in train/: c; only in valid/: d"):
        check_imagenet_layout(root)


def test_transform_parameters():
    train = imagenet_train_transform().transforms
    assert [type(t).__name__ for t in train] == ["RandomResizedCrop", "RandomHorizontalFlip",
                                                 "ColorJitter", "ToTensor", "Normalize"]
    assert train[0].size == (224, 224)
    jitter = train[2]
    assert jitter.brightness == (0.6, 1.4) and jitter.contrast == (0.6, 1.4)
    assert jitter.saturation == (0.6, 1.4) and jitter.hue == (-0.2, 0.2)
    assert list(train[4].mean) == [0.485, 0.456, 0.406]
    valid = imagenet_valid_transform().transforms
    assert [type(t).__name__ for t in valid] == ["Resize", "CenterCrop", "ToTensor", "Normalize"]
    assert valid[0].size == 256 and valid[1].size == (224, 224)
    assert imagenet_valid_transform(crop_size=56).transforms[0].size == 64   # 56 * 256 / 224
    assert "ColorJitter" not in [type(t).__name__
                                 for t in imagenet_train_transform(color_jitter=False).transforms]

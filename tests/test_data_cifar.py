"""CIFAR readers/writers, normalization and the PyTorch dataset/transforms (nasrepro.data)."""
import numpy as np
import pytest
import torch

from nasrepro.data import cifar
from nasrepro.data.cifar import read_cifar
from nasrepro.data.embedded_data import embedded_path
from nasrepro.data.torch_datasets import (ArrayImageDataset, Cutout, cifar_train_transform,
                                          cifar_valid_transform, train_valid_indices)
from nasrepro.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One embedded-data cache for the whole test session (materialization is idempotent)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NASREPRO_CACHE", str(tmp_path_factory.getbasetemp() / "nasrepro-cache"))
        yield


def tiny_images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


# ---------------------------------------------------------------- embedded data, all layouts

def test_embedded_cifar10_pickle_splits_and_labels(cache):
    full = read_cifar(embedded_path("cifar10"))
    assert full.images["train"].shape == (10000, 32, 32, 3)
    assert full.images["train"].dtype == np.uint8 and full.labels["train"].dtype == np.int64
    assert full.images["valid"] is None and full.labels["valid"] is None
    assert full.images["test"].shape == (2000, 32, 32, 3)
    assert np.bincount(full.labels["train"]).tolist() == [1000] * 10
    assert np.bincount(full.labels["test"]).tolist() == [200] * 10
    split = read_cifar(embedded_path("cifar10"), num_valids=1000)
    assert split.images["train"].shape[0] == 9000 and split.images["valid"].shape[0] == 1000
    # The validation set is the tail of the concatenated training batches, unshuffled.
    np.testing.assert_array_equal(split.images["valid"], full.images["train"][9000:])
    np.testing.assert_array_equal(split.labels["train"], full.labels["train"][:9000])
    assert np.bincount(split.labels["valid"]).tolist() == [100] * 10


def test_embedded_images_are_padded_gray_fashion(cache):
    images = read_cifar(embedded_path("cifar10")).images["test"]
    # 28x28 Fashion-MNIST zero-padded by 2 pixels, same value in all three channels.
    assert not images[:, :2].any() and not images[:, -2:].any()
    assert not images[:, :, :2].any() and not images[:, :, -2:].any()
    assert (images[..., 0] == images[..., 1]).all() and (images[..., 1] == images[..., 2]).all()
    assert images[:, 2:30, 2:30].max() == 255


def test_pickle_and_binary_layouts_hold_identical_arrays(cache):
    pickled = read_cifar(embedded_path("cifar10"), num_valids=1000)
    binary = read_cifar(embedded_path("cifar10-bin"), layout="binary", num_valids=1000)
    nao_split = read_cifar(embedded_path("cifar10-bin"), layout="binary-split")
    for other in (binary, nao_split):
        for split in ("train", "valid", "test"):
            np.testing.assert_array_equal(other.images[split], pickled.images[split])
            np.testing.assert_array_equal(other.labels[split], pickled.labels[split])
    c100 = read_cifar(embedded_path("cifar100"), dataset="cifar100")
    c100_bin = read_cifar(embedded_path("cifar100-bin"), dataset="cifar100", layout="binary")
    c10 = read_cifar(embedded_path("cifar10"))
    assert c100.num_classes == 100 and c100.labels["train"].max() == 9
    for split in ("train", "test"):
        # Same images with the 10 classes as fine labels, in both CIFAR-100 layouts.
        np.testing.assert_array_equal(c100.images[split], c10.images[split])
        np.testing.assert_array_equal(c100.labels[split], c10.labels[split])
        np.testing.assert_array_equal(c100_bin.images[split], c10.images[split])
        np.testing.assert_array_equal(c100_bin.labels[split], c10.labels[split])


# ---------------------------------------------------------------- writers and layouts

def test_binary_record_layout_is_label_then_chw(tmp_path):
    images = np.zeros((2, 32, 32, 3), np.uint8)
    images[1, 0, 1, 2] = 7          # row 0, column 1, blue channel
    cifar.write_binary_batch(tmp_path / "b.bin", images, np.array([3, 9]))
    raw = (tmp_path / "b.bin").read_bytes()
    assert len(raw) == 2 * 3073
    second = raw[3073:]
    assert second[0] == 9
    assert second[1 + 2 * 1024 + 0 * 32 + 1] == 7 and sum(second[1:]) == 7
    cifar.write_binary_batch(tmp_path / "c.bin", images, np.array([3, 9]),
                             coarse_labels=np.array([1, 2]))
    raw100 = (tmp_path / "c.bin").read_bytes()
    assert len(raw100) == 2 * 3074 and raw100[3074:3076] == bytes([2, 9])


def test_pickle_round_trip_and_parent_folder(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    images = tiny_images(12)
    labels = np.arange(12) % 10
    for i in range(5):
        cifar.write_pickle_batch(folder / f"data_batch_{i + 1}", images[2 * i:2 * i + 2],
                                 labels[2 * i:2 * i + 2])
    cifar.write_pickle_batch(folder / "test_batch", images[10:], labels[10:])
    for path in (folder, tmp_path):     # the batch folder itself, or its parent
        data = read_cifar(path, num_valids=3)
        assert data.directory == folder
        np.testing.assert_array_equal(data.images["train"], images[:7])
        np.testing.assert_array_equal(data.images["valid"], images[7:10])
        np.testing.assert_array_equal(data.labels["test"], [0, 1])


def test_missing_files_are_listed(tmp_path):
    cifar.write_pickle_batch(tmp_path / "data_batch_1", tiny_images(2), np.array([0, 1]))
    with pytest.raises(DataError) as err:
        read_cifar(tmp_path)
    message = str(err.value)
    assert str(tmp_path) in message and "cifar-10-batches-py" in message
    assert "missing in" in message and "data_batch_2" in message and "test_batch" in message
    missing_part = message.split("missing in")[1]
    assert "data_batch_1," not in missing_part


def test_truncated_binary_record(tmp_path):
    cifar.write_binary_batch(tmp_path / "b.bin", tiny_images(3), np.array([0, 1, 2]))
    data = (tmp_path / "b.bin").read_bytes()
    (tmp_path / "b.bin").write_bytes(data[:-1])
    with pytest.raises(DataError, match=r"b\.bin: records of 3073 bytes.*9218 bytes.*2 "
                                        r"records plus 3072 bytes"):
        cifar.read_binary_batch(tmp_path / "b.bin")


def test_pickle_with_wrong_shape_dtype_length_or_label(tmp_path):
    import pickle

    def write(batch):
        with open(tmp_path / "p", "wb") as f:
            pickle.dump(batch, f, protocol=2)

    write({b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]})
    with pytest.raises(DataError, match=r"uint8 array of shape \(N, 3072\).*\(2, 3000\)"):
        cifar.read_pickle_batch(tmp_path / "p")
    write({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]})
    with pytest.raises(DataError, match="float32"):
        cifar.read_pickle_batch(tmp_path / "p")
    write({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1, 2]})
    with pytest.raises(DataError, match="2 images but b'labels' has 3 entries"):
        cifar.read_pickle_batch(tmp_path / "p")
    write({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1, 10]})
    with pytest.raises(DataError, match=r"label 10 at record 2 is outside 0\.\.9"):
        cifar.read_pickle_batch(tmp_path / "p")
    write({b"data": np.zeros((1, 3072), np.uint8)})
    with pytest.raises(DataError, match="keys b'data' and b'labels'"):
        cifar.read_pickle_batch(tmp_path / "p")
    (tmp_path / "p").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="not a readable CIFAR python pickle"):
        cifar.read_pickle_batch(tmp_path / "p")


def test_cifar100_binary_uses_fine_label_and_checks_range(tmp_path):
    images = tiny_images(2)
    cifar.write_binary_batch(tmp_path / "train.bin", images, np.array([42, 99]),
                             coarse_labels=np.array([5, 19]))
    x, y = cifar.read_binary_batch(tmp_path / "train.bin", label_bytes=2, label_index=1,
                                   num_classes=100)
    np.testing.assert_array_equal(y, [42, 99])
    np.testing.assert_array_equal(x, images)
    cifar.write_binary_batch(tmp_path / "bad.bin", images, np.array([1, 100]),
                             coarse_labels=np.array([0, 0]))
    with pytest.raises(DataError, match=r"label 100 at record 1 is outside 0\.\.99"):
        cifar.read_binary_batch(tmp_path / "bad.bin", 2, 1, 100)


def test_bad_split_arguments(cache):
    with pytest.raises(ConfigError, match="num_valids=10000 must be in 0..9999"):
        read_cifar(embedded_path("cifar10"), num_valids=10000)
    with pytest.raises(ConfigError, match="already has valid_batch.bin"):
        read_cifar(embedded_path("cifar10-bin"), layout="binary-split", num_valids=5)
    with pytest.raises(ConfigError, match="cifar10 only"):
        read_cifar(embedded_path("cifar100-bin"), dataset="cifar100", layout="binary-split")


# ---------------------------------------------------------------- normalization

def test_channel_stats_and_normalize_by_hand():
    images = np.zeros((2, 1, 1, 3), np.uint8)
    images[1, 0, 0] = [255, 0, 102]
    images[:, 0, 0, 1] = 51
    mean, std = cifar.channel_stats(images)
    np.testing.assert_allclose(mean, [0.5, 0.2, 0.2], atol=1e-7)
    np.testing.assert_allclose(std, [0.5, 0.0, 0.2], atol=1e-7)
    out = cifar.normalize(images, [0.5, 0.2, 0.2], [0.5, 1.0, 0.2])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0, 0], [[-1, 0, -1], [1, 0, 1]], atol=1e-6)


def test_fixed_constants():
    assert cifar.CIFAR10_MEAN == (0.49139968, 0.48215827, 0.44653124)
    assert cifar.CIFAR10_STD == (0.24703233, 0.24348505, 0.26158768)
    assert cifar.IMAGENET_MEAN == (0.485, 0.456, 0.406)
    assert cifar.IMAGENET_STD == (0.229, 0.224, 0.225)


# ---------------------------------------------------------------- torch side

def test_dataset_with_valid_transform_matches_hand_normalization():
    images = tiny_images(3)
    ds = ArrayImageDataset(images, np.array([4, 5, 6]), cifar_valid_transform())
    x, y = ds[1]
    assert len(ds) == 3 and y == 5 and x.shape == (3, 32, 32)
    expected = (images[1].astype(np.float32) / 255 - np.array(cifar.CIFAR10_MEAN, np.float32)) \
        / np.array(cifar.CIFAR10_STD, np.float32)
    np.testing.assert_allclose(x.numpy(), expected.transpose(2, 0, 1), atol=1e-5)
    with pytest.raises(DataError, match="3 images but 2 labels"):
        ArrayImageDataset(images, np.array([1, 2]))


def test_cutout_square_is_clipped_and_centre_uniform():
    torch.manual_seed(0)
    cut = Cutout(16)
    heights = set()
    for _ in range(400):
        out = cut(torch.ones(3, 32, 32))
        zero = out[0] == 0
        assert torch.equal(zero, out[1] == 0) and torch.equal(zero, out[2] == 0)
        rows = torch.nonzero(zero.any(1)).flatten()
        cols = torch.nonzero(zero.any(0)).flatten()
        # A solid rectangle of at most 16x16, at least half the side (centre on the image).
        assert zero.sum() == len(rows) * len(cols)
        assert 8 <= len(rows) <= 16 and 8 <= len(cols) <= 16
        heights.add(len(rows))
    assert 16 in heights and 8 in heights
    with pytest.raises(ConfigError):
        Cutout(0)


def test_train_transform_cutout_comes_after_normalization():
    torch.manual_seed(1)
    black = np.zeros((1, 32, 32, 3), np.uint8)
    x, _ = ArrayImageDataset(black, np.array([0]), cifar_train_transform(cutout_length=16))[0]
    # Normalized black is -mean/std (never 0), the zero pad of the crop is too; only the hole is 0.
    zeros = (x == 0).all(0)
    assert 64 <= zeros.sum() <= 256
    assert torch.allclose(x[:, ~zeros][:, 0],
                          -torch.tensor(cifar.CIFAR10_MEAN) / torch.tensor(cifar.CIFAR10_STD))
    names = [type(t).__name__ for t in cifar_train_transform().transforms]
    assert names == ["RandomCrop", "RandomHorizontalFlip", "ToTensor", "Normalize"]
    assert cifar_train_transform().transforms[0].padding == 4


def test_train_valid_indices():
    train, valid = train_valid_indices(10, 0.5)
    assert train.tolist() == [0, 1, 2, 3, 4] and valid.tolist() == [5, 6, 7, 8, 9]
    train, valid = train_valid_indices(45, 0.9)
    assert len(train) == 40 and len(valid) == 5      # floor(0.9 * 45) = 40
    a_train, a_valid = train_valid_indices(50, 0.9, shuffle_seed=3)
    b_train, _ = train_valid_indices(50, 0.9, shuffle_seed=3)
    assert a_train.tolist() == b_train.tolist()
    assert sorted(a_train.tolist() + a_valid.tolist()) == list(range(50))
    assert a_train.tolist() != list(range(45))
    with pytest.raises(ConfigError):
        train_valid_indices(10, 1.0)

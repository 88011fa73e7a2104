"""ImageNet-style folder trees: `<root>/train/<class>/*` and `<root>/valid/<class>/*`.

The validation folder may also be called `val` or `validation` (NAO-V2 uses `valid`, GAEA's
bucket uses `validation`). Layout checks need no torch; the datasets and transforms import
torchvision when called."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..errors import DataError
from .cifar import IMAGENET_MEAN, IMAGENET_STD

VALID_FOLDER_NAMES = ("valid", "val", "validation")
# The extensions torchvision's ImageFolder accepts.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
LAYOUT_HELP = ("<root>/train/<class>/<image> and <root>/valid/<class>/<image> "
               "(valid may be named val or validation), the same class folders in both")


@dataclass
class ImageFolderLayout:
    """The checked layout: split folders and the (sorted) class folder names."""
    root: Path
    train_dir: Path
    valid_dir: Path
    classes: list[str]


def _class_folders(split_dir: Path) -> list[str]:
    # Every sub-folder counts, hidden ones too, exactly as ImageFolder's class discovery.
    classes = sorted(e.name for e in os.scandir(split_dir) if e.is_dir())
    if not classes:
        raise DataError(f"{split_dir}: no class folders; expected {LAYOUT_HELP}")
    for name in classes:
        if not _has_image(split_dir / name):
            raise DataError(f"{split_dir / name}: class folder has no image files "
                            f"(extensions {', '.join(IMAGE_EXTENSIONS)})")
    return classes


def _has_image(folder: Path) -> bool:
    # Stops at the first image: class folders of real ImageNet hold ~1300 files.
    for dirpath, _, files in os.walk(folder, followlinks=True):
        if any(f.lower().endswith(IMAGE_EXTENSIONS) for f in files):
            return True
    return False


def check_imagenet_layout(root: str | Path) -> ImageFolderLayout:
    """Validate the folder tree and return its split folders and classes."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: ImageNet-style folder not found; expected {LAYOUT_HELP}")
    train_dir = root / "train"
    if not train_dir.is_dir():
        raise DataError(f"{root}: no train/ folder; expected {LAYOUT_HELP}")
    valid_dir = next((root / n for n in VALID_FOLDER_NAMES if (root / n).is_dir()), None)
    if valid_dir is None:
        raise DataError(f"{root}: no validation folder (looked for "
                        f"{', '.join(n + '/' for n in VALID_FOLDER_NAMES)}); expected {LAYOUT_HELP}")
    train_classes = _class_folders(train_dir)
    valid_classes = _class_folders(valid_dir)
    if train_classes != valid_classes:
        only_train = sorted(set(train_classes) - set(valid_classes))
        only_valid = sorted(set(valid_classes) - set(train_classes))
        raise DataError(f"{root}: class folders differ between {train_dir.name}/ and "
                        f"{valid_dir.name}/: only in {train_dir.name}/: {_few(only_train)}; "
                        f"only in {valid_dir.name}/: {_few(only_valid)}")
    return ImageFolderLayout(root, train_dir, valid_dir, train_classes)


def _few(names: list[str], limit: int = 10) -> str:
    if not names:
        return "(none)"
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def imagenet_train_transform(crop_size: int = 224, color_jitter: bool = True,
                             mean: Sequence[float] = IMAGENET_MEAN,
                             std: Sequence[float] = IMAGENET_STD):
    """RandomResizedCrop, flip, ColorJitter(0.4, 0.4, 0.4, 0.2), ToTensor, Normalize."""
    from torchvision import transforms
    steps = [transforms.RandomResizedCrop(crop_size), transforms.RandomHorizontalFlip()]
    if color_jitter:
        steps.append(transforms.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4,
                                            hue=0.2))
    steps += [transforms.ToTensor(), transforms.Normalize(mean, std)]
    return transforms.Compose(steps)


def imagenet_valid_transform(crop_size: int = 224, resize_size: Optional[int] = None,
                             mean: Sequence[float] = IMAGENET_MEAN,
                             std: Sequence[float] = IMAGENET_STD):
    """Resize (default 256/224 of the crop), CenterCrop, ToTensor, Normalize."""
    from torchvision import transforms
    if resize_size is None:
        resize_size = round(crop_size * 256 / 224)
    return transforms.Compose([transforms.Resize(resize_size), transforms.CenterCrop(crop_size),
                               transforms.ToTensor(), transforms.Normalize(mean, std)])


def imagenet_datasets(root: str | Path, train_transform=None, valid_transform=None):
    """(train, valid) torchvision ImageFolder datasets over a checked layout."""
    from torchvision.datasets import ImageFolder
    layout = check_imagenet_layout(root)
    train = ImageFolder(str(layout.train_dir), transform=train_transform)
    valid = ImageFolder(str(layout.valid_dir), transform=valid_transform)
    return train, valid

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


def scan_image_folder(split_dir: Path, classes: list[str]) -> list[tuple[str, int]]:
    """(path, class index) of every image under split_dir/<class>/, sorted as ImageFolder does."""
    samples = []
    for index, name in enumerate(classes):
        for dirpath, _, files in sorted(os.walk(split_dir / name, followlinks=True)):
            for file in sorted(files):
                if file.lower().endswith(IMAGE_EXTENSIONS):
                    samples.append((os.path.join(dirpath, file), index))
    return samples


def scan_zip(zip_path: Path) -> tuple[list[tuple[str, int]], list[str]]:
    """(member, class index) of the images in a zip whose top-level folders are the classes."""
    import zipfile
    if not zip_path.is_file():
        raise DataError(f"{zip_path}: not found; --zip_file reads <data>/train.zip and "
                        "<data>/valid.zip, each holding one top-level folder per class")
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = [m for m in archive.namelist() if m.lower().endswith(IMAGE_EXTENSIONS)]
    except zipfile.BadZipFile as err:
        raise DataError(f"{zip_path}: not a readable zip file ({err})") from None
    nested = [m for m in members if "/" in m.strip("/")]
    if not nested:
        raise DataError(f"{zip_path}: no images inside class folders (expected "
                        "<class>/<image> entries)")
    classes = sorted({m.split("/", 1)[0] for m in nested})
    lookup = {name: i for i, name in enumerate(classes)}
    return sorted((m, lookup[m.split("/", 1)[0]]) for m in nested), classes


class EncodedImages:
    """Images kept encoded in memory (the JPEG bytes), decoded per item; optional transform.

    NAO-V2's default ImageNet loading: reading ~140 GB of JPEG bytes once is faster than
    opening 1.3 M files every epoch on network storage. Loading uses threads (I/O bound)."""

    def __init__(self, blobs: list[bytes], labels: list[int], transform=None):
        self.blobs, self.labels, self.transform = blobs, labels, transform

    @classmethod
    def from_files(cls, samples, transform=None, threads: int = 32):
        from concurrent.futures import ThreadPoolExecutor

        def read(path):
            with open(path, "rb") as f:
                return f.read()
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            blobs = list(pool.map(read, [path for path, _ in samples]))
        return cls(blobs, [label for _, label in samples], transform)

    @classmethod
    def from_zip(cls, zip_path: Path, samples, transform=None):
        import zipfile
        with zipfile.ZipFile(zip_path) as archive:
            blobs = [archive.read(member) for member, _ in samples]
        return cls(blobs, [label for _, label in samples], transform)

    def __len__(self) -> int:
        return len(self.blobs)

    def __getitem__(self, index: int):
        import io

        from PIL import Image
        with Image.open(io.BytesIO(self.blobs[index])) as image:
            image = image.convert("RGB")
        if self.transform is not None:
            image = self.transform(image)
        return image, self.labels[index]


def imagenet_splits(root: str | Path, train_transform=None, valid_transform=None,
                    in_memory: bool = True, zip_file: bool = False, threads: int = 32):
    """(train, valid, classes) of an ImageNet-style folder (or train.zip/valid.zip with
    zip_file): the images read into memory up front, or opened per item (in_memory=False)."""
    from torchvision.datasets import ImageFolder
    root = Path(root)
    if zip_file:
        train_samples, classes = scan_zip(root / "train.zip")
        valid_samples, valid_classes = scan_zip(root / "valid.zip")
        if classes != valid_classes:
            raise DataError(f"{root}: class folders differ between train.zip and valid.zip")
        return (EncodedImages.from_zip(root / "train.zip", train_samples, train_transform),
                EncodedImages.from_zip(root / "valid.zip", valid_samples, valid_transform),
                classes)
    layout = check_imagenet_layout(root)
    if not in_memory:
        return (ImageFolder(str(layout.train_dir), transform=train_transform),
                ImageFolder(str(layout.valid_dir), transform=valid_transform), layout.classes)
    train = scan_image_folder(layout.train_dir, layout.classes)
    valid = scan_image_folder(layout.valid_dir, layout.classes)
    return (EncodedImages.from_files(train, train_transform, threads),
            EncodedImages.from_files(valid, valid_transform, threads), layout.classes)

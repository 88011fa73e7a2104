"""PyTorch views of the CIFAR arrays: a Dataset, the DARTS-family transforms, Cutout, splits.

Imports torch and torchvision; TensorFlow-only code should import `nasrepro.data.cifar`."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms

from ..errors import ConfigError, DataError
from .cifar import CIFAR10_MEAN, CIFAR10_STD


class ArrayImageDataset(Dataset):
    """uint8 NHWC images + int labels; each item is (transform(PIL image), int label)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray,
                 transform: Optional[Callable] = None):
        if images.ndim != 4 or images.dtype != np.uint8 or images.shape[-1] != 3:
            raise DataError(f"images must be uint8 (N, H, W, 3), got {images.dtype} "
                            f"{images.shape}")
        if len(images) != len(labels):
            raise DataError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = np.asarray(labels, dtype=np.int64)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        # PIL input keeps the torchvision transforms identical to torchvision's CIFAR10 class.
        image = Image.fromarray(self.images[index])
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])


class Cutout:
    """Zero one length x length square (all channels) of a CHW tensor.

    The square's centre is uniform over the image and the square is clipped at the borders,
    so near an edge less than length^2 pixels are zeroed (DARTS / NAO-V2 / GAEA behaviour).
    Applied after normalization, so the hole is zero in normalized units. torch's RNG is used
    because DataLoader workers get distinct torch seeds (numpy's would repeat per worker)."""

    def __init__(self, length: int):
        if length <= 0:
            raise ConfigError(f"cutout length must be positive, got {length}")
        self.length = length

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        cy = int(torch.randint(h, (1,)))
        cx = int(torch.randint(w, (1,)))
        half = self.length // 2
        y0, y1 = max(cy - half, 0), min(cy + half, h)
        x0, x1 = max(cx - half, 0), min(cx + half, w)
        image = image.clone()
        image[..., y0:y1, x0:x1] = 0
        return image


def cifar_train_transform(mean: Sequence[float] = CIFAR10_MEAN,
                          std: Sequence[float] = CIFAR10_STD,
                          cutout_length: int = 0) -> transforms.Compose:
    """RandomCrop(32, padding 4), horizontal flip, ToTensor, Normalize, optional Cutout."""
    steps = [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
             transforms.ToTensor(), transforms.Normalize(mean, std)]
    if cutout_length:
        steps.append(Cutout(cutout_length))
    return transforms.Compose(steps)


def cifar_valid_transform(mean: Sequence[float] = CIFAR10_MEAN,
                          std: Sequence[float] = CIFAR10_STD) -> transforms.Compose:
    """ToTensor and Normalize, no augmentation."""
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])


def train_valid_indices(num_examples: int, train_portion: float,
                        shuffle_seed: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """Split range(num_examples) into (train, valid) index arrays.

    The first floor(train_portion * n) indices are train, the rest valid. Without a seed
    the order is kept (DARTS' train_search `train_portion`); with one the indices are first
    permuted (NAO-V2's search splits the CIFAR-10 training set 45k/5k by a random permutation)."""
    if not 0.0 < train_portion < 1.0:
        raise ConfigError(f"train_portion={train_portion} must be strictly between 0 and 1")
    split = int(np.floor(train_portion * num_examples))
    if split == 0 or split == num_examples:
        raise ConfigError(f"train_portion={train_portion} of {num_examples} examples leaves "
                          f"an empty train or valid part")
    indices = np.arange(num_examples)
    if shuffle_seed is not None:
        indices = np.random.default_rng(shuffle_seed).permutation(num_examples)
    return indices[:split], indices[split:]


class SeededAugmentation(Dataset):
    """Draws each item's random augmentation from (seed, epoch, index) alone.

    The same image gets the same crop, flip and cutout in an epoch whichever process or loader
    worker loads it, so a run is repeatable and N processes see exactly the batches one process
    sees (with the global batch split between them). Call set_epoch before each epoch's
    iterator is made (workers get a copy of this object when the iterator starts)."""

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed, self.epoch = dataset, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        # Mixed with large odd constants so neighbouring (epoch, index) pairs get unrelated seeds.
        item_seed = (self.seed * 1_000_003 + self.epoch * 7_919_993 + int(index)) % (2 ** 63)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(item_seed)
            return self.dataset[index]

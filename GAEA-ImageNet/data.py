"""The example's data.py: where ImageNet comes from (determined-ai/determined 208ee11c52,
examples/experimental/imagenet_nas_arch_pytorch/data.py), in the order the trial looks:

1. a Google Cloud Storage bucket (`data.bucket_name`): objects
   `imagenet/imagenet/{train,validation}/<class>/<image>`, streamed per access or cached under
   `data.data_download_dir` (nasrepro.data.gcs_images);
2. a local ImageNet-style folder (`data.local_dir`, or experiment.py --data): train/ and
   validation/ (or valid/, val/) with one folder per class;
3. neither: the example's random data, 102,400 random 256x256 images with random labels and no
   transforms, for trying the pipeline only (the trial says so loudly). `data.random_records`
   (not in the original configs) sets another number of images per split."""
from __future__ import annotations

import torch
from torch.utils.data import Dataset

from nasrepro.data.imagenet import check_imagenet_layout
from nasrepro.errors import ConfigError

SPLITS = ("train", "validation")
# The example's random data: 1024 * 100 items of 256x256 pixels, labels in 0..999.
RANDOM_LENGTH = 1024 * 100
RANDOM_IMAGE_SIZE = 256


class RandomImageNet(Dataset):
    """Uniform [0, 1) images and uniform labels, fixed by (seed, index) so every process and
    every resumed run sees the same items (the original drew them from numpy's global state)."""

    def __init__(self, num_classes: int, length: int = RANDOM_LENGTH,
                 image_size: int = RANDOM_IMAGE_SIZE, seed: int = 0):
        self.num_classes, self.length, self.image_size, self.seed = \
            num_classes, length, image_size, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + int(index))
        image = torch.rand(3, self.image_size, self.image_size, generator=generator)
        label = int(torch.randint(self.num_classes, (), generator=generator))
        return image, label


def data_source(data_config: dict) -> str:
    """"gcs", "local" or "random", from the data config."""
    if data_config.get("bucket_name"):
        return "gcs"
    if data_config.get("local_dir"):
        return "local"
    return "random"


def ImageNetDataset(split: str, data_config: dict, transform=None, num_classes: int = 1000,
                    seed: int = 0) -> Dataset:
    """The split from the configured source (the name is the original's class)."""
    if split not in SPLITS:
        raise ConfigError(f"ImageNetDataset: split {split!r}: expected one of {SPLITS}")
    source = data_source(data_config)
    if source == "gcs":
        from nasrepro.data.gcs_images import GCSImageFolder
        return GCSImageFolder(data_config["bucket_name"], split,
                              streaming=bool(data_config.get("streaming", True)),
                              download_dir=data_config.get("data_download_dir"),
                              transform=transform)
    if source == "local":
        from torchvision.datasets import ImageFolder
        layout = check_imagenet_layout(data_config["local_dir"])
        folder = layout.train_dir if split == "train" else layout.valid_dir
        return ImageFolder(str(folder), transform=transform)
    length = int(data_config.get("random_records") or RANDOM_LENGTH)
    return RandomImageNet(num_classes, length=length, seed=seed)

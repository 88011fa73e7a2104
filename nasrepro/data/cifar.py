"""CIFAR-10 / CIFAR-100 readers and writers for the python-pickle and binary layouts.

Layouts (file names inside the data directory):

| layout          | CIFAR-10                                        | CIFAR-100            |
|-----------------|-------------------------------------------------|----------------------|
| `pickle`        | data_batch_1..5, test_batch                     | train, test          |
| `binary`        | data_batch_1.bin..5.bin, test_batch.bin         | train.bin, test.bin  |
| `binary-split`  | train_batch_1..5.bin, valid_batch.bin, test_batch.bin (NAO's 45k/5k split) | -- |

The directory given may be the one holding these files or its parent holding the folder the
official archive extracts to (`cifar-10-batches-py`, `cifar-100-python`, `cifar-10-batches-bin`,
`cifar-100-binary`); the batch files themselves win if both exist.

Images come back as uint8 NHWC (N, 32, 32, 3), labels as int64 (for CIFAR-100 the fine label)."""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import ConfigError, DataError

IMAGE_BYTES = 3 * 32 * 32
DATASETS = ("cifar10", "cifar100")
LAYOUTS = ("pickle", "binary", "binary-split")
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}

# Fixed statistics the PyTorch codes (DARTS, NAO-V2, ASHA-DARTS) normalize CIFAR with.
CIFAR10_MEAN = (0.49139968, 0.48215827, 0.44653124)
CIFAR10_STD = (0.24703233, 0.24348505, 0.26158768)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_ARCHIVE_FOLDER = {
    ("cifar10", "pickle"): "cifar-10-batches-py",
    ("cifar100", "pickle"): "cifar-100-python",
    ("cifar10", "binary"): "cifar-10-batches-bin",
    ("cifar10", "binary-split"): "cifar-10-batches-bin",
    ("cifar100", "binary"): "cifar-100-binary",
}


def expected_files(dataset: str, layout: str) -> dict[str, list[str]]:
    """File names per split ('train', 'valid', 'test') for a dataset and layout."""
    _check_choice(dataset, layout)
    if dataset == "cifar10":
        if layout == "pickle":
            return {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
        if layout == "binary":
            return {"train": [f"data_batch_{i}.bin" for i in range(1, 6)],
                    "test": ["test_batch.bin"]}
        return {"train": [f"train_batch_{i}.bin" for i in range(1, 6)],
                "valid": ["valid_batch.bin"], "test": ["test_batch.bin"]}
    if layout == "pickle":
        return {"train": ["train"], "test": ["test"]}
    return {"train": ["train.bin"], "test": ["test.bin"]}


def _check_choice(dataset: str, layout: str) -> None:
    if dataset not in DATASETS:
        raise ConfigError(f"dataset {dataset!r} is not one of {', '.join(DATASETS)}")
    if layout not in LAYOUTS:
        raise ConfigError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    if dataset == "cifar100" and layout == "binary-split":
        raise ConfigError("layout 'binary-split' (NAO's train_batch_*.bin/valid_batch.bin) "
                          "exists for cifar10 only")


def find_cifar_dir(path: str | Path, dataset: str = "cifar10", layout: str = "pickle") -> Path:
    """The directory holding the batch files: `path` itself or its archive sub-folder."""
    names = [n for files in expected_files(dataset, layout).values() for n in files]
    root = Path(path)
    candidates = [root, root / _ARCHIVE_FOLDER[(dataset, layout)]]
    for folder in candidates:
        if all((folder / n).is_file() for n in names):
            return folder
    best = max(candidates, key=lambda d: sum((d / n).is_file() for n in names))
    missing = [n for n in names if not (best / n).is_file()]
    where = " or ".join(str(c) for c in candidates)
    raise DataError(f"{dataset} ({layout} layout) not found at {where}: expected files "
                    f"{', '.join(names)}; missing in {best}: {', '.join(missing)}")


# ---------------------------------------------------------------- readers

def read_pickle_batch(file: str | Path, label_key: bytes = b"labels",
                      num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """One python-pickle batch file -> (uint8 NHWC images, int64 labels), validated."""
    file = Path(file)
    try:
        with open(file, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise DataError(f"{file}: not a readable CIFAR python pickle ({err})") from None
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise DataError(f"{file}: expected a dict with keys b'data' and {label_key!r}, "
                        f"got {keys}")
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != IMAGE_BYTES:
        desc = (f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray)
                else type(data).__name__)
        raise DataError(f"{file}: b'data' must be a uint8 array of shape (N, {IMAGE_BYTES}), "
                        f"got {desc}")
    labels = np.asarray(batch[label_key])
    if labels.ndim != 1 or len(labels) != len(data):
        raise DataError(f"{file}: {len(data)} images but {label_key!r} has "
                        f"{labels.size} entries (shape {labels.shape})")
    labels = _checked_labels(labels, num_classes, f"{file}: {label_key!r}")
    return _chw_to_nhwc(data), labels


def read_binary_batch(file: str | Path, label_bytes: int = 1, label_index: int = 0,
                      num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """One binary batch file (records of label bytes + 3072 CHW bytes) -> (images, labels).

    CIFAR-10 records have 1 label byte; CIFAR-100 records have 2 (coarse, fine): pass
    label_bytes=2 and label_index=1 for the fine label."""
    file = Path(file)
    record = label_bytes + IMAGE_BYTES
    raw = np.fromfile(file, dtype=np.uint8)
    if raw.size == 0 or raw.size % record:
        raise DataError(f"{file}: records of {record} bytes expected ({label_bytes} label "
                        f"byte(s) + {IMAGE_BYTES} image bytes); file has {raw.size} bytes, "
                        f"which is {raw.size // record} records plus {raw.size % record} bytes")
    records = raw.reshape(-1, record)
    labels = _checked_labels(records[:, label_index].astype(np.int64), num_classes,
                             f"{file}: label byte {label_index}")
    return _chw_to_nhwc(records[:, label_bytes:]), labels


def _checked_labels(labels: np.ndarray, num_classes: int, where: str) -> np.ndarray:
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where}: labels must be integers, got dtype {labels.dtype}")
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{where}: label {int(labels[i])} at record {i} is outside "
                        f"0..{num_classes - 1} ({bad.size} bad record(s))")
    return labels.astype(np.int64)


def _chw_to_nhwc(flat: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


@dataclass
class CifarData:
    """Images (uint8 NHWC) and labels (int64) per split; 'valid' is None without a split."""
    images: dict[str, Optional[np.ndarray]]
    labels: dict[str, Optional[np.ndarray]]
    num_classes: int
    directory: Path


def read_cifar(path: str | Path, dataset: str = "cifar10", layout: str = "pickle",
               num_valids: int = 0) -> CifarData:
    """Read a CIFAR dataset; the last `num_valids` training images become 'valid'.

    That is the ENAS / NAO-TF split: no shuffling, the tail of the concatenated training
    batches. num_valids=0 means no validation set. With layout 'binary-split' the validation
    set comes from valid_batch.bin and num_valids must stay 0."""
    folder = find_cifar_dir(path, dataset, layout)
    num_classes = NUM_CLASSES[dataset]
    files = expected_files(dataset, layout)
    if layout == "pickle":
        key = b"labels" if dataset == "cifar10" else b"fine_labels"
        read = lambda f: read_pickle_batch(f, key, num_classes)  # noqa: E731
    else:
        label_bytes = 1 if dataset == "cifar10" else 2
        read = lambda f: read_binary_batch(f, label_bytes, label_bytes - 1,  # noqa: E731
                                           num_classes)
    images, labels = {}, {}
    for split, names in files.items():
        parts = [read(folder / n) for n in names]
        images[split] = np.concatenate([p[0] for p in parts])
        labels[split] = np.concatenate([p[1] for p in parts])
    if layout == "binary-split":
        if num_valids:
            raise ConfigError(f"num_valids={num_valids}: the binary-split layout already has "
                              f"valid_batch.bin ({len(labels['valid'])} images); pass 0")
    else:
        images["train"], labels["train"], images["valid"], labels["valid"] = split_last(
            images["train"], labels["train"], num_valids)
    return CifarData(images, labels, num_classes, folder)


def split_last(images: np.ndarray, labels: np.ndarray, num_valids: int):
    """(train_images, train_labels, valid_images, valid_labels): the last num_valids go to valid."""
    if not 0 <= num_valids < len(images):
        raise ConfigError(f"num_valids={num_valids} must be in 0..{len(images) - 1} "
                          f"(there are {len(images)} training images)")
    if num_valids == 0:
        return images, labels, None, None
    cut = len(images) - num_valids
    return images[:cut], labels[:cut], images[cut:], labels[cut:]


# ---------------------------------------------------------------- normalization (TF codes)

def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of uint8 NHWC images after /255 (ENAS / NAO-WS style)."""
    x = images.astype(np.float64) / 255.0
    return (x.mean(axis=(0, 1, 2)).astype(np.float32),
            x.std(axis=(0, 1, 2)).astype(np.float32))


def normalize(images: np.ndarray, mean, std) -> np.ndarray:
    """(images / 255 - mean) / std as float32, channels last."""
    x = images.astype(np.float32) / 255.0
    return (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


# ---------------------------------------------------------------- writers

def _nhwc_to_flat(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.shape[1:] != (32, 32, 3):
        raise DataError(f"images must be uint8 of shape (N, 32, 32, 3), got {images.dtype} "
                        f"{images.shape}")
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), IMAGE_BYTES))


def write_pickle_batch(file: str | Path, images: np.ndarray, labels: np.ndarray,
                       batch_label: str = "batch", coarse_labels: np.ndarray | None = None
                       ) -> None:
    """Write one python-pickle batch; with coarse_labels it is a CIFAR-100 file."""
    data = _nhwc_to_flat(images)
    names = [f"image_{i:05d}.png".encode() for i in range(len(data))]
    batch = {b"batch_label": batch_label.encode(), b"data": data, b"filenames": names}
    if coarse_labels is None:
        batch[b"labels"] = [int(v) for v in labels]
    else:
        batch[b"fine_labels"] = [int(v) for v in labels]
        batch[b"coarse_labels"] = [int(v) for v in coarse_labels]
    with open(file, "wb") as f:
        pickle.dump(batch, f, protocol=2)


def write_binary_batch(file: str | Path, images: np.ndarray, labels: np.ndarray,
                       coarse_labels: np.ndarray | None = None) -> None:
    """Write one binary batch: [coarse,] label byte(s) then 3072 CHW bytes per record."""
    columns = [] if coarse_labels is None else [np.asarray(coarse_labels, np.uint8)[:, None]]
    columns += [np.asarray(labels, np.uint8)[:, None], _nhwc_to_flat(images)]
    np.concatenate(columns, axis=1).tofile(file)


def read_normalized(path: str | Path, dataset: str = "cifar10", num_valids: int = 5000,
                    log=print) -> tuple[dict, dict, Path]:
    """What ENAS's and NAO-WS's data_utils.read_data returned: the python-pickle batches, the
    last `num_valids` training images as the validation split, every split normalized per
    channel with the (remaining) training images' statistics, with the originals' log lines.
    Returns (images, labels, folder): dicts over train / valid (None when num_valids is 0) /
    test, float32 NHWC images and int32 labels."""
    log("-" * 80)
    log("Reading data")
    data = read_cifar(path, dataset, "pickle", num_valids)
    for names in expected_files(dataset, "pickle").values():
        for file_name in names:
            log(str(data.directory / file_name))
    log("Prepropcess: [subtract mean], [divide std]")
    mean, std = channel_stats(data.images["train"])
    log("mean: {}".format(mean * 255.0))
    log("std: {}".format(std * 255.0))
    images, labels = {}, {}
    for split in ("train", "valid", "test"):
        if data.images.get(split) is None:
            images[split], labels[split] = None, None
            continue
        images[split] = normalize(data.images[split], mean, std)
        labels[split] = data.labels[split].astype(np.int32)
    return images, labels, data.directory

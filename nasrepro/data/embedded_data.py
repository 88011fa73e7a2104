"""The embedded default datasets: committed sources and the layouts built from them on first use.

Committed in `nasrepro/data/embedded/` (see its README.md; rebuilt by
tools/make_embedded_data.py): a class-balanced Fashion-MNIST subset (10,000 train + 2,000 test
images, 28x28 gray) and the King James Bible preprocessed like PTB (train/valid/test text).

`embedded_path(name)` materializes one layout into `<cache>/embedded/<name>/` and returns it:

| name          | layout (what the papers' scripts expect)                                     |
|---------------|------------------------------------------------------------------------------|
| cifar10       | CIFAR-10 python pickles: data_batch_1..5, test_batch, batches.meta            |
| cifar10-bin   | CIFAR-10 binary: data_batch_1..5.bin, test_batch.bin, and NAO's split files   |
|               | train_batch_1..5.bin + valid_batch.bin (last 10% of train), batches.meta.txt  |
| cifar100      | CIFAR-100 python pickles: train, test, meta (fine labels 0..9)               |
| cifar100-bin  | CIFAR-100 binary: train.bin, test.bin (coarse, fine label bytes)             |
| imagenet      | train/<class>/*.png (100 per class), valid/<class>/*.png (20), 64x64 RGB      |
| ptb           | ptb.train.txt, ptb.valid.txt, ptb.test.txt (Mikolov's file names)            |
| penn          | train.txt, valid.txt, test.txt (AWD-LSTM / DARTS / NAO `data/penn`)          |
| wikitext-2    | wiki.{train,valid,test}.tokens and train/valid/test.txt (NAO `data/wikitext-2`) |
| ptb-pkl       | ENAS's ptb.pkl (the returned path is the file), next to its train/valid/test.txt |

Images are the Fashion-MNIST ones zero-padded to 32x32 and repeated to 3 channels; CIFAR-100
layouts hold the same images with the 10 classes as fine labels (coarse: clothing, footwear,
bag), so CIFAR-100 code paths run. All text layouts hold the same KJV corpus.

Materialization is idempotent and safe with concurrent processes: builders run under a file
lock into a temporary folder that is renamed into place, and a manifest written last (with a
hash of the committed sources) marks a finished, current build; anything else is rebuilt."""
from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import lzma
import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import ConfigError, DataError
from ..environment import cache_dir
from . import cifar, text

SOURCE_DIR = Path(__file__).resolve().parent / "embedded"
SOURCE_FILES = ("fashion_train_images.npy.xz", "fashion_train_labels.npy.xz",
                "fashion_test_images.npy.xz", "fashion_test_labels.npy.xz",
                "kjv.train.txt.xz", "kjv.valid.txt.xz", "kjv.test.txt.xz")
# Bump when a builder below changes what it writes, so old caches are rebuilt.
BUILD_VERSION = 1
MANIFEST = ".nasrepro-manifest.json"

FASHION_CLASSES = ("t-shirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                   "sneaker", "bag", "ankle_boot")
COARSE_CLASSES = ("clothing", "footwear", "bag")
FASHION_COARSE = np.array([0, 0, 0, 0, 0, 1, 0, 1, 2, 1], dtype=np.int64)
IMAGENET_TRAIN_PER_CLASS = 100
IMAGENET_VALID_PER_CLASS = 20
IMAGENET_SIZE = 64
NAO_VALID_FRACTION = 0.1  # NAO's valid_batch.bin is the last 5k of 50k


# ---------------------------------------------------------------- committed sources

def _source(name: str) -> bytes:
    path = SOURCE_DIR / name
    if not path.is_file():
        raise DataError(f"{path}: embedded source file missing; reinstall nasrepro or run "
                        f"tools/make_embedded_data.py")
    try:
        return lzma.decompress(path.read_bytes())
    except lzma.LZMAError as err:
        raise DataError(f"{path}: corrupt xz file ({err}); restore it from git") from None


@functools.lru_cache(maxsize=1)
def fashion_cifar_arrays() -> dict[str, np.ndarray]:
    """The embedded images as CIFAR arrays: uint8 (N, 32, 32, 3) and int64 labels."""
    out = {}
    for split in ("train", "test"):
        gray = np.load(io.BytesIO(_source(f"fashion_{split}_images.npy.xz")))
        labels = np.load(io.BytesIO(_source(f"fashion_{split}_labels.npy.xz")))
        padded = np.pad(gray, ((0, 0), (2, 2), (2, 2)))
        out[f"{split}_images"] = np.repeat(padded[..., None], 3, axis=3)
        out[f"{split}_labels"] = labels.astype(np.int64)
    for array in out.values():
        array.flags.writeable = False  # shared by every caller of the cached result
    return out


def kjv_text(split: str) -> str:
    """The embedded PTB-style KJV text of one split ('train', 'valid' or 'test')."""
    if split not in text.SPLITS:
        raise ConfigError(f"split {split!r} is not one of {', '.join(text.SPLITS)}")
    return _source(f"kjv.{split}.txt.xz").decode("utf-8")


@functools.lru_cache(maxsize=1)
def _source_key() -> str:
    digest = hashlib.sha256(f"build {BUILD_VERSION}\n".encode())
    for name in SOURCE_FILES:
        path = SOURCE_DIR / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b""))
    return digest.hexdigest()


# ---------------------------------------------------------------- builders

def _build_cifar10(folder: Path) -> None:
    a = fashion_cifar_arrays()
    for i, (x, y) in enumerate(zip(np.array_split(a["train_images"], 5),
                                   np.array_split(a["train_labels"], 5)), start=1):
        cifar.write_pickle_batch(folder / f"data_batch_{i}", x, y, f"training batch {i} of 5")
    cifar.write_pickle_batch(folder / "test_batch", a["test_images"], a["test_labels"],
                             "testing batch 1 of 1")
    meta = {b"label_names": [n.encode() for n in FASHION_CLASSES],
            b"num_cases_per_batch": len(a["train_labels"]) // 5, b"num_vis": cifar.IMAGE_BYTES}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))


def _build_cifar10_bin(folder: Path) -> None:
    a = fashion_cifar_arrays()
    x, y = a["train_images"], a["train_labels"]
    for i, (xs, ys) in enumerate(zip(np.array_split(x, 5), np.array_split(y, 5)), start=1):
        cifar.write_binary_batch(folder / f"data_batch_{i}.bin", xs, ys)
    cifar.write_binary_batch(folder / "test_batch.bin", a["test_images"], a["test_labels"])
    cut = len(x) - int(round(len(x) * NAO_VALID_FRACTION))
    for i, (xs, ys) in enumerate(zip(np.array_split(x[:cut], 5), np.array_split(y[:cut], 5)),
                                 start=1):
        cifar.write_binary_batch(folder / f"train_batch_{i}.bin", xs, ys)
    cifar.write_binary_batch(folder / "valid_batch.bin", x[cut:], y[cut:])
    (folder / "batches.meta.txt").write_text("".join(n + "\n" for n in FASHION_CLASSES))


def _build_cifar100(folder: Path) -> None:
    a = fashion_cifar_arrays()
    for split, name in (("train", "train"), ("test", "test")):
        labels = a[f"{split}_labels"]
        cifar.write_pickle_batch(folder / name, a[f"{split}_images"], labels, name,
                                 coarse_labels=FASHION_COARSE[labels])
    meta = {b"fine_label_names": [n.encode() for n in FASHION_CLASSES],
            b"coarse_label_names": [n.encode() for n in COARSE_CLASSES]}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))


def _build_cifar100_bin(folder: Path) -> None:
    a = fashion_cifar_arrays()
    for split in ("train", "test"):
        labels = a[f"{split}_labels"]
        cifar.write_binary_batch(folder / f"{split}.bin", a[f"{split}_images"], labels,
                                 coarse_labels=FASHION_COARSE[labels])
    (folder / "fine_label_names.txt").write_text("".join(n + "\n" for n in FASHION_CLASSES))
    (folder / "coarse_label_names.txt").write_text("".join(n + "\n" for n in COARSE_CLASSES))


def _build_imagenet(folder: Path) -> None:
    from PIL import Image  # only this layout needs PIL
    a = fashion_cifar_arrays()
    for split, source, per_class in (("train", "train", IMAGENET_TRAIN_PER_CLASS),
                                     ("valid", "test", IMAGENET_VALID_PER_CLASS)):
        images, labels = a[f"{source}_images"], a[f"{source}_labels"]
        for label, name in enumerate(FASHION_CLASSES):
            # "<digit>_<name>" keeps ImageFolder's sorted class order equal to the labels.
            class_dir = folder / split / f"{label}_{name}"
            class_dir.mkdir(parents=True)
            for index in np.flatnonzero(labels == label)[:per_class]:
                image = Image.fromarray(images[index]).resize(
                    (IMAGENET_SIZE, IMAGENET_SIZE), Image.Resampling.BILINEAR)
                image.save(class_dir / f"{source}_{index:05d}.png", optimize=False)


def _write_corpus(folder: Path, names: tuple[str, str, str]) -> None:
    for split, name in zip(text.SPLITS, names):
        (folder / name).write_text(kjv_text(split), encoding="utf-8")


def _build_ptb_pkl(folder: Path) -> None:
    _write_corpus(folder, text.CORPUS_LAYOUTS[0])
    text.write_enas_ptb_pickle(text.build_enas_ptb(folder), folder / "ptb.pkl")


def _build_wikitext2(folder: Path) -> None:
    _write_corpus(folder, text.CORPUS_LAYOUTS[2])
    _write_corpus(folder, text.CORPUS_LAYOUTS[0])


BUILDERS: dict[str, Callable[[Path], None]] = {
    "cifar10": _build_cifar10,
    "cifar10-bin": _build_cifar10_bin,
    "cifar100": _build_cifar100,
    "cifar100-bin": _build_cifar100_bin,
    "imagenet": _build_imagenet,
    "ptb": lambda folder: _write_corpus(folder, text.CORPUS_LAYOUTS[1]),
    "penn": lambda folder: _write_corpus(folder, text.CORPUS_LAYOUTS[0]),
    "wikitext-2": _build_wikitext2,
    "ptb-pkl": _build_ptb_pkl,
}
EMBEDDED_NAMES = tuple(BUILDERS)
_RETURNED_FILE = {"ptb-pkl": "ptb.pkl"}


# ---------------------------------------------------------------- materialization

def _manifest_ok(folder: Path) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        if manifest.get("source_key") != _source_key():
            return False
        return all((folder / rel).stat().st_size == size
                   for rel, size in manifest["files"].items())
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        return False


def _write_manifest(folder: Path, name: str) -> None:
    files = {p.relative_to(folder).as_posix(): p.stat().st_size
             for p in sorted(folder.rglob("*")) if p.is_file()}
    record = {"name": name, "source_key": _source_key(), "build_version": BUILD_VERSION,
              "files": files}
    with open(folder / MANIFEST, "w") as f:
        json.dump(record, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: rely on the build-then-rename alone
        yield
        return
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _remove_tree(folder: Path, root: Path) -> None:
    # Rename first so a half-deleted tree is never mistaken for the dataset.
    doomed = Path(tempfile.mkdtemp(prefix=f".{folder.name}.stale-", dir=root))
    os.replace(folder, doomed / "old")
    shutil.rmtree(doomed, ignore_errors=True)


def embedded_path(name: str) -> Path:
    """The path of an embedded dataset layout, built into the cache on first use."""
    if name not in BUILDERS:
        raise ConfigError(f"no embedded dataset {name!r}; known: {', '.join(EMBEDDED_NAMES)}")
    root = cache_dir() / "embedded"
    final = root / name
    if not _manifest_ok(final):
        root.mkdir(parents=True, exist_ok=True)
        with _locked(root / f".{name}.lock"):
            if not _manifest_ok(final):  # another process may have built it meanwhile
                for pattern in (f".{name}.build-*", f".{name}.stale-*"):  # a crashed run's
                    for leftover in root.glob(pattern):
                        shutil.rmtree(leftover, ignore_errors=True)
                build = Path(tempfile.mkdtemp(prefix=f".{name}.build-", dir=root))
                os.chmod(build, 0o755)  # mkdtemp makes it private; the dataset is not
                try:
                    BUILDERS[name](build)
                    _write_manifest(build, name)
                    if final.exists():
                        _remove_tree(final, root)
                    os.replace(build, final)
                except BaseException:
                    shutil.rmtree(build, ignore_errors=True)
                    raise
    return final / _RETURNED_FILE[name] if name in _RETURNED_FILE else final

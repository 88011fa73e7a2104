"""Where a script's data comes from: the path it was given, or the embedded default.

`resolve_data_path(given, name, profile)`:
- an existing `given` path is checked against the layout `name` and returned;
- under the `mini` / `smoke` profiles, no path (or a path that does not exist) gives the
  embedded dataset, with a one-line notice on stderr;
- under `paper`, no path or a missing one raises DataError that says where it looked, which
  layout is expected and how to run the embedded default instead."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Optional

from ..errors import ConfigError, DataError
from ..environment import current_profile
from ..systems import PROFILES
from . import cifar, imagenet, text
from .embedded_data import EMBEDDED_NAMES, embedded_path

LAYOUT_DESCRIPTIONS = {
    "cifar10": "CIFAR-10 python version: data_batch_1..5 and test_batch, in the folder or in "
               "its cifar-10-batches-py/",
    "cifar10-bin": "CIFAR-10 binary version: data_batch_1..5.bin and test_batch.bin, or NAO's "
                   "split train_batch_1..5.bin, valid_batch.bin and test_batch.bin",
    "cifar100": "CIFAR-100 python version: train and test, in the folder or in its "
                "cifar-100-python/",
    "cifar100-bin": "CIFAR-100 binary version: train.bin and test.bin",
    "imagenet": imagenet.LAYOUT_HELP,
    "ptb": "Penn Treebank text: " + text.LAYOUT_HELP,
    "penn": "Penn Treebank text: " + text.LAYOUT_HELP,
    "wikitext-2": "WikiText-2 text: " + text.LAYOUT_HELP,
    "ptb-pkl": "ENAS's ptb.pkl (the file, or a folder holding it)",
}


def _check_cifar(dataset: str, layouts: tuple[str, ...]) -> Callable[[Path], None]:
    def check(path: Path) -> None:
        errors = []
        for layout in layouts:
            try:
                cifar.find_cifar_dir(path, dataset, layout)
                return
            except DataError as err:
                errors.append(str(err))
        raise DataError(" / ".join(errors))
    return check


def _check_ptb_pkl(path: Path) -> None:
    file = path / "ptb.pkl" if path.is_dir() else path
    if not file.is_file():
        raise DataError(f"{file}: ENAS PTB pickle not found; expected "
                        f"{LAYOUT_DESCRIPTIONS['ptb-pkl']}")


LAYOUT_CHECKS: dict[str, Callable[[Path], None]] = {
    "cifar10": _check_cifar("cifar10", ("pickle",)),
    "cifar10-bin": _check_cifar("cifar10", ("binary", "binary-split")),
    "cifar100": _check_cifar("cifar100", ("pickle",)),
    "cifar100-bin": _check_cifar("cifar100", ("binary",)),
    "imagenet": imagenet.check_imagenet_layout,
    "ptb": text.find_corpus_files,
    "penn": text.find_corpus_files,
    "wikitext-2": text.find_corpus_files,
    "ptb-pkl": _check_ptb_pkl,
}
assert set(LAYOUT_CHECKS) == set(EMBEDDED_NAMES) == set(LAYOUT_DESCRIPTIONS)


def check_layout(path: str | Path, name: str) -> Path:
    """Raise DataError unless `path` holds the layout `name`; return it as a Path."""
    if name not in LAYOUT_CHECKS:
        raise ConfigError(f"unknown dataset layout {name!r}; known: {', '.join(EMBEDDED_NAMES)}")
    path = Path(path)
    LAYOUT_CHECKS[name](path)
    return path


def resolve_data_path(given: Optional[str | Path], name: str, profile: Optional[str] = None,
                      flag: str = "--data_path", needed_by: Optional[str] = None) -> Path:
    """The data path a script (or a `make` job, `needed_by`) should use; the module docstring
    has the three cases. This is the one place that decides when the embedded data stands in."""
    if name not in LAYOUT_CHECKS:
        raise ConfigError(f"unknown dataset layout {name!r}; known: {', '.join(EMBEDDED_NAMES)}")
    profile = profile or current_profile()
    if profile not in PROFILES:
        raise ConfigError(f"profile {profile!r} is not one of {', '.join(PROFILES)}")
    given_path = Path(given) if given not in (None, "") else None
    if given_path is not None and given_path.exists():
        return check_layout(given_path, name)
    if profile == "paper":
        looked = f"looked at {given_path.resolve()}" if given_path else f"no {flag} was given"
        what = f"{needed_by} needs the real dataset" if needed_by else f"{name} data not found"
        raise DataError(
            f"{what}: {looked}. Expected layout ({name}): {LAYOUT_DESCRIPTIONS[name]}. "
            f"Pass {flag}=<folder with the real data>, or run on the small embedded dataset "
            f"instead with the mini profile: `make <system>-<job>` (PROFILE=mini is the "
            f"default) or NASREPRO_PROFILE=mini before this command.")
    path = embedded_path(name)
    reason = f"{given_path} does not exist" if given_path else f"no {flag} given"
    print(f"nasrepro: {reason} (profile {profile}); using the embedded {name} dataset at {path}",
          file=sys.stderr)
    return path

"""PyTorch checkpoints written so that a crash never destroys the previous copy (temporary file,
fsync, rename: nasrepro.atomic), and read with a clear error when missing or corrupt."""
import pickle
from pathlib import Path

import torch

from ..atomic import atomic_write_with
from ..runs.checkpoint import CheckpointError


def save_checkpoint(state: dict, path) -> Path:
    """torch.save `state` to `path` atomically; a failed save leaves the previous file intact."""
    return atomic_write_with(path, lambda f: torch.save(state, f))


def load_checkpoint(path, map_location="cpu", weights_only: bool = True) -> dict:
    """torch.load a checkpoint, with a clear error when it is missing or corrupt.

    `weights_only=True` refuses arbitrary pickled objects (numpy RNG states, argparse
    namespaces); pass False for checkpoints this project wrote itself."""
    path = Path(path)
    if not path.is_file():
        found = "a directory" if path.is_dir() else "nothing"
        raise CheckpointError(f"{path}: no checkpoint here (expected a file written by "
                              f"save_checkpoint, found {found})")
    try:
        return torch.load(path, map_location=map_location, weights_only=weights_only)
    except pickle.UnpicklingError as err:
        if weights_only and "Weights only load failed" in str(err):
            raise CheckpointError(f"{path}: holds objects other than tensors and plain "
                                  "containers; load it with weights_only=False if you trust "
                                  "its source") from None
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({err})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint, probably truncated "
                              f"or corrupt ({type(err).__name__}: {err})") from None

"""Save and resume a training run: model, optimizer, epoch, global step, best accuracy.

One file per run (`checkpoint.pt`, overwritten atomically after every epoch) plus a copy of the
best epoch. The model's state dict is the bare module's (no DDP `module.` prefix), so a
checkpoint written by N processes loads in one and the other way round. Arguments are stored
as a plain dict so the file loads with weights_only=True."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..runs.checkpoint import CheckpointError
from .checkpoint import load_checkpoint, save_checkpoint
from .distributed import unwrap

LATEST = "checkpoint.pt"
BEST = "checkpoint_best.pt"


@dataclass
class Resumed:
    epoch: int          # epochs completed
    step: int           # global step
    best_acc_top1: float
    path: Path


def _plain(args) -> dict:
    values = dict(vars(args)) if not isinstance(args, dict) else dict(args)
    return {k: v for k, v in values.items()
            if v is None or isinstance(v, (bool, int, float, str, list, tuple))}


def save_training_state(directory, model, optimizer, epoch: int, step: int,
                        best_acc_top1: float, args, is_best: bool = False,
                        keep_epoch_copy: bool = False) -> Path:
    """Write checkpoint.pt (and checkpoint_best.pt / checkpoint{epoch}.pt when asked)."""
    directory = Path(directory)
    state = {"args": _plain(args), "model": unwrap(model).state_dict(), "epoch": int(epoch),
             "step": int(step), "optimizer": optimizer.state_dict(),
             "best_acc_top1": float(best_acc_top1)}
    path = save_checkpoint(state, directory / LATEST)
    if is_best:
        _copy(path, directory / BEST)
    if keep_epoch_copy:
        _copy(path, directory / f"checkpoint{epoch}.pt")
    return path


def _copy(source: Path, target: Path) -> None:
    tmp = target.with_name(target.name + ".tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(target)


def resume_training_state(directory, model, optimizer=None,
                          map_location="cpu") -> Optional[Resumed]:
    """Load checkpoint.pt from `directory` into model (and optimizer) if it exists."""
    path = Path(directory) / LATEST
    if not path.exists():
        return None
    state = load_checkpoint(path, map_location=map_location)
    missing = {"model", "epoch", "step"} - set(state)
    if missing:
        raise CheckpointError(f"{path}: lacks {', '.join(sorted(missing))}; not a training "
                              "checkpoint of this project")
    try:
        unwrap(model).load_state_dict(state["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: does not fit this model (different --arch, --layers, "
                              f"--channels or --nodes?): {str(err).splitlines()[0]}") from None
    if optimizer is not None and "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    return Resumed(int(state["epoch"]), int(state["step"]),
                   float(state.get("best_acc_top1", 0.0)), path)

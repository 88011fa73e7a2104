"""The training loop Determined's harness ran around a PyTorchTrial: train for a number of
batches (the searcher's unit), validate, checkpoint, resume.

Batches are counted over the whole trial: epoch = batches_trained // batches_per_epoch, and a
STEP_EVERY_EPOCH scheduler steps when an epoch's last batch is done. A checkpoint holds the
model, optimizer, LR scheduler, trial state, RNG states and the batch count, so a paused trial
resumes with the same state and the same next batch.

Under torchrun every process runs a controller: each trains on its share of the global batches,
metrics are averaged over the processes, process 0 writes the checkpoint and every process
reads it on resume."""
from __future__ import annotations

import io
import math
import random
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from ..atomic import atomic_write_bytes
from ..errors import ConfigError
from ..torch.distributed import all_reduce_sum, barrier
from .trial_context import DataLoader, StepMode, TrialContext

CHECKPOINT_FILE = "trial_state.pt"


def _mean_metrics(rows: list) -> dict:
    """Determined's default reducer: the unweighted mean of each metric over batches."""
    if not rows:
        return {}
    return {key: float(np.mean([float(row[key]) for row in rows])) for key in rows[0]}


def _batch_size(batch) -> int:
    """Examples in a batch: the length of its first tensor."""
    while isinstance(batch, (list, tuple)):
        batch = batch[0]
    return int(batch.shape[0]) if hasattr(batch, "shape") else 1


def _as_float(value) -> float:
    return value.item() if hasattr(value, "item") else float(value)


class TrialController:
    def __init__(self, trial_cls, context: TrialContext):
        self.context = context
        self.dist = context.dist
        self.trial = trial_cls(context)
        self.train_loader = self.trial.build_training_data_loader()
        self.valid_loader = self.trial.build_validation_data_loader()
        for name, loader in (("training", self.train_loader), ("validation", self.valid_loader)):
            if not isinstance(loader, DataLoader):
                raise ConfigError(f"{trial_cls.__name__}.build_{name}_data_loader must return "
                                  "nasrepro.hpsearch.trial_context.DataLoader")
            loader.rank, loader.world_size = self.dist.rank, self.dist.world_size
        self.batches_per_epoch = len(self.train_loader)
        if self.batches_per_epoch == 0:
            raise ConfigError(f"{context.source}: the training set has fewer images than one "
                              "batch")
        self.batches_trained = 0

    @property
    def epoch(self) -> float:
        return self.batches_trained / self.batches_per_epoch

    def _train_mode(self, training: bool) -> None:
        for model in self.context.wrapped_models:
            model.train(training)

    def _mean_over_processes(self, metrics: dict) -> dict:
        """Each process's metrics averaged over the processes (all get the same numbers)."""
        if not self.dist.distributed or not metrics:
            return metrics
        keys = sorted(metrics)
        totals = all_reduce_sum([metrics[k] for k in keys], self.dist)
        return {k: total / self.dist.world_size for k, total in zip(keys, totals)}

    def train_to(self, length: int, on_batch: Optional[Callable[[int, dict], None]] = None) -> dict:
        """Train until `length` batches in all; the mean of train_batch's metrics."""
        rows = []
        self._train_mode(True)
        while self.batches_trained < length:
            epoch_idx, done_in_epoch = divmod(self.batches_trained, self.batches_per_epoch)
            loader = self.train_loader.epoch_loader(epoch_idx, self.context.seed, done_in_epoch)
            for batch in loader:
                batch = self.context.to_device(batch)
                metrics = self.trial.train_batch(batch, epoch_idx, self.batches_trained)
                row = {k: _as_float(v) for k, v in metrics.items()}
                rows.append(row)
                self.batches_trained += 1
                for scheduler, mode in self.context.lr_schedulers:
                    if mode is StepMode.STEP_EVERY_BATCH:
                        scheduler.step()
                if self.batches_trained % self.batches_per_epoch == 0:
                    for scheduler, mode in self.context.lr_schedulers:
                        if mode is StepMode.STEP_EVERY_EPOCH:
                            scheduler.step()
                if on_batch is not None:
                    on_batch(self.batches_trained, row)
                if not math.isfinite(row.get("loss", 0.0)):
                    raise FloatingPointError(f"training loss is {row['loss']} at batch "
                                             f"{self.batches_trained}")
                if self.batches_trained >= length or self.batches_trained % self.batches_per_epoch == 0:
                    break
        return self._mean_over_processes(_mean_metrics(rows))

    def validate(self) -> dict:
        """evaluate_full_dataset if the trial has one (single process), else evaluate_batch over
        the validation set shared out between the processes: each metric is averaged over the
        validation examples (batch means weighted by batch size), so it does not depend on the
        number of processes."""
        self._train_mode(False)
        with torch.no_grad():
            if hasattr(self.trial, "evaluate_full_dataset"):
                if self.dist.distributed:
                    raise ConfigError(f"{type(self.trial).__name__}.evaluate_full_dataset runs on "
                                      "one process; use evaluate_batch with slots_per_trial > 1")
                loader = self.valid_loader.epoch_loader(0, self.context.seed)
                metrics = {k: _as_float(v)
                           for k, v in self.trial.evaluate_full_dataset(loader).items()}
            else:
                loader = self.valid_loader.epoch_loader(0, self.context.seed, shard_evenly=True)
                sums: dict = {}
                count = 0
                for batch in loader:
                    batch = self.context.to_device(batch)
                    n = _batch_size(batch)
                    for key, value in self.trial.evaluate_batch(batch).items():
                        sums[key] = sums.get(key, 0.0) + _as_float(value) * n
                    count += n
                keys = sorted(sums)
                totals = all_reduce_sum([sums[k] for k in keys] + [count], self.dist)
                metrics = {k: total / max(totals[-1], 1) for k, total in zip(keys, totals)}
        self._train_mode(True)
        return metrics

    # --- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "batches_trained": self.batches_trained,
            "models": [m.state_dict() for m in self.context.models],
            "optimizers": [o.state_dict() for o in self.context.optimizers],
            "lr_schedulers": [s.state_dict() for s, _ in self.context.lr_schedulers],
            "trial": self.trial.state_dict() if hasattr(self.trial, "state_dict") else None,
            "rng": {"python": random.getstate(), "numpy": np.random.get_state(),
                    "torch": torch.get_rng_state()},
        }

    def load_state_dict(self, state: dict) -> None:
        self.batches_trained = int(state["batches_trained"])
        for objects, key in ((self.context.models, "models"),
                             (self.context.optimizers, "optimizers"),
                             ([s for s, _ in self.context.lr_schedulers], "lr_schedulers")):
            if len(objects) != len(state[key]):
                raise ConfigError(f"checkpoint has {len(state[key])} {key}, the trial wraps "
                                  f"{len(objects)}: it was written by another trial class")
            for obj, obj_state in zip(objects, state[key]):
                obj.load_state_dict(obj_state)
        if state.get("trial") is not None and hasattr(self.trial, "load_state_dict"):
            self.trial.load_state_dict(state["trial"])
        random.setstate(state["rng"]["python"])
        np.random.set_state(state["rng"]["numpy"])
        torch.set_rng_state(state["rng"]["torch"])

    def save(self, directory) -> Path:
        """Process 0 writes the checkpoint (atomically); the others wait until it is there."""
        path = Path(directory) / CHECKPOINT_FILE
        if self.dist.is_main:
            buffer = io.BytesIO()
            torch.save(self.state_dict(), buffer)
            atomic_write_bytes(path, buffer.getvalue())
        barrier(self.dist)
        return path

    def load(self, directory) -> None:
        path = Path(directory) / CHECKPOINT_FILE
        try:
            state = torch.load(path, map_location=self.context.device, weights_only=False)
        except FileNotFoundError:
            raise ConfigError(f"{path}: no trial checkpoint there") from None
        self.load_state_dict(state)


def has_checkpoint(directory) -> bool:
    return (Path(directory) / CHECKPOINT_FILE).is_file()

"""What a Determined PyTorchTrial sees of its harness, without a Determined master.

A trial class written for Determined's PyTorchTrial API (0.13 and later) gets a context: its
hyperparameters and data config, `wrap_model` / `wrap_optimizer` / `wrap_lr_scheduler` to hand
its objects to the harness, and `backward` / `step_optimizer` inside `train_batch`. This module is
that context; trial_controller.py is the loop that drives the trial.

With several slots the trial runs in one process per slot under torchrun: the context wraps the
model in DistributedDataParallel, and each process loads its share of every global batch."""
from __future__ import annotations

import enum
from typing import Callable, Optional

import torch

from ..errors import ConfigError
from ..torch.distributed import DistInfo


class StepMode(enum.Enum):
    """When the harness steps a wrapped LR scheduler (Determined's LRScheduler.StepMode)."""
    STEP_EVERY_EPOCH = "epoch"
    STEP_EVERY_BATCH = "batch"
    MANUAL_STEP = "manual"


class DataLoader:
    """The arguments of a torch DataLoader; the harness builds the iterators itself so that it
    can shuffle per epoch from the trial seed and skip the batches a resumed trial already did."""

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, num_workers: int = 0,
                 pin_memory: bool = False, drop_last: bool = False):
        self.dataset, self.batch_size, self.shuffle = dataset, int(batch_size), bool(shuffle)
        self.num_workers, self.pin_memory, self.drop_last = num_workers, pin_memory, drop_last

    # Set by the harness: the number of processes sharing each global batch, and this one's.
    world_size = 1
    rank = 0

    def global_batches(self, order: list) -> list:
        """`order` cut into global batches of batch_size x world_size. With several processes
        a last batch smaller than the number of processes is dropped (a process would get
        nothing to train on)."""
        size = self.batch_size * self.world_size
        batches = [order[i:i + size] for i in range(0, len(order), size)]
        if batches and (self.drop_last and len(batches[-1]) < size
                        or len(batches[-1]) < self.world_size):
            batches.pop()
        return batches

    def __len__(self) -> int:
        """Global batches per epoch (the same number in every process)."""
        return len(self.global_batches(list(range(len(self.dataset)))))

    def epoch_loader(self, epoch: int, seed: int, skip_batches: int = 0,
                     shard_evenly: bool = False) -> torch.utils.data.DataLoader:
        """This process's batches of `epoch`, in an order fixed by (seed, epoch), from global
        batch `skip_batches`. Process r takes the r-th contiguous part of each global batch,
        so the processes' batches of a step together are the batch one process would take.
        shard_evenly (evaluation): process r takes every world_size-th example instead, each
        example exactly once, in batches of batch_size."""
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        order = list(range(len(self.dataset)))
        if self.shuffle:
            generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
            order = torch.randperm(len(self.dataset), generator=generator).tolist()
        if shard_evenly:
            mine = order[self.rank::self.world_size]
            batches = [mine[i:i + self.batch_size] for i in range(0, len(mine), self.batch_size)]
        else:
            batches = [_part(batch, self.rank, self.world_size)
                       for batch in self.global_batches(order)[skip_batches:]]
        # Its own generator: a DataLoader otherwise draws its base seed from the global RNG,
        # which would shift the drop-path masks of a trial that was paused and resumed.
        base = torch.Generator().manual_seed(seed * 100_003 + epoch + 1)
        return torch.utils.data.DataLoader(
            self.dataset, batch_sampler=batches,
            num_workers=self.num_workers, pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=False, generator=base)


def _part(batch: list, rank: int, parts: int) -> list:
    """The rank-th of `parts` contiguous, nearly equal pieces of `batch`."""
    size, extra = divmod(len(batch), parts)
    start = rank * size + min(rank, extra)
    return batch[start:start + size + (1 if rank < extra else 0)]


class TrialContext:
    """Hyperparameters, data config and device of one trial; collects what the trial wraps."""

    def __init__(self, hparams: dict, data_config: Optional[dict] = None, slots_per_trial: int = 1,
                 device: Optional[torch.device] = None, seed: int = 0, source: str = "config",
                 dist: Optional[DistInfo] = None):
        self._hparams = dict(hparams)
        self._data_config = dict(data_config or {})
        self.dist = dist or DistInfo(device=device or torch.device(
            "cuda" if torch.cuda.is_available() else "cpu"))
        self.slots_per_trial = int(slots_per_trial)
        if self.dist.distributed and self.dist.world_size != self.slots_per_trial:
            raise ConfigError(f"{source}: resources.slots_per_trial={self.slots_per_trial}, but "
                              f"{self.dist.world_size} processes were started (torchrun "
                              "--nproc_per_node x --nnodes must equal slots_per_trial)")
        self.device = self.dist.device
        self.seed = int(seed)
        self.source = source
        self.models: list = []          # the bare modules (checkpoints hold their state)
        self.wrapped_models: list = []  # what the trial calls (DDP when distributed)
        self.optimizers: list = []
        self.lr_schedulers: list = []   # (scheduler, StepMode)
        if "global_batch_size" not in self._hparams:
            raise ConfigError(f"{source}: hyperparameters.global_batch_size is missing (Determined "
                              "requires it)")

    def get_hparam(self, name: str):
        if name not in self._hparams:
            raise ConfigError(f"{self.source}: the trial reads hyperparameters.{name}, which the "
                              f"config does not define")
        return self._hparams[name]

    def get_hparams(self) -> dict:
        return dict(self._hparams)

    def get_data_config(self) -> dict:
        return dict(self._data_config)

    def get_trial_seed(self) -> int:
        return self.seed

    def get_global_batch_size(self) -> int:
        return int(self._hparams["global_batch_size"])

    def get_per_slot_batch_size(self) -> int:
        """The global batch split over the trial's slots (one process per GPU)."""
        slots = max(1, self.slots_per_trial)
        if self.get_global_batch_size() % slots:
            raise ConfigError(f"{self.source}: hyperparameters.global_batch_size="
                              f"{self.get_global_batch_size()} is not divisible by "
                              f"resources.slots_per_trial={slots}")
        return self.get_global_batch_size() // slots

    def wrap_model(self, model: torch.nn.Module) -> torch.nn.Module:
        from ..torch.distributed import wrap_model
        model = model.to(self.device)
        self.models.append(model)
        wrapped = wrap_model(model, self.dist)
        self.wrapped_models.append(wrapped)
        return wrapped

    def wrap_optimizer(self, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
        self.optimizers.append(optimizer)
        return optimizer

    def wrap_lr_scheduler(self, scheduler, step_mode: StepMode):
        self.lr_schedulers.append((scheduler, step_mode))
        return scheduler

    def to_device(self, batch):
        if isinstance(batch, (list, tuple)):
            return type(batch)(self.to_device(item) for item in batch)
        return batch.to(self.device, non_blocking=True) if hasattr(batch, "to") else batch

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def step_optimizer(self, optimizer: torch.optim.Optimizer,
                       clip_grads: Optional[Callable] = None) -> None:
        """Clip (clip_grads gets the optimizer's parameters), step, then zero the gradients."""
        if clip_grads is not None:
            clip_grads([p for group in optimizer.param_groups for p in group["params"]])
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

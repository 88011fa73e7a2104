"""One process or many under torchrun: the process group, DDP wrapping, rank-0 duties.

The originals used nn.DataParallel; here every multi-device run is torchrun +
DistributedDataParallel. torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them the script
is a single process and nothing is initialised. NCCL on GPUs, gloo on the CPU (how the tests run
two processes on this machine)."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from ..errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str = ""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def check_process_count(processes: int, flag: str = "NPROC", advice: str = "") -> None:
    """One process per GPU: more processes than visible GPUs is an error naming both numbers
    (then `advice`, where "{gpus}" is the number of GPUs). Without GPUs any number of processes
    runs on the CPU (gloo)."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus and processes > gpus:
        raise ConfigError(f"{flag}={processes} processes, but {gpus} GPU(s) are visible: each "
                          f"process needs a GPU of its own. Run {flag}={gpus} or fewer, or make "
                          "more GPUs visible (CUDA_VISIBLE_DEVICES). "
                          + advice.replace("{gpus}", str(gpus)))


def init_distributed(backend: str = "auto") -> DistInfo:
    """Join the torchrun process group if there is one; pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    if cuda and world_size > 1:
        check_process_count(int(os.environ.get("LOCAL_WORLD_SIZE", world_size)),
                            flag="processes per node")
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world_size == 1:
        return DistInfo(device=device)
    if backend == "auto":
        backend = "nccl" if cuda else "gloo"
    if backend not in ("nccl", "gloo"):
        raise ConfigError(f"distributed backend {backend!r}: expected auto, nccl or gloo")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(rank, world_size, local_rank, device, backend)


def wrap_model(model: nn.Module, info: DistInfo) -> nn.Module:
    """DistributedDataParallel around `model` when there are several processes."""
    model = model.to(info.device)
    if not info.distributed:
        return model
    ids = [info.local_rank] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The bare module: checkpoints hold its state dict, so they load with or without DDP."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def all_reduce_sum(values: list, info: DistInfo) -> list:
    """Sum floats over all processes (every process gets the totals)."""
    if not info.distributed:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64,
                          device=info.device if info.backend == "nccl" else "cpu")
    dist.all_reduce(tensor)
    return tensor.tolist()


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()


def per_process_batch(global_batch: int, info: DistInfo, flag: str = "--batch_size") -> int:
    """The batch each process loads: the global batch split evenly (the 4-card script's 512 is
    4 x 128, as nn.DataParallel split it)."""
    if global_batch % info.world_size:
        raise ConfigError(f"{flag}={global_batch} is not divisible by the {info.world_size} "
                          "processes; the global batch is split evenly across them")
    return global_batch // info.world_size


class ShardSampler(Sampler):
    """Every process's share of an evaluation set, in order, without the padding
    DistributedSampler adds: the shares together hold each example exactly once."""

    def __init__(self, size: int, info: DistInfo):
        self.indices = range(info.rank, size, info.world_size)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def sharded_loaders(train_set, valid_set, info: DistInfo, batch_size: int,
                    eval_batch_size: int, seed: int, num_workers: int):
    """(train loader, valid loader, train sampler) for 1 or N processes.

    The training order is one seeded permutation per epoch (the sampler's set_epoch) whatever
    the number of processes; process r takes every N-th example of it, so the N per-process
    batches of a step together are the batch one process would take."""
    sampler = DistributedSampler(train_set, info.world_size, info.rank, shuffle=True, seed=seed)
    train = DataLoader(train_set, batch_size=per_process_batch(batch_size, info),
                       sampler=sampler, num_workers=num_workers,
                       pin_memory=info.device.type == "cuda")
    valid = DataLoader(valid_set, batch_size=eval_batch_size,
                       sampler=ShardSampler(len(valid_set), info), num_workers=num_workers)
    return train, valid, sampler

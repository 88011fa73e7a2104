"""NAO-V2's own helpers: the balanced architecture sampler, the original log lines, and the
epoch loop that train_cifar.py and train_imagenet.py share (resume, checkpoints, metrics).

Generic pieces (train/evaluate epochs, DDP, checkpoint state, data) live in nasrepro."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from nasrepro.errors import ConfigError
from nasrepro.metrics_csv import MetricsCSV
from nasrepro.torch.classifier_loop import evaluate, train_epoch
from nasrepro.complexity.torch_count import count_params
from nasrepro.torch.distributed import DistInfo, barrier, wrap_model
from nasrepro.torch.sync_batchnorm import convert_sync_batchnorm
from nasrepro.torch.training_state import resume_training_state, save_training_state

# The original's logging: '%(asctime)s %(message)s' with a 12-hour clock.
LOG_FORMAT = "%(asctime)s %(message)s"
LOG_DATEFMT = "%m/%d %I:%M:%S %p"


class BalancedSampler:
    """Draws one whole architecture per mini-batch, with probability proportional to its
    weight (NAO-V2: the architecture's parameter count, so big networks get the updates their
    size needs; 'balanced' training). Weights must be positive."""

    def __init__(self, weights: Sequence[float], rng: np.random.Generator):
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 1 or len(weights) == 0:
            raise ConfigError("balanced sampling needs a non-empty list of weights")
        if not np.all(np.isfinite(weights)) or np.any(weights <= 0):
            bad = int(np.flatnonzero(~(np.isfinite(weights) & (weights > 0)))[0])
            raise ConfigError(f"balanced sampling: weight {bad} is {weights[bad]}, expected a "
                              "positive number")
        self.probabilities = weights / weights.sum()
        self.rng = rng

    def sample(self) -> int:
        return int(self.rng.choice(len(self.probabilities), p=self.probabilities))


def add_new_training_flags(parser, num_workers: int) -> None:
    """The flags train_cifar.py and train_imagenet.py add to the original's (README: New flags)."""
    add = parser.add_argument
    add("--drop_path_rule", default="release", choices=["release", "head"],
        help="release: the Oct-2019 code behind the published numbers (no drop path on branches "
             "reading node id 4); head: the March-2020 code (every branch)")
    add("--num_workers", type=int, default=num_workers, help="data loader processes")
    add("--log_every", type=int, default=100, help="steps between progress lines")
    add("--sync_bn", action="store_true", default=False,
        help="with several processes, batch norm over the global batch (default: each process "
             "its own part, as the original's nn.DataParallel)")
    add("--keep_epoch_checkpoints", action="store_true", default=False,
        help="also keep checkpoint{E}.pt of every epoch, as the original did")


def prepare_network(model, args, info: DistInfo, log: logging.Logger) -> tuple:
    """(the model ready for 1 or N processes, its parameter count without the aux head); logs
    the original's "param size" line."""
    params = count_params(model)
    log.info("param size = %fMB", params / 1e6)
    if info.distributed:
        log.info("Use %d processes (%s) !", info.world_size, info.backend)
        if args.sync_bn:
            convert_sync_batchnorm(model, info.device)
    return wrap_model(model, info), params


def run_final_training(*, args, info: DistInfo, model, forward: Callable, optimizer,
                       lr_at: Callable[[int], float], train_criterion, eval_criterion,
                       train_loader, valid_loader, train_samplers: Sequence, out_dir: Path,
                       log: logging.Logger, log_valid: Callable, metrics_columns: Callable,
                       aux_weight: float, grad_clip: float, log_every: int = 100) -> dict:
    """Train args.epochs epochs from checkpoint.pt (if any), evaluating after every epoch.

    Returns {"last": valid stats, "best_acc_top1": ..., "resumed_from": epoch or None}."""
    resumed = resume_training_state(out_dir, model, optimizer, map_location=info.device)
    start, step, best = (resumed.epoch, resumed.step, resumed.best_acc_top1) if resumed \
        else (0, 0, 0.0)
    if resumed:
        log.info("Resumed from %s: %d epochs done, step %d", resumed.path, start, step)
    metrics = MetricsCSV(out_dir / "metrics.csv", resume_from_epoch=start if resumed else None) \
        if info.is_main else None
    last = None
    for epoch in range(start, args.epochs):
        lr = lr_at(epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        for sampler in train_samplers:
            sampler.set_epoch(epoch)
        log.info("epoch %d lr %e", epoch, lr)
        train = train_epoch(forward, model, train_loader, optimizer, train_criterion, info,
                            step, aux_weight=aux_weight, grad_clip=grad_clip, log=log,
                            log_every=log_every)
        step = train.steps
        log.info("train_acc %f", train.top1)
        last = evaluate(forward, model, valid_loader, eval_criterion, info, log=log,
                        log_every=log_every)
        log_valid(last)
        is_best = last.top1 > best
        best = max(best, last.top1)
        if info.is_main:
            save_training_state(out_dir, model, optimizer, epoch + 1, step, best, args,
                                is_best=is_best,
                                keep_epoch_copy=getattr(args, "keep_epoch_checkpoints", False))
            metrics.write(metrics_columns(epoch + 1, lr, train, last))
        barrier(info)
    if last is None and resumed:
        last = evaluate(forward, model, valid_loader, eval_criterion, info)
        log_valid(last)
    return {"last": last, "best_acc_top1": best, "resumed_from": start if resumed else None}


def check_positive(args, *names) -> None:
    """Flags that must be positive numbers."""
    for name in names:
        value = getattr(args, name)
        if value is None or value <= 0:
            raise ConfigError(f"--{name}={value}: expected a positive number")


def check_probability(args, *names) -> None:
    for name in names:
        value = getattr(args, name)
        if not 0.0 < value <= 1.0:
            raise ConfigError(f"--{name}={value}: expected a keep probability in (0, 1]")

"""The train and evaluate epochs of an image classifier with an optional auxiliary head.

Shared by the final-training scripts (NAO-V2 CIFAR and ImageNet, DARTS-family retraining). The
model's forward is given as `forward(images, step) -> (logits, aux_logits or None)`, so that
NAO-V2's step-scheduled drop path and DARTS' attribute-set drop path both fit. Meters are summed
over all processes, so every process logs the same global numbers."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import nn

from ..runs.progress import progress
from .distributed import DistInfo, all_reduce_sum


@dataclass
class EpochStats:
    loss: float
    top1: float      # percent
    top5: float      # percent
    samples: int
    steps: int       # global step after the epoch


class RunningMeter:
    """Sums of loss and correct counts over samples; `global_means` reduces over processes."""

    def __init__(self):
        self.loss_sum = self.top1_sum = self.top5_sum = 0.0
        self.n = 0

    def update(self, loss: float, correct1: int, correct5: int, n: int) -> None:
        self.loss_sum += loss * n
        self.top1_sum += correct1
        self.top5_sum += correct5
        self.n += n

    def means(self) -> tuple:
        n = max(self.n, 1)
        return self.loss_sum / n, 100.0 * self.top1_sum / n, 100.0 * self.top5_sum / n

    def global_means(self, info: DistInfo) -> tuple:
        loss, c1, c5, n = all_reduce_sum([self.loss_sum, self.top1_sum, self.top5_sum,
                                          float(self.n)], info)
        n = max(n, 1.0)
        return loss / n, 100.0 * c1 / n, 100.0 * c5 / n, int(n)


def correct_topk(logits: torch.Tensor, target: torch.Tensor, ks=(1, 5)) -> list:
    """How many samples have the target among the top-k logits, for each k."""
    k_max = min(max(ks), logits.shape[1])
    top = logits.topk(k_max, dim=1).indices
    hits = top.eq(target.unsqueeze(1))
    return [int(hits[:, :min(k, k_max)].any(dim=1).sum()) for k in ks]


def topk_accuracy_pct(logits: torch.Tensor, target: torch.Tensor, topk=(1,)) -> list:
    """Top-k accuracy of a batch in percent, for each k (DARTS' utils.accuracy)."""
    return [100.0 * c / target.shape[0] for c in correct_topk(logits, target, topk)]


def train_epoch(forward: Callable, model: nn.Module, loader, optimizer, criterion,
                info: DistInfo, step: int, aux_weight: float = 0.0, grad_clip: float = 0.0,
                log: Optional[logging.Logger] = None, log_every: int = 100,
                log_format: str = "train %03d loss %e top1 %f top5 %f",
                desc: str = "train") -> EpochStats:
    """One epoch of SGD; `step` is the global step before the epoch (drop path reads it).

    Loss = criterion(logits) + aux_weight * criterion(aux_logits) when the model returns aux
    logits; gradients are clipped to `grad_clip` global norm when positive."""
    model.train()
    meter = RunningMeter()
    for batch, (images, target) in enumerate(progress(loader, desc=desc, disable=not info.is_main)):
        images = images.to(info.device, non_blocking=True)
        target = target.to(info.device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        logits, aux_logits = forward(images, step)
        loss = criterion(logits, target)
        if aux_logits is not None and aux_weight:
            loss = loss + aux_weight * criterion(aux_logits, target)
        loss.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        step += 1
        c1, c5 = correct_topk(logits.detach(), target)
        meter.update(float(loss.detach()), c1, c5, target.shape[0])
        if log is not None and info.is_main and (batch + 1) % log_every == 0:
            log.info(log_format, batch + 1, *meter.means())
    loss, top1, top5, n = meter.global_means(info)
    return EpochStats(loss, top1, top5, n, step)


@torch.no_grad()
def evaluate(forward: Callable, model: nn.Module, loader, criterion, info: DistInfo,
             log: Optional[logging.Logger] = None, log_every: int = 100,
             log_format: str = "valid %03d %e %f %f", desc: str = "valid") -> EpochStats:
    """Loss and top-1/top-5 (percent) over `loader` in eval mode, summed over processes."""
    model.eval()
    meter = RunningMeter()
    for batch, (images, target) in enumerate(progress(loader, desc=desc, disable=not info.is_main)):
        images = images.to(info.device, non_blocking=True)
        target = target.to(info.device, non_blocking=True)
        logits, _ = forward(images, None)
        c1, c5 = correct_topk(logits, target)
        meter.update(float(criterion(logits, target)), c1, c5, target.shape[0])
        if log is not None and info.is_main and (batch + 1) % log_every == 0:
            log.info(log_format, batch + 1, *meter.means())
    loss, top1, top5, n = meter.global_means(info)
    return EpochStats(loss, top1, top5, n, 0)


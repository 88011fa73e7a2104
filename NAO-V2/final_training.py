"""What train_cifar.py and train_imagenet.py share: the network their flags describe, the flags
both add to the original's, and the epoch loop (resume from checkpoint.pt, train, evaluate after
every epoch, checkpoint, metrics.csv).

Generic pieces (train/evaluate epochs, DDP, checkpoint state) live in nasrepro.torch."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

from nasrepro.archs.nao import PUBLISHED_NAONET_V2, parse_nao_arch
from nasrepro.complexity.torch_count import count_params
from nasrepro.runs.metrics_csv import MetricsCSV
from nasrepro.torch.classifier_loop import evaluate, train_epoch
from nasrepro.torch.distributed import DistInfo, barrier, wrap_model
from nasrepro.torch.sync_batchnorm import convert_sync_batchnorm
from nasrepro.torch.training_state import resume_training_state, save_training_state


def training_steps(args, num_train_images: int) -> int:
    """The global steps of the whole run, the horizon of the drop-path schedule."""
    return -(-num_train_images // args.batch_size) * args.epochs


def network_arch(args):
    """--arch, checked (NAONet-V2 when not given)."""
    return parse_nao_arch(args.arch or PUBLISHED_NAONET_V2, nodes=args.nodes, source="--arch")


def build_final_network(network_class, args, classes: int, steps: int):
    """`network_class` (NASNetworkCIFAR or NASNetworkImageNet) as train_cifar.py's and
    train_imagenet.py's flags describe it."""
    arch = network_arch(args)
    return network_class(classes, args.layers, args.nodes, args.channels, args.keep_prob,
                         args.drop_path_keep_prob, args.use_aux_head, steps, arch,
                         drop_path_rule=args.drop_path_rule)


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

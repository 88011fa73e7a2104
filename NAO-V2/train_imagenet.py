"""Trains a fixed NAO-V2 architecture from scratch on ImageNet (NAONet-V2: 25.5% / 8.2%).

Flags and defaults are the original's (renqianluo/NAO_pytorch, NAO_V2/train_imagenet.py). Data:
<data>/train/<class>/* and <data>/valid/<class>/* (or train.zip / valid.zip with --zip_file),
read into memory unless --lazy_load. The original ran several GPUs through nn.DataParallel; here
one process per device under torchrun (train_NAONet_V2_imagenet_4cards.sh), with --batch_size
the global batch."""
import argparse
import os
import sys
from pathlib import Path

try:
    from nasrepro.project_python import ensure_project_python
except ModuleNotFoundError:  # an interpreter without the project: take it from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from nasrepro.project_python import ensure_project_python
ensure_project_python(__file__, needs=("torch", "torchvision"))

import torch
from torch import nn

from final_training import (add_new_training_flags, build_final_network, network_arch,
                            prepare_network, run_final_training, training_steps)
from model import NASNetworkImageNet
from nasrepro.data.imagenet import (imagenet_splits, imagenet_train_transform,
                                    imagenet_valid_transform)
from nasrepro.data.locate import resolve_data_path
from nasrepro.data.torch_datasets import SeededAugmentation
from nasrepro.errors import DataError, NasreproError, check_positive, check_probability
from nasrepro.runs.finish import CurvesPlot, finish_run
from nasrepro.runs.logs import NAO_LOG_DATEFMT, NAO_LOG_FORMAT, setup_logging
from nasrepro.runs.output_dir import prepare_output_dir
from nasrepro.runs.run_info import Timer
from nasrepro.schedules import staircase_lr
from nasrepro.seeding import seed_everything
from nasrepro.torch.distributed import (check_process_count, init_distributed, sharded_loaders,
                                        shutdown)

# The paper's training set: ImageNet-1k's 1,281,167 training images, 1,000 classes.
IMAGENET_TRAIN_IMAGES = 1_281_167
IMAGENET_CLASSES = 1000
LEARNING_CURVE = CurvesPlot("metrics.csv", "learning_curve.png",
                            (("loss", ("train_loss", "valid_loss")),
                             ("accuracy %", ("train_acc", "valid_acc_top1", "valid_acc_top5"))),
                            title="NAO-V2 train_imagenet.py")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--mode", type=str, default="train", choices=["train"])
    p.add_argument("--data", type=str, default="data/imagenet")
    p.add_argument("--zip_file", action="store_true", default=False)
    p.add_argument("--lazy_load", action="store_true", default=False)
    p.add_argument("--output_dir", type=str, default="models")
    p.add_argument("--arch", type=str, default=None)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--eval_batch_size", type=int, default=500)
    p.add_argument("--epochs", type=int, default=250)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--nodes", type=int, default=5)
    p.add_argument("--channels", type=int, default=48)
    p.add_argument("--use_aux_head", action="store_true", default=False)
    p.add_argument("--keep_prob", type=float, default=1.0)
    p.add_argument("--drop_path_keep_prob", type=float, default=1.0)
    p.add_argument("--cutout_size", type=int, default=None, help="unused, as in the original")
    p.add_argument("--lr", type=float, default=0.1, help="init learning rate")
    p.add_argument("--momentum", type=float, default=0.9, help="momentum")
    p.add_argument("--grad_clip", type=float, default=5.0)
    p.add_argument("--label_smooth", type=float, default=0.1, help="label smoothing")
    p.add_argument("--gamma", type=float, default=0.97, help="learning rate decay")
    p.add_argument("--decay_period", type=int, default=1,
                   help="epochs between two learning rate decays")
    p.add_argument("--l2_reg", type=float, default=3e-5)
    p.add_argument("--seed", type=int, default=0)
    # Added here (not in the original):
    add_new_training_flags(p, num_workers=16)
    p.add_argument("--read_threads", type=int, default=32,
                   help="threads reading the images into memory")
    p.add_argument("--preflight", action="store_true", default=False,
                   help="check the flags, the architecture, the data folder and that NPROC "
                        "processes have a GPU each (when there are GPUs), then exit (the "
                        "multi-process script runs it before starting the processes)")
    return p


def check_args(args) -> None:
    check_positive(args, "batch_size", "eval_batch_size", "epochs", "layers", "nodes",
                   "channels", "lr", "decay_period")
    check_probability(args, "keep_prob", "drop_path_keep_prob")
    if not 0.0 <= args.label_smooth < 1.0:
        raise NasreproError(f"--label_smooth={args.label_smooth}: expected a value in [0, 1)")


def build_network(args, classes: int, steps: int) -> NASNetworkImageNet:
    """The network these flags train (static checks and benchmarks build it here too)."""
    return build_final_network(NASNetworkImageNet, args, classes, steps)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return train(args)
    except NasreproError as err:
        # Every process hits the same error; one message is enough.
        if os.environ.get("RANK", "0") == "0":
            print(f"train_imagenet.py: error: {err}", file=sys.stderr)
        return 2


def data_root(args) -> Path:
    if not args.zip_file:
        return resolve_data_path(args.data, "imagenet", flag="--data")
    root = Path(args.data)
    if not root.is_dir():
        raise DataError(f"--data={args.data}: folder not found; with --zip_file it must hold "
                        "train.zip and valid.zip")
    return root


def train(args) -> int:
    check_args(args)
    timer = Timer()
    network_arch(args)  # a bad --arch stops before the data is read
    root = data_root(args)
    if args.preflight:
        processes = int(os.environ.get("NPROC", "1"))
        check_process_count(processes, advice=(
            f"--batch_size is the global batch, so NPROC={{gpus}} --batch_size={args.batch_size} "
            f"--lr={args.lr:g} trains with the batch and learning rate of {processes} processes, "
            "as the original's nn.DataParallel ran them on any number of GPUs."))
        return 0
    info = init_distributed()
    out_dir = prepare_output_dir(args.output_dir)
    log = setup_logging(out_dir / "train.log" if info.is_main else None, fmt=NAO_LOG_FORMAT,
                        datefmt=NAO_LOG_DATEFMT, logger_name="naov2", stdout=info.is_main)
    seed_everything(args.seed)
    log.info("Args = %s", args)
    log.info("Loading data from %s", "zip file" if args.zip_file else "directory")
    if not args.lazy_load:
        log.info("Loading data into memory")
    train_raw, valid_set, classes = imagenet_splits(
        root, imagenet_train_transform(), imagenet_valid_transform(224, 256),
        in_memory=not args.lazy_load, zip_file=args.zip_file, threads=args.read_threads)
    log.info("Found %d in training data", len(train_raw))
    log.info("Found %d in validation data", len(valid_set))
    if len(classes) < 2:
        raise DataError(f"{root}: {len(classes)} class folder; a classifier needs at least 2")
    train_set = SeededAugmentation(train_raw, args.seed)
    train_loader, valid_loader, sampler = sharded_loaders(
        train_set, valid_set, info, args.batch_size, args.eval_batch_size, args.seed,
        args.num_workers)
    args.steps = training_steps(args, len(train_set))
    model = build_network(args, len(classes), args.steps)
    net, params = prepare_network(model, args, info, log)
    optimizer = torch.optim.SGD(net.parameters(), args.lr, momentum=args.momentum,
                                weight_decay=args.l2_reg)
    # (1 - eps) on the label plus eps / classes everywhere: the original's smoothed loss.
    train_criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smooth).to(info.device)
    eval_criterion = nn.CrossEntropyLoss().to(info.device)

    def log_valid(stats):
        log.info("valid_acc_top1 %f", stats.top1)
        log.info("valid_acc_top5 %f", stats.top5)

    outcome = run_final_training(
        args=args, info=info, model=net, forward=lambda x, step: net(x, step),
        optimizer=optimizer,
        lr_at=lambda e: staircase_lr(e, args.lr, args.gamma, args.decay_period),
        train_criterion=train_criterion, eval_criterion=eval_criterion,
        train_loader=train_loader, valid_loader=valid_loader,
        train_samplers=[sampler, train_set], out_dir=out_dir, log=log, log_valid=log_valid,
        metrics_columns=lambda e, lr, tr, va: {
            "epoch": e, "lr": lr, "train_loss": tr.loss, "train_acc": tr.top1,
            "valid_loss": va.loss, "valid_acc_top1": va.top1, "valid_acc_top5": va.top5},
        aux_weight=0.4 if args.use_aux_head else 0.0, grad_clip=args.grad_clip,
        log_every=args.log_every)
    if info.is_main:
        last = outcome["last"]
        finish_run(
            out_dir, system="NAO-V2", script="train_imagenet.py", dataset="ImageNet",
            data_path=root,
            metrics={"top1_error_pct": 100.0 - last.top1, "top5_error_pct": 100.0 - last.top5,
                     "accuracy_pct": last.top1, "top5_accuracy_pct": last.top5,
                     "params_m": params / 1e6},
            config=dict(vars(args), processes=info.world_size), arch=str(model.arch),
            started=timer, plots=[LEARNING_CURVE],
            notes=f"last epoch; best epoch top-1 {outcome['best_acc_top1']:.2f}%")
    shutdown(info)
    return 0


if __name__ == "__main__":
    sys.exit(main())

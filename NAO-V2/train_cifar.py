"""Trains a fixed NAO-V2 architecture from scratch on CIFAR-10/100 (NAONet-V2-36: 2.57%).

Flags and defaults are the original's (renqianluo/NAO_pytorch, NAO_V2/train_cifar.py). As there,
the test set is what "valid" evaluates after every epoch and checkpoint_best.pt is chosen on it.
Several processes: `torchrun --nproc_per_node=N train_cifar.py ...` (--batch_size stays the
global batch)."""
import argparse
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
from model import NASNetworkCIFAR
from nasrepro.data.cifar import CIFAR10_MEAN, CIFAR10_STD, read_cifar
from nasrepro.data.locate import resolve_data_path
from nasrepro.data.torch_datasets import (ArrayImageDataset, SeededAugmentation,
                                          cifar_train_transform, cifar_valid_transform)
from nasrepro.errors import NasreproError, check_positive, check_probability
from nasrepro.runs.finish import CurvesPlot, finish_run
from nasrepro.runs.logs import NAO_LOG_DATEFMT, NAO_LOG_FORMAT, setup_logging
from nasrepro.runs.output_dir import prepare_output_dir
from nasrepro.runs.run_info import Timer
from nasrepro.schedules import cosine_lr
from nasrepro.seeding import seed_everything
from nasrepro.torch.distributed import init_distributed, sharded_loaders, shutdown

# The paper's training set: all 50,000 CIFAR training images.
CIFAR_TRAIN_IMAGES = 50_000


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--mode", type=str, default="train", choices=["train"])
    p.add_argument("--data", type=str, default="data/cifar10")
    p.add_argument("--dataset", type=str, default="cifar10", choices=["cifar10", "cifar100"])
    p.add_argument("--autoaugment", action="store_true", default=False)
    p.add_argument("--output_dir", type=str, default="models")
    p.add_argument("--search_space", type=str, default="small", choices=["small", "middle"])
    p.add_argument("--batch_size", type=int, default=128)
    p.add_argument("--eval_batch_size", type=int, default=500)
    p.add_argument("--epochs", type=int, default=600)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--nodes", type=int, default=5)
    p.add_argument("--channels", type=int, default=36)
    p.add_argument("--cutout_size", type=int, default=None)
    p.add_argument("--grad_bound", type=float, default=5.0)
    p.add_argument("--lr_max", type=float, default=0.025)
    p.add_argument("--lr_min", type=float, default=0)
    p.add_argument("--keep_prob", type=float, default=0.6)
    p.add_argument("--drop_path_keep_prob", type=float, default=0.8)
    p.add_argument("--l2_reg", type=float, default=5e-4)
    p.add_argument("--arch", type=str, default=None)
    p.add_argument("--use_aux_head", action="store_true", default=False)
    p.add_argument("--seed", type=int, default=0)
    # Added here (not in the original):
    add_new_training_flags(p, num_workers=2)
    p.add_argument("--num_train_images", type=int, default=0,
                   help="train on the first N training images only (0: all; the mini profile)")
    p.add_argument("--num_test_images", type=int, default=0,
                   help="evaluate on the first N test images only (0: all)")
    return p


def check_args(args) -> None:
    check_positive(args, "batch_size", "eval_batch_size", "epochs", "layers", "nodes",
                   "channels", "lr_max")
    check_probability(args, "keep_prob", "drop_path_keep_prob")
    if args.search_space != "small":
        raise NasreproError("--search_space=middle: only the small space (the one NAONet-V2 "
                            "was found in) is built here")
    if args.autoaugment:
        raise NasreproError("--autoaugment: AutoAugment (off in every published run) is not "
                            "ported")


def build_network(args, classes: int, steps: int) -> NASNetworkCIFAR:
    """The network these flags train (static checks and benchmarks build it here too)."""
    return build_final_network(NASNetworkCIFAR, args, classes, steps)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return train(args)
    except NasreproError as err:
        print(f"train_cifar.py: error: {err}", file=sys.stderr)
        return 2


def train(args) -> int:
    check_args(args)
    timer = Timer()
    info = init_distributed()
    network_arch(args)  # a bad --arch stops before the data is read
    out_dir = prepare_output_dir(args.output_dir)
    log = setup_logging(out_dir / "train.log" if info.is_main else None, fmt=NAO_LOG_FORMAT,
                        datefmt=NAO_LOG_DATEFMT, logger_name="naov2", stdout=info.is_main)
    seed_everything(args.seed)
    log.info("Args = %s", args)
    data_dir = resolve_data_path(args.data, args.dataset, flag="--data")
    data = read_cifar(data_dir, args.dataset)
    train_images, train_labels = data.images["train"], data.labels["train"]
    if args.num_train_images:
        train_images, train_labels = train_images[:args.num_train_images], \
            train_labels[:args.num_train_images]
    test_images, test_labels = data.images["test"], data.labels["test"]
    if args.num_test_images:
        test_images, test_labels = test_images[:args.num_test_images], \
            test_labels[:args.num_test_images]
    train_set = SeededAugmentation(ArrayImageDataset(
        train_images, train_labels, cifar_train_transform(CIFAR10_MEAN, CIFAR10_STD,
                                                          args.cutout_size or 0)), args.seed)
    test_set = ArrayImageDataset(test_images, test_labels,
                                 cifar_valid_transform(CIFAR10_MEAN, CIFAR10_STD))
    train_loader, test_loader, sampler = sharded_loaders(
        train_set, test_set, info, args.batch_size, args.eval_batch_size, args.seed,
        args.num_workers)
    args.steps = training_steps(args, len(train_set))
    model = build_network(args, data.num_classes, args.steps)
    net, params = prepare_network(model, args, info, log)
    optimizer = torch.optim.SGD(net.parameters(), args.lr_max, momentum=0.9,
                                weight_decay=args.l2_reg)
    criterion = nn.CrossEntropyLoss().to(info.device)

    def forward(images, step):
        return net(images, step)

    outcome = run_final_training(
        args=args, info=info, model=net, forward=forward, optimizer=optimizer,
        lr_at=lambda e: cosine_lr(e, args.epochs, args.lr_max, args.lr_min),
        train_criterion=criterion, eval_criterion=criterion, train_loader=train_loader,
        valid_loader=test_loader, train_samplers=[sampler, train_set], out_dir=out_dir,
        log=log, log_valid=lambda s: log.info("valid_acc %f", s.top1),
        metrics_columns=lambda e, lr, tr, va: {
            "epoch": e, "lr": lr, "train_loss": tr.loss, "train_acc": tr.top1,
            "valid_loss": va.loss, "valid_acc": va.top1, "valid_top5": va.top5},
        aux_weight=0.4 if args.use_aux_head else 0.0, grad_clip=args.grad_bound,
        log_every=args.log_every)
    if info.is_main:
        last = outcome["last"]
        finish_run(
            out_dir, system="NAO-V2", script="train_cifar.py",
            dataset=args.dataset.upper().replace("CIFAR", "CIFAR-"), data_path=data_dir,
            metrics={"test_error_pct": 100.0 - last.top1, "accuracy_pct": last.top1,
                     "params_m": params / 1e6},
            config=args, arch=str(model.arch), started=timer,
            plots=[CurvesPlot("metrics.csv", "learning_curve.png",
                              (("loss", ("train_loss", "valid_loss")),
                               ("top-1 %", ("train_acc", "valid_acc"))),
                              title=f"NAO-V2 train_cifar.py ({args.dataset})")],
            notes=f"last epoch; best epoch top-1 {outcome['best_acc_top1']:.2f}% (chosen on "
                  "the test set, as the original did)")
    shutdown(info)
    return 0


if __name__ == "__main__":
    sys.exit(main())

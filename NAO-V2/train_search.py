"""The NAO-V2 search: balanced one-shot supernet training, shared-weight scoring of the pool,
the encoder-predictor-decoder, new architectures by gradient steps, top-5 re-ranking.

Flags and defaults are the original's (renqianluo/NAO_pytorch, NAO_V2/train_search.py). Outputs
in --output_dir: arch_pool.{i} / arch_pool.perf.{i} (pool after iteration i, best first,
accuracy as a fraction), arch_pool.final / arch_pool.perf.final (top 5 re-ranked by short
training, percent), best_arch.txt, train.log, search.csv / controller.csv and
search_progress.png. The run saves search_state.pt after every supernet epoch and phase, and
resumes from it when restarted."""
import argparse
import logging
import sys
import time
from pathlib import Path

try:
    from nasrepro.project_python import ensure_project_python
except ModuleNotFoundError:  # an interpreter without the project: take it from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from nasrepro.project_python import ensure_project_python
ensure_project_python(__file__, needs=("torch", "torchvision"))

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Subset

from balanced_sampler import BalancedSampler
from controller import NAO
from model import NASNetworkCIFAR
from model_search import NASWSNetworkCIFAR
from nasrepro.archs.cell_plot import plot_micro_cells
from nasrepro.archs.enas import parse_micro_arc
from nasrepro.archs.nao import (SMALL_OPS, arch_to_seq, parse_nao_arch, random_arch,
                                read_arch_pool, seq_to_arch, vocab_size)
from nasrepro.atomic import atomic_write_text
from nasrepro.complexity.torch_count import count_params
from nasrepro.data.cifar import CIFAR10_MEAN, CIFAR10_STD, read_cifar
from nasrepro.data.locate import resolve_data_path
from nasrepro.data.torch_datasets import (ArrayImageDataset, SeededAugmentation,
                                          cifar_train_transform, cifar_valid_transform,
                                          train_valid_indices)
from nasrepro.errors import ConfigError, NasreproError, check_positive
from nasrepro.ranking import hamming_distance, pairwise_accuracy
from nasrepro.runs.finish import finish_run
from nasrepro.runs.logs import NAO_LOG_DATEFMT, NAO_LOG_FORMAT, setup_logging
from nasrepro.runs.metrics_csv import MetricsCSV
from nasrepro.runs.output_dir import prepare_output_dir
from nasrepro.runs.run_info import Timer
from nasrepro.schedules import cosine_lr
from nasrepro.seeding import seed_everything
from nasrepro.torch.checkpoint import load_checkpoint, save_checkpoint
from nasrepro.torch.classifier_loop import correct_topk, evaluate, train_epoch
from nasrepro.torch.distributed import DistInfo
from nasrepro.torch.nao_controller import (build_controller_data, controller_infer,
                                           controller_train_epoch, generate_new_archs)
from plot_search import plot_search

STATE_FILE = "search_state.pt"
ITERATIONS = 4          # hard-coded in the original
MAX_STEP_SIZE = 50      # hard-coded in the original
TOP_FOR_GENERATION = 100
# The re-ranking trains each top architecture with these fixed values (as the original).
RERANK_KEEP_PROB, RERANK_DROP_PATH_KEEP_PROB, AUX_WEIGHT = 0.6, 0.8, 0.4


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    add = p.add_argument
    add("--mode", type=str, default="train", choices=["train"])
    add("--data", type=str, default="data")
    add("--dataset", type=str, default="cifar10", choices=["cifar10", "cifar100"])
    add("--zip_file", action="store_true", default=False, help="ImageNet search only (not ported)")
    add("--lazy_load", action="store_true", default=False, help="ImageNet search only (not ported)")
    add("--output_dir", type=str, default="models")
    add("--search_space", type=str, default="small", choices=["small", "middle"])
    add("--seed", type=int, default=0)
    add("--child_batch_size", type=int, default=64)
    add("--child_eval_batch_size", type=int, default=500)
    add("--child_epochs", type=int, default=50)
    add("--child_layers", type=int, default=3)
    add("--child_nodes", type=int, default=5)
    add("--child_channels", type=int, default=20)
    add("--child_cutout_size", type=int, default=None)
    add("--child_grad_bound", type=float, default=5.0)
    add("--child_lr_max", type=float, default=0.025)
    add("--child_lr_min", type=float, default=0.001)
    add("--child_keep_prob", type=float, default=1.0)
    add("--child_drop_path_keep_prob", type=float, default=0.9)
    add("--child_l2_reg", type=float, default=3e-4)
    add("--child_use_aux_head", action="store_true", default=False)
    add("--child_arch_pool", type=str, default=None)
    add("--child_lr", type=float, default=0.1, help="ImageNet search only")
    add("--child_label_smooth", type=float, default=0.1, help="ImageNet search only")
    add("--child_gamma", type=float, default=0.97, help="ImageNet search only")
    add("--child_decay_period", type=int, default=1, help="ImageNet search only")
    add("--controller_seed_arch", type=int, default=1000)
    add("--controller_expand", type=int, default=10)
    add("--controller_new_arch", type=int, default=300)
    add("--controller_encoder_layers", type=int, default=1)
    add("--controller_encoder_hidden_size", type=int, default=64)
    add("--controller_encoder_emb_size", type=int, default=32)
    add("--controller_mlp_layers", type=int, default=0)
    add("--controller_mlp_hidden_size", type=int, default=200)
    add("--controller_decoder_layers", type=int, default=1)
    add("--controller_decoder_hidden_size", type=int, default=64)
    add("--controller_source_length", type=int, default=40)
    add("--controller_encoder_length", type=int, default=20)
    add("--controller_decoder_length", type=int, default=40)
    add("--controller_encoder_dropout", type=float, default=0)
    add("--controller_mlp_dropout", type=float, default=0.1)
    add("--controller_decoder_dropout", type=float, default=0)
    add("--controller_l2_reg", type=float, default=0)
    add("--controller_encoder_vocab_size", type=int, default=12)
    add("--controller_decoder_vocab_size", type=int, default=12)
    add("--controller_trade_off", type=float, default=0.8)
    add("--controller_epochs", type=int, default=1000)
    add("--controller_batch_size", type=int, default=100)
    add("--controller_lr", type=float, default=0.001)
    add("--controller_optimizer", type=str, default="adam", choices=["adam"])
    add("--controller_grad_bound", type=float, default=5.0)
    # Added here (not in the original):
    add("--drop_path_rule", default="release", choices=["release", "head"],
        help="release: the Oct-2019 code (no drop path on identity branches in the supernet); "
             "head: the March-2020 code (every branch)")
    add("--num_train_images", type=int, default=0,
        help="search on the first N CIFAR training images only (0: all; the mini profile)")
    add("--rerank_top", type=int, default=5, help="architectures re-ranked at the end")
    add("--rerank_epochs", type=int, default=10, help="epochs each re-ranked architecture trains")
    add("--controller_eval_every", type=int, default=100,
        help="controller epochs between pairwise-accuracy lines")
    add("--num_workers", type=int, default=2, help="data loader processes")
    add("--log_every", type=int, default=100, help="steps between progress lines")
    return p


def check_args(args) -> None:
    check_positive(args, "child_batch_size", "child_eval_batch_size", "child_epochs",
                   "child_layers", "child_channels", "controller_seed_arch", "controller_epochs",
                   "controller_batch_size", "controller_lr", "rerank_epochs",
                   "controller_eval_every")
    if args.search_space != "small":
        raise ConfigError("--search_space=middle: only the small space (NAONet-V2's) is built")
    if args.dataset != "cifar10" and args.dataset != "cifar100":
        raise ConfigError(f"--dataset={args.dataset}: the search runs on cifar10 or cifar100")
    if args.controller_expand is not None and args.controller_expand < 1:
        raise ConfigError(f"--controller_expand={args.controller_expand}: expected >= 1")
    if not 0 < args.rerank_top:
        raise ConfigError(f"--rerank_top={args.rerank_top}: expected a positive number")
    expected_length = 8 * args.child_nodes
    if args.controller_source_length != expected_length or \
            args.controller_decoder_length != expected_length or \
            args.controller_encoder_length * 2 != expected_length:
        raise ConfigError(f"--controller_source_length / decoder_length must be {expected_length}"
                          f" and --controller_encoder_length {expected_length // 2} for "
                          f"--child_nodes={args.child_nodes}")


def build_supernet(args, classes: int, steps: int) -> NASWSNetworkCIFAR:
    """The weight-sharing supernet these flags train."""
    return NASWSNetworkCIFAR(classes, args.child_layers, args.child_nodes, args.child_channels,
                             args.child_keep_prob, args.child_drop_path_keep_prob,
                             args.child_use_aux_head, steps, drop_path_rule=args.drop_path_rule)


class Search:
    """The search's state and phases; `state` is what search_state.pt holds."""

    def __init__(self, args, out_dir: Path, log: logging.Logger):
        self.args, self.out_dir, self.log = args, out_dir, log
        self.info = DistInfo()
        self.num_ops = len(SMALL_OPS)
        self.rng = np.random.default_rng(args.seed)
        self.timer = Timer()
        self._load_data()
        self.model = build_supernet(args, self.num_classes, args.steps)
        self.optimizer = torch.optim.SGD(self.model.parameters(), args.child_lr_max,
                                         momentum=0.9, weight_decay=args.child_l2_reg)
        self.criterion = nn.CrossEntropyLoss()
        self.nao = NAO(args.controller_encoder_layers, args.controller_encoder_vocab_size,
                       args.controller_encoder_hidden_size, args.controller_encoder_dropout,
                       args.controller_encoder_length, args.controller_source_length,
                       args.controller_encoder_emb_size, args.controller_mlp_layers,
                       args.controller_mlp_hidden_size, args.controller_mlp_dropout,
                       args.controller_decoder_layers, args.controller_decoder_vocab_size,
                       args.controller_decoder_hidden_size, args.controller_decoder_dropout,
                       args.controller_decoder_length)
        log.info("param size = %fMB", count_params(self.model) / 1e6)
        log.info("Encoder-Predictor-Decoder param size = %fMB", count_params(self.nao) / 1e6)
        self.state = {"phase": "start", "iteration": 0, "epoch": 0, "step": 0,
                      "child_arch_pool": [], "child_weights": [], "arch_pool": [],
                      "arch_pool_acc": [], "rerank": [], "seconds": 0.0}

    # ---- data
    def _load_data(self) -> None:
        args = self.args
        self.data_dir = resolve_data_path(args.data, args.dataset, flag="--data")
        data = read_cifar(self.data_dir, args.dataset)
        self.num_classes = data.num_classes
        images, labels = data.images["train"], data.labels["train"]
        if args.num_train_images:
            images, labels = images[:args.num_train_images], labels[:args.num_train_images]
        # 90% / 10% of the training set, by a seeded permutation (the original's split).
        train_idx, valid_idx = train_valid_indices(len(images), 0.9, shuffle_seed=args.seed)
        self.train_set = SeededAugmentation(Subset(ArrayImageDataset(
            images, labels, cifar_train_transform(CIFAR10_MEAN, CIFAR10_STD,
                                                  args.child_cutout_size or 0)), train_idx),
            args.seed)
        valid = ArrayImageDataset(images[valid_idx], labels[valid_idx],
                                  cifar_valid_transform(CIFAR10_MEAN, CIFAR10_STD))
        # The validation images are few (5,000 at most): kept as one tensor, so scoring an
        # architecture on a random batch is an index, not a loader.
        self.valid_x = torch.stack([valid[i][0] for i in range(len(valid))])
        self.valid_y = torch.as_tensor(labels[valid_idx], dtype=torch.long)
        self.valid_set = valid
        # The original's step horizon for drop path: ceil(45000 / batch) * epochs.
        args.steps = -(-len(train_idx) // args.child_batch_size) * args.child_epochs

    def train_loader(self, epoch_key: int, batch_size: int) -> DataLoader:
        sampler = DistributedSampler(self.train_set, 1, 0, shuffle=True, seed=self.args.seed)
        sampler.set_epoch(epoch_key)
        self.train_set.set_epoch(epoch_key)
        return DataLoader(self.train_set, batch_size=batch_size, sampler=sampler,
                          num_workers=self.args.num_workers)

    # ---- state
    def save(self) -> None:
        self.state["seconds"] = self.state.get("seconds", 0.0) + self.timer.seconds
        self.timer.reset()
        save_checkpoint({"state": self.state, "model": self.model.state_dict(),
                         "optimizer": self.optimizer.state_dict(),
                         "controller": self.nao.state_dict(),
                         "numpy_rng": self.rng.bit_generator.state,
                         "torch_rng": torch.get_rng_state()}, self.out_dir / STATE_FILE)

    def resume(self) -> bool:
        path = self.out_dir / STATE_FILE
        if not path.exists():
            return False
        saved = load_checkpoint(path)
        self.state = saved["state"]
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.nao.load_state_dict(saved["controller"])
        self.rng.bit_generator.state = saved["numpy_rng"]
        torch.set_rng_state(saved["torch_rng"])
        self.log.info("Resuming from %s: iteration %d, phase %s, %d supernet epochs done",
                      path, self.state["iteration"], self.state["phase"], self.state["epoch"])
        return True

    # ---- phases
    def initial_pool(self) -> list:
        args = self.args
        given = args.child_arch_pool or (self.out_dir / "arch_pool"
                                         if (self.out_dir / "arch_pool").exists() else None)
        if given is not None:
            self.log.info("Architecture pool is %s, loading",
                          "provided" if args.child_arch_pool else "founded")
            return [a.ints for a in read_arch_pool(given, args.child_nodes, self.num_ops)]
        self.log.info("Architecture pool is not provided, randomly generating now")
        return [random_arch(self.rng, args.child_nodes, self.num_ops).ints
                for _ in range(args.controller_seed_arch)]

    def sampling_weights(self, pool: list) -> list:
        """Each architecture's parameter count (MB) as a standalone network: the balanced
        sampler's weights."""
        args = self.args
        weights = []
        for arch in pool:
            net = NASNetworkCIFAR(self.num_classes, args.child_layers, args.child_nodes,
                                  args.child_channels, args.child_keep_prob,
                                  args.child_drop_path_keep_prob, args.child_use_aux_head,
                                  args.steps, arch)
            weights.append(count_params(net) / 1e6)
        return weights

    def train_supernet_epoch(self, epochs_csv: MetricsCSV) -> None:
        args, s = self.args, self.state
        epoch = s["epoch"]
        lr = cosine_lr(epoch, args.child_epochs, args.child_lr_max, args.child_lr_min)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.log.info("epoch %d lr %e", epoch + 1, lr)
        sampler = BalancedSampler(s["child_weights"], self.rng)
        pool, start = s["child_arch_pool"], s["step"]
        log = self.log

        def forward(images, step):
            arch = pool[sampler.sample()]
            if (step - start + 1) % args.log_every == 0:
                log.info("Arch: %s", " ".join(map(str, arch)))
            return self.model(images, parse_nao_arch(arch, args.child_nodes), step)

        loader = self.train_loader(s["iteration"] * 10_000 + epoch, args.child_batch_size)
        stats = train_epoch(forward, self.model, loader, self.optimizer, self.criterion,
                            self.info, start, aux_weight=AUX_WEIGHT if args.child_use_aux_head
                            else 0.0, grad_clip=args.child_grad_bound, log=log,
                            log_every=args.log_every,
                            log_format="Train %03d loss %e top1 %f top5 %f",
                            desc=f"iteration {s['iteration']} epoch {epoch + 1}")
        log.info("train_acc %f", stats.top1)
        s["step"], s["epoch"] = stats.steps, epoch + 1
        epochs_csv.write({"epoch": s["iteration"] * args.child_epochs + epoch + 1,
                          "iteration": s["iteration"], "lr": lr, "train_loss": stats.loss,
                          "train_acc": stats.top1})

    @torch.no_grad()
    def score_pool(self) -> list:
        """Shared-weight top-1 (fraction) of every pool architecture, each on one random
        validation batch, cell BNs on batch statistics (bn_train) as in the original."""
        args = self.args
        self.model.eval()
        accuracies = []
        n = len(self.valid_y)
        batch = min(args.child_eval_batch_size, n)
        for i, arch in enumerate(self.state["arch_pool"]):
            index = torch.as_tensor(self.rng.choice(n, size=batch, replace=False))
            logits, _ = self.model(self.valid_x[index], parse_nao_arch(arch, args.child_nodes),
                                   bn_train=True)
            target = self.valid_y[index]
            loss = float(self.criterion(logits, target))
            top1, top5 = (count / batch for count in correct_topk(logits, target))
            accuracies.append(top1)
            if (i + 1) % 100 == 0:
                self.log.info("Valid arch %s\n loss %.2f top1 %f top5 %f",
                              " ".join(map(str, arch)), loss, 100 * top1, 100 * top5)
        return accuracies

    def write_pool(self, iteration: int) -> None:
        s = self.state
        atomic_write_text(self.out_dir / f"arch_pool.{iteration}",
                          "".join(" ".join(map(str, a)) + "\n" for a in s["arch_pool"]))
        atomic_write_text(self.out_dir / f"arch_pool.perf.{iteration}",
                          "".join(f"{acc}\n" for acc in s["arch_pool_acc"]))

    def train_controller(self, controller_csv: MetricsCSV) -> None:
        args, s = self.args, self.state
        self.log.info("Train Encoder-Predictor-Decoder")
        seqs = [arch_to_seq(parse_nao_arch(a, args.child_nodes)) for a in s["arch_pool"]]
        accs = np.asarray(s["arch_pool_acc"], dtype=np.float64)
        spread = accs.max() - accs.min()
        targets = list((accs - accs.min()) / spread) if spread > 0 else [0.5] * len(accs)
        order = self.rng.permutation(len(seqs))
        split = int(len(seqs) * 0.9)
        train_idx, valid_idx = order[:split], order[split:]
        if len(valid_idx) == 0:
            raise ConfigError(f"the pool has {len(seqs)} architectures: too few for a 90/10 "
                              "controller split; raise --controller_seed_arch")
        train = build_controller_data([seqs[i] for i in train_idx],
                                      [targets[i] for i in train_idx],
                                      expand=args.controller_expand or 1, rng=self.rng,
                                      nodes=args.child_nodes, num_ops=self.num_ops)
        valid_seqs = [seqs[i] for i in valid_idx]
        valid_targets = [targets[i] for i in valid_idx]
        self.log.info("Train data: %d\tValid data: %d", len(train), len(valid_seqs))
        optimizer = torch.optim.Adam(self.nao.parameters(), lr=args.controller_lr,
                                     weight_decay=args.controller_l2_reg)
        pa = hd = float("nan")
        for epoch in range(1, args.controller_epochs + 1):
            loss, mse, ce = controller_train_epoch(
                self.nao, train.batches(args.controller_batch_size, self.rng), optimizer,
                args.controller_trade_off, args.controller_grad_bound)
            self.log.info("epoch %04d train loss %.6f mse %.6f ce %.6f", epoch, loss, mse, ce)
            if epoch % args.controller_eval_every == 0 or epoch == args.controller_epochs:
                predicted, decoded = controller_infer(self.nao, valid_seqs)
                pa = pairwise_accuracy(valid_targets, predicted)
                hd = hamming_distance(valid_seqs, decoded)
                self.log.info("Evaluation on valid data")
                self.log.info("epoch %04d pairwise accuracy %.6f hamming distance %.6f",
                              epoch, pa, hd)
                controller_csv.write({"epoch": s["iteration"] * args.controller_epochs + epoch,
                                      "iteration": s["iteration"], "controller_epoch": epoch,
                                      "loss": loss, "mse": mse, "ce": ce,
                                      "pairwise_accuracy": pa, "hamming_distance": hd})
        s["pairwise_accuracy"], s["hamming_distance"] = pa, hd

    def generate(self) -> list:
        args, s = self.args, self.state
        nodes = args.child_nodes
        existing = {tuple(arch_to_seq(parse_nao_arch(a, nodes))) for a in s["arch_pool"]}
        top = [arch_to_seq(parse_nao_arch(a, nodes))
               for a in s["arch_pool"][:TOP_FOR_GENERATION]]

        def on_step(step_size, kept):
            self.log.info("Generate new architectures with step size %d", step_size)
            self.log.info("%d new archs generated now", kept)
        new = generate_new_archs(self.nao, top, existing, args.controller_new_arch,
                                 MAX_STEP_SIZE, "+", on_step=on_step)
        self.log.info("Generate %d new archs", len(new))
        if not new:
            raise NasreproError(
                f"the controller decoded no architecture outside the pool within {MAX_STEP_SIZE}"
                " step sizes, so iteration {} has nothing to train (the original crashes here); "
                "train it longer (--controller_epochs) or on a larger pool "
                "(--controller_seed_arch)".format(s["iteration"] + 1))
        return [seq_to_arch(seq, nodes, self.num_ops).ints for seq in new]

    def rerank(self) -> None:
        """Trains each of the top architectures from scratch for a few epochs and evaluates
        it on the whole validation split (percent)."""
        args, s = self.args, self.state
        top = s["arch_pool"][:args.rerank_top]
        valid_loader = DataLoader(self.valid_set, batch_size=args.child_eval_batch_size)
        for k in range(len(s["rerank"]), len(top)):
            self.log.info("Train and evaluate the %d arch", k + 1)
            net = NASNetworkCIFAR(self.num_classes, args.child_layers, args.child_nodes,
                                  args.child_channels, RERANK_KEEP_PROB,
                                  RERANK_DROP_PATH_KEEP_PROB, True, args.steps, top[k],
                                  drop_path_rule=args.drop_path_rule)
            optimizer = torch.optim.SGD(net.parameters(), args.child_lr_max, momentum=0.9,
                                        weight_decay=args.child_l2_reg)
            step = 0
            for e in range(args.rerank_epochs):
                lr = cosine_lr(e, args.rerank_epochs, args.child_lr_max, args.child_lr_min)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                stats = train_epoch(lambda x, st: net(x, st), net,
                                    self.train_loader(100_000 + k * 1000 + e,
                                                      args.child_batch_size),
                                    optimizer, self.criterion, self.info, step,
                                    aux_weight=AUX_WEIGHT, grad_clip=args.child_grad_bound,
                                    log=self.log, log_every=args.log_every,
                                    log_format=f"Train epoch {e + 1:03d} %03d loss %e top1 %f "
                                               "top5 %f", desc=f"re-rank {k + 1} epoch {e + 1}")
                step = stats.steps
            valid = evaluate(lambda x, st: net(x, st), net, valid_loader, self.criterion,
                             self.info, log=self.log, log_every=args.log_every)
            s["rerank"].append(valid.top1)
            self.save()
        order = np.argsort(-np.asarray(s["rerank"]), kind="stable")
        final = [top[i] for i in order]
        perf = [s["rerank"][i] for i in order]
        atomic_write_text(self.out_dir / "arch_pool.final",
                          "".join(" ".join(map(str, a)) + "\n" for a in final))
        atomic_write_text(self.out_dir / "arch_pool.perf.final",
                          "".join(f"{p}\n" for p in perf))
        atomic_write_text(self.out_dir / "best_arch.txt", " ".join(map(str, final[0])) + "\n")
        s["final"], s["final_perf"] = final, perf

    # ---- the loop
    def run(self) -> None:
        args, s = self.args, self.state
        resumed = self.resume()
        s = self.state
        epochs_csv = MetricsCSV(self.out_dir / "search.csv",
                                resume_from_epoch=(s["iteration"] * args.child_epochs
                                                   + s["epoch"]) if resumed else None)
        # Controller rows of an iteration are complete once its phase is over.
        done = s["iteration"] + (1 if s["phase"] == "generate" else 0)
        controller_csv = MetricsCSV(self.out_dir / "controller.csv",
                                    resume_from_epoch=done * args.controller_epochs
                                    if resumed else None)
        if s["phase"] == "start":
            s["child_arch_pool"] = self.initial_pool()
            s["phase"] = "weights"
        while s["phase"] not in ("rerank", "done"):
            i = s["iteration"]
            if s["phase"] == "weights":
                self.log.info("Iteration %d", i)
                s["child_weights"] = self.sampling_weights(s["child_arch_pool"])
                s["phase"], s["epoch"], s["step"] = "supernet", 0, 0
                self.save()
            if s["phase"] == "supernet":
                while s["epoch"] < args.child_epochs:
                    self.train_supernet_epoch(epochs_csv)
                    self.save()
                self.log.info("Evaluate seed archs")
                s["arch_pool"] = s["arch_pool"] + s["child_arch_pool"]
                accs = self.score_pool()
                order = np.argsort(-np.asarray(accs), kind="stable")
                s["arch_pool"] = [s["arch_pool"][j] for j in order]
                s["arch_pool_acc"] = [accs[j] for j in order]
                s.setdefault("history", []).append(
                    {"iteration": i, "pool": len(accs), "best": max(accs),
                     "mean": float(np.mean(accs))})
                self.write_pool(i)
                s["phase"] = "rerank" if i == ITERATIONS - 1 else "controller"
                self.save()
                if s["phase"] == "rerank":
                    break
            if s["phase"] == "controller":
                self.train_controller(controller_csv)
                s["phase"] = "generate"
                self.save()
            if s["phase"] == "generate":
                s["child_arch_pool"] = self.generate()
                s["iteration"], s["phase"] = i + 1, "weights"
                self.save()
        if s["phase"] == "rerank":
            self.log.info("Finish Searching")
            self.log.info("Reranking top %d architectures", args.rerank_top)
            self.rerank()
            s["phase"] = "done"
            self.save()
        self.finish()

    def finish(self) -> None:
        s = self.state
        plot_search(self.out_dir)
        # The small space's cells are ENAS micro cells (same node format and op ids).
        best = " ".join(map(str, s["final"][0]))
        plot_micro_cells(parse_micro_arc(best, num_cells=self.args.child_nodes),
                         self.out_dir / "best_arch.png", title=f"NAO-V2 best cell: {best}")
        metrics = {"valid_error_pct": 100.0 - s["final_perf"][0]}
        if s.get("pairwise_accuracy") == s.get("pairwise_accuracy"):  # not NaN
            metrics["pairwise_accuracy"] = s["pairwise_accuracy"]
            metrics["hamming_distance"] = s["hamming_distance"]
        finish_run(
            self.out_dir, system="NAO-V2", script="train_search.py",
            dataset=self.args.dataset.upper().replace("CIFAR", "CIFAR-"),
            data_path=self.data_dir, metrics=metrics, config=self.args, arch=best,
            started=time.time() - s["seconds"] - self.timer.seconds,
            notes="valid_error_pct: the best re-ranked architecture after its short training "
                  "(validation split of the training set); pairwise_accuracy: the predictor on "
                  "held-out pool architectures in the last controller phase")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_args(args)
        out_dir = prepare_output_dir(args.output_dir)
        log = setup_logging(out_dir / "train.log", fmt=NAO_LOG_FORMAT,
                            datefmt=NAO_LOG_DATEFMT, logger_name="naov2")
        seed_everything(args.seed)
        args.child_num_ops = len(SMALL_OPS)
        args.controller_encoder_vocab_size = vocab_size(args.child_nodes, args.child_num_ops)
        args.controller_decoder_vocab_size = args.controller_encoder_vocab_size
        search = Search(args, out_dir, log)
        log.info("args = %s", args)
        search.run()
    except NasreproError as err:
        print(f"train_search.py: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

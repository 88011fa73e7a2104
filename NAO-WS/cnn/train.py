"""NAO-WS: trains a fixed architecture on CIFAR-10 (renqianluo/NAO NAO-WS/cnn/train.py; test.py
restores the newest checkpoint and reports the test accuracy, with the same flags). The flags
and defaults are the original's; new ones are marked "new".

All 50,000 training images are trained on, normalized per channel with their statistics; the
test set is evaluated after every --child_eval_every_epochs epochs. Each epoch ends with a
checkpoint in --output_dir, from which a killed run resumes."""
import argparse
import sys
import time
from pathlib import Path

try:
    from nasrepro.project_python import ensure_project_python
except ModuleNotFoundError:  # an interpreter without the project: take it from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from nasrepro.project_python import ensure_project_python
ensure_project_python(__file__, needs=("tensorflow",))

import numpy as np

from child_flags import add_child_flags, check_child_args
from data_utils import read_data
from model import build_child
from nasrepro.atomic import atomic_write_text
from nasrepro.complexity.tf_count import count_params
from nasrepro.errors import ConfigError, NasreproError, check_positive
from nasrepro.runs.finish import CurvesPlot, finish_run
from nasrepro.runs.logs import setup_logging
from nasrepro.runs.metrics_csv import MetricsCSV
from nasrepro.runs.output_dir import prepare_output_dir
from nasrepro.runs.run_info import Timer
from nasrepro.tf.checkpoint import TFCheckpointer
from nasrepro.tf.child_steps import (accuracy, child_learning_rate, make_child_steps,
                                     train_child_epoch)
from nasrepro.tf.cifar_input import num_batches
from nasrepro.tf.optimizers import NesterovMomentum
from nasrepro.tf.startup import import_tensorflow

tf = import_tensorflow()
LOG_EVERY = 50  # steps between the child's log lines, hard-coded in the original


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_child_flags(p)
    p.add_argument("--child_eval_every_epochs", type=int, default=1)
    return p


def check_args(args) -> None:
    check_child_args(args)
    check_positive(args, "child_eval_every_epochs", expected="a positive integer")
    if args.child_fixed_arc is None:
        raise ConfigError("--child_fixed_arc: required (train_final.sh passes NAONet-WS)")


class FinalRun:
    """The child, its optimizer and data; train() is train.py, test() is test.py."""

    def __init__(self, args, log_name: str):
        check_args(args)
        self.args, self.timer = args, Timer()
        self.out_dir = prepare_output_dir(args.output_dir)
        self.logger = setup_logging(self.out_dir / log_name, logger_name="naows")
        self.logger.propagate = False
        self.log = self.logger.info
        self.images, self.labels, self.data_dir = read_data(args, 0, self.log)
        seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
        tf.random.set_seed(seed)
        self.seed = tf.Variable(seed, dtype=tf.int64, trainable=False, name="seed")
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.generator = tf.random.Generator.from_seed(seed)
        self.log("-" * 80)
        self.log("Build model child")
        self.child = build_child(args)
        self.arc = self.child.fixed_arc.ints
        if args.child_use_aux_heads:
            self.log("Using aux_head at layer {}".format(self.child.aux_head_layer))
            self.log("Aux head uses {} params".format(count_params(self.child.aux_head)))
        # NAO-WS trains every child variable, the aux head's too, and its line counts them all.
        variables = list(self.child.trainable_variables)
        self.log("Model has {} params".format(count_params(self.child)))
        self.params_without_aux = count_params(self.child, exclude=("aux_head",))
        self.optimizer = NesterovMomentum(variables, momentum=0.9, name="child_momentum")
        self.train_step, self.eval_step = make_child_steps(
            self.child, variables, self.optimizer, self.step, self.generator, args.child_l2_reg,
            clip_bound=args.child_grad_bound if args.child_clip_gradients else None)
        self.checkpointer = TFCheckpointer(self.out_dir, max_to_keep=2, child=self.child,
                                           optimizer=self.optimizer, global_step=self.step,
                                           seed=self.seed, generator=self.generator)
        self.batches = num_batches(len(self.labels["train"]), args.child_batch_size)

    def evaluate(self) -> float:
        acc = accuracy(self.eval_step, self.images["test"], self.labels["test"],
                       self.args.child_eval_batch_size)
        self.log("Eval at {}".format(int(self.step.numpy())))
        self.log("test_accuracy: {:<6.4f}".format(acc))
        return acc

    def train(self) -> dict:
        args = self.args
        restored = self.checkpointer.restore_latest()
        start = int(self.step.numpy()) // self.batches
        if restored:
            self.log("Resuming from {} (global step {}, epoch {})".format(
                restored, int(self.step.numpy()), start))
        # The cell being trained, for test_final.sh (make naows-test passes it back).
        atomic_write_text(self.out_dir / "fixed_arc.txt", " ".join(map(str, self.arc)) + "\n")
        metrics = MetricsCSV(self.out_dir / "metrics.csv",
                             resume_from_epoch=start if restored else None)
        total_steps = args.child_num_epochs * self.batches
        seed, started, last = int(self.seed.numpy()), time.time(), None
        self.log("Starting session")
        for epoch in range(start, args.child_num_epochs):
            lr = child_learning_rate(args, epoch)
            train = train_child_epoch(
                self.train_step, self.step, self.images["train"], self.labels["train"],
                batch_size=args.child_batch_size, seed=seed, epoch=epoch,
                num_epochs=args.child_num_epochs, cutout_size=args.child_cutout_size, lr=lr,
                total_steps=total_steps, batches_per_epoch=self.batches, log=self.log,
                log_every=LOG_EVERY, started=started)
            row = {"epoch": epoch + 1, "global_step": int(self.step.numpy()), "lr": lr, **train}
            if (epoch + 1) % args.child_eval_every_epochs == 0 or epoch + 1 == args.child_num_epochs:
                row["test_acc"] = last = self.evaluate()
            metrics.write(row)
            self.checkpointer.save(int(self.step.numpy()))
        if last is None:
            last = self.evaluate()
        self.log("Training finished!")
        return finish_run(
            self.out_dir, system="NAO-WS", script="cnn/train.py", dataset="CIFAR-10",
            data_path=self.data_dir,
            metrics={"test_error_pct": 100.0 * (1.0 - last),
                     "params_m": self.params_without_aux / 1e6},
            config=vars(args), arch=args.child_fixed_arc, started=self.timer,
            plots=[CurvesPlot("metrics.csv", "learning_curve.png",
                              (("accuracy", ("train_acc", "test_acc")), ("loss", ("train_loss",))),
                              title="NAO-WS fixed architecture")],
            notes="params_m leaves the aux head out (the README's 2.5M); the log's 'Model has' "
                  "line counts it, as the original's did")

    def test(self) -> float:
        restored = self.checkpointer.restore_latest()
        if restored is None:
            raise ConfigError(f"--output_dir={self.args.output_dir}: no checkpoint to test "
                              "(run train_final.sh first, with the same --output_dir)")
        self.log("Restored {}".format(restored))
        return self.evaluate()


def main(argv=None, mode=None) -> int:
    args = build_parser().parse_args(argv)
    mode = mode or args.mode
    try:
        run = FinalRun(args, "test.log" if mode == "test" else "train.log")
        run.test() if mode == "test" else run.train()
    except NasreproError as err:
        print(f"{Path(sys.argv[0]).name}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ENAS CIFAR loop: child steps, a controller phase every `controller_train_every` epochs,
"Here are 10 architectures", evaluation, an epoch checkpoint, and the run's output files.

Search (no --child_fixed_arc): the shared-weight child trains on one sampled architecture per
minibatch; the controller then learns from rewards measured on validation minibatches.
Fixed arc: the child alone, on all training images, evaluated on the test set."""
import json
import logging
import time
from pathlib import Path

import numpy as np

from nasrepro.archs import enas as codec
from nasrepro.archs.cell_plot import plot_micro_cells
from nasrepro.atomic import atomic_write_text
from nasrepro.complexity.tf_count import count_params
from nasrepro.data.locate import resolve_data_path
from nasrepro.environment import current_profile
from nasrepro.errors import ConfigError, check_positive
from nasrepro.runs.arch_log import ArchLog
from nasrepro.runs.finish import CurvesPlot, finish_run
from nasrepro.runs.logs import setup_logging
from nasrepro.runs.metrics_csv import MetricsCSV
from nasrepro.runs.output_dir import prepare_output_dir
from nasrepro.runs.run_info import Timer
from nasrepro.tf.checkpoint import TFCheckpointer
from nasrepro.tf.micro_child import MicroChild
from nasrepro.tf.optimizers import NesterovMomentum
from nasrepro.tf.reinforce import ReinforceTrainer
from nasrepro.tf.startup import import_tensorflow
from nasrepro.tf.child_steps import accuracy as child_accuracy
from nasrepro.tf.child_steps import (child_learning_rate, make_child_steps,
                                     train_child_epoch)
from nasrepro.tf.training import count_correct
from src.cifar10.data_utils import DATASET_NAMES, read_data
from src.cifar10.general_child import GeneralChild
from src.cifar10.general_controller import GeneralController
from src.cifar10.micro_controller import MicroController

tf = import_tensorflow()

EVAL_BATCH_SIZE = 100  # hard-coded in the original
CONTROLLER_LSTM_SIZE = 64


def check_flags(c) -> None:
    """Stop early, naming the flag, on values the original would crash or silently misuse."""
    if c.search_for not in ("micro", "macro"):
        raise ConfigError(f"--search_for={c.search_for}: expected 'micro' or 'macro'")
    if c.dataset not in DATASET_NAMES:
        raise ConfigError(f"--dataset={c.dataset}: expected one of {', '.join(DATASET_NAMES)}")
    if c.data_format not in ("NHWC", "NCHW"):
        raise ConfigError(f"--data_format={c.data_format}: expected NHWC or NCHW")
    if not c.output_dir:
        raise ConfigError("--output_dir is empty; pass a folder for the log and checkpoints")
    check_positive(c, "batch_size", "num_epochs", "child_num_layers", "child_out_filters",
                   "child_num_cells", "child_num_branches", "log_every", "eval_every_epochs",
                   "controller_train_every", "controller_train_steps",
                   "controller_num_aggregate", expected="a positive integer")
    if not 0.0 < c.child_keep_prob <= 1.0 or not 0.0 < c.child_drop_path_keep_prob <= 1.0:
        raise ConfigError("--child_keep_prob and --child_drop_path_keep_prob must be in (0, 1]")
    if c.child_lr_cosine and None in (c.child_lr_max, c.child_lr_min, c.child_lr_T_0,
                                      c.child_lr_T_mul):
        raise ConfigError("--child_lr_cosine needs --child_lr_max, --child_lr_min, "
                          "--child_lr_T_0 and --child_lr_T_mul")
    if c.child_fixed_arc is not None and c.controller_training:
        raise ConfigError("--child_fixed_arc is given, cannot train controller: add "
                          "--nocontroller_training (as the final scripts do)")
    if c.search_for == "macro" and not c.controller_search_whole_channels:
        raise ConfigError("--search_for=macro: only --controller_search_whole_channels (one op "
                          "per layer, the paper's and the scripts' setting) is implemented")
    if c.search_for == "micro" and c.child_num_branches != 5:
        raise ConfigError(f"--child_num_branches={c.child_num_branches}: the micro space has "
                          "exactly 5 ops")
    if c.search_for == "micro" and c.child_num_layers < 3:
        raise ConfigError(f"--child_num_layers={c.child_num_layers}: micro needs at least 3 "
                          "(reduction cells sit at num_layers // 3 and 2 * (num_layers // 3) + 1)")
    if c.search_for == "macro" and c.child_num_branches not in (4, 6):
        raise ConfigError(f"--child_num_branches={c.child_num_branches}: macro has 4 ops "
                          "(convs only) or 6 (with pooling)")
    if c.child_cutout_size is not None and not 0 < c.child_cutout_size <= 32:
        raise ConfigError(f"--child_cutout_size={c.child_cutout_size}: expected 1..32")


def parse_fixed_arc(c):
    """--child_fixed_arc decoded for the child of --search_for (None when searching)."""
    if c.child_fixed_arc is None:
        return None
    if c.search_for == "micro":
        return codec.parse_micro_arc(c.child_fixed_arc, num_cells=c.child_num_cells,
                                     num_ops=c.child_num_branches, source="--child_fixed_arc")
    return list(codec.parse_macro_arc(c.child_fixed_arc, num_layers=c.child_num_layers,
                                      num_ops=c.child_num_branches,
                                      source="--child_fixed_arc").ints)


def build_child(c, num_classes: int):
    """The child network main.py's flags `c` build: the micro child (shared-weight when
    searching, else --child_fixed_arc's cells) or the macro one. Static checks and tests build
    the scripts' networks here too."""
    if c.search_for == "micro":
        return MicroChild(
            num_layers=c.child_num_layers, out_filters=c.child_out_filters,
            num_cells=c.child_num_cells, num_branches=c.child_num_branches,
            num_classes=num_classes, keep_prob=c.child_keep_prob,
            drop_path_keep_prob=c.child_drop_path_keep_prob,
            use_aux_heads=c.child_use_aux_heads, fixed_arc=parse_fixed_arc(c),
            search_eval_training=not c.child_search_eval_inference)
    return GeneralChild(
        num_layers=c.child_num_layers, out_filters=c.child_out_filters,
        num_branches=c.child_num_branches, num_classes=num_classes,
        keep_prob=c.child_keep_prob, fixed_arc=parse_fixed_arc(c),
        fixed_separable=c.child_fixed_separable, out_filters_scale=c.child_out_filters_scale)


def print_user_flags(values: dict, log, line_limit: int = 80) -> None:
    log("-" * line_limit)
    for name in sorted(values):
        value = str(values[name])
        log(name + "." * max(1, line_limit - len(name) - len(value)) + value)


class Run:
    """Everything one invocation of main.py builds, and its loop."""

    def __init__(self, values: dict):
        self.flags = values
        c = self.c = _Namespace(values)
        check_flags(c)
        self.timer = Timer()
        self.search = c.child_fixed_arc is None
        self.out_dir = self._prepare_output_dir()
        self.logger = setup_logging(self.out_dir / "stdout", logger_name="enas")
        self.logger.propagate = False
        self.log = self.logger.info
        self.log("Logging to {}".format(self.out_dir / "stdout"))
        print_user_flags(values, self.log)
        if c.data_format == "NCHW":
            self.log("data_format=NCHW: computing in NHWC (TF's layout optimizer converts to "
                     "NCHW on a GPU by itself; the CPU has no NCHW convolutions)")
        if c.deterministic:
            tf.config.experimental.enable_op_determinism()

        self.profile = current_profile()
        data_name = DATASET_NAMES[c.dataset]
        self.data_path = resolve_data_path(c.data_path or None, data_name, self.profile,
                                           "--data_path")
        num_valids = c.num_valids if c.num_valids is not None else (5000 if self.search else 0)
        self.images, self.labels, self.data_dir = read_data(self.data_path, c.dataset,
                                                            num_valids, self.log)
        if c.num_train_images is not None:
            if not 0 < c.num_train_images <= len(self.labels["train"]):
                raise ConfigError(f"--num_train_images={c.num_train_images}: expected 1.."
                                  f"{len(self.labels['train'])} (the training images there are)")
            self.images["train"] = self.images["train"][:c.num_train_images]
            self.labels["train"] = self.labels["train"][:c.num_train_images]
        if self.search and self.images["valid"] is None:
            raise ConfigError("searching needs a validation set: --num_valids must be > 0")
        self.num_classes = 100 if c.dataset == "CIFAR100" else 10
        self.num_train = len(self.labels["train"])
        self.num_train_batches = -(-self.num_train // c.batch_size)
        self.total_steps = c.num_epochs * self.num_train_batches

        seed = c.seed if c.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
        tf.random.set_seed(seed)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.seed = tf.Variable(seed, dtype=tf.int64, trainable=False, name="seed")
        self.generator = tf.random.Generator.from_seed(seed)
        self._build_models()
        self.checkpointer = TFCheckpointer(self.out_dir, max_to_keep=2, **self._trackables())

    # ------------------------------------------------------------------ building

    def _prepare_output_dir(self) -> Path:
        path = Path(self.c.output_dir).expanduser().resolve()
        print("-" * 80)
        if not path.exists():
            print("Path {} does not exist. Creating.".format(path))
        elif self.c.reset_output_dir:
            print("Path {} exists. Remove and remake.".format(path))
        return prepare_output_dir(path, reset=self.c.reset_output_dir)

    def _build_models(self) -> None:
        c = self.c
        self.log("-" * 80)
        self.log("Build model child")
        self.child = build_child(c, self.num_classes)
        if c.search_for == "micro":
            variables = list(self.child.main_variables)
            if c.child_use_aux_heads:
                self.log("Using aux_head at layer {}".format(self.child.aux_head_layer))
                if c.child_train_aux_head:
                    variables += list(self.child.aux_head_variables)
        else:
            variables = list(self.child.trainable_variables)
        self.train_variables = variables
        # What the original's line counted: trainable child variables, aux head left out.
        self.num_params = count_params(self.child, exclude=("aux_head",))
        self.log("Model has {} params".format(self.num_params))
        if c.search_for == "micro" and c.child_use_aux_heads:
            self.log("Aux head uses {} params".format(count_params(self.child.aux_head)))
        self.child_optimizer = NesterovMomentum(self.train_variables, momentum=0.9,
                                                name="child_momentum")
        self.controller = self.reinforce = None
        if self.search:
            self._build_controller()

    def _build_controller(self) -> None:
        c = self.c
        self.log("-" * 80)
        self.log("Build controller")
        if c.search_for == "micro":
            self.controller = MicroController(
                num_cells=c.child_num_cells, num_branches=c.child_num_branches,
                lstm_size=CONTROLLER_LSTM_SIZE, tanh_constant=c.controller_tanh_constant,
                op_tanh_reduce=c.controller_op_tanh_reduce,
                temperature=c.controller_temperature)
        else:
            self.controller = GeneralController(
                num_layers=c.child_num_layers, num_branches=c.child_num_branches,
                lstm_size=CONTROLLER_LSTM_SIZE, tanh_constant=c.controller_tanh_constant,
                temperature=c.controller_temperature, skip_target=c.controller_skip_target,
                skip_weight=c.controller_skip_weight)
        # Without sync replicas every sampled architecture is its own Adam step.
        aggregate = c.controller_num_aggregate if c.controller_sync_replicas else 1
        self.reinforce = ReinforceTrainer(
            self.controller, learning_rate=c.controller_lr,
            entropy_weight=c.controller_entropy_weight or 0.0,
            baseline_decay=c.controller_bl_dec, num_aggregate=aggregate,
            skip_weight=c.controller_skip_weight if c.search_for == "macro" else 0.0,
            l2_reg=c.controller_l2_reg)

    def _trackables(self) -> dict:
        items = dict(child=self.child, child_optimizer=self.child_optimizer,
                     global_step=self.step, seed=self.seed, generator=self.generator)
        if self.search:
            items.update(controller=self.controller, reinforce=self.reinforce)
        return items

    # ------------------------------------------------------------------ compiled steps

    def _compile(self) -> None:
        c, child, gen = self.c, self.child, self.generator

        sample = (lambda: self.controller.sample(gen)["arc"]) if self.search else (lambda: None)
        self.train_step, self.eval_step = make_child_steps(
            child, self.train_variables, self.child_optimizer, self.step, gen, c.child_l2_reg,
            clip_bound=c.child_grad_bound if c.child_clip_gradients else None, arc_fn=sample)
        if not self.search:
            return
        valid_x = tf.constant(self.images["valid"])
        valid_y = tf.constant(self.labels["valid"])
        reward_batch = min(c.batch_size, len(self.labels["valid"]))

        def reward_fn(arc):
            # One shuffled validation minibatch, no augmentation (the original's valid_rl).
            order = tf.argsort(gen.uniform([tf.shape(valid_y)[0]]))[:reward_batch]
            logits, _ = child(tf.gather(valid_x, order), training=False, generator=gen, arc=arc)
            return tf.cast(count_correct(logits, tf.gather(valid_y, order)),
                           tf.float32) / reward_batch

        @tf.function(autograph=False)
        def controller_step():
            return self.reinforce.step(reward_fn, gen)

        @tf.function(autograph=False)
        def sample_and_score():
            arc = self.controller.sample(gen)["arc"]
            return arc, reward_fn(arc)

        self.controller_step, self.sample_and_score = controller_step, sample_and_score

    # ------------------------------------------------------------------ the loop

    def run(self) -> dict:
        c = self.c
        restored = self.checkpointer.restore_latest()
        start_epoch = int(self.step.numpy()) // self.num_train_batches
        if restored:
            self.log("Resuming from {} (global step {}, epoch {})".format(
                restored, int(self.step.numpy()), start_epoch))
        self.metrics = MetricsCSV(self.out_dir / "metrics.csv",
                                  resume_from_epoch=start_epoch if restored else None)
        self.arcs = ArchLog(self.out_dir / "arcs.jsonl",
                            resume_from_epoch=start_epoch if restored else None)
        self._compile()
        self.log("-" * 80)
        self.log("Starting session")
        start_time = time.time()
        last = {}
        seed = int(self.seed.numpy())
        for epoch in range(start_epoch, c.num_epochs):
            lr = child_learning_rate(c, epoch)
            train = train_child_epoch(
                self.train_step, self.step, self.images["train"], self.labels["train"],
                batch_size=c.batch_size, seed=seed, epoch=epoch, num_epochs=c.num_epochs,
                cutout_size=c.child_cutout_size, lr=lr, total_steps=self.total_steps,
                batches_per_epoch=self.num_train_batches, log=self.log, log_every=c.log_every,
                started=start_time)
            global_step = int(self.step.numpy())
            done = global_step // self.num_train_batches
            row = {"epoch": done, "global_step": global_step, "lr": lr, **train}
            records = []
            if global_step % (self.num_train_batches * c.eval_every_epochs) == 0:
                if self.search:
                    row.update(self._controller_phase(done, start_time, records))
                self.log("Epoch {}: Eval".format(done))
                if self.search:
                    row["valid_acc"] = self.evaluate("valid", global_step)
                row["test_acc"] = self.evaluate("test", global_step)
            row["minutes"] = self.timer.minutes
            # Rows first, checkpoint last: a kill in between resumes from the previous
            # checkpoint, which drops these rows again.
            self.metrics.write(row)
            self.arcs.add(records)
            self.checkpointer.save(global_step)
            last = row
            self._write_outputs(final=False)
        if not last or "test_acc" not in last:
            last = dict(last)
            if self.search:
                last["valid_acc"] = self.evaluate("valid", int(self.step.numpy()))
            last["test_acc"] = self.evaluate("test", int(self.step.numpy()))
        return self._write_outputs(final=True, last=last)

    def _controller_phase(self, epoch: int, start_time: float, records: list) -> dict:
        c = self.c
        row = {}
        if c.controller_training and epoch % c.controller_train_every == 0:
            self.log("Epoch {}: Training controller".format(epoch))
            rewards, entropies, skip_rates = [], [], []
            for ct_step in range(c.controller_train_steps * c.controller_num_aggregate):
                out = self.controller_step()
                acc, entropy = float(out["acc"]), float(out["entropy"])
                rewards.append(acc)
                entropies.append(entropy)
                if "skip_rate" in out:
                    skip_rates.append(float(out["skip_rate"]))
                records.append({"epoch": epoch, "kind": "controller", "ctrl_step":
                                int(out["train_step"]), "arc": _arc_text(out["arc"]),
                                "val_acc": acc, "reward": float(out["reward"])})
                if ct_step % c.log_every == 0:
                    self.log(controller_log_line(
                        int(out["train_step"]), float(out["loss"]), entropy, c.controller_lr,
                        float(out["grad_norm"]), acc, float(out["baseline"]),
                        (time.time() - start_time) / 60))
            row.update(ctrl_reward=float(np.mean(rewards)),
                       ctrl_entropy=float(np.mean(entropies)),
                       ctrl_baseline=float(self.reinforce.baseline.numpy()))
            if skip_rates:
                row["ctrl_skip_rate"] = float(np.mean(skip_rates))
        self.log("Here are {} architectures".format(c.num_sample_arcs))
        best = 0.0
        for _ in range(c.num_sample_arcs):
            arc, acc = self.sample_and_score()
            arc, acc = arc.numpy(), float(acc)
            for line in arc_print_lines(arc, c.search_for, c.child_num_layers):
                self.log(line)
            self.log("val_acc={:<6.4f}".format(acc))
            self.log("-" * 80)
            records.append({"epoch": epoch, "kind": "sample", "arc": _arc_text(arc),
                            "val_acc": acc})
            best = max(best, acc)
        row["best_sample_val_acc"] = best
        return row

    def evaluate(self, split: str, global_step: int) -> float:
        accuracy = child_accuracy(self.eval_step, self.images[split], self.labels[split],
                                  EVAL_BATCH_SIZE)
        self.log("Eval at {}".format(global_step))
        self.log("{}_accuracy: {:<6.4f}".format(split, accuracy))
        return accuracy

    # ------------------------------------------------------------------ outputs

    def _curves(self) -> CurvesPlot:
        c = self.c
        if self.search:
            return CurvesPlot("metrics.csv", "search_progress.png",
                              (("controller reward (minibatch accuracy)",
                                ("ctrl_reward", "ctrl_baseline", "valid_acc")),
                               ("controller entropy", ("ctrl_entropy",))),
                              title=f"ENAS {c.search_for} search")
        return CurvesPlot("metrics.csv", "learning_curve.png",
                          (("accuracy", ("train_acc", "test_acc")), ("loss", ("train_loss",))),
                          title=f"ENAS {c.search_for} fixed architecture")

    def _write_outputs(self, final: bool, last=None):
        c = self.c
        best = self.arcs.best("sample", "val_acc") if self.search else None
        if best is not None:
            atomic_write_text(self.out_dir / "best_arc.txt", best["arc"] + "\n")
            atomic_write_text(self.out_dir / "best_arc.json", json.dumps(best, indent=1) + "\n")
        if not final:
            self._curves().draw(self.out_dir)
            return None
        if best is not None and c.search_for == "micro":
            plot_micro_cells(codec.parse_micro_arc(best["arc"], num_cells=c.child_num_cells),
                             self.out_dir / "best_arc.png",
                             title=f"best sampled cells (val_acc {best['val_acc']:.4f})")
        metrics = {"test_error_pct": 100.0 * (1.0 - last["test_acc"]),
                   "params_m": self.num_params / 1e6}
        if "valid_acc" in last:
            metrics["valid_error_pct"] = 100.0 * (1.0 - last["valid_acc"])
        arch = c.child_fixed_arc if not self.search else (best or {}).get("arc")
        notes = None
        if self.search:
            notes = ("search run: errors are those of the shared-weight child on sampled "
                     "architectures; best_arc.txt holds the best sampled architecture")
        record = finish_run(self.out_dir, system="ENAS", script="src/cifar10/main.py",
                            dataset=c.dataset, data_path=self.data_dir, metrics=metrics,
                            config=self.flags, arch=arch, started=self.timer, notes=notes,
                            plots=[self._curves()])
        self.log("Wrote {}".format(self.out_dir / "results.json"))
        return record


# ---------------------------------------------------------------------- log lines

def controller_log_line(ctrl_step, loss, entropy, lr, grad_norm, acc, baseline, minutes):
    return ("ctrl_step={:<6d}".format(ctrl_step) + " loss={:<7.3f}".format(loss)
            + " ent={:<5.2f}".format(entropy) + " lr={:<6.4f}".format(lr)
            + " |g|={:<8.4f}".format(grad_norm) + " acc={:<6.4f}".format(acc)
            + " bl={:<5.2f}".format(baseline) + " mins={:<.2f}".format(minutes))


def arc_print_lines(arc, search_for: str, num_layers: int) -> list:
    """Micro: the normal and the reduction cell as two int arrays; macro: one array per layer."""
    arc = np.asarray(arc).reshape(-1)
    if search_for == "micro":
        half = len(arc) // 2
        return [str(arc[:half]), str(arc[half:])]
    lines, start = [], 0
    for layer in range(num_layers):
        lines.append(str(arc[start:start + 1 + layer]))
        start += 1 + layer
    return lines


def _arc_text(arc) -> str:
    return " ".join(str(int(v)) for v in np.asarray(arc).reshape(-1))


class _Namespace:
    def __init__(self, values: dict):
        self.__dict__.update(values)


def run(values: dict) -> dict:
    logging.getLogger("absl").setLevel(logging.WARNING)
    return Run(values).run()

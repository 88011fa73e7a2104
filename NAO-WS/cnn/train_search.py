"""NAO-WS: the architecture search on CIFAR-10 with weight sharing (renqianluo/NAO
NAO-WS/cnn/train_search.py). The flags and defaults are the original's; new ones say "new".

The loop (NAO paper, Section 3.3, Algorithm 1 with weight sharing):
1. The shared-weight child (model_search.py) trains on architectures drawn from the pool until
   the next evaluation point (every --child_eval_every_epochs epochs).
2. Every pool architecture is scored on one validation batch; the pool is sorted by error rate
   (1 - accuracy) and written: <output_dir>/child/arch_pool and arch_pool.perf, and the
   snapshots arch_pool.<epoch> and arch_pool.perf.<epoch> (40 ints / one error rate per line).
   After --child_num_epochs the search ends here.
3. The controller (controller.py) trains on the pool's min-max normalized error rates.
4. The top 100 architectures take one gradient step each of size eta = 1, 2, ... on their
   encoder outputs and are decoded, until 500 architectures new to the pool are found or eta
   has passed 100.
5. The new pool: the best (N - new - 50) of the old one, the new ones and 50 random ones;
   child/arch_pool is overwritten with it. Back to 1.

Outputs in --output_dir besides child/ and controller/ (checkpoints): hparams.json,
train_search.log (the original's lines), search.csv (one row per evaluation: the pool's
shared-weight accuracies by origin, the controller's pairwise accuracy and Hamming distance),
controller.csv, search_progress.png, best_arc.txt and best_arc.png (new: the best architecture of
the last evaluation), results.json. search_state.json records the phase, so a killed search
resumes where it stopped."""
import argparse
import json
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

from calculate_params import count_child_params
from child_flags import add_child_flags, check_child_args
from controller import Controller
from data_utils import read_data
from model_search import SharedChild
from nasrepro.archs.cell_plot import plot_micro_cells
from nasrepro.archs.enas import parse_micro_arc
from nasrepro.archs.nao import (arch_to_seq, parse_nao_arch, random_arch, read_arch_pool,
                                seq_to_arch)
from nasrepro.atomic import atomic_write_text
from nasrepro.errors import ConfigError, NasreproError, check_positive
from nasrepro.ranking import pairwise_accuracy
from nasrepro.runs.finish import CurvesPlot, finish_run
from nasrepro.runs.logs import setup_logging
from nasrepro.runs.metrics_csv import MetricsCSV
from nasrepro.runs.output_dir import prepare_output_dir
from nasrepro.runs.run_info import Timer
from nasrepro.tf.startup import import_tensorflow

tf = import_tensorflow()
STATE_FILE = "search_state.json"
SAMPLE_POLICIES = ("uniform", "params", "valid_performance", "predicted_performance")
NUM_OPS = 5
# search.csv, one row per evaluation; the controller's columns stay empty after the last one.
SEARCH_COLUMNS = ("epoch", "round", "pool_size", "valid_acc_mean", "valid_acc_best",
                  "kept_acc_mean", "kept_count", "generated_acc_mean", "generated_count",
                  "random_acc_mean", "random_count", "pairwise_accuracy_before",
                  "pairwise_accuracy", "hamming_distance", "new_archs", "last_step_size")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_child_flags(p)
    a = p.add_argument
    a("--eval_dataset", default="valid", choices=("valid", "test", "both"),
      help="unused, as in the original")
    a("--child_sample_policy", default=None, choices=SAMPLE_POLICIES,
      help="how the child draws a pool architecture per step (unset: uniform)")
    a("--child_eval_every_epochs", default="30",
      help="epochs between evaluations, or a list of evaluation epochs ('[10, 30, 70]')")
    a("--child_arch_pool", default=None, help="a file of architectures to start from")
    a("--child_search_eval_inference", action="store_true",
      help="new: score architectures with dropout off (the original scored in training mode)")
    a("--controller_num_seed_arch", type=int, default=1000)
    a("--controller_encoder_num_layers", type=int, default=1)
    a("--controller_encoder_hidden_size", type=int, default=96)
    a("--controller_encoder_emb_size", type=int, default=32)
    a("--controller_mlp_num_layers", type=int, default=0)
    a("--controller_mlp_hidden_size", type=int, default=200)
    a("--controller_decoder_num_layers", type=int, default=1)
    a("--controller_decoder_hidden_size", type=int, default=96)
    a("--controller_source_length", type=int, default=60)
    a("--controller_encoder_length", type=int, default=20)
    a("--controller_decoder_length", type=int, default=60)
    a("--controller_encoder_dropout", type=float, default=0.1)
    a("--controller_mlp_dropout", type=float, default=0.1)
    a("--controller_decoder_dropout", type=float, default=0.0)
    a("--controller_weight_decay", type=float, default=1e-4)
    a("--controller_encoder_vocab_size", type=int, default=12)
    a("--controller_decoder_vocab_size", type=int, default=12)
    a("--controller_trade_off", type=float, default=0.8)
    a("--controller_train_epochs", type=int, default=300)
    a("--controller_save_frequency", type=int, default=10)
    a("--controller_batch_size", type=int, default=100)
    a("--controller_lr", type=float, default=0.001)
    a("--controller_optimizer", default="adam")
    a("--controller_start_decay_step", type=int, default=100, help="sgd only (not ported)")
    a("--controller_decay_steps", type=int, default=1000, help="sgd only (not ported)")
    a("--controller_decay_factor", type=float, default=0.9, help="sgd only (not ported)")
    a("--controller_attention", action="store_true")
    a("--controller_max_gradient_norm", type=float, default=5.0)
    a("--controller_time_major", action="store_true", help="a tensor layout; no effect here")
    a("--controller_symmetry", action="store_true")
    a("--controller_predict_beam_width", type=int, default=0)
    a("--controller_predict_lambda", type=float, default=1,
      help="unused: the search sets the step size itself (eta = 1, 2, ...)")
    # New flags: the original's fixed numbers and quirks, for small runs and for the fixes.
    a("--num_valids", type=int, default=5000,
      help="new: the last N training images are the validation set (5,000 in the original)")
    a("--controller_num_top_archs", type=int, default=100,
      help="new: the best architectures that take gradient steps (100 in the original)")
    a("--controller_num_new_archs", type=int, default=500,
      help="new: at most this many new architectures per round (500 in the original)")
    a("--controller_max_step_size", type=int, default=100,
      help="new: the last step size tried is this + 1 (100 in the original)")
    a("--controller_num_random_archs", type=int, default=50,
      help="new: random architectures added to each new pool (50 in the original)")
    a("--controller_mlp_dropout_active", action="store_true",
      help="new: apply the predictor's dropout in training (the original never did)")
    a("--controller_swap_decoder_input", action="store_true",
      help="new: with --controller_symmetry, build the decoder's teacher-forcing input from "
           "the swapped sequence (the original used the unswapped one)")
    a("--controller_encoder_dropout_every_round", action="store_true",
      help="new: keep --controller_encoder_dropout after the first round (the original's "
           "later rounds trained without it)")
    return p


def eval_epochs(value: str) -> list:
    """--child_eval_every_epochs: an int N (evaluate every N epochs) or a list of epochs."""
    text = value.strip()
    try:
        if text.startswith("["):
            epochs = [int(v) for v in text.strip("[]").split(",") if v.strip()]
            if not epochs or any(e < 1 for e in epochs) or epochs != sorted(set(epochs)):
                raise ValueError
            return epochs
        every = int(text)
        if every < 1:
            raise ValueError
        return [every]
    except ValueError:
        raise ConfigError(f"--child_eval_every_epochs={value}: expected a positive integer or "
                          "an increasing list of epochs such as '[10, 30, 70, 150]'") from None


def next_evaluation(epoch: int, value: str, num_epochs: int) -> int:
    """The epoch of the next evaluation after `epoch` (at most --child_num_epochs)."""
    epochs = eval_epochs(value)
    if len(epochs) == 1 and not value.strip().startswith("["):
        target = (epoch // epochs[0] + 1) * epochs[0]
    else:
        later = [e for e in epochs if e > epoch]
        # Past the list's end the original kept its last value as the period.
        target = later[0] if later else (epoch // epochs[-1] + 1) * epochs[-1]
    return min(target, num_epochs)


def check_args(args) -> None:
    check_child_args(args)
    eval_epochs(args.child_eval_every_epochs)
    check_positive(args, "num_valids", "controller_num_top_archs", expected="a positive integer")
    for flag in ("controller_num_new_archs", "controller_max_step_size",
                 "controller_num_random_archs"):
        if getattr(args, flag) < 0:
            raise ConfigError(f"--{flag}={getattr(args, flag)}: expected an integer >= 0")
    if args.child_fixed_arc is not None:
        raise ConfigError("--child_fixed_arc: the search trains the shared-weight child; train "
                          "one architecture with train.py (train_final.sh)")
    if args.child_num_branches != NUM_OPS:
        raise ConfigError(f"--child_num_branches={args.child_num_branches}: the search space "
                          f"has {NUM_OPS} ops")


def update_pool(sorted_pool, sorted_origin, new_archs, random_archs):
    """The original's next pool: the best len(pool) - len(new) - len(random) architectures
    (Python slicing, so a negative count drops that many from the end), the new ones, the
    random ones; with each architecture's origin ("kept", "generated", "random")."""
    keep = len(sorted_pool) - (len(new_archs) + len(random_archs))
    kept = list(sorted_pool[:keep])
    pool = kept + list(new_archs) + list(random_archs)
    origin = ["kept"] * len(kept) + ["generated"] * len(new_archs) + ["random"] * len(random_archs)
    return pool, origin


def pool_text(archs) -> str:
    return "".join(" ".join(map(str, a)) + "\n" for a in archs)


def repeatable_tensorflow() -> None:
    """A seeded search repeats exactly, so a killed one resumes to the same result: TF's
    deterministic kernels, and one op at a time, because the shared cells' gradients otherwise
    add up in the order concurrent ops finish. Must run before TF executes its first op."""
    tf.config.experimental.enable_op_determinism()
    tf.config.threading.set_inter_op_parallelism_threads(1)


class Search:
    def __init__(self, args):
        check_args(args)
        if args.seed is not None:
            repeatable_tensorflow()
        self.args, self.timer = args, Timer()
        self.out_dir = prepare_output_dir(args.output_dir)
        self.child_dir = self.out_dir / "child"
        self.child_dir.mkdir(exist_ok=True)
        self.logger = setup_logging(self.out_dir / "train_search.log", logger_name="naows")
        self.logger.propagate = False
        self.log = self.logger.info
        atomic_write_text(self.out_dir / "hparams.json", json.dumps(vars(args), indent=1))
        self.images, self.labels, self.data_dir = read_data(args, args.num_valids, self.log)
        self.state = self._load_state()
        self.seed = int(self.state["seed"])
        tf.random.set_seed(self.seed)  # the child's initial weights
        self.child = SharedChild(args, self.images, self.labels, self.seed, self.child_dir,
                                 self.log)
        self.controller = Controller(args, self.seed, self.out_dir / "controller", self.log)

    # ---- state
    def _load_state(self) -> dict:
        path = self.out_dir / STATE_FILE
        if path.exists():
            try:
                state = json.loads(path.read_text())
                state["phase"], state["pool"]  # noqa: B018 (required keys)
            except (ValueError, KeyError) as err:
                raise ConfigError(f"{path}: not a search state this script wrote ({err}); "
                                  "delete it (and child/, controller/) to start over") from None
            self.log("Resuming the search from {} (phase {}, round {})".format(
                path, state["phase"], state["round"] + 1))
            return state
        seed = self.args.seed
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % 2**31)
        return {"seed": seed, "phase": "start", "round": 0, "pool": [], "origin": [],
                "seconds": 0.0}

    def _save_state(self) -> None:
        self.state["seconds"] += self.timer.seconds
        self.timer.reset()
        atomic_write_text(self.out_dir / STATE_FILE, json.dumps(self.state))

    # ---- phases
    def initial_pool(self) -> list:
        args = self.args
        path = self.child_dir / "arch_pool"
        given = args.child_arch_pool or (path if path.exists() else None)
        if given is not None:
            if given == path:
                self.log("Found arch_pool in child model dir, loading")
            return [a.ints for a in read_arch_pool(given, args.child_num_cells, NUM_OPS)]
        rng = np.random.default_rng(self.seed)
        return [random_arch(rng, args.child_num_cells, NUM_OPS).ints
                for _ in range(args.controller_num_seed_arch)]

    def seqs(self, archs) -> list:
        return [arch_to_seq(parse_nao_arch(a, self.args.child_num_cells)) for a in archs]

    def sampling_logits(self, pool):
        """The --child_sample_policy's values per pool architecture, used as logits."""
        args, s = self.args, self.state
        if args.child_sample_policy in (None, "uniform") or s["round"] == 0:
            return None  # the first round samples uniformly whatever the policy
        if "logits" not in s:
            if args.child_sample_policy == "params":
                s["logits"] = [float(count_child_params(a, args.child_num_layers,
                                                        args.child_out_filters)["main"])
                               for a in pool]
            elif args.child_sample_policy == "valid_performance":
                s["logits"] = self.child.score(pool)
            else:
                s["logits"] = (1.0 - self.controller.predict(self.seqs(pool))).tolist()
            self._save_state()
        return s["logits"]

    def train_and_score(self, epochs_csv: MetricsCSV) -> None:
        args, s = self.args, self.state
        pool = s["pool"]
        self.child.set_pool(pool, self.sampling_logits(pool))
        end = next_evaluation(self.child.epoch, args.child_eval_every_epochs,
                              args.child_num_epochs)
        self.child.train_until(end, epochs_csv.write)
        epoch = self.child.epoch
        accs = self.child.score(pool)
        perf = [1.0 - a for a in accs]
        order = np.argsort(perf, kind="stable")
        sorted_pool = [pool[i] for i in order]
        sorted_perf = [perf[i] for i in order]
        sorted_origin = [s["origin"][i] for i in order]
        for suffix in (f".{epoch}", ""):
            atomic_write_text(self.child_dir / f"arch_pool{suffix}", pool_text(sorted_pool))
            atomic_write_text(self.child_dir / f"arch_pool.perf{suffix}",
                              "".join(f"{p}\n" for p in sorted_perf))
        row = dict.fromkeys(SEARCH_COLUMNS, "")
        row.update(epoch=epoch, round=s["round"] + 1, pool_size=len(pool),
                   valid_acc_mean=float(np.mean(accs)), valid_acc_best=float(max(accs)))
        for origin in ("kept", "generated", "random"):
            values = [a for a, o in zip(accs, s["origin"]) if o == origin]
            row[f"{origin}_acc_mean"] = float(np.mean(values)) if values else ""
            row[f"{origin}_count"] = len(values)
        self.log("Shared-weight valid accuracy by origin: " + ", ".join(
            "{} {} archs {:.4f}".format(o, row[f"{o}_count"], row[f"{o}_acc_mean"])
            for o in ("kept", "generated", "random") if row[f"{o}_count"]))
        if s["round"] > 0:
            # The last round's controller on this pool, before it trains on it: a held-out
            # measure for the architectures it has never seen.
            row["pairwise_accuracy_before"] = self._pairwise(sorted_pool, sorted_perf)
            self.log("Pairwise accuracy of the controller on the new pool before training: "
                     "{:.4f}".format(row["pairwise_accuracy_before"]))
        s.update(pool=sorted_pool, perf=sorted_perf, origin=sorted_origin, row=row)
        s.pop("logits", None)
        s["phase"] = "done" if epoch >= args.child_num_epochs else "controller"

    def _targets(self, perf) -> list:
        low, high = min(perf), max(perf)
        if high == low:  # the original divides by zero here
            self.log("All {} architectures scored the same; targets set to 0.5".format(len(perf)))
            return [0.5] * len(perf)
        return [(p - low) / (high - low) for p in perf]

    def _pairwise(self, pool, perf) -> float:
        if len(pool) < 2:
            return float("nan")
        return pairwise_accuracy(self._targets(perf), self.controller.predict(self.seqs(pool)))

    def train_controller(self, controller_csv: MetricsCSV) -> None:
        s = self.state
        seqs = self.seqs(s["pool"])
        targets = self._targets(s["perf"])
        self.controller.train(s["round"], seqs, targets, controller_csv.write)
        pa, hd = self.controller.evaluate(seqs, targets)
        self.log("Controller on the pool it trained on: pairwise accuracy {:.4f}, mean Hamming "
                 "distance of its reconstructions {:.4f}".format(pa, hd))
        s["row"].update(pairwise_accuracy=pa, hamming_distance=hd)
        s["phase"] = "generate"

    def generate(self, write_row) -> None:
        args, s = self.args, self.state
        pool = s["pool"]
        seqs = self.seqs(pool)
        new_seqs, last_eta = self.controller.generate(
            seqs[:args.controller_num_top_archs], seqs, args.controller_num_new_archs,
            args.controller_max_step_size)
        new_archs = [self._seq_arch(q) for q in new_seqs]
        self.log("Generate {} new archs".format(len(new_archs)))
        rng = np.random.default_rng([self.seed, s["round"] + 1])
        randoms = [random_arch(rng, args.child_num_cells, NUM_OPS).ints
                   for _ in range(args.controller_num_random_archs)]
        new_pool, origin = update_pool(pool, s["origin"], new_archs, randoms)
        if not new_pool:
            raise NasreproError("the new pool is empty: raise --controller_num_seed_arch")
        self.log("Totally {} archs now to train".format(len(new_pool)))
        atomic_write_text(self.child_dir / "arch_pool", pool_text(new_pool))
        s["row"].update(new_archs=len(new_archs), last_step_size=last_eta)
        write_row(s.pop("row"))
        s.update(pool=new_pool, origin=origin, phase="train", round=s["round"] + 1)
        s.pop("perf", None)

    def _seq_arch(self, seq) -> list:
        return list(seq_to_arch(seq, self.args.child_num_cells, NUM_OPS).ints)

    # ---- the loop
    def run(self) -> dict:
        args, s = self.args, self.state
        resumed = s["phase"] != "start"
        restored = self.child.restore()
        if restored:
            self.log("Restored the child from {} (epoch {})".format(restored, self.child.epoch))
        restored = self.controller.restore()
        if restored:
            self.log("Restored the controller from {}".format(restored))
        epochs_csv = MetricsCSV(self.out_dir / "child.csv",
                                resume_from_epoch=self.child.epoch if resumed else None)
        search_csv = MetricsCSV(self.out_dir / "search.csv",
                                resume_from_epoch=s.get("last_row_epoch", 0) if resumed
                                else None)
        controller_csv = MetricsCSV(
            self.out_dir / "controller.csv",
            resume_from_epoch=(max(0, int(self.controller.trained_round.numpy()))
                               * args.controller_train_epochs
                               + int(self.controller.trained_epochs.numpy())) if resumed else None)
        if s["phase"] == "start":
            s["pool"] = self.initial_pool()
            s["origin"] = ["random"] * len(s["pool"])
            s["phase"] = "train"
            atomic_write_text(self.child_dir / "arch_pool", pool_text(s["pool"]))
            self._save_state()

        def write_row(row):
            search_csv.write(row)
            s["last_row_epoch"] = row["epoch"]

        while s["phase"] != "done":
            if s["phase"] == "train":
                self.train_and_score(epochs_csv)
                if s["phase"] == "done":
                    write_row(s.pop("row"))
            elif s["phase"] == "controller":
                self.train_controller(controller_csv)
            elif s["phase"] == "generate":
                self.generate(write_row)
            else:
                raise ConfigError(f"{self.out_dir / STATE_FILE}: unknown phase {s['phase']!r}")
            self._save_state()
        return self.finish()

    def finish(self) -> dict:
        args, s = self.args, self.state
        best = " ".join(map(str, s["pool"][0]))
        self.log("Top architectures (shared-weight valid error rate):")
        for arch, perf in list(zip(s["pool"], s["perf"]))[:5]:
            self.log("{} {:.4f}".format(" ".join(map(str, arch)), perf))
        atomic_write_text(self.out_dir / "best_arc.txt", best + "\n")
        plot_micro_cells(parse_micro_arc(best, num_cells=args.child_num_cells),
                         self.out_dir / "best_arc.png", title=f"NAO-WS best cell: {best}")
        rows = MetricsCSV(self.out_dir / "search.csv", resume_from_epoch=10**9).rows()
        last_controller = [r for r in rows if r.get("pairwise_accuracy")]
        metrics = {"valid_error_pct": 100.0 * s["perf"][0],
                   "search_gpu_days": (s["seconds"] + self.timer.seconds) / 86400}
        if last_controller:
            metrics["pairwise_accuracy"] = float(last_controller[-1]["pairwise_accuracy"])
            metrics["hamming_distance"] = float(last_controller[-1]["hamming_distance"])
        return finish_run(
            self.out_dir, system="NAO-WS", script="cnn/train_search.py", dataset="CIFAR-10",
            data_path=self.data_dir, metrics=metrics, config=vars(args), arch=best,
            started=time.time() - s["seconds"] - self.timer.seconds,
            plots=[CurvesPlot("search.csv", "search_progress.png", (
                ("shared-weight valid accuracy", ("valid_acc_best", "valid_acc_mean",
                                                  "kept_acc_mean", "generated_acc_mean",
                                                  "random_acc_mean")),
                ("controller pairwise accuracy", ("pairwise_accuracy",
                                                  "pairwise_accuracy_before")),
                ("reconstruction Hamming distance", ("hamming_distance",))),
                title="NAO-WS search")],
            notes="valid_error_pct: the best architecture's shared-weight error on its one "
                  "validation batch; search_gpu_days: the search's wall time on one device; "
                  "pairwise_accuracy and hamming_distance: the last controller on the pool it "
                  "trained on")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        Search(args).run()
    except NasreproError as err:
        print(f"{Path(sys.argv[0]).name}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

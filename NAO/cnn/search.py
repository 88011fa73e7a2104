"""NAO's search without weight sharing as one resumable driver (new: the original is the manual
pipeline of renqianluo/NAO NAO/README.md, steps 1-11, which this runs with the original scripts'
values).

Iteration k works in <output_dir>/data/<k>iter/ (the README's layout):
  1. train: every architecture not evaluated yet is trained alone with train_cifar10_search.sh's
     flags (plus --child_args), in children/<k>iter/<i>/; its best valid accuracy, as an error
     rate, becomes line i of valid_error_rate (dag.<i>.json holds it). Iteration 0 trains
     --num_seed_archs random architectures of the paper's 11-op space.
  2. epd_data: epd/convert_arch_to_seq.py over every architecture evaluated so far.
  3. epd_train: epd/main.py --mode=train with epd/train.sh's flags (plus --epd_args).
  4. top: epd/get_top100.py (sorted, as the README says; the original script's missing sort
     is fixed there).
  5. generate: epd/main.py --mode=predict at each --predict_lambdas (10, 20, 30).
  6. next: the generated architectures that are new, distinct and buildable become
     data/<k+1>iter/, after copies of every architecture already evaluated.
After --iterations generation rounds the last architectures are trained and the search ends:
best_arch.json (lowest valid error), search.csv / search_progress.png (valid accuracy of the seed
and generated architectures per iteration), evaluations.csv, results.json. Each step is
recorded in search_state.json when it ends; a killed search resumes in the step it was in (a
child resumes from its own checkpoint). Each step can also be run by hand, as the README says.
"""
import argparse
import csv
import io
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

try:
    from nasrepro.project_python import ensure_project_python
except ModuleNotFoundError:  # an interpreter without the project: take it from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from nasrepro.project_python import ensure_project_python
ensure_project_python(__file__, needs=("tensorflow",))

from nasrepro.tf.startup import import_tensorflow

tf = import_tensorflow()  # first, so that its start-up notices stay quiet

import numpy as np  # noqa: E402

import train_cifar  # noqa: E402
from epd import convert_arch_to_seq, get_top100  # noqa: E402
from epd import main as epd_main  # noqa: E402
from nasrepro.archs.nao_dag import (dag_to_seq, random_dag, read_dag_json, seq_to_dag,  # noqa
                                    unbuildable_ops, write_dag_json, DagError)
from nasrepro.atomic import atomic_write_text  # noqa: E402
from nasrepro.data.locate import resolve_data_path  # noqa: E402
from nasrepro.environment import current_profile  # noqa: E402
from nasrepro.errors import ConfigError, NasreproError  # noqa: E402
from nasrepro.runs.finish import finish_run  # noqa: E402
from nasrepro.runs.logs import setup_logging  # noqa: E402
from nasrepro.runs.output_dir import prepare_output_dir  # noqa: E402
from nasrepro.runs.plots import save_figure  # noqa: E402
from nasrepro.runs.run_info import Timer  # noqa: E402
from nasrepro.shell_flags import script_argv  # noqa: E402

HERE = Path(__file__).resolve().parent
CHILD_SCRIPT = HERE / "train_cifar10_search.sh"
EPD_SCRIPT = HERE / "epd" / "train.sh"
PHASES = ("train", "epd_data", "epd_train", "top", "generate", "next")
EVAL_COLUMNS = ("iteration", "index", "origin", "valid_error", "test_error", "seconds", "seq")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a("--data_dir", default="data", help="CIFAR-10 binary records with NAO's 45k/5k split "
                                         "(train_batch_*.bin, valid_batch.bin, test_batch.bin)")
    a("--output_dir", default="models/search")
    a("--num_seed_archs", type=int, default=1000,
      help="random architectures of iteration 0 (the authors' seed set had about 1,000)")
    a("--iterations", type=int, default=3,
      help="generation rounds (the README: 2 or 3 are normally enough)")
    a("--top_archs", type=int, default=100, help="how many of the best seed the generation")
    a("--predict_lambdas", default="10,20,30", help="step sizes of the generation")
    a("--child_args", default="", help="flags appended to train_cifar10_search.sh's")
    a("--epd_args", default="", help="flags appended to epd/train.sh's")
    a("--original_decode_mask", action="store_true",
      help="generate with the original decoder mask, which lets any op token fill a type or a "
           "size slot (the malformed results are skipped); by default epd/main.py "
           "--typed_decode keeps types and sizes in their own slots")
    a("--stop_after", default=None, choices=PHASES,
      help="stop when this step of the current iteration has finished (rerun to go on): each "
           "step by hand, as the README's pipeline")
    a("--seed", type=int, default=None,
      help="seeds the architectures, the children and the EPD, and makes TensorFlow's ops "
           "deterministic")
    return p


def check_args(args) -> None:
    for name in ("num_seed_archs", "top_archs"):
        if getattr(args, name) < 2:
            raise ConfigError(f"--{name}={getattr(args, name)}: expected at least 2")
    if args.iterations < 0:
        raise ConfigError(f"--iterations={args.iterations}: expected 0 or more")
    try:
        args.lambdas = [float(v) for v in args.predict_lambdas.split(",") if v.strip()]
    except ValueError:
        args.lambdas = []
    if not args.lambdas or any(v <= 0 for v in args.lambdas):
        raise ConfigError(f"--predict_lambdas={args.predict_lambdas}: expected positive "
                          "numbers separated by commas, e.g. 10,20,30")


def _lambda_name(value: float) -> str:
    return f"{value:g}"


class Search:
    def __init__(self, args):
        check_args(args)
        self.args, self.timer = args, Timer()
        self.out = prepare_output_dir(args.output_dir)
        self.logger = setup_logging(self.out / "search.log", logger_name="nao_search")
        self.logger.propagate = False
        self.log = self.logger.info
        self.state_file = self.out / "search_state.json"
        self.state = (json.loads(self.state_file.read_text()) if self.state_file.is_file()
                      else {"iteration": 0, "phase": "train", "seed": args.seed if args.seed
                            is not None else int(np.random.SeedSequence().entropy % 2 ** 31),
                            "started": time.time(), "elapsed": 0.0, "generated": {}})
        # Found once, so that every child reads the same folder (the embedded data in the
        # small profiles).
        self.data_path = resolve_data_path(args.data_dir or None, "cifar10-bin",
                                           current_profile(), "--data_dir")
        self.evals_file = self.out / "evaluations.csv"
        self.evaluations = self._read_evaluations()
        self.started = time.time()
        if not self.state_file.is_file():  # the seed is drawn once, even without --seed
            self._save_state()

    # -- bookkeeping ------------------------------------------------------------------------

    def _read_evaluations(self) -> dict:
        if not self.evals_file.is_file():
            return {}
        with open(self.evals_file, newline="") as f:
            return {row["seq"]: row for row in csv.DictReader(f)}

    def _write_evaluations(self) -> None:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(EVAL_COLUMNS)
        for row in self.evaluations.values():
            writer.writerow([row[c] for c in EVAL_COLUMNS])
        atomic_write_text(self.evals_file, buf.getvalue())

    def _save_state(self, **changes) -> None:
        self.state.update(changes)
        self.state["elapsed"] += time.time() - self.started
        self.started = time.time()
        atomic_write_text(self.state_file, json.dumps(self.state, indent=1) + "\n")

    def data_dir(self, k: int) -> Path:
        return self.out / "data" / f"{k}iter"

    def epd_dir(self, k: int) -> Path:
        return self.out / "epd_models" / f"{k}iter"

    # -- the steps --------------------------------------------------------------------------

    def seed_archs(self) -> None:
        folder = self.data_dir(0)
        if folder.is_dir():
            return
        rng = np.random.default_rng([self.state["seed"], 0])
        seqs, dags = set(), []
        while len(dags) < self.args.num_seed_archs:
            dag = random_dag(rng)
            seq = tuple(dag_to_seq(dag))
            if seq not in seqs:
                seqs.add(seq)
                dags.append(dag)
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for i, dag in enumerate(dags, start=1):
            write_dag_json(partial / f"dag.{i}.json", dag)
        partial.rename(folder)  # all the seeds or none
        self.log(f"Iteration 0: {len(dags)} random seed architectures in {folder}")

    def train_children(self, k: int) -> None:
        folder = self.data_dir(k)
        dags = sorted(folder.glob("dag.*.json"), key=lambda p: int(p.name.split(".")[1]))
        errors = []
        for path in dags:
            i = int(path.name.split(".")[1])
            seq = " ".join(map(str, dag_to_seq(read_dag_json(path))))
            if seq not in self.evaluations:
                self.evaluations[seq] = self.train_child(k, i, path, seq)
                self._write_evaluations()
            errors.append(float(self.evaluations[seq]["valid_error"]))
        atomic_write_text(folder / "valid_error_rate", "".join(f"{e}\n" for e in errors))
        self.log(f"Iteration {k}: {len(errors)} architectures evaluated, best valid error "
                 f"{min(errors):.4f}")

    def train_child(self, k: int, i: int, path: Path, seq: str) -> dict:
        model_dir = self.out / "children" / f"{k}iter" / str(i)
        argv = [*script_argv(CHILD_SCRIPT), f"--data_dir={self.data_path}",
                f"--model_dir={model_dir}", f"--arch={path}",
                f"--seed={self.state['seed'] + 1000 * k + i}", "--final_test_only",
                *shlex.split(self.args.child_args)]
        started = time.time()
        parsed = train_cifar.build_parser().parse_args(argv)
        record = train_cifar.Run(parsed, "train.log").train()
        metrics = record["metrics"]
        origin = self.state["generated"].get(seq, "seed")
        self.log(f"  {k}iter dag.{i}.json ({origin}): valid error "
                 f"{metrics['valid_error_pct'] / 100:.4f}, {time.time() - started:.0f} s")
        return {"iteration": k, "index": i, "origin": origin,
                "valid_error": metrics["valid_error_pct"] / 100.0,
                "test_error": metrics["test_error_pct"] / 100.0,
                "seconds": round(time.time() - started, 1), "seq": seq}

    def _epd(self, argv) -> None:
        code = epd_main.main(argv)
        if code:
            raise ConfigError(f"epd/main.py {' '.join(argv)}: failed (exit {code}); see "
                              "its message above")

    def train_epd(self, k: int) -> None:
        argv = [*script_argv(EPD_SCRIPT), f"--data_dir={self.data_dir(k)}",
                f"--model_dir={self.epd_dir(k)}", f"--seed={self.state['seed'] + k}",
                *shlex.split(self.args.epd_args)]
        self._epd(argv)

    def generate(self, k: int) -> None:
        folder = self.data_dir(k)
        for lam in self.args.lambdas:
            typed = [] if self.args.original_decode_mask else ["--typed_decode"]
            self._epd(["--mode=predict", *typed, f"--data_dir={folder}",
                       f"--model_dir={self.epd_dir(k)}",
                       f"--predict_lambda={lam}", f"--predict_from_file={folder / 'top100'}",
                       f"--predict_to_file={folder / f'top100.lambda{_lambda_name(lam)}'}"])

    def next_iteration(self, k: int) -> None:
        """data/<k+1>iter: every architecture so far, then the new generated ones."""
        old = self.data_dir(k)
        final = self.data_dir(k + 1)
        new = final.with_name(final.name + ".partial")
        for folder in (new, final):
            shutil.rmtree(folder, ignore_errors=True)  # a half-done step of a killed run
        new.mkdir(parents=True)
        known = set(self.evaluations)
        dags = sorted(old.glob("dag.*.json"), key=lambda p: int(p.name.split(".")[1]))
        for path in dags:
            shutil.copy(path, new / path.name)
        count, skipped = len(dags), {"known": 0, "unbuildable": 0, "malformed": 0}
        generated = dict(self.state["generated"])
        for lam in self.args.lambdas:
            lines = (old / f"top100.lambda{_lambda_name(lam)}.new_arch").read_text().split("\n")
            for line in filter(None, (l.strip() for l in lines)):
                try:  # the decoder may put a size token where a type goes, as the original's
                    dag = seq_to_dag(line, f"top100.lambda{_lambda_name(lam)}.new_arch")
                except DagError:
                    skipped["malformed"] += 1
                    continue
                seq = " ".join(map(str, dag_to_seq(dag)))
                if seq in known:
                    skipped["known"] += 1
                    continue
                if unbuildable_ops(dag):
                    skipped["unbuildable"] += 1
                    continue
                known.add(seq)
                count += 1
                write_dag_json(new / f"dag.{count}.json", dag)
                generated[seq] = f"generated (iteration {k + 1}, lambda {_lambda_name(lam)})"
        self.log(f"Iteration {k + 1}: {count - len(dags)} new architectures (skipped "
                 f"{skipped['known']} already known, {skipped['malformed']} malformed, "
                 f"{skipped['unbuildable']} with ops no network can build)")
        self.state.setdefault("skipped", {})[str(k + 1)] = skipped
        new.rename(final)
        self.state["generated"] = generated

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> dict:
        args = self.args
        if self.state["phase"] == "done":
            self.log("The search has finished; nothing to do")
            return self.finish()
        self.seed_archs()
        while True:
            k, phase = self.state["iteration"], self.state["phase"]
            self.log(f"== iteration {k}: {phase}")
            if phase == "train":
                self.train_children(k)
                if k >= args.iterations:
                    self._save_state(phase="done")
                    return self.finish()
                self._save_state(phase="epd_data")
            elif phase == "epd_data":
                convert_arch_to_seq.convert(self.data_dir(k))
                self._save_state(phase="epd_train")
            elif phase == "epd_train":
                self.train_epd(k)
                self._save_state(phase="top")
            elif phase == "top":
                get_top100.write_top(self.data_dir(k), top=args.top_archs)
                self._save_state(phase="generate")
            elif phase == "generate":
                self.generate(k)
                self._save_state(phase="next")
            elif phase == "next":
                self.next_iteration(k)
                self._save_state(iteration=k + 1, phase="train")
            else:
                raise ConfigError(f"{self.state_file}: unknown phase {phase!r}")
            if args.stop_after == phase:
                self.log(f"Stopped after step {phase} of iteration {k} (--stop_after); run "
                         "again to go on")
                return {}

    # -- the results ------------------------------------------------------------------------

    def summary_rows(self) -> list:
        rows = []
        by_iteration = {}
        for row in self.evaluations.values():
            by_iteration.setdefault(int(row["iteration"]), []).append(row)
        for k in sorted(by_iteration):
            group = by_iteration[k]
            acc = [1 - float(r["valid_error"]) for r in group]
            rows.append({"iteration": k, "origin": "seed" if k == 0 else "generated",
                         "archs": len(group), "mean_valid_acc": float(np.mean(acc)),
                         "best_valid_acc": float(np.max(acc))})
        return rows

    def finish(self) -> dict:
        rows = self.summary_rows()
        lines = ["iteration,origin,archs,mean_valid_acc,best_valid_acc"]
        lines += [f"{r['iteration']},{r['origin']},{r['archs']},{r['mean_valid_acc']:.6f},"
                  f"{r['best_valid_acc']:.6f}" for r in rows]
        atomic_write_text(self.out / "search.csv", "\n".join(lines) + "\n")
        self._plot()
        best = min(self.evaluations.values(), key=lambda r: float(r["valid_error"]))
        dag = seq_to_dag(best["seq"], "evaluations.csv")
        write_dag_json(self.out / "best_arch.json", dag)
        self.log(f"Best architecture: iteration {best['iteration']}, dag.{best['index']}.json "
                 f"({best['origin']}), valid error {float(best['valid_error']):.4f}")
        seeds = [1 - float(r["valid_error"]) for r in self.evaluations.values()
                 if r["origin"] == "seed"]
        generated = [1 - float(r["valid_error"]) for r in self.evaluations.values()
                     if r["origin"] != "seed"]
        metrics = {"valid_error_pct": 100.0 * float(best["valid_error"]),
                   "search_gpu_days": self.state["elapsed"] / 86400.0}
        # The last EPD's test evaluation (on its first 50 training architectures, as the
        # original's convert_arch_to_seq.py splits them).
        epd_test = self._last_epd_results().get("test") or {}
        metrics.update({k: v for k, v in epd_test.items()
                        if k in ("pairwise_accuracy", "hamming_distance")})
        notes = (f"{len(seeds)} seed architectures (mean valid accuracy "
                 f"{np.mean(seeds):.4f}) and {len(generated)} generated ones"
                 + (f" (mean {np.mean(generated):.4f})" if generated else "")
                 + "; search_gpu_days is the wall time on this machine's devices")
        return finish_run(self.out, system="NAO", script="cnn/search.py", dataset="CIFAR-10",
                          data_path=self.data_path, metrics=metrics, config=vars(self.args),
                          arch=" ".join(map(str, dag_to_seq(dag))), started=self.timer,
                          notes=notes)

    def _last_epd_results(self) -> dict:
        folders = sorted(self.out.glob("epd_models/*iter"), key=lambda p: int(p.name[:-4]))
        for folder in reversed(folders):
            path = folder / "epd_results.json"
            if path.is_file():
                return json.loads(path.read_text())
        return {}

    def _plot(self) -> None:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4))
        rng = np.random.default_rng(0)
        for row in self.evaluations.values():
            k = int(row["iteration"])
            color = "tab:gray" if row["origin"] == "seed" else "tab:blue"
            ax.scatter(k + rng.uniform(-0.15, 0.15), 1 - float(row["valid_error"]), s=12,
                       color=color, alpha=0.7)
        means = self.summary_rows()
        ax.plot([r["iteration"] for r in means], [r["mean_valid_acc"] for r in means], "k-o",
                label="mean per iteration")
        ax.set_xticks([r["iteration"] for r in means])
        ax.set_xlabel("iteration (0 = random seeds)")
        ax.set_ylabel("best valid accuracy of the child")
        ax.set_title("NAO search: seed (gray) and generated (blue) architectures")
        ax.legend(loc="lower right")
        save_figure(fig, self.out / "search_progress.png")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.seed is not None:
        tf.config.experimental.enable_op_determinism()
    try:
        Search(args).run()
    except NasreproError as err:  # DagError is one
        print(f"{Path(sys.argv[0]).name}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

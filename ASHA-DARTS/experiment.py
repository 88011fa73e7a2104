"""Runs a Determined experiment config of this folder, what `det experiment create <config> .`
did on a Determined master:

  python experiment.py adaptive.yaml        ASHA over the DARTS space on Ray Tune (local Ray)
  python experiment.py const.yaml           trains the const.yaml architecture (no Ray)
  python experiment.py const.yaml --retrain --hparams_from=<search>/best_trial.yaml
                                            retrains a search's winner for 600 epochs

Any config key can be overridden as a dotted flag, like Determined's `--config`:
`--searcher.max_trials=64 --hyperparameters.layers=8`. `--data` sets data.data_download_dir
(the folder with CIFAR-10's python pickles). RAY_ADDRESS or --address runs the trials on a Ray
cluster (`ray start --head` on its head node)."""
import argparse
import os
import sys
from pathlib import Path

try:
    from nasrepro.project_python import ensure_project_python
except ModuleNotFoundError:  # an interpreter without the project: take it from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from nasrepro.project_python import ensure_project_python
ensure_project_python(__file__, needs=("torch", "torchvision", "ray"))

import yaml

from model_def import build_network
from nasrepro.archs.darts_hparams import (arch_hparam_choices, format_genotype,
                                          genotype_from_hparams)
from nasrepro.atomic import atomic_write_text
from nasrepro.complexity.torch_count import count_params
from nasrepro.errors import ConfigError, NasreproError
from nasrepro.hpsearch import search_records
from nasrepro.hpsearch.det_config import (find_config, load_experiment_config,
                                          parse_with_overrides)
from nasrepro.hpsearch.experiment import (SCHEDULERS, plan_lengths, run_search, run_single,
                                          write_config)
from nasrepro.hpsearch.ray_engine import load_entrypoint
from nasrepro.runs.finish import CurvesPlot, finish_run
from nasrepro.runs.logs import setup_logging
from nasrepro.runs.output_dir import prepare_output_dir
from nasrepro.runs.run_info import Timer

HERE = Path(__file__).resolve().parent
# The example's README retrains the search's winner for 600 epochs, not the 300 of the search
# (determined-ai/determined c0a6d4e949, examples/hp_search_benchmarks/darts_cifar10_pytorch).
RETRAIN_EPOCHS = 600
LOG_FORMAT = "%(asctime)s %(message)s"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="an experiment config: adaptive.yaml, const.yaml, ...")
    p.add_argument("--data", default=None, help="CIFAR-10 folder (sets data.data_download_dir)")
    p.add_argument("--output_dir", default=None, help="default: exp/<config description>")
    p.add_argument("--address", default=os.environ.get("RAY_ADDRESS") or None,
                   help="a Ray cluster's head (host:port, ray://host:port or auto); default: "
                        "RAY_ADDRESS, else a local Ray instance")
    p.add_argument("--scheduler", default="promotion", choices=SCHEDULERS,
                   help="promotion: the paper's ASHA (pause at a rung, resume when promoted); "
                        "ray_asha: Ray Tune's stopping-based ASHAScheduler")
    p.add_argument("--hparams_from", default=None,
                   help="a best_trial.yaml: take its architecture hyperparameters")
    p.add_argument("--retrain", action="store_true",
                   help=f"train {RETRAIN_EPOCHS} epochs (train_epochs and max_length scaled)")
    p.add_argument("--seed", type=int, default=0, help="experiment seed (trial seeds, sampling)")
    return p


def parse_args(argv):
    return parse_with_overrides(build_parser(), argv)


def architecture_overrides(path) -> list:
    """--hparams_from: the 32 architecture hyperparameters of a best_trial.yaml."""
    try:
        saved = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"--hparams_from={path}: file not found") from None
    hparams = (saved or {}).get("hyperparameters") if isinstance(saved, dict) else None
    if not isinstance(hparams, dict):
        raise ConfigError(f"--hparams_from={path}: expected a `hyperparameters:` mapping")
    genotype_from_hparams(hparams, source=f"--hparams_from={path}")
    return [f"hyperparameters.{name}={yaml.safe_dump(hparams[name]).splitlines()[0]}"
            for name in arch_hparam_choices()]


def retrain_overrides(config) -> list:
    """train_epochs -> 600 and max_length scaled by the same factor (156200 -> 312400)."""
    epochs = config.constant_hparams()["train_epochs"]
    (unit, length), = config.searcher.max_length.items()
    return [f"hyperparameters.train_epochs={RETRAIN_EPOCHS}",
            f"searcher.max_length={{{unit}: {length * RETRAIN_EPOCHS // epochs}}}"]


def check_architecture_space(config) -> None:
    """Every architecture hyperparameter exists and stays inside the DARTS space."""
    for name, allowed in arch_hparam_choices().items():
        spec = config.hparam_spec(name)
        values = spec["vals"] if spec["type"] == "categorical" else [spec.get("val")]
        if spec["type"] not in ("categorical", "const"):
            raise ConfigError(f"{config.path}: hyperparameters.{name}: expected a categorical or "
                              f"a constant, got type {spec['type']}")
        bad = [v for v in values if v not in allowed or isinstance(v, bool)]
        if bad:
            raise ConfigError(f"{config.path}: hyperparameters.{name}: {bad[0]!r} is outside "
                              f"its choices {allowed}")


def load_config(args):
    path = find_config(args.config, HERE)
    overrides = []
    if args.data:
        overrides.append(f"data.data_download_dir={Path(args.data).expanduser().resolve()}")
    if args.hparams_from:
        overrides += architecture_overrides(args.hparams_from)
    if args.retrain:
        overrides += retrain_overrides(load_experiment_config(path, overrides))
    config = load_experiment_config(path, overrides + args.overrides)
    check_architecture_space(config)
    return config


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except NasreproError as err:
        print(f"experiment.py: error: {err}", file=sys.stderr)
        return 2


def run(args) -> int:
    timer = Timer()
    config = load_config(args)
    name = config.raw.get("description") or config.raw.get("name") or Path(config.path).stem
    out_dir = prepare_output_dir(args.output_dir or Path("exp") / name)
    log = setup_logging(out_dir / "experiment.log", fmt=LOG_FORMAT, logger_name="asha_darts")
    log.info("experiment %s (%s) -> %s", config.path, config.searcher.name, out_dir)
    write_config(config, out_dir / "config.yaml")
    if config.searcher.name == "single":
        return finish_single(args, config, out_dir, log, timer)
    return finish_search(args, config, out_dir, log, timer)


def _data_path(config):
    return (config.raw.get("data") or {}).get("data_download_dir")


def finish_single(args, config, out_dir, log, timer) -> int:
    trial_cls = load_entrypoint(HERE, config.entrypoint())
    outcome = run_single(config, trial_cls, out_dir, log, seed=args.seed)
    metrics, trial = outcome["metrics"], outcome["trial"]
    genotype = format_genotype(trial.genotype)
    atomic_write_text(out_dir / "genotype.txt", genotype + "\n")
    params = count_params(trial.model)
    log.info("final: %s; params %.6fM (aux head excluded); genotype %s",
             " ".join(f"{k} {v:.4f}" for k, v in metrics.items()), params / 1e6, genotype)
    top1 = metrics["top1_accuracy"]
    finish_run(
        out_dir, system="ASHA-DARTS", script=f"experiment.py {Path(config.path).name}",
        dataset="CIFAR-10", data_path=_data_path(config),
        metrics={"test_error_pct": 100.0 - top1, "accuracy_pct": top1,
                 "top5_accuracy_pct": metrics.get("top5_accuracy"), "params_m": params / 1e6},
        config=config.raw, arch=genotype, started=timer,
        plots=[CurvesPlot("metrics.csv", "learning_curve.png",
                          (("loss", ("train_loss", "valid_loss")),
                           ("top-1 %", ("train_top1_accuracy", "valid_top1_accuracy"))),
                          title=f"ASHA-DARTS {Path(config.path).name}", x="epochs")],
        notes=f"validation = the CIFAR-10 test split, as in the original; {outcome['batches']} "
              "batches; report_best_validation="
              f"{config.constant_hparams().get('report_best_validation', False)}")
    return 0


def const_config_for(config, hparams: dict, search_epochs: int) -> dict:
    """A const config (searcher single) training `hparams`' architecture for 600 epochs."""
    raw = yaml.safe_load(yaml.safe_dump(config.raw))
    for name in arch_hparam_choices():
        raw["hyperparameters"][name] = hparams[name]
    raw["hyperparameters"]["train_epochs"] = RETRAIN_EPOCHS
    (unit, length), = config.searcher.max_length.items()
    raw["searcher"] = {"name": "single", "metric": config.searcher.metric,
                       "smaller_is_better": config.searcher.smaller_is_better,
                       "max_length": {unit: length * RETRAIN_EPOCHS // search_epochs}}
    raw.pop("resources", None)
    raw["description"] = f"{raw.get('description', 'darts')}_best_retrain"
    return raw


def finish_search(args, config, out_dir, log, timer) -> int:
    outcome = run_search(config, HERE, out_dir, log, address=args.address,
                         scheduler=args.scheduler, seed=args.seed,
                         describe=lambda hp: format_genotype(genotype_from_hparams(hp)))
    rows, best = outcome["trials"], outcome["best"]
    s = config.searcher
    lengths = plan_lengths(config)
    search_records.plot_search_progress(
        out_dir, out_dir / "search_progress.png", s.metric, s.smaller_is_better,
        title=f"ASHA over the DARTS space: {len(rows)} trials, {args.scheduler}",
        last_rung=len(lengths.rung_lengths) - 1)
    reached = [sum(1 for r in rows if r["rungs_reached"] > k) for k in range(len(lengths.rung_lengths))]
    log.info("trials: %d; trials with a result at each rung %s (rung lengths %s batches)",
             len(rows), reached, lengths.rung_lengths)
    if best is None:
        raise NasreproError(f"no trial finished a validation; see {out_dir / 'experiment.log'} "
                            "and the trials' error.txt under ray/")
    hparams = {k: best[k] for k in arch_hparam_choices()}
    genotype = genotype_from_hparams(hparams)
    constants = config.constant_hparams()
    atomic_write_text(out_dir / "best_genotype.txt", format_genotype(genotype) + "\n")
    atomic_write_text(out_dir / "best_trial.yaml", yaml.safe_dump({
        "trial_id": best["trial_id"], "batches": int(best["batches"]),
        s.metric: float(best["final_metric"]), "genotype": format_genotype(genotype),
        "hyperparameters": hparams}, sort_keys=False))
    atomic_write_text(out_dir / "const_best.yaml", yaml.safe_dump(
        const_config_for(config, hparams, int(constants["train_epochs"])), sort_keys=False))
    params = count_params(build_network({**constants, **hparams}))
    log.info("best trial %s: %s %.4f after %d batches; %.6fM params; %s", best["trial_id"],
             s.metric, float(best["final_metric"]), int(best["batches"]), params / 1e6,
             format_genotype(genotype))
    log.info("retrain it for %d epochs: python experiment.py %s", RETRAIN_EPOCHS,
             out_dir / "const_best.yaml")
    top1 = float(best["final_metric"])
    trial_seconds = sum(float(r["wall_time_s"]) for r in rows)
    finish_run(
        out_dir, system="ASHA-DARTS", script=f"experiment.py {Path(config.path).name}",
        dataset="CIFAR-10", data_path=_data_path(config),
        metrics={"accuracy_pct": top1, "test_error_pct": 100.0 - top1, "params_m": params / 1e6,
                 "search_gpu_days": trial_seconds * config.slots_per_trial() / 86400},
        config=config.raw, arch=format_genotype(genotype), started=timer,
        notes=f"{len(rows)} trials; results per rung {reached}; best trial "
              f"{best['trial_id']} at {int(best['batches'])} batches; scheduler {args.scheduler}; "
              "search_gpu_days = summed trial time x slots_per_trial")
    return 0


if __name__ == "__main__":
    sys.exit(main())

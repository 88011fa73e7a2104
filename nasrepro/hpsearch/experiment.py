"""`det experiment create <config.yaml> <model_dir>` without Determined: reads the experiment
config, then trains one trial (`searcher: single`; one process, or one per slot under torchrun,
see launch.py) or runs the search on Ray Tune (`random`, `adaptive_asha`; one slot per trial).
Paper folders wrap this with their own CLI (ASHA-DARTS/experiment.py, GAEA-ImageNet/experiment.py).

Outputs in the output directory: config.yaml (the config as run), experiment.log, and
- single: metrics.csv (one row per validation), checkpoint/ (resumable), learning_curve.png;
- searches: validations.csv, asha_decisions.csv, trials.csv, best_trial.yaml,
  search_progress.png and Ray's own trial folders under ray/."""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import yaml

from ..atomic import atomic_write_text
from ..errors import ConfigError
from ..runs.metrics_csv import MetricsCSV
from ..runs.progress import progress
from . import search_records
from .asha import bracket_plan, max_rungs_cap, rung_lengths
from .det_config import ExperimentConfig, length_in_batches

SCHEDULERS = ("promotion", "ray_asha")


@dataclass
class LengthPlan:
    """The config's lengths in batches."""
    max_length: int
    validation_period: Optional[int]
    rung_lengths: list = field(default_factory=list)


def plan_lengths(config: ExperimentConfig) -> LengthPlan:
    gbs = int(config.constant_hparams()["global_batch_size"])
    rpe = config.records_per_epoch()
    max_length = length_in_batches(config.searcher.max_length, f"{config.path}: searcher.max_length",
                                   gbs, rpe)
    period = config.min_validation_period()
    period = length_in_batches(period, f"{config.path}: min_validation_period", gbs, rpe) \
        if period else None
    rungs = []
    if config.searcher.name == "adaptive_asha":
        s = config.searcher
        count = max_rungs_cap(s.max_rungs, max_length, s.max_trials, s.divisor, source=config.path)
        rungs = rung_lengths(max_length, s.divisor, count, source=config.path)
    return LengthPlan(max_length, period, rungs)


def write_config(config: ExperimentConfig, path) -> Path:
    return atomic_write_text(path, yaml.safe_dump(config.raw, sort_keys=False))


def check_slots(config: ExperimentConfig) -> int:
    """Searches run one slot per trial (a trial is one Ray Tune task)."""
    slots = int(config.slots_per_trial())
    if slots != 1:
        raise ConfigError(f"{config.path}: resources.slots_per_trial={slots}: a search runs one "
                          "slot (GPU) per trial here; only `searcher: single` trains on several")
    return slots


# --- searcher: single --------------------------------------------------------------------------
def run_single(config: ExperimentConfig, trial_cls, out_dir: Path, log: logging.Logger,
               seed: int = 0, dist=None) -> dict:
    """Train the config's one trial to max_length, validating every min_validation_period and
    at the end; checkpoint at each validation and resume from out_dir/checkpoint if present.

    `dist` (nasrepro.torch.distributed.DistInfo): this process's place under torchrun, one
    process per slot; only process 0 writes metrics.csv and shows progress."""
    import torch

    from ..torch.distributed import DistInfo
    from .trial_context import TrialContext
    from .trial_controller import TrialController, has_checkpoint

    dist = dist or DistInfo(device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    lengths = plan_lengths(config)
    hparams = config.constant_hparams()
    missing = [n for n in config.hyperparameters if n not in hparams]
    if missing:
        raise ConfigError(f"{config.path}: searcher single needs constant hyperparameters; "
                          f"{', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''} are searched "
                          "(use searcher adaptive_asha or random)")
    torch.manual_seed(seed)
    context = TrialContext(hparams, config.raw.get("data"), int(config.slots_per_trial()),
                           seed=seed, source=config.path, dist=dist)
    controller = TrialController(trial_cls, context)
    checkpoint_dir = out_dir / "checkpoint"
    if has_checkpoint(checkpoint_dir):
        controller.load(checkpoint_dir)
        log.info("resumed from %s at batch %d", checkpoint_dir, controller.batches_trained)
    period = lengths.validation_period or lengths.max_length
    points = list(range(period, lengths.max_length, period)) + [lengths.max_length]
    # metrics.csv: one row per validation, `epoch` counting validations (what MetricsCSV trims
    # on resume), `batches` and `epochs` the training done; `steps` in the old step-based
    # configs' unit.
    done = sum(1 for p in points if p <= controller.batches_trained)
    in_steps = "max_steps" in (config.raw.get("searcher") or {})
    metrics_csv = MetricsCSV(out_dir / "metrics.csv", resume_from_epoch=done or None) \
        if dist.is_main else None
    bar = progress(total=lengths.max_length, initial=controller.batches_trained, desc="train",
                   unit="batch", disable=not dist.is_main)
    last = {}
    for index, point in enumerate(points, start=1):
        if point <= controller.batches_trained:
            continue
        train = controller.train_to(point, on_batch=lambda n, row: bar.update(1))
        last = controller.validate()
        lr = context.optimizers[0].param_groups[0]["lr"] if context.optimizers else float("nan")
        steps = controller.batches_trained / config.batches_per_step()
        log.info("%sbatches %d epoch %.2f lr %e train_loss %f train_top1 %f | validation %s",
                 f"step {steps:g} " if in_steps else "", controller.batches_trained,
                 controller.epoch, lr, train.get("loss", math.nan),
                 train.get("top1_accuracy", math.nan),
                 " ".join(f"{k} {v:.4f}" for k, v in last.items()))
        if metrics_csv is not None:
            metrics_csv.write({"epoch": index, "batches": controller.batches_trained,
                               **({"steps": steps} if in_steps else {}),
                               "epochs": controller.epoch,
                               "lr": lr, **{f"train_{k}": v for k, v in train.items()},
                               **{f"valid_{k}": v for k, v in last.items()}})
        controller.save(checkpoint_dir)
    bar.close()
    if not last:
        last = controller.validate()
    return {"metrics": last, "batches": controller.batches_trained, "epochs": controller.epoch,
            "trial": controller.trial}


# --- searchers on Ray Tune -----------------------------------------------------------------------
def run_search(config: ExperimentConfig, model_dir: Path, out_dir: Path, log: logging.Logger,
               address: Optional[str] = None, scheduler: str = "promotion", seed: int = 0,
               describe: Optional[Callable[[dict], str]] = None) -> dict:
    """Run the config's search on Ray Tune; returns {"trials": rows, "best": row or None}."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from .ray_engine import EXPERIMENT_KEY, make_sampler, make_trainable, start_ray, stop_points
    from .ray_scheduler import PromotionASHAScheduler

    if scheduler not in SCHEDULERS:
        raise ConfigError(f"--scheduler={scheduler}: expected one of {', '.join(SCHEDULERS)}")
    slots = check_slots(config)
    s = config.searcher
    lengths = plan_lengths(config)
    metric = s.metric
    mode = "min" if s.smaller_is_better else "max"
    gpus = bool(slots) and _gpu_count() > 0
    storage = out_dir / "ray"
    name = "search"
    started = time.time()
    start_ray(address, model_dir)
    if s.name == "adaptive_asha":
        plans = bracket_plan(s.mode, len(lengths.rung_lengths), s.max_trials,
                             s.max_concurrent_trials, s.divisor, source=config.path)
        concurrency = sum(p.max_concurrent_trials for p in plans)
        log.info("adaptive_asha (%s, %s): %d bracket(s) %s; rung lengths %s batches; "
                 "max_trials %d; %d trials at once", s.mode, scheduler, len(plans),
                 [p.num_rungs for p in plans], lengths.rung_lengths, s.max_trials, concurrency)
        if scheduler == "promotion":
            sched = PromotionASHAScheduler(
                plans, lengths.rung_lengths, s.divisor, s.smaller_is_better, metric,
                max_concurrent_trials=concurrency,
                on_decision=_DecisionWriter(out_dir, log, started, lengths.rung_lengths),
                state_path=str(out_dir / "asha_state.json"))
        else:
            sched = ASHAScheduler(time_attr="batches", metric=metric, mode=mode,
                                  max_t=lengths.max_length, grace_period=lengths.rung_lengths[0],
                                  reduction_factor=s.divisor, brackets=len(plans))
    else:
        concurrency = s.max_concurrent_trials or 16
        sched = FIFOScheduler()
        log.info("random: %d trials of %d batches, %d at once", s.max_trials, lengths.max_length,
                 concurrency)
    experiment = {
        "model_dir": str(model_dir), "entrypoint": list(config.entrypoint()),
        "data": config.raw.get("data") or {}, "config_path": config.path,
        "stop_points": stop_points(lengths.max_length, lengths.rung_lengths,
                                   lengths.validation_period),
        "max_length": lengths.max_length, "slots": slots, "gpus": gpus, "threads": 1}
    resources = {"cpu": 1, "gpu": slots if gpus else 0}
    trainable = tune.with_resources(make_trainable(), resources)
    path = storage / name
    # The recorder is created before the cleanup below but writes only once trials report.
    recorder = make_recorder(out_dir, log, started, metric)
    run_config = tune.RunConfig(
        storage_path=str(storage), name=name, verbose=0, callbacks=[recorder],
        stop=None if isinstance(sched, PromotionASHAScheduler) else {"batches": lengths.max_length},
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        failure_config=tune.FailureConfig(max_failures=int(config.raw.get("max_restarts", 5))))
    if tune.Tuner.can_restore(str(path)):
        log.info("resuming the search in %s", path)
        tuner = tune.Tuner.restore(str(path), trainable=trainable, resume_unfinished=True,
                                   resume_errored=True)
    else:
        # A new search: records of an earlier one in this folder would mix with its own.
        for stale in (search_records.VALIDATIONS, search_records.DECISIONS, "asha_state.json",
                      "trials.csv"):
            (out_dir / stale).unlink(missing_ok=True)
        tuner = tune.Tuner(
            trainable, param_space={EXPERIMENT_KEY: experiment},
            tune_config=tune.TuneConfig(
                search_alg=make_sampler(config, seed), scheduler=sched, num_samples=s.max_trials,
                max_concurrent_trials=None if s.name == "adaptive_asha" else concurrency,
                reuse_actors=False),
            run_config=run_config)
    grid = tuner.fit()
    ray.shutdown()
    return collect_trials(grid, config, out_dir, lengths, describe)


def _gpu_count() -> int:
    try:
        import torch
        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - no CUDA runtime at all
        return 0


def make_recorder(out_dir: Path, log: logging.Logger, started: float, metric: str):
    """A Ray Tune callback (driver side): one validations.csv row and log line per result."""
    from ray.tune import Callback

    class ValidationRecorder(Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            elapsed = time.time() - started
            value = result.get(metric, math.nan)
            search_records.append_validation(out_dir, elapsed, trial.trial_id,
                                             int(result["batches"]), float(result["epochs"]),
                                             value)
            log.info("[%7.1fs] trial %s batches %d epoch %.2f train_loss %.4f validation %s "
                     "%.4f", elapsed, trial.trial_id, result["batches"], result["epochs"],
                     result.get("train_loss", math.nan), metric, value)

        def on_trial_error(self, iteration, trials, trial, **info):
            log.error("trial %s failed; its error.txt is in %s", trial.trial_id,
                      getattr(trial, "local_path", None) or "its Ray trial folder")

    return ValidationRecorder()


class _DecisionWriter:
    """Called by the ASHA scheduler after each rung report: a CSV row and a log line."""

    def __init__(self, out_dir, log, started, lengths):
        self.out_dir, self.log_name, self.started, self.lengths = str(out_dir), log.name, started, lengths

    def __call__(self, decision, _elapsed):
        elapsed = time.time() - self.started
        search_records.append_decision(self.out_dir, elapsed, decision)
        promoted = ", ".join(decision.promoted) or "none"
        logging.getLogger(self.log_name).info(
            "[%7.1fs] rung %d (%d batches): trial %s reports %.4f; promoted: %s", elapsed,
            decision.rung, self.lengths[-1] if decision.rung >= len(self.lengths) else
            self.lengths[decision.rung], decision.trial_id, decision.metric, promoted)


def collect_trials(grid, config: ExperimentConfig, out_dir: Path, lengths: LengthPlan,
                   describe: Optional[Callable[[dict], str]]) -> dict:
    """trials.csv (one row per trial) and the best trial, from Ray's results and our records."""
    import csv

    decisions = search_records.read_rows(out_dir / search_records.DECISIONS)
    validations = search_records.read_rows(out_dir / search_records.VALIDATIONS)
    smaller = config.searcher.smaller_is_better
    rung_metric: dict = {}
    for d in decisions:
        rung_metric.setdefault(d["trial_id"], {})[int(d["rung"])] = float(d["metric"])
    if not decisions:
        # Ray's ASHAScheduler keeps no record of its own: a trial's metric at a rung is its
        # validation at that rung's length.
        for v in validations:
            if int(v["batches"]) in lengths.rung_lengths:
                rung_metric.setdefault(v["trial_id"], {})[
                    lengths.rung_lengths.index(int(v["batches"]))] = float(v["metric"])
    best_validation: dict = {}
    for v in validations:
        value = float(v["metric"])
        old = best_validation.get(v["trial_id"])
        if not math.isnan(value) and (old is None or (value < old if smaller else value > old)):
            best_validation[v["trial_id"]] = value
    num_rungs = max(len(lengths.rung_lengths), 1)
    rows = []
    for result in grid:
        metrics = result.metrics or {}
        trial_id = metrics.get("trial_id") or Path(result.path).name
        hparams = {k: v for k, v in result.config.items() if not k.startswith("__")}
        per_rung = rung_metric.get(trial_id, {})
        row = {"trial_id": trial_id,
               "status": "error" if result.error else "done",
               "rungs_reached": len(per_rung),
               "batches": metrics.get("batches", 0),
               "final_metric": metrics.get(config.searcher.metric, math.nan),
               "best_metric": best_validation.get(trial_id, math.nan),
               "wall_time_s": round(float(metrics.get("time_total_s", 0.0)), 2),
               "seed": result.config.get("__trial_seed")}
        for k in range(num_rungs):
            row[f"metric_rung{k}"] = per_rung.get(k, "")
        if describe is not None:
            try:
                row["genotype"] = describe(hparams)
            except Exception as err:  # noqa: BLE001 - an unreadable trial still gets a row
                row["genotype"] = f"<{err}>"
        row.update(hparams)
        rows.append(row)
    rows.sort(key=lambda r: r["trial_id"])
    if rows:
        columns = list(rows[0])
        with open(out_dir / "trials.csv.tmp", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(out_dir / "trials.csv.tmp", out_dir / "trials.csv")
    best = _best_trial(rows, smaller)
    return {"trials": rows, "best": best}


def _best_trial(rows: list, smaller_is_better: bool):
    """The trial that went furthest, best metric at its last rung (ASHA's winner); for a search
    without rungs, the best final metric."""
    candidates = [r for r in rows if not math.isnan(float(r["final_metric"]))]
    if not candidates:
        return None
    sign = 1 if smaller_is_better else -1
    return min(candidates, key=lambda r: (-r["batches"], sign * float(r["final_metric"])))

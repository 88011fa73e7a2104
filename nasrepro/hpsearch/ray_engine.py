"""Runs a Determined experiment's trials on Ray Tune: a local Ray instance by default, a Ray
cluster when an address is given (the role Determined's master and agents had).

Each trial is a Ray actor (`DeterminedTrainable`) that drives the trial class through
TrialController: one `step` trains to the next stop point (a rung length, a validation period or
max_length), validates and reports. Ray checkpoints a trial when it is paused and restores it
on resume. Hyperparameters are sampled the way Determined did (independent, uniform), seeded by
the experiment seed, by `HParamSampler`."""
from __future__ import annotations

import os
import pickle
import random
import socket
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

import torch

from ..errors import ConfigError
from ..paper_modules import load_paper_module
from .det_config import ExperimentConfig, sample_hparams

EXPERIMENT_KEY = "__experiment"
SEED_KEY = "__trial_seed"


def check_ray_address(address: str, source: str = "--address", timeout: float = 5.0) -> None:
    """Fail fast, with a message, when nothing listens at a Ray head's address (ray.init would
    retry for minutes). `auto` and `local` are left to Ray."""
    if address in ("auto", "local"):
        return
    parsed = urlparse(address if "://" in address else f"ray://{address}")
    if not parsed.hostname or not parsed.port:
        raise ConfigError(f"{source}={address}: expected host:port of a Ray head (e.g. "
                          "10.0.0.1:6379 or ray://10.0.0.1:10001), `auto` or `local`")
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout):
            pass
    except OSError as err:
        raise ConfigError(f"{source}={address}: no Ray head reachable there ({err}). Start one "
                          "with `ray start --head` on that machine, or leave --address and "
                          "RAY_ADDRESS unset to run on a local Ray instance") from None


def start_ray(address: Optional[str], model_dir: Path, num_cpus: Optional[int] = None) -> None:
    import ray
    if address:
        check_ray_address(address, "--address" if os.environ.get("RAY_ADDRESS") != address
                          else "RAY_ADDRESS")
        # The trial code travels to the cluster's workers with the job, as Determined shipped
        # the model directory as the experiment's context.
        ray.init(address=address, log_to_driver=False, runtime_env={
            "working_dir": str(model_dir),
            "py_modules": [str(Path(__file__).resolve().parents[1])],
            "excludes": ["runs", "exp", "*.pt", "__pycache__"]})
    else:
        os.environ.pop("RAY_ADDRESS", None)
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
                 log_to_driver=False, configure_logging=True, logging_level="ERROR")


def load_entrypoint(model_dir: Path, entrypoint: tuple[str, str]):
    """The trial class `module:Class` of the experiment's model directory (a paper folder)."""
    module_name, class_name = entrypoint
    # On a cluster's worker the folder arrives as the job's working directory (start_ray).
    folder = model_dir if Path(model_dir).is_dir() else Path.cwd()
    module = load_paper_module(folder, module_name)
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise ConfigError(f"entrypoint {module_name}:{class_name}: {module.__file__} has no "
                          f"class {class_name}") from None


def stop_points(max_length: int, rung_lengths: list[int], validation_period: Optional[int]) -> list[int]:
    """Where a trial stops to validate and report: every rung length, every validation period
    and max_length."""
    points = set(int(x) for x in rung_lengths) | {int(max_length)}
    if validation_period:
        points |= set(range(int(validation_period), int(max_length), int(validation_period)))
    return sorted(p for p in points if 0 < p <= max_length)


def make_trainable():
    """The Ray Tune Trainable class (built lazily so importing this module does not import Ray)."""
    from ray import tune

    from .trial_context import TrialContext
    from .trial_controller import TrialController, has_checkpoint

    class DeterminedTrainable(tune.Trainable):
        def setup(self, config: dict):
            experiment = config[EXPERIMENT_KEY]
            threads = max(1, int(experiment.get("threads", 1)))
            torch.set_num_threads(threads)
            self.stop_points = list(experiment["stop_points"])
            self.max_length = int(experiment["max_length"])
            trial_cls = load_entrypoint(Path(experiment["model_dir"]), tuple(experiment["entrypoint"]))
            hparams = {k: v for k, v in config.items() if not k.startswith("__")}
            seed = int(config.get(SEED_KEY, 0))
            random.seed(seed)
            torch.manual_seed(seed)
            device = torch.device("cuda" if torch.cuda.is_available() and experiment.get("gpus") else "cpu")
            context = TrialContext(hparams, experiment["data"], experiment.get("slots", 1), device,
                                   seed, source=f"{experiment['config_path']} (trial {self.trial_id})")
            self.controller = TrialController(trial_cls, context)

        def step(self) -> dict:
            done = self.controller.batches_trained
            target = next((p for p in self.stop_points if p > done), self.max_length)
            train = self.controller.train_to(target)
            metrics = self.controller.validate()
            result = dict(metrics)
            result.update({f"train_{k}": v for k, v in train.items()})
            result.update(batches=self.controller.batches_trained,
                          epochs=self.controller.epoch,
                          lr=self.controller.context.optimizers[0].param_groups[0]["lr"]
                          if self.controller.context.optimizers else None)
            # No `done` flag: Ray would then skip the scheduler, and the promotion scheduler
            # must see the last rung's report; other schedulers stop at max_length by a stopper.
            return result

        def save_checkpoint(self, checkpoint_dir: str):
            self.controller.save(checkpoint_dir)

        def load_checkpoint(self, checkpoint_dir: str):
            if has_checkpoint(checkpoint_dir):
                self.controller.load(checkpoint_dir)

    return DeterminedTrainable


def make_sampler(config: ExperimentConfig, seed: int):
    """A Ray Tune Searcher that samples every hyperparameter independently and uniformly, as
    Determined's random sampling did, with one trial seed per trial."""
    from ray.tune.search import Searcher

    class HParamSampler(Searcher):
        def __init__(self):
            super().__init__(metric=config.searcher.metric,
                             mode="min" if config.searcher.smaller_is_better else "max")
            self.rng = random.Random(seed)

        def suggest(self, trial_id: str) -> dict:
            hparams = sample_hparams(config, self.rng)
            hparams[SEED_KEY] = self.rng.randrange(2 ** 31)
            return hparams

        def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
            pass

        # Ray saves the searcher with the experiment state, so a restored search samples on
        # from where it stopped.
        def save(self, checkpoint_path: str) -> None:
            with open(checkpoint_path, "wb") as f:
                pickle.dump({"rng": self.rng.getstate()}, f)

        def restore(self, checkpoint_path: str) -> None:
            with open(checkpoint_path, "rb") as f:
                self.rng.setstate(pickle.load(f)["rng"])

    return HParamSampler()

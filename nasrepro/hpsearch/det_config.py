"""Determined AI experiment configs (`const.yaml`, `adaptive.yaml`) read for the Ray Tune port.

Users keep the darts_cifar10_pytorch example's YAML in Determined's own format. This module loads
it, applies "dotted.key=value" overrides, checks the parts the port uses (searcher, resources,
hyperparameters, entrypoint, training lengths) and samples hyperparameters the way Determined's
random and ASHA searchers do. Keys the port does not use are allowed when Determined knows them,
and kept in `raw` so the config can be written back out unchanged.

Hyperparameter forms: a plain value (scalar, list or mapping without `type`) is a constant;
otherwise `{type: const, val}`, `{type: categorical, vals}`, `{type: int, minval, maxval}`
(inclusive), `{type: double, minval, maxval}`, `{type: log, minval, maxval, base}` (the value is
base ** uniform(minval, maxval))."""
import copy
import math
import random
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import ConfigError, check_value

SEARCHERS = ("single", "random", "adaptive_asha")
HP_TYPES = ("const", "categorical", "int", "double", "log")
LENGTH_UNITS = ("batches", "records", "epochs")

TOP_LEVEL_KEYS = (
    "description", "name", "data", "min_validation_period", "min_checkpoint_period",
    "hyperparameters", "resources", "scheduling_unit", "bind_mounts", "searcher", "entrypoint",
    "records_per_epoch", "checkpoint_storage", "environment", "max_restarts", "reproducibility",
    "optimizations", "labels", "workspace", "project", "profiling", "checkpoint_policy",
    "perform_initial_validation", "batches_per_step",
)
REQUIRED_TOP_LEVEL_KEYS = ("hyperparameters", "searcher", "entrypoint")

# source_trial_id, source_checkpoint_uuid and stop_once are accepted (Determined knows them) but the
# port does not act on them.
SEARCHER_KEYS = (
    "name", "metric", "smaller_is_better", "max_length", "max_trials", "mode", "divisor",
    "max_rungs", "max_concurrent_trials", "source_trial_id", "source_checkpoint_uuid", "stop_once",
    "max_steps",
)

# Determined up to 0.12 counted lengths in steps of `batches_per_step` batches (100 unless the
# config says otherwise): `searcher.max_steps: 300` and `min_validation_period: 10` in the GAEA
# example's configs (determined-ai/determined 208ee11c52).
DEFAULT_BATCHES_PER_STEP = 100

_SEARCHER_DEFAULTED = ("max_trials", "mode", "divisor", "max_rungs", "max_concurrent_trials")

# Fields each hyperparameter type needs; `count` is optional on ranges (only grid search reads it).
_HP_FIELDS = {
    "const": ("val",),
    "categorical": ("vals",),
    "int": ("minval", "maxval"),
    "double": ("minval", "maxval"),
    "log": ("minval", "maxval", "base"),
}
_HP_OPTIONAL_FIELDS = {"int": ("count",), "double": ("count",), "log": ("count",)}

# Sampled log values are base ** u with u inside the bounds; pow may round past the end value.
_LOG_TOLERANCE = 1e-12


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same_value(a, b) -> bool:
    """Equal, without Python's True == 1 letting a bool stand in for an int (or the reverse)."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


@dataclass
class SearcherConfig:
    """The `searcher` section, with Determined's defaults filled in."""
    name: str
    metric: str
    smaller_is_better: bool
    max_length: dict  # one unit and a count, e.g. {"batches": 156200}
    max_trials: int = 1
    mode: str = "standard"  # checked by the ASHA code, which knows the modes
    divisor: int = 4
    max_rungs: int = 5
    max_concurrent_trials: int = 0  # 0: the searcher decides


@dataclass
class ExperimentConfig:
    """A loaded, checked experiment config."""
    path: str  # the YAML it came from, for messages
    raw: dict  # the full mapping after overrides (what gets written back out)
    searcher: SearcherConfig
    hyperparameters: dict  # name -> spec as written

    def hparam_spec(self, name) -> dict:
        """The spec of hyperparameter `name` as a mapping with a `type` key; a plain constant
        becomes {"type": "const", "val": value}."""
        if name not in self.hyperparameters:
            raise ConfigError(f"{self.path}: hyperparameters.{name}: no such hyperparameter")
        spec = self.hyperparameters[name]
        return _normalise_hparam(spec, self.path, f"hyperparameters.{name}")

    def constant_hparams(self) -> dict:
        """{name: value} of every constant hyperparameter."""
        specs = {name: self.hparam_spec(name) for name in self.hyperparameters}
        return {name: spec["val"] for name, spec in specs.items() if spec["type"] == "const"}

    def slots_per_trial(self) -> int:
        """resources.slots_per_trial (GPUs per trial); 1 when not given."""
        return (self.raw.get("resources") or {}).get("slots_per_trial", 1)

    def batches_per_step(self) -> int:
        """batches_per_step of the old step-based configs; 100 when not given."""
        return self.raw.get("batches_per_step", DEFAULT_BATCHES_PER_STEP)

    def min_validation_period(self) -> dict | None:
        """The min_validation_period length (e.g. {"batches": 500}), or None. A bare number is
        the old form, in steps: 10 -> {"batches": 10 * batches_per_step}."""
        period = self.raw.get("min_validation_period")
        if _is_int(period):
            return {"batches": period * self.batches_per_step()}
        return period

    def records_per_epoch(self) -> int | None:
        """records_per_epoch, needed only when a length is given in epochs; None when not given."""
        return self.raw.get("records_per_epoch")

    def entrypoint(self) -> tuple[str, str]:
        """("model_def", "DARTSCNNTrial") from entrypoint "model_def:DARTSCNNTrial"."""
        value = self.raw.get("entrypoint")
        module, colon, name = value.partition(":") if isinstance(value, str) else ("", "", "")
        module_ok = bool(module) and all(part.isidentifier() for part in module.split("."))
        check_value(bool(colon) and module_ok and name.isidentifier(), f"{self.path}:",
                    "entrypoint", value, "'module:ClassName', e.g. 'model_def:DARTSCNNTrial'")
        return module, name


def load_experiment_config(path, overrides=()) -> ExperimentConfig:
    """Read and check a Determined experiment YAML. `overrides` are "dotted.key=value" strings
    applied before the checks, so an override can also repair a config."""
    source = str(path)
    if not Path(path).is_file():
        raise ConfigError(f"{source}: file not found")
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, "
                          f"got {type(raw).__name__}")
    raw = apply_overrides(raw, overrides, source)
    _check_top_level(raw, source)
    hyperparameters = raw["hyperparameters"]
    check_value(isinstance(hyperparameters, dict), f"{source}:", "hyperparameters",
                hyperparameters, "a mapping of hyperparameter names to values or specs")
    for name, spec in hyperparameters.items():
        _normalise_hparam(spec, source, f"hyperparameters.{name}")
    config = ExperimentConfig(path=source, raw=raw, searcher=_parse_searcher(raw, source),
                              hyperparameters=hyperparameters)
    _check_global_batch_size(config)
    _check_resources(raw, source)
    config.entrypoint()
    _check_lengths(config)
    return config


def overrides_from_flags(flags) -> list:
    """Determined's --config overrides as command-line flags: ["--searcher.max_trials=64",
    "--min_validation_period=2"] -> ["searcher.max_trials=64", "min_validation_period=2"].
    A flag that is neither dotted nor a top-level config key is an error naming it."""
    overrides = []
    for item in flags:
        key, eq, value = item[2:].partition("=") if item.startswith("--") else ("", "", "")
        if not eq or ("." not in key and key not in TOP_LEVEL_KEYS):
            raise ConfigError(f"unrecognized argument {item!r}: config overrides are written "
                              "--section.key=value or --top_level_key=value (e.g. "
                              "--searcher.max_trials=64)")
        overrides.append(f"{key}={value}")
    return overrides


def parse_with_overrides(parser, argv):
    """parser's arguments, plus `.overrides`: the remaining flags as config overrides (an
    unknown flag is the parser's usage error)."""
    args, rest = parser.parse_known_args(argv)
    try:
        args.overrides = overrides_from_flags(rest)
    except ConfigError as err:
        parser.error(str(err))
    return args


def find_config(name, folder) -> Path:
    """A config named on the command line: as given, else in the paper folder `folder` (so
    `python experiment.py const.yaml` works from anywhere)."""
    path = Path(name)
    if not path.is_absolute() and not path.exists() and (Path(folder) / path).exists():
        return Path(folder) / path
    return path


def apply_overrides(raw: dict, overrides, source: str) -> dict:
    """A copy of `raw` with each "dotted.key=value" set; the value is read as YAML ("5" -> 5,
    "true" -> True, "[0,1]" -> a list). Missing intermediate mappings are created."""
    result = copy.deepcopy(raw)
    for text in overrides:
        key, eq, value_text = str(text).partition("=")
        parts = key.strip().split(".")
        if not eq or not all(parts):
            raise ConfigError(f"{source}: override {text!r}: expected 'dotted.key=value'")
        try:
            value = yaml.safe_load(value_text)
        except yaml.YAMLError as err:
            raise ConfigError(f"{source}: override {text!r}: value is not valid YAML: {err}") \
                from None
        node = result
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[:depth + 1])
                raise ConfigError(f"{source}: override {text!r}: {where} is {child!r}, "
                                  f"expected a mapping to set {parts[depth + 1]!r} in")
            node = child
        node[parts[-1]] = value
    return result


def sample_hparams(config: ExperimentConfig, rng: random.Random) -> dict:
    """One value for every hyperparameter, drawn in file order (so a seeded `rng` repeats):
    constants as they are, categorical uniformly over vals, int uniformly in [minval, maxval],
    double uniformly, log as base ** uniform(minval, maxval)."""
    values = {}
    for name in config.hyperparameters:
        spec = config.hparam_spec(name)
        kind = spec["type"]
        if kind == "const":
            values[name] = copy.deepcopy(spec["val"])
        elif kind == "categorical":
            values[name] = copy.deepcopy(rng.choice(spec["vals"]))
        elif kind == "int":
            values[name] = rng.randint(spec["minval"], spec["maxval"])
        elif kind == "double":
            values[name] = rng.uniform(spec["minval"], spec["maxval"])
        else:
            values[name] = spec["base"] ** rng.uniform(spec["minval"], spec["maxval"])
    return values


def check_hparams(config: ExperimentConfig, values: dict, source: str) -> None:
    """Raise ConfigError unless `values` has exactly the config's hyperparameters and each value
    is one its spec allows. `source` names where the values came from (a trial, a file)."""
    missing = [name for name in config.hyperparameters if name not in values]
    if missing:
        raise ConfigError(f"{source}: hyperparameters missing: {', '.join(missing)} "
                          f"(defined in {config.path})")
    unknown = [name for name in values if name not in config.hyperparameters]
    if unknown:
        raise ConfigError(f"{source}: unknown hyperparameters: {', '.join(map(str, unknown))} "
                          f"(not in {config.path})")
    for name, value in values.items():
        spec = config.hparam_spec(name)
        ok, expected = _value_allowed(spec, value)
        check_value(ok, f"{source}:", f"hyperparameters.{name}", value, expected)


def length_in_batches(length: dict, where: str, global_batch_size: int,
                      records_per_epoch: int | None) -> int:
    """A Determined training length in batches. {"batches": n} is n; {"records": n} is
    n // global_batch_size (whole batches only: a last partial batch is not trained);
    {"epochs": n} is n * ceil(records_per_epoch / global_batch_size) (each epoch ends with a
    partial batch, as a data loader without drop_last gives). `where` names the length in
    messages, e.g. "adaptive.yaml: searcher.max_length"."""
    unit, count = _length_unit(length, where)
    if unit == "batches":
        return count
    if unit == "records":
        return count // global_batch_size
    if records_per_epoch is None:
        raise ConfigError(f"{where}={length!r}: a length in epochs needs records_per_epoch "
                          f"(set it at the top level of the config)")
    return count * math.ceil(records_per_epoch / global_batch_size)


def _length_unit(length, where: str) -> tuple[str, int]:
    """(unit, count) of a length mapping such as {"batches": 500}."""
    if isinstance(length, dict) and len(length) == 1:
        unit, count = next(iter(length.items()))
        if unit in LENGTH_UNITS and _is_int(count) and count >= 1:
            return unit, count
    raise ConfigError(f"{where}={length!r}: expected one of {{batches: n}}, {{records: n}}, "
                      f"{{epochs: n}} with n a positive integer")


def _check_top_level(raw: dict, source: str) -> None:
    unknown = [key for key in raw if key not in TOP_LEVEL_KEYS]
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key {unknown[0]!r}; "
                          f"known keys: {', '.join(TOP_LEVEL_KEYS)}")
    for key in REQUIRED_TOP_LEVEL_KEYS:
        if key not in raw:
            raise ConfigError(f"{source}: {key}: required key missing")


def _normalise_hparam(spec, source: str, key: str) -> dict:
    """Check the spec at `key` (e.g. "hyperparameters.lr") and return it as {"type": ..., ...}."""
    if not (isinstance(spec, dict) and "type" in spec):
        return {"type": "const", "val": spec}
    owner = f"{source}:"
    kind = spec["type"]
    check_value(kind in HP_TYPES, owner, f"{key}.type", kind, f"one of {', '.join(HP_TYPES)}")
    needed = _HP_FIELDS[kind]
    allowed = ("type",) + needed + _HP_OPTIONAL_FIELDS.get(kind, ())
    for field in needed:
        if field not in spec:
            raise ConfigError(f"{source}: {key}.{field}: missing; a {kind} hyperparameter "
                              f"needs {', '.join(needed)}")
    for field in spec:
        if field not in allowed:
            raise ConfigError(f"{source}: {key}.{field}: unknown field for a {kind} "
                              f"hyperparameter; allowed: {', '.join(allowed)}")
    if kind == "categorical":
        check_value(isinstance(spec["vals"], list) and len(spec["vals"]) > 0, owner,
                    f"{key}.vals", spec["vals"], "a non-empty list of choices")
    elif kind != "const":
        number_ok = _is_int if kind == "int" else _is_number
        what = "an integer" if kind == "int" else "a number"
        for field in ("minval", "maxval"):
            check_value(number_ok(spec[field]), owner, f"{key}.{field}", spec[field], what)
        check_value(spec["minval"] < spec["maxval"], owner, f"{key}.minval", spec["minval"],
                    f"less than maxval={spec['maxval']!r}")
        if kind == "log":
            check_value(_is_number(spec["base"]) and spec["base"] > 0, owner, f"{key}.base",
                        spec["base"], "a number > 0")
    return dict(spec)


def _value_allowed(spec: dict, value) -> tuple[bool, str]:
    """(whether `value` fits `spec`, what the spec expects, for the message)."""
    kind = spec["type"]
    if kind == "const":
        return _same_value(value, spec["val"]), f"the constant {spec['val']!r}"
    if kind == "categorical":
        return (any(_same_value(value, choice) for choice in spec["vals"]),
                f"one of the choices {spec['vals']!r}")
    low, high = spec["minval"], spec["maxval"]
    if kind == "int":
        return _is_int(value) and low <= value <= high, f"an integer in [{low}, {high}]"
    if kind == "double":
        return _is_number(value) and low <= value <= high, f"a number in [{low}, {high}]"
    ends = sorted((spec["base"] ** low, spec["base"] ** high))
    inside = (_is_number(value)
              and ends[0] * (1 - _LOG_TOLERANCE) <= value <= ends[1] * (1 + _LOG_TOLERANCE))
    return inside, f"a number in [{ends[0]!r}, {ends[1]!r}] ({spec['base']} ** [{low}, {high}])"


def _parse_searcher(raw: dict, source: str) -> SearcherConfig:
    section = raw["searcher"]
    owner = f"{source}:"
    check_value(isinstance(section, dict), owner, "searcher", section, "a mapping")
    unknown = [key for key in section if key not in SEARCHER_KEYS]
    if unknown:
        raise ConfigError(f"{source}: searcher.{unknown[0]}: unknown key; "
                          f"known keys: {', '.join(SEARCHER_KEYS)}")
    name = section.get("name")
    check_value(name in SEARCHERS, owner, "searcher.name", name,
                f"one of {', '.join(SEARCHERS)} (Determined's other searchers (grid, pbt, ...) "
                f"are not ported)")
    batches_per_step = raw.get("batches_per_step", DEFAULT_BATCHES_PER_STEP)
    check_value(_is_int(batches_per_step) and batches_per_step >= 1, owner, "batches_per_step",
                batches_per_step, "an integer >= 1")
    if "max_steps" in section:
        # The old form: a length in steps (see DEFAULT_BATCHES_PER_STEP).
        steps = section["max_steps"]
        check_value("max_length" not in section, owner, "searcher.max_steps", steps,
                    "no max_length beside it (max_steps is the old name of the length)")
        check_value(_is_int(steps) and steps >= 1, owner, "searcher.max_steps", steps,
                    "an integer >= 1 (steps of batches_per_step batches)")
        section = {**section, "max_length": {"batches": steps * batches_per_step}}
    required = ("metric", "max_length") + (("max_trials",) if name != "single" else ())
    for key in required:
        if key not in section:
            raise ConfigError(f"{source}: searcher.{key}: required key missing "
                              f"(the {name} searcher needs {', '.join(required)})")
    metric = section["metric"]
    check_value(isinstance(metric, str) and metric != "", owner, "searcher.metric", metric,
                "the name of a validation metric")
    _length_unit(section["max_length"], f"{source}: searcher.max_length")
    # Keys left out take SearcherConfig's defaults, which are Determined's.
    given = {key: section[key] for key in _SEARCHER_DEFAULTED if key in section}
    config = SearcherConfig(name=name, metric=metric,
                            smaller_is_better=section.get("smaller_is_better", True),
                            max_length=section["max_length"], **given)
    check_value(isinstance(config.smaller_is_better, bool), owner, "searcher.smaller_is_better",
                config.smaller_is_better, "true or false")
    check_value(_is_int(config.max_trials) and config.max_trials >= 1, owner,
                "searcher.max_trials", config.max_trials, "an integer >= 1")
    check_value(name != "single" or config.max_trials == 1, owner, "searcher.max_trials",
                config.max_trials, "1 (the single searcher runs one trial)")
    check_value(isinstance(config.mode, str), owner, "searcher.mode", config.mode, "a string")
    check_value(_is_int(config.divisor) and config.divisor >= 2, owner, "searcher.divisor",
                config.divisor, "an integer >= 2")
    check_value(_is_int(config.max_rungs) and config.max_rungs >= 1, owner, "searcher.max_rungs",
                config.max_rungs, "an integer >= 1")
    check_value(_is_int(config.max_concurrent_trials) and config.max_concurrent_trials >= 0,
                owner, "searcher.max_concurrent_trials", config.max_concurrent_trials,
                "an integer >= 0 (0: the searcher decides)")
    return config


def _check_global_batch_size(config: ExperimentConfig) -> None:
    if "global_batch_size" not in config.hyperparameters:
        raise ConfigError(f"{config.path}: hyperparameters.global_batch_size: required "
                          f"hyperparameter missing (Determined splits it over the slots)")
    spec = config.hparam_spec("global_batch_size")
    value = spec["val"] if spec["type"] == "const" else config.hyperparameters["global_batch_size"]
    check_value(spec["type"] == "const" and _is_int(value) and value >= 1, f"{config.path}:",
                "hyperparameters.global_batch_size", value, "a positive integer constant")


def _check_resources(raw: dict, source: str) -> None:
    resources = raw.get("resources")
    if resources is None:
        return
    check_value(isinstance(resources, dict), f"{source}:", "resources", resources, "a mapping")
    if "slots_per_trial" in resources:
        slots = resources["slots_per_trial"]
        check_value(_is_int(slots) and slots >= 1, f"{source}:", "resources.slots_per_trial",
                    slots, "an integer >= 1")


def _check_lengths(config: ExperimentConfig) -> None:
    """Lengths have a known form, and one in epochs has records_per_epoch to convert it with."""
    records = config.records_per_epoch()
    if records is not None:
        check_value(_is_int(records) and records >= 1, f"{config.path}:", "records_per_epoch",
                    records, "an integer >= 1")
    lengths = {"searcher.max_length": config.searcher.max_length}
    if config.min_validation_period() is not None:
        lengths["min_validation_period"] = config.min_validation_period()
    for key, length in lengths.items():
        unit, _ = _length_unit(length, f"{config.path}: {key}")
        if unit == "epochs" and records is None:
            raise ConfigError(f"{config.path}: {key}={length!r}: a length in epochs needs "
                              f"records_per_epoch (set it at the top level of the config)")

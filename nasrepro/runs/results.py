"""results.json: what every script writes when it ends, and what `make verify-results` reads.

One schema for all systems. Metric names are fixed (METRICS) so a claim's metric can be
looked up in any run's results without per-system mapping."""
import json
import numbers
from pathlib import Path

from ..atomic import atomic_write_text
from ..errors import ResultsError
from ..systems import PROFILES, SYSTEMS

SCHEMA_VERSION = 1

# Final metrics, by name and unit. Errors and accuracies are percentages (0-100).
METRICS = {
    "test_error_pct": "test error, percent",
    "valid_error_pct": "validation error, percent",
    "top1_error_pct": "top-1 error, percent",
    "top5_error_pct": "top-5 error, percent",
    "accuracy_pct": "top-1 accuracy, percent",
    "top5_accuracy_pct": "top-5 accuracy, percent",
    "test_ppl": "test perplexity",
    "valid_ppl": "validation perplexity",
    "params_m": "parameters, millions",
    "mult_adds_m": "multiply-adds, millions",
    "search_gpu_days": "search cost, GPU-days",
    "pairwise_accuracy": "predictor pairwise accuracy, 0-1",
    "hamming_distance": "mean decoder Hamming distance",
}

REQUIRED = {
    "schema_version": int,
    "system": str,
    "script": str,
    "profile": str,
    "dataset": dict,
    "metrics": dict,
    "config": dict,
    "wall_time_s": numbers.Real,
    "device": str,
    "git_commit": str,
}
OPTIONAL = {
    "job": str,
    "arch": (str, list, dict, type(None)),
    "created": str,
    "run_dir": str,
    "notes": str,
}


def validate_results(record: dict, where: str = "results") -> dict:
    """Check `record` against the schema; raise ResultsError naming `where` and the field."""
    if not isinstance(record, dict):
        raise ResultsError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for key, kind in REQUIRED.items():
        if key not in record:
            raise ResultsError(f"{where}: missing required field '{key}'")
        value = record[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ResultsError(f"{where}: field '{key}' should be {_kind_name(kind)}, "
                               f"got {type(value).__name__} ({value!r})")
    for key, kind in OPTIONAL.items():
        if key in record and not isinstance(record[key], kind):
            raise ResultsError(f"{where}: field '{key}' should be {_kind_name(kind)}, "
                               f"got {type(record[key]).__name__}")
    unknown = set(record) - set(REQUIRED) - set(OPTIONAL)
    if unknown:
        raise ResultsError(f"{where}: unknown field(s) {sorted(unknown)}; "
                           f"known: {sorted(set(REQUIRED) | set(OPTIONAL))}")
    if record["schema_version"] != SCHEMA_VERSION:
        raise ResultsError(f"{where}: schema_version {record['schema_version']} is not "
                           f"{SCHEMA_VERSION}")
    if record["system"] not in SYSTEMS:
        raise ResultsError(f"{where}: system '{record['system']}' is not one of {SYSTEMS}")
    if record["profile"] not in PROFILES:
        raise ResultsError(f"{where}: profile '{record['profile']}' is not one of {PROFILES}")
    dataset = record["dataset"]
    for key in ("name", "fingerprint"):
        if not isinstance(dataset.get(key), str) or not dataset.get(key):
            raise ResultsError(f"{where}: dataset.{key} should be a non-empty string")
    for name, value in record["metrics"].items():
        if name not in METRICS:
            raise ResultsError(f"{where}: unknown metric '{name}'; known metrics: "
                               f"{sorted(METRICS)}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ResultsError(f"{where}: metric '{name}' should be a number, got {value!r}")
    return record


def write_results(path, record: dict) -> Path:
    """Validate and write `record` atomically (temporary file, then rename)."""
    path = Path(path)
    if path.is_dir() or path.suffix != ".json":
        path = path / "results.json"
    record = dict(record)
    record.setdefault("schema_version", SCHEMA_VERSION)
    validate_results(record, where=str(path))
    # Serialize first: a value JSON cannot hold must fail before any file is touched.
    try:
        text = json.dumps(record, indent=2, sort_keys=True, default=_json_default) + "\n"
    except (TypeError, ValueError, RuntimeError) as err:
        raise ResultsError(f"{path}: record cannot be stored as JSON ({err})") from None
    atomic_write_text(path, text)
    return path


def read_results(path) -> dict:
    """Load and validate one results.json."""
    path = Path(path)
    try:
        with open(path) as f:
            record = json.load(f)
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such results file") from None
    except json.JSONDecodeError as err:
        raise ResultsError(f"{path}: not valid JSON ({err})") from None
    return validate_results(record, where=str(path))


def _kind_name(kind) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return "a number" if kind is numbers.Real else kind.__name__


def _json_default(value):
    # numpy/torch scalars and arrays, and paths, end up in configs; store them as plain JSON.
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in results.json")

"""The claims registry: every number the papers and READMEs report (reproduce/claims.yaml).

claims.yaml is maintained by hand. Each record names what was reported, where, how sure we are
of the source, how close a measurement must come (the tolerance) and which `make` job or static
check produces the measurement. `load_claims` validates every record before anything uses it."""
import numbers
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from nasrepro.errors import ResultsError
from nasrepro.runs.results import METRICS
from nasrepro.systems import PAPER_SYSTEMS, PROFILES

CLAIMS_FILE = Path(__file__).resolve().parent / "claims.yaml"

CLAIM_SYSTEMS = PAPER_SYSTEMS + ("context",)
SOURCE_STATUSES = ("verified", "verified-2nd", "unverified")
KINDS = ("static", "run")
STATIC_PREFIX = "static-"

# Run-claim tolerances, in the metric's unit (README of claims.yaml: "Tolerances").
PERCENT_TOLERANCE_CIFAR = 0.3
PERCENT_TOLERANCE_IMAGENET = 0.5
PERPLEXITY_TOLERANCE = 1.0
SEARCH_COST_FRACTION = 0.5
_PERCENT_METRICS = ("test_error_pct", "valid_error_pct", "top1_error_pct", "top5_error_pct",
                    "accuracy_pct", "top5_accuracy_pct")
_PERPLEXITY_METRICS = ("test_ppl", "valid_ppl")
_COUNT_METRICS = ("params_m", "mult_adds_m")

_REQUIRED = ("id", "system", "dataset", "setting", "metric", "value", "source", "source_status",
             "kind", "tolerance", "job", "profile", "gpu_hours")
_OPTIONAL = ("value_text", "status_note", "note", "config_match", "tolerance_note",
             "known_deviation", "original_exact", "original_source")
_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]*")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Claim:
    """One reported number (or qualitative statement) and how to check it."""
    id: str
    system: str
    dataset: str
    setting: str
    metric: Optional[str]
    value: Optional[float]
    source: str
    source_status: str
    kind: str
    tolerance: Optional[float]
    job: Optional[str]
    profile: Optional[str]
    gpu_hours: Optional[float]
    value_text: Optional[str] = None
    status_note: Optional[str] = None
    note: Optional[str] = None
    config_match: dict = field(default_factory=dict)
    tolerance_note: Optional[str] = None
    known_deviation: Optional[str] = None
    # Static claims without a reported value: the exact count the original implementation
    # builds for the same configuration, measured by running it, and how it was measured.
    original_exact: Optional[int] = None
    original_source: Optional[str] = None

    @property
    def is_static(self) -> bool:
        """True for claims computed on the CPU by a registered static check."""
        return self.kind == "static"

    @property
    def reported_text(self) -> str:
        """The reported value as the source wrote it (its precision kept), or '–'."""
        if self.value is None:
            return "–"
        token = _matching_number(self.value_text, self.value) if self.value_text else None
        return token or f"{self.value:g}"


def default_tolerance(metric: Optional[str], value: Optional[float], value_text: Optional[str],
                      kind: str, dataset: str = "") -> Optional[float]:
    """The tolerance policy: how far a measurement may be from `value` and still reproduce it.

    Static checks and counts (params, mult-adds) match the reported precision: half a unit of
    the last reported digit. Run claims: percentages 0.3 points on CIFAR-sized data and 0.5 on
    ImageNet, perplexity 1.0, search cost half of the value (GPU types differ)."""
    if value is None or metric is None:
        return None
    if kind == "static" or metric in _COUNT_METRICS:
        return half_unit_of_last_digit(_matching_number(value_text, value) or f"{value:g}")
    if metric == "search_gpu_days":
        return _clean(SEARCH_COST_FRACTION * value)
    if metric in _PERPLEXITY_METRICS:
        return PERPLEXITY_TOLERANCE
    if metric in _PERCENT_METRICS:
        return (PERCENT_TOLERANCE_IMAGENET if "imagenet" in dataset.lower()
                else PERCENT_TOLERANCE_CIFAR)
    return half_unit_of_last_digit(_matching_number(value_text, value) or f"{value:g}")


def half_unit_of_last_digit(number_text: str) -> float:
    """Half of the last reported digit's unit: '4.6' -> 0.05, '2.10' -> 0.005, '128' -> 0.5."""
    match = _NUMBER.search(number_text)
    if not match:
        raise ValueError(f"no number in {number_text!r}")
    decimals = len(match.group().partition(".")[2])
    return _clean(0.5 * 10.0 ** -decimals)


def load_claims(path=CLAIMS_FILE) -> list:
    """Read and validate claims.yaml; return the claims in file order."""
    path = Path(path)
    try:
        with open(path) as f:
            records = yaml.safe_load(f)
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such claims file") from None
    except yaml.YAMLError as err:
        raise ResultsError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(records, list):
        raise ResultsError(f"{path}: expected a list of claim records, got "
                           f"{type(records).__name__}")
    claims, seen = [], set()
    for index, record in enumerate(records):
        claim = _validate_record(record, f"{path}: record {index}")
        if claim.id in seen:
            raise ResultsError(f"{path}: record {index} ('{claim.id}'): field 'id': duplicate id")
        seen.add(claim.id)
        claims.append(claim)
    return claims


def _validate_record(record, where: str) -> Claim:
    if not isinstance(record, dict):
        raise ResultsError(f"{where}: expected a mapping of fields, got {type(record).__name__}")
    if isinstance(record.get("id"), str):
        where = f"{where} ('{record['id']}')"
    missing = [key for key in _REQUIRED if key not in record]
    if missing:
        raise ResultsError(f"{where}: missing field(s) {', '.join(map(repr, missing))}")
    unknown = sorted(set(record) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise ResultsError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; known: "
                           f"{', '.join(_REQUIRED + _OPTIONAL)}")

    def fail(key, expected):
        raise ResultsError(f"{where}: field '{key}': expected {expected}, got {record[key]!r}")

    for key in ("id", "dataset", "setting", "source"):
        if not isinstance(record[key], str) or not record[key].strip():
            fail(key, "a non-empty string")
    for key in ("value_text", "status_note", "note", "tolerance_note", "known_deviation",
                "original_source"):
        if key in record and (not isinstance(record[key], str) or not record[key].strip()):
            fail(key, "a non-empty string")
    if "original_exact" in record:
        if isinstance(record["original_exact"], bool) or \
                not isinstance(record["original_exact"], int) or record["original_exact"] < 0:
            fail("original_exact", "a non-negative integer")
        if record["kind"] != "static" or record["value"] is not None \
                or "original_source" not in record:
            fail("original_exact", "only on a static claim without a reported value, with an "
                                   "original_source")
    if not _ID_PATTERN.fullmatch(record["id"]):
        fail("id", "lower-case letters, digits and dashes")
    if record["system"] not in CLAIM_SYSTEMS:
        fail("system", f"one of {', '.join(CLAIM_SYSTEMS)}")
    if record["metric"] is not None and record["metric"] not in METRICS:
        fail("metric", "null or a metric name of nasrepro.runs.results.METRICS")
    for key in ("value", "tolerance", "gpu_hours"):
        if record[key] is not None and (isinstance(record[key], bool)
                                        or not isinstance(record[key], numbers.Real)):
            fail(key, "a number or null")
    if record["source_status"] not in SOURCE_STATUSES:
        fail("source_status", f"one of {', '.join(SOURCE_STATUSES)}")
    if record["kind"] not in KINDS:
        fail("kind", f"one of {', '.join(KINDS)}")
    if record["job"] is not None and (not isinstance(record["job"], str) or not record["job"]):
        fail("job", "a job name or null")
    if "config_match" in record and not isinstance(record["config_match"], dict):
        fail("config_match", "a mapping of configuration key -> value")

    kind, claim_id = record["kind"], record["id"]
    if kind == "static":
        if not claim_id.startswith(STATIC_PREFIX):
            fail("id", f"an id starting with '{STATIC_PREFIX}' for a static claim")
        if record["metric"] is None:
            fail("metric", "a metric name (a static check computes a number)")
        if record["profile"] is not None:
            fail("profile", "null (a static check runs no profile)")
        if record["job"] is not None:
            fail("job", "null (a static check is not produced by a job)")
    else:
        if claim_id.startswith(STATIC_PREFIX):
            fail("id", f"no '{STATIC_PREFIX}' prefix on a run claim (or kind: static)")
        if record["profile"] not in PROFILES:
            fail("profile", f"the profile the comparison needs, one of {', '.join(PROFILES)}")
    if record["system"] == "context" and record["job"] is not None:
        fail("job", "null for a context row (no job reproduces other papers)")
    if record["metric"] is None and record["value"] is not None:
        fail("value", "null when the metric is null")
    if record["value"] is not None and record["tolerance"] is None:
        fail("tolerance", "a number when a value is reported")
    if record["tolerance"] is not None and record["tolerance"] < 0:
        fail("tolerance", "a non-negative number")
    if record["gpu_hours"] is not None and record["gpu_hours"] <= 0:
        fail("gpu_hours", "a positive number or null")

    policy = default_tolerance(record["metric"], record["value"], record.get("value_text"),
                               kind, record["dataset"])
    if record["tolerance"] != policy and "tolerance_note" not in record:
        fail("tolerance", f"{policy!r} (the default policy), or a 'tolerance_note' saying why not")
    values = {key: record[key] for key in _REQUIRED + _OPTIONAL if key in record}
    return Claim(**values)


def _matching_number(text: Optional[str], value: float) -> Optional[str]:
    """The number token in `text` equal to `value` ('2.10' for 2.1), keeping its precision."""
    for token in _NUMBER.findall(text or ""):
        if float(token) == value:
            return token
    return None


def _clean(x: float) -> float:
    # 0.5 * 10**-2 is 0.005000000000000001 in binary; round so YAML and tests read 0.005.
    return float(f"{x:.12g}")

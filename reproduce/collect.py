"""Collect the results.json files that `make` jobs wrote, and pick the one each claim compares."""
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from nasrepro.errors import NasreproError
from nasrepro.runs.results import read_results


@dataclass(frozen=True)
class Result:
    """One valid results.json: where it is, its record and when it was written."""
    path: Path
    record: dict
    written: float  # seconds since the epoch, from `created` or else the file's mtime

    @property
    def job(self) -> Optional[str]:
        return self.record.get("job")

    @property
    def profile(self) -> str:
        return self.record["profile"]


@dataclass
class Collection:
    """Every valid result, and one message per results.json that could not be used."""
    results: list = field(default_factory=list)
    errors: list = field(default_factory=list)


def collect(root) -> Collection:
    """Read every results.json under `root`; a bad file becomes an error naming its path."""
    root = Path(root)
    found = Collection()
    if not root.is_dir():
        return found
    for path in sorted(root.rglob("results.json")):
        try:
            record = read_results(path)
        except NasreproError as err:
            found.errors.append(str(err))
            continue
        except OSError as err:
            found.errors.append(f"{path}: cannot be read ({err})")
            continue
        found.results.append(Result(path, record, _written(path, record)))
    return found


def pick_result(claim, results) -> Optional[Result]:
    """The result a run claim is compared with: the newest `paper` one of its job that has the
    claim's metric and configuration, or else the newest mini/smoke one (shown, not compared)."""
    if claim.job is None or claim.metric is None:
        return None
    candidates = [r for r in results
                  if r.job == claim.job and claim.metric in r.record["metrics"]
                  and _config_matches(r.record["config"], claim.config_match)]
    paper = [r for r in candidates if r.profile == "paper"]
    pool = paper or candidates
    return max(pool, key=lambda r: (r.written, str(r.path)), default=None)


def _config_matches(config: dict, wanted: dict) -> bool:
    # A null in config_match means "not set": the key is absent or null.
    return all(config.get(key) == value for key, value in wanted.items())


def _written(path: Path, record: dict) -> float:
    created = record.get("created")
    if created:
        try:
            stamp = datetime.fromisoformat(created)
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=timezone.utc)
            return stamp.timestamp()
        except ValueError:
            pass  # an unparseable stamp: fall back to the file's time
    return os.path.getmtime(path)

"""What a results.json records about the run itself: commit, device, wall time."""
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, Union

from ..environment import REPO_ROOT, current_job, current_profile
from .results import SCHEMA_VERSION, validate_results


def git_commit(repo=REPO_ROOT) -> str:
    """Short commit hash of `repo`, with "+dirty" if tracked files changed; "unknown" when
    there is no git, no repository or no commit yet."""
    def git(*args) -> Optional[str]:
        try:
            done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True,
                                  text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "unknown"
    status = git("status", "--porcelain", "--untracked-files=no")
    return commit + "+dirty" if status else commit


def device_string() -> str:
    """The device the run computes on, e.g. "cpu (2 threads)" or "cuda:0 NVIDIA A100 (x4)".

    Looks only at frameworks the script has already imported."""
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "cuda") and torch.cuda.is_available():
        index = torch.cuda.current_device()
        count = torch.cuda.device_count()
        name = f"cuda:{index} {torch.cuda.get_device_name(index)}"
        return name + (f" (x{count})" if count > 1 else "")
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "config"):
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            name = f"gpu:0 {details.get('device_name', 'GPU')}"
            return name + (f" (x{len(gpus)})" if len(gpus) > 1 else "")
    if torch is not None and hasattr(torch, "get_num_threads"):
        threads = torch.get_num_threads()
    elif hasattr(os, "sched_getaffinity"):
        threads = len(os.sched_getaffinity(0))
    else:
        threads = os.cpu_count() or 1
    return f"cpu ({threads} thread{'s' if threads != 1 else ''})"


class Timer:
    """Wall-clock time since creation (or the last reset)."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        """Start counting again from now."""
        self.start = time.perf_counter()
        self.started_at = datetime.datetime.now(datetime.timezone.utc)

    @property
    def seconds(self) -> float:
        """Seconds elapsed."""
        return time.perf_counter() - self.start

    @property
    def minutes(self) -> float:
        """Minutes elapsed (the originals log "mins=")."""
        return self.seconds / 60.0


def results_record(system: str, script: str, dataset_name: str, dataset_fingerprint: str,
                   metrics: dict, config, arch=None, started: Union[Timer, float, None] = None,
                   run_dir=None, notes: Optional[str] = None) -> dict:
    """A complete, validated results.json record; write it with results.write_results (or let
    finish.finish_run do both).

    The profile and the `make` job are the process's (NASREPRO_PROFILE, NASREPRO_JOB);
    `config` may be a dict or an argparse.Namespace; `started` is a Timer or a time.time()
    value (wall_time_s is measured up to now; 0 when not given)."""
    if isinstance(started, Timer):
        wall = started.seconds
    elif started is not None:
        wall = time.time() - float(started)
    else:
        wall = 0.0
    if not isinstance(config, dict):
        config = dict(vars(config))
    record = {
        "schema_version": SCHEMA_VERSION,
        "system": system,
        "script": str(script),
        "profile": current_profile(),
        "dataset": {"name": dataset_name, "fingerprint": dataset_fingerprint},
        "metrics": {name: _number(value) for name, value in metrics.items()},
        "config": config,
        "wall_time_s": round(wall, 3),
        "device": device_string(),
        "git_commit": git_commit(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if arch is not None:
        record["arch"] = arch
    job = current_job()
    if job is not None:
        record["job"] = job
    if run_dir is not None:
        record["run_dir"] = str(Path(run_dir))
    if notes is not None:
        record["notes"] = notes
    return validate_results(record, where=f"results of {script}")


def _number(value):
    # 0-d tensors and numpy scalars become plain floats/ints so the schema check accepts them.
    if hasattr(value, "item"):
        value = value.item()
    return value

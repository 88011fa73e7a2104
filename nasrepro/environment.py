"""What a process learns from where it runs: the repository's location and every NASREPRO_*
variable. No other module reads these variables.

    NASREPRO_PROFILE   paper, mini or smoke; `make` jobs set it, a script run by hand has none
                       and runs the paper values
    NASREPRO_JOB       the `make` job a run belongs to (recorded in results.json)
    NASREPRO_RUNS      root of the `make` jobs' run directories (default: runs/)
    NASREPRO_CACHE     where the embedded datasets are written on first use (default: .cache/)
    NASREPRO_PROGRESS  1 or 0 forces progress bars on or off (default: on a terminal only)
    NASREPRO_REEXECUTED  set by an entry point that re-ran itself with the project's
                       interpreter (nasrepro.project_python), so it never does so twice
"""
import os
from pathlib import Path
from typing import Optional

from .errors import ConfigError
from .systems import PROFILES

REPO_ROOT = Path(__file__).resolve().parent.parent

PROFILE = "NASREPRO_PROFILE"
JOB = "NASREPRO_JOB"
RUNS = "NASREPRO_RUNS"
CACHE = "NASREPRO_CACHE"
PROGRESS = "NASREPRO_PROGRESS"
REEXECUTED = "NASREPRO_REEXECUTED"


def _value(name: str) -> str:
    return os.environ.get(name, "").strip()


def current_profile() -> str:
    """The profile of this process (default `paper`)."""
    value = _value(PROFILE) or "paper"
    if value not in PROFILES:
        raise ConfigError(f"{PROFILE}={value!r} is not a profile; expected one of "
                          f"{', '.join(PROFILES)}")
    return value


def current_job() -> Optional[str]:
    """The `make` job this process runs for, or None for a script run by hand."""
    return _value(JOB) or None


def runs_dir() -> Path:
    """Root of the `make` jobs' run directories: runs/<system>/<job>-<profile>/."""
    return Path(_value(RUNS) or REPO_ROOT / "runs").resolve()


def cache_dir() -> Path:
    """The git-ignored cache that embedded datasets are materialized into."""
    return Path(_value(CACHE) or REPO_ROOT / ".cache").resolve()


def progress_forced() -> Optional[bool]:
    """True or False when NASREPRO_PROGRESS forces bars on or off, None when it does not."""
    value = _value(PROGRESS)
    return value == "1" if value in ("0", "1") else None


def job_environment(profile: str, job: str) -> dict:
    """The variables a `make` job's script runs with."""
    return {PROFILE: profile, JOB: job}

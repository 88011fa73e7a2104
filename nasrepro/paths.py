"""Where the repository, the git-ignored cache and the run directories live."""
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """The git-ignored cache that embedded datasets are materialized into.

    ``NASREPRO_CACHE`` overrides it (tests point it at a temporary folder)."""
    return Path(os.environ.get("NASREPRO_CACHE", REPO_ROOT / ".cache")).resolve()


def runs_dir() -> Path:
    """Root of the ``make`` jobs' run directories: runs/<system>/<job>-<profile>/."""
    return Path(os.environ.get("NASREPRO_RUNS", REPO_ROOT / "runs")).resolve()

"""Output directories: where a run writes its log, results, checkpoints and metrics.

A script run by hand writes where its flags say (the originals' defaults); a `make` job writes
under runs/<system>/<job>-<profile>/ (README.md; nasrepro/environment.py)."""
import shutil
from pathlib import Path

from ..errors import ConfigError
from ..environment import REPO_ROOT, runs_dir
from ..systems import PROFILES, SYSTEMS


def prepare_output_dir(path, reset: bool = False) -> Path:
    """Create `path` if missing; with `reset`, delete it first (ENAS's --reset_output_dir).

    Without `reset` existing contents are kept, so a run can resume from its checkpoints."""
    if path is None or str(path).strip() == "":
        raise ConfigError("output directory is empty; pass a directory (e.g. --output_dir=outputs)")
    path = Path(path).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"output directory {path} exists and is a file, not a directory")
    if reset and path.exists():
        _refuse_dangerous_reset(path)
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def job_run_dir(system: str, job: str, profile: str) -> Path:
    """The run directory of a `make` job: runs_dir()/<system>/<job>-<profile>/ (not created)."""
    if system not in SYSTEMS:
        raise ConfigError(f"system {system!r} is not one of {', '.join(SYSTEMS)}")
    if profile not in PROFILES:
        raise ConfigError(f"profile {profile!r} is not one of {', '.join(PROFILES)}")
    if not job or "/" in job or "\\" in job or job in (".", ".."):
        raise ConfigError(f"job name {job!r} should be a non-empty name without path separators")
    return runs_dir() / system / f"{job}-{profile}"


def _refuse_dangerous_reset(path: Path) -> None:
    # A mistyped --output_dir must not wipe the repository, a home directory or the disk.
    protected = {Path("/"), Path.home().resolve(), REPO_ROOT.resolve(), Path.cwd().resolve()}
    if path in protected or any(path in p.parents for p in protected if p != Path("/")):
        raise ConfigError(f"refusing to reset output directory {path}: it is the repository, the "
                          "home or the current directory, or contains one of them")

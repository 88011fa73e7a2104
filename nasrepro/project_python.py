"""Running a paper folder's entry point with the repository's interpreter.

Entry points are run by hand as the originals were (`python experiment.py const.yaml`, `python
train_cifar.py --arch=...`), with whatever `python` is on PATH. When that interpreter cannot
import what the script needs, the script runs itself again with $PYTHON, or else the
repository's .venv interpreter (the shell scripts choose theirs the same way, in
nasrepro/shell/project_python.sh); when there is neither, one line says to run `make setup`.

This module is imported before the project's dependencies are known to be importable: it uses
the standard library only."""
import importlib.util
import os
import shutil
import sys
from pathlib import Path

from .environment import REEXECUTED, REPO_ROOT

# What every entry point needs besides its framework.
BASE_NEEDS = ("numpy", "yaml")
VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"


def missing_modules(needs=()) -> list:
    """The modules of BASE_NEEDS + `needs` this interpreter cannot import."""
    return [name for name in (*BASE_NEEDS, *needs) if importlib.util.find_spec(name) is None]


def ensure_project_python(script: str, needs=()) -> None:
    """Return when this interpreter can import `needs`; otherwise re-run `script` (with the same
    arguments) under $PYTHON or .venv's interpreter, or exit 2 with a one-line message."""
    missing = missing_modules(needs)
    if not missing:
        os.environ.pop(REEXECUTED, None)  # its children choose for themselves again
        return
    candidate = shutil.which(os.environ.get("PYTHON") or str(VENV_PYTHON))
    if candidate and not os.environ.get(REEXECUTED) \
            and os.path.abspath(candidate) != os.path.abspath(sys.executable):
        os.environ[REEXECUTED] = "1"
        os.execv(candidate, [candidate, script, *sys.argv[1:]])
    sys.stderr.write(f"{Path(script).name}: {sys.executable} cannot import "
                     f"{', '.join(missing)}; run `make setup` in {REPO_ROOT} (it creates .venv, "
                     "which the scripts use), or set PYTHON to an interpreter that has them\n")
    sys.exit(2)

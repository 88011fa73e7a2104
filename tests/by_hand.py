"""The environment of a user who ran `make setup` and activated nothing: `python` on PATH is an
interpreter without the project (a bare venv, made once per test process), the repository's
.venv/bin is not on PATH and PYTHON is unset. The end-to-end tests run the paper scripts in it,
as the READMEs tell users to run them by hand."""
import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from nasrepro.environment import REPO_ROOT

VENV_BIN = REPO_ROOT / ".venv" / "bin"


@functools.lru_cache(maxsize=None)
def bare_python_dir() -> Path:
    """A folder with `python` and `python3`: an interpreter with nothing installed."""
    root = Path(tempfile.mkdtemp(prefix="bare-python-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")],
                   check=True)
    return root / "venv" / "bin"


def by_hand_env(**extra) -> dict:
    """os.environ as a user's shell has it after `make setup` (see the module docstring).
    Run by an interpreter other than the repository's .venv one, PYTHON names that one, as
    such a user would set it."""
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep)
            if p and Path(p).resolve() != VENV_BIN.resolve()]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([str(bare_python_dir()), *path])
    if Path(sys.executable).absolute() != (VENV_BIN / "python").absolute():
        env["PYTHON"] = sys.executable
    env.update(extra)
    return env

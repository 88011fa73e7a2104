"""Importing a paper folder's modules from outside the folder: the harness, the benchmarks, the
Ray workers and the tests all go through `load_paper_module`.

Paper folders are script folders, as the originals were: their files import each other by bare
name (`import model`, `from src.cifar10.trainer import run`), and several folders reuse the same
names (NAO-V2, GAEA-ImageNet and ASHA-DARTS each have a model.py and an operations.py; folder
names like NAO-WS are not even identifiers). A module is imported with its folder first on
sys.path; afterwards the folder's modules leave sys.modules again and are kept per folder, so
the next load from the same folder reuses them and no other folder ever sees them.

The rule this sets for paper folders: import sibling modules at module level. An import inside
a function runs later, after the folder has left sys.path."""
from __future__ import annotations

import contextlib
import importlib
import sys
from pathlib import Path
from types import ModuleType

from .environment import REPO_ROOT
from .errors import ConfigError

_loaded: dict = {}  # resolved folder -> {module name: module}


def paper_folder(folder) -> Path:
    """`folder` as an absolute path (relative ones are taken from the repository root)."""
    path = Path(folder)
    path = (path if path.is_absolute() else REPO_ROOT / path).resolve()
    if not path.is_dir():
        raise ConfigError(f"{folder}: no such paper folder (looked at {path})")
    return path


def load_paper_module(folder, name: str) -> ModuleType:
    """The module `name` (dotted inside the folder: "model", "src.cifar10.trainer") of the paper
    folder `folder`, imported once per process."""
    folder = paper_folder(folder)
    cache = _loaded.setdefault(folder, {})
    if name not in cache:
        with _imports_from(folder, cache):
            importlib.import_module(name)
    return cache[name]


def load_paper_file(path) -> ModuleType:
    """The module of a .py file in a paper folder, e.g. "NAO-V2/static_checks.py"."""
    file = Path(path)
    file = file if file.is_absolute() else REPO_ROOT / file
    if file.suffix != ".py" or not file.is_file():
        raise ConfigError(f"{path}: no such Python file (looked at {file})")
    return load_paper_module(file.parent, file.stem)


def _top_level_names(folder: Path) -> set:
    """The names `import X` finds in `folder`: its .py files and its packages."""
    names = {p.stem for p in folder.glob("*.py")}
    names |= {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()}
    return names


def _is_under(module: ModuleType, folder: Path) -> bool:
    files = [getattr(module, "__file__", None)] + list(getattr(module, "__path__", None) or [])
    for file in filter(None, files):
        try:
            if Path(file).resolve().is_relative_to(folder):
                return True
        except OSError:
            continue
    return False


@contextlib.contextmanager
def _imports_from(folder: Path, cache: dict):
    names = _top_level_names(folder)

    def owned(module_name: str) -> bool:
        return module_name.split(".")[0] in names

    # Same-named modules of other folders step aside while this folder's (loaded before, or by
    # the running script itself) stand in; afterwards sys.modules is as it was.
    before = {n: m for n, m in sys.modules.items() if owned(n)}
    for module_name, module in before.items():
        if _is_under(module, folder):
            cache.setdefault(module_name, module)
        del sys.modules[module_name]
    sys.modules.update(cache)
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        for module_name, module in list(sys.modules.items()):
            if owned(module_name):
                if _is_under(module, folder):
                    cache[module_name] = module
                del sys.modules[module_name]
        sys.modules.update(before)

"""Static checks: claims computed on a CPU in seconds from an architecture and a configuration.

A system registers one zero-argument function per static claim id:

    from reproduce.static_checks import StaticMeasurement, static_check

    @static_check("static-enas-micro-final-params")
    def micro_final_params() -> StaticMeasurement:
        n = count_params(build_network(...))
        return StaticMeasurement(exact=n, value=n / 1e6)

and appends its module to CHECK_MODULES, so that `discover()` imports it and the decorators run.
Module names are dotted ("ENAS.static_checks", imported with the repository root on sys.path) or
paths relative to the repository root ("NAO-WS/cnn/static_checks.py") for the folders whose names
are not Python identifiers."""
import contextlib
import importlib
import importlib.util
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from nasrepro.errors import ConfigError
from nasrepro.paths import REPO_ROOT

# Filled in by the system issues, one entry per module that registers checks.
CHECK_MODULES: list = [
    "ENAS/static_checks.py",
    "NAO-V2/static_checks.py",
    "ASHA-DARTS/static_checks.py",
]


@dataclass(frozen=True)
class StaticMeasurement:
    """What a static check computed: the exact integer count and the value in the claim's unit."""
    exact: int
    value: float
    details: str = ""


@dataclass
class CheckOutcome:
    """One check's run: its measurement or the error it raised, and how long it took."""
    claim_id: str
    measurement: Optional[StaticMeasurement] = None
    error: Optional[str] = None
    seconds: float = 0.0


@dataclass
class Discovery:
    """The checks found for a set of modules, and what went wrong while finding them."""
    checks: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)


class CheckRegistry:
    """Maps (module, static claim id) to the function that computes the claim."""

    def __init__(self):
        self._checks: dict = {}

    def register(self, claim_id: str) -> Callable:
        """Decorator: register a zero-argument function as the check of `claim_id`."""
        if not isinstance(claim_id, str) or not claim_id.startswith("static-"):
            raise ConfigError(f"static_check({claim_id!r}): a static claim id starts with "
                              "'static-'")

        def decorate(fn: Callable) -> Callable:
            key = (fn.__module__, claim_id)
            previous = self._checks.get(key)
            # Re-importing a module re-registers the same function; a second one in it clashes.
            if previous is not None and previous.__qualname__ != fn.__qualname__:
                raise ConfigError(f"static check '{claim_id}' is registered twice in "
                                  f"{fn.__module__}: by {previous.__qualname__} and by "
                                  f"{fn.__qualname__}")
            self._checks[key] = fn
            return fn
        return decorate

    def checks_from(self, module_names) -> list:
        """(claim id, function) of every check defined in the given modules, in module order."""
        order = {name: i for i, name in enumerate(module_names)}
        found = [(module, cid, fn) for (module, cid), fn in self._checks.items()
                 if module in order]
        return [(cid, fn) for module, cid, fn in sorted(found, key=lambda t: order[t[0]])]


REGISTRY = CheckRegistry()
static_check = REGISTRY.register


def discover(claims, modules=None, registry: CheckRegistry = REGISTRY) -> Discovery:
    """Import the check modules (default CHECK_MODULES) and match their checks to `claims`.

    A module that fails to import, or a check whose id is not a static claim, is reported in
    `errors` (with the module name) instead of being dropped."""
    modules = list(CHECK_MODULES if modules is None else modules)
    static_ids = {c.id for c in claims if c.is_static}
    found = Discovery()
    imported = []
    for name in modules:
        try:
            imported.append(import_module_path(name))
        except Exception as err:  # any failure: a syntax error, a missing dependency, ...
            last = traceback.extract_tb(err.__traceback__)[-1]
            found.errors.append(f"check module {name}: import failed: "
                                f"{type(err).__name__}: {err} ({last.filename}:{last.lineno})")
    for claim_id, fn in registry.checks_from(imported):
        if claim_id not in static_ids:
            found.errors.append(f"check module {fn.__module__}: '{claim_id}' "
                                f"({fn.__qualname__}) is not a static claim in the claims file")
        elif claim_id in found.checks:
            found.errors.append(f"static check '{claim_id}' is registered by two modules: "
                                f"{_qualified(found.checks[claim_id])} and {_qualified(fn)}")
        else:
            found.checks[claim_id] = fn
    return found


def run_check(claim_id: str, fn: Callable) -> CheckOutcome:
    """Run one check, timing it; an exception becomes the outcome's error message."""
    start = time.perf_counter()
    try:
        result = fn()
        if not isinstance(result, StaticMeasurement):
            raise TypeError(f"{_qualified(fn)} returned {type(result).__name__}, "
                            "expected a StaticMeasurement")
        if isinstance(result.exact, bool) or not isinstance(result.exact, int):
            raise TypeError(f"{_qualified(fn)}: StaticMeasurement.exact should be an int, got "
                            f"{result.exact!r}")
        return CheckOutcome(claim_id, measurement=result, seconds=time.perf_counter() - start)
    except Exception as err:
        return CheckOutcome(claim_id, error=f"{type(err).__name__}: {err}",
                            seconds=time.perf_counter() - start)


def run_checks(checks: dict) -> dict:
    """Run every check in `checks` (claim id -> function); outcomes by claim id."""
    return {claim_id: run_check(claim_id, fn) for claim_id, fn in checks.items()}


def import_module_path(name: str) -> str:
    """Import a dotted module name or a .py path under the repository; return its module name.

    A paper folder's file is imported with its siblings importable (`import model`) and then
    forgotten, so two folders' model.py never shadow each other (also used by benchmarks/)."""
    if name.endswith(".py") or "/" in name:
        path = Path(name) if Path(name).is_absolute() else REPO_ROOT / name
        if not path.is_file():
            raise FileNotFoundError(f"no such file {path}")
        # Folder names like NAO-WS are not identifiers: give the module a stable synthetic name.
        key = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
        module_name = "nasrepro_checks." + re.sub(r"\W", "_", str(key.with_suffix("")))
        if module_name in sys.modules:
            return module_name
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            with _folder_modules_isolated(path.parent):
                spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
        return module_name
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    return importlib.import_module(name).__name__


@contextlib.contextmanager
def _folder_modules_isolated(folder: Path):
    """Let a check module import its siblings (`import model`), then forget them.

    Paper folders reuse the original file names (NAO-V2, GAEA-ImageNet and ASHA-DARTS each have
    a model.py and an operations.py); without this the second system's `import model` would get
    the first one's module from sys.modules. The check functions keep their own references, so
    checks must import their siblings at module level, not inside the function."""
    folder = folder.resolve()
    before = dict(sys.modules)
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if file and _is_under(Path(file), folder) and not name.startswith("nasrepro_checks."):
                del sys.modules[name]
                if name in before:
                    sys.modules[name] = before[name]


def _is_under(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder)
    except OSError:
        return False


def _qualified(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"

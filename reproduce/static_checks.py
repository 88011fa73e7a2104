"""Static checks for `make verify-results`: find every system's checks (declared with
nasrepro.static_checks), match them to the static claims of reproduce/claims.yaml, run them.

The checks are found from the systems list: each system's static_checks.py
(nasrepro.static_checks.system_check_files), imported through the paper-folder loader."""
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from nasrepro.static_checks import (REGISTRY, Registry, StaticMeasurement,
                                    import_check_modules)


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


def discover(claims, modules=None, registry: Registry = REGISTRY) -> Discovery:
    """Import the check modules (default: every system's static_checks.py; else .py paths or
    dotted names) and match their checks to `claims`.

    A module that fails to import, or a check whose id is not a static claim, is reported in
    `errors` (with the module name) instead of being dropped."""
    static_ids = {c.id for c in claims if c.is_static}
    imported, errors = import_check_modules(modules)
    found = Discovery(errors=errors)
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


def _qualified(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"

"""What a system declares for the harness, the tests and the benchmarks, in its folder's
`static_checks.py` (ENAS/static_checks.py, NAO-WS/cnn/static_checks.py, ...):

- static checks: one zero-argument function per static claim of reproduce/claims.yaml, computed
  on a CPU in seconds from a published architecture at its paper configuration;
- paper networks: how to build each network at that configuration and run it as its script
  trains it.

    from nasrepro.static_checks import StaticMeasurement, paper_network, static_check

    @static_check("static-naov2-cifar-params")
    def cifar_params() -> StaticMeasurement:
        count = count_params(cifar_network())
        return StaticMeasurement(exact=count, value=count / 1e6)

The files are found from the systems list (`system_check_files`), not from a list kept by hand."""
from __future__ import annotations

import importlib
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Optional

from .environment import REPO_ROOT
from .errors import ConfigError
from .paper_modules import load_paper_file
from .systems import PAPER_SYSTEMS

CHECKS_FILE = "static_checks.py"
FRAMEWORKS = ("torch", "tf")


@dataclass(frozen=True)
class StaticMeasurement:
    """What a static check computed: the exact integer count and the value in the claim's unit."""
    exact: int
    value: float
    details: str = ""


@dataclass(frozen=True)
class PaperNetwork:
    """A network at its paper configuration, as one of the system's scripts builds it.

    `train_forward(model, images)` runs it as the script trains it half-way through training
    (aux head, dropout, drop path) and returns (logits, aux logits or None). `tiny_input` is
    the input batch shape of the build-forward-backward test ((N, C, H, W) for torch, (N, H, W,
    C) for TensorFlow); `params_claim` the static claim that counts its parameters, leaving out
    the parameters whose names contain a `params_exclude` word (the aux head)."""
    name: str
    framework: str
    build: Callable
    train_forward: Callable
    tiny_input: tuple
    classes: int
    params_claim: Optional[str] = None
    params_exclude: tuple = ("auxiliary",)
    description: str = ""


def _defining_file(obj) -> str:
    return str(Path(obj.__code__.co_filename).resolve())


class Registry:
    """The static checks and paper networks declared by the imported modules, by defining file
    (paper folders reuse module names, so names cannot tell two modules apart)."""

    def __init__(self):
        self.checks: dict = {}     # (file, claim id) -> function
        self.networks: dict = {}   # (file, name) -> PaperNetwork

    def static_check(self, claim_id: str) -> Callable:
        """Decorator: register a zero-argument function as the check of `claim_id`."""
        if not isinstance(claim_id, str) or not claim_id.startswith("static-"):
            raise ConfigError(f"static_check({claim_id!r}): a static claim id starts with "
                              "'static-'")

        def decorate(fn: Callable) -> Callable:
            key = (_defining_file(fn), claim_id)
            previous = self.checks.get(key)
            # Importing a module again registers the same function; a second one in it clashes.
            if previous is not None and previous.__qualname__ != fn.__qualname__:
                raise ConfigError(f"static check '{claim_id}' is registered twice in "
                                  f"{fn.__module__}: by {previous.__qualname__} and by "
                                  f"{fn.__qualname__}")
            self.checks[key] = fn
            return fn
        return decorate

    def paper_network(self, network: PaperNetwork) -> PaperNetwork:
        """Register `network` under its name (a name is unique across the systems)."""
        if network.framework not in FRAMEWORKS:
            raise ConfigError(f"paper network {network.name!r}: framework "
                              f"{network.framework!r} is not one of {', '.join(FRAMEWORKS)}")
        self.networks[(_defining_file(network.build), network.name)] = network
        return network

    def checks_from(self, modules) -> list:
        """(claim id, function) of every check defined in `modules`, in module order."""
        return _declared_in(self.checks, modules)

    def networks_from(self, modules) -> list:
        """Every paper network declared in `modules`, in module order."""
        return [net for _, net in _declared_in(self.networks, modules)]


def _declared_in(table: dict, modules) -> list:
    """(name, entry) of a (file, name) -> entry table, for the files of `modules`, in order."""
    files = [str(Path(m.__file__).resolve()) for m in modules]
    return [(name, entry) for file in files
            for (defined_in, name), entry in table.items() if defined_in == file]


REGISTRY = Registry()
static_check = REGISTRY.static_check


def paper_network(*fields, **named_fields) -> PaperNetwork:
    """Declare a paper network: PaperNetwork's fields, registered."""
    return REGISTRY.paper_network(PaperNetwork(*fields, **named_fields))


def system_check_files(systems=PAPER_SYSTEMS) -> list:
    """Every system's static_checks.py: in its folder, or one level down (NAO/cnn, NAO/rnn)."""
    files = []
    for system in systems:
        folder = REPO_ROOT / system
        files += sorted(folder.glob(CHECKS_FILE)) + sorted(folder.glob(f"*/{CHECKS_FILE}"))
    return files


def import_check_modules(names=None, systems=PAPER_SYSTEMS) -> tuple:
    """(modules, errors): the modules of `names` (paths of .py files, relative to the repository
    or absolute, or dotted module names; default: the static_checks.py of `systems`) imported,
    and one message per module that failed to import, naming it."""
    if names is None:
        names = [str(f.relative_to(REPO_ROOT)) for f in system_check_files(systems)]
    modules, errors = [], []
    for name in names:
        try:
            modules.append(_import(name))
        except Exception as err:  # any failure: a syntax error, a missing dependency, ...
            last = traceback.extract_tb(err.__traceback__)[-1]
            errors.append(f"check module {name}: import failed: {type(err).__name__}: {err} "
                          f"({last.filename}:{last.lineno})")
    return modules, errors


def _import(name: str) -> ModuleType:
    if name.endswith(".py") or "/" in name:
        return load_paper_file(name)
    return importlib.import_module(name)


def paper_networks(systems=PAPER_SYSTEMS) -> dict:
    """The paper networks of `systems` by name (imports their static_checks.py)."""
    modules, errors = import_check_modules(systems=systems)
    if errors:
        raise ConfigError("; ".join(errors))
    return {net.name: net for net in REGISTRY.networks_from(modules)}

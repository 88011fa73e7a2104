"""One call to seed every random number generator a run uses.

torch and tensorflow are seeded when already imported; otherwise the seed is applied at the
moment they are first imported, so a torch script never pays for importing TensorFlow (and a
TensorFlow script never loads torch) just to be seeded."""
import importlib.abc
import importlib.util
import os
import random
import sys

import numpy as np

_pending: dict = {}  # framework module name -> (seed, deterministic), applied on import


def seed_everything(seed: int, deterministic: bool = False) -> int:
    """Seed python, numpy, torch and tensorflow; `deterministic` also asks for deterministic
    kernels (slower; warns rather than fails where torch has none). Returns `seed`."""
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    # Only subprocesses see this (hash randomization of this process is fixed at start-up).
    os.environ["PYTHONHASHSEED"] = str(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    for name, apply in (("torch", _seed_torch), ("tensorflow", _seed_tensorflow)):
        if name in sys.modules and hasattr(sys.modules[name], "__version__"):
            apply(sys.modules[name], seed, deterministic)
        else:
            _pending[name] = (seed, deterministic)
            _install_hook()
    return seed


def _seed_torch(torch, seed: int, deterministic: bool) -> None:
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def _seed_tensorflow(tf, seed: int, deterministic: bool) -> None:
    tf.random.set_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


_APPLY = {"torch": _seed_torch, "tensorflow": _seed_tensorflow}


class _SeedOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the loader of torch/tensorflow to seed after they load."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _pending:
            return None
        sys.meta_path.remove(self)  # let the normal finders locate the real module
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _SeedingLoader(spec.loader, fullname)
        return spec


class _SeedingLoader(importlib.abc.Loader):
    def __init__(self, loader, name: str):
        self._loader, self._name = loader, name

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        args = _pending.pop(self._name, None)
        if args is not None:
            _APPLY[self._name](module, *args)
        if not _pending:
            _remove_hook()

    def __getattr__(self, attr):  # get_resource_reader, is_package, ... of the real loader
        return getattr(self._loader, attr)


_hook = _SeedOnImport()


def _install_hook() -> None:
    if _hook not in sys.meta_path:
        sys.meta_path.insert(0, _hook)


def _remove_hook() -> None:
    if _hook in sys.meta_path:
        sys.meta_path.remove(_hook)

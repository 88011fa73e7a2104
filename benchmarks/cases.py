"""The benchmarked networks: name -> (what it is, a builder returning (model, forward, input
size, classes)). Each builder imports its paper folder's own model code."""
import importlib
import sys
from contextlib import contextmanager

from nasrepro.paths import REPO_ROOT


@contextmanager
def paper_folder(folder: str):
    """Import from a paper folder (its modules have generic names like model.py)."""
    path = str(REPO_ROOT / folder)
    sys.path.insert(0, path)
    try:
        yield
    finally:
        sys.path.remove(path)


def naov2_cifar():
    with paper_folder("NAO-V2"):
        checks = importlib.import_module("static_checks")
        model = checks.cifar_network()
    # Training mode as train_cifar.py runs it: aux head, dropout, drop path at mid-training.
    steps = 234_600
    model.steps = steps
    return model, lambda net, x: net(x, steps // 2), (3, 32, 32), 10


CASES = {
    "naov2-cifar": ("NAONet-V2, CIFAR configuration (N=6, C=36, aux head, drop path)",
                    naov2_cifar),
}

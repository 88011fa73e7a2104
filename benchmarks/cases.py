"""The benchmarked networks: name -> (what it is, a builder returning (model, forward, input
size, classes)). Each builder takes the network from its paper folder's static checks, so the
benchmark measures exactly the configuration the static claims count."""
import sys

from reproduce.static_checks import import_module_path


def naov2_cifar():
    checks = sys.modules[import_module_path("NAO-V2/static_checks.py")]
    model = checks.cifar_network()
    # Training mode as train_cifar.py runs it: aux head, dropout, drop path at mid-training.
    steps = 234_600
    model.steps = steps
    return model, lambda net, x: net(x, steps // 2), (3, 32, 32), 10


def asha_const2021():
    checks = sys.modules[import_module_path("ASHA-DARTS/static_checks.py")]
    model = checks.const_network("const_2021.yaml")
    # Training mode as the trial runs it: aux head on, drop path at half its final 0.2.
    model.drop_path_prob = 0.1
    return model, lambda net, x: net(x), (3, 32, 32), 10


CASES = {
    "naov2-cifar": ("NAONet-V2, CIFAR configuration (N=6, C=36, aux head, drop path)",
                    naov2_cifar),
    "asha-const2021": ("DARTS NetworkCIFAR, const_2021.yaml architecture (20 cells, C=36, aux "
                       "head, drop path)", asha_const2021),
}

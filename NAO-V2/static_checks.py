"""Static claims of NAO-V2: parameters and mult-adds of NAONet-V2 built exactly as the final
scripts configure it, counted as the original's "param size" line counted (names containing
"auxiliary" left out; mult-adds of one eval-mode forward pass, the aux head not run)."""
from pathlib import Path

from model import NASNetworkCIFAR, NASNetworkImageNet
from nasrepro.archs.nao import parse_nao_arch
from nasrepro.complexity.torch_count import count_mult_adds, count_params
from nasrepro.shell_flags import read_script_flags
from reproduce.static_checks import StaticMeasurement, static_check

HERE = Path(__file__).resolve().parent
CIFAR_SCRIPT = "train_NAONet_V2_36_cifar10.sh"
IMAGENET_SCRIPT = "train_NAONet_V2_imagenet_4cards.sh"
# train_cifar.py / train_imagenet.py defaults the scripts leave alone.
CIFAR_DEFAULTS = {"layers": 6, "nodes": 5, "channels": 36, "keep_prob": 0.6,
                  "drop_path_keep_prob": 0.8}
IMAGENET_DEFAULTS = {"layers": 4, "nodes": 5, "channels": 48, "keep_prob": 1.0,
                     "drop_path_keep_prob": 1.0}


def _config(script: str, defaults: dict) -> dict:
    flags = read_script_flags(HERE / script)
    config = {k: type(v)(flags.get(k, v)) for k, v in defaults.items()}
    config["arch"] = parse_nao_arch(flags["arch"], nodes=config["nodes"], source=script)
    config["use_aux_head"] = "use_aux_head" in flags
    return config


def cifar_network(classes: int = 10) -> NASNetworkCIFAR:
    c = _config(CIFAR_SCRIPT, CIFAR_DEFAULTS)
    return NASNetworkCIFAR(classes, c["layers"], c["nodes"], c["channels"], c["keep_prob"],
                           c["drop_path_keep_prob"], c["use_aux_head"], 1, c["arch"])


def imagenet_network(classes: int = 1000) -> NASNetworkImageNet:
    c = _config(IMAGENET_SCRIPT, IMAGENET_DEFAULTS)
    return NASNetworkImageNet(classes, c["layers"], c["nodes"], c["channels"], c["keep_prob"],
                              c["drop_path_keep_prob"], c["use_aux_head"], 1, c["arch"])


@static_check("static-naov2-cifar-params")
def cifar_params() -> StaticMeasurement:
    count = count_params(cifar_network())
    return StaticMeasurement(exact=count, value=count / 1e6,
                             details=f"{CIFAR_SCRIPT}: N=6, C=36, aux head not counted")


@static_check("static-naov2-cifar-madds")
def cifar_madds() -> StaticMeasurement:
    count = count_mult_adds(cifar_network(), (1, 3, 32, 32))
    return StaticMeasurement(exact=count, value=count / 1e6,
                             details=f"{CIFAR_SCRIPT}: 32x32 input, conv and linear "
                                     "multiply-adds, aux head not run")


@static_check("static-naov2-imagenet-params")
def imagenet_params() -> StaticMeasurement:
    count = count_params(imagenet_network())
    return StaticMeasurement(exact=count, value=count / 1e6,
                             details=f"{IMAGENET_SCRIPT}: N=4, C=52, 1000 classes, aux head "
                                     "not counted")


@static_check("static-naov2-imagenet-madds")
def imagenet_madds() -> StaticMeasurement:
    count = count_mult_adds(imagenet_network(), (1, 3, 224, 224))
    return StaticMeasurement(exact=count, value=count / 1e6,
                             details=f"{IMAGENET_SCRIPT}: 224x224 input, conv and linear "
                                     "multiply-adds, aux head not run")

"""NAO-V2's declarations for the harness: the static claims (parameters and mult-adds of
NAONet-V2) and its two paper networks, each built by its training script from the flags its
shell script passes, counted as the original's "param size" line counted (names containing
"auxiliary" left out; mult-adds of one eval-mode forward pass, the aux head not run)."""
from pathlib import Path

import train_cifar
import train_imagenet
from final_training import training_steps
from nasrepro.complexity.torch_count import count_mult_adds, count_params
from nasrepro.shell_flags import script_argv
from nasrepro.static_checks import StaticMeasurement, paper_network, static_check

HERE = Path(__file__).resolve().parent
CIFAR_SCRIPT = "train_NAONet_V2_36_cifar10.sh"
IMAGENET_SCRIPT = "train_NAONet_V2_imagenet_4cards.sh"


def _script_args(script: str, module):
    return module.build_parser().parse_args(script_argv(HERE / script))


def cifar_network(classes: int = 10):
    """NAONet-V2 as train_NAONet_V2_36_cifar10.sh trains it on CIFAR-10 (N=6, C=36)."""
    args = _script_args(CIFAR_SCRIPT, train_cifar)
    return train_cifar.build_network(
        args, classes, training_steps(args, train_cifar.CIFAR_TRAIN_IMAGES))


def imagenet_network(classes: int = train_imagenet.IMAGENET_CLASSES):
    """NAONet-V2 as train_NAONet_V2_imagenet_4cards.sh trains it (N=4, C=52; its batch size is
    computed from NPROC at run time, which changes nothing here: drop path is off on ImageNet)."""
    args = _script_args(IMAGENET_SCRIPT, train_imagenet)
    return train_imagenet.build_network(
        args, classes, training_steps(args, train_imagenet.IMAGENET_TRAIN_IMAGES))


def _half_way(model, images):
    # Training as the script runs it half-way through: the drop-path horizon is model.steps.
    return model(images, model.steps // 2)


paper_network("naov2-cifar", "torch", cifar_network, _half_way, tiny_input=(2, 3, 32, 32),
              classes=10, params_claim="static-naov2-cifar-params",
              description="NAONet-V2, CIFAR configuration (N=6, C=36, aux head, drop path)")
# The aux head's 5x5 pooling and 2x2 conv need its 7x7 map: the full 224x224 input.
paper_network("naov2-imagenet", "torch", imagenet_network, _half_way,
              tiny_input=(2, 3, 224, 224), classes=train_imagenet.IMAGENET_CLASSES,
              params_claim="static-naov2-imagenet-params",
              description="NAONet-V2, ImageNet configuration (N=4, C=52, aux head)")


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

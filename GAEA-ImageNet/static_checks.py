"""GAEA-ImageNet's declarations for the harness: the parameters and mult-adds of the GAEA network
at the paper's ImageNet configuration (14 cells, 48 channels, 1000 classes), built as the trial
builds it from distributed.yaml, with and without the example's squeeze-and-excite modules, and
the network for the tests and benchmarks. Counted the DARTS way: names containing "auxiliary"
left out; mult-adds of one eval-mode forward pass of a 224x224 image."""
from pathlib import Path

from model_def import build_network
from nasrepro.complexity.torch_count import count_mult_adds, count_params
from nasrepro.hpsearch.det_config import load_experiment_config
from nasrepro.static_checks import StaticMeasurement, paper_network, static_check

HERE = Path(__file__).resolve().parent
CONFIG = "distributed.yaml"


def config_hparams(**changes) -> dict:
    return {**load_experiment_config(HERE / CONFIG).constant_hparams(), **changes}


def gaea_network(do_SE: bool = True, auxiliary: bool = False):
    """The network distributed.yaml trains (swish, SE), or the paper's without SE."""
    return build_network(config_hparams(do_SE=do_SE, auxiliary=auxiliary), source=CONFIG)


def _train_forward(model, images):
    model.drop_path_prob = 0.0  # the trial turns drop path off
    return model(images)


# The final 7x7 average pool needs the full 224x224 input.
paper_network("gaea-imagenet", "torch", gaea_network, _train_forward,
              tiny_input=(2, 3, 224, 224), classes=1000,
              params_claim="static-gaea-imagenet-se-params",
              description="GAEA genotype, DARTS NetworkImageNet (14 cells, C=48), swish, SE")


@static_check("static-gaea-imagenet-params")
def params_without_se() -> StaticMeasurement:
    count = count_params(gaea_network(do_SE=False))
    return StaticMeasurement(exact=count, value=count / 1e6,
                             details="14 cells, 48 channels, 1000 classes, no SE, no aux head")


@static_check("static-gaea-imagenet-se-params")
def params_with_se() -> StaticMeasurement:
    count = count_params(gaea_network(do_SE=True))
    return StaticMeasurement(exact=count, value=count / 1e6,
                             details=f"{CONFIG}: 14 cells, 48 channels, SE after cells 0-9")


@static_check("static-gaea-imagenet-madds")
def mult_adds_without_se() -> StaticMeasurement:
    count = count_mult_adds(gaea_network(do_SE=False), (1, 3, 224, 224))
    return StaticMeasurement(exact=count, value=count / 1e6,
                             details="224x224 input, conv and linear multiply-adds, no SE")

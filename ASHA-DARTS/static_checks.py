"""Static claims of ASHA-DARTS: parameters of the two const.yaml architectures (2020-09 and
2021-07) built as the trial builds them, 20 cells and 36 channels, counted the DARTS way
(auxiliary head left out)."""
from pathlib import Path

from model import NetworkCIFAR
from nasrepro.archs.darts_hparams import genotype_from_hparams
from nasrepro.hpsearch.det_config import load_experiment_config
from reproduce.static_checks import StaticMeasurement, static_check
from utils import count_parameters

HERE = Path(__file__).resolve().parent


def const_network(config_file: str) -> NetworkCIFAR:
    """The network model_def.DARTSCNNTrial builds for `config_file`'s hyperparameters."""
    config = load_experiment_config(HERE / config_file)
    hp = config.constant_hparams()
    genotype = genotype_from_hparams(hp, source=config_file)
    return NetworkCIFAR(hp["init_channels"], 10, hp["layers"], hp["auxiliary"], genotype)


def _params(config_file: str, which: str) -> StaticMeasurement:
    count = count_parameters(const_network(config_file))
    return StaticMeasurement(exact=count, value=count / 1e6,
                             details=f"{config_file} ({which}): 20 cells, 36 channels, aux head "
                                     "not counted")


@static_check("static-asha-const2020-params")
def const2020_params() -> StaticMeasurement:
    return _params("const.yaml", "2020-09")


@static_check("static-asha-const2021-params")
def const2021_params() -> StaticMeasurement:
    return _params("const_2021.yaml", "2021-07")

"""ASHA-DARTS's declarations for the harness: the parameters of the two const.yaml architectures
(2020-09 and 2021-07), 20 cells and 36 channels, built as the trial builds them and counted the
DARTS way (auxiliary head left out), and the two networks for the tests and benchmarks."""
from pathlib import Path

from model_def import build_network, set_drop_path
from nasrepro.complexity.torch_count import count_params
from nasrepro.hpsearch.det_config import load_experiment_config
from nasrepro.static_checks import StaticMeasurement, paper_network, static_check

HERE = Path(__file__).resolve().parent


def const_hparams(config_file: str) -> dict:
    return load_experiment_config(HERE / config_file).constant_hparams()


def const_network(config_file: str):
    """The network model_def.DARTSCNNTrial builds for `config_file`'s hyperparameters."""
    return build_network(const_hparams(config_file), source=config_file)


def _trained_half_way(config_file: str):
    hparams = const_hparams(config_file)

    def forward(model, images):
        # As the trial trains half-way: aux head on, drop path half-way up its ramp.
        set_drop_path(model, hparams, hparams["train_epochs"] // 2)
        return model(images)
    return forward


for _year, _file in (("2020", "const.yaml"), ("2021", "const_2021.yaml")):
    paper_network(f"asha-const{_year}", "torch", lambda file=_file: const_network(file),
                  _trained_half_way(_file), tiny_input=(2, 3, 32, 32), classes=10,
                  params_claim=f"static-asha-const{_year}-params",
                  description=f"DARTS NetworkCIFAR, {_file} architecture (20 cells, C=36, aux "
                              "head, drop path)")


def _params(config_file: str, which: str) -> StaticMeasurement:
    count = count_params(const_network(config_file))
    return StaticMeasurement(exact=count, value=count / 1e6,
                             details=f"{config_file} ({which}): 20 cells, 36 channels, aux head "
                                     "not counted")


@static_check("static-asha-const2020-params")
def const2020_params() -> StaticMeasurement:
    return _params("const.yaml", "2020-09")


@static_check("static-asha-const2021-params")
def const2021_params() -> StaticMeasurement:
    return _params("const_2021.yaml", "2021-07")

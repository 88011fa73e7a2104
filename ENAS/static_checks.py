"""ENAS's declarations for the harness: the parameter counts of the published architectures and
their two networks, built by main.py's flags as the final scripts pass them and counted as the
original's "Model has N params" line counted (trainable variables of the child, the micro aux
head left out)."""
from pathlib import Path
from types import SimpleNamespace

from nasrepro.complexity.tf_count import count_params
from nasrepro.shell_flags import script_argv
from nasrepro.static_checks import StaticMeasurement, paper_network, static_check
from nasrepro.tf.startup import import_tensorflow
from src.cifar10 import main, trainer

SCRIPTS = Path(__file__).resolve().parent / "scripts"
CIFAR10_CLASSES = 10


def script_child(script: str, *extra_flags: str):
    """The child scripts/`script` trains on CIFAR-10 (extra flags appended, as "$@" is)."""
    values = main.parse_flag_values([*script_argv(SCRIPTS / script), *extra_flags])
    return trainer.build_child(SimpleNamespace(**values), CIFAR10_CLASSES)


def micro_final_child(*extra_flags: str):
    return script_child("cifar10_micro_final.sh", *extra_flags)


def macro_final_child(*extra_flags: str):
    return script_child("cifar10_macro_final.sh", *extra_flags)


def _half_way(child, images):
    # Training as the final scripts run it half-way (dropout, drop path at half its ramp).
    tf = import_tensorflow()
    return child(images, training=True, generator=tf.random.Generator.from_seed(0),
                 drop_path_progress=tf.constant(0.5))


paper_network("enas-micro-final", "tf", micro_final_child, _half_way,
              tiny_input=(2, 32, 32, 3), classes=CIFAR10_CLASSES,
              params_claim="static-enas-micro-final-params", params_exclude=("aux_head",),
              description="ENAS micro cells, cifar10_micro_final.sh (15+2 cells, 36 filters, "
                          "aux head)")
paper_network("enas-macro-final", "tf", macro_final_child, _half_way,
              tiny_input=(2, 32, 32, 3), classes=CIFAR10_CLASSES,
              params_claim="static-enas-macro-final-params", params_exclude=(),
              description="ENAS macro network, cifar10_macro_final.sh (24 layers, 96 filters)")


@static_check("static-enas-micro-final-params")
def micro_final_params() -> StaticMeasurement:
    count = count_params(micro_final_child(), exclude=("aux_head",))
    return StaticMeasurement(exact=count, value=count / 1e6,
                             details="cifar10_micro_final.sh: 15+2 cells, 36 filters, aux head "
                                     "not counted")


@static_check("static-enas-macro-final-params")
def macro_final_params() -> StaticMeasurement:
    count = count_params(macro_final_child())
    return StaticMeasurement(exact=count, value=count / 1e6,
                             details="cifar10_macro_final.sh: 24 layers, 96 filters, ops 1 and 3 "
                                     "built as ordinary convs as in the original")

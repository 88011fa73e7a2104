"""Static claims of ENAS: parameter counts of the published architectures, built exactly as the
final scripts configure them and counted as the original's "Model has N params" line counted
(trainable variables of the child, the micro aux head left out)."""
from pathlib import Path

from nasrepro.archs.enas import parse_macro_arc, parse_micro_arc
from nasrepro.complexity.tf_count import count_params
from nasrepro.shell_flags import read_script_flags
from nasrepro.tf.micro_child import MicroChild
from reproduce.static_checks import StaticMeasurement, static_check
from src.cifar10.general_child import GeneralChild

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def micro_final_child(script: str = "cifar10_micro_final.sh", **overrides) -> MicroChild:
    flags = read_script_flags(SCRIPTS / script)
    arc = parse_micro_arc(flags["child_fixed_arc"], num_cells=int(flags["child_num_cells"]),
                          source=script)
    config = dict(num_layers=int(flags["child_num_layers"]),
                  out_filters=int(flags["child_out_filters"]),
                  num_cells=int(flags["child_num_cells"]),
                  num_branches=int(flags["child_num_branches"]),
                  keep_prob=float(flags["child_keep_prob"]),
                  drop_path_keep_prob=float(flags["child_drop_path_keep_prob"]),
                  use_aux_heads="child_use_aux_heads" in flags, fixed_arc=arc)
    config.update(overrides)
    return MicroChild(**config)


def macro_final_child(script: str = "cifar10_macro_final.sh", **overrides) -> GeneralChild:
    flags = read_script_flags(SCRIPTS / script)
    num_layers = int(flags["child_num_layers"])
    arc = parse_macro_arc(flags["child_fixed_arc"], num_layers=num_layers,
                          num_ops=int(flags["child_num_branches"]), source=script)
    config = dict(num_layers=num_layers, out_filters=int(flags["child_out_filters"]),
                  num_branches=int(flags["child_num_branches"]),
                  keep_prob=float(flags["child_keep_prob"]), fixed_arc=list(arc.ints))
    config.update(overrides)
    return GeneralChild(**config)


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

"""NAO-WS's declarations for the harness: the parameters of NAONet-WS as train_final.sh trains it
(15 + 2 cells, 36 filters), built by train.py from the script's own flags and counted without the
aux head (the README's 2.5M; the original's "Model has N params" line counted the aux head too),
and the network for the tests and benchmarks."""
from pathlib import Path

import train
from calculate_params import count_child_params
from model import build_child
from nasrepro.complexity.tf_count import count_params
from nasrepro.shell_flags import script_argv
from nasrepro.static_checks import StaticMeasurement, paper_network, static_check
from nasrepro.tf.startup import import_tensorflow

HERE = Path(__file__).resolve().parent
FINAL_SCRIPT = "train_final.sh"


def script_args(*extra_flags: str):
    return train.build_parser().parse_args([*script_argv(HERE / FINAL_SCRIPT), *extra_flags])


def final_child(*extra_flags: str):
    """NAONet-WS as train_final.sh trains it (extra flags appended, as "$@" is)."""
    return build_child(script_args(*extra_flags))


def _half_way(child, images):
    # Training as train_final.sh runs it half-way (dropout, drop path at half its ramp).
    tf = import_tensorflow()
    return child(images, training=True, generator=tf.random.Generator.from_seed(0),
                 drop_path_progress=tf.constant(0.5))


paper_network("naows-final", "tf", final_child, _half_way, tiny_input=(2, 32, 32, 3),
              classes=10, params_claim="static-naows-final-params", params_exclude=("aux_head",),
              description="NAONet-WS, train_final.sh (15+2 cells, 36 filters, aux head)")


@static_check("static-naows-final-params")
def final_params() -> StaticMeasurement:
    args = script_args()
    count = count_params(final_child(), exclude=("aux_head",))
    by_hand = count_child_params(args.child_fixed_arc, args.child_num_layers,
                                 args.child_out_filters)["main"]
    if count != by_hand:
        raise AssertionError(f"built network {count:,} parameters, hand formula {by_hand:,}")
    return StaticMeasurement(exact=count, value=count / 1e6,
                             details=f"{FINAL_SCRIPT}: 15+2 cells, 36 filters, aux head not "
                                     "counted; equal to calculate_params.py's hand count")

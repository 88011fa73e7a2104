"""NAO's declarations for the harness: the parameters of NAONet as train_cifar10_final.sh trains
it (N=6, 128 filters, CIFAR-10), built by train_cifar.py's network from the script's own flags
and counted without the aux head, which only exists in training. The paper's 128M is not
verified; the count here is what the original code builds (pinned against it in
tests/test_nao_cnn_params.py), and NAO/README.md explains the difference."""
from pathlib import Path

import train_cifar
from calculate_params import count_params_by_hand
from dag import build_dag
from model import Network
from nasrepro.complexity.tf_count import count_params
from nasrepro.shell_flags import script_argv
from nasrepro.static_checks import StaticMeasurement, static_check

HERE = Path(__file__).resolve().parent
FINAL_SCRIPT = "train_cifar10_final.sh"


def script_args(*extra_flags: str):
    return train_cifar.build_parser().parse_args([*script_argv(HERE / FINAL_SCRIPT),
                                                  *extra_flags])


def final_network(*extra_flags: str) -> Network:
    """NAONet as train_cifar10_final.sh builds it (extra flags appended, as "$@" is)."""
    args = script_args(*extra_flags)
    return Network(build_dag(args.arch), args.N, args.filters,
                   train_cifar.NUM_CLASSES[args.dataset], args.stem_multiplier,
                   args.use_aux_head)


@static_check("static-nao-final-params")
def final_params() -> StaticMeasurement:
    args = script_args()
    count = count_params(final_network(), exclude=("aux_head",))
    by_hand = count_params_by_hand(build_dag(args.arch), args.N, args.filters,
                                   train_cifar.NUM_CLASSES[args.dataset], args.stem_multiplier,
                                   args.use_aux_head)["main"]
    if count != by_hand:
        raise AssertionError(f"built network {count:,} parameters, hand formula {by_hand:,}")
    return StaticMeasurement(exact=count, value=count / 1e6,
                             details=f"{FINAL_SCRIPT}: NAONet, N=6, 128 filters, aux head not "
                                     "counted; equal to calculate_params.py's hand count and "
                                     "to the original model.py's")

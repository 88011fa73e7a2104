"""ENAS on CIFAR-10/100: micro (cell) or macro (whole-network) search, or training a fixed
architecture (`--child_fixed_arc`). Flags and defaults are the original's (melodyguan/enas,
src/cifar10/main.py: absl flags, as tf.app.flags was), plus --dataset from the CIFAR-100 fork
and a few marked "new"."""
import functools
import sys
from pathlib import Path

try:
    from nasrepro.project_python import ensure_project_python
except ModuleNotFoundError:  # an interpreter without the project: take it from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from nasrepro.project_python import ensure_project_python
ensure_project_python(__file__, needs=("tensorflow", "absl"))

from absl import app, flags

import nasrepro.tf  # noqa: F401  TensorFlow without its start-up notices, before ENAS's files
from nasrepro.errors import NasreproError
from nasrepro.paper_modules import load_paper_module

ENAS_DIR = Path(__file__).resolve().parents[2]


def define_flags(fv: flags.FlagValues) -> None:
    """Every flag of the original, with its default, and the new ones, on `fv`."""
    boolean = functools.partial(flags.DEFINE_boolean, flag_values=fv)
    string = functools.partial(flags.DEFINE_string, flag_values=fv)
    integer = functools.partial(flags.DEFINE_integer, flag_values=fv)
    float_ = functools.partial(flags.DEFINE_float, flag_values=fv)

    boolean("reset_output_dir", False, "Delete output_dir if exists.")
    string("data_path", "", "Folder with the CIFAR python batches")
    string("output_dir", "", "Log, checkpoints, results")
    string("data_format", "NHWC", "'NHWC' or 'NCHW' (computation is NHWC; see README)")
    string("search_for", None, "Must be 'micro' or 'macro'")
    string("dataset", "CIFAR10", "CIFAR10 or CIFAR100 (from the CIFAR-100 fork)")

    integer("batch_size", 32, "")
    integer("num_epochs", 300, "")
    integer("child_lr_dec_every", 100, "")
    integer("child_num_layers", 5, "")
    integer("child_num_cells", 5, "")
    integer("child_filter_size", 5, "Unused, as in the original")
    integer("child_out_filters", 48, "")
    integer("child_out_filters_scale", 1, "")
    integer("child_num_branches", 4, "")
    integer("child_num_aggregate", None, "Unused (child sync replicas are off)")
    integer("child_num_replicas", 1, "Unused (child sync replicas are off)")
    integer("child_block_size", 3, "Unused, as in the original")
    integer("child_lr_T_0", None, "for lr schedule")
    integer("child_lr_T_mul", None, "for lr schedule")
    integer("child_cutout_size", None, "CutOut size")
    float_("child_grad_bound", 5.0, "Gradient clipping")
    float_("child_lr", 0.1, "")
    float_("child_lr_dec_rate", 0.1, "")
    float_("child_keep_prob", 0.5, "")
    float_("child_drop_path_keep_prob", 1.0, "minimum drop_path_keep_prob")
    float_("child_l2_reg", 1e-4, "")
    float_("child_lr_max", None, "for lr schedule")
    float_("child_lr_min", None, "for lr schedule")
    string("child_skip_pattern", None, "Unused, as in the original")
    string("child_fixed_arc", None, "")
    boolean("child_use_aux_heads", False, "Should we use an aux head")
    boolean("child_sync_replicas", False, "Unused (no replicas)")
    boolean("child_lr_cosine", False, "Use cosine lr schedule")

    float_("controller_lr", 1e-3, "")
    float_("controller_lr_dec_rate", 1.0, "Unused, as in the original")
    float_("controller_keep_prob", 0.5, "Unused, as in the original")
    float_("controller_l2_reg", 0.0, "")
    float_("controller_bl_dec", 0.99, "")
    float_("controller_tanh_constant", None, "")
    float_("controller_op_tanh_reduce", 1.0, "")
    float_("controller_temperature", None, "")
    float_("controller_entropy_weight", None, "")
    float_("controller_skip_target", 0.8, "")
    float_("controller_skip_weight", 0.0, "")
    integer("controller_num_aggregate", 1, "")
    integer("controller_num_replicas", 1, "")
    integer("controller_train_steps", 50, "")
    integer("controller_forwards_limit", 2, "Unused, as in the original")
    integer("controller_train_every", 2, "train the controller after this number of epochs")
    boolean("controller_search_whole_channels", False, "")
    boolean("controller_sync_replicas", False, "To sync or not to sync.")
    boolean("controller_training", True, "")
    boolean("controller_use_critic", False, "Unused, as in the original")

    integer("log_every", 50, "How many steps to log")
    integer("eval_every_epochs", 1, "How many epochs to eval")

    # Passed by the original macro scripts but never defined there (TF1 ignored it); accepted
    # so the scripts run unchanged, and unused.
    integer("child_num_cell_layers", None, "Unused: passed by the macro scripts only")

    # New flags (not in the original).
    integer("num_valids", None, "new: validation images taken from the end of the "
            "training set; default as the original: 5000 when searching, 0 otherwise")
    integer("num_train_images", None, "new: train on only the first N training "
            "images (after the validation split); default all. For quick runs")
    integer("seed", None, "new: seed of weights, data order and sampling (default: "
            "random, as the original); a resumed run keeps its first seed")
    boolean("deterministic", False, "new: deterministic TF kernels (slower)")
    integer("num_sample_arcs", 10, "new: architectures sampled and printed after each "
            "controller phase (the original printed 10)")
    # Corrections of the original's bugs (README "Deviations and bugs"); off = original behaviour.
    boolean("child_clip_gradients", False, "new (bug B1): actually clip each gradient "
            "to child_grad_bound; the original computed the clip and discarded it")
    boolean("child_train_aux_head", False, "new (bug B4): train the aux head's own "
            "weights; the original left them at their initial values")
    boolean("child_search_eval_inference", False, "new (bug B6): micro search "
            "evaluates (valid, test, reward) in inference mode; the original used "
            "training-mode batch norm and dropout there")
    boolean("child_fixed_separable", False, "new (bug B5): macro fixed-arc ops 1 and 3 "
            "are separable convs; the original built ordinary convs")


def parse_flag_values(argv: list) -> dict:
    """{flag: value} of main.py given `argv` (e.g. a shell script's arguments), parsed with a
    FlagValues of its own: static checks and benchmarks build what the scripts configure."""
    fv = flags.FlagValues()
    define_flags(fv)
    fv(["main.py", *argv])
    return {name: fv[name].value for name in fv}


FLAGS = flags.FLAGS
_ABSL_FLAGS = set(FLAGS)  # absl's own flags, not printed or stored
define_flags(FLAGS)
USER_FLAGS = sorted(set(FLAGS) - _ABSL_FLAGS)


def main(_):
    trainer = load_paper_module(ENAS_DIR, "src.cifar10.trainer")
    try:
        trainer.run({name: FLAGS[name].value for name in USER_FLAGS})
    except NasreproError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    app.run(main)

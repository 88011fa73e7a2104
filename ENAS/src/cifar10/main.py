"""ENAS on CIFAR-10/100: micro (cell) or macro (whole-network) search, or training a fixed
architecture (`--child_fixed_arc`). Flags and defaults are the original's (absl flags, as
tf.app.flags was), plus --dataset from the CIFAR-100 fork and a few marked "new"."""
import os
import sys

# TensorFlow's C++ start-up notices (CPU features, oneDNN) are not part of the ENAS log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

# Run as `python src/cifar10/main.py` with PYTHONPATH=$(pwd), as the original scripts do.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

FLAGS = flags.FLAGS
_ABSL_FLAGS = set(FLAGS)  # absl's own flags, not printed or stored

flags.DEFINE_boolean("reset_output_dir", False, "Delete output_dir if exists.")
flags.DEFINE_string("data_path", "", "Folder with the CIFAR python batches")
flags.DEFINE_string("output_dir", "", "Log, checkpoints, results")
flags.DEFINE_string("data_format", "NHWC", "'NHWC' or 'NCHW' (computation is NHWC; see README)")
flags.DEFINE_string("search_for", None, "Must be 'micro' or 'macro'")
flags.DEFINE_string("dataset", "CIFAR10", "CIFAR10 or CIFAR100 (from the CIFAR-100 fork)")

flags.DEFINE_integer("batch_size", 32, "")
flags.DEFINE_integer("num_epochs", 300, "")
flags.DEFINE_integer("child_lr_dec_every", 100, "")
flags.DEFINE_integer("child_num_layers", 5, "")
flags.DEFINE_integer("child_num_cells", 5, "")
flags.DEFINE_integer("child_filter_size", 5, "Unused, as in the original")
flags.DEFINE_integer("child_out_filters", 48, "")
flags.DEFINE_integer("child_out_filters_scale", 1, "")
flags.DEFINE_integer("child_num_branches", 4, "")
flags.DEFINE_integer("child_num_aggregate", None, "Unused (child sync replicas are off)")
flags.DEFINE_integer("child_num_replicas", 1, "Unused (child sync replicas are off)")
flags.DEFINE_integer("child_block_size", 3, "Unused, as in the original")
flags.DEFINE_integer("child_lr_T_0", None, "for lr schedule")
flags.DEFINE_integer("child_lr_T_mul", None, "for lr schedule")
flags.DEFINE_integer("child_cutout_size", None, "CutOut size")
flags.DEFINE_float("child_grad_bound", 5.0, "Gradient clipping")
flags.DEFINE_float("child_lr", 0.1, "")
flags.DEFINE_float("child_lr_dec_rate", 0.1, "")
flags.DEFINE_float("child_keep_prob", 0.5, "")
flags.DEFINE_float("child_drop_path_keep_prob", 1.0, "minimum drop_path_keep_prob")
flags.DEFINE_float("child_l2_reg", 1e-4, "")
flags.DEFINE_float("child_lr_max", None, "for lr schedule")
flags.DEFINE_float("child_lr_min", None, "for lr schedule")
flags.DEFINE_string("child_skip_pattern", None, "Unused, as in the original")
flags.DEFINE_string("child_fixed_arc", None, "")
flags.DEFINE_boolean("child_use_aux_heads", False, "Should we use an aux head")
flags.DEFINE_boolean("child_sync_replicas", False, "Unused (no replicas)")
flags.DEFINE_boolean("child_lr_cosine", False, "Use cosine lr schedule")

flags.DEFINE_float("controller_lr", 1e-3, "")
flags.DEFINE_float("controller_lr_dec_rate", 1.0, "Unused, as in the original")
flags.DEFINE_float("controller_keep_prob", 0.5, "Unused, as in the original")
flags.DEFINE_float("controller_l2_reg", 0.0, "")
flags.DEFINE_float("controller_bl_dec", 0.99, "")
flags.DEFINE_float("controller_tanh_constant", None, "")
flags.DEFINE_float("controller_op_tanh_reduce", 1.0, "")
flags.DEFINE_float("controller_temperature", None, "")
flags.DEFINE_float("controller_entropy_weight", None, "")
flags.DEFINE_float("controller_skip_target", 0.8, "")
flags.DEFINE_float("controller_skip_weight", 0.0, "")
flags.DEFINE_integer("controller_num_aggregate", 1, "")
flags.DEFINE_integer("controller_num_replicas", 1, "")
flags.DEFINE_integer("controller_train_steps", 50, "")
flags.DEFINE_integer("controller_forwards_limit", 2, "Unused, as in the original")
flags.DEFINE_integer("controller_train_every", 2, "train the controller after this number of epochs")
flags.DEFINE_boolean("controller_search_whole_channels", False, "")
flags.DEFINE_boolean("controller_sync_replicas", False, "To sync or not to sync.")
flags.DEFINE_boolean("controller_training", True, "")
flags.DEFINE_boolean("controller_use_critic", False, "Unused, as in the original")

flags.DEFINE_integer("log_every", 50, "How many steps to log")
flags.DEFINE_integer("eval_every_epochs", 1, "How many epochs to eval")

# Passed by the original macro scripts but never defined there (TF1 ignored it); accepted so the
# scripts run unchanged, and unused.
flags.DEFINE_integer("child_num_cell_layers", None, "Unused: passed by the macro scripts only")

# New flags (not in the original).
flags.DEFINE_integer("num_valids", None, "new: validation images taken from the end of the "
                     "training set; default as the original: 5000 when searching, 0 otherwise")
flags.DEFINE_integer("num_train_images", None, "new: train on only the first N training "
                     "images (after the validation split); default all. For quick runs")
flags.DEFINE_integer("seed", None, "new: seed of weights, data order and sampling (default: "
                     "random, as the original); a resumed run keeps its first seed")
flags.DEFINE_boolean("deterministic", False, "new: deterministic TF kernels (slower)")
flags.DEFINE_integer("num_sample_arcs", 10, "new: architectures sampled and printed after each "
                     "controller phase (the original printed 10)")
# Corrections of the original's bugs (README "Deviations and bugs"); off = original behaviour.
flags.DEFINE_boolean("child_clip_gradients", False, "new (bug B1): actually clip each gradient "
                     "to child_grad_bound; the original computed the clip and discarded it")
flags.DEFINE_boolean("child_train_aux_head", False, "new (bug B4): train the aux head's own "
                     "weights; the original left them at their initial values")
flags.DEFINE_boolean("child_search_eval_inference", False, "new (bug B6): micro search "
                     "evaluates (valid, test, reward) in inference mode; the original used "
                     "training-mode batch norm and dropout there")
flags.DEFINE_boolean("child_fixed_separable", False, "new (bug B5): macro fixed-arc ops 1 and 3 "
                     "are separable convs; the original built ordinary convs")


USER_FLAGS = sorted(set(FLAGS) - _ABSL_FLAGS)


def main(_):
    from nasrepro.errors import NasreproError
    from src.cifar10.trainer import run

    try:
        run({name: FLAGS[name].value for name in USER_FLAGS})
    except NasreproError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    app.run(main)

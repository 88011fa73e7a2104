"""The child network's flags, which train.py and train_search.py share (renqianluo/NAO
NAO-WS/cnn/train.py and train_search.py declare the same list; defaults are the original's), and
their checks. New flags are marked "new"."""
import argparse

from nasrepro.errors import ConfigError, check_positive, check_probability


def add_child_flags(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    a("--mode", default="train", choices=("train", "test"))
    a("--data_path", default="/tmp/cifar10_data", help="folder with CIFAR-10's python batches")
    a("--output_dir", default="models")
    a("--child_data_format", default="NHWC", help="NHWC or NCHW (computed in NHWC; README)")
    a("--child_batch_size", type=int, default=128)
    a("--child_eval_batch_size", type=int, default=128)
    a("--child_num_epochs", type=int, default=150)
    a("--child_lr_dec_every", type=int, default=100)
    a("--child_num_layers", type=int, default=5)
    a("--child_num_cells", type=int, default=5)
    a("--child_out_filters", type=int, default=20)
    a("--child_out_filters_scale", type=int, default=1, help="unused, as in the original")
    a("--child_num_branches", type=int, default=5, help="unused, as in the original")
    a("--child_num_aggregate", type=int, default=None, help="unused, as in the original")
    a("--child_num_replicas", type=int, default=None, help="unused, as in the original")
    a("--child_lr_T_0", type=int, default=None)
    a("--child_lr_T_mul", type=int, default=None)
    a("--child_cutout_size", type=int, default=None)
    a("--child_grad_bound", type=float, default=5.0)
    a("--child_lr", type=float, default=0.1)
    a("--child_lr_dec_rate", type=float, default=0.1)
    a("--child_lr_max", type=float, default=None)
    a("--child_lr_min", type=float, default=None)
    a("--child_keep_prob", type=float, default=0.5)
    a("--child_drop_path_keep_prob", type=float, default=1.0)
    a("--child_l2_reg", type=float, default=1e-4)
    a("--child_fixed_arc", default=None)
    a("--child_use_aux_heads", action="store_true")
    a("--child_sync_replicas", action="store_true", help="unused, as in the original")
    a("--child_lr_cosine", action="store_true")
    a("--child_clip_gradients", action="store_true",
      help="new: apply the per-tensor clipping to --child_grad_bound the original computed "
           "but did not apply")
    a("--num_train_images", type=int, default=None,
      help="new: train on the first N training images (the small profiles)")
    a("--seed", type=int, default=None, help="new: seed of weights, data order, augmentation")


def check_child_args(args) -> None:
    check_positive(args, "child_batch_size", "child_eval_batch_size", "child_num_epochs",
                   "child_num_layers", "child_num_cells", "child_out_filters",
                   expected="a positive integer")
    check_probability(args, "child_keep_prob", "child_drop_path_keep_prob")
    if args.child_lr_cosine and None in (args.child_lr_max, args.child_lr_min, args.child_lr_T_0,
                                         args.child_lr_T_mul):
        raise ConfigError("--child_lr_cosine needs --child_lr_max, --child_lr_min, "
                          "--child_lr_T_0 and --child_lr_T_mul")
    if args.child_data_format not in ("NHWC", "NCHW"):
        raise ConfigError(f"--child_data_format={args.child_data_format}: expected NHWC or "
                          "NCHW")
    if args.child_cutout_size is not None and args.child_cutout_size < 1:
        raise ConfigError(f"--child_cutout_size={args.child_cutout_size}: expected a positive "
                          "integer (leave it out for no cutout)")

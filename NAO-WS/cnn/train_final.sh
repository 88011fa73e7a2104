#!/bin/bash
# Trains NAONet-WS from scratch on CIFAR-10 (renqianluo/NAO NAO-WS/cnn/train_final.sh,
# original values; no cutout: add --child_cutout_size=16 for cutout, as its README says).

source "$(dirname "${BASH_SOURCE[0]}")/../../nasrepro/shell/project_python.sh" tensorflow

fixed_arc="0 1 0 4 2 2 1 3 1 0 2 0 2 3 1 3 1 2 0 4"
fixed_arc="$fixed_arc 1 1 0 3 2 3 2 3 1 0 0 1 0 4 2 4 2 3 2 3"

"$PYTHON" train.py \
  --data_path="data/cifar10" \
  --output_dir="models" \
  --child_data_format="NCHW" \
  --child_batch_size=144 \
  --child_num_epochs=630 \
  --child_eval_every_epochs=1 \
  --child_fixed_arc="${fixed_arc}" \
  --child_use_aux_heads \
  --child_num_layers=15 \
  --child_out_filters=36 \
  --child_num_branches=5 \
  --child_num_cells=5 \
  --child_keep_prob=0.80 \
  --child_drop_path_keep_prob=0.60 \
  --child_l2_reg=2e-4 \
  --child_lr_cosine \
  --child_lr_max=0.05 \
  --child_lr_min=0.0001 \
  --child_lr_T_0=10 \
  --child_lr_T_mul=2 \
  "$@"

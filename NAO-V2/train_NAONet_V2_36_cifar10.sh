#!/bin/bash
# Trains NAONet-V2 with 36 channels (NAONet-V2-36) on CIFAR-10 (original values).
source "$(dirname "${BASH_SOURCE[0]}")/../nasrepro/shell/project_python.sh" torch torchvision
command -v nvidia-smi > /dev/null && nvidia-smi
MODEL=NAONet_V2_36_cifar10
OUTPUT_DIR=exp/$MODEL
DATA_DIR=data

fixed_arc="1 1 0 1 2 4 0 0 0 0 2 1 0 0 0 2 0 3 0 0 0 2 0 2 2 2 1 0 0 0 0 1 0 0 0 3 0 0 0 1"

"$PYTHON" train_cifar.py \
  --data=$DATA_DIR \
  --output_dir=$OUTPUT_DIR \
  --arch="$fixed_arc" \
  --use_aux_head \
  --cutout_size=16 \
  "$@"

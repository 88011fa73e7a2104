#!/bin/bash
# Trains NAONet-V2 on ImageNet on one GPU (original values). For N GPUs use
# train_NAONet_V2_imagenet_4cards.sh (NPROC=N), which applies batch 128*N and lr 0.1*N.
source "$(dirname "${BASH_SOURCE[0]}")/../nasrepro/shell/project_python.sh" torch torchvision
command -v nvidia-smi > /dev/null && nvidia-smi
MODEL=NAONet_V2_imagenet
OUTPUT_DIR=exp/$MODEL
DATA_DIR=imagenet/raw-data

fixed_arc="1 1 0 1 2 4 0 0 0 0 2 1 0 0 0 2 0 3 0 0 0 2 0 2 2 2 1 0 0 0 0 1 0 0 0 3 0 0 0 1"

"$PYTHON" train_imagenet.py \
  --data=$DATA_DIR \
  --output_dir=$OUTPUT_DIR \
  --batch_size=128 \
  --arch="$fixed_arc" \
  --use_aux_head \
  --channels=52 \
  --lr=0.1 \
  "$@"

#!/bin/bash
# Trains NAONet (N=6, F=128) on CIFAR-10 on 2 GPUs
# (renqianluo/NAO NAO/cnn/train_cifar10_final.sh, original values; extra flags are appended).
set -o pipefail
# Paths (data/, models/, logs/) are relative to the current folder, as in the original.
here="$(dirname "${BASH_SOURCE[0]}")"
source "$here/../../nasrepro/shell/project_python.sh" tensorflow

MODEL=cifar10
MODEL_DIR=models/$MODEL
LOG_DIR=logs
DATA_DIR=data

mkdir -p $MODEL_DIR
mkdir -p $LOG_DIR

"$PYTHON" "$here/train_cifar.py" \
  --data_dir=$DATA_DIR \
  --dataset=cifar10 \
  --model_dir=$MODEL_DIR \
  --train_epochs=600 \
  --N=6 \
  --filters=128 \
  --num_nodes=5 \
  --drop_path_keep_prob=0.7 \
  --dense_dropout_keep_prob=0.6 \
  --batch_size=128 \
  --epochs_per_eval=1 \
  --lr_max=0.024 \
  --lr_min=0.0 \
  --T_0=600 \
  --T_mul=1 \
  --arch="NAONet" \
  --use_aux_head \
  --num_gpus=2 \
  --cutout_size=16 \
  --lr_schedule=cosine \
  "$@" 2>&1 | tee -a $LOG_DIR/train.$MODEL.log

#!/bin/bash
# Trains NAONet-V2 on ImageNet with 4 processes, one per GPU (original: batch 512, lr 0.4).
# NPROC=N runs N processes with the README's rule, batch 128*N and lr 0.1*N. torchrun +
# DistributedDataParallel replace the original's nn.DataParallel; without GPUs the same code
# runs on the CPU with the gloo backend.
source "$(dirname "${BASH_SOURCE[0]}")/../nasrepro/shell/project_python.sh" torch torchvision
command -v nvidia-smi > /dev/null && nvidia-smi
MODEL=NAONet_V2_imagenet
OUTPUT_DIR=exp/$MODEL
DATA_DIR=imagenet/raw-data
NPROC=${NPROC:-4}
case "$NPROC" in
  ''|*[!0-9]*|0) echo "NPROC=$NPROC: expected a positive number of processes" >&2; exit 2 ;;
esac
export NPROC  # the preflight checks that every process has a GPU
BATCH_SIZE=$((128 * NPROC))
LR=$(awk -v n="$NPROC" 'BEGIN { print 0.1 * n }')

fixed_arc="1 1 0 1 2 4 0 0 0 0 2 1 0 0 0 2 0 3 0 0 0 2 0 2 2 2 1 0 0 0 0 1 0 0 0 3 0 0 0 1"

ARGS=(--data=$DATA_DIR --output_dir=$OUTPUT_DIR --batch_size=$BATCH_SIZE --arch="$fixed_arc" \
      --use_aux_head --channels=52 --lr=$LR "$@")

# Flags, data and the number of GPUs are checked once, before the processes start.
"$PYTHON" train_imagenet.py --preflight "${ARGS[@]}" || exit $?
"$PYTHON" -m torch.distributed.run --standalone --nproc_per_node=$NPROC train_imagenet.py "${ARGS[@]}"

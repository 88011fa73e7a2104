#!/bin/bash
# The NAO-V2 search on CIFAR-10 with every train_search.py default (original values).
# The log goes to $OUTPUT_DIR/train.log (written by train_search.py itself).
source "$(dirname "${BASH_SOURCE[0]}")/../nasrepro/shell/project_python.sh" torch torchvision
MODEL=search_cifar10
OUTPUT_DIR=exp/$MODEL
DATA_DIR=data

"$PYTHON" train_search.py --data=$DATA_DIR --output_dir=$OUTPUT_DIR "$@"

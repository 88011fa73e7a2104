#!/bin/bash
# The NAO-V2 search on CIFAR-10 with every train_search.py default (original values).
# The log goes to $OUTPUT_DIR/train.log (written by train_search.py itself).
MODEL=search_cifar10
OUTPUT_DIR=exp/$MODEL
DATA_DIR=data

python train_search.py --data=$DATA_DIR --output_dir=$OUTPUT_DIR "$@"

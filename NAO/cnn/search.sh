#!/bin/bash
# The NAO search without weight sharing as one resumable run (new: the original is the manual
# pipeline of renqianluo/NAO NAO/README.md). Each candidate is trained with
# train_cifar10_search.sh's flags and the encoder-predictor-decoder with epd/train.sh's; the
# values below are the README's (1,000 seeds as in the authors' data, 3 iterations, top 100,
# step sizes 10, 20, 30). Extra flags are appended.
set -o pipefail
# Paths (data/, models/, logs/) are relative to the current folder, as in the original.
here="$(dirname "${BASH_SOURCE[0]}")"
source "$here/../../nasrepro/shell/project_python.sh" tensorflow

MODEL=search
LOG_DIR=logs
mkdir -p $LOG_DIR

"$PYTHON" "$here/search.py" \
  --data_dir=data \
  --output_dir=models/$MODEL \
  --num_seed_archs=1000 \
  --iterations=3 \
  --top_archs=100 \
  --predict_lambdas=10,20,30 \
  "$@" 2>&1 | tee -a $LOG_DIR/train.$MODEL.log

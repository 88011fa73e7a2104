#!/bin/bash
# Generates architectures from data/$SETTING/top100 with the EPD of models/$SETTING (renqianluo/NAO
# NAO/cnn/epd/generate.sh, original values): bash generate.sh LAMBDA [extra flags]
# Fixed: the original lacked the backslash after --predict_lambda (so --predict_from_file and
# --predict_to_file were never passed) and read --model_dir=models while train.sh writes
# models/$SETTING; here both use SETTING (default 0iter).

# Paths (data/, models/, logs/) are relative to the current folder, as in the original.
here="$(dirname "${BASH_SOURCE[0]}")"
source "$here/../../../nasrepro/shell/project_python.sh" tensorflow

SETTING=${SETTING:-0iter}
MODEL_DIR=models/$SETTING
LOG_DIR=logs
DATA_DIR=data/$SETTING
LAMBDA=$1
if [ -z "$LAMBDA" ]; then
  echo "generate.sh: usage: bash generate.sh LAMBDA [extra main.py flags]" >&2
  exit 2
fi
mkdir -p $MODEL_DIR
mkdir -p $LOG_DIR

set -o pipefail
"$PYTHON" "$here/main.py" \
  --mode=predict \
  --data_dir=$DATA_DIR \
  --model_dir=$MODEL_DIR \
  --batch_size=50 \
  --time_major \
  --attention \
  --predict_lambda=$LAMBDA \
  --predict_from_file=$DATA_DIR/top100 \
  --predict_to_file=$DATA_DIR/top100.lambda$LAMBDA \
  "${@:2}" 2>&1 | tee $LOG_DIR/train.log

#!/bin/bash
# Trains the encoder-predictor-decoder on data/$SETTING (renqianluo/NAO NAO/cnn/epd/train.sh,
# original values). Extra flags are appended: bash train.sh --train_epochs=2 --eval_frequency=1

# Paths (data/, models/, logs/) are relative to the current folder, as in the original.
here="$(dirname "${BASH_SOURCE[0]}")"
source "$here/../../../nasrepro/shell/project_python.sh" tensorflow

SETTING=${SETTING:-0iter}
MODEL_DIR=models/$SETTING
LOG_DIR=logs
DATA_DIR=data/$SETTING
mkdir -p $MODEL_DIR
mkdir -p $LOG_DIR

set -o pipefail
"$PYTHON" "$here/main.py" \
  --mode=train \
  --data_dir=$DATA_DIR \
  --model_dir=$MODEL_DIR \
  --encoder_num_layers=1 \
  --encoder_emb_size=32 \
  --encoder_hidden_size=96 \
  --mlp_num_layers=0 \
  --mlp_hidden_size=100 \
  --decoder_num_layers=1 \
  --decoder_hidden_size=96 \
  --source_length=60 \
  --encoder_length=20 \
  --decoder_length=60 \
  --encoder_vocab_size=21 \
  --decoder_vocab_size=21 \
  --encoder_dropout=0.1 \
  --decoder_dropout=0 \
  --train_epochs=1000 \
  --eval_frequency=10 \
  --batch_size=50 \
  --trade_off=0.8 \
  --time_major \
  --optimizer=adam \
  --attention \
  --lr=0.001 \
  "$@" 2>&1 | tee $LOG_DIR/train.$SETTING.log

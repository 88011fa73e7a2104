#!/bin/bash
# Tests the newest checkpoint of train_final.sh's run (renqianluo/NAO NAO-WS/cnn/test_final.sh ran
# test.py with train_final.sh's flag list): train_final.sh's flags, in test mode (train.py
# --mode=test is what test.py runs), so the network rebuilt before the restore is the same.

exec bash "$(dirname "${BASH_SOURCE[0]}")/train_final.sh" --mode=test "$@"

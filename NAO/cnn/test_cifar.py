"""NAO: restores the newest checkpoint in --model_dir and reports its test accuracy
(renqianluo/NAO NAO/cnn/test_cifar.py at e07be44). It takes train_cifar.py's flags, as the test
scripts pass them (the original's parser lacked the learning-rate ones test_cifar10.sh passes);
the architecture comes from --arch. Writes test_result.json beside the checkpoint."""
import sys
from pathlib import Path

try:
    from nasrepro.project_python import ensure_project_python
except ModuleNotFoundError:  # an interpreter without the project: take it from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from nasrepro.project_python import ensure_project_python
ensure_project_python(__file__, needs=("tensorflow",))

import train_cifar

if __name__ == "__main__":
    sys.exit(train_cifar.main(mode="test"))

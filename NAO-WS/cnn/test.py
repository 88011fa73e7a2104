"""NAO-WS: the test accuracy of the newest checkpoint in --output_dir (renqianluo/NAO
NAO-WS/cnn/test.py), with train.py's flags: test_final.sh passes train_final.sh's values."""
import sys
from pathlib import Path

try:
    from nasrepro.project_python import ensure_project_python
except ModuleNotFoundError:  # an interpreter without the project: take it from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from nasrepro.project_python import ensure_project_python
ensure_project_python(__file__, needs=("tensorflow",))

import train

if __name__ == "__main__":
    sys.exit(train.main(mode="test"))

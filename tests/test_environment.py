"""The installed environment: pinned versions and frameworks that load together."""
import os
import subprocess
import sys
import tomllib

from nasrepro.environment import REPO_ROOT


def test_torch_pins_match_the_machine_wheels():
    deps = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.14.1" in deps and "torchvision==0.29.1" in deps
    import torch
    import torchvision
    assert torch.__version__.split("+")[0] == "2.14.1"
    assert torchvision.__version__.split("+")[0] == "0.29.1"


def test_tensorflow_then_torchvision_load_in_one_process():
    # triton (a torch dependency) segfaults when loaded after TensorFlow; setup removes it.
    code = "import tensorflow as tf, torchvision, torch; print(tf.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().startswith("2.21")


def test_tensorflow_imports_without_its_start_up_notices():
    # TensorFlow 2.21 prints an absl and a oneDNN notice on import whatever
    # TF_CPP_MIN_LOG_LEVEL says; nasrepro.tf filters exactly those, so logs and the verifier's
    # table start with what the scripts print; stderr itself stays in use ("kept").
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-c", "import nasrepro.tf, sys; "
                            "sys.stderr.write('kept\\n')"], capture_output=True, text=True,
                           timeout=300, env=env)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert quiet.stderr == "kept\n"

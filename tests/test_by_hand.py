"""The paper scripts as users run them by hand after `make setup`, with nothing activated:
the end-to-end tests of every system run their scripts in that environment (tests/by_hand.py);
here, that the environment really lacks the project, that a Python entry point run with that
`python` finds the repository's interpreter by itself, that an interpreter without the project
gets one line saying to run `make setup`, and that more processes than GPUs stop before
starting with both numbers."""
import subprocess

import pytest

from by_hand import bare_python_dir, by_hand_env
from nasrepro.environment import REPO_ROOT

FAILS_WITHOUT_THE_PROJECT = "import nasrepro, numpy, torch"


def run(argv, cwd, **env):
    return subprocess.run(argv, cwd=REPO_ROOT / cwd, env=by_hand_env(**env),
                          capture_output=True, text=True, timeout=300)


def test_python_on_the_by_hand_path_lacks_the_project():
    result = run(["python", "-c", FAILS_WITHOUT_THE_PROJECT], ".")
    assert result.returncode == 1 and "ModuleNotFoundError" in result.stderr


@pytest.mark.parametrize("folder, script", [("ASHA-DARTS", "experiment.py"),
                                            ("NAO-V2", "train_search.py"),
                                            ("NAO-V2", "train_imagenet.py"),
                                            ("ENAS", "src/cifar10/random_arc.py")])
def test_entry_points_run_with_any_python_find_the_project_interpreter(folder, script):
    result = run(["python", script, "--help"], folder)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout and "Traceback" not in result.stderr


def test_an_interpreter_without_the_project_gets_one_line_to_run_make_setup():
    bare = str(bare_python_dir() / "python")
    shell = run(["bash", "train_search_cifar10.sh"], "NAO-V2", PYTHON=bare)
    entry = run(["python", "experiment.py", "const.yaml"], "ASHA-DARTS", PYTHON=bare)
    for result, name in ((shell, "train_search_cifar10.sh"), (entry, "experiment.py")):
        assert result.returncode == 2
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"{name}: {bare} cannot import ")
        assert "torch" in line and "run `make setup` in" in line


def test_more_processes_than_gpus_stop_in_the_preflight_with_both_numbers(paper_module,
                                                                             monkeypatch,
                                                                             capsys):
    train_imagenet = paper_module("NAO-V2", "train_imagenet")
    monkeypatch.setattr(train_imagenet.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(train_imagenet.torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("NPROC", "4")
    monkeypatch.setenv("NASREPRO_PROFILE", "smoke")
    code = train_imagenet.main(["--preflight", "--batch_size=512", "--lr=0.4"])
    err = capsys.readouterr().err
    assert code == 2
    assert "NPROC=4 processes, but 2 GPU(s) are visible" in err
    assert "NPROC=2 --batch_size=512 --lr=0.4" in err
    monkeypatch.setenv("NPROC", "2")
    assert train_imagenet.main(["--preflight", "--batch_size=512", "--lr=0.4"]) == 0

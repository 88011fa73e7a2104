"""NAO-WS's CNN final training (NAO-WS/cnn): the hand parameter formula (calculate_params.py)
against the built child and against the count of renqianluo/NAO's own TF1 graph (built here
under tf.compat.v1 from NAO-WS/cnn/model.py at HEAD e07be44, outside the repository), and
train_final.sh / test_final.sh run by hand on the embedded data: the test script reproduces the
training run's test accuracy exactly from its checkpoint, a killed run resumes, a malformed
architecture is named by position."""
import csv
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from by_hand import by_hand_env
from nasrepro.archs.nao import random_arch
from nasrepro.complexity.tf_count import count_params
from nasrepro.data import embedded_path
from nasrepro.environment import REPO_ROOT
from nasrepro.runs.results import read_results

CNN = REPO_ROOT / "NAO-WS" / "cnn"
NAONET_WS = ("0 1 0 4 2 2 1 3 1 0 2 0 2 3 1 3 1 2 0 4 "
             "1 1 0 3 2 3 2 3 1 0 0 1 0 4 2 4 2 3 2 3")
ENAS_PUBLISHED = ("0 2 0 0 0 4 0 1 0 4 1 1 1 0 0 1 0 2 1 1 "
                  "1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1")
TINY = ["--child_num_layers=3", "--child_out_filters=4", "--child_batch_size=32",
        "--child_eval_batch_size=500", "--num_train_images=192", "--seed=3"]


@pytest.fixture(scope="module")
def naows(paper_module):
    return {name: paper_module("NAO-WS/cnn", name)
            for name in ("calculate_params", "model", "train", "static_checks")}


def test_naonet_ws_counts_equal_the_original_graphs(naows):
    # renqianluo/NAO's model.py built for train_final.sh: 2,942,668 trainable parameters,
    # 476,416 of them in the aux head.
    args = naows["static_checks"].script_args()
    child = naows["model"].build_child(args)
    assert count_params(child, exclude=("aux_head",)) == 2_466_252
    assert count_params(child) == 2_942_668
    by_hand = naows["calculate_params"].count_child_params(NAONET_WS, 15, 36, use_aux_heads=True)
    assert by_hand == {"main": 2_466_252, "aux_head": 476_416, "total": 2_942_668}


def _child(naows, arc, layers, filters, aux):
    args = naows["train"].build_parser().parse_args(
        [f"--child_fixed_arc={arc}", f"--child_num_layers={layers}",
         f"--child_out_filters={filters}"] + (["--child_use_aux_heads"] if aux else []))
    return naows["model"].build_child(args)


@pytest.mark.parametrize("seed", range(6))
def test_hand_formula_equals_the_built_child_for_random_architectures(naows, seed):
    rng = np.random.default_rng(seed)
    arc = str(random_arch(rng))
    layers, filters, aux = (3, 4, False) if seed % 2 else (6, 8, True)
    by_hand = naows["calculate_params"].count_child_params(arc, layers, filters,
                                                           use_aux_heads=aux)
    child = _child(naows, arc, layers, filters, aux)
    assert by_hand["main"] == count_params(child, exclude=("aux_head",))
    assert by_hand["total"] == count_params(child)


def test_hand_formula_also_counts_enas_published_cells(naows):
    # The same child as ENAS's micro final (tests/test_micro_child.py pins 3,894,372).
    assert naows["calculate_params"].count_child_params(
        ENAS_PUBLISHED, 15, 36, use_aux_heads=True) == \
        {"main": 3_894_372, "aux_head": 494_848, "total": 4_389_220}


def run_script(script, out, *flags, wait=True):
    env = by_hand_env(NASREPRO_PROFILE="smoke", NASREPRO_PROGRESS="0")
    argv = ["bash", script, f"--data_path={embedded_path('cifar10')}", f"--output_dir={out}",
            *TINY, *flags]
    if not wait:
        return subprocess.Popen(argv, cwd=CNN, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
    return subprocess.run(argv, cwd=CNN, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("naows") / "final"
    result = run_script("train_final.sh", out, "--child_num_epochs=2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def test_training_logs_the_original_lines_and_results(trained):
    log = (trained / "train.log").read_text()
    assert "Model has " in log and "Using aux_head at layer 4" in log
    assert log.count("test_accuracy: ") == 2 and log.rstrip().endswith("Training finished!")
    record = read_results(trained / "results.json")
    last = list(csv.DictReader(open(trained / "metrics.csv")))[-1]
    assert record["metrics"]["test_error_pct"] == pytest.approx(100 * (1 - float(last["test_acc"])))
    assert record["arch"] == NAONET_WS


def test_test_script_reproduces_the_final_accuracy_from_the_checkpoint(trained):
    result = run_script("test_final.sh", trained, "--child_num_epochs=2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    final = [line for line in (trained / "train.log").read_text().splitlines()
             if line.startswith("test_accuracy: ")][-1]
    tested = [line for line in (trained / "test.log").read_text().splitlines()
              if line.startswith("test_accuracy: ")][-1]
    assert tested == final


def test_killed_run_resumes_to_the_same_accuracy(trained, tmp_path):
    out = tmp_path / "killed"
    proc = run_script("train_final.sh", out, "--child_num_epochs=2", wait=False)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        # The epoch's checkpoint is written after its metrics row.
        if (out / "checkpoint").exists():
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    result = run_script("train_final.sh", out, "--child_num_epochs=2")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Resuming from" in (out / "train.log").read_text()
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    reference = list(csv.DictReader(open(trained / "metrics.csv")))
    for key in ("train_loss", "test_acc"):
        assert [r[key] for r in rows] == [r[key] for r in reference], key


def test_bad_architecture_and_missing_checkpoint_are_named(tmp_path):
    bad = run_script("train_final.sh", tmp_path / "bad", "--child_fixed_arc=0 1 0 9")
    assert bad.returncode == 2
    assert "--child_fixed_arc: 4 integers, expected 40" in bad.stderr
    empty = run_script("test_final.sh", tmp_path / "empty")
    assert empty.returncode == 2 and "no checkpoint to test" in empty.stderr

"""GAEA-ImageNet end to end on the CPU, run by hand as the README says (nothing activated) on
the embedded ImageNet-style folder at tiny sizes: 2 gloo processes under torchrun write the
example's log lines, metrics.csv, the top-5 plot and results.json; 2 processes follow 1 process;
a killed run resumes to the same metrics; without data it trains on random data and says so;
`make gaea-imagenet` under the smoke profile runs through the runner."""
import csv
import os
import signal
import subprocess
import sys
import time

import pytest

from by_hand import by_hand_env
from nasrepro.data import embedded_path
from nasrepro.environment import REPO_ROOT
from nasrepro.runs.results import read_results

GAEA = REPO_ROOT / "GAEA-ImageNet"
TINY = ["--hyperparameters.num_classes=10", "--hyperparameters.init_channels=4",
        "--hyperparameters.layers=3", "--hyperparameters.global_batch_size=16",
        "--batches_per_step=3", "--searcher.max_steps=3", "--min_validation_period=1",
        "--data.num_workers_train=0", "--data.num_workers_val=0"]


def experiment(out, *flags, slots=2, data=True, wait=True, extra_env=None):
    env = by_hand_env(NASREPRO_PROGRESS="0", **(extra_env or {}))
    argv = ["python", "experiment.py", "distributed.yaml", f"--output_dir={out}",
            f"--resources.slots_per_trial={slots}", *TINY, *flags]
    if data:
        argv.append(f"--data={embedded_path('imagenet')}")
    if not wait:
        return subprocess.Popen(argv, cwd=GAEA, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
    result = subprocess.run(argv, cwd=GAEA, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    out = tmp_path_factory.mktemp("gaea") / "two"
    result = experiment(out)
    return out, result


def test_two_processes_write_the_examples_log_metrics_plot_and_results(two_processes):
    out, result = two_processes
    log = (out / "experiment.log").read_text()
    assert "2 process(es) (gloo)" in log
    assert "Warming-up Epoch: 0, LR: 0.1" in log
    assert "milestone: 3 steps of 3 batches (144 images" in log
    table = rows(out / "metrics.csv")
    assert [r["steps"] for r in table] == ["1.0", "2.0", "3.0"]
    assert [int(r["batches"]) for r in table] == [3, 6, 9]
    assert (out / "top5_val.png").stat().st_size > 0
    record = read_results(out / "results.json")
    assert record["system"] == "GAEA-ImageNet" and record["dataset"]["name"] == "ImageNet"
    last = table[-1]
    assert record["metrics"]["top5_error_pct"] == pytest.approx(
        100 - float(last["valid_top5_accuracy"]))
    # C=4, 3 cells, 10 classes, SE: counted on the same builder the static checks use.
    assert record["metrics"]["params_m"] > 0 and record["metrics"]["mult_adds_m"] > 0
    # Only process 0 logs: each line once.
    assert log.count("step 1 batches 3 ") == 1


def test_two_processes_follow_one_process(two_processes, tmp_path):
    out, _ = two_processes
    one = tmp_path / "one"
    experiment(one, slots=1, extra_env={"OMP_NUM_THREADS": "1"})
    two_rows, one_rows = rows(out / "metrics.csv"), rows(one / "metrics.csv")
    # Same data order, augmentation and initial weights; each process normalises its half of
    # the batch (Determined's data parallelism did not synchronise batch norm).
    for key in ("train_loss", "valid_loss"):
        assert [float(r[key]) for r in two_rows] == \
            pytest.approx([float(r[key]) for r in one_rows], rel=0.05), key  # measured: 2.5e-2


def test_killed_run_resumes_to_the_same_metrics(two_processes, tmp_path):
    out, _ = two_processes
    killed = tmp_path / "killed"
    proc = experiment(killed, wait=False)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if (killed / "metrics.csv").exists() and len(rows(killed / "metrics.csv")) >= 1:
            break
        time.sleep(0.1)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "results.json").exists()
    experiment(killed)
    assert "resumed from" in (killed / "experiment.log").read_text()
    resumed, uninterrupted = rows(killed / "metrics.csv"), rows(out / "metrics.csv")
    assert len(resumed) == len(uninterrupted)
    for a, b in zip(resumed, uninterrupted):
        for key in ("valid_loss", "valid_top1_accuracy", "lr"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-5), key


def test_without_data_it_trains_on_random_data_and_says_so(tmp_path):
    out = tmp_path / "random"
    result = experiment(out, "--data.random_records=48", "--searcher.max_steps=1", data=False)
    notice = "training on the example's RANDOM data"
    assert notice in result.stdout + result.stderr
    assert notice in (out / "experiment.log").read_text()
    assert read_results(out / "results.json")["dataset"]["name"] == "random data"


def test_bad_input_names_the_key(tmp_path):
    env = by_hand_env(NASREPRO_PROGRESS="0")
    result = subprocess.run(
        ["python", "experiment.py", "distributed.yaml", "--hyperparameters.activation=gelu",
         f"--output_dir={tmp_path}", "--resources.slots_per_trial=1", *TINY],
        cwd=GAEA, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "hyperparameters.activation='gelu': expected one of relu, swish, hswish" in \
        result.stderr
    missing = subprocess.run(
        ["python", "experiment.py", "distributed.yaml", f"--data={tmp_path / 'nowhere'}",
         f"--output_dir={tmp_path}", "--resources.slots_per_trial=1", *TINY],
        cwd=GAEA, env=env, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "nowhere: ImageNet-style folder not found" in \
        missing.stderr


def test_make_job_runs_under_the_smoke_profile(tmp_path):
    env = dict(os.environ, NASREPRO_RUNS=str(tmp_path), NASREPRO_PROGRESS="0")
    result = subprocess.run([sys.executable, "-m", "reproduce.run", "gaea-imagenet",
                             "--profile", "smoke"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    record = read_results(tmp_path / "GAEA-ImageNet" / "gaea-imagenet-smoke" / "results.json")
    assert record["profile"] == "smoke" and record["job"] == "gaea-imagenet"

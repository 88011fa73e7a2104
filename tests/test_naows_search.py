"""NAO-WS's CIFAR-10 search (NAO-WS/cnn/train_search.py): the pool update and the evaluation
schedule on scripted inputs, flag errors, and the three jobs end to end on a user's copy of the
CIFAR-10 python files: `make naows-search PROFILE=smoke DATA=...` writes the original's pool
files and the new cells, `make naows-final` trains the cell the search found and
`make naows-test` reproduces its test accuracy from the checkpoint; a search killed by hand
resumes to the same pools as the uninterrupted one."""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from by_hand import by_hand_env
from nasrepro.archs.nao import arch_to_seq, parse_nao_arch, read_arch_pool
from nasrepro.data import embedded_path
from nasrepro.environment import REPO_ROOT
from nasrepro.runs.results import read_results
from reproduce.jobs import load_jobs

CNN = REPO_ROOT / "NAO-WS" / "cnn"


@pytest.fixture(scope="module")
def search_module(paper_module):
    return paper_module("NAO-WS/cnn", "train_search")


# --- scripted pieces --------------------------------------------------------------------------

def test_pool_update_keeps_the_best_then_new_then_random(search_module):
    pool = [[i] * 40 for i in range(10)]               # sorted best first
    new, randoms = [[20] * 40, [21] * 40, [22] * 40], [[30] * 40, [31] * 40]
    updated, origin = search_module.update_pool(pool, ["random"] * 10, new, randoms)
    assert updated == pool[:5] + new + randoms          # 10 - (3 + 2) best kept
    assert origin == ["kept"] * 5 + ["generated"] * 3 + ["random"] * 2
    # More new ones than the pool can drop: Python's slice of a negative count, as the
    # original's old_archs[:len(old_archs) - (n_new + 50)] (the pool grows).
    updated, origin = search_module.update_pool(pool[:4], ["kept"] * 4, new, randoms)
    assert updated == pool[:3] + new + randoms and origin.count("kept") == 3


def test_evaluation_points(search_module):
    nxt = search_module.next_evaluation
    assert [nxt(e, "30", 150) for e in (0, 29, 30, 149)] == [30, 30, 60, 150]
    assert [nxt(e, "[10, 30, 70, 150]", 150) for e in (0, 10, 30, 70)] == [10, 30, 70, 150]
    assert nxt(0, "4", 6) == 4 and nxt(4, "4", 6) == 6   # capped at --child_num_epochs
    for bad in ("abc", "0", "[3, 2]", "[]"):
        with pytest.raises(search_module.ConfigError, match="--child_eval_every_epochs"):
            search_module.eval_epochs(bad)


@pytest.mark.parametrize("flags,message", [
    (["--child_fixed_arc=0 1 0 1"], "--child_fixed_arc: the search trains the shared-weight"),
    (["--child_eval_every_epochs=x"], "--child_eval_every_epochs=x: expected"),
    ([], "--controller_source_length=60: the architectures of --child_num_cells=5 are 40"),
    (["--controller_source_length=40", "--controller_decoder_length=40",
      "--controller_optimizer=sgd"], "--controller_optimizer=sgd: only adam"),
    (["--controller_source_length=40", "--controller_decoder_length=40",
      "--controller_attention", "--controller_lr=0.01"], "--controller_lr=0.01: expected"),
])
def test_bad_flags_are_named(flags, message, tmp_path):
    # The original's own defaults (60-token sequences) are NAO's, not NAO-WS's: the script
    # passes the right ones, and a run without them stops with the flag named.
    env = by_hand_env(NASREPRO_PROFILE="smoke", NASREPRO_PROGRESS="0")
    result = subprocess.run(
        ["python", "train_search.py", f"--data_path={embedded_path('cifar10')}",
         f"--output_dir={tmp_path / 'out'}", "--num_valids=200", "--num_train_images=64",
         "--child_num_layers=3", "--child_out_filters=4", *flags],
        cwd=CNN, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert message in result.stderr


# --- end to end ---------------------------------------------------------------------------------

def run_job(job, data, runs):
    env = by_hand_env(NASREPRO_RUNS=str(runs), NASREPRO_PROGRESS="0")
    return subprocess.run([sys.executable, "-m", "reproduce.run", job, "--profile", "smoke",
                           "--data", str(data)], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def user_data(tmp_path_factory):
    """A user's CIFAR-10 folder: the python batches, under the name the release unpacks to."""
    folder = tmp_path_factory.mktemp("user") / "cifar-10-batches-py"
    shutil.copytree(embedded_path("cifar10"), folder,
                    ignore=shutil.ignore_patterns(".*"))
    return folder


@pytest.fixture(scope="module")
def searched(tmp_path_factory, user_data):
    runs = tmp_path_factory.mktemp("naows_runs")
    result = run_job("naows-search", user_data, runs)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return runs, runs / "NAO-WS" / "naows-search-smoke"


def lines(path):
    return path.read_text().splitlines()


@pytest.mark.slow
def test_search_writes_the_original_pool_files(searched, user_data):
    _, out = searched
    child = out / "child"
    log = (out / "train_search.log").read_text()
    assert str(user_data / "data_batch_1") in log       # read the user's folder
    # Smoke: 2 epochs with an evaluation after each; 20 seeds; 5 new and 3 random a round.
    for epoch in (1, 2):
        archs = read_arch_pool(child / f"arch_pool.{epoch}")
        perf = [float(v) for v in lines(child / f"arch_pool.perf.{epoch}")]
        assert len(archs) == len(perf) == 20
        assert perf == sorted(perf) and all(0.0 <= p <= 1.0 for p in perf)
    assert (child / "arch_pool").read_text() == (child / "arch_pool.2").read_text()
    assert log.count(" valid_acc=") == 2 and "Model has " in log
    assert "Generating new architectures using gradient descent with step size 1" in log
    assert "new archs generated now" in log and "Totally 20 archs now to train" in log
    rows = list(csv.DictReader(open(out / "search.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert 0.0 <= float(rows[0]["pairwise_accuracy"]) <= 1.0
    assert 0.0 <= float(rows[0]["hamming_distance"]) <= 40.0
    assert rows[1]["pairwise_accuracy_before"] != "" and rows[1]["pairwise_accuracy"] == ""
    assert (out / "search_progress.png").stat().st_size > 1000
    assert len(list(csv.DictReader(open(out / "controller.csv")))) == 3


@pytest.mark.slow
def test_generated_cells_are_valid_new_and_placed_as_the_update_rule_says(searched):
    _, out = searched
    child = out / "child"
    state = json.loads((out / "search_state.json").read_text())
    first = [a.ints for a in read_arch_pool(child / "arch_pool.1")]
    rows = list(csv.DictReader(open(out / "search.csv")))
    new = int(rows[0]["new_archs"])
    assert 1 <= new <= 5
    by_origin = {o: [tuple(a) for a, k in zip(state["pool"], state["origin"]) if k == o]
                 for o in ("kept", "generated", "random")}
    assert len(by_origin["generated"]) == new and len(by_origin["random"]) == 3
    first_seqs = {tuple(arch_to_seq(parse_nao_arch(a))) for a in first}
    for arch in by_origin["generated"]:
        parse_nao_arch(list(arch))                         # a valid cell pair ...
        assert tuple(arch_to_seq(parse_nao_arch(list(arch)))) not in first_seqs   # ... and new
    assert len(set(by_origin["generated"])) == new
    assert sorted(by_origin["kept"]) == sorted(tuple(a) for a in first[:20 - new - 3])
    assert int(rows[1]["generated_count"]) == new and int(rows[1]["random_count"]) == 3
    best = (out / "best_arc.txt").read_text().strip()
    assert best == " ".join(map(str, state["pool"][0])) == lines(child / "arch_pool")[0]
    record = read_results(out / "results.json")
    assert record["arch"] == best and record["script"] == "cnn/train_search.py"
    assert record["metrics"]["valid_error_pct"] == pytest.approx(
        100 * float(lines(child / "arch_pool.perf")[0]))
    assert record["metrics"]["search_gpu_days"] > 0


@pytest.mark.slow
def test_final_trains_the_found_cell_and_test_reproduces_it(searched, user_data):
    runs, out = searched
    best = (out / "best_arc.txt").read_text().strip()
    final = run_job("naows-final", user_data, runs)
    assert final.returncode == 0, final.stdout[-4000:] + final.stderr[-4000:]
    assert f"architecture from {out / 'best_arc.txt'}: {best}" in final.stdout
    final_dir = runs / "NAO-WS" / "naows-final-smoke"
    assert (final_dir / "fixed_arc.txt").read_text().strip() == best
    assert read_results(final_dir / "results.json")["arch"] == best
    tested = run_job("naows-test", user_data, runs)
    assert tested.returncode == 0, tested.stdout[-4000:] + tested.stderr[-4000:]
    last = [ln for ln in lines(final_dir / "train.log") if ln.startswith("test_accuracy: ")][-1]
    assert [ln for ln in lines(final_dir / "test.log") if ln.startswith("test_accuracy: ")] \
        == [last]


@pytest.mark.slow
def test_killed_search_resumes_to_the_same_pools(searched, user_data, tmp_path):
    _, reference = searched
    flags = load_jobs()["naows-search"].flags_for("smoke")
    out = tmp_path / "killed"
    argv = ["bash", "train_search.sh", f"--data_path={user_data}", f"--output_dir={out}", *flags]
    env = by_hand_env(NASREPRO_PROFILE="smoke", NASREPRO_PROGRESS="0")
    proc = subprocess.Popen(argv, cwd=CNN, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if (out / "controller" / "checkpoint").exists():   # mid-controller or later
            break
        time.sleep(0.1)
    assert proc.poll() is None, "the search ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    resumed = subprocess.run(argv, cwd=CNN, env=env, capture_output=True, text=True,
                             timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-4000:] + resumed.stderr[-4000:]
    assert "Resuming the search from" in (out / "train_search.log").read_text()
    for name in ("child/arch_pool.1", "child/arch_pool.perf.1", "child/arch_pool.2",
                 "child/arch_pool.perf.2", "best_arc.txt"):
        assert (out / name).read_text() == (reference / name).read_text(), name
    # The curves too; a resumed process's kernels may round a loss differently in the last bit
    # (seen once in the controller's mse, 1 float32 ulp), so numbers to 1e-6.
    for name in ("search.csv", "child.csv", "controller.csv"):
        ours, theirs = (list(csv.reader(open(d / name))) for d in (out, reference))
        assert ours[0] == theirs[0] and len(ours) == len(theirs), name
        for row, expected in zip(ours[1:], theirs[1:]):
            assert [float(v) if v else float("nan") for v in row] == pytest.approx(
                [float(v) if v else float("nan") for v in expected], rel=1e-6, nan_ok=True), name

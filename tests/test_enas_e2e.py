"""ENAS end to end: each of the four original scripts runs (tiny), writes its log lines, results,
metrics and architecture files; bad data and bad architectures stop with a clear error; a search
killed after an epoch resumes at the next one and ends exactly where an uninterrupted run ends."""
import csv
import json
import os
import re
import signal
import subprocess
import time

import pytest

from by_hand import by_hand_env
from nasrepro.archs.enas import PUBLISHED_MICRO_ARC, parse_macro_arc, parse_micro_arc
from nasrepro.data import embedded_path
from nasrepro.environment import REPO_ROOT
from nasrepro.runs.results import read_results

ENAS = REPO_ROOT / "ENAS"
CHILD_LINE = re.compile(r"^epoch=\d+ *ch_step=\d+ +loss=\d+\.\d{6} +lr=\d\.\d{4} +"
                        r"\|g\|=\d+\.\d{4} +tr_acc=\d+ */ *\d+ mins=\d+\.\d{2}")
CTRL_LINE = re.compile(r"^ctrl_step=\d+ +loss=-?\d+\.\d{3} +ent=\d+\.\d{2} lr=\d\.\d{4} "
                       r"\|g\|=\d+\.\d{4} +acc=\d\.\d{4} bl=-?\d+\.\d{2} +mins=\d+\.\d{2}$")
CHILD_EPOCH = re.compile(r"^Epoch (\d+): Eval$")
TINY = ["--batch_size=16", "--num_epochs=1", "--num_train_images=48", "--log_every=1",
        "--child_out_filters=4", "--seed=3", "--deterministic"]
SEARCH = ["--num_valids=100", "--controller_train_steps=2", "--controller_num_aggregate=2",
          "--num_sample_arcs=2"]


def run_script(script, out_dir, *flags, profile="smoke", wait=True):
    # Run by hand, as the README says: nothing activated, `python` is not the project's.
    env = by_hand_env(NASREPRO_PROFILE=profile)
    argv = ["bash", f"scripts/{script}", f"--data_path={embedded_path('cifar10')}",
            f"--output_dir={out_dir}", *flags]
    if not wait:
        # Its own process group, so a kill reaches python and not only bash.
        return subprocess.Popen(argv, cwd=ENAS, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
    return subprocess.run(argv, cwd=ENAS, env=env, capture_output=True, text=True,
                          timeout=900)


def log_lines(out_dir):
    return (out_dir / "stdout").read_text().splitlines()


def metrics_rows(out_dir):
    with open(out_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_micro_search_script(tmp_path):
    out = tmp_path / "search"
    proc = run_script("cifar10_micro_search.sh", out, *TINY, *SEARCH, "--child_num_layers=3",
                      "--child_num_cells=2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = log_lines(out)
    assert sum(bool(CHILD_LINE.match(line)) for line in lines) == 3  # 48 images / 16
    assert any(CTRL_LINE.match(line) for line in lines)
    assert "Here are 2 architectures" in lines and "Epoch 1: Training controller" in lines
    assert any(line.startswith("valid_accuracy: ") for line in lines)
    assert any(line.startswith("test_accuracy: ") for line in lines)
    assert any(re.fullmatch(r"Model has \d+ params", line) for line in lines)
    assert "Using aux_head at layer 4" in lines  # reductions at layers 1 and 3, aux after 3
    flags_block = [line for line in lines if line.startswith("child_num_cells.")]
    assert flags_block == ["child_num_cells" + "." * (80 - len("child_num_cells") - 1) + "2"]
    records = [json.loads(line) for line in (out / "arcs.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in records].count("controller") == 4  # 2 steps x 2 aggregated
    assert [r["kind"] for r in records].count("sample") == 2
    for record in records:
        parse_micro_arc(record["arc"], num_cells=2)
        assert 0.0 <= record["val_acc"] <= 1.0
    best = json.loads((out / "best_arc.json").read_text())
    assert best["val_acc"] == max(r["val_acc"] for r in records if r["kind"] == "sample")
    assert (out / "best_arc.txt").read_text().strip() == best["arc"]
    assert (out / "search_progress.png").stat().st_size > 1000
    assert (out / "best_arc.png").stat().st_size > 1000
    results = read_results(out / "results.json")
    assert results["system"] == "ENAS" and results["profile"] == "smoke"
    assert results["config"]["child_num_cells"] == 2  # original flag names
    assert results["arch"] == best["arc"]
    assert 0 <= results["metrics"]["test_error_pct"] <= 100
    row = metrics_rows(out)[0]
    assert row["epoch"] == "1" and float(row["ctrl_entropy"]) > 0


def test_micro_final_script_trains_the_published_cells(tmp_path):
    out = tmp_path / "final"
    proc = run_script("cifar10_micro_final.sh", out, *TINY, "--child_num_layers=3")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = log_lines(out)
    assert sum(bool(CHILD_LINE.match(line)) for line in lines) == 3
    results = read_results(out / "results.json")
    assert results["arch"] == str(parse_micro_arc(results["config"]["child_fixed_arc"]))
    assert "valid_accuracy: " not in "\n".join(lines)  # fixed arc: test only
    assert (out / "learning_curve.png").is_file()
    from nasrepro.complexity.tf_count import count_params
    from nasrepro.tf.micro_child import MicroChild

    child = MicroChild(num_layers=3, out_filters=4, use_aux_heads=True,
                       fixed_arc=results["config"]["child_fixed_arc"])
    params = count_params(child, exclude=("aux_head",))
    assert f"Model has {params} params" in lines
    assert results["metrics"]["params_m"] == pytest.approx(params / 1e6)


def test_macro_final_script_builds_the_24_layer_network(tmp_path):
    out = tmp_path / "macro_final"
    proc = run_script("cifar10_macro_final.sh", out, *TINY)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = read_results(out / "results.json")
    assert parse_macro_arc(results["arch"], num_layers=24).skip_count == 98
    assert 0 <= results["metrics"]["test_error_pct"] <= 100


def test_bad_data_and_bad_architectures_stop_with_a_clear_error(tmp_path):
    proc = run_script("cifar10_micro_final.sh", tmp_path / "a", "--data_path=/no/such/cifar",
                      profile="paper")
    # run_script puts the embedded path first; the later --data_path wins, as with "$@".
    assert proc.returncode == 2
    assert "cifar10 data not found: looked at /no/such/cifar" in proc.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                 "data_batch_5", "test_batch"]:
        (bad / name).write_bytes(b"not a pickle")
    proc = run_script("cifar10_micro_final.sh", tmp_path / "b", f"--data_path={bad}",
                      profile="paper")
    assert proc.returncode == 2 and "data_batch_1" in proc.stderr
    ints = PUBLISHED_MICRO_ARC.split()
    ints[5] = "9"  # node 3's first op: there are only 5 ops
    proc = run_script("cifar10_micro_final.sh", tmp_path / "c",
                      "--child_fixed_arc=" + " ".join(ints), profile="smoke")
    assert proc.returncode == 2
    assert "--child_fixed_arc" in proc.stderr and "position 5" in proc.stderr
    proc = run_script("cifar10_micro_search.sh", tmp_path / "d", "--no_such_flag=1")
    assert proc.returncode != 0 and "Unknown command line flag 'no_such_flag'" in proc.stderr


def test_macro_search_killed_after_an_epoch_resumes_identically(tmp_path):
    flags = [*TINY, *SEARCH, "--num_epochs=3", "--num_train_images=160",
             "--child_num_layers=3"]
    whole = tmp_path / "whole"
    proc = run_script("cifar10_macro_search.sh", whole, *flags)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    killed = tmp_path / "killed"
    child = run_script("cifar10_macro_search.sh", killed, *flags, wait=False)
    deadline = time.time() + 600
    while not (killed / "checkpoint").is_file():
        assert child.poll() is None, child.stdout.read()[-3000:]
        assert time.time() < deadline, "no checkpoint after 10 minutes"
        time.sleep(0.02)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    # The scripts reset the output folder; resuming needs --noreset_output_dir (make adds it).
    proc = run_script("cifar10_macro_search.sh", killed, *flags, "--noreset_output_dir")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    resumed = [line for line in log_lines(killed) if line.startswith("Resuming from ")]
    assert len(resumed) == 1
    epoch = int(re.search(r"epoch (\d+)\)$", resumed[0]).group(1))
    assert 1 <= epoch < 3, resumed  # killed after a checkpoint and before the end
    # The resumed run trained the epochs after the checkpoint, not the ones before.
    trained = [int(m.group(1)) for m in map(CHILD_EPOCH.match, log_lines(killed)) if m]
    assert trained[-1] == 3
    assert len(metrics_rows(killed)) == 3
    drop = ("minutes",)
    rows = [{k: v for k, v in r.items() if k not in drop} for r in metrics_rows(whole)]
    again = [{k: v for k, v in r.items() if k not in drop} for r in metrics_rows(killed)]
    assert again == rows
    assert (killed / "arcs.jsonl").read_text() == (whole / "arcs.jsonl").read_text()
    for record in map(json.loads, (whole / "arcs.jsonl").read_text().splitlines()):
        parse_macro_arc(record["arc"], num_layers=3)


def test_cifar100_from_the_fork_reads_fine_labels_and_has_100_outputs(tmp_path):
    out = tmp_path / "c100"
    proc = run_script("cifar10_micro_final.sh", out, *TINY, "--child_num_layers=3",
                      "--dataset=CIFAR100", f"--data_path={embedded_path('cifar100')}")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = read_results(out / "results.json")
    assert results["dataset"]["name"] == "CIFAR100"
    assert any(line.endswith("train") for line in log_lines(out))  # CIFAR-100 file names
    from nasrepro.complexity.tf_count import count_params
    from nasrepro.tf.micro_child import MicroChild

    ten = MicroChild(num_layers=3, out_filters=4, use_aux_heads=True,
                     fixed_arc=PUBLISHED_MICRO_ARC)
    # Only the classifier grows: 90 more outputs of a (4 * 4 filters * 5 loose ends) input.
    expected = count_params(ten, exclude=("aux_head",)) + 90 * 16 * 5
    assert results["metrics"]["params_m"] == pytest.approx(expected / 1e6)

"""Run plumbing: output dirs, metrics.csv, logging, progress bars, seeding, run info, events."""
import argparse
import io
import logging
import os
import random
import subprocess
import sys

import numpy as np
import pytest

from nasrepro.errors import ConfigError, DataError, ResultsError
from nasrepro.runs import run_info as runinfo
from nasrepro.runs.finish import CurvesPlot, finish_run
from nasrepro.runs.logs import close_logging, setup_logging
from nasrepro.runs.metrics_csv import MetricsCSV
from nasrepro.runs.output_dir import job_run_dir, prepare_output_dir
from nasrepro.runs.progress import progress
from nasrepro.runs.results import read_results, write_results
from nasrepro.seeding import seed_everything

# ---------------------------------------------------------------- output directories


def test_prepare_output_dir_keeps_or_resets(tmp_path):
    out = prepare_output_dir(tmp_path / "a" / "b")
    assert out.is_dir() and out == (tmp_path / "a" / "b").resolve()
    (out / "model.pt").write_text("old")
    assert (prepare_output_dir(out) / "model.pt").read_text() == "old"   # resume keeps it
    assert list(prepare_output_dir(out, reset=True).iterdir()) == []     # --reset_output_dir


def test_prepare_output_dir_rejects_bad_paths(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="empty"):
        prepare_output_dir("")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        prepare_output_dir(tmp_path / "file")
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    monkeypatch.chdir(work / "sub")
    for target in (work / "sub", work):   # the current directory and one that contains it
        with pytest.raises(ConfigError, match="refusing to reset"):
            prepare_output_dir(target, reset=True)
    assert (work / "sub").is_dir()


def test_job_run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NASREPRO_RUNS", str(tmp_path))
    assert job_run_dir("NAO-V2", "search", "mini") == tmp_path / "NAO-V2" / "search-mini"
    with pytest.raises(ConfigError, match="system 'DARTS'"):
        job_run_dir("DARTS", "search", "mini")
    with pytest.raises(ConfigError, match="profile 'tiny'"):
        job_run_dir("ENAS", "search", "tiny")
    with pytest.raises(ConfigError, match="job name"):
        job_run_dir("ENAS", "../x", "mini")

# ---------------------------------------------------------------- metrics.csv


def test_metrics_csv_rows_header_and_unknown_column(tmp_path):
    path = tmp_path / "metrics.csv"
    m = MetricsCSV(path)
    m.write({"epoch": 1, "loss": 0.5, "acc": 90.0})
    m.write({"epoch": 2, "loss": np.float32(0.25)})     # missing column stays empty
    with pytest.raises(ResultsError, match="column 'lr' is not in the header"):
        m.write({"epoch": 3, "loss": 0.1, "lr": 0.01})
    with pytest.raises(ResultsError, match="needs an 'epoch' column"):
        m.write({"loss": 0.1})
    assert path.read_text() == "epoch,loss,acc\n1,0.5,90.0\n2,0.25,\n"


def test_metrics_csv_resume_drops_later_epochs_and_appends(tmp_path):
    path = tmp_path / "metrics.csv"
    m = MetricsCSV(path)
    for epoch in range(1, 5):
        m.write({"epoch": epoch, "loss": 1.0 / epoch})
    resumed = MetricsCSV(path, resume_from_epoch=2)   # checkpoint was from epoch 2
    assert path.read_text() == "epoch,loss\n1,1.0\n2,0.5\n"
    resumed.write({"epoch": 3, "loss": 0.3})
    with pytest.raises(ResultsError, match="column 'acc'"):
        resumed.write({"epoch": 4, "acc": 1.0})
    assert [r["epoch"] for r in resumed.rows()] == ["1", "2", "3"]
    MetricsCSV(path)                                  # a fresh run replaces the old table
    assert path.read_text() == ""
    MetricsCSV(tmp_path / "new.csv", resume_from_epoch=5).write({"epoch": 6, "x": 1})
    assert (tmp_path / "new.csv").read_text() == "epoch,x\n6,1\n"


def test_metrics_csv_resume_rejects_a_bad_epoch_cell(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,loss\n1,0.5\nten,0.4\n")
    with pytest.raises(DataError, match=r"metrics.csv, line 3: expected an integer epoch"):
        MetricsCSV(path, resume_from_epoch=1)
    path.write_text("step,loss\n1,0.5\n")
    with pytest.raises(DataError, match="no 'epoch' column"):
        MetricsCSV(path, resume_from_epoch=1)

# ---------------------------------------------------------------- logging and progress


@pytest.fixture
def run_logger():
    yield "nasrepro.test_run"
    close_logging("nasrepro.test_run")


def test_setup_logging_tees_exact_lines_once_and_appends(tmp_path, capsys, run_logger):
    log_file = tmp_path / "stdout"
    log_file.write_text("line from the first attempt\n")
    setup_logging(log_file, logger_name=run_logger)
    log = setup_logging(log_file, logger_name=run_logger)   # twice: still one handler each
    log.info("epoch=1     ch_step=50     loss=2.302585")
    close_logging(run_logger)
    assert log_file.read_text() == ("line from the first attempt\n"
                                    "epoch=1     ch_step=50     loss=2.302585\n")
    assert capsys.readouterr().out == "epoch=1     ch_step=50     loss=2.302585\n"


def test_setup_logging_uses_the_callers_format(tmp_path, capsys, run_logger):
    log = setup_logging(tmp_path / "log.txt", fmt="%(asctime)s %(message)s",
                        datefmt="%m/%d %I:%M:%S %p", logger_name=run_logger)
    log.info("| end of epoch   1 | valid ppl   120.00")
    close_logging(run_logger)
    line = (tmp_path / "log.txt").read_text()
    assert line.endswith(" | end of epoch   1 | valid ppl   120.00\n")
    import re
    assert re.fullmatch(r"\d\d/\d\d \d\d:\d\d:\d\d [AP]M \| end .*\n", line)


def test_setup_logging_root_logger_catches_logging_info(tmp_path, capsys):
    root = logging.getLogger()
    level = root.level
    try:
        setup_logging(tmp_path / "train.log")
        logging.info("Weight child/stem/w shape (3, 3, 3, 36) size 972")
    finally:
        close_logging()
        root.setLevel(level)
    assert (tmp_path / "train.log").read_text() == \
        "Weight child/stem/w shape (3, 3, 3, 36) size 972\n"


def test_progress_is_silent_without_a_terminal(capsys, monkeypatch):
    monkeypatch.delenv("NASREPRO_PROGRESS", raising=False)
    bar = progress(range(3), total=3, desc="epoch 1")
    seen = []
    for x in bar:
        seen.append(x)
        bar.set_postfix(loss=0.5)
    assert seen == [0, 1, 2]
    assert capsys.readouterr() == ("", "")


def test_progress_draws_on_terminal_stderr_but_not_into_logs(tmp_path, capsys, monkeypatch,
                                                              run_logger):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NASREPRO_PROGRESS", raising=False)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    log = setup_logging(tmp_path / "log", logger_name=run_logger)
    bar = progress(range(2), desc="train")
    for _ in bar:
        bar.set_postfix(loss=1.25)
        log.info("step")
    bar.close()
    close_logging(run_logger)
    assert "train" in terminal.getvalue() and "loss=1.25" in terminal.getvalue()
    assert (tmp_path / "log").read_text() == "step\nstep\n"
    assert "train" not in capsys.readouterr().out

# ---------------------------------------------------------------- seeding


def test_seed_everything_python_numpy_torch():
    torch = pytest.importorskip("torch")
    seed_everything(7)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
    torch.manual_seed(7)
    assert torch.rand(1).item() == first[2]
    try:
        seed_everything(7, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


def test_seed_everything_seeds_torch_imported_later_without_importing_tensorflow():
    torch = pytest.importorskip("torch")
    code = ("import sys\n"
            "from nasrepro.seeding import seed_everything\n"
            "seed_everything(11)\n"
            "assert 'torch' not in sys.modules and 'tensorflow' not in sys.modules\n"
            "import torch\n"
            "assert 'tensorflow' not in sys.modules\n"
            "print(repr(torch.rand(1).item()))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 0, out.stderr
    torch.manual_seed(11)
    assert float(out.stdout.strip().splitlines()[-1]) == torch.rand(1).item()


def test_seed_everything_seeds_tensorflow_on_its_later_import(tmp_path):
    # A stand-in `tensorflow` package records the seed it gets: the hook must call it once,
    # right when the script imports it (the real one takes seconds to import).
    fake = tmp_path / "tensorflow"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "__version__ = 'stand-in'\n"
        "class random:\n"
        "    seeds = []\n"
        "    @staticmethod\n"
        "    def set_seed(seed):\n"
        "        random.seeds.append(seed)\n")
    code = ("import sys\n"
            "from nasrepro.seeding import seed_everything\n"
            "seed_everything(13)\n"
            "seed_everything(14)\n"
            "assert 'tensorflow' not in sys.modules\n"
            "import tensorflow\n"
            "print(tensorflow.random.seeds, 'torch' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path)] + sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[14] False"


@pytest.mark.tf
def test_seed_everything_tensorflow():
    tf = pytest.importorskip("tensorflow")
    seed_everything(5)
    a = tf.random.uniform([2]).numpy()
    tf.random.set_seed(5)
    assert np.array_equal(tf.random.uniform([2]).numpy(), a)

# ---------------------------------------------------------------- run info and results


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                           *args], capture_output=True, text=True, check=True).stdout.strip()


def test_git_commit_clean_dirty_and_outside(tmp_path):
    outside = tmp_path / "plain"
    outside.mkdir()
    assert runinfo.git_commit(outside) == "unknown"
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    assert runinfo.git_commit(repo) == "unknown"          # no commit yet
    (repo / "a.txt").write_text("1")
    _git(repo, "add", "a.txt")
    _git(repo, "commit", "-q", "-m", "first")
    short = _git(repo, "rev-parse", "--short", "HEAD")
    (repo / "untracked.txt").write_text("u")
    assert runinfo.git_commit(repo) == short               # untracked files are not "dirty"
    (repo / "a.txt").write_text("2")
    assert runinfo.git_commit(repo) == short + "+dirty"


def test_device_string(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    threads = torch.get_num_threads()
    assert runinfo.device_string() == f"cpu ({threads} thread{'s' if threads != 1 else ''})"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: "NVIDIA Tesla P40")
    assert runinfo.device_string() == "cuda:0 NVIDIA Tesla P40 (x2)"


def test_timer(monkeypatch):
    clock = iter([100.0, 190.0, 220.0])
    monkeypatch.setattr(runinfo.time, "perf_counter", lambda: next(clock))
    timer = runinfo.Timer()
    assert timer.seconds == 90.0
    assert timer.minutes == 2.0


def test_results_record_fills_the_schema_and_round_trips(tmp_path, monkeypatch):
    monkeypatch.setenv("NASREPRO_PROFILE", "smoke")
    monkeypatch.setenv("NASREPRO_JOB", "train")
    monkeypatch.setattr(runinfo, "git_commit", lambda: "abc1234+dirty")
    monkeypatch.setattr(runinfo.time, "time", lambda: 1000.0)
    config = argparse.Namespace(lr=0.025, epochs=600, data=tmp_path / "cifar")
    record = runinfo.results_record(
        "NAO-V2", "train_cifar.py", "cifar10-embedded", "sha256:1234",
        {"test_error_pct": np.float64(2.57), "params_m": 4.39}, config,
        arch="0 1 0 4", started=940.0, run_dir=tmp_path)
    assert record["profile"] == "smoke"
    assert record["wall_time_s"] == 60.0
    assert record["git_commit"] == "abc1234+dirty"
    assert record["dataset"] == {"name": "cifar10-embedded", "fingerprint": "sha256:1234"}
    assert type(record["metrics"]["test_error_pct"]) is float
    assert record["device"].startswith(("cpu", "cuda", "gpu"))
    back = read_results(write_results(tmp_path, record))
    assert back["config"]["data"] == str(tmp_path / "cifar")
    assert back["metrics"] == {"test_error_pct": 2.57, "params_m": 4.39}
    assert back["arch"] == "0 1 0 4" and back["job"] == "train"
    with pytest.raises(ResultsError, match="unknown metric 'acc'"):
        runinfo.results_record("ENAS", "main.py", "d", "f", {"acc": 1.0}, {})

def test_finish_run_draws_its_plots_then_writes_results(tmp_path, monkeypatch):
    monkeypatch.setenv("NASREPRO_PROFILE", "mini")
    monkeypatch.delenv("NASREPRO_JOB", raising=False)
    metrics = MetricsCSV(tmp_path / "metrics.csv")
    for epoch, loss in ((1, 2.0), (2, 1.5)):
        metrics.write({"epoch": epoch, "train_loss": loss})
    curves = CurvesPlot("metrics.csv", "learning_curve.png", (("loss", ("train_loss",)),),
                        title="demo")
    record = finish_run(tmp_path, system="test", script="demo.py", dataset="CIFAR-10",
                        data_path=tmp_path / "no-such-data", metrics={"accuracy_pct": 50.0},
                        config={"epochs": 2}, started=runinfo.Timer(), plots=[curves])
    assert (tmp_path / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    saved = read_results(tmp_path / "results.json")
    assert saved == record and "job" not in saved  # a script run by hand has no job
    assert saved["profile"] == "mini" and saved["dataset"]["fingerprint"] == "unknown"
    data = tmp_path / "data"
    data.mkdir()
    (data / "batch").write_bytes(b"1234")
    monkeypatch.setenv("NASREPRO_JOB", "demo-job")
    again = finish_run(tmp_path, system="test", script="demo.py", dataset="CIFAR-10",
                       data_path=data, metrics={}, config={}, started=None)
    assert again["job"] == "demo-job" and again["dataset"]["fingerprint"].startswith("sha256:")


# ---------------------------------------------------------------- TensorBoard


def _read_scalars(log_dir):
    tf = pytest.importorskip("tensorflow")
    found = {}
    files = list(log_dir.glob("events.out.tfevents.*"))
    assert files, f"no event file in {log_dir}"
    for f in files:
        for event in tf.compat.v1.train.summary_iterator(str(f)):
            for v in event.summary.value:
                value = v.simple_value if v.HasField("simple_value") else \
                    float(tf.make_ndarray(v.tensor))
                found[(v.tag, event.step)] = (value, v.metadata.plugin_data.plugin_name)
    return found


@pytest.mark.parametrize("backend, needs", [("tf", "tensorflow"), ("torch", "tensorboard")])
def test_scalar_writer_event_file_holds_the_scalar(tmp_path, backend, needs):
    pytest.importorskip(needs)
    from nasrepro.runs.tensorboard import ScalarWriter

    with ScalarWriter(tmp_path, backend=backend) as writer:
        writer.scalar("train/loss", 0.75, step=3)
        writer.scalar("valid/acc", np.float32(91.5), step=4)
    scalars = _read_scalars(tmp_path)
    assert scalars[("train/loss", 3)][0] == 0.75
    assert scalars[("valid/acc", 4)][0] == 91.5
    if backend == "tf":
        assert scalars[("train/loss", 3)][1] == "scalars"   # TensorBoard plots it as a scalar


def test_scalar_writer_rejects_unknown_backend(tmp_path):
    from nasrepro.runs.tensorboard import ScalarWriter

    with pytest.raises(ConfigError, match="'keras'"):
        ScalarWriter(tmp_path, backend="keras")

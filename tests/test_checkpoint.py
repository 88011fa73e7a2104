"""Atomic writes and checkpoints: a failed or killed save never loses the previous one."""
import os

import pytest

from nasrepro.atomic import atomic_write_bytes, atomic_write_text
from nasrepro.runs.checkpoint import CheckpointError, latest_checkpoint


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_atomic_write_text_replaces_and_leaves_no_temp(tmp_path):
    path = tmp_path / "sub" / "arch_pool"
    atomic_write_text(path, "0 1 2\n")
    atomic_write_text(path, "3 4 5\n")
    assert path.read_text() == "3 4 5\n"
    assert leftovers(path.parent) == []


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "arch_pool.perf"
    atomic_write_bytes(path, b"0.91\n0.90\n")

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(path, b"garbage")
    assert path.read_bytes() == b"0.91\n0.90\n"
    assert leftovers(tmp_path) == []


torch = pytest.importorskip("torch")
from nasrepro.torch.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402


def test_save_and_load_round_trip(tmp_path):
    state = {"epoch": 3, "model": {"w": torch.arange(6.0).reshape(2, 3)}, "best_acc": 91.5}
    path = save_checkpoint(state, tmp_path / "checkpoint-3.pt")
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 3 and loaded["best_acc"] == 91.5
    assert torch.equal(loaded["model"]["w"], state["model"]["w"])


def test_failure_half_way_through_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    save_checkpoint({"epoch": 1, "w": torch.ones(1000)}, path)
    real_save = torch.save

    def half_written_then_crash(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        f.seek(f.tell() // 2)
        f.truncate()
        raise RuntimeError("killed half way")

    monkeypatch.setattr(torch, "save", half_written_then_crash)
    with pytest.raises(RuntimeError, match="half way"):
        save_checkpoint({"epoch": 2, "w": torch.zeros(1000)}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert leftovers(tmp_path) == []


def test_missing_corrupt_and_unsafe_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint here"):
        load_checkpoint(tmp_path / "nope.pt")
    path = tmp_path / "cut.pt"
    save_checkpoint({"w": torch.ones(1000)}, path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CheckpointError, match=r"cut\.pt: not a readable PyTorch checkpoint"):
        load_checkpoint(path)
    import numpy as np
    save_checkpoint({"numpy_rng": np.random.get_state()}, tmp_path / "rng.pt")
    with pytest.raises(CheckpointError, match="weights_only=False"):
        load_checkpoint(tmp_path / "rng.pt")
    assert load_checkpoint(tmp_path / "rng.pt", weights_only=False)["numpy_rng"][0] == "MT19937"


def test_latest_checkpoint_picks_highest_number_and_skips_temp_files(tmp_path):
    assert latest_checkpoint(tmp_path) is None
    assert latest_checkpoint(tmp_path / "missing") is None
    for n in (2, 10, 9):
        (tmp_path / f"checkpoint-{n}.pt").write_bytes(b"x")
    (tmp_path / ".checkpoint-11.pt.tmp-1").write_bytes(b"x")   # an interrupted save
    (tmp_path / ".checkpoint-12.pt").write_bytes(b"x")
    (tmp_path / "best.pt").write_bytes(b"x")
    assert latest_checkpoint(tmp_path).name == "checkpoint-10.pt"
    assert latest_checkpoint(tmp_path, pattern="best*.pt").name == "best.pt"


@pytest.mark.tf
def test_tf_checkpointer_survives_a_kill_mid_save_and_resumes(tmp_path, monkeypatch):
    tf = pytest.importorskip("tensorflow")
    ck = pytest.importorskip("nasrepro.tf.checkpoint")
    v = tf.Variable([1.0, 2.0])
    step = tf.Variable(0, dtype=tf.int64)
    saver = ck.TFCheckpointer(tmp_path, max_to_keep=2, weights=v, step=step)
    assert saver.restore_latest() is None   # nothing to resume yet

    for s in (1, 2, 3):
        v.assign([float(s), float(s)])
        step.assign(s)
        saver.save(s)
    assert [os.path.basename(p) for p in saver.checkpoints()] == ["ckpt-2", "ckpt-3"]
    assert not list(tmp_path.glob("ckpt-1.*"))   # beyond max_to_keep
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-3")

    # A kill while writing ckpt-4: partial files on disk, the pointer never updated.
    def killed_write(prefix, *args, **kwargs):
        (tmp_path / "ckpt-4.index").write_bytes(b"\x00partial")
        raise KeyboardInterrupt

    v.assign([4.0, 4.0])
    monkeypatch.setattr(saver.checkpoint, "write", killed_write)
    with pytest.raises(KeyboardInterrupt):
        saver.save(4)
    monkeypatch.undo()

    # A fresh process would build new variables and resume from the last complete save.
    v2 = tf.Variable([0.0, 0.0])
    step2 = tf.Variable(0, dtype=tf.int64)
    resumed = ck.TFCheckpointer(tmp_path, weights=v2, step=step2)
    assert resumed.restore_latest().endswith("ckpt-3")
    assert v2.numpy().tolist() == [3.0, 3.0] and int(step2.numpy()) == 3

    # Saving the same step again must not overwrite the checkpoint the pointer lists.
    prefix = resumed.save(3)
    assert os.path.basename(prefix) == "ckpt-3_1"
    assert resumed.restore_latest() == prefix


@pytest.mark.tf
def test_tf_checkpointer_mismatch_is_a_clear_error(tmp_path):
    tf = pytest.importorskip("tensorflow")
    ck = pytest.importorskip("nasrepro.tf.checkpoint")
    ck.TFCheckpointer(tmp_path, weights=tf.Variable([1.0])).save(1)
    other = ck.TFCheckpointer(tmp_path, something_else=tf.Variable([1.0]))
    with pytest.raises(CheckpointError, match="ckpt-1"):
        other.restore_latest()

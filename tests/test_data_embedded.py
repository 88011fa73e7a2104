"""Embedded data: materialization into the cache, resolve_data_path, fingerprints, provenance."""
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nasrepro.data import embedded_data, fingerprint
from nasrepro.data.embedded_data import EMBEDDED_NAMES, MANIFEST, embedded_path
from nasrepro.data.fingerprint import dataset_fingerprint
from nasrepro.data.locate import resolve_data_path
from nasrepro.errors import ConfigError, DataError
from nasrepro.environment import REPO_ROOT


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NASREPRO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "embedded"


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NASREPRO_CACHE", str(tmp_path_factory.getbasetemp() / "nasrepro-cache"))
        yield


# ---------------------------------------------------------------- materialization

def test_committed_sources_are_small_and_documented():
    sizes = {n: (embedded_data.SOURCE_DIR / n).stat().st_size for n in embedded_data.SOURCE_FILES}
    assert sum(v for n, v in sizes.items() if n.startswith("fashion")) <= 5_000_000
    assert sum(v for n, v in sizes.items() if n.startswith("kjv")) <= 1_500_000
    readme = (embedded_data.SOURCE_DIR / "README.md").read_text()
    for needle in ("dataset-fashion-mnist", "0.0~git20200523.55506a9-1", "MIT", "Zalando SE",
                   "bible-kjv", "4.38", "public domain"):
        assert needle in readme
    assert "Zalando SE" in (embedded_data.SOURCE_DIR / "LICENSE-fashion-mnist").read_text()


def test_build_is_idempotent_and_repairs_a_damaged_cache(fresh_cache):
    path = embedded_path("penn")
    assert path == fresh_cache / "penn"
    assert sorted(p.name for p in path.iterdir()) == [MANIFEST, "test.txt", "train.txt",
                                                      "valid.txt"]
    manifest_inode = (path / MANIFEST).stat().st_ino
    assert embedded_path("penn") == path
    assert (path / MANIFEST).stat().st_ino == manifest_inode      # not rebuilt
    original = (path / "valid.txt").read_bytes()

    (path / "valid.txt").write_bytes(original[:100])              # truncated file
    embedded_path("penn")
    assert (path / "valid.txt").read_bytes() == original

    (path / "test.txt").unlink()                                   # missing file
    embedded_path("penn")
    assert (path / "test.txt").is_file()

    manifest = json.loads((path / MANIFEST).read_text())          # built from older sources
    manifest["source_key"] = "0" * 64
    (path / MANIFEST).write_text(json.dumps(manifest))
    embedded_path("penn")
    assert json.loads((path / MANIFEST).read_text())["source_key"] != "0" * 64

    (path / MANIFEST).unlink()                                     # interrupted before the end
    (fresh_cache / ".penn.build-crashed").mkdir()                  # a crashed build's leftovers
    embedded_path("penn")
    assert (path / MANIFEST).is_file()
    assert [p.name for p in fresh_cache.iterdir() if p.name.startswith(".penn.")] == \
        [".penn.lock"]


def test_two_processes_building_at_once(fresh_cache):
    code = "from nasrepro.data import embedded_path; print(embedded_path('ptb-pkl'))"
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert {out.strip() for out, _ in outputs} == {str(fresh_cache / "ptb-pkl" / "ptb.pkl")}
    assert sorted(p.name for p in fresh_cache.iterdir()) == [".ptb-pkl.lock", "ptb-pkl"]


def test_unknown_name():
    with pytest.raises(ConfigError, match="no embedded dataset 'mnist'; known: cifar10, "
                                          "cifar10-bin"):
        embedded_path("mnist")


def test_every_embedded_layout_passes_its_own_check(shared_cache):
    from nasrepro.data.locate import check_layout
    for name in EMBEDDED_NAMES:
        assert check_layout(embedded_path(name), name) == embedded_path(name)


# ---------------------------------------------------------------- resolve_data_path

def test_given_path_is_validated_and_returned(shared_cache, tmp_path, capsys):
    real = embedded_path("penn")
    assert resolve_data_path(str(real), "penn", profile="paper") == real
    assert capsys.readouterr().err == ""
    (tmp_path / "train.txt").write_text(" a \n")
    with pytest.raises(DataError, match="incomplete corpus, missing valid.txt, test.txt"):
        resolve_data_path(tmp_path, "penn", profile="mini")    # exists but malformed


def test_no_path_under_mini_or_smoke_gives_embedded_with_notice(shared_cache, monkeypatch,
                                                                capsys, tmp_path):
    monkeypatch.setenv("NASREPRO_PROFILE", "mini")
    assert resolve_data_path(None, "cifar10") == embedded_path("cifar10")
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no --data_path given (profile mini)" in err and "embedded cifar10" in err
    missing = tmp_path / "data" / "cifar10"
    assert resolve_data_path(missing, "cifar10", profile="smoke", flag="--data_dir") == \
        embedded_path("cifar10")
    assert f"{missing} does not exist (profile smoke)" in capsys.readouterr().err


def test_no_path_under_paper_explains_what_to_do(tmp_path):
    with pytest.raises(DataError) as err:
        resolve_data_path(None, "cifar10", profile="paper")
    message = str(err.value)
    assert "no --data_path was given" in message
    assert "data_batch_1..5 and test_batch" in message
    assert "PROFILE=mini" in message and "make <system>-<job>" in message
    with pytest.raises(DataError) as err:
        resolve_data_path(tmp_path / "data/penn", "penn", profile="paper", flag="--data")
    message = str(err.value)
    assert f"looked at {tmp_path / 'data/penn'}" in message
    assert "train.txt, valid.txt, test.txt" in message and "--data=" in message
    with pytest.raises(ConfigError, match="profile 'huge'"):
        resolve_data_path(None, "penn", profile="huge")


# ---------------------------------------------------------------- fingerprint

def test_fingerprint_stable_and_sensitive(tmp_path):
    for root in (tmp_path / "a", tmp_path / "b"):
        (root / "sub").mkdir(parents=True)
        (root / "x.txt").write_text("hello")
        (root / "sub" / "y.bin").write_bytes(b"\0\1")
    (tmp_path / "b" / ".nasrepro-manifest.json").write_text("{}")   # hidden: ignored
    first = dataset_fingerprint(tmp_path / "a")
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 16
    assert dataset_fingerprint(tmp_path / "a") == first
    assert dataset_fingerprint(tmp_path / "b") == first              # location does not matter
    (tmp_path / "b" / "x.txt").write_text("hellp")                  # same size, new content
    assert dataset_fingerprint(tmp_path / "b") != first
    (tmp_path / "a" / "sub" / "y.bin").rename(tmp_path / "a" / "sub" / "z.bin")
    assert dataset_fingerprint(tmp_path / "a") != first              # renamed file
    assert dataset_fingerprint(tmp_path / "a" / "x.txt").startswith("sha256:")
    with pytest.raises(DataError, match="does not exist"):
        dataset_fingerprint(tmp_path / "nothing")


def test_big_trees_hash_paths_and_sizes_only(tmp_path, monkeypatch):
    monkeypatch.setattr(fingerprint, "CONTENT_MAX_FILES", 1)
    (tmp_path / "x").write_text("aaaa")
    (tmp_path / "y").write_text("bbbb")
    before = dataset_fingerprint(tmp_path)
    assert before.startswith("listing:")
    (tmp_path / "x").write_text("cccc")
    assert dataset_fingerprint(tmp_path) == before                   # contents not read
    (tmp_path / "x").write_text("ccccc")
    assert dataset_fingerprint(tmp_path) != before


# ---------------------------------------------------------------- provenance script

@pytest.fixture(scope="module")
def tool(paper_module):
    return paper_module(REPO_ROOT / "tools", "make_embedded_data")


def test_ptb_style_tokens(tool):
    assert tool.ptb_style_tokens("And the KING's 12 sons, of Beth-el; their fathers' house: "
                                 "1,200.5 men!") == [
        "and", "the", "king", "'s", "N", "sons", "of", "beth-el", "their", "fathers",
        "house", "N", "men"]


def test_parse_bible_output(tool):
    sample = ("\nGenesis 1\n\n  1 In the beginning.\n  2 And the earth.\n"
              "1 Samuel 3\n\n  10 And the LORD came.\n")
    assert tool.parse_bible_output(sample) == [
        ("Genesis", "In the beginning."), ("Genesis", "And the earth."),
        ("1 Samuel", "And the LORD came.")]


def test_idx_reader_and_balanced_interleaving(tool, tmp_path):
    data = bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (1).to_bytes(4, "big") \
        + (3).to_bytes(4, "big") + bytes(range(6))
    (tmp_path / "x.gz").write_bytes(gzip.compress(data))
    np.testing.assert_array_equal(tool.read_idx_gz(tmp_path / "x.gz"), [[[0, 1, 2]], [[3, 4, 5]]])
    (tmp_path / "bad.gz").write_bytes(gzip.compress(data[:-1]))
    with pytest.raises(ValueError, match="5 data bytes"):
        tool.read_idx_gz(tmp_path / "bad.gz")
    labels = np.array([1, 1, 0, 2, 0, 1, 2, 2, 0])
    order = tool.first_per_class(labels, 2)
    # Rank 0 takes the first example of each class, rank 1 the second: {2, 0, 3} then {4, 1, 6}.
    assert sorted(order[:3].tolist()) == [0, 2, 3] and sorted(order[3:].tolist()) == [1, 4, 6]
    assert order.tolist() == tool.first_per_class(labels, 2).tolist()


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_committed_images_are_the_debian_ones(tool):
    train = tool.read_idx_gz(tool.FASHION_DIR / "train-images-idx3-ubyte.gz")
    labels = tool.read_idx_gz(tool.FASHION_DIR / "train-labels-idx1-ubyte.gz")
    arrays = embedded_data.fashion_cifar_arrays()
    order = tool.first_per_class(labels, tool.FASHION_TRAIN_PER_CLASS)
    np.testing.assert_array_equal(arrays["train_images"][:50, 2:30, 2:30, 0], train[order[:50]])
    np.testing.assert_array_equal(arrays["train_labels"], labels[order])

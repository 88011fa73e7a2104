"""results.json: schema checks, round trip and atomic writes (nasrepro/results.py)."""
import copy
import json

import numpy as np
import pytest

from nasrepro.runs import results
from nasrepro.errors import ResultsError
from nasrepro.runs.results import SCHEMA_VERSION, read_results, validate_results, write_results

VALID = {
    "schema_version": SCHEMA_VERSION,
    "system": "ENAS",
    "script": "src/cifar10/main.py",
    "profile": "smoke",
    "dataset": {"name": "cifar10-embedded", "fingerprint": "sha256:00ff"},
    "metrics": {"test_error_pct": 3.54, "params_m": 4.6},
    "config": {"child_num_layers": 15, "child_out_filters": 36},
    "wall_time_s": 12.5,
    "device": "cpu (2 threads)",
    "git_commit": "abc1234",
    "job": "micro-final",
    "arch": [[0, 2, 0, 0], [1, 4, 0, 1]],
}


def record(**changes):
    r = copy.deepcopy(VALID)
    for key, value in changes.items():
        if value is None:
            r.pop(key)
        else:
            r[key] = value
    return r


def test_valid_record_round_trips(tmp_path):
    path = write_results(tmp_path / "run", record())
    assert path == tmp_path / "run" / "results.json"
    assert read_results(path) == VALID
    assert json.loads(path.read_text()) == VALID
    # an explicit .json name is used as given
    assert write_results(tmp_path / "other.json", record()).name == "other.json"


def test_schema_version_is_filled_in_when_missing(tmp_path):
    path = write_results(tmp_path, record(schema_version=None))
    assert read_results(path)["schema_version"] == SCHEMA_VERSION


@pytest.mark.parametrize("field", sorted(results.REQUIRED))
def test_missing_required_field_is_named(field):
    with pytest.raises(ResultsError, match=f"missing required field '{field}'"):
        validate_results(record(**{field: None}))


@pytest.mark.parametrize("field, value", [
    ("system", 3), ("script", 5), ("profile", ["mini"]), ("dataset", "cifar10"),
    ("metrics", [1.0]), ("config", "lr=0.1"), ("wall_time_s", "12"), ("wall_time_s", True),
    ("device", 0), ("git_commit", 1234567), ("schema_version", 1.0), ("schema_version", True),
])
def test_wrong_type_is_named(field, value):
    with pytest.raises(ResultsError, match=f"field '{field}' should be"):
        validate_results(record(**{field: value}))


@pytest.mark.parametrize("field, value", [("job", 3), ("arch", 3.5), ("notes", ["x"])])
def test_wrong_type_of_optional_field_is_named(field, value):
    with pytest.raises(ResultsError, match=f"field '{field}' should be"):
        validate_results(record(**{field: value}))


@pytest.mark.parametrize("changes, message", [
    ({"metrics": {"top1_acc": 75.0}}, "unknown metric 'top1_acc'"),
    ({"metrics": {"test_ppl": "56.0"}}, "metric 'test_ppl' should be a number"),
    ({"metrics": {"test_ppl": True}}, "metric 'test_ppl' should be a number"),
    ({"system": "DARTS"}, "system 'DARTS' is not one of"),
    ({"profile": "full"}, "profile 'full' is not one of"),
    ({"schema_version": 2}, "schema_version 2 is not 1"),
    ({"dataset": {"name": "cifar10"}}, r"dataset\.fingerprint should be a non-empty string"),
    ({"dataset": {"name": "", "fingerprint": "x"}}, r"dataset\.name should be"),
    ({"dataset": {"name": "c", "fingerprint": 7}}, r"dataset\.fingerprint should be"),
    ({"extra_field": 1}, r"unknown field\(s\) \['extra_field'\]"),
])
def test_schema_violations(changes, message):
    with pytest.raises(ResultsError, match=message):
        validate_results(record(**changes), where="/runs/x/results.json")


def test_error_names_the_file(tmp_path):
    with pytest.raises(ResultsError, match=r"^/runs/x/results.json: "):
        validate_results(record(system="X"), where="/runs/x/results.json")
    with pytest.raises(ResultsError, match="expected a JSON object"):
        validate_results([VALID])


def test_read_missing_and_broken_files(tmp_path):
    with pytest.raises(ResultsError, match="no such results file"):
        read_results(tmp_path / "results.json")
    (tmp_path / "results.json").write_text('{"system": ')
    with pytest.raises(ResultsError, match="not valid JSON"):
        read_results(tmp_path / "results.json")


def test_numpy_values_and_paths_in_config_are_stored_as_json(tmp_path):
    r = record(config={"lr": np.float32(0.5), "widths": np.array([16, 32]), "data": tmp_path})
    back = read_results(write_results(tmp_path, r))
    assert back["config"] == {"lr": 0.5, "widths": [16, 32], "data": str(tmp_path)}


def test_failing_write_leaves_no_partial_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = write_results(tmp_path, record())
    before = path.read_text()
    # a value JSON cannot hold: refused before anything is written
    with pytest.raises(ResultsError, match="cannot be stored as JSON"):
        write_results(tmp_path, record(config={"model": object()}))
    # the disk fails while writing
    real_open = open

    class FailingFile:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, text):
            self.f.write(text[: len(text) // 2])
            raise OSError("No space left on device")

    monkeypatch.setattr("builtins.open", lambda p, mode="r", *a, **k:
                        FailingFile(real_open(p, mode, *a, **k)) if "w" in mode
                        else real_open(p, mode, *a, **k))
    with pytest.raises(OSError, match="No space left"):
        write_results(tmp_path, record(metrics={"test_error_pct": 9.9}))
    monkeypatch.undo()
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]

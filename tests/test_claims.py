"""The claims registry: reproduce/claims.yaml against CLAIMS.md, the tolerance policy, and the
validation errors of load_claims."""
import re

import pytest
import yaml

from nasrepro.errors import ResultsError
from nasrepro.environment import REPO_ROOT
from reproduce.claims import CLAIMS_FILE, default_tolerance, half_unit_of_last_digit, load_claims

CLAIMS_MD = REPO_ROOT.parent / "shared" / "specs" / "CLAIMS.md"


@pytest.fixture(scope="module")
def claims():
    return load_claims()


def _claims_md_ids():
    """Ids of both tables of CLAIMS.md, in order, split into (main table, static checks)."""
    main, static = [], []
    for line in CLAIMS_MD.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and re.fullmatch(r"[a-z0-9][a-z0-9-]+", cells[0]) \
                and cells[0] != "id":
            (main if len(cells) == 8 else static).append(cells[0])
    return main, static


@pytest.mark.skipif(not CLAIMS_MD.exists(), reason="shared/specs/CLAIMS.md is not beside the clone")
def test_claims_yaml_has_exactly_the_ids_of_claims_md_in_order(claims):
    main, static = _claims_md_ids()
    assert len(main) == 112 and len(static) == 16
    assert [c.id for c in claims] == main + static
    assert [c.id for c in claims if c.kind == "static"] == static


def test_every_job_is_a_make_job(claims):
    from reproduce.jobs import load_jobs
    jobs = load_jobs()
    unknown = {c.id: c.job for c in claims if c.job is not None and c.job not in jobs}
    assert unknown == {}


def test_records_follow_the_conventions(claims):
    for c in claims:
        assert (c.kind == "static") == c.id.startswith("static-"), c.id
        assert c.profile == (None if c.kind == "static" else "paper"), c.id
        if c.system == "context":
            assert c.job is None, c.id


@pytest.mark.parametrize("claim_id, field, expected", [
    # a mixed status cell takes the weaker one and keeps the wording
    ("enas-c10-micro-co-err", "source_status", "unverified"),
    ("enas-c10-micro-co-err", "status_note", "VERIFIED (value) / UNVERIFIED (table row)"),
    ("naows-c10-params", "source_status", "unverified"),
    ("gaea-in-params", "source_status", "verified-2nd"),
    ("naov2-readme-c10", "value", 2.57),
    ("naov2-readme-c10", "value_text", "2.57 (2.60 before commit 8060d5f, 2019-10-01)"),
    ("rnas-c10-asha-avg", "value_text", "3.03 ± 0.13"),
    ("naov2-abs-in", "metric", "accuracy_pct"),
    ("gaea-in-e24-top5", "metric", "top5_accuracy_pct"),
    ("gaea-in-madds", "value", None),
    ("rnas-abs", "metric", None),
    # gpu_hours: "2 P40, 5 days" -> 240, "1 V100, 7.5 h" -> 7.5, "4 P40, 6 days" -> 576
    ("naorepo-c10", "gpu_hours", 240),
    ("naorepo-ws-c10-search", "gpu_hours", 7.5),
    ("naorepo-imagenet", "gpu_hours", 576),
    # search-cost rows belong to the search job, checkpoint rows to the final job
    ("naorepo-ws-c10-search", "job", "naows-search"),
    ("naorepo-c10-ckpt", "job", "nao-cifar10-final"),
    ("naorepo-imagenet", "job", "nao-imagenet"),
    ("enas-c10-micro-gpud", "job", "enas-search"),
    # static tolerances at the reported precision
    ("static-enas-micro-final-params", "tolerance", 0.05),
    ("static-enas-macro-final-params", "tolerance", 0.05),
    ("static-naows-final-params", "tolerance", 0.05),
    ("static-nao-final-params", "tolerance", 0.5),
    ("static-naov2-cifar-params", "tolerance", None),
    ("nao-c10-gpud", "tolerance", 100),
    ("naopt-v1-in-top1", "tolerance", 0.5),
])
def test_selected_records(claims, claim_id, field, expected):
    by_id = {c.id: c for c in claims}
    assert getattr(by_id[claim_id], field) == expected


def test_cutout_claims_are_told_apart_by_config(claims):
    by_id = {c.id: c for c in claims}
    assert by_id["enas-c10-micro-err"].config_match == {"child_cutout_size": None}
    assert by_id["enas-c10-micro-co-err"].config_match == {"child_cutout_size": 16}


@pytest.mark.parametrize("metric, value, text, kind, dataset, expected", [
    ("params_m", 4.6, None, "static", "CIFAR-10", 0.05),
    ("params_m", 21.3, None, "static", "CIFAR-10", 0.05),
    ("params_m", 2.5, None, "static", "CIFAR-10", 0.05),
    ("params_m", 128.0, "128 (unverified)", "static", "CIFAR-10", 0.5),
    ("params_m", 38.0, "38.0", "run", "CIFAR-10", 0.05),      # the trailing zero is precision
    ("mult_adds_m", 597.0, None, "run", "ImageNet", 0.5),
    ("test_error_pct", 2.1, "2.10", "run", "CIFAR-10", 0.3),
    ("top1_error_pct", 25.7, None, "run", "ImageNet", 0.5),
    ("accuracy_pct", 97.94, None, "run", "CIFAR-10", 0.3),
    ("accuracy_pct", 74.4, None, "run", "ImageNet", 0.5),
    ("test_ppl", 56.02, None, "run", "PTB", 1.0),
    ("search_gpu_days", 0.45, None, "run", "CIFAR-10", 0.225),
    ("params_m", None, None, "static", "ImageNet", None),
    (None, None, "qualitative", "run", "PTB", None),
])
def test_default_tolerance(metric, value, text, kind, dataset, expected):
    assert default_tolerance(metric, value, text, kind, dataset) == expected


def test_half_unit_of_last_digit():
    assert half_unit_of_last_digit("2.10") == 0.005
    assert half_unit_of_last_digit("~0.42 (often 0.5)") == 0.005
    with pytest.raises(ValueError):
        half_unit_of_last_digit("not recalled")


GOOD = {"id": "x-params", "system": "NAO", "dataset": "CIFAR-10", "setting": "s",
        "metric": "params_m", "value": 2.5, "source": "README", "source_status": "verified",
        "kind": "run", "tolerance": 0.05, "job": "naows-final", "profile": "paper",
        "gpu_hours": None}


def _write(tmp_path, records):
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump(records, sort_keys=False))
    return path


def test_a_good_record_loads(tmp_path):
    (claim,) = load_claims(_write(tmp_path, [GOOD]))
    assert (claim.id, claim.value, claim.tolerance, claim.reported_text) == \
        ("x-params", 2.5, 0.05, "2.5")


@pytest.mark.parametrize("change, field, message", [
    ({"colour": "red"}, "colour", "unknown field"),
    ({"kind": "guess"}, "kind", "one of static, run"),
    ({"metric": "error_rate"}, "metric", "METRICS"),
    ({"source_status": "VERIFIED"}, "source_status", "verified, verified-2nd, unverified"),
    ({"profile": None}, "profile", "paper"),
    ({"kind": "static", "profile": None, "job": None}, "id", "starting with 'static-'"),
    ({"id": "static-x", "job": None}, "id", "no 'static-' prefix"),
    ({"tolerance": 0.3}, "tolerance", "default policy"),
    ({"value": "2.5"}, "value", "a number or null"),
    ({"system": "context"}, "job", "null for a context row"),
])
def test_bad_records_name_the_file_record_and_field(tmp_path, change, field, message):
    path = _write(tmp_path, [GOOD, {**GOOD, "id": "y-params", **change}])
    with pytest.raises(ResultsError) as err:
        load_claims(path)
    text = str(err.value)
    assert str(path) in text and "record 1" in text and f"'{field}'" in text and message in text


def test_missing_field_and_duplicate_id(tmp_path):
    incomplete = {k: v for k, v in GOOD.items() if k != "gpu_hours"}
    with pytest.raises(ResultsError, match=r"record 0 \('x-params'\): missing field\(s\) "
                                           r"'gpu_hours'"):
        load_claims(_write(tmp_path, [incomplete]))
    with pytest.raises(ResultsError, match=r"record 1 \('x-params'\): field 'id': duplicate id"):
        load_claims(_write(tmp_path, [GOOD, GOOD]))


def test_a_tolerance_override_needs_its_reason(tmp_path):
    (claim,) = load_claims(_write(tmp_path, [dict(GOOD, tolerance=0.2,
                                                  tolerance_note="counts differ by BN")]))
    assert claim.tolerance == 0.2


def test_not_a_list(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text("id: x\n")
    with pytest.raises(ResultsError, match="expected a list of claim records"):
        load_claims(path)


def test_default_file_is_the_package_file():
    assert CLAIMS_FILE == REPO_ROOT / "reproduce" / "claims.yaml"

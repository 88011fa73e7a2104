"""`make verify-results`: the static-check mechanism, result collection, the table, report.json,
report.md with its plots, and the exit codes, on the fixtures in tests/fixtures/verify/."""
import json
import shutil
import subprocess
import sys

import pytest
import yaml

import nasrepro.static_checks
from nasrepro.environment import REPO_ROOT
from reproduce import static_checks
from reproduce.claims import load_claims
from reproduce.collect import Result, collect, pick_result
from reproduce.verify import main

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "verify"
CLAIMS = FIXTURES / "claims.yaml"
RUNS = FIXTURES / "runs"
SMALL_NET = "tests/fixtures/verify/small_net_checks.py"
FAILING = "tests/fixtures/verify/failing_checks.py"
OFF = "tests/fixtures/verify/off_checks.py"
UNKNOWN_ID = "tests/fixtures/verify/unknown_id_checks.py"

# SmallNet by hand: conv 3*8*3*3 = 216, BN weight+bias 16, linear 8*10+10 = 90 -> 322
# (the auxiliary linear, 90 more, is excluded). Mult-adds at 32x32: conv 32*32*8*27 = 221184,
# linear 8*10 = 80 -> 221264 (BN, ReLU and pooling count nothing; the aux head is not run).
SMALL_PARAMS, SMALL_MADDS = 322, 221264


@pytest.fixture(autouse=True)
def no_system_checks(monkeypatch):
    # The fixture claims know nothing of the systems' checks: keep them out of these runs.
    monkeypatch.setattr(nasrepro.static_checks, "system_check_files", lambda systems: [])


def _verify(tmp_path, *args, claims=CLAIMS, capsys=None):
    report = tmp_path / "report"
    code = main(["--claims", str(claims), "--report-dir", str(report), *map(str, args)])
    out = capsys.readouterr().out if capsys else ""
    return code, out, report


def _table_line(out, claim_id):
    (line,) = [l for l in out.splitlines() if l.split()[:1] == [claim_id]]
    return line


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory):
    """One verify run over the fixture results with the SmallNet checks (torch loads once)."""
    pytest.importorskip("nasrepro.complexity.torch_count")
    tmp = tmp_path_factory.mktemp("verify")
    capture = tmp / "stdout.txt"
    import contextlib
    with open(capture, "w") as f, contextlib.redirect_stdout(f):
        code = main(["--claims", str(CLAIMS), "--results", str(RUNS), "--report-dir",
                     str(tmp / "report"), "--check-module", SMALL_NET])
    report = json.loads((tmp / "report" / "report.json").read_text())
    return code, capture.read_text(), report, tmp / "report"


def test_fixture_table_statuses(fixture_run):
    code, out, _, _ = fixture_run
    assert code == 1  # fix-off is a paper run off its tolerance
    expected = {
        "fix-reproduced": ("2.57", "2.7", "+0.13", "reproduced"),
        "fix-off": ("25.5", "26.4", "+0.9", "off by +0.9 points; source unverified"),
        "fix-not-run": ("24", "–", "–", "not run: needs 100 GPU-hours"),
        "fix-mini-only": ("3.03", "41.25", "–", "mini run only (not comparable)"),
        "fix-qualitative": ("–", "–", "–", "qualitative"),
        "fix-context": ("2.76", "–", "–", "not run: no job (context)"),
        "static-small-madds": ("–", "0.2213", "–", "computed"),
        "static-unimplemented": ("5.6", "–", "–", "not implemented yet"),
    }
    for claim_id, (reported, measured, delta, status) in expected.items():
        cells = _table_line(out, claim_id).split(None, 6)
        assert cells[3:] == [reported, measured, delta, status], claim_id
    assert _table_line(out, "static-small-params").endswith("reproduced")
    # one table: header, rule, then the claims in file order
    ids = [c.id for c in load_claims(CLAIMS)]
    lines = out.splitlines()
    assert lines[0].split()[:7] == ["id", "system", "metric", "reported", "measured", "delta",
                                    "status"]
    assert [l.split()[0] for l in lines[2:2 + len(ids)]] == ids


def test_fixture_report_json(fixture_run):
    _, _, report, _ = fixture_run
    assert list(report) == [c.id for c in load_claims(CLAIMS)]
    ok = report["fix-reproduced"]
    # the newest paper run counts: not the older paper run (3.50), not the newer mini run (60)
    assert ok["measured"] == 2.7 and ok["delta"] == 0.13 and ok["tolerance"] == 0.3
    assert ok["results"].endswith("naov2-cifar-paper/results.json") and ok["profile"] == "paper"
    off = report["fix-off"]
    assert (off["delta"], off["category"], off["source_status"], off["job"]) == \
        (0.9, "off", "unverified", "naov2-imagenet")
    mini = report["fix-mini-only"]
    assert (mini["measured"], mini["delta"], mini["profile"]) == (41.25, None, "mini")
    assert report["fix-not-run"]["measured"] is None and report["fix-not-run"]["results"] is None
    params = report["static-small-params"]
    assert params["measured_exact"] == SMALL_PARAMS and params["measured"] == SMALL_PARAMS / 1e6
    assert params["status"] == "reproduced" and params["seconds"] >= 0
    madds = report["static-small-madds"]
    assert (madds["measured_exact"], madds["reported"], madds["status"]) == \
        (SMALL_MADDS, None, "computed")


def test_fixture_report_markdown_and_plots(fixture_run):
    _, _, _, report_dir = fixture_run
    md = (report_dir / "report.md").read_text()
    assert "| reproduced | 2 |" in md and "| off | 1 |" in md and "| not run | 2 |" in md
    assert "| NAO-V2 | 2 | 1 |" in md  # per system: NAO-V2 has 2 reproduced and 1 off
    assert "| fix-off | NAO-V2 | top1_error_pct | 25.5 | 26.4 | +0.9 |" in md
    for png in ("report_measured.png", "report_status.png"):
        assert f"]({png})" in md
        assert (report_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_static_mechanism_counts_the_small_network_by_hand():
    pytest.importorskip("nasrepro.complexity.torch_count")
    found = static_checks.discover(load_claims(CLAIMS), modules=[SMALL_NET])
    assert found.errors == [] and sorted(found.checks) == ["static-small-madds",
                                                           "static-small-params"]
    outcomes = static_checks.run_checks(found.checks)
    assert outcomes["static-small-params"].measurement.exact == SMALL_PARAMS
    assert outcomes["static-small-madds"].measurement.exact == SMALL_MADDS
    assert outcomes["static-small-params"].measurement.details == "auxiliary head excluded"


def test_only_mini_results_exit_zero(tmp_path, capsys):
    runs = tmp_path / "runs"
    shutil.copytree(RUNS / "ASHA-DARTS", runs / "ASHA-DARTS")
    code, out, _ = _verify(tmp_path, "--results", runs, capsys=capsys)
    assert code == 0
    assert _table_line(out, "fix-mini-only").endswith("mini run only (not comparable)")


def test_failing_static_check_exits_nonzero(tmp_path, capsys):
    code, out, report = _verify(tmp_path, "--results", tmp_path / "none",
                                "--check-module", FAILING, capsys=capsys)
    assert code == 1
    assert _table_line(out, "static-small-params").endswith(
        "error: RuntimeError: cell 3 has no input")
    assert "returned int, expected a StaticMeasurement" in _table_line(out, "static-small-madds")
    saved = json.loads((report / "report.json").read_text())
    assert saved["static-small-params"]["category"] == "error"


def test_off_static_check_fails_unless_the_deviation_is_known(tmp_path, capsys):
    code, out, _ = _verify(tmp_path, "--results", tmp_path / "none", "--check-module", OFF,
                           capsys=capsys)
    assert code == 1
    assert _table_line(out, "static-small-params").endswith("off by +0.000216 M params")

    records = yaml.safe_load(CLAIMS.read_text())
    for r in records:
        if r["id"] == "static-small-params":
            r["known_deviation"] = "one conv too many (tests/README.md)"
    known = tmp_path / "known.yaml"
    known.write_text(yaml.safe_dump(records, sort_keys=False, allow_unicode=True))
    code, out, _ = _verify(tmp_path, "--results", tmp_path / "none", "--check-module", OFF,
                           claims=known, capsys=capsys)
    assert code == 0
    assert _table_line(out, "static-small-params").endswith(
        "off by +0.000216 M params (known: one conv too many (tests/README.md))")


def test_malformed_results_are_listed_with_their_path(tmp_path, capsys):
    runs = tmp_path / "runs"
    shutil.copytree(RUNS / "ASHA-DARTS", runs / "ASHA-DARTS")
    truncated = runs / "NAO-V2" / "broken" / "results.json"
    truncated.parent.mkdir(parents=True)
    truncated.write_text('{"system": "NAO-V2", ')
    wrong = runs / "NAO-V2" / "wrong" / "results.json"
    wrong.parent.mkdir(parents=True)
    record = json.loads((RUNS / "NAO-V2" / "naov2-cifar-paper" / "results.json").read_text())
    wrong.write_text(json.dumps(dict(record, profile="huge")))
    code, out, report = _verify(tmp_path, "--results", runs, capsys=capsys)
    assert code == 0  # the good mini result is still used; nothing is off
    assert f"ERROR results: {truncated}: not valid JSON" in out
    assert f"ERROR results: {wrong}: profile 'huge' is not one of" in out
    assert str(truncated) in (report / "report.md").read_text()
    assert _table_line(out, "fix-mini-only").endswith("mini run only (not comparable)")


def test_discovery_reports_import_failures_and_unknown_ids(tmp_path, capsys):
    broken = tmp_path / "broken_checks.py"
    broken.write_text("from nasrepro.static_checks import static_check\n\ndef oops(:\n")
    found = static_checks.discover(load_claims(CLAIMS), modules=[str(broken), UNKNOWN_ID,
                                                                 "no_such_checks_module"])
    assert found.checks == {}
    assert len(found.errors) == 3
    assert found.errors[0].startswith(f"check module {broken}: import failed: SyntaxError")
    assert "no_such_checks_module: import failed: ModuleNotFoundError" in found.errors[1]
    assert "'static-not-a-claim' (orphan) is not a static claim" in found.errors[2]
    code, out, _ = _verify(tmp_path, "--results", tmp_path / "none", "--check-module", UNKNOWN_ID,
                           capsys=capsys)
    assert code == 1 and "ERROR check module" in out


def test_dotted_module_names_are_imported(tmp_path, monkeypatch):
    package = tmp_path / "verifyfixturepkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "checks.py").write_text(
        "from nasrepro.static_checks import StaticMeasurement, static_check\n"
        "@static_check('static-unimplemented')\n"
        "def gaea():\n    return StaticMeasurement(exact=5_600_000, value=5.6)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = static_checks.discover(load_claims(CLAIMS), modules=["verifyfixturepkg.checks"])
    assert found.errors == [] and list(found.checks) == ["static-unimplemented"]
    outcome = static_checks.run_check("static-unimplemented", found.checks["static-unimplemented"])
    assert outcome.measurement.exact == 5_600_000


def test_sibling_modules_of_two_folders_do_not_shadow_each_other():
    # Paper folders share file names (model.py in NAO-V2, GAEA-ImageNet, ASHA-DARTS).
    modules = ["tests/fixtures/verify/sys_a/checks.py", "tests/fixtures/verify/sys_b/checks.py"]
    found = static_checks.discover(load_claims(CLAIMS), modules=modules)
    assert found.errors == []
    outcomes = static_checks.run_checks(found.checks)
    assert outcomes["static-sys-a"].measurement.exact == 3
    assert outcomes["static-sys-b"].measurement.exact == 5
    assert "model" not in sys.modules  # the siblings were forgotten after each import


def test_two_functions_for_one_id_in_a_module_clash():
    registry = nasrepro.static_checks.Registry()
    registry.static_check("static-a")(lambda: None)
    with pytest.raises(Exception, match="registered twice"):
        @registry.static_check("static-a")
        def other():
            pass


def test_pick_result_respects_config_match_and_prefers_newest_paper(tmp_path):
    claims = {c.id: c for c in load_claims(REPO_ROOT / "reproduce" / "claims.yaml")}

    def result(name, profile, cutout, written, error):
        config = {} if cutout is None else {"child_cutout_size": cutout}
        record = {"job": "enas-final", "profile": profile, "config": config,
                  "metrics": {"test_error_pct": error}}
        return Result(tmp_path / name / "results.json", record, written)

    results = [result("plain", "paper", None, 1.0, 3.6), result("cutout-old", "paper", 16, 2.0, 3.1),
               result("cutout", "paper", 16, 3.0, 2.9), result("cutout-mini", "mini", 16, 4.0, 50)]
    assert pick_result(claims["enas-c10-micro-err"], results).record["metrics"] == \
        {"test_error_pct": 3.6}
    assert pick_result(claims["enas-c10-micro-co-err"], results).path.parent.name == "cutout"
    assert pick_result(claims["enas-abs-nasnet"], results) is None  # a context row has no job


def test_collect_missing_folder_is_empty(tmp_path):
    found = collect(tmp_path / "nothing")
    assert found.results == [] and found.errors == []


def test_real_claims_without_results_print_every_claim_and_exit_zero(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "reproduce.verify", "--results", str(tmp_path / "empty"),
         "--report-dir", str(tmp_path / "report")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    printed = [line.split()[0] for line in proc.stdout.splitlines()[2:] if line.strip()]
    ids = [c.id for c in load_claims()]
    assert printed[:len(ids)] == ids
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert list(report) == ids
    assert report["nao-abs-c10"]["status"] == "not run: needs 240 GPU-hours"
    assert report["enas-abs-nasnet"]["status"] == "not run: no job (context)"
    assert report["rnas-abs"]["status"] == "qualitative"


def test_static_claim_without_a_value_is_compared_to_the_original_count(tmp_path, capsys):
    records = yaml.safe_load(CLAIMS.read_text())
    for r in records:
        if r["id"] == "static-small-madds":
            r["original_exact"] = SMALL_MADDS
            r["original_source"] = "SmallNet by hand (this file's comment)"
    claims = tmp_path / "claims.yaml"
    claims.write_text(yaml.safe_dump(records, sort_keys=False, allow_unicode=True))
    code, out, _ = _verify(tmp_path, "--results", tmp_path / "none", "--check-module",
                           SMALL_NET, claims=claims, capsys=capsys)
    assert code == 0
    assert _table_line(out, "static-small-madds").endswith(
        "equals the original implementation's count")
    for r in records:
        if r["id"] == "static-small-madds":
            r["original_exact"] = SMALL_MADDS + 7
    claims.write_text(yaml.safe_dump(records, sort_keys=False, allow_unicode=True))
    code, out, _ = _verify(tmp_path, "--results", tmp_path / "none", "--check-module",
                           SMALL_NET, claims=claims, capsys=capsys)
    assert code == 1
    assert _table_line(out, "static-small-madds").endswith(
        f"off by -7 from the original implementation's {SMALL_MADDS + 7:,}")
    # Only on a static claim without a reported value, and with its source.
    for r in records:
        if r["id"] == "static-small-params":
            r["original_exact"] = 1
    claims.write_text(yaml.safe_dump(records, sort_keys=False, allow_unicode=True))
    with pytest.raises(Exception, match="original_exact"):
        load_claims(claims)

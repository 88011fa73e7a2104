"""NAO-V2's static claims through the verifier: the four counts equal the original
implementation's (claims.yaml original_exact); and `make bench`'s measurement of NAONet-V2."""
import json
import subprocess
import sys

import pytest

from nasrepro.environment import REPO_ROOT
from reproduce.claims import load_claims
from reproduce.static_checks import discover, run_checks
from reproduce.collect import Collection
from reproduce.verify import REPRODUCED, evaluate

NAOV2_CLAIMS = ("static-naov2-cifar-params", "static-naov2-cifar-madds",
                "static-naov2-imagenet-params", "static-naov2-imagenet-madds")


def test_static_claims_equal_the_original_counts():
    claims = [c for c in load_claims() if c.id in NAOV2_CLAIMS]
    found = discover(claims, modules=["NAO-V2/static_checks.py"])
    assert not found.errors
    outcomes = run_checks(found.checks)
    for claim in claims:
        outcome = outcomes[claim.id]
        assert outcome.error is None, outcome.error
        assert outcome.measurement.exact == claim.original_exact, claim.id
    rows = evaluate(claims, Collection(), outcomes)
    assert [row.category for row in rows] == [REPRODUCED] * len(NAOV2_CLAIMS)


def test_bench_measures_naonet_v2_training(tmp_path):
    out = subprocess.run([sys.executable, "-m", "benchmarks.run", "--child", "naov2-cifar",
                          "--batch", "2", "--warmup", "0", "--steps", "2"], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout.strip().splitlines()[-1])
    assert row["params_m"] == pytest.approx(4.387654)
    assert row["images_per_s"] == pytest.approx(2 / row["step_s_median"])
    assert row["step_s_min"] <= row["step_s_median"] <= row["step_s_max"]
    assert row["peak_rss_mb"] >= row["rss_after_build_mb"] > 0

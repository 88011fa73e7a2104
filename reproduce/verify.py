"""`make verify-results`: compare every claim with what was measured, print one table, write
the report, and exit non-zero when a static check or a `paper`-profile run is off.

    python -m reproduce.verify [--results DIR] [--claims FILE] [--report-dir DIR]
"""
import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from nasrepro.environment import runs_dir
from nasrepro.errors import NasreproError

from . import static_checks
from .claims import CLAIMS_FILE, Claim, load_claims
from .collect import Collection, collect, pick_result
from .report import format_number, format_table, write_report

REPORT_DIR = Path(__file__).resolve().parent

# Status categories, used for the counts and the plot colours.
REPRODUCED, OFF, NOT_RUN, MINI_ONLY = "reproduced", "off", "not run", "mini only"
NOT_IMPLEMENTED, QUALITATIVE, COMPUTED = "not implemented", "qualitative", "computed"
MEASURED_ONLY, ERROR = "no reported value", "error"
CATEGORIES = (REPRODUCED, OFF, ERROR, MINI_ONLY, COMPUTED, MEASURED_ONLY, NOT_IMPLEMENTED,
              NOT_RUN, QUALITATIVE)

_UNITS = {"params_m": "M params", "mult_adds_m": "M mult-adds", "search_gpu_days": "GPU-days",
          "test_ppl": "ppl", "valid_ppl": "ppl"}


@dataclass
class Row:
    """One claim's line of the table and its entry in report.json."""
    claim: Claim
    status: str
    category: str
    measured: Optional[float] = None
    measured_exact: Optional[int] = None
    delta: Optional[float] = None
    results_path: Optional[str] = None
    profile: Optional[str] = None
    seconds: Optional[float] = None
    details: str = ""

    @property
    def fails(self) -> bool:
        """True when this row makes `make verify-results` exit non-zero."""
        return self.category == ERROR or (self.category == OFF and not self.claim.known_deviation)


def evaluate(claims: list, collection: Collection, outcomes: dict) -> list:
    """One Row per claim, in claims order, from the collected results and the static checks."""
    rows = []
    for claim in claims:
        row = _static_row(claim, outcomes.get(claim.id)) if claim.is_static \
            else _run_row(claim, collection.results)
        if claim.source_status == "unverified":
            row.status += "; source unverified"
        rows.append(row)
    return rows


def _static_row(claim: Claim, outcome) -> Row:
    if outcome is None:
        return Row(claim, "not implemented yet", NOT_IMPLEMENTED)
    if outcome.error is not None:
        return Row(claim, f"error: {outcome.error}", ERROR, seconds=outcome.seconds)
    m = outcome.measurement
    row = Row(claim, "", COMPUTED, measured=float(m.value), measured_exact=m.exact,
              seconds=outcome.seconds, details=m.details)
    if claim.value is None and claim.original_exact is not None:
        difference = m.exact - claim.original_exact
        if difference == 0:
            row.status, row.category = "equals the original implementation's count", REPRODUCED
        else:
            row.status, row.category = (f"off by {difference:+,} from the original "
                                        f"implementation's {claim.original_exact:,}"), OFF
        return row
    if claim.value is None:
        row.status = "computed"
        return row
    return _compare(row, claim)


def _run_row(claim: Claim, results: list) -> Row:
    if claim.metric is None or (claim.value is None and claim.job is None):
        return Row(claim, "qualitative", QUALITATIVE)
    if claim.system == "context":
        return Row(claim, "not run: no job (context)", NOT_RUN)
    if claim.job is None:
        return Row(claim, "not run: no job", NOT_RUN)
    result = pick_result(claim, results)
    if result is None:
        needs = f": needs {format_number(claim.gpu_hours)} GPU-hours" if claim.gpu_hours else ""
        return Row(claim, f"not run{needs}", NOT_RUN)
    row = Row(claim, "", MEASURED_ONLY, measured=float(result.record["metrics"][claim.metric]),
              results_path=str(result.path), profile=result.profile)
    if result.profile != "paper":
        row.status, row.category = f"{result.profile} run only (not comparable)", MINI_ONLY
        return row
    if claim.value is None:
        row.status = "measured (no reported value)"
        return row
    return _compare(row, claim)


def _compare(row: Row, claim: Claim) -> Row:
    row.delta = float(f"{row.measured - claim.value:.12g}")  # drop binary noise (0.13000000000000034)
    # A hair of slack so that 4.65 vs 4.6 with tolerance 0.05 is not lost to binary rounding.
    if abs(row.delta) <= claim.tolerance + 1e-9 * max(1.0, abs(claim.value)):
        row.status, row.category = "reproduced", REPRODUCED
        return row
    unit = _UNITS.get(claim.metric, "points" if claim.metric.endswith("_pct") else "")
    row.status = f"off by {format_number(row.delta, signed=True)} {unit}".rstrip()
    row.category = OFF
    if claim.known_deviation:
        row.status += f" (known: {claim.known_deviation})"
    return row


def main(argv=None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m reproduce.verify", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=None,
                        help="folder searched for results.json files (default: runs/, or "
                             "NASREPRO_RUNS)")
    parser.add_argument("--claims", type=Path, default=CLAIMS_FILE, help="claims file")
    parser.add_argument("--report-dir", type=Path, default=REPORT_DIR,
                        help="where report.md, report.json and the plots go (default: reproduce/)")
    parser.add_argument("--check-module", action="append", default=None, metavar="MODULE",
                        help="import this module (a .py path or a dotted name) for static "
                             "checks instead of every system's static_checks.py (repeatable)")
    args = parser.parse_args(argv)

    try:
        claims = load_claims(args.claims)
    except NasreproError as err:
        print(f"verify-results: {err}", file=sys.stderr)
        return 2
    results_dir = args.results if args.results is not None else runs_dir()
    collection = collect(results_dir)
    discovery = static_checks.discover(claims, modules=args.check_module)
    outcomes = static_checks.run_checks(discovery.checks)
    rows = evaluate(claims, collection, outcomes)

    print(format_table(rows))
    problems = [f"results: {e}" for e in collection.errors] + discovery.errors
    for line in problems:
        print(f"ERROR {line}")
    check_time = sum(o.seconds for o in outcomes.values())
    failing = [r.claim.id for r in rows if r.fails]
    print(f"\n{len(rows)} claims, {len(collection.results)} results read from {results_dir}, "
          f"{len(outcomes)} static checks in {check_time:.1f} s")

    written = write_report(rows, args.report_dir, problems=problems, results_dir=results_dir,
                           categories=CATEGORIES)
    print(f"report: {written}")
    if failing or discovery.errors:
        what = ", ".join(failing) if failing else "static check discovery"
        print(f"verify-results: FAILED ({what})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

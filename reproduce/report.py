"""The verifier's outputs: the printed table, report.md, report.json and the two plots."""
import json
from collections import Counter
from pathlib import Path
from typing import Optional

from nasrepro.atomic import atomic_write_text, atomic_write_with

COLUMNS = ("id", "system", "metric", "reported", "measured", "delta", "status")
MEASURED_PLOT = "report_measured.png"
STATUS_PLOT = "report_status.png"
_COLOURS = {"reproduced": "tab:green", "off": "tab:red", "error": "black",
            "mini only": "tab:olive", "computed": "tab:blue", "no reported value": "tab:cyan",
            "not implemented": "tab:purple", "not run": "lightgray", "qualitative": "wheat"}


def format_number(x: Optional[float], signed: bool = False) -> str:
    """Short human form: 4 significant digits, no exponent for everyday sizes; '–' for None."""
    if x is None:
        return "–"
    sign = "+" if signed else ""
    if x != 0 and abs(x) < 0.01:
        return f"{x:{sign}.3g}"
    if abs(x) >= 10000:
        return f"{x:{sign}.0f}"
    return f"{x:{sign}.4g}"


def table_cells(row) -> tuple:
    """The seven printed columns of one row."""
    claim = row.claim
    return (claim.id, claim.system, claim.metric or "–", claim.reported_text,
            format_number(row.measured), format_number(row.delta, signed=True)
            if row.delta is not None else "–", row.status)


def format_table(rows) -> str:
    """The plain-text table printed by `make verify-results`, one line per claim."""
    lines = [COLUMNS] + [table_cells(r) for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS) - 1)]
    out = []
    for n, line in enumerate(lines):
        out.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths)) + "  " + line[-1])
        if n == 0:
            out.append("  ".join("-" * w for w in widths) + "  " + "-" * 6)
    return "\n".join(out)


def report_json(rows) -> dict:
    """report.json: an object keyed by claim id."""
    return {r.claim.id: {
        "system": r.claim.system,
        "metric": r.claim.metric,
        "reported": r.claim.value,
        "measured": r.measured,
        "measured_exact": r.measured_exact,
        "delta": r.delta,
        "tolerance": r.claim.tolerance,
        "status": r.status,
        "category": r.category,
        "source_status": r.claim.source_status,
        "job": r.claim.job,
        "profile": r.profile,
        "results": r.results_path,
        "seconds": r.seconds,
    } for r in rows}


def write_report(rows, report_dir, problems=(), results_dir=None, categories=()) -> Path:
    """Write report.md, report.json and the two PNG plots into `report_dir`; return report.md."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(report_dir / "report.json", json.dumps(report_json(rows), indent=2) + "\n")
    categories = list(categories) or sorted({r.category for r in rows})
    _plot_measured(rows, report_dir / MEASURED_PLOT)
    _plot_status(rows, categories, report_dir / STATUS_PLOT)
    md = report_dir / "report.md"
    atomic_write_text(md, _markdown(rows, problems, results_dir, categories))
    return md


def _markdown(rows, problems, results_dir, categories) -> str:
    by_category = Counter(r.category for r in rows)
    systems = list(dict.fromkeys(r.claim.system for r in rows))
    used = [c for c in categories if by_category[c]]
    out = ["# Reported vs measured", ""]
    if results_dir is not None:
        out += [f"Results read from `{results_dir}`.", ""]
    out += ["## Summary", "", "| status | claims |", "|---|---|"]
    out += [f"| {c} | {by_category[c]} |" for c in used]
    out += ["", "| system | " + " | ".join(used) + " |", "|---" * (len(used) + 1) + "|"]
    for system in systems:
        counts = Counter(r.category for r in rows if r.claim.system == system)
        out.append(f"| {system} | " + " | ".join(str(counts[c]) for c in used) + " |")
    out += ["", f"![reported vs measured]({MEASURED_PLOT})", "",
            f"![status per system]({STATUS_PLOT})", ""]
    if problems:
        out += ["## Errors", ""] + [f"- {_md(p)}" for p in problems] + [""]
    out += ["## Claims", "", "| " + " | ".join(COLUMNS) + " |", "|---" * len(COLUMNS) + "|"]
    out += ["| " + " | ".join(_md(c) for c in table_cells(r)) + " |" for r in rows]
    out.append("")
    return "\n".join(out)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _plot_measured(rows, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    compared = [r for r in rows if r.delta is not None]
    metrics = list(dict.fromkeys(r.claim.metric for r in compared))
    if not metrics:
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot([0, 1], [0, 1], "k--", lw=1)
        ax.set_xlabel("reported")
        ax.set_ylabel("measured")
        ax.text(0.05, 0.95, "nothing measured yet: no static check\nor paper-profile run has a value"
                "\nto compare with a reported one", ha="left", va="top", transform=ax.transAxes,
                bbox={"facecolor": "white", "edgecolor": "gray"})
        ax.set_title("reported vs measured")
    else:
        fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 4), squeeze=False)
        for ax, metric in zip(axes[0], metrics):
            points = [r for r in compared if r.claim.metric == metric]
            xs = [r.claim.value for r in points]
            ys = [r.measured for r in points]
            lo, hi = min(xs + ys), max(xs + ys)
            # Same range on both axes, wide enough to show each claim's tolerance.
            pad = max([0.1 * (hi - lo)] + [2 * (r.claim.tolerance or 0) for r in points]) \
                or 0.1 * abs(hi) or 0.5
            ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=1, label="y = x")
            ax.set_xlim(lo - pad, hi + pad)
            ax.set_ylim(lo - pad, hi + pad)
            ax.scatter(xs, ys, c=[_COLOURS.get(r.category, "gray") for r in points], zorder=3)
            for r in points:
                ax.annotate(r.claim.id, (r.claim.value, r.measured), fontsize=6,
                            xytext=(3, 3), textcoords="offset points")
            ax.set_title(metric)
            ax.set_xlabel("reported")
            ax.set_ylabel("measured")
        axes[0][0].legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    atomic_write_with(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)


def _plot_status(rows, categories, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = list(dict.fromkeys(r.claim.system for r in rows))
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(systems)), 4))
    bottom = [0] * len(systems)
    for category in categories:
        counts = [sum(1 for r in rows if r.claim.system == s and r.category == category)
                  for s in systems]
        if any(counts):
            ax.bar(systems, counts, bottom=bottom, label=category,
                   color=_COLOURS.get(category, "gray"))
            bottom = [b + c for b, c in zip(bottom, counts)]
    ax.set_ylabel("claims")
    ax.set_title("status of the claims per system")
    ax.legend(fontsize=7)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    atomic_write_with(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)

"""What a search leaves behind, written while it runs so a killed search keeps it:
validations.csv (every validation of every trial) and asha_decisions.csv (every rung report and
whom it promoted). The trials table and the progress plot are built from these two files."""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from .asha import Decision

VALIDATIONS = "validations.csv"
DECISIONS = "asha_decisions.csv"
VALIDATION_COLUMNS = ["wall_time_s", "trial_id", "batches", "epochs", "metric"]
DECISION_COLUMNS = ["wall_time_s", "trial_id", "rung", "metric", "promoted"]


def _append(path: Path, columns: list, row: dict) -> None:
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)
        f.flush()
        os.fsync(f.fileno())


def append_validation(out_dir, wall_time_s: float, trial_id: str, batches: int, epochs: float,
                      metric: float) -> None:
    _append(Path(out_dir) / VALIDATIONS, VALIDATION_COLUMNS,
            {"wall_time_s": round(wall_time_s, 3), "trial_id": trial_id, "batches": batches,
             "epochs": round(epochs, 4), "metric": metric})


def append_decision(out_dir, wall_time_s: float, decision: Decision) -> None:
    _append(Path(out_dir) / DECISIONS, DECISION_COLUMNS,
            {"wall_time_s": round(wall_time_s, 3), "trial_id": decision.trial_id,
             "rung": decision.rung, "metric": decision.metric,
             "promoted": " ".join(decision.promoted)})


def read_rows(path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def best_so_far(validations: list[dict], smaller_is_better: bool) -> list[tuple[float, float]]:
    """(wall time, best metric of any trial up to then), one point per improvement."""
    points, best = [], None
    for row in sorted(validations, key=lambda r: float(r["wall_time_s"])):
        value = float(row["metric"])
        if math.isnan(value):
            continue
        if best is None or (value < best if smaller_is_better else value > best):
            best = value
            points.append((float(row["wall_time_s"]), best))
    return points


def plot_search_progress(out_dir, png_path, metric: str, smaller_is_better: bool,
                         title: str, last_rung: int = -1) -> Path:
    """Best validation metric so far against wall time, one mark per rung report (filled: the
    reporting trial was promoted at once; open: it waits, or it finished the last rung)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..runs.plots import save_figure

    validations = read_rows(Path(out_dir) / VALIDATIONS)
    decisions = read_rows(Path(out_dir) / DECISIONS)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    curve = best_so_far(validations, smaller_is_better)
    if curve:
        xs = [t / 60 for t, _ in curve] + [max(float(r["wall_time_s"]) for r in validations) / 60]
        ys = [v for _, v in curve] + [curve[-1][1]]
        ax.step(xs, ys, where="post", color="black", label=f"best {metric} so far")
    rungs = sorted({int(d["rung"]) for d in decisions})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for rung in rungs:
        rows = [d for d in decisions if int(d["rung"]) == rung]
        for promoted in (True, False):
            pts = [(float(d["wall_time_s"]) / 60, float(d["metric"])) for d in rows
                   if (d["trial_id"] in d["promoted"].split()) == promoted]
            if pts:
                ax.scatter(*zip(*pts), s=22, color=colors[rung % len(colors)],
                           facecolors=None if promoted else "none",
                           label=f"rung {rung} " + ("promoted" if promoted else
                                                    "finished" if rung == last_rung else "waits"))
    ax.set_xlabel("wall time (minutes)")
    ax.set_ylabel(f"validation {metric}")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right" if not smaller_is_better else "upper right")
    return save_figure(fig, png_path)

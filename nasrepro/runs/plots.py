"""Plots of a run's metrics.csv (learning curves, search progress), written next to it."""
import csv
import io
from pathlib import Path

from ..atomic import atomic_write_bytes


def read_columns(csv_path) -> dict:
    """{column: [floats]} of a CSV file (NaN where a cell is empty or not a number)."""
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {}
    for row in rows:
        for key, value in row.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = float("nan")
            columns.setdefault(key, []).append(number)
    return columns


def plot_metrics(csv_path, png_path, panels, title: str = "", x: str = "epoch") -> Path:
    """One subplot per panel; a panel is (y label, [column names]). Columns missing from the
    CSV, or with no value yet, are left out. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = read_columns(csv_path)
    xs = columns.get(x, [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (ylabel, names) in zip(axes[0], panels):
        for name in names:
            ys = columns.get(name)
            if not ys:
                continue
            points = [(a, b) for a, b in zip(xs, ys) if b == b]  # drop NaN (no value)
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, label=name)
        ax.set_xlabel(x)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, png_path)


def save_figure(fig, path) -> Path:
    """Lay out, render to PNG and write atomically (a reader never sees half a file); closes
    the figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())

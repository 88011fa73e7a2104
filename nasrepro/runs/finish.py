"""The end of every script: its plots, then results.json (validated, written atomically).

    finish_run(out_dir, system="NAO-V2", script="train_cifar.py", dataset="CIFAR-10",
               data_path=data_dir, metrics={...}, config=args, arch=str(arch), started=timer,
               plots=[LEARNING_CURVE])

The profile and the `make` job come from the environment (nasrepro.environment)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..data.fingerprint import dataset_fingerprint
from .plots import plot_metrics
from .results import write_results
from .run_info import results_record

RESULTS_FILE = "results.json"


@dataclass(frozen=True)
class CurvesPlot:
    """A PNG of a run's CSV, one panel per (y label, [columns]) (nasrepro.runs.plots)."""
    csv: str
    png: str
    panels: tuple
    title: str
    x: str = "epoch"

    def draw(self, out_dir) -> Path:
        out_dir = Path(out_dir)
        return plot_metrics(out_dir / self.csv, out_dir / self.png, list(self.panels),
                            title=self.title, x=self.x)


def finish_run(out_dir, *, system: str, script: str, dataset: str, data_path, metrics: dict,
               config, started, arch=None, notes: Optional[str] = None, plots=()) -> dict:
    """Draw `plots`, then write out_dir/results.json; returns the record.

    `data_path` is fingerprinted (a path that does not exist, or None, records "unknown")."""
    out_dir = Path(out_dir)
    for plot in plots:
        plot.draw(out_dir)
    exists = data_path is not None and Path(data_path).exists()
    fingerprint = dataset_fingerprint(data_path) if exists else "unknown"
    record = results_record(system, script, dataset, fingerprint, metrics, config, arch=arch,
                            started=started, run_dir=out_dir, notes=notes)
    write_results(out_dir / RESULTS_FILE, record)
    return record

"""metrics.csv: one row per epoch, appended as training goes, trimmed on resume."""
import csv
import io
from pathlib import Path
from typing import Optional

from ..atomic import atomic_write_text
from ..errors import DataError, ResultsError

EPOCH = "epoch"


class MetricsCSV:
    """Append-only per-epoch metrics table.

    The header is fixed by the first row ever written (or by the existing file on resume).
    Without `resume_from_epoch` an existing file is replaced, because the run starts over;
    with `resume_from_epoch=k` rows with epoch > k are dropped (the epochs that will be
    trained again) and new rows are appended after the kept ones."""

    def __init__(self, path, resume_from_epoch: Optional[int] = None):
        self.path = Path(path)
        self.columns: Optional[list] = None
        if resume_from_epoch is None or not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, "")
        else:
            self._trim(int(resume_from_epoch))

    def write(self, row: dict) -> None:
        """Append one row; it must carry `epoch` and only columns the header knows."""
        if EPOCH not in row:
            raise ResultsError(f"{self.path}: a metrics row needs an '{EPOCH}' column, "
                               f"got columns {list(row)}")
        if self.columns is None:
            self.columns = [EPOCH] + [k for k in row if k != EPOCH]
            self._append_line(self.columns)
        unknown = [k for k in row if k not in self.columns]
        if unknown:
            raise ResultsError(f"{self.path}: column '{unknown[0]}' is not in the header "
                               f"{self.columns} fixed by the first row")
        self._append_line([_cell(row.get(k, "")) for k in self.columns])

    def rows(self) -> list:
        """All rows on disk, as dicts of strings."""
        with open(self.path, newline="") as f:
            return list(csv.DictReader(f))

    def _append_line(self, cells: list) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(cells)
        # Opened per row and flushed on close: a crash loses at most the row being written.
        with open(self.path, "a", newline="") as f:
            f.write(buf.getvalue())

    def _trim(self, last_epoch: int) -> None:
        with open(self.path, newline="") as f:
            table = list(csv.reader(f))
        if not table:
            return
        header, body = table[0], table[1:]
        if EPOCH not in header:
            raise DataError(f"{self.path}: header {header} has no '{EPOCH}' column; cannot "
                            "resume it (delete the file or start without resuming)")
        col = header.index(EPOCH)
        kept = []
        for line_no, cells in enumerate(body, start=2):
            if not cells:
                continue
            try:
                epoch = int(float(cells[col]))
            except (IndexError, ValueError):
                raise DataError(f"{self.path}, line {line_no}: expected an integer epoch in "
                                f"column '{EPOCH}', got {cells!r}") from None
            if epoch <= last_epoch:
                kept.append(cells)
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([header] + kept)
        atomic_write_text(self.path, buf.getvalue())
        self.columns = header


def _cell(value):
    # Tensors and numpy scalars become plain numbers.
    if hasattr(value, "item"):
        value = value.item()
    return value

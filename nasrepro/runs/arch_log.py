"""A run's sampled architectures, one JSON object per line, kept consistent with checkpoints.

Records are added once per epoch, after the checkpoint of that epoch, by rewriting the file
atomically; a resumed run first drops the records of epochs it will train again. So the file
never holds a half-written line or the samples of an epoch the checkpoint does not know."""
import json
from pathlib import Path
from typing import Optional

from ..atomic import atomic_write_text
from ..errors import DataError


class ArchLog:
    def __init__(self, path, resume_from_epoch: Optional[int] = None):
        self.path = Path(path)
        self.records = []
        if resume_from_epoch is not None and self.path.exists():
            self.records = [r for r in self.read(self.path) if r["epoch"] <= resume_from_epoch]
        self._write()

    @staticmethod
    def read(path) -> list:
        records = []
        for number, line in enumerate(Path(path).read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{number}: not a JSON line ({err.msg})") from None
            if not isinstance(record, dict) or "epoch" not in record or "arc" not in record:
                raise DataError(f"{path}:{number}: expected an object with 'epoch' and 'arc'")
            records.append(record)
        return records

    def add(self, records: list) -> None:
        self.records.extend(records)
        self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in self.records))

    def best(self, kind: str, score: str) -> Optional[dict]:
        """The highest-`score` record of kind `kind` in the latest epoch that has any (the
        first one on ties), or None."""
        of_kind = [r for r in self.records if r.get("kind") == kind]
        if not of_kind:
            return None
        last_epoch = max(r["epoch"] for r in of_kind)
        latest = [r for r in of_kind if r["epoch"] == last_epoch]
        return max(latest, key=lambda r: r[score])

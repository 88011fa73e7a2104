"""Checkpoints, whatever the framework: the error every checkpoint reader raises and which file
of a directory to resume from. The writers live with their framework (nasrepro.torch.checkpoint,
nasrepro.tf.checkpoint); both write through nasrepro.atomic, so a crash never destroys the
previous copy."""
import re
from pathlib import Path
from typing import Optional

from ..errors import NasreproError


class CheckpointError(NasreproError, ValueError):
    """A checkpoint is missing, unreadable or does not hold what was expected."""


def latest_checkpoint(directory, pattern: str = "*.pt") -> Optional[Path]:
    """The checkpoint to resume from in `directory`, or None when there is none.

    Among files matching `pattern` (temporary files are skipped), the one whose name carries
    the largest number (e.g. checkpoint-12.pt over checkpoint-9.pt); files without a number
    rank by modification time, after numbered ones."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    candidates = [p for p in directory.glob(pattern)
                  if p.is_file() and not p.name.startswith(".")]
    if not candidates:
        return None

    def rank(p: Path):
        numbers = re.findall(r"\d+", p.stem)
        return (1, int(numbers[-1]), p.stat().st_mtime) if numbers else (0, 0, p.stat().st_mtime)

    return max(candidates, key=rank)

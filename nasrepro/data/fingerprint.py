"""A short, stable fingerprint of a dataset file or folder, recorded in results.json."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import DataError

# Above either limit only relative paths and sizes are hashed: reading ImageNet's 150 GB to
# fingerprint a run would take longer than many runs.
CONTENT_MAX_FILES = 5000
CONTENT_MAX_BYTES = 512 * 1024 * 1024
_CHUNK = 1 << 20


def _listing(root: Path) -> list[tuple[str, Path, int]]:
    """(relative posix path, path, size) of every non-hidden file, in a fixed order."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        # Hidden entries are caches, locks and our own manifest, not data.
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith("."):
                path = Path(dirpath) / name
                entries.append((path.relative_to(root).as_posix(), path, path.stat().st_size))
    return sorted(entries)


def dataset_fingerprint(path: str | Path) -> str:
    """'sha256:<16 hex>' over file contents, or 'listing:<16 hex>' over paths+sizes for big trees.

    Hidden files and folders are ignored. The result does not depend on where the dataset
    lives, on file times or on the order the file system lists entries in."""
    root = Path(path)
    if not root.exists():
        raise DataError(f"{root}: cannot fingerprint a dataset that does not exist")
    if root.is_file():
        entries = [("", root, root.stat().st_size)]
    else:
        entries = _listing(root)
        if not entries:
            raise DataError(f"{root}: dataset folder has no files to fingerprint")
    by_content = (len(entries) <= CONTENT_MAX_FILES
                  and sum(size for _, _, size in entries) <= CONTENT_MAX_BYTES)
    digest = hashlib.sha256()
    for rel, file, size in entries:
        digest.update(f"{rel}\0{size}\0".encode())
        if by_content:
            with open(file, "rb") as f:
                while chunk := f.read(_CHUNK):
                    digest.update(chunk)
    return f"{'sha256' if by_content else 'listing'}:{digest.hexdigest()[:16]}"

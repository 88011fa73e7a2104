"""Files written so that a crash never leaves a half-written file or destroys the previous copy.

Every write goes to a hidden temporary file in the same directory, is fsynced, then renamed over
the target (a rename within one file system is atomic)."""
import os
import threading
from pathlib import Path
from typing import Callable


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write `data` to `path` atomically; the old file stays intact if anything fails."""
    return atomic_write_with(path, lambda f: f.write(data))


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically (architecture pools, pointer files, small configs)."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_with(path, write: Callable) -> Path:
    """Call `write(binary_file)` on a temporary file, then rename it to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Hidden, and unique per process and thread, so concurrent writers never share a temp file.
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every platform can open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


"""TensorFlow checkpoints written so that a kill mid-save cannot lose the last one."""
import os
import re
from pathlib import Path
from typing import Optional

import tensorflow as tf

from ..atomic import atomic_write_text
from ..runs.checkpoint import CheckpointError

TF_POINTER_FILE = "checkpoint"


class TFCheckpointer:
    """Saves a tf.train.Checkpoint under `directory` so a kill mid-save cannot lose the last one.

    Each save writes a fresh prefix (`ckpt-<step>`) and only afterwards rewrites the pointer
    file `checkpoint` atomically, in the format tf.train.latest_checkpoint reads. Older
    checkpoints beyond `max_to_keep` are deleted after the pointer has moved."""

    def __init__(self, directory, max_to_keep: int = 2, checkpoint=None, **trackables):
        if checkpoint is None and not trackables:
            raise CheckpointError("TFCheckpointer needs a tf.train.Checkpoint or objects to track")
        if max_to_keep < 1:
            raise CheckpointError(f"max_to_keep should be at least 1, got {max_to_keep}")
        self.directory = Path(directory)
        self.max_to_keep = max_to_keep
        if checkpoint is None:
            checkpoint = tf.train.Checkpoint(**trackables)
        self.checkpoint = checkpoint

    def checkpoints(self) -> list:
        """Prefixes listed by the pointer file, oldest first (empty when there is none)."""
        pointer = self.directory / TF_POINTER_FILE
        if not pointer.is_file():
            return []
        names = re.findall(r'^all_model_checkpoint_paths:\s*"(.*)"\s*$', pointer.read_text(),
                           flags=re.MULTILINE)
        return [str(self.directory / n) if not os.path.isabs(n) else n for n in names]

    def latest(self) -> Optional[str]:
        """The prefix of the newest complete checkpoint, or None."""
        return tf.train.latest_checkpoint(str(self.directory))

    def save(self, step: int) -> str:
        """Write a checkpoint for `step`; returns its prefix."""
        self.directory.mkdir(parents=True, exist_ok=True)
        kept = self.checkpoints()
        name = f"ckpt-{int(step)}"
        # Never overwrite a checkpoint the pointer still lists: that one may be all we have.
        suffix = 1
        while str(self.directory / name) in kept:
            name = f"ckpt-{int(step)}_{suffix}"
            suffix += 1
        prefix = str(self.directory / name)
        self.checkpoint.write(prefix)
        kept = [p for p in kept if p != prefix] + [prefix]
        dropped, kept = kept[:-self.max_to_keep], kept[-self.max_to_keep:]
        lines = [f'model_checkpoint_path: "{os.path.basename(kept[-1])}"']
        lines += [f'all_model_checkpoint_paths: "{os.path.basename(p)}"' for p in kept]
        atomic_write_text(self.directory / TF_POINTER_FILE, "\n".join(lines) + "\n")
        for old in dropped:
            for f in self.directory.glob(os.path.basename(old) + ".*"):
                f.unlink(missing_ok=True)
        return prefix

    def restore_latest(self, strict: bool = True) -> Optional[str]:
        """Restore the newest checkpoint if there is one (resume); returns its prefix or None.

        `strict` requires every tracked object to get a value from the checkpoint; without
        it, objects the checkpoint does not know keep their current values."""
        prefix = self.latest()
        if prefix is None:
            return None
        try:
            status = self.checkpoint.read(prefix)
            if strict:
                status.assert_existing_objects_matched()
            else:
                status.expect_partial()
        except (ValueError, AssertionError) as err:
            raise CheckpointError(f"{prefix}: does not match the objects being restored "
                                  f"({err})") from None
        except Exception as err:  # tf.errors.* for truncated or unreadable files
            raise CheckpointError(f"{prefix}: not a readable TensorFlow checkpoint "
                                  f"({type(err).__name__}: {err})") from None
        return prefix

"""Importing TensorFlow without its C++ start-up notices.

TensorFlow 2.21 writes two lines to stderr on import whatever TF_CPP_MIN_LOG_LEVEL says: absl's
"All log messages before absl::InitializeLog() is called are written to STDERR" and an
"oneDNN custom operations are on" notice. They are not part of any original log, so the import
runs with file descriptor 2 captured and everything else it wrote is passed on unchanged.
Turning oneDNN off (TF_ENABLE_ONEDNN_OPTS=0) would silence the second line too, but it changes
the numerics, so the notice is filtered instead."""
import os
import re
import sys
import tempfile

_NOTICES = (
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called"),
    re.compile(r"^I\d{4} [\d:.]+ +\d+ port\.cc:\d+\] oneDNN custom operations are on"),
)


def import_tensorflow():
    """`import tensorflow`, quietly the first time; returns the module."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    # C++ INFO and WARNING lines of later TensorFlow calls stay off, as the originals ran.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
    kept = [line for line in text.splitlines(keepends=True)
            if not any(notice.match(line) for notice in _NOTICES)]
    if kept:
        sys.stderr.write("".join(kept))
        sys.stderr.flush()
    return tensorflow

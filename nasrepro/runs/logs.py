"""Logging for paper scripts: every line goes to stdout and to the run's log file.

Scripts print their original line formats through `logging`, so the file holds exactly the
lines the original scripts printed, in the format the caller chooses (NAO: "%(asctime)s
%(message)s"; ENAS: plain "%(message)s"). Progress bars are not logging records and never
reach the file."""
import logging
import sys
from pathlib import Path
from typing import Optional

_MARK = "_nasrepro_handler"

# NAO, NAO-WS and NAO-V2 log '%(asctime)s %(message)s' with a 12-hour clock
# (renqianluo/NAO_pytorch, NAO_V2/train_search.py: logging.basicConfig).
NAO_LOG_FORMAT = "%(asctime)s %(message)s"
NAO_LOG_DATEFMT = "%m/%d %I:%M:%S %p"


class _CurrentStdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at emit time (pytest and tee wrappers replace it)."""

    def __init__(self):
        super().__init__(sys.stdout)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


def setup_logging(log_file=None, fmt: str = "%(message)s", datefmt: Optional[str] = None,
                  level: int = logging.INFO, logger_name: Optional[str] = None,
                  stdout: bool = True) -> logging.Logger:
    """Send `logger_name` (default: the root logger) to stdout and `log_file`, appending.

    Calling it again replaces the handlers it installed before (no duplicated lines); other
    handlers on the logger are left alone. Returns the configured logger."""
    close_logging(logger_name)
    logger = logging.getLogger(logger_name)
    formatter = logging.Formatter(fmt, datefmt=datefmt)
    handlers = []
    if stdout:
        handlers.append(_CurrentStdoutHandler())
    if log_file is not None:
        log_file = Path(log_file)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        # Append: a resumed run continues the same log.
        handlers.append(logging.FileHandler(log_file, mode="a", encoding="utf-8"))
    for handler in handlers:
        setattr(handler, _MARK, True)
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    logger.setLevel(level)
    return logger


def close_logging(logger_name: Optional[str] = None) -> None:
    """Remove and close the handlers setup_logging installed (flushes the log file)."""
    logger = logging.getLogger(logger_name)
    for handler in list(logger.handlers):
        if getattr(handler, _MARK, False):
            logger.removeHandler(handler)
            handler.close()

"""Progress bars on the terminal only: drawn on stderr when it is a terminal, silent otherwise.

Logs and tee'd output never see them (a bar is not a logging record and a pipe is not a
terminal). NASREPRO_PROGRESS=1 or 0 forces bars on or off."""
import sys
from typing import Iterable, Optional

from tqdm import tqdm

from ..environment import progress_forced


def progress_enabled() -> bool:
    """Whether bars are drawn: NASREPRO_PROGRESS if set, else whether stderr is a terminal."""
    forced = progress_forced()
    if forced is not None:
        return forced
    stream = sys.stderr
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())


def progress(iterable: Optional[Iterable] = None, total: Optional[int] = None,
             desc: Optional[str] = None, **kwargs) -> tqdm:
    """A tqdm bar on stderr, or tqdm's no-op stand-in when bars are off.

    Either way it iterates like `iterable` and has .set_postfix(), .update() and .close().
    `disable=True` also turns it off (e.g. on every process but the first)."""
    disable = kwargs.pop("disable", False) or not progress_enabled()
    return tqdm(iterable, total=total, desc=desc, file=sys.stderr,
                disable=disable, dynamic_ncols=True, leave=False, **kwargs)

"""Writes <dir>/top100, the architectures generate.sh starts from (renqianluo/NAO
NAO/cnn/epd/get_top100.py; same flag and default).

Reads <dir>/encoder.train.input (60 tokens per line) and <dir>/encoder.train.target (the
normalized error rate of the same line) and writes the --top (new, default 100) architectures
with the lowest normalized error rate, best first (ties keep the file order).

The original's bug: it calls sorted() and drops the result, so top100 got EVERY architecture in
file order. --original_unsorted (new) does exactly that (and ignores --top); without it the file
holds what its name says.

From Python: `write_top(directory, top=100, original_unsorted=False) -> list of lines`."""
import argparse
import math
import sys
from pathlib import Path

try:
    from nasrepro.project_python import ensure_project_python
except ModuleNotFoundError:  # an interpreter without the project: take it from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from nasrepro.project_python import ensure_project_python
if __name__ == "__main__":
    ensure_project_python(__file__)

from nasrepro.atomic import atomic_write_text
from nasrepro.errors import ConfigError, DataError, NasreproError

INPUT_FILE = "encoder.train.input"
TARGET_FILE = "encoder.train.target"
OUTPUT_FILE = "top100"


def _read_lines(path: Path) -> list:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        raise DataError(f"{path}: missing (convert_arch_to_seq.py writes it)") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read it ({err.strerror})") from None


def ranked(directory, top: int = 100, original_unsorted: bool = False) -> list:
    """The lines of encoder.train.input that go to top100 (see the module docstring)."""
    directory = Path(directory)
    if not original_unsorted and (not isinstance(top, int) or top < 1):
        raise ConfigError(f"--top={top}: expected a positive integer")
    inputs = _read_lines(directory / INPUT_FILE)
    target_path = directory / TARGET_FILE
    texts = _read_lines(target_path)
    if len(inputs) != len(texts):
        raise DataError(f"{target_path}: {len(texts)} lines, but {directory / INPUT_FILE} has "
                        f"{len(inputs)}: expected one target per architecture")
    if not inputs:
        raise DataError(f"{directory / INPUT_FILE}: empty, expected one architecture per line")
    targets = []
    for line_no, text in enumerate(texts, start=1):
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or math.isnan(value):
            raise DataError(f"{target_path}, line {line_no}: {text!r}, expected a number (the "
                            "normalized error rate)")
        targets.append(value)
    if original_unsorted:
        return list(inputs)
    order = sorted(range(len(inputs)), key=lambda i: targets[i])  # stable: ties in file order
    return [inputs[i] for i in order[:top]]


def write_top(directory, top: int = 100, original_unsorted: bool = False) -> list:
    """Write <directory>/top100 (atomically); returns its lines."""
    lines = ranked(directory, top, original_unsorted)
    atomic_write_text(Path(directory) / OUTPUT_FILE, "".join(f"{line}\n" for line in lines))
    return lines


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", type=str, default="data/0iter/",
                   help="folder with encoder.train.input and encoder.train.target")
    p.add_argument("--top", type=int, default=100,
                   help="new: how many architectures to keep, lowest normalized error first")
    p.add_argument("--original_unsorted", action="store_true", default=False,
                   help="new: reproduce the original's bug, writing every architecture in "
                        "file order (--top is ignored)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        write_top(args.dir, args.top, args.original_unsorted)
    except NasreproError as err:
        print(f"{Path(__file__).name}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

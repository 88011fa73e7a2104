"""Turns a folder of evaluated architectures into the EPD's training files (renqianluo/NAO
NAO/cnn/epd/convert_arch_to_seq.py; same flag, default and output files).

Reads <data_dir>/valid_error_rate (one validation error rate per line; line i belongs to
dag.<i>.json) and <data_dir>/dag.1.json ... dag.<N>.json, and writes, one line per
architecture in that order:

  encoder.train.input, decoder.train.target   the 60 tokens of each architecture
  encoder.train.target                        its error rate, min-max normalized to [0, 1]
  train.target.ground_truth                   its error rate as read
  encoder.test.input, decoder.test.target,    the same for the FIRST 50 architectures only
  encoder.test.target, test.target.ground_truth

Kept from the original: every architecture is in the train files, so the "test" files are a
subset of the training data, not held out (main.py's test pairwise accuracy is therefore
measured on architectures the EPD trained on). The original also prints the (0-based) index
and value of the lowest and of the highest error rate; so does this script.

Differences: every file is written atomically, and bad inputs stop the script with one line
naming the file (and line) at fault: a missing dag file, more dag files than error rates, a
line that is not a finite number, all error rates equal (the original divides by zero).

From Python: `convert(data_dir) -> dict`."""
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
    ensure_project_python(__file__, needs=("tensorflow",))

from nasrepro.archs.nao_dag import dag_to_seq, read_dag_json
from nasrepro.atomic import atomic_write_text
from nasrepro.errors import DataError, NasreproError
from nasrepro.tf.nao_epd import normalize_targets

RATES_FILE = "valid_error_rate"
TEST_COUNT = 50  # the original's hard-coded size of the (non-held-out) test split
TRAIN_FILES = ("encoder.train.input", "encoder.train.target", "decoder.train.target",
               "train.target.ground_truth")
TEST_FILES = ("encoder.test.input", "encoder.test.target", "decoder.test.target",
              "test.target.ground_truth")


def dag_path(data_dir, index: int) -> Path:
    """The JSON file of architecture `index` (1-based, as the search numbers them)."""
    return Path(data_dir) / f"dag.{index}.json"


def read_error_rates(path) -> list:
    """The floats of `path`, one per line; a clear error for anything else."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise DataError(f"{path}: missing (expected one validation error rate per line, line i "
                        "for dag.<i>.json)") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read it ({err.strerror})") from None
    values = []
    for line_no, line in enumerate(lines, start=1):
        try:
            value = float(line)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value):
            raise DataError(f"{path}, line {line_no}: {line!r}, expected a finite number (the "
                            f"validation error rate of dag.{line_no}.json)")
        values.append(value)
    if not values:
        raise DataError(f"{path}: empty, expected one validation error rate per line")
    return values


def convert(data_dir, log=print) -> dict:
    """Write the eight EPD files of `data_dir` (see the module docstring). Returns {count,
    test_count, min_index, min, max_index, max, files}; indices are 0-based, as printed.
    `log` gets the original's two printed lines (None: silent)."""
    data_dir = Path(data_dir)
    rates_path = data_dir / RATES_FILE
    targets = read_error_rates(rates_path)
    count = len(targets)
    seqs = []
    for index in range(1, count + 1):
        path = dag_path(data_dir, index)
        if not path.is_file():
            raise DataError(f"{path}: missing; {rates_path} has {count} error rates, so "
                            f"dag.1.json .. dag.{count}.json are expected")
        seqs.append(" ".join(map(str, dag_to_seq(read_dag_json(path)))))
    extra = dag_path(data_dir, count + 1)
    if extra.exists():
        raise DataError(f"{rates_path}: {count} error rates, but {extra.name} exists too: "
                        "expected one error rate per dag.<i>.json (count mismatch)")
    low, high = min(targets), max(targets)
    if not high > low:
        raise DataError(f"{rates_path}: all {count} error rates equal {low}; min-max "
                        "normalization needs at least two different values")
    normalized = normalize_targets(targets)
    low_index, high_index = targets.index(low), targets.index(high)
    if log is not None:
        log(f"{low_index} {low}")
        log(f"{high_index} {high}")

    def lines(values) -> str:
        return "".join(f"{v}\n" for v in values)

    test = min(count, TEST_COUNT)
    columns = (seqs, normalized, seqs, targets)
    files = []
    for names, rows in ((TRAIN_FILES, count), (TEST_FILES, test)):
        for name, column in zip(names, columns):
            files.append(atomic_write_text(data_dir / name, lines(column[:rows])))
    return {"count": count, "test_count": test, "min_index": low_index, "min": low,
            "max_index": high_index, "max": high, "files": [str(f) for f in files]}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", type=str, default="data/0iter/",
                   help="folder with valid_error_rate and dag.<i>.json; the EPD files go there")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        convert(args.data_dir)
    except NasreproError as err:
        print(f"{Path(__file__).name}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

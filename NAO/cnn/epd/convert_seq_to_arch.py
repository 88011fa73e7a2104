"""Turns token sequences (one architecture of 60 tokens per line, e.g. main.py's
<to>.new_arch) into dag.<i>.json files, i = 1, 2, ... in line order (renqianluo/NAO
NAO/cnn/epd/convert_seq_to_arch.py; same flags and defaults).

Differences: the original creates --output_dir with os.makedirs and so fails when it exists;
here an existing folder is fine, but a dag.<i>.json this run would write must not exist yet
unless --overwrite (new) is given. Every line is checked before anything is written (a line that
is not 60 integer tokens, or whose tokens are not a cell, e.g. a size token where an op type
belongs, stops the script naming the file, line and token; the original wrote such a cell
anyway). Ops the decoder can emit but no network builds (a pool or separable conv with a
1x3+3x1 size) are written as they are, as in the original. Files are written atomically.

From Python: `convert(arch_file, output_dir, overwrite=False) -> list of paths`."""
import argparse
import sys
from pathlib import Path

try:
    from nasrepro.project_python import ensure_project_python
except ModuleNotFoundError:  # an interpreter without the project: take it from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from nasrepro.project_python import ensure_project_python
if __name__ == "__main__":
    ensure_project_python(__file__)

from nasrepro.archs.nao_dag import seq_to_dag, write_dag_json
from nasrepro.errors import ConfigError, DataError, NasreproError


def read_seqs(arch_file) -> list:
    """The Dag of every line of `arch_file`; a clear error naming the line otherwise."""
    arch_file = Path(arch_file)
    try:
        lines = arch_file.read_text().splitlines()
    except FileNotFoundError:
        raise DataError(f"{arch_file}: missing (expected one architecture of 60 tokens per "
                        "line)") from None
    except OSError as err:
        raise DataError(f"{arch_file}: cannot read it ({err.strerror})") from None
    if not lines:
        raise DataError(f"{arch_file}: empty, expected one architecture of 60 tokens per line")
    return [seq_to_dag(line, source=f"{arch_file}, line {n}")
            for n, line in enumerate(lines, start=1)]


def convert(arch_file, output_dir, overwrite: bool = False) -> list:
    """Write dag.<i>.json (1-based) in `output_dir` for every line of `arch_file`; returns the
    paths written."""
    dags = read_seqs(arch_file)
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ConfigError(f"--output_dir={output_dir}: exists and is not a directory")
    paths = [output_dir / f"dag.{i}.json" for i in range(1, len(dags) + 1)]
    if not overwrite:
        existing = [p.name for p in paths if p.exists()]
        if existing:
            shown = ", ".join(existing[:3]) + (", ..." if len(existing) > 3 else "")
            raise ConfigError(f"--output_dir={output_dir}: {len(existing)} of the dag files to "
                              f"write exist already ({shown}); pass --overwrite to replace "
                              "them")
    output_dir.mkdir(parents=True, exist_ok=True)
    for path, dag in zip(paths, dags):
        write_dag_json(path, dag)
    return paths


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch_file", type=str, default="data/0iter/new_archs",
                   help="one architecture per line, 60 space-separated tokens")
    p.add_argument("--output_dir", type=str, default="data/1iter/",
                   help="where dag.<i>.json go (created if missing)")
    p.add_argument("--overwrite", action="store_true", default=False,
                   help="new: replace dag files that exist already (default: refuse)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        paths = convert(args.arch_file, args.output_dir, args.overwrite)
    except NasreproError as err:
        print(f"{Path(__file__).name}: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {len(paths)} dag files to {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Print random ENAS architectures in the `--child_fixed_arc` form, one per line.

    bash scripts/cifar10_micro_final.sh \
        --child_fixed_arc="$(python src/cifar10/random_arc.py --seed=1)"

Spaces:
  restricted  the CIFAR-100 fork's README snippet (NAS-Benchmark ENASTF): every node reads the
              two cell inputs only, with one shared input pair per arc (the default, the
              "random architecture" baseline of Yang et al.)
  full        uniform over the whole micro space (any previous node, any op)
  macro       a macro arc of --num_layers layers (uniform ops, skip bits Bernoulli(0.5))
"""
import argparse
import sys
from pathlib import Path

try:
    from nasrepro.project_python import ensure_project_python
except ModuleNotFoundError:  # an interpreter without the project: take it from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from nasrepro.project_python import ensure_project_python
ensure_project_python(__file__)

import numpy as np

from nasrepro.archs import enas
from nasrepro.errors import ConfigError


def random_arcs(space: str, seed, count: int, num_cells: int = 5, num_layers: int = 12,
                num_ops=None) -> list:
    """`count` arcs (MicroArc or MacroArc) of `space`, drawn from one numpy Generator."""
    if count < 1:
        raise ConfigError(f"--count: expected a positive integer, got {count}")
    if num_cells < 1:
        raise ConfigError(f"--num_cells: expected a positive integer, got {num_cells}")
    if num_layers < 1:
        raise ConfigError(f"--num_layers: expected a positive integer, got {num_layers}")
    if space == "restricted" and num_cells != 5:
        raise ConfigError(f"--num_cells={num_cells}: the restricted space (the fork's snippet) "
                          "has exactly 5 nodes per cell; use --space=full for other sizes")
    rng = np.random.default_rng(seed)
    if space == "restricted":
        return [enas.random_restricted_micro_arc(rng, num_ops or 5) for _ in range(count)]
    if space == "full":
        return [enas.random_micro_arc(rng, num_cells, num_ops or 5) for _ in range(count)]
    if space == "macro":
        return [enas.random_macro_arc(rng, num_layers, num_ops or 6) for _ in range(count)]
    raise ConfigError(f"--space: expected restricted, full or macro, got {space!r}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="random_arc.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="restricted", choices=("restricted", "full", "macro"))
    parser.add_argument("--seed", type=int, default=None,
                        help="numpy seed (default: fresh entropy, a different arc each run)")
    parser.add_argument("--num_layers", type=int, default=12,
                        help="macro only: number of layers (12 = macro search, 24 = macro final)")
    parser.add_argument("--num_cells", type=int, default=5, help="micro: computed nodes per cell")
    parser.add_argument("--num_ops", type=int, default=None,
                        help="number of op ids (default 5 micro, 6 macro)")
    parser.add_argument("--count", type=int, default=1, help="number of arcs to print")
    args = parser.parse_args(argv)
    try:
        arcs = random_arcs(args.space, args.seed, args.count, args.num_cells, args.num_layers,
                           args.num_ops)
    except ConfigError as err:
        print(f"random_arc.py: error: {err}", file=sys.stderr)
        return 2
    for arc in arcs:
        print(arc)
    return 0


if __name__ == "__main__":
    sys.exit(main())

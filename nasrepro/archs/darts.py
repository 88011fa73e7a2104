"""DARTS genotypes: per cell, (op name, input index) for both edges of every intermediate node,
and the states concatenated as the cell output. Input 0 is the cell two back, 1 the previous
cell, j >= 2 intermediate node j-2 of this cell. Shared by the DARTS-space systems (ASHA over
the DARTS space, GAEA)."""
from __future__ import annotations

from collections import namedtuple

from ..errors import NasreproError

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")

PRIMITIVES = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
              "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")

# DARTS (second order), the cell of the DARTS paper's CIFAR-10 row: 3,349,342 parameters at
# C=36, 20 cells, aux head excluded.
DARTS_V2 = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
    reduce_concat=[2, 3, 4, 5])


class GenotypeError(NasreproError, ValueError):
    """A genotype that names an unknown op, reads a state that does not exist yet, or
    concatenates one that does not exist."""


def check_genotype(genotype: Genotype, source: str = "genotype") -> Genotype:
    """Raise GenotypeError naming the cell, node and edge at fault; return the genotype."""
    for cell in ("normal", "reduce"):
        edges = list(getattr(genotype, cell))
        if not edges or len(edges) % 2:
            raise GenotypeError(f"{source}: {cell} cell has {len(edges)} edges, expected two "
                                "per intermediate node")
        for position, edge in enumerate(edges):
            node, which = divmod(position, 2)
            where = f"{source}: {cell} cell, node {node + 1}, edge {which + 1}"
            if len(edge) != 2:
                raise GenotypeError(f"{where}: {edge!r} is not an (op, input) pair")
            op, index = edge
            if op not in PRIMITIVES:
                raise GenotypeError(f"{where}: unknown op {op!r}; expected one of "
                                    f"{', '.join(PRIMITIVES)}")
            if not isinstance(index, int) or not 0 <= index <= node + 1:
                raise GenotypeError(f"{where}: input {index!r}, expected a state index in "
                                    f"0..{node + 1}")
        states = len(edges) // 2 + 2
        concat = list(getattr(genotype, f"{cell}_concat"))
        bad = [i for i in concat if not isinstance(i, int) or not 0 <= i < states]
        if not concat or bad:
            raise GenotypeError(f"{source}: {cell}_concat {concat!r}, expected state indices "
                                f"in 0..{states - 1}")
    return genotype

"""NAO architecture strings: two cells of B nodes, each node `x_id x_op y_id y_op`.

A cell is 4*B ints; the architecture is the normal ("conv") cell then the reduction cell, space
separated on one line (NAO, NAO-WS and NAO-V2 `--arch` / `arch_pool` lines). Input ids: 0 is the
output of the cell two back, 1 the previous cell, 2.. the nodes of this cell, so node i may read
ids 0..i+1. The controller sees each cell as tokens: id+1 for inputs (1..B+1), op+B+2 for ops.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Iterable, Sequence, Union

import numpy as np

from ..errors import NasreproError
from .enas import MICRO_OPS

DEFAULT_NODES = 5
# NAO-V2's `small` search space is ENAS's micro op vocabulary, ids included: 0 sep conv 3x3,
# 1 sep conv 5x5, 2 avg pool 3x3, 3 max pool 3x3, 4 identity (a factorized reduce where it must
# halve the resolution).
SMALL_OPS = MICRO_OPS

# NAONet-V2, as in all three final-training scripts of NAO_pytorch/NAO_V2.
PUBLISHED_NAONET_V2 = ("1 1 0 1 2 4 0 0 0 0 2 1 0 0 0 2 0 3 0 0 "
                       "0 2 0 2 2 2 1 0 0 0 0 1 0 0 0 3 0 0 0 1")


class ArchError(NasreproError, ValueError):
    """A malformed NAO architecture string or token sequence."""


@dataclass(frozen=True)
class NaoArch:
    """A checked architecture: the normal and reduction cells, 4*nodes ints each."""
    normal: tuple
    reduce: tuple

    @property
    def nodes(self) -> int:
        return len(self.normal) // 4

    @property
    def ints(self) -> list:
        return [*self.normal, *self.reduce]

    def __str__(self) -> str:
        return " ".join(map(str, self.ints))

    def cells(self) -> tuple:
        return self.normal, self.reduce


def _whole_number(value):
    """`value` as an int, or None unless it is a whole number (int() would truncate 1.5)."""
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    try:
        return operator.index(value)  # int, numpy and torch integers
    except TypeError:
        pass
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return None


def _to_ints(values: Iterable, source: str) -> list:
    ints = []
    for position, value in enumerate(values):
        number = _whole_number(value)
        if number is None:
            shown = f"'{value}'" if isinstance(value, str) else repr(value)
            raise ArchError(f"{source}: position {position} is {shown}, expected an integer")
        ints.append(number)
    return ints


def parse_nao_arch(arch: Union[str, Sequence[int]], nodes: int = DEFAULT_NODES,
                   num_ops: int = len(SMALL_OPS), source: str = "architecture") -> NaoArch:
    """Parse and check an architecture string (or int sequence); `source` names it in errors."""
    ints = _to_ints(arch.split() if isinstance(arch, str) else arch, source)
    expected = 8 * nodes
    if len(ints) != expected:
        raise ArchError(f"{source}: {len(ints)} integers, expected {expected} (two cells of "
                        f"{nodes} nodes, 'x_id x_op y_id y_op' per node)")
    for position, value in enumerate(ints):
        cell, offset = divmod(position, 4 * nodes)
        node, slot = divmod(offset, 4)
        cell_name = ("normal", "reduction")[cell]
        if slot % 2 == 0:
            if not 0 <= value <= node + 1:
                raise ArchError(f"{source}: position {position} ({cell_name} cell, node {node}, "
                                f"{'xy'[slot // 2]} input) is {value}, expected an input id in "
                                f"0..{node + 1}")
        elif not 0 <= value < num_ops:
            raise ArchError(f"{source}: position {position} ({cell_name} cell, node {node}, "
                            f"{'xy'[slot // 2]} op) is {value}, expected an op id in "
                            f"0..{num_ops - 1}")
    half = 4 * nodes
    return NaoArch(tuple(ints[:half]), tuple(ints[half:]))


def read_arch_pool(path, nodes: int = DEFAULT_NODES, num_ops: int = len(SMALL_OPS)) -> list:
    """The architectures of an `arch_pool` file, one per non-empty line."""
    archs = []
    with open(path) as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                archs.append(parse_nao_arch(line, nodes, num_ops, source=f"{path}:{number}"))
    if not archs:
        raise ArchError(f"{path}: no architectures (expected one per line)")
    return archs


def random_arch(rng: np.random.Generator, nodes: int = DEFAULT_NODES,
                num_ops: int = len(SMALL_OPS)) -> NaoArch:
    """Inputs uniform over the allowed ids, ops uniform; the two cells drawn independently."""
    def cell():
        values = []
        for node in range(nodes):
            values += [rng.integers(0, node + 2), rng.integers(0, num_ops),
                       rng.integers(0, node + 2), rng.integers(0, num_ops)]
        return tuple(int(v) for v in values)
    return NaoArch(cell(), cell())


def cell_concat(cell: Sequence[int]) -> list:
    """The ids of the states no node reads, in id order: they are concatenated as the output."""
    nodes = len(cell) // 4
    used = set(cell[0::2])
    return [i for i in range(nodes + 2) if i not in used]


# Controller tokens: 0 is the start symbol; inputs id+1; ops op+nodes+2.

def vocab_size(nodes: int = DEFAULT_NODES, num_ops: int = len(SMALL_OPS)) -> int:
    return 1 + (nodes + 1) + num_ops


def arch_to_seq(arch: NaoArch) -> list:
    """The 8*nodes controller tokens of an architecture."""
    nodes = arch.nodes
    op_offset = nodes + 2
    return [v + 1 if i % 2 == 0 else v + op_offset for i, v in enumerate(arch.ints)]


def seq_to_arch(seq: Iterable[int], nodes: int = DEFAULT_NODES,
                num_ops: int = len(SMALL_OPS)) -> NaoArch:
    """Inverse of arch_to_seq; checks the result like any architecture string."""
    op_offset = nodes + 2
    tokens = _to_ints(seq, "token sequence")
    ints = [t - 1 if i % 2 == 0 else t - op_offset for i, t in enumerate(tokens)]
    return parse_nao_arch(ints, nodes, num_ops, source="token sequence")


def swap_node_inputs(arch: NaoArch, normal_node: int, reduce_node: int) -> NaoArch:
    """The same architecture written differently: the two (input, op) pairs of one node of
    each cell swapped (node outputs are sums, so the order is free). The controller's data
    augmentation."""
    def swap(cell, node):
        cell = list(cell)
        a = 4 * node
        cell[a:a + 4] = cell[a + 2:a + 4] + cell[a:a + 2]
        return tuple(cell)
    return NaoArch(swap(arch.normal, normal_node), swap(arch.reduce, reduce_node))

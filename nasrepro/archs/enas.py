"""ENAS architecture strings: the micro (two cells) and macro (whole network) encodings.

Micro (melodyguan/enas, README.md and src/cifar10/micro_child.py): a cell has input nodes 0
(output of cell k-2) and 1 (cell k-1) and `num_cells` computed nodes 2..num_cells+1. Each
computed node is four integers
`index_1 op_1 index_2 op_2`: node = op_1(node[index_1]) + op_2(node[index_2]). The arc is the
normal cell's 4*num_cells integers followed by the reduction cell's (40 for 5 nodes).

Macro (melodyguan/enas, README.md and src/cifar10/general_child.py): for layer k (0-based) the
op id followed by k skip bits; bit i adds prev_layers[i] where prev_layers = [stem, L0, L1, ...]
(so bit 0 is the stem). Length L + L(L-1)/2.

Pure python/numpy so commands and plots can use it without importing TensorFlow."""
import numbers
import re
from dataclasses import dataclass

import numpy as np

from nasrepro.errors import ConfigError

# The micro space's ops by id; NAO-V2's `small` space has the same ones (archs.nao.SMALL_OPS).
MICRO_OPS = ("sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "identity")
MACRO_OPS = ("conv_3x3", "sep_conv_3x3", "conv_5x5", "sep_conv_5x5", "avg_pool_3x3",
             "max_pool_3x3")

# The cells trained by melodyguan/enas scripts/cifar10_micro_final.sh: normal, then reduction.
PUBLISHED_MICRO_ARC = ("0 2 0 0 0 4 0 1 0 4 1 1 1 0 0 1 0 2 1 1 "
                       "1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1")

# The 24-layer network trained by melodyguan/enas scripts/cifar10_macro_final.sh, one row per
# layer.
_PUBLISHED_MACRO_ROWS = (
    "0",
    "3 0",
    "0 1 0",
    "2 0 0 1",
    "2 0 0 0 0",
    "3 1 1 0 1 0",
    "2 0 0 0 0 0 1",
    "2 0 1 1 0 1 1 1",
    "1 0 1 1 1 0 1 0 1",
    "0 0 0 0 0 0 0 0 0 0",
    "2 0 0 0 0 0 1 0 0 0 0",
    "0 1 0 0 1 1 0 0 0 0 1 1",
    "2 0 1 0 0 0 0 0 1 0 1 1 0",
    "1 0 0 1 0 0 0 1 1 1 0 1 0 1",
    "0 1 1 0 1 0 1 0 0 0 0 0 1 0 0",
    "2 0 0 1 0 0 0 0 0 0 0 1 0 1 0 1",
    "2 0 1 0 0 0 1 0 0 1 1 1 1 0 0 1 0",
    "2 0 0 0 0 1 0 1 0 1 0 0 1 0 1 0 0 1",
    "3 0 1 1 0 1 0 0 0 0 0 1 0 1 0 1 0 0 0",
    "3 0 1 1 0 0 0 0 0 0 0 0 0 1 1 0 0 0 0 1",
    "0 1 0 0 1 0 1 1 0 0 0 1 0 0 0 0 0 1 1 0 0",
    "3 0 1 0 1 1 0 0 1 0 1 1 0 1 1 0 1 0 0 1 0 0",
    "0 1 0 1 0 1 0 0 0 0 0 0 0 0 1 0 1 0 0 1 0 0 0",
    "0 1 1 0 0 0 1 1 1 0 1 0 0 0 1 0 1 0 0 1 1 0 0 0",
)
PUBLISHED_MACRO_ARC = " ".join(_PUBLISHED_MACRO_ROWS)

_CELL_NAMES = {"normal": "normal", "reduce": "reduction"}
_SLOT_NAMES = ("first input", "first op", "second input", "second op")


class ArcError(ConfigError):
    """An architecture string or sequence does not follow the ENAS encoding."""


# ---------------------------------------------------------------------- tokens


def _tokens(value, source: str) -> list:
    """The integers of `value`: a string (whitespace, commas, brackets allowed, as in printed
    numpy arrays), a numpy array or a sequence of ints."""
    if isinstance(value, (MicroArc, MacroArc)):
        return list(value.ints)
    if isinstance(value, str):
        parts = [p for p in re.split(r"[\s,\[\]()]+", value) if p]
        out = []
        for position, part in enumerate(parts):
            try:
                out.append(int(part))
            except ValueError:
                raise ArcError(f"{source}: position {position}: {part!r} is not an integer")
        return out
    if isinstance(value, np.ndarray):
        value = value.reshape(-1).tolist()
    if value is None or not hasattr(value, "__iter__"):
        raise ArcError(f"{source}: expected a string or a sequence of integers, got {value!r}")
    out = []
    for position, item in enumerate(value):
        if isinstance(item, np.ndarray) and item.ndim == 0:
            item = item.item()
        if isinstance(item, bool) or not isinstance(item, numbers.Integral):
            raise ArcError(f"{source}: position {position}: {item!r} is not an integer")
        out.append(int(item))
    return out


# ---------------------------------------------------------------------- micro


@dataclass(frozen=True)
class MicroArc:
    """Normal and reduction cell, each 4 ints per computed node."""

    normal: tuple
    reduce: tuple

    @property
    def num_cells(self) -> int:
        return len(self.normal) // 4

    @property
    def ints(self) -> tuple:
        return tuple(self.normal) + tuple(self.reduce)

    def _cell(self, cell: str) -> tuple:
        if cell not in _CELL_NAMES:
            raise ValueError(f"cell must be 'normal' or 'reduce', got {cell!r}")
        return self.normal if cell == "normal" else self.reduce

    def nodes(self, cell: str) -> list:
        """(x_id, x_op, y_id, y_op) for nodes 2..num_cells+1 of the 'normal' or 'reduce' cell."""
        ints = self._cell(cell)
        return [tuple(ints[i:i + 4]) for i in range(0, len(ints), 4)]

    def loose_ends(self, cell: str) -> list:
        """Nodes (inputs 0 and 1 included) no computed node reads: the cell output concatenates
        these."""
        used = {node[0] for node in self.nodes(cell)} | {node[2] for node in self.nodes(cell)}
        return [i for i in range(self.num_cells + 2) if i not in used]

    def __str__(self) -> str:
        return " ".join(str(v) for v in self.ints)


def parse_micro_arc(value, num_cells: int = 5, num_ops: int = 5,
                    source: str = "--child_fixed_arc") -> MicroArc:
    """Check and decode a micro arc (string or ints); errors name `source` and the position."""
    ints = _tokens(value, source)
    expected = 8 * num_cells
    if len(ints) != expected:
        raise ArcError(
            f"{source}: expected {expected} integers ({4 * num_cells} for the normal cell, then "
            f"{4 * num_cells} for the reduction cell; 4 per node, {num_cells} nodes), "
            f"got {len(ints)}")
    for position, v in enumerate(ints):
        cell = "normal" if position < 4 * num_cells else "reduce"
        within = position % (4 * num_cells)
        node, slot = 2 + within // 4, within % 4
        where = (f"{source}: position {position} ({_CELL_NAMES[cell]} cell, node {node}, "
                 f"{_SLOT_NAMES[slot]})")
        if slot % 2 == 0 and not 0 <= v < node:
            raise ArcError(f"{where}: {v} is not a previous node (0..{node - 1})")
        if slot % 2 == 1 and not 0 <= v < num_ops:
            raise ArcError(f"{where}: {v} is not an op id (0..{num_ops - 1}: "
                           f"{', '.join(MICRO_OPS[:num_ops])})")
    half = 4 * num_cells
    return MicroArc(tuple(ints[:half]), tuple(ints[half:]))


def _op_name(names, op: int) -> str:
    return names[op] if op < len(names) else f"op{op}"


def describe_micro_arc(arc: MicroArc) -> str:
    """A readable table of both cells (node = op(input) + op(input); output = concat)."""
    lines = ["inputs: 0 = output of cell k-2, 1 = output of cell k-1"]
    for cell in ("normal", "reduce"):
        lines.append(f"{_CELL_NAMES[cell]} cell")
        for j, (x_id, x_op, y_id, y_op) in enumerate(arc.nodes(cell), start=2):
            lines.append(f"  node {j} = {_op_name(MICRO_OPS, x_op)}({x_id}) + "
                         f"{_op_name(MICRO_OPS, y_op)}({y_id})")
        ends = arc.loose_ends(cell)
        lines.append(f"  output = concat({', '.join(str(i) for i in ends)})")
    return "\n".join(lines)


# ---------------------------------------------------------------------- macro


def macro_arc_length(num_layers: int) -> int:
    """L op ids plus 0 + 1 + ... + (L-1) skip bits."""
    return num_layers + num_layers * (num_layers - 1) // 2


@dataclass(frozen=True)
class MacroArc:
    """One (op id, skip bits) pair per layer; layer k has k bits (bit 0 = the stem)."""

    layers: tuple

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def ints(self) -> tuple:
        out = []
        for op, bits in self.layers:
            out.append(op)
            out.extend(bits)
        return tuple(out)

    @property
    def skip_count(self) -> int:
        return sum(sum(bits) for _, bits in self.layers)

    def rows(self) -> list:
        """One 'op bit bit ...' string per layer, as the macro_final script writes them."""
        return [" ".join(str(v) for v in (op,) + tuple(bits)) for op, bits in self.layers]

    def __str__(self) -> str:
        return " ".join(str(v) for v in self.ints)


def _skip_source(bit: int) -> str:
    return "the stem" if bit == 0 else f"layer {bit - 1}"


def parse_macro_arc(value, num_layers: int, num_ops: int = 6,
                    source: str = "--child_fixed_arc") -> MacroArc:
    """Check and decode a macro arc of `num_layers` layers; errors name the position and layer."""
    ints = _tokens(value, source)
    expected = macro_arc_length(num_layers)
    if len(ints) != expected:
        raise ArcError(
            f"{source}: expected {expected} integers for {num_layers} layers (per layer k: the "
            f"op id, then k skip bits; L + L(L-1)/2), got {len(ints)}")
    layers, position = [], 0
    for k in range(num_layers):
        op = ints[position]
        if not 0 <= op < num_ops:
            raise ArcError(f"{source}: position {position} (layer {k}, op id): {op} is not an "
                           f"op id (0..{num_ops - 1}: {', '.join(MACRO_OPS[:num_ops])})")
        bits = ints[position + 1:position + 1 + k]
        for i, bit in enumerate(bits):
            if bit not in (0, 1):
                raise ArcError(
                    f"{source}: position {position + 1 + i} (layer {k}, skip bit {i}, from "
                    f"{_skip_source(i)}): {bit} is not 0 or 1")
        layers.append((op, tuple(bits)))
        position += 1 + k
    return MacroArc(tuple(layers))


# ---------------------------------------------------------------------- random arcs


def random_micro_arc(rng: np.random.Generator, num_cells: int = 5, num_ops: int = 5) -> MicroArc:
    """Uniform over the full micro space: each input uniform over the previous nodes, each op
    uniform."""
    cells = []
    for _ in range(2):
        ints = []
        for node in range(2, num_cells + 2):
            for _slot in range(2):
                ints.append(int(rng.integers(0, node)))
                ints.append(int(rng.integers(0, num_ops)))
        cells.append(tuple(ints))
    return MicroArc(*cells)


# Which of the 20 drawn ops goes to which (cell, node) in the CIFAR-100 fork's README snippet
# (antoyang/NAS-Benchmark, ENASTF/README.md): ops 0-7 and 16-17 fill the normal cell, 8-15 and
# 18-19 the reduction cell.
RESTRICTED_OP_SLOTS = {"normal": (0, 1, 2, 3, 4, 5, 6, 7, 16, 17),
                       "reduce": (8, 9, 10, 11, 12, 13, 14, 15, 18, 19)}


def random_restricted_micro_arc(rng: np.random.Generator, num_ops: int = 5) -> MicroArc:
    """The fork's "random architecture": 20 ops from randint(0, num_ops), 20 link bits of which
    only links[0] and links[1] are used, as every node's first and second input in both cells.
    So all nodes read only the two cell inputs (5 nodes per cell)."""
    ops = rng.integers(0, num_ops, 20)
    links = rng.choice([0, 1], size=20, replace=True)
    cells = []
    for cell in ("normal", "reduce"):
        slots = RESTRICTED_OP_SLOTS[cell]
        ints = []
        for node in range(5):
            ints += [int(links[0]), int(ops[slots[2 * node]]),
                     int(links[1]), int(ops[slots[2 * node + 1]])]
        cells.append(tuple(ints))
    return MicroArc(*cells)


def random_macro_arc(rng: np.random.Generator, num_layers: int, num_ops: int = 6) -> MacroArc:
    """Each op uniform, each skip bit Bernoulli(0.5)."""
    layers = []
    for k in range(num_layers):
        op = int(rng.integers(0, num_ops))
        bits = tuple(int(b) for b in rng.integers(0, 2, k))
        layers.append((op, bits))
    return MacroArc(tuple(layers))

"""NAO architecture strings: two cells of B nodes, each node `x_id x_op y_id y_op`.

A cell is 4*B ints; the architecture is the normal ("conv") cell then the reduction cell, space
separated on one line (NAO, NAO-WS and NAO-V2 `--arch` / `arch_pool` lines). Input ids: 0 is the
output of the cell two back, 1 the previous cell, 2.. the nodes of this cell, so node i may read
ids 0..i+1. The controller sees each cell as tokens: id+1 for inputs (1..B+1), op+B+2 for ops.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Sequence, Union

import numpy as np

from ..errors import ConfigError, NasreproError, check_value
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


# Decode rules: which tokens a controller's decoder may emit at each position (TF and PyTorch).

class CellBranchRule:
    """The CNN decode rule of NAO (3 tokens per branch) and NAO-WS (2 tokens per branch).

    A cell is `nodes` nodes x 2 branches x `branch_length` tokens, normal cell then reduction
    cell. The first token of a branch is the input of node k = (branch index mod 2*nodes) // 2,
    which may be tokens 1..k+2 (ids 0..k+1); the other tokens of a branch are ops, tokens
    `first_op_token`..vocab_size-1. With nodes=5 this is the originals' MyDense mask
    (`time / branch_length % 10 / 2` + 3 and "tokens 7 on")."""

    def __init__(self, nodes: int = DEFAULT_NODES, branch_length: int = 2,
                 vocab_size: int = 12, first_op_token: Optional[int] = None):
        check_value(isinstance(nodes, int) and nodes >= 1, "CellBranchRule", "nodes", nodes,
                    "an integer >= 1")
        check_value(isinstance(branch_length, int) and branch_length >= 2, "CellBranchRule",
                    "branch_length", branch_length, "an integer >= 2 (input token + op tokens)")
        first_op_token = nodes + 2 if first_op_token is None else first_op_token
        check_value(nodes + 2 <= first_op_token < vocab_size, "CellBranchRule",
                    "first_op_token", first_op_token,
                    f"a token in {nodes + 2}..{vocab_size - 1} (after the {nodes + 1} input "
                    f"tokens, inside vocab_size={vocab_size})")
        self.nodes, self.branch_length = nodes, branch_length
        self.vocab_size, self.first_op_token = vocab_size, first_op_token

    @classmethod
    def for_sizes(cls, length: int, vocab_size: int,
                  nodes: int = DEFAULT_NODES) -> "CellBranchRule":
        """The rule for a decoder length of 2 cells x `nodes` x 2 branches x branch_length."""
        check_value(length > 0 and length % (4 * nodes) == 0, "EPD", "decoder_length", length,
                    f"a positive multiple of {4 * nodes} (2 cells x {nodes} nodes x 2 branches)")
        return cls(nodes, length // (4 * nodes), vocab_size)

    def allowed(self, position: int) -> range:
        branch, slot = divmod(position, self.branch_length)
        if slot == 0:
            node = (branch % (2 * self.nodes)) // 2
            return range(1, node + 3)
        return range(self.first_op_token, self.vocab_size)

    def __repr__(self) -> str:
        return (f"CellBranchRule(nodes={self.nodes}, branch_length={self.branch_length}, "
                f"vocab_size={self.vocab_size}, first_op_token={self.first_op_token})")


def allowed_tokens_mask(rule, length: int, vocab_size: int) -> np.ndarray:
    """(length, vocab_size) booleans: which tokens the rule admits at each position.

    `rule` is an object with `allowed(position)` (CellBranchRule, or the torch module's
    CellDecodeRule), a function position -> tokens, or a table: one collection of tokens per
    position."""
    if hasattr(rule, "allowed"):
        lookup = rule.allowed
    elif callable(rule):
        lookup = rule
    else:
        table = list(rule)
        if len(table) != length:
            raise ConfigError(f"decode rule table: {len(table)} positions, expected "
                              f"decoder_length={length}")
        lookup = table.__getitem__
    mask = np.zeros((length, vocab_size), dtype=bool)
    for position in range(length):
        tokens = [int(t) for t in lookup(position)]
        bad = [t for t in tokens if not 0 <= t < vocab_size]
        if not tokens or bad:
            raise ConfigError(f"decode rule {rule!r}: position {position} allows tokens {tokens}, "
                              f"expected a non-empty set within 0..{vocab_size - 1}")
        mask[position, tokens] = True
    return mask


def collect_new_seqs(decode_at: Callable[[int], Iterable[Sequence[int]]], existing,
                     max_new: int, max_step_size: int,
                     on_step: Optional[Callable[[int, int], None]] = None) -> tuple:
    """The NAO-family generation loop (NAO-WS train_search.py, NAO-V2 train_search.py): step
    sizes 1, 2, ...; `decode_at(step)` gives the sequences decoded after one gradient step of
    that size; a sequence is kept when it is neither in `existing` nor already kept, up to
    `max_new`. The size check comes after the step, as in the originals, so the last size tried
    is max_step_size + 1. `on_step(step, kept so far)` after each step. Returns (kept sequences
    as tuples, last step size)."""
    check_value(isinstance(max_new, int) and max_new >= 0, "generation", "max_new", max_new,
                "an integer >= 0")
    check_value(isinstance(max_step_size, int) and max_step_size >= 0, "generation",
                "max_step_size", max_step_size, "an integer >= 0")
    existing = {tuple(int(t) for t in s) for s in existing}
    kept, seen = [], set()
    step = 0
    while len(kept) < max_new:
        step += 1
        for seq in map(tuple, decode_at(step)):
            if seq not in existing and seq not in seen:
                kept.append(seq)
                seen.add(seq)
            if len(kept) >= max_new:
                break
        if on_step is not None:
            on_step(step, len(kept))
        if step > max_step_size:
            break
    return kept, step

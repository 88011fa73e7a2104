"""NAO's cell "dags" (renqianluo/NAO NAO/cnn, the search without weight sharing) and their
60-token sequences for the encoder-predictor-decoder.

A dag is a cell of B=5 computed nodes. `node_1` is the output of the cell two back (h[i-2]),
`node_2` the previous cell's (h[i-1]); `node_3`..`node_7` are computed, each from two earlier
nodes: `[name, input_1, input_2, op_1, op_2]`, output = op_1(input_1) + op_2(input_2). Ops are
"type size" strings (`conv 1x3+3x1`, `avg_pool 2x2`, `sep_conv 5x5`) or `identity`. An optional
`loose_ends` list names the nodes the cell concatenates (NASNet-A's); by default every node that
no computed node reads. The JSON form (dag.NAONet.json, the search's dag.<i>.json files) is
`{"conv_dag": {...}, "reduc_dag": {...}}` with the entries of nodes 1 and 2 all null.

The sequence of a cell is six tokens per computed node, [input_1, op_1 type, op_1 size, input_2,
op_2 type, op_2 size], in the vocabulary below (NAO/cnn/epd/vocab.py VOCAB2); identity takes size
token `1x1`. The normal cell's 30 tokens come first, then the reduction cell's.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Iterable, Optional, Sequence

from ..errors import NasreproError

NODES = 5  # computed nodes per cell (--num_nodes)
TOKENS_PER_NODE = 6
SEQ_LENGTH = 2 * NODES * TOKENS_PER_NODE  # 60

VOCAB = ("<sos>", "node_1", "node_2", "node_3", "node_4", "node_5", "node_6",
         "identity", "sep_conv", "conv", "dil_sep_conv", "avg_pool", "max_pool", "min_pool",
         "1x1", "2x2", "3x3", "5x5", "7x7", "1x3+3x1", "1x7+7x1")
OP_TYPES = VOCAB[7:14]
OP_SIZES = VOCAB[14:]
IDENTITY = "identity"
FIRST_OP_TOKEN = VOCAB.index(IDENTITY)  # 7: types and sizes come after the node tokens
# Which sizes each op type can be built with (NAO/cnn/model.py): the factorized "1xk+kx1" sizes
# exist only for plain convolutions; identity ignores its size token.
_SQUARE = ("1x1", "2x2", "3x3", "5x5", "7x7")
BUILDABLE_SIZES = {
    "identity": OP_SIZES,
    "conv": OP_SIZES,
    "sep_conv": _SQUARE,
    "dil_sep_conv": _SQUARE,
    "avg_pool": _SQUARE,
    "max_pool": _SQUARE,
    "min_pool": _SQUARE,
}


class DagError(NasreproError, ValueError):
    """A malformed dag (JSON or dict) or token sequence."""


def node_name(i: int) -> str:
    return f"node_{i}"


def _where(source: Optional[str], cell: str) -> str:
    return f"{source}: {cell}" if source else cell


def parse_op(op, where: str) -> tuple:
    """"type size" or "identity" -> (type, size or None); a clear error otherwise."""
    if op == IDENTITY:
        return IDENTITY, None
    parts = op.split(" ") if isinstance(op, str) else []
    if len(parts) != 2 or parts[0] not in OP_TYPES or parts[1] not in OP_SIZES:
        raise DagError(f"{where}: op {op!r}, expected 'identity' or '<type> <size>' with a type "
                       f"in {', '.join(OP_TYPES[1:])} and a size in {', '.join(OP_SIZES)}")
    return parts[0], parts[1]


def check_cell(cell, source: Optional[str] = None, name: str = "conv_dag",
               nodes: int = NODES) -> OrderedDict:
    """A checked copy of one cell dag (a mapping node name -> entry), in node order."""
    if not isinstance(cell, dict):
        raise DagError(f"{_where(source, name)}: expected a mapping of node names to "
                       f"[name, input_1, input_2, op_1, op_2], got {type(cell).__name__}")
    expected = [node_name(i) for i in range(1, nodes + 3)]
    unknown = sorted(set(cell) - set(expected) - {"loose_ends"})
    missing = [n for n in expected if n not in cell]
    if unknown or missing:
        raise DagError(f"{_where(source, name)}: nodes {', '.join(expected)} expected"
                       + (f"; missing {', '.join(missing)}" if missing else "")
                       + (f"; unknown {', '.join(unknown)}" if unknown else ""))
    out = OrderedDict()
    for i, key in enumerate(expected, start=1):
        entry = cell[key]
        where = f"{_where(source, name)}.{key}"
        if not isinstance(entry, (list, tuple)) or len(entry) != 5:
            raise DagError(f"{where}: expected [name, input_1, input_2, op_1, op_2], got "
                           f"{entry!r}")
        if entry[0] != key:
            raise DagError(f"{where}: its first element is {entry[0]!r}, expected {key!r}")
        if i <= 2:
            if any(v is not None for v in entry[1:]):
                raise DagError(f"{where}: the cell inputs node_1 and node_2 take no inputs or "
                               f"ops (null), got {entry!r}")
        else:
            allowed = [node_name(j) for j in range(1, i)]
            for slot in (1, 2):
                if entry[slot] not in allowed:
                    raise DagError(f"{where}: input_{slot} {entry[slot]!r}, expected one of "
                                   f"{', '.join(allowed)}")
                parse_op(entry[slot + 2], f"{where} op_{slot}")
        out[key] = list(entry)
    if "loose_ends" in cell:
        ends = cell["loose_ends"]
        if (not isinstance(ends, (list, tuple)) or not ends
                or any(e not in expected for e in ends)):
            raise DagError(f"{_where(source, name)}.loose_ends: {ends!r}, expected a non-empty "
                           f"list of node names among {', '.join(expected)}")
        out["loose_ends"] = list(ends)
    return out


def loose_ends(cell) -> list:
    """The nodes a cell concatenates: its `loose_ends` entry, else the nodes no node reads."""
    if "loose_ends" in cell:
        return list(cell["loose_ends"])
    names = [k for k in cell if k != "loose_ends"]
    used = {cell[k][j] for k in names[2:] for j in (1, 2)}
    return [n for n in names if n not in used]


class Dag:
    """The two cells of a NAO architecture: `conv` (normal) and `reduc` (reduction)."""

    def __init__(self, conv, reduc, source: Optional[str] = None, nodes: int = NODES):
        self.conv = check_cell(conv, source, "conv_dag", nodes)
        self.reduc = check_cell(reduc, source, "reduc_dag", nodes)
        self.nodes = nodes

    def to_json(self) -> dict:
        return {"conv_dag": self.conv, "reduc_dag": self.reduc}

    def __eq__(self, other) -> bool:
        return isinstance(other, Dag) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"Dag({' '.join(map(str, dag_to_seq(self)))})"


def dag_from_json(obj, source: Optional[str] = None) -> Dag:
    if not isinstance(obj, dict) or set(obj) != {"conv_dag", "reduc_dag"}:
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise DagError(f"{source or 'dag'}: expected an object with keys conv_dag and "
                       f"reduc_dag, got {keys}")
    return Dag(obj["conv_dag"], obj["reduc_dag"], source)


def read_dag_json(path) -> Dag:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise DagError(f"{path}: cannot read the dag file ({err.strerror})") from err
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise DagError(f"{path}: not JSON (line {err.lineno}, column {err.colno}: "
                       f"{err.msg})") from err
    return dag_from_json(obj, str(path))


def write_dag_json(path, dag: Dag) -> None:
    from ..atomic import atomic_write_text
    atomic_write_text(path, json.dumps(dag.to_json()))


# -- the token sequence ---------------------------------------------------------------------------

def _op_tokens(op: str) -> list:
    kind, size = parse_op(op, "op")
    return [VOCAB.index(kind), VOCAB.index(size or "1x1")]


def cell_to_seq(cell) -> list:
    seq = []
    for key in [k for k in cell if k != "loose_ends"][2:]:
        _, in1, in2, op1, op2 = cell[key]
        seq += [VOCAB.index(in1), *_op_tokens(op1), VOCAB.index(in2), *_op_tokens(op2)]
    return seq


def dag_to_seq(dag: Dag) -> list:
    """The 60 tokens of `dag` (loose_ends has no tokens: the sequence cannot carry it)."""
    return cell_to_seq(dag.conv) + cell_to_seq(dag.reduc)


def _to_tokens(seq, source: str) -> list:
    if isinstance(seq, str):
        seq = seq.split()
    tokens = []
    for pos, value in enumerate(seq):
        try:
            token = int(value)
        except (TypeError, ValueError):
            raise DagError(f"{source}: token {pos + 1} is {value!r}, expected an integer "
                           f"0..{len(VOCAB) - 1}") from None
        tokens.append(token)
    return tokens


def seq_to_cell(tokens: Sequence[int], source: str = "sequence", cell_name: str = "conv_dag",
                offset: int = 0, nodes: int = NODES) -> OrderedDict:
    """One cell from its 6*nodes tokens, as NAO/cnn/epd/convert_seq_to_arch.py reads it: an
    identity drops its size token; other types keep "type size" even where no network can build
    it (check_buildable says so)."""
    cell = OrderedDict((node_name(i), [node_name(i), None, None, None, None]) for i in (1, 2))
    for k in range(nodes):
        base = k * TOKENS_PER_NODE
        entry = [node_name(k + 3)]
        inputs, ops = [], []
        for slot in range(2):
            i, t, s = tokens[base + 3 * slot: base + 3 * slot + 3]
            pos = offset + base + 3 * slot
            if not 1 <= i <= k + 2:
                raise DagError(f"{source}: token {pos + 1} ({cell_name} node_{k + 3} input_"
                               f"{slot + 1}) is {i}, expected a node token 1..{k + 2}")
            if VOCAB[t] not in OP_TYPES if 0 <= t < len(VOCAB) else True:
                raise DagError(f"{source}: token {pos + 2} ({cell_name} node_{k + 3} op_"
                               f"{slot + 1} type) is {t}, expected an op type token "
                               f"{FIRST_OP_TOKEN}..{FIRST_OP_TOKEN + len(OP_TYPES) - 1}")
            if VOCAB[s] not in OP_SIZES if 0 <= s < len(VOCAB) else True:
                first = VOCAB.index(OP_SIZES[0])
                raise DagError(f"{source}: token {pos + 3} ({cell_name} node_{k + 3} op_"
                               f"{slot + 1} size) is {s}, expected a size token "
                               f"{first}..{len(VOCAB) - 1}")
            inputs.append(VOCAB[i])
            ops.append(IDENTITY if VOCAB[t] == IDENTITY else f"{VOCAB[t]} {VOCAB[s]}")
        cell[node_name(k + 3)] = entry + inputs + ops
    return cell


def seq_to_dag(seq: Iterable, source: str = "sequence", nodes: int = NODES) -> Dag:
    """A Dag from its 60 tokens (a list of ints or a space-separated line)."""
    tokens = _to_tokens(seq, source)
    length = 2 * nodes * TOKENS_PER_NODE
    if len(tokens) != length:
        raise DagError(f"{source}: {len(tokens)} tokens, expected {length} (2 cells x {nodes} "
                       f"nodes x {TOKENS_PER_NODE})")
    half = length // 2
    conv = seq_to_cell(tokens[:half], source, "conv_dag", 0, nodes)
    reduc = seq_to_cell(tokens[half:], source, "reduc_dag", half, nodes)
    return Dag(conv, reduc, source, nodes)


def unbuildable_ops(dag: Dag) -> list:
    """"<cell>.<node> op_<k>: <op>" for each op the network cannot build (a separable conv or a
    pool with a factorized 1xk+kx1 size, which the decoder can emit)."""
    bad = []
    for cell_name, cell in (("conv_dag", dag.conv), ("reduc_dag", dag.reduc)):
        for key in [k for k in cell if k != "loose_ends"][2:]:
            for slot in (1, 2):
                kind, size = parse_op(cell[key][slot + 2], key)
                if size is not None and size not in BUILDABLE_SIZES[kind]:
                    bad.append(f"{cell_name}.{key} op_{slot}: {cell[key][slot + 2]}")
    return bad


def check_buildable(dag: Dag, source: str = "dag") -> None:
    bad = unbuildable_ops(dag)
    if bad:
        raise DagError(f"{source}: ops no network can build ({'; '.join(bad)}): only conv "
                       "takes the 1x3+3x1 / 1x7+7x1 sizes")


# The paper's CIFAR-10 search space (NAO, Luo et al. 2018, Section 4.1): 11 operations.
SEARCH_OPS = ("identity", "conv 1x1", "conv 3x3", "conv 1x3+3x1", "conv 1x7+7x1",
              "max_pool 2x2", "max_pool 3x3", "max_pool 5x5",
              "avg_pool 2x2", "avg_pool 3x3", "avg_pool 5x5")


def random_cell(rng, nodes: int = NODES, ops: Sequence[str] = SEARCH_OPS) -> OrderedDict:
    """A cell whose node k reads two nodes drawn uniformly from node_1..node_{k-1}, each through
    an op drawn uniformly from `ops`."""
    cell = OrderedDict((node_name(i), [node_name(i), None, None, None, None]) for i in (1, 2))
    for k in range(3, nodes + 3):
        a, b = (int(v) for v in rng.integers(1, k, size=2))
        op_a, op_b = (ops[int(v)] for v in rng.integers(0, len(ops), size=2))
        cell[node_name(k)] = [node_name(k), node_name(a), node_name(b), op_a, op_b]
    return cell


def random_dag(rng, nodes: int = NODES, ops: Sequence[str] = SEARCH_OPS) -> Dag:
    """A random architecture (numpy Generator `rng`): normal and reduction cells drawn apart."""
    return Dag(random_cell(rng, nodes, ops), random_cell(rng, nodes, ops), "random", nodes)

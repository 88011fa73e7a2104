"""The named architectures `--arch` accepts (renqianluo/NAO NAO/cnn/dag.py at e07be44), and the
lookup train_cifar.py and test_cifar.py share: a name below, or the path of a JSON dag.

Each cell is written as its five computed nodes node_3..node_7, (input_1, input_2, op_1, op_2),
inputs as node numbers (1 = the cell two back, 2 = the previous cell). NAONet is the cell NAO
found (paper, Appendix Fig. 1; also dag.NAONet.json); NASNet_A and PNASNet_A (the original's
PNASNet_A is a copy of NASNet_A) concatenate the nodes their `loose_ends` lists."""
from collections import OrderedDict
from pathlib import Path

from nasrepro.archs.nao_dag import Dag, DagError, node_name, read_dag_json

S3, S5, S7 = "sep_conv 3x3", "sep_conv 5x5", "sep_conv 7x7"
A2, A3, A5 = "avg_pool 2x2", "avg_pool 3x3", "avg_pool 5x5"
M2, M3 = "max_pool 2x2", "max_pool 3x3"
C1, C3, C13, C17 = "conv 1x1", "conv 3x3", "conv 1x3+3x1", "conv 1x7+7x1"
ID = "identity"

_CELLS = {
    "ENAS": (
        [(2, 2, S3, ID), (2, 1, S5, ID), (1, 2, A3, S3), (1, 2, S3, A3), (2, 1, S5, A3)],
        [(1, 2, S5, A3), (2, 2, S3, A3), (2, 2, A3, S3), (5, 2, S5, A3), (6, 1, S3, S5)]),
    "ENAS_new": (
        [(1, 1, A3, S3), (1, 1, ID, S5), (1, 2, ID, S5), (2, 1, S3, S5), (1, 2, A3, S5)],
        [(2, 2, S3, S3), (1, 1, M3, A3), (2, 4, S5, S5), (2, 1, S3, ID), (1, 2, M3, S5)]),
    "AmoebaNet_A": (
        [(1, 1, A3, M3), (3, 1, S5, S3), (4, 1, A3, S3), (2, 2, S3, ID), (2, 1, A3, ID)],
        [(1, 2, A3, S3), (1, 3, M3, S7), (1, 2, S7, A3), (2, 1, M3, M3), (6, 1, S3, C17)]),
    "AmoebaNet_B": (
        [(1, 2, S3, ID), (2, 2, M3, C1), (2, 1, C1, S3), (4, 4, ID, C1), (2, 6, A3, C1)],
        [(1, 1, M2, M3), (3, 3, "dil_sep_conv 5x5", M3), (3, 2, ID, C3), (4, 5, A3, C1),
         (5, 2, ID, S3)]),
    "NASNet_A": (
        [(2, 2, S3, ID), (1, 2, S3, S5), (2, 1, A3, ID), (1, 1, A3, A3), (1, 1, S5, S3)],
        [(1, 2, S7, S5), (2, 1, M3, S7), (2, 1, A3, S5), (2, 3, M3, S3), (3, 4, A3, ID)]),
    "NAONet": (
        [(1, 2, C3, A5), (3, 2, C13, C3), (1, 2, C1, C3), (1, 5, C13, C3), (2, 1, ID, C3)],
        [(1, 2, C3, A2), (1, 1, C1, A3), (2, 1, C17, M2), (1, 3, A3, C1), (2, 1, M3, C3)]),
}
_LOOSE_ENDS = {"NASNet_A": ([1, 3, 4, 5, 6, 7], [4, 5, 6, 7])}
_CELLS["PNASNet_A"] = _CELLS["NASNet_A"]
_LOOSE_ENDS["PNASNet_A"] = _LOOSE_ENDS["NASNet_A"]
NAMES = tuple(_CELLS)


def _cell(nodes, ends=None) -> OrderedDict:
    cell = OrderedDict((node_name(i), [node_name(i), None, None, None, None]) for i in (1, 2))
    for k, (a, b, op_a, op_b) in enumerate(nodes, start=3):
        cell[node_name(k)] = [node_name(k), node_name(a), node_name(b), op_a, op_b]
    if ends:
        cell["loose_ends"] = [node_name(i) for i in ends]
    return cell


def named(name: str) -> Dag:
    conv, reduc = _CELLS[name]
    ends = _LOOSE_ENDS.get(name, (None, None))
    return Dag(_cell(conv, ends[0]), _cell(reduc, ends[1]), source=name)


def build_dag(name_or_path: str, flag: str = "--arch") -> Dag:
    """A named architecture or a JSON dag file; a clear error otherwise."""
    if name_or_path in _CELLS:
        return named(name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        raise DagError(f"{flag}={name_or_path}: neither a named architecture "
                       f"({', '.join(NAMES)}) nor a JSON dag file")
    return read_dag_json(path)

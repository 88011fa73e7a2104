"""The NAO architecture codec (nasrepro/archs/nao.py): strings, NaoArch, controller tokens."""
from collections import Counter

import numpy as np
import pytest

from nasrepro.archs.nao import (PUBLISHED_NAONET_V2, ArchError, NaoArch, arch_to_seq,
                                cell_concat, parse_nao_arch, random_arch, read_arch_pool,
                                seq_to_arch, swap_node_inputs, vocab_size)
from nasrepro.errors import NasreproError

PUBLISHED_INTS = [int(v) for v in PUBLISHED_NAONET_V2.split()]


# --- round trips ------------------------------------------------------------------------------

def test_published_string_round_trip():
    arch = parse_nao_arch(PUBLISHED_NAONET_V2)
    assert arch.nodes == 5
    assert arch.ints == PUBLISHED_INTS
    assert arch.normal == tuple(PUBLISHED_INTS[:20]) and arch.reduce == tuple(PUBLISHED_INTS[20:])
    assert str(arch) == PUBLISHED_NAONET_V2
    assert parse_nao_arch(str(arch)) == arch
    assert parse_nao_arch(arch.ints) == arch


def test_published_tokens():
    seq = arch_to_seq(parse_nao_arch(PUBLISHED_NAONET_V2))
    assert len(seq) == 40
    # Node 0 of the normal cell is "1 1 0 1": inputs id+1, ops op+7.
    assert seq[:4] == [2, 8, 1, 8]
    assert set(seq[0::2]) <= set(range(1, 7)) and set(seq[1::2]) <= set(range(7, 12))
    assert vocab_size() == 12 == max(seq) + 1


@pytest.mark.parametrize("nodes,num_ops", [(5, 5), (3, 5), (2, 7), (7, 4)])
def test_random_round_trips(nodes, num_ops):
    rng = np.random.default_rng(nodes * 10 + num_ops)
    for _ in range(50):
        arch = random_arch(rng, nodes, num_ops)
        assert parse_nao_arch(str(arch), nodes, num_ops) == arch
        seq = arch_to_seq(arch)
        assert len(seq) == 8 * nodes
        assert 1 <= min(seq) and max(seq) < vocab_size(nodes, num_ops)
        assert seq_to_arch(seq, nodes, num_ops) == arch


def test_numpy_and_integral_values_are_accepted():
    ints = np.array(PUBLISHED_INTS)
    assert parse_nao_arch(ints) == parse_nao_arch(PUBLISHED_NAONET_V2)
    assert parse_nao_arch([float(v) for v in PUBLISHED_INTS]) == parse_nao_arch(PUBLISHED_INTS)


# --- errors -----------------------------------------------------------------------------------

def _with(position, value):
    ints = list(PUBLISHED_INTS)
    ints[position] = value
    return ints


def test_wrong_count():
    with pytest.raises(ArchError, match=r"39 integers, expected 40 \(two cells of 5 nodes"):
        parse_nao_arch(PUBLISHED_INTS[:-1])
    with pytest.raises(ArchError, match=r"40 integers, expected 24"):
        parse_nao_arch(PUBLISHED_NAONET_V2, nodes=3)


def test_non_integer_in_string():
    text = PUBLISHED_NAONET_V2.split()
    text[3] = "x"
    with pytest.raises(ArchError, match=r"position 3 is 'x', expected an integer"):
        parse_nao_arch(" ".join(text))
    text[3] = "1.5"
    with pytest.raises(ArchError, match=r"position 3 is '1.5', expected an integer"):
        parse_nao_arch(" ".join(text))


@pytest.mark.parametrize("value", [1.5, "a", None])
def test_non_integer_in_sequence(value):
    with pytest.raises(ArchError, match=r"position 6 is .*expected an integer"):
        parse_nao_arch(_with(6, value))


def test_input_id_out_of_range_names_node_and_range():
    # Position 4 is the x input of node 1 of the normal cell: ids 0..2 allowed.
    with pytest.raises(ArchError, match=r"position 4 \(normal cell, node 1, x input\) is 3, "
                                        r"expected an input id in 0\.\.2"):
        parse_nao_arch(_with(4, 3))
    with pytest.raises(ArchError, match=r"position 2 \(normal cell, node 0, y input\) is -1"):
        parse_nao_arch(_with(2, -1))
    # Position 22 is the y input of node 0 of the reduction cell: ids 0..1.
    with pytest.raises(ArchError, match=r"position 22 \(reduction cell, node 0, y input\) is 2, "
                                        r"expected an input id in 0\.\.1"):
        parse_nao_arch(_with(22, 2))


def test_op_out_of_range():
    with pytest.raises(ArchError, match=r"position 1 \(normal cell, node 0, x op\) is 5, "
                                        r"expected an op id in 0\.\.4"):
        parse_nao_arch(_with(1, 5))
    with pytest.raises(ArchError, match=r"position 39 \(reduction cell, node 4, y op\) is -2"):
        parse_nao_arch(_with(39, -2))
    assert parse_nao_arch(_with(1, 6), num_ops=7).normal[1] == 6


def test_token_sequence_errors_name_position():
    seq = arch_to_seq(parse_nao_arch(PUBLISHED_NAONET_V2))
    bad = list(seq)
    bad[0] = 0  # the start symbol is not an input token
    with pytest.raises(ArchError, match=r"token sequence: position 0 "):
        seq_to_arch(bad)
    bad = list(seq)
    bad[5] = 3  # an input token where an op belongs
    with pytest.raises(ArchError, match=r"token sequence: position 5 .*op"):
        seq_to_arch(bad)
    with pytest.raises(ArchError, match=r"39 integers, expected 40"):
        seq_to_arch(seq[:-1])


def test_errors_are_nasrepro_and_value_errors():
    with pytest.raises(NasreproError):
        parse_nao_arch("1 2 3")
    with pytest.raises(ValueError):
        parse_nao_arch("1 2 3")


# --- random_arch ------------------------------------------------------------------------------

@pytest.mark.parametrize("nodes,num_ops", [(5, 5), (3, 7)])
def test_random_arch_valid_and_uniform(nodes, num_ops):
    rng = np.random.default_rng(0)
    samples = [random_arch(rng, nodes, num_ops) for _ in range(3000)]
    for arch in samples[:200]:
        parse_nao_arch(arch.ints, nodes, num_ops)  # raises if anything is out of range
    for cell in ("normal", "reduce"):
        cells = np.array([getattr(a, cell) for a in samples])
        for node in range(nodes):
            for slot in (0, 2):
                counts = Counter(cells[:, 4 * node + slot].tolist())
                # Every allowed id appears, nothing else, each about 1/(node+2) of the time.
                assert set(counts) == set(range(node + 2))
                for c in counts.values():
                    assert abs(c / len(samples) - 1 / (node + 2)) < 0.04
            for slot in (1, 3):
                counts = Counter(cells[:, 4 * node + slot].tolist())
                assert set(counts) == set(range(num_ops))
                for c in counts.values():
                    assert abs(c / len(samples) - 1 / num_ops) < 0.04
    # The two cells are drawn independently.
    assert sum(a.normal == a.reduce for a in samples) == 0


def test_random_arch_is_reproducible():
    a = [random_arch(np.random.default_rng(7)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    assert random_arch(np.random.default_rng(8)) != a[0]


# --- cell_concat and swap_node_inputs ---------------------------------------------------------

def test_published_concat():
    arch = parse_nao_arch(PUBLISHED_NAONET_V2)
    assert cell_concat(arch.normal) == [3, 4, 5, 6]
    assert cell_concat(arch.reduce) == [3, 4, 5, 6]


def test_concat_small_cases():
    # Two nodes: node 0 reads 0 and 1, node 1 reads node 0 twice -> only node 1 is unused.
    assert cell_concat([0, 0, 1, 0, 2, 0, 2, 0]) == [3]
    # Nobody reads s1 or node 0 -> s1, node 0 and node 1 are concatenated.
    assert cell_concat([0, 0, 0, 0, 0, 0, 0, 0]) == [1, 2, 3]


def _pairs_per_node(cell):
    return [Counter([tuple(cell[4 * n:4 * n + 2]), tuple(cell[4 * n + 2:4 * n + 4])])
            for n in range(len(cell) // 4)]


@pytest.mark.parametrize("nodes", [5, 3])
def test_swap_keeps_the_architecture(nodes):
    rng = np.random.default_rng(nodes)
    for _ in range(30):
        arch = random_arch(rng, nodes)
        for a in range(nodes):
            for b in range(nodes):
                swapped = swap_node_inputs(arch, a, b)
                parse_nao_arch(swapped.ints, nodes)
                for before, after in zip(arch.cells(), swapped.cells()):
                    assert cell_concat(after) == cell_concat(before)
                    assert _pairs_per_node(after) == _pairs_per_node(before)
                assert swap_node_inputs(swapped, a, b) == arch
                # Only the two chosen nodes change.
                for n in set(range(nodes)) - {a}:
                    assert swapped.normal[4 * n:4 * n + 4] == arch.normal[4 * n:4 * n + 4]
                for n in set(range(nodes)) - {b}:
                    assert swapped.reduce[4 * n:4 * n + 4] == arch.reduce[4 * n:4 * n + 4]


def test_swap_exact_tokens():
    arch = parse_nao_arch(PUBLISHED_NAONET_V2)
    swapped = swap_node_inputs(arch, 1, 0)
    assert swapped.normal[4:8] == (0, 0, 2, 4)      # node 1 was "2 4 0 0"
    assert swapped.reduce[0:4] == (0, 2, 0, 2)      # symmetric node: unchanged
    assert swapped.normal[:4] == arch.normal[:4]


# --- read_arch_pool ---------------------------------------------------------------------------

def test_read_arch_pool(tmp_path):
    path = tmp_path / "arch_pool"
    other = " ".join(map(str, random_arch(np.random.default_rng(1)).ints))
    path.write_text(f"{PUBLISHED_NAONET_V2}\n\n{other}\n")
    archs = read_arch_pool(path)
    assert [str(a) for a in archs] == [PUBLISHED_NAONET_V2, other]


def test_read_arch_pool_errors_name_file_and_line(tmp_path):
    path = tmp_path / "arch_pool"
    bad = PUBLISHED_NAONET_V2.replace("1 1 0 1", "1 9 0 1", 1)
    path.write_text(f"{PUBLISHED_NAONET_V2}\n\n{bad}\n")
    with pytest.raises(ArchError, match=rf"{path}:3: position 1 .* is 9"):
        read_arch_pool(path)
    path.write_text(f"{PUBLISHED_NAONET_V2}\n1 2 3\n")
    with pytest.raises(ArchError, match=rf"{path}:2: 3 integers, expected 40"):
        read_arch_pool(path)
    path.write_text("\n\n")
    with pytest.raises(ArchError, match=rf"{path}: no architectures"):
        read_arch_pool(path)


def test_naoarch_is_hashable_and_frozen():
    arch = parse_nao_arch(PUBLISHED_NAONET_V2)
    assert len({arch, parse_nao_arch(PUBLISHED_INTS)}) == 1
    with pytest.raises(Exception):
        arch.normal = ()
    assert isinstance(arch, NaoArch)

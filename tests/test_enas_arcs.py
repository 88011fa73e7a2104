"""ENAS architecture codecs (nasrepro.archs.enas), random arcs, the cell plot and the
random_arc.py command, checked against the published arcs of melodyguan/enas scripts/ and the
random-arc snippet of the fork's README (antoyang/NAS-Benchmark, ENASTF/README.md)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nasrepro.archs import enas
from nasrepro.archs.enas import ArcError
from nasrepro.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]

NORMAL = "0 2 0 0 0 4 0 1 0 4 1 1 1 0 0 1 0 2 1 1"
REDUCE = "1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1"


# ---------------------------------------------------------------------- micro


def test_published_micro_arc_round_trips():
    assert enas.PUBLISHED_MICRO_ARC == NORMAL + " " + REDUCE
    arc = enas.parse_micro_arc(enas.PUBLISHED_MICRO_ARC)
    assert str(arc) == enas.PUBLISHED_MICRO_ARC
    assert len(arc.ints) == 40
    assert arc.normal == tuple(int(v) for v in NORMAL.split())
    assert arc.reduce == tuple(int(v) for v in REDUCE.split())
    assert enas.parse_micro_arc(arc.ints) == arc
    assert enas.parse_micro_arc(np.array(arc.ints, np.int32)) == arc


def test_published_micro_nodes_match_spec_table():
    arc = enas.parse_micro_arc(enas.PUBLISHED_MICRO_ARC)
    sep3, sep5, avg, mx, ident = range(5)
    # melodyguan/enas scripts/cifar10_micro_final.sh decoded, as (x_id, x_op, y_id, y_op).
    assert arc.nodes("normal") == [(0, avg, 0, sep3), (0, ident, 0, sep5), (0, ident, 1, sep5),
                                   (1, sep3, 0, sep5), (0, avg, 1, sep5)]
    assert arc.nodes("reduce") == [(1, sep3, 1, sep3), (0, mx, 0, avg), (1, sep5, 3, sep5),
                                   (1, sep3, 0, ident), (0, mx, 1, sep5)]
    assert arc.loose_ends("normal") == [2, 3, 4, 5, 6]
    assert arc.loose_ends("reduce") == [2, 4, 5, 6]


def test_describe_micro_arc_lists_every_node_and_output():
    text = enas.describe_micro_arc(enas.parse_micro_arc(enas.PUBLISHED_MICRO_ARC))
    lines = text.splitlines()
    assert "  node 2 = avg_pool_3x3(0) + sep_conv_3x3(0)" in lines
    assert "  node 4 = sep_conv_5x5(1) + sep_conv_5x5(3)" in lines
    assert lines.count("  output = concat(2, 3, 4, 5, 6)") == 1
    assert lines.count("  output = concat(2, 4, 5, 6)") == 1
    assert sum(line.startswith("  node ") for line in lines) == 10


def test_parse_accepts_printed_numpy_arrays_and_commas():
    # The "Here are 10 architectures" log prints the two cells as numpy arrays on two lines.
    printed = str(np.array(NORMAL.split(), int)) + "\n" + str(np.array(REDUCE.split(), int))
    assert printed.startswith("[0 2 0 0")
    assert str(enas.parse_micro_arc(printed)) == enas.PUBLISHED_MICRO_ARC
    commas = "[" + ", ".join(enas.PUBLISHED_MICRO_ARC.split()) + "]"
    assert str(enas.parse_micro_arc(commas)) == enas.PUBLISHED_MICRO_ARC


def _with(position, value, base=enas.PUBLISHED_MICRO_ARC):
    ints = base.split()
    ints[position] = str(value)
    return " ".join(ints)


@pytest.mark.parametrize("text, message", [
    (" ".join(enas.PUBLISHED_MICRO_ARC.split()[:-1]),
     "--child_fixed_arc: expected 40 integers (20 for the normal cell, then 20 for the "
     "reduction cell; 4 per node, 5 nodes), got 39"),
    (enas.PUBLISHED_MICRO_ARC + " 0", "got 41"),
    ("", "got 0"),
    (_with(7, "x"), "--child_fixed_arc: position 7: 'x' is not an integer"),
    (_with(5, "1.5"), "position 5: '1.5' is not an integer"),
    (_with(14, 5),
     "--child_fixed_arc: position 14 (normal cell, node 5, second input): 5 is not a previous "
     "node (0..4)"),
    (_with(0, 2), "position 0 (normal cell, node 2, first input): 2 is not a previous node (0..1)"),
    (_with(20, -1),
     "position 20 (reduction cell, node 2, first input): -1 is not a previous node (0..1)"),
    (_with(39, 5),
     "position 39 (reduction cell, node 6, second op): 5 is not an op id (0..4: sep_conv_3x3, "
     "sep_conv_5x5, avg_pool_3x3, max_pool_3x3, identity)"),
    (_with(13, 7), "position 13 (normal cell, node 5, first op): 7 is not an op id"),
])
def test_malformed_micro_arcs_name_the_position(text, message):
    with pytest.raises(ArcError) as err:
        enas.parse_micro_arc(text)
    assert message in str(err.value)
    assert isinstance(err.value, ConfigError)


def test_micro_errors_name_the_source_and_respect_num_ops():
    with pytest.raises(ArcError, match=r"^arcs\.txt line 3: position 5 \(normal cell, node 3, "
                                       r"first op\): 4 is not an op id \(0\.\.3: "
                                       r"sep_conv_3x3, sep_conv_5x5, avg_pool_3x3, "
                                       r"max_pool_3x3\)$"):
        enas.parse_micro_arc(enas.PUBLISHED_MICRO_ARC, num_ops=4, source="arcs.txt line 3")
    with pytest.raises(ArcError, match="position 2: 1.0 is not an integer"):
        enas.parse_micro_arc([0, 0, 1.0] + [0] * 37)


def test_micro_arc_with_other_num_cells():
    # 2 nodes per cell: 16 ints; node 3 may read node 2.
    arc = enas.parse_micro_arc("0 0 1 1 2 4 0 3 1 2 1 2 0 0 2 0", num_cells=2)
    assert arc.nodes("normal") == [(0, 0, 1, 1), (2, 4, 0, 3)]
    assert arc.loose_ends("normal") == [3]
    assert arc.loose_ends("reduce") == [3]
    with pytest.raises(ArcError, match="expected 16 integers"):
        enas.parse_micro_arc(enas.PUBLISHED_MICRO_ARC, num_cells=2)


# ---------------------------------------------------------------------- macro


def test_published_macro_arc_round_trips_and_decodes():
    arc = enas.parse_macro_arc(enas.PUBLISHED_MACRO_ARC, num_layers=24)
    assert enas.macro_arc_length(24) == 300 and enas.macro_arc_length(12) == 78
    assert len(arc.ints) == 300 and arc.num_layers == 24
    assert str(arc) == enas.PUBLISHED_MACRO_ARC
    assert arc.skip_count == 98
    assert [op for op, _ in arc.layers] == [0, 3, 0, 2, 2, 3, 2, 2, 1, 0, 2, 0, 2, 1, 0, 2,
                                            2, 2, 3, 3, 0, 3, 0, 0]
    rows = arc.rows()
    assert rows[0] == "0" and rows[1] == "3 0" and rows[5] == "3 1 1 0 1 0"
    assert rows[23] == "0 1 1 0 0 0 1 1 1 0 1 0 0 0 1 0 1 0 0 1 1 0 0 0"

    def sources(layer):  # bit 0 = stem, bit i = layer i-1 (melodyguan/enas general_child.py)
        return ["stem" if i == 0 else f"L{i - 1}"
                for i, bit in enumerate(arc.layers[layer][1]) if bit]

    # Layers of the arc in melodyguan/enas scripts/cifar10_macro_final.sh, decoded.
    assert sources(2) == ["stem"]
    assert sources(5) == ["stem", "L0", "L2"]
    assert sources(7) == ["L0", "L1", "L3", "L4", "L5"]
    assert sources(9) == []
    assert sources(13) == ["L1", "L5", "L6", "L7", "L9", "L11"]
    assert sources(23) == ["stem", "L0", "L4", "L5", "L6", "L8", "L12", "L14", "L17", "L18"]
    # The rows joined by newlines (the script's layout) parse to the same arc.
    assert enas.parse_macro_arc("\n".join(rows), 24) == arc


@pytest.mark.parametrize("change, message", [
    (lambda t: t[:-1], "expected 300 integers for 24 layers (per layer k: the op id, then k "
                       "skip bits; L + L(L-1)/2), got 299"),
    (lambda t: t + ["1"], "got 301"),
    (lambda t: t[:4] + ["2"] + t[5:],  # layer 2 starts at 3 (op id); 4 is its bit 0
     "--child_fixed_arc: position 4 (layer 2, skip bit 0, from the stem): 2 is not 0 or 1"),
    (lambda t: t[:8] + ["-1"] + t[9:],  # layer 3 starts at 6: bit 1 = from layer 0
     "position 8 (layer 3, skip bit 1, from layer 0): -1 is not 0 or 1"),
    (lambda t: t[:6] + ["6"] + t[7:],
     "position 6 (layer 3, op id): 6 is not an op id (0..5: conv_3x3, sep_conv_3x3, conv_5x5, "
     "sep_conv_5x5, avg_pool_3x3, max_pool_3x3)"),
    (lambda t: t[:10] + ["b"] + t[11:], "position 10: 'b' is not an integer"),
])
def test_malformed_macro_arcs_name_the_position(change, message):
    tokens = change(enas.PUBLISHED_MACRO_ARC.split())
    with pytest.raises(ArcError) as err:
        enas.parse_macro_arc(" ".join(tokens), num_layers=24)
    assert message in str(err.value)


def test_macro_num_ops_as_in_the_final_script():
    # macro_final passes --child_num_branches=4: op ids 0..3 only, which the published arc uses.
    assert enas.parse_macro_arc(enas.PUBLISHED_MACRO_ARC, 24, num_ops=4).skip_count == 98
    with pytest.raises(ArcError, match=r"position 0 \(layer 0, op id\): 4 is not an op id "
                                       r"\(0\.\.3"):
        enas.parse_macro_arc("4 0 0", 2, num_ops=4)


# ---------------------------------------------------------------------- random arcs


def test_random_micro_arcs_cover_the_full_space_and_parse():
    rng = np.random.default_rng(0)
    arcs = [enas.random_micro_arc(rng) for _ in range(300)]
    for arc in arcs:
        assert enas.parse_micro_arc(str(arc)) == arc
    # Node 6's inputs are uniform over 0..5 and ops over 0..4: every value shows up.
    assert {a.normal[16] for a in arcs} == set(range(6))
    assert {a.reduce[19] for a in arcs} == set(range(5))
    assert {a.normal[0] for a in arcs} == {0, 1}
    small = enas.random_micro_arc(rng, num_cells=3, num_ops=2)
    assert len(small.ints) == 24 and max(small.ints[1::2]) <= 1


def test_random_restricted_arcs_follow_the_fork_snippet():
    for seed in range(30):
        arc = enas.random_restricted_micro_arc(np.random.default_rng(seed))
        enas.parse_micro_arc(str(arc))
        for cell in ("normal", "reduce"):
            nodes = arc.nodes(cell)
            firsts, seconds = {n[0] for n in nodes}, {n[2] for n in nodes}
            assert len(firsts) == 1 and len(seconds) == 1 and firsts | seconds <= {0, 1}
        # links[0] and links[1] are shared by both cells.
        assert arc.normal[0] == arc.reduce[0] and arc.normal[2] == arc.reduce[2]

    # The exact layout: replay the README snippet's draws from the same generator.
    rng = np.random.default_rng(7)
    ops = rng.integers(0, 5, 20)
    links = rng.choice([0, 1], size=20, replace=True)
    normal = [links[0], ops[0], links[1], ops[1], links[0], ops[2], links[1], ops[3], links[0],
              ops[4], links[1], ops[5], links[0], ops[6], links[1], ops[7], links[0], ops[16],
              links[1], ops[17]]
    reduce = [links[0], ops[8], links[1], ops[9], links[0], ops[10], links[1], ops[11],
              links[0], ops[12], links[1], ops[13], links[0], ops[14], links[1], ops[15],
              links[0], ops[18], links[1], ops[19]]
    arc = enas.random_restricted_micro_arc(np.random.default_rng(7))
    assert list(arc.ints) == [int(v) for v in normal + reduce]


def test_random_macro_arcs_parse():
    rng = np.random.default_rng(1)
    arcs = [enas.random_macro_arc(rng, 12) for _ in range(100)]
    for arc in arcs:
        assert enas.parse_macro_arc(str(arc), 12) == arc
    rate = sum(a.skip_count for a in arcs) / (100 * 66)
    assert 0.45 < rate < 0.55
    assert {op for a in arcs for op, _ in a.layers} == set(range(6))


# ---------------------------------------------------------------------- plot and command


def test_plot_micro_cells_writes_a_png(tmp_path):
    from nasrepro.archs.cell_plot import plot_micro_cells

    path = plot_micro_cells(enas.parse_micro_arc(enas.PUBLISHED_MICRO_ARC),
                            tmp_path / "cells.png", title="published")
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells.png"]  # no temp file left


def _run_command(*args):
    enas_dir = REPO / "ENAS"
    env = dict(os.environ, PYTHONPATH=str(enas_dir))
    return subprocess.run([sys.executable, "src/cifar10/random_arc.py", *args], cwd=enas_dir,
                          env=env, capture_output=True, text=True, timeout=60)


def test_random_arc_command_prints_parsable_arcs():
    result = _run_command("--seed=1", "--count=3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    expected = [str(a) for a in (lambda r: [enas.random_restricted_micro_arc(r)
                                            for _ in range(3)])(np.random.default_rng(1))]
    assert lines == expected
    for line in lines:
        assert len(enas.parse_micro_arc(line).ints) == 40

    full = _run_command("--space=full", "--seed=2")
    assert full.returncode == 0
    enas.parse_micro_arc(full.stdout)
    macro = _run_command("--space=macro", "--num_layers=24", "--seed=3")
    assert macro.returncode == 0
    assert enas.parse_macro_arc(macro.stdout, 24).num_layers == 24

    bad = _run_command("--space=restricted", "--num_cells=4")
    assert bad.returncode == 2
    assert "--num_cells=4: the restricted space" in bad.stderr

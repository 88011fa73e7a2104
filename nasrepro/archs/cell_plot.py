"""A picture of an ENAS micro architecture: normal and reduction cell side by side as DAGs.

Plain matplotlib (Agg), no graphviz. Nodes sit in columns by depth: the two inputs on the
left, the output (concat of the loose ends) on the right. Each computed node has two
incoming edges labelled with their op, drawn as opposite arcs so that two edges from the same
input stay apart."""
from pathlib import Path

from nasrepro.archs.enas import MicroArc
from nasrepro.runs.plots import save_figure

_INPUT_LABELS = {0: "h[k-2]", 1: "h[k-1]"}
# Short names keep edge labels from covering each other (order of MICRO_OPS).
_SHORT_NAMES = ("sep3x3", "sep5x5", "avg3x3", "max3x3", "identity")
# One colour per op as well, so crossing edges stay attributable.
_OP_COLOURS = ("#1f77b4", "#9467bd", "#2ca02c", "#d62728", "#7f7f7f")
_COLOURS = {"input": "#cfe2f3", "node": "#fff2cc", "output": "#d9ead3"}


def _layout(arc: MicroArc, cell: str) -> dict:
    """Node -> (x, y): x is the longest path from an input (inputs left, output right), nodes of
    one column spread evenly on y."""
    depth = {0: 0, 1: 0}
    for j, (x_id, _, y_id, _) in enumerate(arc.nodes(cell), start=2):
        depth[j] = 1 + max(depth[x_id], depth[y_id])
    depth["out"] = 1 + max(depth.values())
    columns = {}
    for node, d in depth.items():
        columns.setdefault(d, []).append(node)
    positions = {}
    for d, members in columns.items():
        for i, node in enumerate(members):
            positions[node] = (4.0 * d, 2.4 * ((len(members) - 1) / 2 - i))
    return positions


def _edge(ax, start, end, label, rad, colour="#555555"):
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.0, shrinkA=14,
                                shrinkB=14, connectionstyle=f"arc3,rad={rad}"))
    if label:
        # A point along matplotlib's arc3 curve (a quadratic Bezier whose control point is the
        # chord midpoint pushed sideways); past the middle, so a node's labels sit near it.
        dx, dy = end[0] - start[0], end[1] - start[1]
        cx = (start[0] + end[0]) / 2 + rad * dy
        cy = (start[1] + end[1]) / 2 - rad * dx
        t = 0.62
        x = (1 - t) ** 2 * start[0] + 2 * (1 - t) * t * cx + t ** 2 * end[0]
        y = (1 - t) ** 2 * start[1] + 2 * (1 - t) * t * cy + t ** 2 * end[1]
        ax.text(x, y, label, fontsize=8, ha="center", va="center", zorder=2, color=colour,
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))


def _draw_cell(ax, arc: MicroArc, cell: str, heading: str) -> None:
    pos = _layout(arc, cell)
    for j, (x_id, x_op, y_id, y_op) in enumerate(arc.nodes(cell), start=2):
        _edge(ax, pos[x_id], pos[j], _op_label(x_op), 0.25, _op_colour(x_op))
        _edge(ax, pos[y_id], pos[j], _op_label(y_op), -0.25, _op_colour(y_op))
    for end in arc.loose_ends(cell):
        _edge(ax, pos[end], pos["out"], "", 0.0)
    for node, (x, y) in pos.items():
        kind = "output" if node == "out" else ("input" if node in _INPUT_LABELS else "node")
        text = "concat" if node == "out" else _INPUT_LABELS.get(node, str(node))
        ax.text(x, y, text, ha="center", va="center", fontsize=9, zorder=3,
                bbox=dict(boxstyle="round,pad=0.4", fc=_COLOURS[kind], ec="#333333"))
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 1.0, max(xs) + 1.0)
    ax.set_ylim(min(ys) - 1.2, max(ys) + 1.2)
    ax.set_aspect("equal")  # so the label positions computed in data units sit on the curves
    ax.set_title(heading)
    ax.axis("off")


def _op_label(op: int) -> str:
    return _SHORT_NAMES[op] if op < len(_SHORT_NAMES) else f"op{op}"


def _op_colour(op: int) -> str:
    return _OP_COLOURS[op % len(_OP_COLOURS)]


def plot_micro_cells(arc: MicroArc, path, title=None) -> Path:
    """Draw both cells of `arc` into a PNG at `path` (written atomically); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    _draw_cell(axes[0], arc, "normal", "normal cell")
    _draw_cell(axes[1], arc, "reduce", "reduction cell")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)

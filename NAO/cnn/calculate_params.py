"""Trainable parameters of the CIFAR network that renqianluo/NAO NAO/cnn/model.py (commit e07be44)
builds, worked out by hand from the two cell dags and the sizes alone, with no TensorFlow: a 3x3
stem conv to int(filters * stem_multiplier) channels; 3N normal cells, a reduction cell (filter
scaling doubled) placed before the normal cells at int(k / 3 * 3N) for k = 1, 2; in every cell
the cell-two-back input is factorized-reduced when its size differs from the previous cell's, else
brought to the cell's width by a 1x1 conv when its channels differ (the first cell takes the raw
stem output unchanged), and the previous cell's output always goes through a 1x1 conv; each op
carries its own weights (a kxk conv, two convs for 1xk+kx1, two depthwise + pointwise stacks for
a (dilated) separable conv, a 1x1 conv behind a pool or an identity whose channels differ or,
for identity, whose stride is 2), stride 2 in reduction cells only for ops that read the cell
inputs; the cell concatenates its loose ends, factorized-reducing those whose size or channels
differ; the aux head (training only) follows the first normal cell after the second reduction
cell. Every conv is bias-free and followed by a batch norm with a scale and an offset per
channel; the two dense layers (aux head and classifier) have biases. `main` is everything but the
aux head."""
from __future__ import annotations

from nasrepro.archs.nao_dag import Dag, check_buildable, loose_ends, parse_op

IMAGE_SIZE = 32
AUX_PROJECT, AUX_CONV = 128, 768
AUX_POOL, AUX_POOL_STRIDE = 5, 3


def bn(c: int) -> int:
    return 2 * c


def conv_bn(c_in: int, c_out: int, kh: int = 1, kw: int = None) -> int:
    """A bias-free conv of a kh x kw kernel followed by batch norm."""
    return kh * (kh if kw is None else kw) * c_in * c_out + bn(c_out)


def sep_conv_bn(c_in: int, c_out: int, k: int) -> int:
    """Depthwise kxk (multiplier 1) + pointwise 1x1, then batch norm."""
    return k * k * c_in + c_in * c_out + bn(c_out)


def factorized_reduction(c_in: int, c_out: int, stride: int) -> int:
    """Stride 1: one 1x1 conv + BN. Stride 2: two 1x1 convs to c_out/2 each (on the two shifted
    subsamplings), concatenated, + BN."""
    if stride == 1:
        return conv_bn(c_in, c_out)
    return 2 * c_in * (c_out // 2) + bn(c_out)


def down(size: int, stride: int) -> int:
    """Spatial size after a SAME-padded (or 1x1 VALID) op of this stride."""
    return -(-size // stride)


def _square(size: str) -> int:
    h, w = size.split("x")
    assert h == w, size
    return int(h)


def op_params(op: str, c_in: int, c_out: int, stride: int) -> int:
    kind, size = parse_op(op, "op")
    if kind == "identity":
        return conv_bn(c_in, c_out) if stride > 1 or c_in != c_out else 0
    if kind.endswith("_pool"):
        return conv_bn(c_in, c_out) if c_in != c_out else 0
    if kind in ("sep_conv", "dil_sep_conv"):
        # The dilation (2) adds no weights. A dil_sep_conv at stride 2 (reading a reduction
        # cell's input) is still counted, though Keras refuses to build stride 2 with dilation 2.
        k = _square(size)
        return sep_conv_bn(c_in, c_out, k) + sep_conv_bn(c_out, c_out, k)
    if kind == "conv":
        if "+" in size:  # 1xk then kx1, each with its own BN; the second sees c_out channels
            (h1, w1), (h2, w2) = (tuple(int(v) for v in part.split("x"))
                                  for part in size.split("+"))
            return conv_bn(c_in, c_out, h1, w1) + conv_bn(c_out, c_out, h2, w2)
        return conv_bn(c_in, c_out, _square(size))
    raise ValueError(f"op {op!r}: no rule for its type")


def cell_params(cell, f: int, inputs, last, stride: int):
    """(parameters, (channels, size) of the output) of one cell of width f. `inputs` is the
    previous cell's (channels, size), `last` the one two back or None."""
    total = 0
    c_in, s_in = inputs
    if last is None:
        last = inputs
    else:
        c_last, s_last = last
        if s_last != s_in:
            total += factorized_reduction(c_last, f, 2)
            last = (f, down(s_last, 2))
        elif c_last != f:
            total += conv_bn(c_last, f)
            last = (f, s_last)
    total += conv_bn(c_in, f)
    h = {"node_1": last, "node_2": (f, s_in)}
    nodes = [k for k in cell if k != "loose_ends"]
    for name in nodes[2:]:
        _, in_1, in_2, op_1, op_2 = cell[name]
        sizes = []
        for src, op in ((in_1, op_1), (in_2, op_2)):
            s = stride if src in ("node_1", "node_2") else 1
            c, size = h[src]
            total += op_params(op, c, f, s)
            sizes.append(down(size, s))
        assert sizes[0] == sizes[1], (name, sizes)
        h[name] = (f, sizes[0])  # every op ends at f channels (a 1x1 where it would not)
    ends = loose_ends(cell)
    out_size = min(h[n][1] for n in ends)
    channels = 0
    for name in nodes:
        if name not in ends:
            continue
        c, size = h[name]
        if size != out_size or c != f:
            total += factorized_reduction(c, f, 2 if size != out_size else 1)
            c = f
        channels += c
    return total, (channels, out_size)


def reduction_layers(N: int) -> list:
    num_cells = 3 * N
    return [int((float(k) / 3) * num_cells) for k in (1, 2)]


def count_params_by_hand(dag: Dag, N: int, filters: int, num_classes: int,
                         stem_multiplier: float = 3.0, use_aux_head: bool = True) -> dict:
    check_buildable(dag)
    stem_c = int(filters * stem_multiplier)
    main = conv_bn(3, stem_c, 3)
    layers = [None, (stem_c, IMAGE_SIZE)]
    reductions = reduction_layers(N)
    aux_after = reductions[1]
    scaling, aux = 1, 0
    for cell_num in range(3 * N):
        if cell_num in reductions:
            scaling *= 2
            p, out = cell_params(dag.reduc, int(filters * scaling), layers[-1], layers[-2], 2)
            main += p
            layers.append(out)
        p, out = cell_params(dag.conv, int(filters * scaling), layers[-1], layers[-2], 1)
        main += p
        layers.append(out)
        if use_aux_head and cell_num == aux_after and num_classes:
            c, size = out
            pooled = (size - AUX_POOL) // AUX_POOL_STRIDE + 1
            aux = (conv_bn(c, AUX_PROJECT) + conv_bn(AUX_PROJECT, AUX_CONV, pooled)
                   + AUX_CONV * num_classes + num_classes)
    main += layers[-1][0] * num_classes + num_classes
    return {"main": main, "aux_head": aux, "total": main + aux}

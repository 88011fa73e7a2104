"""Parameters of the fixed-architecture NAO-WS child worked out by hand, from the architecture
and the sizes alone: the role of renqianluo/NAO NAO-WS/cnn/calculate_params.py (an analytic
counter over an arch pool), written out for the network train.py builds. Its count equals the
built network's to the parameter (tests/test_naows_cnn.py), which makes it the independent check
of the static claim static-naows-final-params.

Layout (ENAS's micro child as NAO-WS trains it): a 3x3 stem to 3C channels; num_layers + 2
cells, the cells at num_layers // 3 and 2 (num_layers // 3) + 1 reducing (channels doubled);
each cell first brings input 0 to C channels (a factorized reduction when it is twice as large,
else a 1x1 conv when its channels differ) and input 1 too (1x1 conv when its channels differ),
then a 1x1 conv on input 1 (layer_base); separable convs are two ReLU-depthwise-pointwise-BN
stacks; pools have no weights; identity at stride 2 is a factorized reduction; the cell output
concatenates its loose ends, loose cell inputs of a reduction cell factorized-reduced. No conv
has a bias; the classifier has none either. The aux head follows the cell after the second
reduction. Batch norm has a scale and an offset per channel."""
from nasrepro.archs.nao import parse_nao_arch

SEP_KERNELS = {0: 3, 1: 5}
IDENTITY = 4
AUX_PROJECT, AUX_CONV = 128, 768


def bn(c: int) -> int:
    return 2 * c


def conv_bn(c_in: int, c_out: int, k: int = 1) -> int:
    return k * k * c_in * c_out + bn(c_out)


def factorized_reduction(c_in: int, c_out: int) -> int:
    return 2 * c_in * (c_out // 2) + bn(c_out)


def sep_conv(k: int, c: int) -> int:
    return 2 * (k * k * c + c * c + bn(c))


def loose_ends(cell) -> list:
    used = set(cell[0::4]) | set(cell[2::4])
    return [i for i in range(len(cell) // 4 + 2) if i not in used]


def cell_params(cell, inputs, c: int, reduction: bool) -> int:
    (hw0, c0), (hw1, c1) = inputs
    total = 0
    if hw0 != hw1:
        total += factorized_reduction(c0, c)
    elif c0 != c:
        total += conv_bn(c0, c)
    if c1 != c:
        total += conv_bn(c1, c)
    total += conv_bn(c, c)  # layer_base
    for node in range(len(cell) // 4):
        for input_id, op in (cell[4 * node:4 * node + 2], cell[4 * node + 2:4 * node + 4]):
            if op in SEP_KERNELS:
                total += sep_conv(SEP_KERNELS[op], c)
            elif op == IDENTITY and reduction and input_id < 2:
                total += factorized_reduction(c, c)
    if reduction:
        total += sum(factorized_reduction(c, c) for i in loose_ends(cell) if i < 2)
    return total


def count_child_params(arch, num_layers: int, out_filters: int, num_classes: int = 10,
                       use_aux_heads: bool = False, image_size: int = 32) -> dict:
    """{"main": parameters without the aux head, "aux_head": the aux head's, "total"}."""
    arch = parse_nao_arch(arch, source="arch")
    c = out_filters
    main = 27 * 3 * c + bn(3 * c)  # stem
    inputs = [(image_size, 3 * c)] * 2
    pool_layers = [num_layers // 3, 2 * (num_layers // 3) + 1]
    aux = 0
    for layer in range(num_layers + 2):
        reduction = layer in pool_layers
        c *= 2 if reduction else 1
        cell = arch.reduce if reduction else arch.normal
        main += cell_params(cell, inputs, c, reduction)
        out = (inputs[1][0] // (2 if reduction else 1), len(loose_ends(cell)) * c)
        inputs = [inputs[1], out]
        if use_aux_heads and layer == pool_layers[-1] + 1:
            pooled = (out[0] - 5) // 3 + 1
            aux = (conv_bn(out[1], AUX_PROJECT) + conv_bn(AUX_PROJECT, AUX_CONV, pooled)
                   + AUX_CONV * num_classes)
    main += inputs[1][1] * num_classes
    return {"main": main, "aux_head": aux, "total": main + aux}

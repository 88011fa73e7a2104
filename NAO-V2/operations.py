"""NAO-V2's operations by op id, and the stems and aux heads of its two datasets.

The generic DARTS-family modules (separable/dilated conv, factorized reduce, pools, stems, aux
heads) come from nasrepro.torch; the tables below give them NAO-V2's op ids (renqianluo/
NAO_pytorch, NAO_V2/operations.py: OPERATIONS_small and OPERATIONS_middle). Resolutions are
tracked as levels: 0 at the first stem output, +1 per halving, so nothing depends on the input
size. The weight-sharing ops of the supernet are in ws_operations.py, the cells' input and
output adapters in cell_adapters.py, the drop-path rule in drop_path_rule.py."""
from __future__ import annotations

from torch import nn

from nasrepro.errors import check_value
from nasrepro.torch.aux_heads import cifar_aux_head, imagenet_aux_head
from nasrepro.torch.ops import (CifarStem, DilConv, ImageNetStem, SepConv, Zero, avg_pool,
                                max_pool, skip_connect)

SEARCH_SPACES = ("small", "middle")
DATASETS = ("cifar", "imagenet")


def _reduce(C: int, stride: int) -> nn.Module:
    # NAO-V2's identity: a factorized reduce without ReLU where the resolution halves.
    return skip_connect(C, C, stride, relu=False)


# Final-network ops by op id: (C, stride) -> module from C to C channels.
OPERATIONS_small = {
    0: lambda C, stride: SepConv(C, C, 3, stride, 1),
    1: lambda C, stride: SepConv(C, C, 5, stride, 2),
    2: lambda C, stride: avg_pool(3, stride),
    3: lambda C, stride: max_pool(3, stride),
    4: _reduce,
}

OPERATIONS_middle = {
    0: lambda C, stride: Zero(stride),
    1: _reduce,
    2: lambda C, stride: SepConv(C, C, 3, stride, 1),
    3: lambda C, stride: SepConv(C, C, 5, stride, 2),
    4: lambda C, stride: SepConv(C, C, 7, stride, 3),
    5: lambda C, stride: DilConv(C, C, 3, stride, 2, 2),
    6: lambda C, stride: DilConv(C, C, 5, stride, 4, 2),
    7: lambda C, stride: DilConv(C, C, 7, stride, 6, 2),
    8: lambda C, stride: avg_pool(3, stride),
    9: lambda C, stride: max_pool(3, stride),
}


def final_ops(search_space: str) -> dict:
    check_value(search_space in SEARCH_SPACES, "NAO-V2", "search_space", search_space,
                " or ".join(SEARCH_SPACES))
    return OPERATIONS_small if search_space == "small" else OPERATIONS_middle


def num_ops(search_space: str) -> int:
    return len(final_ops(search_space))


# ---- stems and aux heads by dataset

def build_stem(dataset: str, channels: int) -> tuple:
    """(stem module, [(level, channels) of s0, of s1]); run it with stem_states."""
    check_value(dataset in DATASETS, "NAO-V2", "dataset", dataset, " or ".join(DATASETS))
    if dataset == "cifar":
        stem_channels = 3 * channels
        return CifarStem(stem_channels), [(0, stem_channels), (0, stem_channels)]
    check_value(channels % 2 == 0, "NAO-V2 ImageNet network", "channels", channels,
                "an even number")
    return ImageNetStem(channels), [(0, channels), (1, channels)]


def stem_states(stem: nn.Module, x):
    """(s0, s1) for the first cell: the CIFAR stem's output twice, the ImageNet stems' two."""
    out = stem(x)
    return out if isinstance(out, tuple) else (out, out)


def build_aux_head(dataset: str, C_in: int, classes: int) -> nn.Module:
    if dataset == "cifar":
        return cifar_aux_head(C_in, classes)
    return imagenet_aux_head(C_in, classes, final_bn=True)

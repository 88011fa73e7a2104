"""NAO-V2's own operations: the op tables by op id, the cell input/output adapters, the
weight-sharing ops of the supernet and the drop-path schedule and rule.

The generic DARTS-family modules (separable/dilated conv, factorized reduce, pools, stems, aux
heads) come from nasrepro.torch. Resolutions are tracked as levels: 0 at the first stem output,
+1 per halving, so nothing depends on the input size."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nasrepro.errors import ConfigError, check_value
from nasrepro.torch.aux_heads import cifar_aux_head, imagenet_aux_head
from nasrepro.torch.ops import (CifarStem, DilConv, FactorizedReduce, ImageNetStem, ReLUConvBN,
                                SepConv, Zero, avg_pool, max_pool, skip_connect)

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


# ---- stems and aux heads by dataset -------------------------------------------------------

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


# ---- cell input and output adapters -------------------------------------------------------

class MaybeCalibrateSize(nn.Module):
    """Bring both cell inputs to `channels` at s1's resolution: s0 one level finer goes
    through ReLU + factorized reduce, another channel count through ReLU-1x1 conv-BN; s1 through
    ReLU-1x1 conv-BN if its channel count differs. in_states: [(level, channels)] of s0, s1."""

    def __init__(self, in_states, channels: int):
        super().__init__()
        (level0, c0), (level1, c1) = in_states
        if level0 != level1:
            if level0 + 1 != level1:
                raise ConfigError(f"MaybeCalibrateSize: s0 at level {level0} and s1 at level "
                                  f"{level1}; expected equal or s0 one level finer")
            self.preprocess_x = FactorizedReduce(c0, channels, relu=True)
        elif c0 != channels:
            self.preprocess_x = ReLUConvBN(c0, channels, 1, 1, 0)
        else:
            self.preprocess_x = nn.Identity()
        self.preprocess_y = ReLUConvBN(c1, channels, 1, 1, 0) if c1 != channels \
            else nn.Identity()
        self.out_states = [(level1, channels), (level1, channels)]

    def forward(self, s0, s1):
        return self.preprocess_x(s0), self.preprocess_y(s1)


class FinalCombine(nn.Module):
    """Concatenate the `concat` states; a cell input still at the finer resolution (a reduction
    cell's s0/s1 that no node reads) is factorized-reduced first. states: [(level, channels)]."""

    def __init__(self, states, concat, channels: int):
        super().__init__()
        self.concat = list(concat)
        self.out_level = max(states[i][0] for i in self.concat)
        self.reduce = nn.ModuleDict()
        for i in self.concat:
            level, c_in = states[i]
            if level != self.out_level:
                assert i in (0, 1) and level + 1 == self.out_level, (i, level, self.out_level)
                self.reduce[str(i)] = FactorizedReduce(c_in, channels, relu=False)
        self.out_channels = channels * len(self.concat)  # every state has `channels`

    def forward(self, states):
        return torch.cat([self.reduce[str(i)](states[i]) if str(i) in self.reduce else states[i]
                          for i in self.concat], dim=1)


# ---- weight-sharing ops of the supernet ---------------------------------------------------
# Each parametric op keeps one set of weights per input id a node can read (node i: ids
# 0..i+1) and is called as op(x, input_id, stride).

def _kaiming_list(count: int, *shape) -> nn.ParameterList:
    params = nn.ParameterList(nn.Parameter(torch.empty(*shape)) for _ in range(count))
    for p in params:
        nn.init.kaiming_normal_(p)
    return params


class WSBN(nn.Module):
    """BatchNorm whose affine weight and bias are per input id while the running mean and
    variance are shared by all of them."""

    def __init__(self, num_inputs: int, num_features: int, eps: float = 1e-5,
                 momentum: float = 0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.ParameterList(nn.Parameter(torch.ones(num_features))
                                       for _ in range(num_inputs))
        self.bias = nn.ParameterList(nn.Parameter(torch.zeros(num_features))
                                     for _ in range(num_inputs))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x, input_id: int):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight[input_id],
                            self.bias[input_id], self.training, self.momentum, self.eps)


class WSDilConv(nn.Module):
    """ReLU, depthwise conv (stride given per call, dilated), pointwise conv, WSBN."""

    def __init__(self, num_inputs: int, C_in: int, C_out: int, kernel_size: int, padding: int,
                 dilation: int = 1):
        super().__init__()
        self.padding, self.dilation, self.groups = padding, dilation, C_in
        self.depthwise = _kaiming_list(num_inputs, C_in, 1, kernel_size, kernel_size)
        self.pointwise = _kaiming_list(num_inputs, C_out, C_in, 1, 1)
        self.bn = WSBN(num_inputs, C_out)

    def forward(self, x, input_id: int, stride: int = 1):
        x = F.conv2d(F.relu(x), self.depthwise[input_id], stride=stride, padding=self.padding,
                     dilation=self.dilation, groups=self.groups)
        return self.bn(F.conv2d(x, self.pointwise[input_id]), input_id)


class WSSepConv(nn.Module):
    """Two WSDilConv stacks without dilation; only the first is strided."""

    def __init__(self, num_inputs: int, C: int, kernel_size: int, padding: int):
        super().__init__()
        self.first = WSDilConv(num_inputs, C, C, kernel_size, padding)
        self.second = WSDilConv(num_inputs, C, C, kernel_size, padding)

    def forward(self, x, input_id: int, stride: int = 1):
        return self.second(self.first(x, input_id, stride), input_id)


class WSPool(nn.Module):
    """3x3 average (count_include_pad=False) or max pool; no weights."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def forward(self, x, input_id: int, stride: int = 1):
        if self.kind == "avg":
            return F.avg_pool2d(x, 3, stride, 1, count_include_pad=False)
        return F.max_pool2d(x, 3, stride, 1)


class WSIdentity(nn.Module):
    """Identity; in a reduction cell, reading s0 or s1 (stride 2), a factorized reduce (no
    ReLU) of its own for each of the two."""

    def __init__(self, C: int, cell_stride: int):
        super().__init__()
        self.reduce = nn.ModuleList(FactorizedReduce(C, C, relu=False) for _ in range(2)) \
            if cell_stride == 2 else None

    def forward(self, x, input_id: int, stride: int = 1):
        return self.reduce[input_id](x) if stride == 2 else x


class WSZero(nn.Module):
    def forward(self, x, input_id: int, stride: int = 1):
        return x[:, :, ::stride, ::stride].mul(0.0)


class WSReLUConvBN(nn.Module):
    """The supernet cell's output projection: ReLU, then a conv whose input-channel blocks are
    per-state weights (one C_in-wide block for each possible state id, stacked in the order the
    states are concatenated), then BN."""

    def __init__(self, num_inputs: int, C_out: int, C_in: int, kernel_size: int = 1):
        super().__init__()
        self.weights = _kaiming_list(num_inputs, C_out, C_in, kernel_size, kernel_size)
        self.bn = nn.BatchNorm2d(C_out)

    def forward(self, x, state_ids):
        weight = torch.cat([self.weights[i] for i in state_ids], dim=1)
        return self.bn(F.conv2d(F.relu(x), weight))


# Supernet ops by op id: (num_inputs, C, cell_stride) -> weight-sharing module.
OPERATIONS_search_small = {
    0: lambda n, C, stride: WSSepConv(n, C, 3, 1),
    1: lambda n, C, stride: WSSepConv(n, C, 5, 2),
    2: lambda n, C, stride: WSPool("avg"),
    3: lambda n, C, stride: WSPool("max"),
    4: lambda n, C, stride: WSIdentity(C, stride),
}

OPERATIONS_search_middle = {
    0: lambda n, C, stride: WSZero(),
    1: lambda n, C, stride: WSIdentity(C, stride),
    2: lambda n, C, stride: WSSepConv(n, C, 3, 1),
    3: lambda n, C, stride: WSSepConv(n, C, 5, 2),
    4: lambda n, C, stride: WSSepConv(n, C, 7, 3),
    5: lambda n, C, stride: WSDilConv(n, C, C, 3, 2, 2),
    6: lambda n, C, stride: WSDilConv(n, C, C, 5, 4, 2),
    7: lambda n, C, stride: WSDilConv(n, C, C, 7, 6, 2),
    8: lambda n, C, stride: WSPool("avg"),
    9: lambda n, C, stride: WSPool("max"),
}


def search_ops(search_space: str) -> dict:
    final_ops(search_space)  # checks the name
    return OPERATIONS_search_small if search_space == "small" else OPERATIONS_search_middle


# ---- drop path ----------------------------------------------------------------------------

DROP_PATH_RULES = ("release", "head")

# The Oct-2019 release code (32993cd), which produced the published results, spared some
# branches: the final network by INPUT id (meant as the identity/zero op ids; changed to op ids
# in 3871108), the supernet by op id. Since 41efeed (Mar 2020, "head") every branch is dropped.
_RELEASE_SPARED = {
    ("final", "small"): ("input", (4,)),
    ("final", "middle"): ("input", (0, 1)),
    ("supernet", "small"): ("op", (4,)),
    ("supernet", "middle"): ("op", (0, 1)),
}


def check_drop_path_rule(rule: str, owner: str) -> None:
    check_value(rule in DROP_PATH_RULES, owner, "drop_path_rule", rule,
                " or ".join(DROP_PATH_RULES))


def branch_drops(rule: str, network: str, search_space: str, input_id: int,
                 op_id: int) -> bool:
    """Whether drop path applies to a node branch reading `input_id` through op `op_id`.
    network: "final" or "supernet"."""
    if rule == "head":
        return True
    by, spared = _RELEASE_SPARED[(network, search_space)]
    return (input_id if by == "input" else op_id) not in spared


def drop_path_keep(keep_prob: float, cell_index: int, num_cells: int, step: int,
                   steps: int) -> float:
    """Keep probability of cell `cell_index` at global step `step`: the drop rate grows
    linearly with depth and with training progress,
    1 - (step+1)/steps * (cell_index+1)/num_cells * (1 - keep_prob)."""
    by_depth = 1.0 - float(cell_index + 1) / num_cells * (1.0 - keep_prob)
    return 1.0 - float(step + 1) / steps * (1.0 - by_depth)

"""The supernet's weight-sharing ops (renqianluo/NAO_pytorch, NAO_V2/operations.py, the WS*
classes and OPERATIONS_search_*).

Each parametric op keeps one set of weights per input id a node can read (node i: ids 0..i+1)
and is called as op(x, input_id, stride)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nasrepro.torch.ops import FactorizedReduce
from operations import final_ops


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

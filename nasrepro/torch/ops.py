"""The DARTS-family cell operations, written once for the DARTS/ASHA code and NAO-V2.

Semantics follow quark0/darts cnn/operations.py: every conv is bias-free, BN follows each
pointwise conv, and a separable conv is two ReLU-depthwise-pointwise-BN stacks of which only the
first depthwise conv is strided. NAO-V2 builds the same modules; where it differs (no ReLU
inside its factorized reduce) that is a parameter here.

`activation` is the class of the nonlinearity (called with no arguments), ReLU by default.
Determined's GAEA ImageNet example passes swish there (determined-ai/determined 208ee11c52,
examples/experimental/imagenet_nas_arch_pytorch/operations.py); its factorized reduce keeps
DARTS' ReLU, so FactorizedReduce takes no activation."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import check_value


# A class (or factory) giving a fresh nonlinearity module; nn.ReLU() is DARTS' ReLU(inplace=False).
Activation = Callable[[], nn.Module]


class ReLUConvBN(nn.Sequential):
    """ReLU (or `activation`), a bias-free conv, BN. GAEA's ActivationConvBN."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int,
                 affine: bool = True, activation: Activation = nn.ReLU):
        super().__init__(
            activation(),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(C_out, affine=affine))


class DilConv(nn.Sequential):
    """ReLU (or `activation`), depthwise conv (strided, dilated), pointwise conv, BN."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int,
                 dilation: int, affine: bool = True, activation: Activation = nn.ReLU):
        super().__init__(
            activation(),
            nn.Conv2d(C_in, C_in, kernel_size, stride=stride, padding=padding,
                      dilation=dilation, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine))


class SepConv(nn.Sequential):
    """Two undilated DilConv stacks: the first keeps C_in channels and carries the stride, the
    second maps to C_out."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int,
                 affine: bool = True, activation: Activation = nn.ReLU):
        super().__init__(
            DilConv(C_in, C_in, kernel_size, stride, padding, 1, affine, activation),
            DilConv(C_in, C_out, kernel_size, 1, padding, 1, affine, activation))


class Identity(nn.Identity):
    """The stride-1 skip connection (its own class so cells can tell it apart)."""


class Zero(nn.Module):
    """The 'none' op: zeros at the output resolution."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve the resolution with two stride-2 1x1 convs, the second on the input shifted by one
    pixel, each giving C_out/2 channels; concatenate and BN.

    relu: DARTS rectifies the input first; NAO-V2's version has no ReLU (its callers add one
    where they want it). The shift pads one zero row/column at the end, so odd sizes work too
    (ceil(H/2) from both paths); for even sizes it equals DARTS' x[:, :, 1:, 1:]."""

    def __init__(self, C_in: int, C_out: int, affine: bool = True, relu: bool = True):
        super().__init__()
        check_value(C_out % 2 == 0, "FactorizedReduce", "C_out", C_out, "an even number")
        self.relu = nn.ReLU(inplace=False) if relu else None
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.relu is not None:
            x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def avg_pool(kernel_size: int, stride: int) -> nn.Module:
    """Same-padded average pool that averages over real pixels only (count_include_pad=False)."""
    return nn.AvgPool2d(kernel_size, stride=stride, padding=kernel_size // 2,
                        count_include_pad=False)


def max_pool(kernel_size: int, stride: int) -> nn.Module:
    return nn.MaxPool2d(kernel_size, stride=stride, padding=kernel_size // 2)


def skip_connect(C_in: int, C_out: int, stride: int, affine: bool = True,
                 relu: bool = True) -> nn.Module:
    """Identity at stride 1, a factorized reduce at stride 2."""
    if stride == 1:
        return Identity()
    return FactorizedReduce(C_in, C_out, affine=affine, relu=relu)


def conv_7x1_1x7(C: int, stride: int, affine: bool = True,
                 activation: Activation = nn.ReLU) -> nn.Module:
    return nn.Sequential(
        activation(),
        nn.Conv2d(C, C, (1, 7), stride=(1, stride), padding=(0, 3), bias=False),
        nn.Conv2d(C, C, (7, 1), stride=(stride, 1), padding=(3, 0), bias=False),
        nn.BatchNorm2d(C, affine=affine))


# DARTS' OPS table: name -> (C, stride, affine[, activation]) -> module mapping C channels to C
# channels. Pools, zero and the skip connection have no activation to change.
OPS = {
    "none": lambda C, stride, affine, activation=nn.ReLU: Zero(stride),
    "avg_pool_3x3": lambda C, stride, affine, activation=nn.ReLU: avg_pool(3, stride),
    "max_pool_3x3": lambda C, stride, affine, activation=nn.ReLU: max_pool(3, stride),
    "skip_connect": lambda C, stride, affine, activation=nn.ReLU: skip_connect(C, C, stride,
                                                                                affine),
    "sep_conv_3x3": lambda C, stride, affine, activation=nn.ReLU: SepConv(C, C, 3, stride, 1,
                                                                          affine, activation),
    "sep_conv_5x5": lambda C, stride, affine, activation=nn.ReLU: SepConv(C, C, 5, stride, 2,
                                                                          affine, activation),
    "sep_conv_7x7": lambda C, stride, affine, activation=nn.ReLU: SepConv(C, C, 7, stride, 3,
                                                                          affine, activation),
    "dil_conv_3x3": lambda C, stride, affine, activation=nn.ReLU: DilConv(C, C, 3, stride, 2, 2,
                                                                          affine, activation),
    "dil_conv_5x5": lambda C, stride, affine, activation=nn.ReLU: DilConv(C, C, 5, stride, 4, 2,
                                                                          affine, activation),
    "conv_7x1_1x7": conv_7x1_1x7,
}


# Network stems of the DARTS family (NAO-V2 builds the same ones).

class CifarStem(nn.Sequential):
    """3x3 conv from RGB to C_out channels, then BN; no ReLU."""

    def __init__(self, C_out: int):
        super().__init__(nn.Conv2d(3, C_out, 3, padding=1, bias=False), nn.BatchNorm2d(C_out))


class ImageNetStem(nn.Module):
    """Three stride-2 3x3 convs (224 -> 28): stem0 gives C channels at 1/4 resolution, stem1 C
    channels at 1/8. forward returns both: the first cell reads them as (s0, s1).

    DARTS' stem ReLUs work in place; with `activation` given (GAEA) they are fresh modules."""

    def __init__(self, C: int, activation: Activation | None = None):
        super().__init__()
        act = activation or (lambda: nn.ReLU(inplace=True))
        self.stem0 = nn.Sequential(
            nn.Conv2d(3, C // 2, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C // 2),
            act(),
            nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C))
        self.stem1 = nn.Sequential(
            act(),
            nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C))

    def forward(self, x: torch.Tensor) -> tuple:
        s0 = self.stem0(x)
        return s0, self.stem1(s0)

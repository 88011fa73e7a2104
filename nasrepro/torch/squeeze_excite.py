"""Squeeze-and-excitation (Hu et al., arXiv 1709.01507): a per-channel gate computed from the
spatial mean, as Determined's GAEA ImageNet example adds after cells (determined-ai/determined
208ee11c52, examples/experimental/imagenet_nas_arch_pytorch/utils.py)."""
from typing import Callable

import torch
from torch import nn


class SqueezeExcite(nn.Module):
    """x * sigmoid(expand(act(reduce(mean_hw(x))))); reduce and expand are 1x1 convs with bias."""

    def __init__(self, channels: int, hidden: int, activation: Callable[[], nn.Module] = nn.ReLU):
        super().__init__()
        self.se_reduce = nn.Conv2d(channels, hidden, 1, bias=True)
        self.se_expand = nn.Conv2d(hidden, channels, 1, bias=True)
        self.activation = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = x.mean((2, 3), keepdim=True)
        gate = self.se_expand(self.activation(self.se_reduce(gate)))
        return torch.sigmoid(gate) * x

"""The auxiliary classifier of the DARTS family and NAO-V2, attached after the second reduction.

One layout for both datasets: ReLU, 5x5 average pool (no padding, count_include_pad=False) down
to 2x2, 1x1 conv to 128 + BN + ReLU, 2x2 conv to 768 (+ BN) + ReLU, linear. CIFAR (8x8 input)
pools with stride 3, ImageNet (7x7 input) with stride 2. DARTS' ImageNet head has no BN after the
768-channel conv (quark0/darts left it out for consistency with its paper); NAO-V2's has it.

The first ReLU works in place, as in both originals: it also rectifies the cell output that the
following cells read, which changes them only where a cell does not start with a ReLU. GAEA's head
takes its activation as a class and makes fresh (not in-place) modules of it."""
from typing import Callable, Optional

import torch
from torch import nn


class AuxHead(nn.Module):
    def __init__(self, C_in: int, classes: int, pool_stride: int, final_bn: bool = True,
                 activation: Optional[Callable[[], nn.Module]] = None):
        super().__init__()
        act = activation or (lambda: nn.ReLU(inplace=True))
        layers = [
            act(),
            nn.AvgPool2d(5, stride=pool_stride, padding=0, count_include_pad=False),
            nn.Conv2d(C_in, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            act(),
            nn.Conv2d(128, 768, 2, bias=False),
        ]
        if final_bn:
            layers.append(nn.BatchNorm2d(768))
        layers.append(act())
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(768, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.classifier(x.flatten(1))


def cifar_aux_head(C_in: int, classes: int) -> AuxHead:
    """For an 8x8 input (DARTS and NAO-V2 alike)."""
    return AuxHead(C_in, classes, pool_stride=3)


def imagenet_aux_head(C_in: int, classes: int, final_bn: bool = True,
                      activation: Optional[Callable[[], nn.Module]] = None) -> AuxHead:
    """For a 7x7 input. NAO-V2 and GAEA: final_bn=True; DARTS: final_bn=False."""
    return AuxHead(C_in, classes, pool_stride=2, final_bn=final_bn, activation=activation)

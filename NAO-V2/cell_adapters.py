"""How a NAO-V2 cell meets its neighbours: its two inputs are brought to its channel count and
resolution (MaybeCalibrateSize), and the states no node reads are concatenated into its output
(FinalCombine), in the final networks and in the supernet alike."""
from __future__ import annotations

import torch
from torch import nn

from nasrepro.errors import ConfigError
from nasrepro.torch.ops import FactorizedReduce, ReLUConvBN


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

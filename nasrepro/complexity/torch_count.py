"""Parameters and mult-adds of a PyTorch module.

Mult-adds come from torch.utils.flop_counter.FlopCounterMode, which sees every convolution and
matrix product at the dispatcher level (also F.conv2d calls with shared weights) and counts two
FLOPs per multiply-add; its grouped, depthwise, strided, dilated and transposed convolution
formulas and its linear formula (bias excluded) match the convention, so the count is halved.
It does not see fused RNN kernels (nn.LSTM/nn.GRU); the NAS RNN cells here use plain matmuls."""
import logging
from typing import Iterable, Optional, Sequence

import torch
from torch import nn

from ..errors import ConfigError

# Importing the counter warns that triton (GPU kernels only) is missing; irrelevant here.
logging.getLogger("torch.utils.flop_counter").setLevel(logging.ERROR)
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402


def count_params(module: nn.Module, exclude: Iterable[str] = ("auxiliary",)) -> int:
    """Number of parameters, skipping those whose name contains any `exclude` substring.

    Shared parameters count once. The DARTS family and NAO-V2 exclude "auxiliary"."""
    exclude = tuple(exclude)
    return sum(p.numel() for name, p in module.named_parameters()
               if not any(word in name for word in exclude))


def count_mult_adds(module: nn.Module, input_size: Sequence[int] = (1, 3, 32, 32),
                    example_inputs: Optional[tuple] = None,
                    exclude: Iterable[str] = ("auxiliary",)) -> int:
    """Multiply-adds of one forward pass in eval mode without gradients.

    The input is zeros of `input_size` (batch 1: the count is per image), or the tuple
    `example_inputs` passed as positional arguments. Work done inside submodules whose name
    contains an `exclude` substring is left out (an auxiliary head run in eval mode). Every
    submodule's train/eval mode is restored afterwards."""
    if example_inputs is None:
        if len(input_size) < 2 or input_size[0] != 1:
            raise ConfigError(f"input_size {tuple(input_size)} should start with batch size 1 "
                              "(counts are per image)")
        first = next(module.parameters(), None)
        device = first.device if first is not None else "cpu"
        example_inputs = (torch.zeros(tuple(input_size), device=device),)
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            module(*example_inputs)
    finally:
        for m, training in modes.items():
            m.training = training
    flops = counter.get_total_flops() - _excluded_flops(counter, module, tuple(exclude))
    return flops // 2


def _excluded_flops(counter: FlopCounterMode, module: nn.Module, exclude: tuple) -> int:
    """FLOPs recorded under the outermost excluded submodules."""
    if not exclude:
        return 0
    root = type(module).__name__
    excluded = [name for name, _ in module.named_modules()
                if name and any(word in name for word in exclude)]
    # A child of an excluded module is already inside its parent's total.
    outermost = [n for n in excluded
                 if not any(n.startswith(other + ".") for other in excluded)]
    per_module = counter.get_flop_counts()
    return sum(sum(per_module.get(f"{root}.{name}", {}).values()) for name in outermost)

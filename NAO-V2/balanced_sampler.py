"""NAO-V2's balanced sampling: one whole architecture per supernet mini-batch, drawn in
proportion to its size (renqianluo/NAO_pytorch, NAO_V2/train_search.py; the paper's section on
balanced training)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from nasrepro.errors import ConfigError


class BalancedSampler:
    """Draws one whole architecture per mini-batch, with probability proportional to its
    weight (NAO-V2: the architecture's parameter count, so big networks get the updates their
    size needs; 'balanced' training). Weights must be positive."""

    def __init__(self, weights: Sequence[float], rng: np.random.Generator):
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 1 or len(weights) == 0:
            raise ConfigError("balanced sampling needs a non-empty list of weights")
        if not np.all(np.isfinite(weights)) or np.any(weights <= 0):
            bad = int(np.flatnonzero(~(np.isfinite(weights) & (weights > 0)))[0])
            raise ConfigError(f"balanced sampling: weight {bad} is {weights[bad]}, expected a "
                              "positive number")
        self.probabilities = weights / weights.sum()
        self.rng = rng

    def sample(self) -> int:
        return int(self.rng.choice(len(self.probabilities), p=self.probabilities))

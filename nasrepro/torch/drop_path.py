"""Drop path: drop a whole branch for some samples of the batch."""
import torch

from ..errors import check_value


def drop_path(x: torch.Tensor, keep_prob: float) -> torch.Tensor:
    """Keep each sample's branch output with probability keep_prob (one Bernoulli draw per
    sample) and divide the kept ones by keep_prob so the expectation is unchanged. The identity
    when keep_prob >= 1. Not in place: the input may be needed by autograd."""
    if keep_prob >= 1.0:
        return x
    check_value(keep_prob > 0.0, "drop_path", "keep_prob", keep_prob, "a number in (0, 1]")
    shape = (x.shape[0],) + (1,) * (x.dim() - 1)
    mask = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep_prob)
    return x / keep_prob * mask

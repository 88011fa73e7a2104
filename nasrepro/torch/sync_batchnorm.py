"""Batch norm with statistics over the whole global batch, on CPU (gloo) or GPU.

torch's SyncBatchNorm refuses CPU modules, so on the CPU a small replacement all-reduces the
per-channel sums (autograd flows through the all-reduce). With it, N processes compute exactly
what one process computes on the global batch; without it each process normalises its own
part, as nn.DataParallel's replicas did (the original's behaviour, and the default)."""
import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import nn


class CrossProcessBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training-mode mean and variance span all processes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()
                and dist.get_world_size() > 1):
            return super().forward(x)
        count = torch.tensor([float(x.numel() // x.shape[1])], dtype=x.dtype, device=x.device)
        sums = torch.cat([x.sum(dim=(0, 2, 3)), (x * x).sum(dim=(0, 2, 3)), count])
        sums = dist_fn.all_reduce(sums)
        channels = x.shape[1]
        total = sums[-1]
        mean = sums[:channels] / total
        var = sums[channels:2 * channels] / total - mean * mean
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = self.momentum if self.momentum is not None \
                    else 1.0 / float(self.num_batches_tracked)
                unbiased = var * total / max(float(total) - 1.0, 1.0)
                self.running_mean.mul_(1 - momentum).add_(momentum * mean)
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased)
        shape = (1, channels, 1, 1)
        out = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """torch's SyncBatchNorm on GPUs; CrossProcessBatchNorm2d replacing every plain
    BatchNorm2d on the CPU (parameters and running statistics carried over)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            replacement = CrossProcessBatchNorm2d(child.num_features, child.eps, child.momentum,
                                                  child.affine, child.track_running_stats)
            replacement.load_state_dict(child.state_dict())
            setattr(module, name, replacement)
        else:
            convert_sync_batchnorm(child, device)
    return module

"""The pieces of DARTS' utils.py the trial uses: top-k accuracy in percent, Cutout, the CIFAR-10
transforms and a parameter count without the auxiliary head (DARTS' convention)."""
import torch
from torch import nn

from nasrepro.data.cifar import CIFAR10_MEAN, CIFAR10_STD  # noqa: F401
from nasrepro.data.torch_datasets import (Cutout, cifar_train_transform,  # noqa: F401
                                          cifar_valid_transform)
from nasrepro.torch.classifier_loop import correct_topk
from nasrepro.torch.drop_path import drop_path  # noqa: F401


def accuracy(logits: torch.Tensor, target: torch.Tensor, topk=(1,)) -> list:
    """Top-k accuracy of a batch, in percent, for each k."""
    return [100.0 * c / target.shape[0] for c in correct_topk(logits, target, topk)]


def count_parameters(model: nn.Module) -> int:
    """Parameters without the auxiliary head (what DARTS reports as the model size)."""
    return sum(p.numel() for name, p in model.named_parameters()
               if "auxiliary" not in name)


def count_parameters_in_MB(model: nn.Module) -> float:
    return count_parameters(model) / 1e6

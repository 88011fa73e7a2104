"""The pieces of DARTS' utils.py the trial uses: top-k accuracy in percent, Cutout and the CIFAR-10
transforms. DARTS' count_parameters_in_MB is nasrepro.complexity.torch_count.count_params (names
containing "auxiliary" left out, as DARTS counted) divided by 1e6."""
from nasrepro.data.cifar import CIFAR10_MEAN, CIFAR10_STD  # noqa: F401
from nasrepro.data.torch_datasets import (Cutout, cifar_train_transform,  # noqa: F401
                                          cifar_valid_transform)
from nasrepro.torch.classifier_loop import topk_accuracy_pct as accuracy  # noqa: F401
from nasrepro.torch.drop_path import drop_path  # noqa: F401

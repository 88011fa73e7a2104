"""The example's utils.py: top-k accuracy, the label-smoothed loss of PC-DARTS, swish and hard
swish, squeeze-and-excite, cutout and AutoAugment (determined-ai/determined 208ee11c52,
examples/experimental/imagenet_nas_arch_pytorch/utils.py). Each is written once in nasrepro:
- Swish is x * sigmoid(x) with a hand-written backward in the original; torch's SiLU computes the
  same function and gradient. HSwish is x * relu6(x + 3) / 6, torch's Hardswish.
- CrossEntropyLabelSmooth: targets (1 - eps) * onehot + eps / K, loss -sum(t * log_softmax) averaged
  over the batch: torch's cross entropy with label_smoothing=eps is that formula."""
from torch import nn

from nasrepro.data.autoaugment_cifar import CifarAutoAugment as AutoAugment  # noqa: F401
from nasrepro.data.torch_datasets import Cutout  # noqa: F401
from nasrepro.torch.classifier_loop import topk_accuracy_pct as accuracy  # noqa: F401
from nasrepro.torch.squeeze_excite import SqueezeExcite as SqueezeAndExcitation  # noqa: F401

Swish = nn.SiLU
HSwish = nn.Hardswish


class CrossEntropyLabelSmooth(nn.CrossEntropyLoss):
    def __init__(self, num_classes: int, epsilon: float):
        super().__init__(label_smoothing=float(epsilon))
        self.num_classes = num_classes

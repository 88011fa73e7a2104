"""Parameter and mult-add counts of PyTorch layers against hand-computed values."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nasrepro.complexity.torch_count import count_mult_adds, count_params
from nasrepro.errors import ConfigError


@pytest.mark.parametrize("layer, input_size, expected", [
    # conv 3->16, k3 s1 p1 on 32x32: every one of 16*32*32 outputs takes 3*3*3 multiply-adds.
    (nn.Conv2d(3, 16, 3, 1, 1), (1, 3, 32, 32), 16 * 32 * 32 * 3 * 3 * 3),  # 442,368
    # bias additions do not count: same as above.
    (nn.Conv2d(3, 16, 3, 1, 1, bias=False), (1, 3, 32, 32), 442_368),
    # stride 2 halves each side: 16x16 outputs.
    (nn.Conv2d(3, 16, 3, 2, 1), (1, 3, 32, 32), 16 * 16 * 16 * 3 * 3 * 3),  # 110,592
    # depthwise 16 channels k3: each output sees one input channel.
    (nn.Conv2d(16, 16, 3, 1, 1, groups=16), (1, 16, 32, 32), 16 * 32 * 32 * 3 * 3),  # 147,456
    # 4 groups, 16->32: each output sees 16/4 = 4 input channels.
    (nn.Conv2d(16, 32, 3, 1, 1, groups=4), (1, 16, 32, 32), 32 * 32 * 32 * 3 * 3 * 4),
    # dilation 2 with padding 2 keeps 32x32; the kernel still has 9 taps.
    (nn.Conv2d(8, 8, 3, 1, 2, dilation=2), (1, 8, 32, 32), 8 * 32 * 32 * 3 * 3 * 8),
    # no padding: 30x30 outputs.
    (nn.Conv2d(3, 4, 3), (1, 3, 32, 32), 4 * 30 * 30 * 27),
    # linear 100->10 with bias: 100*10.
    (nn.Linear(100, 10), (1, 100), 1000),
    # transposed conv 8->4, k2 s2 on 8x8: every input value meets 2*2*4 weights.
    (nn.ConvTranspose2d(8, 4, 2, 2), (1, 8, 8, 8), 8 * 8 * 8 * 2 * 2 * 4),
    # BN, ReLU and pooling count nothing.
    (nn.Sequential(nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2)), (1, 8, 8, 8), 0),
])
def test_layer_mult_adds(layer, input_size, expected):
    assert count_mult_adds(layer, input_size) == expected


class SharedWeights(nn.Module):
    """Applies one 4->4 k3 kernel twice through F.conv2d (weight sharing, as in NAS supernets)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 4, 3, 3))

    def forward(self, x):
        return F.conv2d(F.conv2d(x, self.weight, padding=1), self.weight, padding=1)


def test_functional_conv_with_shared_weight_counts_every_call_and_params_once():
    net = SharedWeights()
    assert count_mult_adds(net, (1, 4, 8, 8)) == 2 * (4 * 8 * 8 * 3 * 3 * 4)
    assert count_params(net) == 4 * 4 * 3 * 3


class SmallNet(nn.Module):
    """conv-bn-relu-pool-linear with an auxiliary head that runs only in training."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
                                  nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(8, 10)
        self.auxiliary_head = nn.Linear(8, 10)
        self.aux_always = nn.Sequential(nn.Linear(8, 5))

    def forward(self, x):
        features = self.pool(self.stem(x)).flatten(1)
        logits = self.classifier(features)
        self.aux_always(features)  # run even in eval mode, but named like an aux head
        if self.training:
            return logits, self.auxiliary_head(features)
        return logits


def test_small_net_params_exclude_auxiliary():
    net = SmallNet()
    stem = 8 * 3 * 3 * 3 + 2 * 8   # conv weight, BN weight and bias (running stats are buffers)
    classifier = 8 * 10 + 10
    aux = 8 * 10 + 10
    aux_always = 8 * 5 + 5
    assert count_params(net, exclude=()) == stem + classifier + aux + aux_always
    assert count_params(net) == stem + classifier + aux_always   # default drops "auxiliary"
    assert count_params(net, exclude=("auxiliary", "aux_")) == stem + classifier


def test_small_net_mult_adds_and_modes_restored():
    net = SmallNet()
    net.train()
    net.stem[1].eval()  # a mixed-mode model (NAO-V2 keeps some BNs apart) must come back as it was
    before = {name: m.training for name, m in net.named_modules()}
    conv = 8 * 32 * 32 * 27
    # eval mode: the auxiliary head is not run; the classifier is 8*10.
    assert count_mult_adds(net, (1, 3, 32, 32), exclude=()) == conv + 80 + 40
    # work inside a module whose name matches `exclude` is removed even when it runs.
    assert count_mult_adds(net, (1, 3, 32, 32), exclude=("aux_",)) == conv + 80
    assert {name: m.training for name, m in net.named_modules()} == before
    assert all(p.grad is None for p in net.parameters())


def test_example_inputs_and_batch_size_check():
    assert count_mult_adds(nn.Linear(6, 2), example_inputs=(torch.zeros(1, 3, 6),)) == 3 * 6 * 2
    with pytest.raises(ConfigError, match="batch size 1"):
        count_mult_adds(nn.Linear(6, 2), (4, 6))

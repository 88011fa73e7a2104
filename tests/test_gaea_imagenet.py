"""GAEA-ImageNet's pieces against the original (determined-ai/determined 208ee11c52,
examples/experimental/imagenet_nas_arch_pytorch, built and run on the CPU with torch 2.14):
parameter and mult-add counts, squeeze-and-excite placement, where the activation goes, the
learning-rate sequence, the loss, swish, the random data, AutoAugment, the step-based config
lengths and how a global batch is shared between processes."""
import math

import pytest
import torch
from PIL import Image
from torch import nn

from nasrepro.complexity.torch_count import count_mult_adds, count_params
from nasrepro.data.autoaugment_cifar import GOOD_POLICIES, CifarAutoAugment
from nasrepro.environment import REPO_ROOT
from nasrepro.errors import ConfigError
from nasrepro.hpsearch.det_config import load_experiment_config, overrides_from_flags
from nasrepro.hpsearch.trial_context import DataLoader, TrialContext
from nasrepro.torch.ops import FactorizedReduce

GAEA = REPO_ROOT / "GAEA-ImageNet"


@pytest.fixture(scope="module")
def model_def(paper_module):
    return paper_module("GAEA-ImageNet", "model_def")


def hparams(**changes):
    return {**load_experiment_config(GAEA / "distributed.yaml").constant_hparams(), **changes}


# (init_channels, layers, classes, do_SE, auxiliary): (all parameters, parameters without the
# aux head), counted on the original model.py + operations.py at 208ee11c52.
ORIGINAL_PARAMS = {
    (48, 14, 1000, False, False): (5_620_864, 5_620_864),
    (48, 14, 1000, False, True): (6_883_176, 5_620_864),
    (48, 14, 1000, True, False): (5_725_828, 5_725_828),
    (48, 14, 1000, True, True): (6_988_140, 5_725_828),
    (8, 5, 10, False, True): (486_968, 67_886),
    (8, 5, 10, True, True): (488_930, 69_848),
}
# Mult-adds of one 224x224 image (eval mode, nasrepro.complexity.torch_count) on the original.
ORIGINAL_MULT_ADDS = {(48, 14, 1000, False): 624_038_592, (48, 14, 1000, True): 624_139_968,
                      (8, 5, 10, False): 10_709_152, (8, 5, 10, True): 10_710_816}


@pytest.mark.parametrize("key", list(ORIGINAL_PARAMS), ids=str)
def test_parameters_equal_the_originals(model_def, key):
    C, layers, classes, se, aux = key
    for activation in ("swish", "relu"):
        net = model_def.build_network(hparams(init_channels=C, layers=layers, num_classes=classes,
                                              do_SE=se, auxiliary=aux, activation=activation))
        assert (count_params(net, exclude=()), count_params(net)) == ORIGINAL_PARAMS[key]


@pytest.mark.parametrize("key", list(ORIGINAL_MULT_ADDS), ids=str)
def test_mult_adds_equal_the_originals(model_def, key):
    C, layers, classes, se = key
    net = model_def.build_network(hparams(init_channels=C, layers=layers, num_classes=classes,
                                          do_SE=se, auxiliary=False))
    assert count_mult_adds(net, (1, 3, 224, 224)) == ORIGINAL_MULT_ADDS[key]


def test_se_follows_cells_0_to_9_and_feeds_the_next_cell_and_the_aux_head(model_def):
    net = model_def.build_network(hparams(init_channels=8, num_classes=10, auxiliary=True))
    widths = [(se.se_reduce.in_channels, se.se_reduce.out_channels) for se in net.cells_SE]
    # 4 x C_curr channels; C_curr // 4 hidden in the first stage, C_curr // 8 after it.
    assert widths == [(32, 2)] * 4 + [(64, 2)] * 5 + [(128, 4)]
    seen = {}

    def keep(name, value):  # a forward hook must return None not to replace the output
        seen[name] = value
    net.cells_SE[9].register_forward_hook(lambda m, i, out: keep("se9", out))
    net.cells[10].register_forward_hook(lambda m, i, out: keep("cell10_s1", i[1]))
    net.auxiliary_head.register_forward_hook(lambda m, i, out: keep("aux", i[0]))
    net.train()
    net(torch.randn(2, 3, 224, 224))
    assert seen["cell10_s1"] is seen["se9"] and seen["aux"] is seen["se9"]


def test_swish_replaces_every_relu_but_the_factorized_reduces(model_def):
    net = model_def.build_network(hparams(auxiliary=True))
    relus = [name for name, m in net.named_modules() if isinstance(m, nn.ReLU)]
    reduces = [name for name, m in net.named_modules() if isinstance(m, FactorizedReduce)]
    # preprocess0 of cell 0 and of the cells after the two reductions.
    assert sorted(reduces) == ["cells.0.preprocess0", "cells.10.preprocess0",
                               "cells.5.preprocess0"]
    assert sorted(relus) == sorted(f"{name}.relu" for name in reduces)
    swishes = sum(isinstance(m, nn.SiLU) for m in net.modules())
    # 2 stem + 14 x 2 preprocess - 3 factorized reduces + 12 normal cells x 6 sep convs x 2
    # + 2 reduction cells x (5 sep convs x 2 + 1 dil conv) + 10 SE + 3 aux head.
    assert swishes == 2 + 28 - 3 + 12 * 12 + 2 * 11 + 10 + 3


def context(model_def, **changes):
    hp = hparams(init_channels=4, layers=3, num_classes=10, global_batch_size=4, **changes)
    return TrialContext(hp, {}, 1, device=torch.device("cpu"), source="test")


# The learning rate of epochs 0-11 of the original trial (lr 0.5, T_max 300): warm-up, then the
# cosine stepped relative to the warm-up's last value.
ORIGINAL_LRS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.49984919508197495, 0.4996710101829158,
                0.49946546484280496, 0.49923258160200495, 0.4989723859987877,
                0.49868490656653314, 0.4983701748306007]


def test_learning_rate_sequence_equals_the_originals(model_def):
    trial = model_def.ImageNetTrial(context(model_def))
    seen, batch = [], 0
    for epoch in range(12):
        for _ in range(3):  # three batches an epoch: only the first steps the schedule
            trial.adjust_learning_rate(epoch, batch)
            trial.last_epoch_idx = epoch
            batch += 1
        seen.append(trial.optimizer.param_groups[0]["lr"])
    assert seen == ORIGINAL_LRS
    recursive = [0.5 * (1 + math.cos(math.pi * (e + 1) / 300)) / (1 + math.cos(5 * math.pi / 300))
                 for e in range(5, 12)]
    assert seen[5:] == pytest.approx(recursive, rel=1e-12)


def test_resumed_trial_does_not_step_the_schedule_again(model_def):
    first = model_def.ImageNetTrial(context(model_def))
    first.adjust_learning_rate(0, 0)
    first.last_epoch_idx = 0
    resumed = model_def.ImageNetTrial(context(model_def))
    resumed.scheduler.load_state_dict(first.scheduler.state_dict())
    resumed.optimizer.load_state_dict(first.optimizer.state_dict())
    resumed.load_state_dict(first.state_dict())
    resumed.adjust_learning_rate(0, 7)  # mid-epoch 0 after the resume
    assert resumed.scheduler.last_epoch == 1
    assert resumed.optimizer.param_groups[0]["lr"] == 0.1


def test_label_smoothed_loss_is_the_pc_darts_formula(paper_module):
    utils = paper_module("GAEA-ImageNet", "utils")
    logits, target = torch.randn(6, 10), torch.tensor([0, 3, 9, 1, 1, 5])
    eps = 0.1
    t = torch.zeros(6, 10).scatter_(1, target.unsqueeze(1), 1) * (1 - eps) + eps / 10
    expected = (-t * torch.log_softmax(logits, 1)).mean(0).sum()
    assert utils.CrossEntropyLabelSmooth(10, eps)(logits, target) == pytest.approx(expected.item())


def test_swish_and_its_gradient_are_the_originals(paper_module):
    utils = paper_module("GAEA-ImageNet", "utils")
    x = torch.linspace(-6, 6, 101, requires_grad=True)
    y = utils.Swish()(x)
    y.sum().backward()
    s = torch.sigmoid(x.detach())
    assert torch.allclose(y, x * torch.sigmoid(x))
    # The original's hand-written backward: sigmoid(x) * (1 + x * (1 - sigmoid(x))).
    assert torch.allclose(x.grad, s * (1 + x.detach() * (1 - s)), atol=1e-6)
    assert torch.allclose(utils.HSwish()(x), x * nn.functional.relu6(x + 3) / 6)


def test_random_data_is_the_examples_size_and_fixed_by_index(paper_module):
    data = paper_module("GAEA-ImageNet", "data")
    dataset = data.ImageNetDataset("train", {"bucket_name": None}, num_classes=1000, seed=3)
    assert data.data_source({}) == "random" and len(dataset) == 102_400
    image, label = dataset[17]
    assert image.shape == (3, 256, 256) and 0.0 <= image.min() and image.max() < 1.0
    assert 0 <= label < 1000
    again, label_again = dataset[17]
    assert torch.equal(image, again) and label == label_again
    labels = {dataset[i][1] for i in range(200)}
    assert len(labels) > 150  # uniform over 1000 classes, not a constant
    with pytest.raises(ConfigError, match="split 'valid'"):
        data.ImageNetDataset("valid", {})


def test_autoaugment_has_the_releases_95_policies_and_its_32_pixel_geometry():
    assert len(GOOD_POLICIES) == 95
    assert GOOD_POLICIES[0] == (("Invert", 0.1, 7), ("Contrast", 0.2, 6))
    assert GOOD_POLICIES[-1] == (("Equalize", 0.6, 9), ("Equalize", 0.4, 4))
    image = Image.new("RGB", (300, 200), (10, 200, 30))
    original = CifarAutoAugment()
    # Translate and shear return the release's 32x32 image, cropping an ImageNet picture.
    assert original.apply("TranslateY", image, 9).size == (32, 32)
    assert original.apply("ShearX", image, 5).size == (32, 32)
    assert CifarAutoAugment(full_size=True).apply("TranslateY", image, 9).size == (300, 200)
    # Cutout stays in the top-left 32x32 unless full_size.
    torch.manual_seed(0)
    cut = original.apply("Cutout", image, 9)
    changed = [(x, y) for x in range(300) for y in range(200)
               if cut.getpixel((x, y)) != image.getpixel((x, y))]
    assert changed and max(x for x, _ in changed) < 32 and max(y for _, y in changed) < 32
    torch.manual_seed(5)
    a = original(image)
    torch.manual_seed(5)
    assert original(image).tobytes() == a.tobytes()


def test_step_based_lengths_of_the_examples_configs():
    config = load_experiment_config(GAEA / "distributed.yaml")
    assert config.searcher.max_length == {"batches": 30_000}
    assert config.min_validation_period() == {"batches": 1_000}
    assert config.slots_per_trial() == 8
    small = load_experiment_config(GAEA / "const.yaml", ["batches_per_step=5",
                                                         "searcher.max_steps=3"])
    assert small.searcher.max_length == {"batches": 15}
    assert small.min_validation_period() == {"batches": 50}
    with pytest.raises(ConfigError, match="searcher.max_steps=300: expected no max_length"):
        load_experiment_config(GAEA / "const.yaml", ["searcher.max_length={batches: 5}"])
    assert overrides_from_flags(["--batches_per_step=5", "--data.local_dir=/x"]) == \
        ["batches_per_step=5", "data.local_dir=/x"]
    with pytest.raises(ConfigError, match="unrecognized argument '--batches=5'"):
        overrides_from_flags(["--batches=5"])


def test_processes_share_each_global_batch_in_contiguous_parts():
    loader = DataLoader(list(range(23)), batch_size=4)
    single = [b.tolist() for b in loader.epoch_loader(0, seed=0)]
    loader.world_size = 2
    assert len(loader) == 3  # global batches of 8: 8, 8, 7
    parts = []
    for rank in (0, 1):
        loader.rank = rank
        parts.append([b.tolist() for b in loader.epoch_loader(0, seed=0)])
    merged = [a + b for a, b in zip(*parts)]
    assert [len(b) for b in parts[0]] == [4, 4, 4] and [len(b) for b in parts[1]] == [4, 4, 3]
    assert sum(merged, []) == list(range(23))
    assert [b[0] for b in single] == [0, 4, 8, 12, 16, 20]
    # Resuming at global batch 2: only the last one.
    loader.rank = 1
    assert [b.tolist() for b in loader.epoch_loader(0, 0, skip_batches=2)] == [[20, 21, 22]]
    # Evaluation: every example once over the processes.
    shares = []
    for rank in (0, 1):
        loader.rank = rank
        shares += sum((b.tolist() for b in loader.epoch_loader(0, 0, shard_evenly=True)), [])
    assert sorted(shares) == list(range(23))


def test_a_global_batch_the_slots_cannot_share_is_refused():
    hp = hparams(global_batch_size=30)
    ctx = TrialContext(hp, {}, 4, device=torch.device("cpu"), source="distributed.yaml")
    with pytest.raises(ConfigError, match="global_batch_size=30 is not divisible by "
                                          "resources.slots_per_trial=4"):
        ctx.get_per_slot_batch_size()


def test_torchrun_command_for_one_machine_and_several(monkeypatch):
    import argparse
    import sys as _sys

    from nasrepro.hpsearch import launch
    parser = argparse.ArgumentParser()
    launch.add_torchrun_flags(parser)
    one = launch.torchrun_command("experiment.py", ["distributed.yaml"], 8, parser.parse_args([]))
    assert one == [_sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=8",
                   "--nnodes=1", "--standalone", "experiment.py", "distributed.yaml"]
    two = launch.torchrun_command("experiment.py", [], 8, parser.parse_args(
        ["--nnodes=2", "--node_rank=1", "--master_addr=node0", "--master_port=29500"]))
    assert two[3:] == ["--nproc_per_node=4", "--nnodes=2", "--node_rank=1",
                       "--master_addr=node0", "--master_port=29500", "experiment.py"]
    with pytest.raises(ConfigError, match="slots_per_trial=8 cannot be split evenly over "
                                          "--nnodes=3"):
        launch.torchrun_command("experiment.py", [], 8, parser.parse_args(["--nnodes=3"]))
    # A process torchrun started trains; one started with the wrong count is told so.
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert launch.launch_if_needed("experiment.py", [], 2, parser.parse_args([])) is None
    with pytest.raises(ConfigError, match="slots_per_trial=8, but torchrun started 2"):
        launch.launch_if_needed("experiment.py", [], 8, parser.parse_args([]))

"""NAO-V2's pieces outside the networks and the controller: the balanced sampler, the cosine
schedule, per-image seeded augmentation, top-k counting and meters, training-state files and
the ImageNet readers (folders, in memory or not, and zips)."""
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from nasrepro.runs.checkpoint import CheckpointError
from nasrepro.data.imagenet import imagenet_splits, scan_zip
from nasrepro.data.torch_datasets import SeededAugmentation
from nasrepro.errors import ConfigError, DataError
from nasrepro.schedules import cosine_lr
from nasrepro.torch.classifier_loop import RunningMeter, correct_topk
from nasrepro.torch.distributed import DistInfo, per_process_batch
from nasrepro.torch.training_state import resume_training_state, save_training_state


@pytest.fixture(scope="module")
def naov2_utils(paper_module):
    return paper_module("NAO-V2", "balanced_sampler")


def test_balanced_sampler_draws_in_proportion_to_the_weights(naov2_utils):
    weights = [1.0, 2.0, 7.0]
    sampler = naov2_utils.BalancedSampler(weights, np.random.default_rng(1))
    counts = np.bincount([sampler.sample() for _ in range(20000)], minlength=3)
    expected = 20000 * np.array(weights) / sum(weights)
    # Pearson's chi-square, 2 degrees of freedom: 13.8 is the 0.1% tail. Uniform draws would
    # give about 11,000.
    assert ((counts - expected) ** 2 / expected).sum() < 13.8
    # Same seed, same draws.
    again = naov2_utils.BalancedSampler(weights, np.random.default_rng(0))
    first = naov2_utils.BalancedSampler(weights, np.random.default_rng(0))
    assert [again.sample() for _ in range(50)] == [first.sample() for _ in range(50)]


@pytest.mark.parametrize("weights, message", [([], "non-empty"), ([1.0, 0.0], "weight 1 is 0.0"),
                                              ([1.0, float("nan")], "weight 1 is nan")])
def test_balanced_sampler_rejects_bad_weights(naov2_utils, weights, message):
    with pytest.raises(ConfigError, match=message):
        naov2_utils.BalancedSampler(weights, np.random.default_rng(0))


def test_cosine_lr_matches_the_per_epoch_cosine_annealing_schedule():
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.025)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10, eta_min=0.001)
    for epoch in range(10):
        assert cosine_lr(epoch, 10, 0.025, 0.001) == pytest.approx(
            optimizer.param_groups[0]["lr"], rel=1e-9)
        optimizer.step()
        scheduler.step()
    assert cosine_lr(300, 600, 0.025, 0.0) == pytest.approx(0.0125)


class RandomItems(torch.utils.data.Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, index):
        return torch.rand(3), index


def test_seeded_augmentation_depends_on_seed_epoch_and_index_only():
    data = SeededAugmentation(RandomItems(), seed=4)
    torch.manual_seed(0)
    first = [data[i][0] for i in range(5)]
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    second = [data[i][0] for i in reversed(range(5))][::-1]
    # The global generator is untouched by item draws.
    assert torch.equal(torch.rand(1), before)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not torch.equal(first[0], first[1])
    data.set_epoch(1)
    assert not torch.equal(data[0][0], first[0])
    assert not torch.equal(SeededAugmentation(RandomItems(), seed=5)[0][0], first[0])


def test_correct_topk_and_running_meter():
    logits = torch.tensor([[0.1, 0.5, 0.4], [0.9, 0.05, 0.05], [0.2, 0.3, 0.5]])
    target = torch.tensor([2, 0, 0])
    assert correct_topk(logits, target, ks=(1, 2)) == [1, 2]
    # k larger than the classes counts every sample.
    assert correct_topk(logits, target, ks=(1, 5)) == [1, 3]
    meter = RunningMeter()
    meter.update(2.0, 1, 2, 4)
    meter.update(1.0, 3, 4, 4)
    assert meter.means() == pytest.approx((1.5, 50.0, 75.0))
    assert meter.global_means(DistInfo()) == pytest.approx((1.5, 50.0, 75.0, 8))


def test_global_batch_must_split_evenly():
    assert per_process_batch(512, DistInfo(world_size=4)) == 128
    with pytest.raises(ConfigError, match="--batch_size=130 is not divisible by the 4"):
        per_process_batch(130, DistInfo(world_size=4))


def test_training_state_round_trip_and_wrong_model(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(5, 3)).sum().backward()
    optimizer.step()
    save_training_state(tmp_path, model, optimizer, epoch=3, step=30, best_acc_top1=55.0,
                        args={"lr": 0.1, "arch": "1 2", "skip": object()}, is_best=True,
                        keep_epoch_copy=True)
    assert {p.name for p in tmp_path.iterdir()} == {"checkpoint.pt", "checkpoint_best.pt",
                                                    "checkpoint3.pt"}
    fresh = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    fresh_opt = torch.optim.SGD(fresh.parameters(), lr=0.1, momentum=0.9)
    resumed = resume_training_state(tmp_path, fresh, fresh_opt)
    assert (resumed.epoch, resumed.step, resumed.best_acc_top1) == (3, 30, 55.0)
    for a, b in zip(model.parameters(), fresh.parameters()):
        assert torch.equal(a, b)
    assert torch.equal(fresh_opt.state_dict()["state"][0]["momentum_buffer"],
                       optimizer.state_dict()["state"][0]["momentum_buffer"])
    assert resume_training_state(tmp_path / "none", fresh) is None
    with pytest.raises(CheckpointError, match="does not fit this model"):
        resume_training_state(tmp_path, nn.Linear(3, 2))


def _image_tree(root, classes=("a", "b"), per_class=3):
    for split in ("train", "valid"):
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.new("RGB", (8, 8), (40 * c, 10 * i, 0)).save(folder / f"{i}.png")


def test_imagenet_in_memory_lazy_and_zip_give_the_same_samples(tmp_path):
    _image_tree(tmp_path / "tree")
    lazy = imagenet_splits(tmp_path / "tree", in_memory=False)
    memory = imagenet_splits(tmp_path / "tree", in_memory=True, threads=2)
    for archive in ("train", "valid"):
        with zipfile.ZipFile(tmp_path / "tree" / f"{archive}.zip", "w") as z:
            for path in sorted((tmp_path / "tree" / archive).rglob("*.png")):
                z.write(path, path.relative_to(tmp_path / "tree" / archive).as_posix())
    zipped = imagenet_splits(tmp_path / "tree", zip_file=True)
    assert lazy[2] == memory[2] == zipped[2] == ["a", "b"]
    for split in (0, 1):
        assert len(lazy[split]) == len(memory[split]) == len(zipped[split]) == 6
        for i in range(6):
            image_l, label_l = lazy[split][i]
            image_m, label_m = memory[split][i]
            image_z, label_z = zipped[split][i]
            assert label_l == label_m == label_z
            assert np.array_equal(np.asarray(image_l), np.asarray(image_m))
            assert np.array_equal(np.asarray(image_l), np.asarray(image_z))


def test_imagenet_readers_name_what_is_wrong(tmp_path):
    with pytest.raises(DataError, match="train.zip: not found"):
        imagenet_splits(tmp_path, zip_file=True)
    (tmp_path / "train.zip").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable zip"):
        scan_zip(tmp_path / "train.zip")
    with zipfile.ZipFile(tmp_path / "flat.zip", "w") as z:
        z.writestr("image.png", b"x")
    with pytest.raises(DataError, match="no images inside class folders"):
        scan_zip(tmp_path / "flat.zip")
    with pytest.raises(DataError, match="no train/ folder"):
        imagenet_splits(tmp_path)

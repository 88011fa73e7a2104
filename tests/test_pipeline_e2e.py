"""The shared pieces working together the way a paper script uses them: embedded data under the
mini profile, a PyTorch training loop with a log, metrics.csv and checkpoints, a run killed after
one epoch and resumed, results.json, and `verify-results` reading it back."""
import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from nasrepro.runs.checkpoint import latest_checkpoint
from nasrepro.torch.checkpoint import load_checkpoint, save_checkpoint
from nasrepro.complexity.torch_count import count_params
from nasrepro.data import dataset_fingerprint, read_cifar, resolve_data_path
from nasrepro.data.torch_datasets import (ArrayImageDataset, cifar_train_transform,
                                          cifar_valid_transform)
from nasrepro.runs.logs import close_logging, setup_logging
from nasrepro.runs.metrics_csv import MetricsCSV
from nasrepro.runs.results import read_results, write_results
from nasrepro.runs.run_info import Timer, results_record
from nasrepro.seeding import seed_everything
from reproduce.verify import main as verify_main

EPOCHS, TRAIN_IMAGES, BATCH = 3, 2000, 32
LOGGER = "e2e-demo"


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    import os
    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("NASREPRO_CACHE")
    os.environ["NASREPRO_CACHE"] = str(cache)
    try:
        path = resolve_data_path(None, "cifar10", profile="mini")
        yield path, read_cifar(path, num_valids=1000)
    finally:
        if old is None:
            os.environ.pop("NASREPRO_CACHE")
        else:
            os.environ["NASREPRO_CACHE"] = old


def small_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16),
                         nn.ReLU(), nn.MaxPool2d(4), nn.Conv2d(16, 32, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


def train(run_dir, data, stop_after=None):
    """A miniature paper script: resumes from the newest checkpoint in run_dir if there is one."""
    seed_everything(0)
    model = small_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    start = 0
    latest = latest_checkpoint(run_dir)
    if latest is not None:
        state = load_checkpoint(latest)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = state["epoch"]
    log = setup_logging(run_dir / "log.txt", fmt="%(message)s", logger_name=LOGGER,
                        stdout=False)
    metrics = MetricsCSV(run_dir / "metrics.csv", resume_from_epoch=start if latest else None)
    images, labels = data.images["train"][:TRAIN_IMAGES], data.labels["train"][:TRAIN_IMAGES]
    train_set = ArrayImageDataset(images, labels, cifar_train_transform())
    for epoch in range(start, EPOCHS):
        # One generator per epoch, seeded by the epoch: a resumed run draws the same batches.
        order = torch.Generator().manual_seed(epoch)
        torch.manual_seed(1000 + epoch)
        model.train()
        total = 0.0
        for x, y in DataLoader(train_set, batch_size=BATCH, shuffle=True, generator=order):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
        log.info("epoch %d train_loss %.4f", epoch + 1, total / len(train_set))
        metrics.write({"epoch": epoch + 1, "train_loss": total / len(train_set)})
        save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "epoch": epoch + 1}, run_dir / f"checkpoint{epoch + 1}.pt")
        if stop_after is not None and epoch + 1 == stop_after:
            close_logging(LOGGER)
            return model  # the "kill": the process ends after this epoch's checkpoint
    close_logging(LOGGER)
    return model


def accuracy(model, data) -> float:
    test = ArrayImageDataset(data.images["test"], data.labels["test"], cifar_valid_transform())
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in DataLoader(test, batch_size=500):
            correct += (model(x).argmax(1) == y).sum().item()
    return 100.0 * correct / len(test)


def test_killed_run_resumes_to_the_same_weights_and_results_verify(cifar, tmp_path, capsys,
                                                                   monkeypatch):
    path, data = cifar
    straight = train(tmp_path / "straight", data)

    resumed_dir = tmp_path / "runs" / "NAO-V2" / "naov2-cifar-mini"
    train(resumed_dir, data, stop_after=1)
    assert sorted(p.name for p in resumed_dir.glob("*.pt")) == ["checkpoint1.pt"]
    resumed = train(resumed_dir, data)

    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert (resumed_dir / "log.txt").read_text().splitlines()[0] == (
        (tmp_path / "straight" / "log.txt").read_text().splitlines()[0])
    rows = (resumed_dir / "metrics.csv").read_text().splitlines()
    assert rows[0] == "epoch,train_loss" and [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]

    # Fashion-MNIST is learnable: three short epochs on 2,000 images beat chance (10%) by far.
    acc = accuracy(resumed, data)
    assert acc > 40.0  # 56.8 here

    timer = Timer()
    monkeypatch.setenv("NASREPRO_PROFILE", "mini")
    monkeypatch.setenv("NASREPRO_JOB", "naov2-cifar")
    record = results_record("NAO-V2", "train_cifar.py", "embedded-cifar10",
                            dataset_fingerprint(path),
                            {"test_error_pct": 100.0 - acc,
                             "params_m": count_params(resumed) / 1e6},
                            {"epochs": EPOCHS, "batch_size": BATCH}, started=timer,
                            run_dir=resumed_dir)
    write_results(resumed_dir, record)
    assert read_results(resumed_dir / "results.json")["metrics"]["test_error_pct"] == (
        pytest.approx(100.0 - acc))

    code = verify_main(["--results", str(tmp_path / "runs"), "--report-dir",
                        str(tmp_path / "report")])
    out = capsys.readouterr().out
    assert code == 0  # a mini run is shown, never judged
    line = next(l for l in out.splitlines() if l.startswith("naov2-readme-c10 "))
    assert f"{100.0 - acc:.4g}" in line and "mini run only (not comparable)" in line
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["naov2-readme-c10"]["results"] == str(resumed_dir / "results.json")
    assert np.isclose(report["naov2-readme-c10"]["measured"], 100.0 - acc)

"""ASHA-DARTS (Determined's darts_cifar10_pytorch example on Ray Tune): the 32 architecture
hyperparameters as a genotype, the shipped configs' training lengths, a paused trial resuming
bit for bit, CLI errors, a `searcher: single` run end to end with resume, and (slow) a 4-trial
smoke search on Ray followed by the retraining of its winner."""
import copy
import csv
import random
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import yaml

from by_hand import by_hand_env
from nasrepro.archs.darts import Genotype, GenotypeError
from nasrepro.archs.darts_hparams import (arch_hparam_choices, arch_hparam_names,
                                          format_genotype, genotype_from_hparams,
                                          hparams_from_genotype)
from nasrepro.data import embedded_path
from nasrepro.hpsearch.asha import PromotionASHA
from nasrepro.hpsearch.det_config import load_experiment_config
from nasrepro.hpsearch.experiment import LengthPlan, plan_lengths
from nasrepro.hpsearch.trial_context import TrialContext
from nasrepro.hpsearch.trial_controller import TrialController
from nasrepro.environment import REPO_ROOT
from nasrepro.paper_modules import load_paper_module
from nasrepro.runs.results import read_results

ASHA = REPO_ROOT / "ASHA-DARTS"

# The architectures of const.yaml (2020-09) and const_2021.yaml (2021-07), measured there.
from test_darts_network import CONST_2020, CONST_2021  # noqa: E402

# NetworkCIFAR(4, 10, 2, True, CONST_2020) without the auxiliary head (DARTS' count).
CONST_2020_TINY_PARAMS = 5478

TINY = ["--hyperparameters.layers=2", "--hyperparameters.init_channels=4",
        "--hyperparameters.global_batch_size=16", "--data.num_train_images=96",
        "--data.num_valid_images=64", "--data.num_workers=0"]


def const_hparams(config_file="const.yaml", overrides=()):
    return load_experiment_config(ASHA / config_file, list(overrides)).constant_hparams()


def arch_part(hparams):
    return {name: hparams[name] for name in arch_hparam_names()}


def script_env(**extra):
    # Run by hand, as the README says: nothing activated, `python` is not the project's.
    env = {k: v for k, v in by_hand_env().items() if k != "RAY_ADDRESS"}
    env.update(NASREPRO_PROGRESS="0", NASREPRO_PROFILE="smoke")
    env.update(extra)
    return env


def run_experiment(*flags, timeout=300):
    return subprocess.run(["python", "experiment.py", *flags], cwd=ASHA, env=script_env(),
                          capture_output=True, text=True, timeout=timeout)


def csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --- 1. the 32 hyperparameters as a genotype -----------------------------------------------------

def test_the_32_names_and_their_choices():
    names = arch_hparam_names()
    assert len(names) == 32 and len(set(names)) == 32
    assert names[:4] == ["normal_node1_edge1", "normal_node1_edge1_op",
                         "normal_node1_edge2", "normal_node1_edge2_op"]
    assert names[-1] == "reduce_node4_edge2_op"
    choices = arch_hparam_choices()
    assert choices["normal_node1_edge2"] == [0, 1]
    assert choices["reduce_node4_edge1"] == [0, 1, 2, 3, 4]
    assert choices["normal_node3_edge1_op"] == [
        "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
        "dil_conv_3x3", "dil_conv_5x5"]


def test_adaptive_yaml_searches_exactly_that_space():
    config = load_experiment_config(ASHA / "adaptive.yaml")
    for name, allowed in arch_hparam_choices().items():
        assert config.hparam_spec(name) == {"type": "categorical", "vals": allowed}, name


@pytest.mark.parametrize("config_file, expected", [("const.yaml", CONST_2020),
                                                   ("const_2021.yaml", CONST_2021)])
def test_const_configs_decode_to_the_published_genotypes(config_file, expected):
    hparams = const_hparams(config_file)
    genotype = genotype_from_hparams(hparams, source=config_file)
    assert genotype == expected
    # ...and the genotype encodes back to the file's 32 values.
    assert hparams_from_genotype(expected) == arch_part(hparams)


@pytest.mark.parametrize("genotype", [CONST_2020, CONST_2021])
def test_hparams_round_trip(genotype):
    hparams = hparams_from_genotype(genotype)
    assert sorted(hparams) == sorted(arch_hparam_names())
    assert genotype_from_hparams(hparams) == genotype


def test_one_changed_edge_decodes_to_the_expected_genotype():
    hparams = hparams_from_genotype(CONST_2020)
    # Reduce cell, node 3, second edge: ("max_pool_3x3", 2) -> ("sep_conv_3x3", 3).
    hparams["reduce_node3_edge2"] = 3
    hparams["reduce_node3_edge2_op"] = "sep_conv_3x3"
    assert genotype_from_hparams(hparams) == Genotype(
        normal=[("max_pool_3x3", 0), ("sep_conv_3x3", 0), ("max_pool_3x3", 1),
                ("sep_conv_3x3", 0), ("avg_pool_3x3", 1), ("sep_conv_5x5", 0),
                ("skip_connect", 0), ("skip_connect", 1)],
        normal_concat=[2, 3, 4, 5],
        reduce=[("max_pool_3x3", 1), ("avg_pool_3x3", 0), ("dil_conv_5x5", 0),
                ("avg_pool_3x3", 0), ("dil_conv_3x3", 2), ("sep_conv_3x3", 3),
                ("sep_conv_5x5", 1), ("max_pool_3x3", 4)],
        reduce_concat=[2, 3, 4, 5])


@pytest.mark.parametrize("name, value, message", [
    ("reduce_node4_edge2", None, "best_trial.yaml: architecture hyperparameter "
                                 "'reduce_node4_edge2' is missing"),
    ("normal_node2_edge2", 3, "best_trial.yaml: normal_node2_edge2=3: expected one of [0, 1, 2]"),
    ("normal_node1_edge1", True, "best_trial.yaml: normal_node1_edge1=True: expected one of "
                                 "[0, 1]"),
    ("normal_node3_edge1_op", "none", "best_trial.yaml: normal_node3_edge1_op='none': expected "
                                      "one of ['max_pool_3x3',"),
])
def test_bad_hparams_raise_genotype_error_naming_the_hp(name, value, message):
    hparams = hparams_from_genotype(CONST_2021)
    if value is None:
        del hparams[name]
    else:
        hparams[name] = value
    with pytest.raises(GenotypeError) as err:
        genotype_from_hparams(hparams, source="best_trial.yaml")
    assert str(err.value).startswith(message)


def test_genotype_with_a_none_edge_has_no_hparams():
    genotype = CONST_2020._replace(normal=[("none", 0)] + CONST_2020.normal[1:])
    with pytest.raises(GenotypeError, match=r"normal cell, node 1, edge 1: op 'none'"):
        hparams_from_genotype(genotype)


# --- 2. rung lengths of the shipped configs -------------------------------------------------------

def test_adaptive_rungs_and_validation_period():
    config = load_experiment_config(ASHA / "adaptive.yaml")
    assert plan_lengths(config) == LengthPlan(max_length=156200, validation_period=500,
                                              rung_lengths=[610, 2440, 9762, 39050, 156200])


def test_adaptive_with_four_rungs_like_the_2020_11_version():
    config = load_experiment_config(ASHA / "adaptive.yaml", ["searcher.max_rungs=4"])
    assert plan_lengths(config).rung_lengths == [2440, 9762, 39050, 156200]


def test_const_configs_have_no_rungs():
    assert plan_lengths(load_experiment_config(ASHA / "const.yaml")) == LengthPlan(156200, 500, [])
    config_2021 = load_experiment_config(ASHA / "const_2021.yaml")
    assert plan_lengths(config_2021) == LengthPlan(312400, 500, [])
    assert config_2021.constant_hparams()["train_epochs"] == 600
    assert const_hparams()["train_epochs"] == 300


# --- 3. a paused trial resumes with identical state ---------------------------------------------

def tiny_controller(torch_seed, extra=()):
    """DARTSCNNTrial (const.yaml, tiny sizes, CPU) under TrialController, trial seed 7."""
    trial_cls = load_paper_module(ASHA, "model_def").DARTSCNNTrial
    config = load_experiment_config(ASHA / "const.yaml", [
        "hyperparameters.layers=2", "hyperparameters.init_channels=4",
        "hyperparameters.global_batch_size=16", "data.num_train_images=96",
        "data.num_valid_images=64", "data.num_workers=0",
        f"data.data_download_dir={embedded_path('cifar10')}", *extra])
    torch.manual_seed(torch_seed)   # weight init (run_single seeds the same way)
    context = TrialContext(config.constant_hparams(), config.raw["data"], 1,
                           device=torch.device("cpu"), seed=7, source="const.yaml")
    return TrialController(trial_cls, context)


def rng_states():
    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def set_rng_states(states):
    random.setstate(states[0])
    np.random.set_state(states[1])
    torch.set_rng_state(states[2])


def assert_same_tensors(a: dict, b: dict):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def record_batches(controller) -> list:
    """(batch index, images, labels) of every batch the controller trains on from now."""
    seen, train_batch = [], controller.trial.train_batch

    def recording(batch, epoch_idx, batch_idx):
        seen.append((batch_idx, batch[0].clone(), batch[1].clone()))
        return train_batch(batch, epoch_idx, batch_idx)
    controller.trial.train_batch = recording
    return seen


def optimizer_buffers(controller):
    state = controller.trial.optimizer.state_dict()["state"]
    return {f"{index}.{k}": v for index, entry in state.items() for k, v in entry.items()}


@pytest.mark.slow
def test_paused_trial_resumes_with_identical_state(tmp_path):
    # The batches of the same trial trained to batch 9 without a pause.
    reference = tiny_controller(torch_seed=0)
    uninterrupted = record_batches(reference)
    reference.train_to(9)

    original = tiny_controller(torch_seed=0)
    assert original.batches_per_epoch == 6   # 96 images / 16
    original.train_to(5)
    original.save(tmp_path)
    at_save = rng_states()
    saved_params = {k: v.clone() for k, v in original.trial.model.state_dict().items()}

    resumed = tiny_controller(torch_seed=1)   # another init, so loading must overwrite it
    assert not all(torch.equal(saved_params[k], v)
                   for k, v in resumed.trial.model.state_dict().items())
    resumed.load(tmp_path)

    assert resumed.batches_trained == 5
    assert_same_tensors(resumed.trial.model.state_dict(), original.trial.model.state_dict())
    momentum = optimizer_buffers(original)
    assert momentum and all("momentum_buffer" in k for k in momentum)
    assert_same_tensors(optimizer_buffers(resumed), momentum)
    assert resumed.trial.lr_scheduler.state_dict() == original.trial.lr_scheduler.state_dict()
    assert resumed.trial.lr_scheduler.last_epoch == 0
    # The RNGs are back where the original stood at save time (drop path draws from them).
    restored = rng_states()
    assert restored[0] == at_save[0]
    assert all(np.array_equal(a, b) for a, b in zip(restored[1][1:3], at_save[1][1:3]))
    assert torch.equal(restored[2], at_save[2])

    # Both go on to batch 9, across the epoch end at 6, each from the saved RNG state (as two
    # processes would).
    original.train_to(9)
    set_rng_states(at_save)
    seen = record_batches(resumed)
    resumed.train_to(9)
    for controller in (original, resumed):
        assert controller.batches_trained == 9
        assert controller.trial.lr_scheduler.last_epoch == 1
        assert controller.trial.model.drop_path_prob > 0.0   # epoch 1: drop path is on
    assert_same_tensors(resumed.trial.model.state_dict(), original.trial.model.state_dict())
    assert_same_tensors(optimizer_buffers(resumed), optimizer_buffers(original))
    # The resumed trial trained on the batches 5..8 an unpaused trial sees (same images after
    # augmentation, same labels): the 5 done batches of epoch 0 were skipped, not repeated.
    assert [b[0] for b in seen] == [5, 6, 7, 8]
    for mine, theirs in zip(seen, uninterrupted[5:9]):
        assert mine[0] == theirs[0]
        assert torch.equal(mine[1], theirs[1]) and torch.equal(mine[2], theirs[2])
    assert not torch.equal(original.trial.model.state_dict()["classifier.weight"],
                           saved_params["classifier.weight"])
    # And it ends bitwise where the unpaused trial ends: batch iterators have their own
    # generators, so the extra iterator of the resume draws nothing from drop path's RNG.
    assert_same_tensors(resumed.trial.model.state_dict(), reference.trial.model.state_dict())


def test_best_validation_survives_save_and_load(tmp_path):
    flag = ["hyperparameters.report_best_validation=true"]
    original = tiny_controller(torch_seed=0, extra=flag)
    original.train_to(2)
    first = original.validate()
    assert original.trial.best_metrics == first
    original.save(tmp_path / "a")
    resumed = tiny_controller(torch_seed=1, extra=flag)
    resumed.load(tmp_path / "a")
    assert resumed.trial.best_metrics == first

    # A best no later validation can beat (top-1 100%), carried through a checkpoint: the
    # resumed trial keeps reporting it, loss included.
    best = {"loss": 0.125, "top1_accuracy": 100.0, "top5_accuracy": 100.0}
    original.trial.best_metrics = dict(best)
    original.save(tmp_path / "b")
    again = tiny_controller(torch_seed=1, extra=flag)
    again.load(tmp_path / "b")
    assert again.validate() == best

    # Without the flag a validation reports what it measures.
    plain = tiny_controller(torch_seed=1)
    plain.load(tmp_path / "b")
    assert plain.validate()["loss"] != 0.125


# --- 4. YAML and CLI errors ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def experiment_main(paper_module):
    return paper_module(ASHA, "experiment").main


def without(raw, *path):
    raw = copy.deepcopy(raw)
    node = raw
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return raw


@pytest.mark.parametrize("argv, message", [
    (["const.yaml", "--searcher.name=grid"],
     "const.yaml: searcher.name='grid': expected one of single, random, adaptive_asha"),
    (["const.yaml", "--hyperparameters.normal_node1_edge1=3"],
     "const.yaml: hyperparameters.normal_node1_edge1: 3 is outside its choices [0, 1]"),
    (["adaptive.yaml", "--hyperparameters.normal_node2_edge1_op="
                       "{type: categorical, vals: [skip_connect, none]}"],
     "adaptive.yaml: hyperparameters.normal_node2_edge1_op: 'none' is outside its choices "
     "['max_pool_3x3',"),
])
def test_config_errors_exit_2_naming_file_and_key(experiment_main, capsys, argv, message):
    assert experiment_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("experiment.py: error: ") and message in err


@pytest.mark.parametrize("removed, message", [
    (("entrypoint",), "no_key.yaml: entrypoint: required key missing"),
    (("searcher", "metric"), "no_key.yaml: searcher.metric: required key missing"),
])
def test_missing_key_exits_2(experiment_main, capsys, tmp_path, removed, message):
    raw = yaml.safe_load((ASHA / "const.yaml").read_text())
    path = tmp_path / "no_key.yaml"
    path.write_text(yaml.safe_dump(without(raw, *removed)))
    assert experiment_main([str(path), f"--output_dir={tmp_path / 'out'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("experiment.py: error: ") and message in err
    assert not (tmp_path / "out").exists()   # nothing written before the config is checked


def test_hparams_from_with_a_none_op_exits_2(experiment_main, capsys, tmp_path):
    hparams = hparams_from_genotype(CONST_2021)
    hparams["reduce_node2_edge1_op"] = "none"
    path = tmp_path / "best_trial.yaml"
    path.write_text(yaml.safe_dump({"hyperparameters": hparams}))
    assert experiment_main(["const.yaml", f"--hparams_from={path}"]) == 2
    err = capsys.readouterr().err
    assert f"--hparams_from={path}: reduce_node2_edge1_op='none': expected one of" in err


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_ray_address_fails_fast(tmp_path):
    port = free_port()
    started = time.monotonic()
    result = run_experiment("adaptive.yaml", f"--address=127.0.0.1:{port}",
                            f"--output_dir={tmp_path}", *TINY, timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stderr[-2000:]
    assert (f"experiment.py: error: --address=127.0.0.1:{port}: no Ray head reachable there"
            in result.stderr)
    # ray.init would retry for minutes; the check answers at once (plus interpreter start-up).
    assert elapsed < 30


def test_unknown_plain_flag_exits_2():
    result = run_experiment("const.yaml", "--foo=1", timeout=60)
    assert result.returncode == 2
    assert "experiment.py: error: unrecognized argument '--foo=1'" in result.stderr


# --- 5. searcher: single, end to end -----------------------------------------------------------

@pytest.fixture(scope="module")
def single_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("asha_single") / "const"
    flags = ["const.yaml", f"--data={embedded_path('cifar10')}", f"--output_dir={out}", *TINY,
             "--searcher.max_length.batches=6", "--min_validation_period.batches=3"]
    first = run_experiment(*flags)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    snapshot = {"results": read_results(out / "results.json"),
                "metrics": (out / "metrics.csv").read_text(),
                "log": (out / "experiment.log").read_text()}
    second = run_experiment(*flags)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    return out, snapshot, second


@pytest.mark.slow
def test_single_run_outputs(single_run):
    out, first, _ = single_run
    rows = csv_rows(out / "metrics.csv")
    assert [(r["epoch"], r["batches"]) for r in rows] == [("1", "3"), ("2", "6")]
    record = first["results"]
    metrics = record["metrics"]
    assert record["system"] == "ASHA-DARTS" and record["profile"] == "smoke"
    assert metrics["accuracy_pct"] == pytest.approx(float(rows[-1]["valid_top1_accuracy"]))
    assert metrics["test_error_pct"] == pytest.approx(100.0 - metrics["accuracy_pct"])
    assert metrics["params_m"] == pytest.approx(CONST_2020_TINY_PARAMS / 1e6, abs=1e-9)
    assert (out / "genotype.txt").read_text().strip() == format_genotype(CONST_2020)
    assert record["arch"] == format_genotype(CONST_2020)
    assert (out / "learning_curve.png").stat().st_size > 1000
    assert "resumed" not in first["log"]


@pytest.mark.slow
def test_single_run_resumes_instead_of_retraining(single_run):
    out, first, second = single_run
    log = (out / "experiment.log").read_text()
    assert log.startswith(first["log"])   # appended to
    assert f"resumed from {out / 'checkpoint'} at batch 6" in log[len(first["log"]):]
    assert "batches 3 epoch" not in log[len(first["log"]):]   # no training step logged again
    assert (out / "metrics.csv").read_text() == first["metrics"]
    again = read_results(out / "results.json")
    assert again["metrics"] == first["results"]["metrics"]
    assert "6 batches" in again["notes"]


# --- 6. smoke search on Ray, then the winner's retraining ----------------------------------------

def run_job(*args, runs):
    return subprocess.run([sys.executable, "-m", "reproduce.run", *args], cwd=REPO_ROOT,
                          env=script_env(NASREPRO_RUNS=str(runs)), capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def smoke_search(tmp_path_factory):
    runs = tmp_path_factory.mktemp("asha_runs")
    result = run_job("asha-search", "--profile", "smoke", runs=runs)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return runs, runs / "ASHA-DARTS" / "asha-search-smoke"


@pytest.mark.slow
def test_smoke_search_trials_and_decisions(smoke_search):
    _, out = smoke_search
    trials = csv_rows(out / "trials.csv")
    assert len(trials) == 4
    for row in trials:
        assert row["genotype"].startswith("Genotype(normal=[")
        assert row["metric_rung0"] != ""
        hparams = {n: int(row[n]) if not n.endswith("_op") else row[n]
                   for n in arch_hparam_names()}
        assert row["genotype"] == format_genotype(genotype_from_hparams(hparams))

    # Smoke profile: max_length 8, divisor 4, max_rungs 2 -> rungs [2, 8]; 4 trials -> quota 1.
    decisions = csv_rows(out / "asha_decisions.csv")
    assert len(decisions) >= 4
    rung0 = [d for d in decisions if d["rung"] == "0"]
    assert len(rung0) == 4 and {d["trial_id"] for d in rung0} == {r["trial_id"] for r in trials}
    promoted = [p for d in rung0 for p in d["promoted"].split()]
    assert len(promoted) == 1
    best_metric = max(float(d["metric"]) for d in rung0)
    first_best = next(d["trial_id"] for d in rung0 if float(d["metric"]) == best_metric)
    assert promoted == [first_best]   # the best result; on a tie, the one reported first
    # The same rule replayed over the recorded order gives the recorded promotions.
    replay = PromotionASHA([2, 8], 4, smaller_is_better=False)
    for d in rung0:
        replay.add_trial(d["trial_id"])
    for d in rung0:
        assert replay.report(d["trial_id"], float(d["metric"])).promoted == d["promoted"].split()
    rung1 = [d for d in decisions if d["rung"] == "1"]
    assert [d["trial_id"] for d in rung1] == promoted
    winner = next(r for r in trials if r["trial_id"] == promoted[0])
    assert winner["rungs_reached"] == "2" and winner["batches"] == "8"
    assert all(r["batches"] == "2" for r in trials if r is not winner)


@pytest.mark.slow
def test_smoke_search_best_trial_and_const_config(smoke_search):
    _, out = smoke_search
    best = yaml.safe_load((out / "best_trial.yaml").read_text())
    best_genotype = (out / "best_genotype.txt").read_text().strip()
    assert format_genotype(genotype_from_hparams(best["hyperparameters"])) == best_genotype
    assert best["genotype"] == best_genotype and best["batches"] == 8
    const = yaml.safe_load((out / "const_best.yaml").read_text())
    assert const["searcher"] == {"name": "single", "metric": "top1_accuracy",
                                 "smaller_is_better": False, "max_length": {"batches": 4800}}
    # Smoke: 8 batches of a 1-epoch schedule -> 600 epochs = 8 * 600 = 4800 batches.
    assert const["hyperparameters"]["train_epochs"] == 600
    assert arch_part(const["hyperparameters"]) == best["hyperparameters"]
    assert "resources" not in const
    assert (out / "search_progress.png").stat().st_size > 1000
    record = read_results(out / "results.json")
    assert record["system"] == "ASHA-DARTS" and record["arch"] == best_genotype
    assert record["metrics"]["search_gpu_days"] > 0
    assert record["metrics"]["accuracy_pct"] == pytest.approx(best["top1_accuracy"])


@pytest.mark.slow
def test_retrain_takes_the_search_winner(smoke_search):
    runs, out = smoke_search
    dry = run_job("asha-retrain", "--profile", "smoke", "--dry-run", runs=runs)
    assert dry.returncode == 0, dry.stderr
    assert f"--hparams_from={out / 'best_trial.yaml'}" in dry.stdout
    real = run_job("asha-retrain", "--profile", "smoke", runs=runs)
    assert real.returncode == 0, real.stdout[-4000:] + real.stderr[-4000:]
    retrain = runs / "ASHA-DARTS" / "asha-retrain-smoke"
    assert ((retrain / "genotype.txt").read_text().strip()
            == (out / "best_genotype.txt").read_text().strip())
    assert read_results(retrain / "results.json")["arch"] == \
        (out / "best_genotype.txt").read_text().strip()

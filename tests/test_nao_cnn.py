"""NAO without weight sharing, CNN (NAO/cnn): the dag <-> 60-token codec and its errors, every
named architecture built with its count equal to the hand formula (itself pinned against the
original code in test_nao_cnn_params.py), the learning-rate schedule's restart quirk, the endless
batch stream, and end to end on a user's copy of the CIFAR binary records: `make
nao-cifar10-final` / `nao-cifar100-final` under smoke (2 logical CPU replicas, as the scripts'
--num_gpus=2), the test scripts reproducing the runs' test accuracy from the checkpoints, 2
replicas against 1 on the same global batch, and the search driver run straight through and
step by step (--stop_after each step) and killed mid-step, resumed to the same evaluations."""
import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from nasrepro.archs.nao_dag import (DagError, dag_from_json, dag_to_seq, random_dag,
                                    read_dag_json, seq_to_dag, unbuildable_ops)
from nasrepro.data import embedded_path
from nasrepro.environment import REPO_ROOT
from nasrepro.runs.results import read_results
from nasrepro.schedules import nao_step_lr

CNN = REPO_ROOT / "NAO" / "cnn"

# 60-token sequences written next to the vocabulary in renqianluo/NAO NAO/cnn/epd/vocab.py
# (its "ENAS" line is dag.py's ENAS_new), and NAONet's, derived from dag.NAONet.json.
GOLDEN_SEQS = {
    "NAONet": "1 9 16 2 11 17 3 9 19 2 9 16 1 9 14 2 9 16 1 9 19 5 9 16 2 7 14 1 9 16 "
              "1 9 16 2 11 15 1 9 14 1 11 16 2 9 20 1 12 15 1 11 16 3 9 14 2 12 16 1 9 16",
    "NASNet_A": "2 8 16 2 7 14 1 8 16 2 8 17 2 11 16 1 7 14 1 11 16 1 11 16 1 8 17 1 8 16 "
                "1 8 18 2 8 17 2 12 16 1 8 18 2 11 16 1 8 17 2 12 16 3 8 16 3 11 16 4 7 14",
    "AmoebaNet_B": "1 8 16 2 7 14 2 12 16 2 9 14 2 9 14 1 8 16 4 7 14 4 9 14 2 11 16 6 9 14 "
                   "1 12 15 1 12 16 3 10 17 3 12 16 3 7 14 2 9 16 4 11 16 5 9 14 5 7 14 2 8 16",
    "ENAS_new": "1 11 16 1 8 16 1 7 14 1 8 17 1 7 14 2 8 17 2 8 16 1 8 17 1 11 16 2 8 17 "
                "2 8 16 2 8 16 1 12 16 1 11 16 2 8 17 4 8 17 2 8 16 1 7 14 1 12 16 2 8 17",
}


@pytest.fixture(scope="module")
def dag_module(paper_module):
    return paper_module("NAO/cnn", "dag")


# --- the codec --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(GOLDEN_SEQS))
def test_named_architectures_encode_to_the_originals_sequences(dag_module, name):
    assert " ".join(map(str, dag_to_seq(dag_module.named(name)))) == GOLDEN_SEQS[name]


def test_amoebanet_a_follows_dag_py_not_the_vocab_comment(dag_module):
    # vocab.py's comment has node_3 avg_pool 3x3 as node_4's first branch; dag.py (what --arch
    # builds) has node_3 sep_conv 5x5.
    seq = dag_to_seq(dag_module.named("AmoebaNet_A"))
    assert seq[6:9] == [3, 8, 17]


def test_every_named_architecture_round_trips(dag_module):
    for name in dag_module.NAMES:
        dag = dag_module.named(name)
        back = seq_to_dag(dag_to_seq(dag))
        assert dag_to_seq(back) == dag_to_seq(dag)
        # the sequence cannot carry loose_ends (NASNet-A's): everything else comes back
        strip = {k: {n: v for n, v in c.items() if n != "loose_ends"}
                 for k, c in dag.to_json().items()}
        assert back.to_json() == strip


def test_the_json_file_is_naonet(dag_module):
    assert read_dag_json(CNN / "dag.NAONet.json") == dag_module.named("NAONet")
    assert dag_module.build_dag(str(CNN / "dag.NAONet.json")) == dag_module.named("NAONet")


def test_random_dags_use_the_papers_11_ops_and_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(50):
        dag = random_dag(rng)
        assert seq_to_dag(dag_to_seq(dag)) == dag and not unbuildable_ops(dag)


@pytest.mark.parametrize("obj,message", [
    ({"conv_dag": {}}, "expected an object with keys conv_dag and reduc_dag"),
    ({"conv_dag": {}, "reduc_dag": {}}, "conv_dag: nodes node_1, .* expected; missing node_1"),
])
def test_dag_json_errors(dag_module, obj, message):
    with pytest.raises(DagError, match=message):
        dag_from_json(obj, "x.json")


def _naonet_json(dag_module):
    return json.loads(json.dumps(dag_module.named("NAONet").to_json()))


@pytest.mark.parametrize("node,entry,message", [
    ("node_4", ["node_4", "node_5", "node_2", "conv 3x3", "conv 3x3"],
     r"x.json: conv_dag.node_4: input_1 'node_5', expected one of node_1, node_2, node_3"),
    ("node_3", ["node_3", "node_1", "node_2", "conv 4x4", "conv 3x3"],
     r"x.json: conv_dag.node_3 op_1: op 'conv 4x4', expected 'identity' or '<type> <size>'"),
    ("node_3", ["node_3", "node_1", "node_2"], r"conv_dag.node_3: expected \[name, input_1"),
])
def test_dag_node_errors_name_the_node(dag_module, node, entry, message):
    obj = _naonet_json(dag_module)
    obj["conv_dag"][node] = entry
    with pytest.raises(DagError, match=message):
        dag_from_json(obj, "x.json")


def test_dag_file_errors(tmp_path, dag_module):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DagError, match=r"bad.json: not JSON \(line 1"):
        read_dag_json(bad)
    with pytest.raises(DagError, match="--arch=NoSuchNet: neither a named architecture"):
        dag_module.build_dag("NoSuchNet")


@pytest.mark.parametrize("change,message", [
    (lambda t: t[:-1], "59 tokens, expected 60"),
    (lambda t: ["x"] + t[1:], "token 1 is 'x', expected an integer"),
    (lambda t: ["4"] + t[1:], r"token 1 \(conv_dag node_3 input_1\) is 4, expected a node "
                              r"token 1..2"),
    (lambda t: t[:1] + ["16"] + t[2:], r"token 2 \(conv_dag node_3 op_1 type\) is 16"),
    (lambda t: t[:2] + ["9"] + t[3:], r"token 3 \(conv_dag node_3 op_1 size\) is 9"),
    (lambda t: t[:30] + ["7"] + t[31:], r"token 31 \(reduc_dag node_3 input_1\) is 7"),
])
def test_sequence_errors_name_the_token(change, message):
    tokens = GOLDEN_SEQS["NAONet"].split()
    with pytest.raises(DagError, match=message):
        seq_to_dag(change(tokens), "seqs line 3")


def test_ops_no_network_builds_are_named():
    tokens = GOLDEN_SEQS["NAONet"].split()
    tokens[1] = "8"  # sep_conv with the 1x3+3x1 size of node_4's first op
    tokens[2] = "19"
    assert unbuildable_ops(seq_to_dag(tokens)) == ["conv_dag.node_3 op_1: sep_conv 1x3+3x1"]


# --- the network ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cnn(paper_module):
    return {name: paper_module("NAO/cnn", name) for name in ("model", "dag", "calculate_params")}


@pytest.mark.parametrize("name", ["ENAS", "ENAS_new", "AmoebaNet_A", "AmoebaNet_B", "NASNet_A",
                                  "PNASNet_A", "NAONet"])
def test_every_named_architecture_builds_with_the_hand_count(cnn, name):
    from nasrepro.complexity.tf_count import count_params
    dag = cnn["dag"].named(name)
    net = cnn["model"].Network(dag, 1, 8, 10, use_aux_head=True, drop_path_keep_prob=0.7,
                               dense_dropout_keep_prob=0.6, total_steps=10)
    by_hand = cnn["calculate_params"].count_params_by_hand(dag, 1, 8, 10)
    assert count_params(net, exclude=("aux_head",)) == by_hand["main"]
    assert count_params(net) == by_hand["total"]
    import tensorflow as tf
    out = net(tf.zeros([2, 32, 32, 3]), True, step=3, seed=1)
    assert out["logits"].shape == (2, 10) and out["aux_logits"].shape == (2, 10)
    assert "aux_logits" not in net(tf.zeros([2, 32, 32, 3]), False)


def test_reduction_cells_follow_the_originals_arithmetic(cnn):
    assert cnn["model"].reduction_cells(6) == [6, 12]
    assert cnn["model"].reduction_cells(3) == [3, 6]
    assert cnn["model"].reduction_cells(1) == [1, 2]


def test_cosine_restart_quirk():
    lr = [nao_step_lr("cosine", s, 3, lr=0.1, lr_max=1.0, lr_min=0.0, t0=2, t_mul=2)
          for s in range(12)]
    # epochs 0-1: cosine over 2 epochs; epoch 2 restarts: its first step at cos(pi / 2) of the
    # cycle (the graph moved T_i first), the others at lr_max; then a 4-epoch cycle.
    assert lr[:3] == [1.0] * 3 and lr[3] == pytest.approx(0.5, abs=1e-7)
    assert lr[6] == pytest.approx(0.5, abs=1e-7) and lr[7:9] == [1.0, 1.0]
    assert lr[9] == pytest.approx(0.5 * (1 + np.cos(3.1415926 / 4)))
    assert nao_step_lr("decay", 301, 3, lr=0.1, lr_max=0, lr_min=0, t0=1, t_mul=1,
                       exact_epoch_steps=3) == pytest.approx(0.01)


def test_batch_stream_is_full_and_resumes_anywhere():
    from nasrepro.tf.cifar_input import stream_batches
    x = (np.arange(10 * 32 * 32 * 3) % 251).astype(np.uint8).reshape(10, 32, 32, 3)
    y = np.arange(10)
    straight = [b for _, b in zip(range(5), stream_batches(x, y, 4, 7, 0, 16, True))]
    resumed = [b for _, b in zip(range(2), stream_batches(x, y, 4, 7, 3, 16, True))]
    assert all(b[1].shape == (4,) for b in straight)
    for a, b in zip(straight[3:], resumed):
        np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
        np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    # each pass over the 10 images is a permutation
    first_pass = np.concatenate([b[1].numpy() for b in straight])[:10]
    assert sorted(first_pass) == list(range(10))


# --- end to end -------------------------------------------------------------------------------

def _env(tmp_path):
    env = dict(os.environ, NASREPRO_RUNS=str(tmp_path / "runs"), NASREPRO_PROGRESS="0")
    env.pop("NASREPRO_PROFILE", None)
    return env


def _job(job, env, data, *extra, check=True):
    done = subprocess.run([sys.executable, "-m", "reproduce.run", job, "--profile", "smoke",
                           "--data", str(data), *extra], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def user_data(tmp_path_factory):
    """A user's copies of the CIFAR-10 and CIFAR-100 binary folders."""
    root = tmp_path_factory.mktemp("nao_data")
    c10 = shutil.copytree(embedded_path("cifar10-bin"), root / "cifar-10-batches-bin")
    c100 = shutil.copytree(embedded_path("cifar100-bin"), root / "cifar-100-binary")
    return c10, c100


@pytest.fixture(scope="module")
def finals(tmp_path_factory, user_data):
    tmp = tmp_path_factory.mktemp("nao_finals")
    env = _env(tmp)
    runs = {}
    for job, test_job, data in (("nao-cifar10-final", "nao-test", user_data[0]),
                                ("nao-cifar100-final", "nao-test-cifar100", user_data[1])):
        _job(job, env, data)
        _job(test_job, env, data)
        runs[job] = tmp / "runs" / "NAO" / f"{job}-smoke"
    return runs


@pytest.mark.parametrize("job,classes", [("nao-cifar10-final", 10), ("nao-cifar100-final", 100)])
def test_final_jobs_train_and_the_test_scripts_reproduce_them(finals, user_data, job, classes):
    run = finals[job]
    record = read_results(run / "results.json")
    assert record["metrics"]["params_m"] > 0 and str(user_data[0].parent) in str(
        record["dataset"]) or record["dataset"]["fingerprint"] != "unknown"
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert len(rows) == 1 and int(rows[0]["global_step"]) == 4  # 128 images / 32
    test = json.loads((run / "test_result.json").read_text())
    assert test["test_acc"] == pytest.approx(float(rows[-1]["test_acc"]), abs=1e-12)
    assert record["metrics"]["test_error_pct"] == pytest.approx(100 * (1 - test["test_acc"]))
    log = (run / "train.log").read_text()
    assert "Replicas: 2 (MirroredStrategy over" in log  # the scripts' --num_gpus=2
    hparams = json.loads((run / "hparams.json").read_text())
    assert hparams["num_classes"] == classes and hparams["conv_dag"]["node_3"][3] == "conv 3x3"


def test_two_replicas_match_one_on_the_same_global_batch(tmp_path):
    """Same seed, batches and weights; the replicas normalize with their own half batches, so
    the losses agree within 5% (measured: 1.9% over 8 steps)."""
    losses = {}
    for n in (1, 2):
        done = subprocess.run(
            [sys.executable, "train_cifar.py", f"--model_dir={tmp_path / str(n)}",
             "--arch=NAONet", "--N=1", "--filters=8", "--train_epochs=1", "--batch_size=32",
             "--num_train_images=256", "--use_aux_head", "--drop_path_keep_prob=1", "--seed=1",
             f"--num_gpus={n}", f"--data_dir={embedded_path('cifar10-bin')}"],
            cwd=CNN, env=_env(tmp_path), capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        row = list(csv.DictReader(open(tmp_path / str(n) / "metrics.csv")))[0]
        losses[n] = float(row["train_loss"])
    assert losses[2] == pytest.approx(losses[1], rel=0.05)


def test_bad_data_names_the_file(tmp_path, user_data):
    data = shutil.copytree(user_data[0], tmp_path / "c10")
    (data / "data_batch_3.bin").write_bytes(b"\0" * 1000)
    done = subprocess.run([sys.executable, "train_cifar.py", f"--data_dir={data}",
                           f"--model_dir={tmp_path / 'm'}", "--arch=NAONet"], cwd=CNN,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "data_batch_3.bin: records of 3073 bytes expected" in \
        done.stderr


def test_a_model_dir_of_another_architecture_is_refused(finals, user_data):
    run = finals["nao-cifar10-final"]
    done = subprocess.run([sys.executable, "train_cifar.py", f"--data_dir={user_data[0]}",
                           f"--model_dir={run}", "--arch=ENAS", "--N=1", "--filters=4",
                           "--use_aux_head"], cwd=CNN, env=_env(run.parent),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "holds checkpoints of another architecture" in done.stderr


# --- the search driver ------------------------------------------------------------------------

def _evaluations(run):
    rows = list(csv.DictReader(open(run / "evaluations.csv")))
    return [(r["iteration"], r["index"], r["origin"], r["valid_error"], r["seq"]) for r in rows]


@pytest.fixture(scope="module")
def search_run(tmp_path_factory, user_data):
    tmp = tmp_path_factory.mktemp("nao_search")
    _job("nao-search", _env(tmp), user_data[0])
    return tmp / "runs" / "NAO" / "nao-search-smoke"


def test_search_runs_the_pipeline(search_run, paper_module):
    folder = search_run / "data"
    assert (folder / "0iter" / "valid_error_rate").read_text().count("\n") == 5
    for name in ("encoder.train.input", "top100", "top100.lambda10.new_arch",
                 "top100.lambda30.perf"):
        assert (folder / "0iter" / name).is_file(), name
    evals = _evaluations(search_run)
    assert [e[2] for e in evals[:5]] == ["seed"] * 5
    assert len(evals) > 5 and all(e[2].startswith("generated") for e in evals[5:])
    # iteration 1 holds every architecture so far, the new ones last
    assert (folder / "1iter" / "valid_error_rate").read_text().count("\n") == len(evals)
    best = min(evals, key=lambda e: float(e[3]))
    assert dag_to_seq(read_dag_json(search_run / "best_arch.json")) == \
        [int(t) for t in best[4].split()]
    record = read_results(search_run / "results.json")
    assert record["metrics"]["valid_error_pct"] == pytest.approx(100 * float(best[3]))
    assert 0 <= record["metrics"]["pairwise_accuracy"] <= 1
    assert (search_run / "search_progress.png").stat().st_size > 0
    assert json.loads((search_run / "search_state.json").read_text())["phase"] == "done"


def test_binary_records_reach_the_network_as_the_original_read_them(tmp_path):
    """Records of label byte(s) + 3072 CHW bytes: the image comes out HWC, the CIFAR-100 label
    is the fine (second) byte, and the evaluation input is tf.image.per_image_standardization
    of the raw pixels: mean 0, std max(std, 1/sqrt(3072))."""
    from nasrepro.data.cifar import read_cifar
    from nasrepro.tf.cifar_input import eval_batches
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    fine, coarse = np.array([97, 3, 50]), np.array([1, 19, 7])
    records = np.concatenate([coarse[:, None], fine[:, None],
                              images.transpose(0, 3, 1, 2).reshape(3, -1)], axis=1)
    folder = tmp_path / "c100"
    folder.mkdir()
    for name in ("train.bin", "test.bin"):
        records.astype(np.uint8).tofile(folder / name)
    data = read_cifar(folder, "cifar100", "binary")
    np.testing.assert_array_equal(data.images["test"], images)
    np.testing.assert_array_equal(data.labels["test"], fine)
    x, y = next(iter(eval_batches(data.images["test"], data.labels["test"], 3,
                                  standardize=True)))
    raw = images.astype(np.float64)
    mean = raw.mean(axis=(1, 2, 3), keepdims=True)
    std = np.maximum(raw.std(axis=(1, 2, 3), keepdims=True), 1 / np.sqrt(3072))
    np.testing.assert_allclose(x.numpy(), (raw - mean) / std, atol=1e-4)
    np.testing.assert_array_equal(y.numpy(), fine)


def test_search_resumes_after_every_step_and_kill(search_run, tmp_path, user_data):
    """Killed with SIGKILL while a child trains (its checkpoint half way) and while the EPD
    trains, and stopped after every step (--stop_after), each rerun goes on from there and the
    search ends with the same evaluations as the straight run."""
    import signal
    import time
    env = _env(tmp_path)
    run = tmp_path / "runs" / "NAO" / "nao-search-smoke"

    def state():
        path = run / "search_state.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def killed_when(ready):
        proc = subprocess.Popen([sys.executable, "-m", "reproduce.run", "nao-search",
                                 "--profile", "smoke", "--data", str(user_data[0])],
                                cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 600
        while not ready() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, "the search ended before the kill"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stopped_after(step, then):
        _job("nao-search", env, user_data[0], "--", f"--stop_after={step}")
        assert state()["phase"] == then and state()["iteration"] == (1 if step == "next" else 0)

    killed_when(lambda: (run / "children" / "0iter" / "3" / "checkpoint").is_file())
    assert state()["phase"] == "train"  # still in iteration 0's first step
    stopped_after("train", "epd_data")
    stopped_after("epd_data", "epd_train")
    killed_when(lambda: any((run / "epd_models" / "0iter").glob("*.index")))
    assert state()["phase"] == "epd_train"
    stopped_after("epd_train", "top")
    stopped_after("top", "generate")
    stopped_after("generate", "next")
    stopped_after("next", "train")
    _job("nao-search", env, user_data[0])
    assert _evaluations(run) == _evaluations(search_run)


def test_search_script_trains_one_candidate_by_hand(tmp_path, user_data):
    """train_cifar10_search.sh run as the NAO README's step 2 says, with nothing activated:
    a candidate dag on NAO's 45k/5k split layout, its best valid accuracy in results.json, the
    log in logs/train.search_cifar10.log."""
    from by_hand import by_hand_env
    work = tmp_path  # data/, models/ and logs/ are relative to where the script runs
    dag = work / "epd" / "data" / "0iter" / "dag.1.json"  # the script's --arch
    dag.parent.mkdir(parents=True)
    shutil.copy(CNN / "dag.NAONet.json", dag)
    done = subprocess.run(
        ["bash", str(CNN / "train_cifar10_search.sh"), f"--data_dir={user_data[0]}", "--N=1",
         "--filters=4", "--train_epochs=1", "--batch_size=32", "--num_train_images=64",
         "--seed=1"], cwd=work, env=by_hand_env(NASREPRO_PROGRESS="0"), capture_output=True,
        text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    run = work / "models" / "search_cifar10"
    metrics = read_results(run / "results.json")["metrics"]
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert metrics["valid_error_pct"] == pytest.approx(100 * (1 - float(rows[0]["valid_acc"])))
    assert "Evaluation on valid data" in (work / "logs" / "train.search_cifar10.log").read_text()

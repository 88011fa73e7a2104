"""NAO/cnn/epd: the converters between dag.<i>.json files and the EPD's token files, get_top100,
and main.py's train / test / predict modes (resume included) and its shell scripts."""
import json
import os
import re
import shutil
import subprocess
from collections import OrderedDict

import numpy as np
import pytest
import tensorflow as tf

from nasrepro.archs.nao_dag import (Dag, DagError, dag_to_seq, read_dag_json, seq_to_dag,
                                    write_dag_json)
from nasrepro.environment import REPO_ROOT
from nasrepro.errors import NasreproError

EPD_DIR = REPO_ROOT / "NAO" / "cnn" / "epd"
OPS = ["conv 3x3", "conv 1x3+3x1", "sep_conv 5x5", "avg_pool 2x2", "max_pool 3x3", "identity"]
# Small but complete: train.sh's architecture sizes, few epochs.
TRAIN_FLAGS = ["--encoder_emb_size=32", "--encoder_hidden_size=16", "--decoder_hidden_size=16",
               "--mlp_hidden_size=100", "--encoder_length=20", "--encoder_dropout=0.1",
               "--trade_off=0.8", "--attention", "--time_major", "--lr=0.001",
               "--batch_size=10", "--eval_frequency=2"]


def random_cell(rng) -> OrderedDict:
    cell = OrderedDict((f"node_{i}", [f"node_{i}", None, None, None, None]) for i in (1, 2))
    for k in range(3, 8):
        a, b = rng.integers(1, k, size=2)  # any earlier node
        cell[f"node_{k}"] = [f"node_{k}", f"node_{a}", f"node_{b}",
                             OPS[rng.integers(len(OPS))], OPS[rng.integers(len(OPS))]]
    return cell


def write_pool(folder, count: int, seed: int = 0) -> tuple:
    """dag.1.json .. dag.<count>.json and valid_error_rate in `folder`; returns (dags, rates)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    dags = [Dag(random_cell(rng), random_cell(rng)) for _ in range(count)]
    rates = [float(r) for r in rng.uniform(0.05, 0.3, size=count)]
    for i, dag in enumerate(dags, start=1):
        write_dag_json(folder / f"dag.{i}.json", dag)
    (folder / "valid_error_rate").write_text("".join(f"{r}\n" for r in rates))
    return dags, rates


def lines(path) -> list:
    return path.read_text().splitlines()


@pytest.fixture(scope="module")
def to_seq(paper_module):
    return paper_module("NAO/cnn/epd", "convert_arch_to_seq")


@pytest.fixture(scope="module")
def to_arch(paper_module):
    return paper_module("NAO/cnn/epd", "convert_seq_to_arch")


@pytest.fixture(scope="module")
def top100(paper_module):
    return paper_module("NAO/cnn/epd", "get_top100")


@pytest.fixture(scope="module")
def epd(paper_module):
    # As the NAO/cnn scripts import it: `from epd import main`.
    return paper_module("NAO/cnn", "epd.main")


# --- convert_arch_to_seq / convert_seq_to_arch ---------------------------------------------------

def test_dags_to_tokens_to_dags_round_trip(tmp_path, to_seq, to_arch):
    dags, _ = write_pool(tmp_path / "0iter", 12)
    to_seq.convert(tmp_path / "0iter", log=None)
    train_input = lines(tmp_path / "0iter" / "encoder.train.input")
    assert train_input == [" ".join(map(str, dag_to_seq(d))) for d in dags]
    assert lines(tmp_path / "0iter" / "decoder.train.target") == train_input
    arch_file = tmp_path / "new_archs"
    arch_file.write_text("\n".join(train_input) + "\n")
    assert to_arch.main(["--arch_file", str(arch_file), "--output_dir",
                         str(tmp_path / "1iter")]) == 0
    assert [read_dag_json(tmp_path / "1iter" / f"dag.{i}.json") for i in range(1, 13)] == dags
    assert not (tmp_path / "1iter" / "dag.13.json").exists()


def test_first_50_go_to_the_test_files_and_targets_are_min_max_normalized(tmp_path, to_seq):
    data = tmp_path / "0iter"
    _, rates = write_pool(data, 60, seed=1)
    info = to_seq.convert(data, log=None)
    low, high = min(rates), max(rates)
    assert (info["count"], info["test_count"]) == (60, 50)
    assert (info["min_index"], info["max_index"]) == (rates.index(low), rates.index(high))
    train_input = lines(data / "encoder.train.input")
    assert len(train_input) == 60
    # The quirk kept: the "test" files are the first 50 training architectures.
    for kind in ("encoder.{}.input", "encoder.{}.target", "decoder.{}.target",
                 "{}.target.ground_truth"):
        train, test = lines(data / kind.format("train")), lines(data / kind.format("test"))
        assert len(train) == 60 and test == train[:50]
    normalized = [float(x) for x in lines(data / "encoder.train.target")]
    np.testing.assert_allclose(normalized, [(r - low) / (high - low) for r in rates],
                               rtol=0, atol=1e-15)
    assert min(normalized) == 0.0 and max(normalized) == 1.0
    assert [float(x) for x in lines(data / "train.target.ground_truth")] == rates


def test_only_49_archs_give_49_test_lines(tmp_path, to_seq):
    write_pool(tmp_path, 49)
    assert to_seq.convert(tmp_path, log=None)["test_count"] == 49
    assert len(lines(tmp_path / "encoder.test.input")) == 49


@pytest.mark.parametrize("damage, expected", [
    ("extra_dag", ["valid_error_rate", "dag.6.json", "count mismatch"]),
    ("missing_dag", ["dag.3.json", "missing", "5 error rates"]),
    ("not_a_number", ["valid_error_rate, line 4", "'0.1x'", "finite number"]),
    ("all_equal", ["valid_error_rate", "all 5 error rates equal 0.2"]),
    ("bad_dag", ["dag.2.json", "conv_dag.node_4", "input_1"]),
])
def test_convert_arch_to_seq_errors_name_the_file(tmp_path, to_seq, capsys, damage, expected):
    dags, rates = write_pool(tmp_path, 5)
    rates_file = tmp_path / "valid_error_rate"
    if damage == "extra_dag":
        write_dag_json(tmp_path / "dag.6.json", dags[0])
    elif damage == "missing_dag":
        (tmp_path / "dag.3.json").unlink()
    elif damage == "not_a_number":
        text = lines(rates_file)
        text[3] = "0.1x"
        rates_file.write_text("\n".join(text) + "\n")
    elif damage == "all_equal":
        rates_file.write_text("0.2\n" * 5)
    else:
        obj = json.loads((tmp_path / "dag.2.json").read_text())
        obj["conv_dag"]["node_4"][1] = "node_4"  # a node reading itself
        (tmp_path / "dag.2.json").write_text(json.dumps(obj))
    with pytest.raises(NasreproError) as err:
        to_seq.convert(tmp_path, log=None)
    for part in expected:
        assert part in str(err.value)
    assert not (tmp_path / "encoder.train.input").exists()
    assert to_seq.main(["--data_dir", str(tmp_path)]) == 2
    stderr = capsys.readouterr().err.strip()
    assert stderr.startswith("convert_arch_to_seq.py: error: ") and "\n" not in stderr


def test_convert_seq_to_arch_existing_dir_overwrite_and_bad_lines(tmp_path, to_arch, capsys):
    rng = np.random.default_rng(3)
    dags = [Dag(random_cell(rng), random_cell(rng)) for _ in range(3)]
    arch_file = tmp_path / "archs"
    arch_file.write_text("".join(" ".join(map(str, dag_to_seq(d))) + "\n" for d in dags))
    out = tmp_path / "out"
    out.mkdir()  # the original's os.makedirs failed here
    assert [p.name for p in to_arch.convert(arch_file, out)] == [
        "dag.1.json", "dag.2.json", "dag.3.json"]
    with pytest.raises(NasreproError, match=r"3 of the dag files .* exist already .*--overwrite"):
        to_arch.convert(arch_file, out)
    arch_file.write_text("".join(" ".join(map(str, dag_to_seq(d))) + "\n" for d in dags[::-1]))
    to_arch.convert(arch_file, out, overwrite=True)
    assert read_dag_json(out / "dag.1.json") == dags[2]

    good = " ".join(map(str, dag_to_seq(dags[0])))
    tokens = good.split()
    for bad, expected in [
        (" ".join(tokens[:59]), r"archs, line 2: 59 tokens, expected 60"),
        (" ".join(tokens[:10] + ["x"] + tokens[11:]), r"archs, line 2: token 11 is 'x'"),
        (" ".join(tokens[:1] + ["16"] + tokens[2:]), r"archs, line 2: token 2 .*op type"),
    ]:
        arch_file.write_text(f"{good}\n{bad}\n")
        with pytest.raises(DagError, match=expected):
            to_arch.convert(arch_file, tmp_path / "never")
        assert not (tmp_path / "never").exists()  # nothing written before every line is checked
    assert to_arch.main(["--arch_file", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err


# --- get_top100 --------------------------------------------------------------------------------

def test_get_top100_sorts_by_default_and_keeps_the_original_bug_on_request(tmp_path, top100):
    inputs = [f"{i} " * 3 for i in range(150)]
    targets = np.random.default_rng(4).permutation(150) / 149.0
    (tmp_path / "encoder.train.input").write_text("".join(f"{x}\n" for x in inputs))
    (tmp_path / "encoder.train.target").write_text("".join(f"{t}\n" for t in targets))
    best = [inputs[i] for i in np.argsort(targets, kind="stable")]
    assert top100.main(["--dir", str(tmp_path)]) == 0
    assert lines(tmp_path / "top100") == best[:100]
    assert top100.write_top(tmp_path, top=7) == best[:7]
    assert lines(tmp_path / "top100") == best[:7]
    # The original discarded sorted()'s result: every architecture, in file order.
    assert top100.main(["--dir", str(tmp_path), "--original_unsorted"]) == 0
    assert lines(tmp_path / "top100") == inputs


def test_get_top100_errors(tmp_path, top100):
    (tmp_path / "encoder.train.input").write_text("1 2\n3 4\n")
    (tmp_path / "encoder.train.target").write_text("0.5\n")
    with pytest.raises(NasreproError, match=r"encoder.train.target: 1 lines, but .* has 2"):
        top100.write_top(tmp_path)
    (tmp_path / "encoder.train.target").write_text("0.5\nhigh\n")
    with pytest.raises(NasreproError, match=r"encoder.train.target, line 2: 'high'"):
        top100.write_top(tmp_path)
    with pytest.raises(NasreproError, match=r"encoder.train.input: missing"):
        top100.write_top(tmp_path / "nowhere")


# --- main.py -----------------------------------------------------------------------------------

def checkpoint_values(model_dir) -> dict:
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(model_dir)))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if not k.startswith("_CHECKPOINTABLE") and "save_counter" not in k}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, to_seq):
    folder = tmp_path_factory.mktemp("epd") / "data" / "0iter"
    write_pool(folder, 30, seed=5)
    to_seq.convert(folder, log=None)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir, epd):
    """A straight 4-epoch run (also the reference of the resume test)."""
    model_dir = tmp_path_factory.mktemp("straight")
    assert epd.main(["--mode=train", f"--data_dir={data_dir}", f"--model_dir={model_dir}",
                     "--train_epochs=4", *TRAIN_FLAGS]) == 0
    return model_dir


def test_train_writes_hparams_csv_results_and_log_lines(trained, data_dir, epd, capsys):
    hparams = json.loads((trained / "hparams.json").read_text())
    assert hparams["encoder_hidden_size"] == 16 and hparams["train_epochs"] == 4
    rows = (trained / "epd.csv").read_text().splitlines()
    assert rows[0] == ("epoch,loss,mse,ce,test_pairwise_accuracy,test_mse,"
                       "test_hamming_distance")
    assert [r.split(",")[0] for r in rows[1:]] == ["2", "4"]
    results = json.loads((trained / "epd_results.json").read_text())
    assert results["epochs"] == 4 and results["steps"] == 12  # 3 batches of 10 per epoch
    assert (results["num_train"], results["num_test"]) == (30, 30)
    assert 0.0 <= results["test"]["pairwise_accuracy"] <= 1.0
    assert 0.0 <= results["test"]["hamming_distance"] <= 60.0
    # test mode restores the checkpoint and reports the same numbers.
    assert epd.main(["--mode=test", f"--data_dir={data_dir}", f"--model_dir={trained}"]) == 0
    out = capsys.readouterr().out
    assert f"test pairwise accuracy = {results['test']['pairwise_accuracy']}" in out
    assert f"test mean squared error = {results['test']['mse']}" in out
    assert f"test hamming distance = {results['test']['hamming_distance']}" in out


@pytest.fixture(scope="module")
def shell_run(tmp_path_factory, data_dir):
    """train.sh (2 epochs, TRAIN_FLAGS appended), get_top100.py --top=5 and generate.sh 10, run
    from a folder holding data/0iter, as the original scripts are run."""
    work = tmp_path_factory.mktemp("run")
    shutil.copytree(data_dir, work / "data" / "0iter")
    env = dict(os.environ, PYTHON=str(REPO_ROOT / ".venv" / "bin" / "python"))
    script = (f"bash {EPD_DIR / 'train.sh'} {' '.join(TRAIN_FLAGS)} --train_epochs=2"
              f" && {env['PYTHON']} {EPD_DIR / 'get_top100.py'} --dir=data/0iter --top=5"
              f" && bash {EPD_DIR / 'generate.sh'} 10")
    result = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return work


def test_shell_scripts_run_from_a_data_layout(shell_run):
    assert "test pairwise accuracy = " in (shell_run / "logs" / "train.0iter.log").read_text()
    assert json.loads((shell_run / "models" / "0iter" / "hparams.json").read_text())[
        "train_epochs"] == 2
    top = lines(shell_run / "data" / "0iter" / "top100")
    assert len(top) == 5
    outputs = {ext: lines(shell_run / "data" / "0iter" / f"top100.lambda10.{ext}")
               for ext in ("arch", "new_arch", "perf")}
    assert [len(v) for v in outputs.values()] == [5, 5, 5]
    # Without --typed_decode the original's mask holds (node slots, then any op token), but
    # an op may be e.g. "3x3 3x3": not necessarily a dag.
    for line in outputs["arch"] + outputs["new_arch"]:
        tokens = [int(t) for t in line.split()]
        assert len(tokens) == 60 and allowed_by_original_mask(tokens)
    log = (shell_run / "logs" / "train.log").read_text()
    assert "Writing results into data/0iter/top100.lambda10" in log


def test_resumed_run_ends_with_the_weights_of_a_straight_run(shell_run, trained, data_dir, epd,
                                                             capsys):
    # train.sh stopped after 2 epochs; the same flags with --train_epochs=4 continue it.
    model_dir = shell_run / "models" / "0iter"
    assert epd.main(["--mode=train", f"--data_dir={data_dir}", f"--model_dir={model_dir}",
                     *TRAIN_FLAGS, "--train_epochs=4"]) == 0
    assert "Restored" in capsys.readouterr().out
    straight, resumed = checkpoint_values(trained), checkpoint_values(model_dir)
    assert straight.keys() == resumed.keys() and len(straight) > 20
    for name, value in straight.items():
        np.testing.assert_allclose(resumed[name], value, rtol=0, atol=1e-6, err_msg=name)
    # The same rows; values to float32 noise (CPU reductions are not bit-stable run to run).
    got = [line.split(",") for line in (model_dir / "epd.csv").read_text().splitlines()]
    want = [line.split(",") for line in (trained / "epd.csv").read_text().splitlines()]
    assert got[0] == want[0] and len(got) == len(want)
    for a, b in zip(got[1:], want[1:]):
        np.testing.assert_allclose([float(v) for v in a], [float(v) for v in b], rtol=1e-5)
    first = json.loads((trained / "epd_results.json").read_text())
    second = json.loads((model_dir / "epd_results.json").read_text())
    assert abs(first["train"]["loss"] - second["train"]["loss"]) < 1e-6


def allowed_by_original_mask(row) -> bool:
    """NAO/cnn/epd's decode mask: node slots 1..k+2, op slots any op token (7..20)."""
    for pos, token in enumerate(row):
        branch, slot = divmod(pos, 3)
        node = (branch % 10) // 2
        if not (1 <= token <= node + 2 if slot == 0 else 7 <= token <= 20):
            return False
    return True


def test_predict_writes_three_files_and_reloads_hparams(tmp_path, trained, data_dir, epd):
    source = tmp_path / "top"
    source.write_text("".join(f"{x}\n" for x in lines(data_dir / "encoder.train.input")[:7]))
    # Wrong model sizes on the command line: predict takes them from hparams.json (a model of
    # these sizes could not restore the checkpoint).
    argv = ["--mode=predict", f"--model_dir={trained}", f"--predict_from_file={source}",
            "--predict_lambda=10", "--encoder_hidden_size=64", "--decoder_hidden_size=32",
            "--typed_decode"]
    assert epd.main(argv) == 0
    # Default prefix: <predict_from_file>.result
    arch, new_arch, perf = (lines(tmp_path / f"top.result.{ext}")
                            for ext in ("arch", "new_arch", "perf"))
    assert len(arch) == len(new_arch) == len(perf) == 7
    assert all(0.0 < float(v) < 1.0 for v in perf)
    # --typed_decode (new): every decoded line is a dag (possibly one no network builds).
    for ext, decoded in (("arch", arch), ("new_arch", new_arch)):
        for n, line in enumerate(decoded, start=1):
            assert len(line.split()) == 60
            seq_to_dag(line, source=f"top.result.{ext}, line {n}")


@pytest.mark.parametrize("content, expected", [
    (None, r"top: missing"),
    ("", r"top: empty"),
    ("{good}\n1 2 3\n", r"top, line 2: 3 tokens, expected 60"),
    ("{good}\n{good}\n{bad}\n", r"top, line 3: token 5 is 'x', expected an integer 0..20"),
    ("{big}\n", r"top, line 1: token 1 is '21'"),
])
def test_predict_input_errors_name_file_and_line(tmp_path, trained, data_dir, epd, capsys,
                                                 content, expected):
    good = lines(data_dir / "encoder.train.input")[0]
    tokens = good.split()
    source = tmp_path / "top"
    if content is not None:
        source.write_text(content.format(
            good=good, bad=" ".join(tokens[:4] + ["x"] + tokens[5:]),
            big=" ".join(["21"] + tokens[1:])))
    argv = ["--mode=predict", f"--model_dir={trained}", f"--predict_from_file={source}"]
    assert epd.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("main.py: error: ") and "\n" not in err
    assert re.search(expected, err), err
    assert not (tmp_path / "top.result.arch").exists()


def test_main_errors(tmp_path, data_dir, epd, capsys):
    for argv, expected in [
        (["--mode=predict", f"--model_dir={tmp_path}", "--predict_from_file=x"],
         "hparams.json: missing"),
        (["--mode=evaluate"], "--mode=evaluate: expected one of train, test, predict"),
        (["--mode=train", f"--data_dir={data_dir}", f"--model_dir={tmp_path}", "--attention",
          "--decoder_hidden_size=96"], "--lr=1.0"),  # the original's defaults fail too
        (["--mode=train", f"--data_dir={data_dir}", f"--model_dir={tmp_path}", "--lr=0.001",
          "--decoder_hidden_size=96"], "--attention: required"),
        (["--mode=train", f"--data_dir={tmp_path}", f"--model_dir={tmp_path}"],
         "encoder.train.input: missing"),
        (["--mode=test", f"--data_dir={data_dir}", f"--model_dir={tmp_path}"],
         "hparams.json: missing"),
    ]:
        assert epd.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("main.py: error: ") and expected in err, err

"""NAO's encoder-predictor-decoder (EPD) without weight sharing (renqianluo/NAO
NAO/cnn/epd/main.py with encoder/ and decoder/): trains it on evaluated architectures, tests
it, and generates new architectures by a gradient step on their embeddings. The model is
nasrepro.tf.nao_epd (TensorFlow 2); the flags and defaults are the original's, new ones say
"new", and flags without an effect here say so in --help.

--mode=train   reads <data_dir>/encoder.train.input, encoder.train.target, decoder.train.target
               and the same three test files (convert_arch_to_seq.py writes them), writes
               <model_dir>/hparams.json, then trains --train_epochs epochs. Every
               --eval_frequency epochs (and after the last one) it evaluates on the test files:
               the lines "test pairwise accuracy = ..." and "test mean squared error = ..." of
               the original, and (new) the mean Hamming distance of the greedy reconstructions.
               Every 100 steps: learning rate, mean squared error, cross entropy.
               New outputs in <model_dir>: epd.csv (one row per evaluation) and
               epd_results.json (the last evaluation). A checkpoint (weights, Adam, epoch,
               random generator state) is written atomically after every epoch; training
               starts from the newest one, so a killed run continues and ends with the weights
               an uninterrupted run (same --seed) ends with. --restore takes the
               hyper-parameters from <model_dir>/hparams.json instead of the command line.
--mode=test    restores the newest checkpoint (hyper-parameters from hparams.json) and reports
               the same evaluation.
--mode=predict hyper-parameters other than --predict_* come from hparams.json. Reads
               --predict_from_file (one architecture of --source_length tokens per line) and
               writes, one line per input in the same order: <to>.arch (the greedy
               reconstruction), <to>.new_arch (decoded after one gradient step of
               --predict_lambda on the encoder outputs, towards a lower predicted error) and
               <to>.perf (the predicted normalized error of the input). <to> is
               --predict_to_file, by default <predict_from_file>.result.

In all modes --mode, --model_dir, --data_dir and --typed_decode are the command line's (the
original took model_dir and data_dir from hparams.json too).

Decoding: the original's mask only separates node tokens from op tokens, so a decoded op
can be e.g. "16 16" (3x3 3x3), which is no dag (convert_seq_to_arch.py refuses such a line);
--typed_decode (new) keeps op types and sizes in their places.

Differences from the original: the original trains train_epochs // eval_frequency rounds of
eval_frequency epochs (fewer epochs when it does not divide) and repeats the data before
batching (a batch can span two epochs); here exactly --train_epochs epochs, each ending with a
smaller batch when needed, with a fresh order drawn from (--seed, epoch). Only the script's
choices are ported: Adam (lr <= 0.001, as the original asserts), one LSTM layer each, attention,
greedy decoding.

From Python (as `epd.main` from NAO/cnn): main(argv) -> exit code, or parse_args(argv) then
run(args) -> dict (train: the results dict; test: the evaluation; predict: the files written),
which raises NasreproError and leaves logging to the caller (logger "epd")."""
import argparse
import json
import logging
import sys
import time
from pathlib import Path

try:
    from nasrepro.project_python import ensure_project_python
except ModuleNotFoundError:  # an interpreter without the project: take it from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from nasrepro.project_python import ensure_project_python
if __name__ == "__main__":
    ensure_project_python(__file__, needs=("tensorflow",))

import numpy as np

from nasrepro.archs.nao_dag import OP_SIZES, OP_TYPES, SEQ_LENGTH, VOCAB
from nasrepro.atomic import atomic_write_text
from nasrepro.errors import ConfigError, DataError, NasreproError
from nasrepro.ranking import hamming_distance, pairwise_accuracy
from nasrepro.runs.logs import close_logging, setup_logging
from nasrepro.runs.metrics_csv import MetricsCSV
from nasrepro.tf.checkpoint import TFCheckpointer
from nasrepro.tf.nao_epd import EncoderPredictorDecoder, make_optimizer, shift_right, train_epd
from nasrepro.tf.startup import import_tensorflow

tf = import_tensorflow()

LOGGER_NAME = "epd"
log = logging.getLogger(LOGGER_NAME)
LOG_EVERY = 100  # steps between the training log lines (the original's LoggingTensorHook)
ADAM_MAX_LR = 0.001  # the original asserts Adam's learning rate is at most this
HPARAMS_FILE = "hparams.json"
CSV_FILE = "epd.csv"
RESULTS_FILE = "epd_results.json"
MODES = ("train", "test", "predict")
# Taken from the command line even where the hyper-parameters come from hparams.json.
LOCATION_FLAGS = ("mode", "model_dir", "data_dir", "typed_decode")
NO_OP = "accepted for compatibility; no effect here"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="main.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a("--mode", type=str, default="train", help="train, test or predict")
    a("--data_dir", type=str, default="data", help="folder with the encoder/decoder files")
    a("--model_dir", type=str, default="model",
      help="checkpoints, hparams.json, epd.csv, epd_results.json")
    a("--restore", action="store_true", default=False,
      help="train: take the hyper-parameters from <model_dir>/hparams.json")
    a("--encoder_num_layers", type=int, default=1, help="only 1 is ported")
    a("--encoder_hidden_size", type=int, default=96,
      help="LSTM size; must equal --decoder_hidden_size")
    a("--encoder_emb_size", type=int, default=32)
    a("--mlp_num_layers", type=int, default=0, help="hidden layers of the predictor")
    a("--mlp_hidden_size", type=int, default=32)
    a("--mlp_dropout", type=float, default=0.5,
      help="no effect, as in the original (its dropout call never switches training on)")
    a("--decoder_num_layers", type=int, default=1, help="only 1 is ported")
    a("--decoder_hidden_size", type=int, default=32)
    a("--source_length", type=int, default=60, help="tokens per architecture")
    a("--encoder_length", type=int, default=60,
      help="encoder steps (source_length / encoder_length tokens per step)")
    a("--decoder_length", type=int, default=60, help="must equal --source_length")
    a("--encoder_dropout", type=float, default=0.0)
    a("--decoder_dropout", type=float, default=0.0)
    a("--weight_decay", type=float, default=1e-4)
    a("--encoder_vocab_size", type=int, default=21)
    a("--decoder_vocab_size", type=int, default=21)
    a("--trade_off", type=float, default=0.5,
      help="loss = trade_off * mse + (1 - trade_off) * cross entropy + weight decay")
    a("--train_epochs", type=int, default=1000)
    a("--eval_frequency", type=int, default=10, help="epochs between test evaluations")
    a("--batch_size", type=int, default=128)
    a("--lr", type=float, default=1.0, help="learning rate (Adam: at most 0.001)")
    a("--optimizer", type=str, default="adam", help="only adam (train.sh's) is ported")
    a("--start_decay_step", type=int, default=100, help=f"sgd only in the original; {NO_OP}")
    a("--decay_steps", type=int, default=1000, help=f"sgd only in the original; {NO_OP}")
    a("--decay_factor", type=float, default=0.9, help=f"sgd only in the original; {NO_OP}")
    a("--attention", action="store_true", default=False,
      help="required: only the decoder with attention is ported (train.sh sets it)")
    a("--max_gradient_norm", type=float, default=5.0)
    a("--beam_width", type=int, default=0, help=f"unused by the original's model; {NO_OP}")
    a("--time_major", action="store_true", default=False,
      help=f"a tensor layout choice of the TF1 graph; {NO_OP}")
    a("--symmetry", action="store_true", default=False,
      help="train on copies with the two branches of a random node of each cell swapped")
    a("--predict_from_file", type=str, default=None, help="predict: the input architectures")
    a("--predict_to_file", type=str, default=None,
      help="predict: prefix of the .arch, .new_arch and .perf files "
           "(default <predict_from_file>.result)")
    a("--predict_beam_width", type=int, default=0, help="only 0 (greedy decoding) is ported")
    a("--predict_lambda", type=float, default=0.1,
      help="predict: step size of the gradient step on the embeddings")
    a("--typed_decode", action="store_true", default=False,
      help="new: decode op types only where a type belongs and sizes only where a size "
           "belongs, so every decoded line is a dag (the original's mask allows any op or "
           "size token in both places); always taken from the command line")
    a("--seed", type=int, default=0,
      help="new: seed of the initial weights, dropout, data order and symmetry draws")
    return p


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


# -- hyper-parameters -----------------------------------------------------------------------------

def load_hparams(model_dir) -> dict:
    path = Path(model_dir) / HPARAMS_FILE
    if not path.is_file():
        raise DataError(f"{path}: missing; train a model into --model_dir={model_dir} first "
                        "(--mode=train writes it)")
    try:
        params = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not a readable JSON file ({err})") from None
    if not isinstance(params, dict):
        raise DataError(f"{path}: expected a JSON object of hyper-parameters")
    return params


def merged_params(args, keep=lambda name: False) -> dict:
    """The parser's defaults, overlaid with hparams.json, then with the command line's
    LOCATION_FLAGS and the flags `keep(name)` accepts."""
    params = vars(build_parser().parse_args([]))
    saved = load_hparams(args.model_dir)
    params.update({k: v for k, v in saved.items() if k in params})
    for name, value in vars(args).items():
        if name in LOCATION_FLAGS or keep(name):
            params[name] = value
    return params


def check_params(p: dict) -> None:
    """The original's choices this port supports; a ConfigError naming the flag otherwise."""
    for name in ("encoder_hidden_size", "encoder_emb_size", "source_length", "encoder_length",
                 "decoder_length", "encoder_vocab_size", "decoder_vocab_size", "batch_size",
                 "eval_frequency", "mlp_hidden_size"):
        if not isinstance(p[name], int) or p[name] < 1:
            raise ConfigError(f"--{name}={p[name]}: expected a positive integer")
    if p["train_epochs"] < 0 or p["mlp_num_layers"] < 0:
        raise ConfigError("--train_epochs and --mlp_num_layers: expected integers >= 0")
    if (p["encoder_num_layers"], p["decoder_num_layers"]) != (1, 1):
        raise ConfigError(f"--encoder_num_layers={p['encoder_num_layers']} / "
                          f"--decoder_num_layers={p['decoder_num_layers']}: only 1 (train.sh's) "
                          "is ported")
    if p["encoder_hidden_size"] != p["decoder_hidden_size"]:
        raise ConfigError(f"--encoder_hidden_size={p['encoder_hidden_size']} and "
                          f"--decoder_hidden_size={p['decoder_hidden_size']}: expected equal "
                          "sizes (the architecture embedding is the decoder's initial state)")
    if p["source_length"] % p["encoder_length"]:
        raise ConfigError(f"--encoder_length={p['encoder_length']}: expected a divisor of "
                          f"--source_length={p['source_length']}")
    if p["decoder_length"] != p["source_length"]:
        raise ConfigError(f"--decoder_length={p['decoder_length']}: expected "
                          f"--source_length={p['source_length']} (the decoder reconstructs the "
                          "input)")
    if p["optimizer"] != "adam":
        raise ConfigError(f"--optimizer={p['optimizer']}: only adam (train.sh's) is ported")
    if not 0 < p["lr"] <= ADAM_MAX_LR:
        raise ConfigError(f"--lr={p['lr']}: expected a rate in (0, {ADAM_MAX_LR}] (the original "
                          "refuses a higher Adam learning rate)")
    if not p["attention"]:
        raise ConfigError("--attention: required; only the decoder with attention is ported "
                          "(train.sh and generate.sh pass it)")
    if p["predict_beam_width"] != 0:
        raise ConfigError(f"--predict_beam_width={p['predict_beam_width']}: only 0 (greedy "
                          "decoding, generate.sh's) is ported")
    if not 0.0 <= p["trade_off"] <= 1.0:
        raise ConfigError(f"--trade_off={p['trade_off']}: expected a value in [0, 1]")
    if not p["max_gradient_norm"] > 0:
        raise ConfigError(f"--max_gradient_norm={p['max_gradient_norm']}: expected a positive "
                          "number")
    for name in ("encoder_dropout", "decoder_dropout", "mlp_dropout"):
        if not 0.0 <= p[name] < 1.0:
            raise ConfigError(f"--{name}={p[name]}: expected a rate in [0, 1)")


# -- data ---------------------------------------------------------------------------------------

def _lines(path: Path, what: str) -> list:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise DataError(f"{path}: missing (expected {what})") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read it ({err.strerror})") from None
    if not lines:
        raise DataError(f"{path}: empty, expected {what}")
    return lines


def read_tokens(path, length: int, vocab: int) -> np.ndarray:
    """[lines, length] token ids of `path`, one architecture per line."""
    path = Path(path)
    what = f"one architecture of {length} space-separated tokens per line"
    rows = []
    for line_no, line in enumerate(_lines(path, what), start=1):
        fields = line.split()
        if len(fields) != length:
            raise DataError(f"{path}, line {line_no}: {len(fields)} tokens, expected {length}")
        row = []
        for pos, field in enumerate(fields, start=1):
            try:
                token = int(field)
            except ValueError:
                token = -1
            if not 0 <= token < vocab:
                raise DataError(f"{path}, line {line_no}: token {pos} is {field!r}, expected an "
                                f"integer 0..{vocab - 1}")
            row.append(token)
        rows.append(row)
    return np.asarray(rows, dtype=np.int32)


def read_values(path) -> np.ndarray:
    """The numbers of `path`, one per line."""
    path = Path(path)
    values = []
    for line_no, line in enumerate(_lines(path, "one number per line"), start=1):
        try:
            value = float(line)
        except ValueError:
            value = float("nan")
        if not np.isfinite(value):
            raise DataError(f"{path}, line {line_no}: {line!r}, expected a finite number")
        values.append(value)
    return np.asarray(values, dtype=np.float32)


def read_split(data_dir, split: str, p: dict) -> dict:
    """{inputs, targets, decoder_targets} of encoder.<split>.input, encoder.<split>.target and
    decoder.<split>.target."""
    data_dir = Path(data_dir)
    files = {"inputs": data_dir / f"encoder.{split}.input",
             "targets": data_dir / f"encoder.{split}.target",
             "decoder_targets": data_dir / f"decoder.{split}.target"}
    data = {"inputs": read_tokens(files["inputs"], p["source_length"], p["encoder_vocab_size"]),
            "targets": read_values(files["targets"]),
            "decoder_targets": read_tokens(files["decoder_targets"], p["decoder_length"],
                                           p["decoder_vocab_size"])}
    count = len(data["inputs"])
    for key in ("targets", "decoder_targets"):
        if len(data[key]) != count:
            raise DataError(f"{files[key]}: {len(data[key])} lines, but {files['inputs']} has "
                            f"{count}: expected one line per architecture")
    if split == "test" and count < 2:
        raise DataError(f"{files['inputs']}: {count} architecture, expected at least 2 (the "
                        "pairwise accuracy needs a pair)")
    return data


# -- the model ----------------------------------------------------------------------------------

class EPD:
    """The model of `params`, its Adam optimizer, the epoch count and their checkpoints in
    model_dir."""

    def __init__(self, p: dict):
        check_params(p)
        self.params = p
        self.model = EncoderPredictorDecoder(
            vocab_size=p["encoder_vocab_size"], source_length=p["source_length"],
            encoder_length=p["encoder_length"], emb_size=p["encoder_emb_size"],
            hidden_size=p["encoder_hidden_size"], encoder_dropout=p["encoder_dropout"],
            mlp_num_layers=p["mlp_num_layers"], mlp_hidden_size=p["mlp_hidden_size"],
            mlp_dropout=p["mlp_dropout"], mlp_dropout_first=True,
            decoder_vocab_size=p["decoder_vocab_size"], decoder_length=p["decoder_length"],
            decoder_dropout=p["decoder_dropout"], seed=int(p["seed"]), name="EPD",
            decode_rule=(typed_decode_rule(p["decoder_length"], p["decoder_vocab_size"])
                         if p["typed_decode"] else None))
        self.optimizer = make_optimizer(self.model, p["lr"])
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.checkpointer = TFCheckpointer(p["model_dir"], max_to_keep=2, model=self.model,
                                           optimizer=self.optimizer, epoch=self.epoch)

    def restore(self, required: bool = False):
        prefix = self.checkpointer.restore_latest()
        if prefix is None and required:
            raise DataError(f"--model_dir={self.params['model_dir']}: no checkpoint (train one "
                            "with --mode=train first)")
        return prefix

    def save(self) -> None:
        self.checkpointer.save(int(self.optimizer.iterations.numpy()))

    def _batched(self, fn, seqs) -> np.ndarray:
        size = self.params["batch_size"]
        return np.concatenate([fn(seqs[i:i + size]) for i in range(0, len(seqs), size)])

    def predict(self, seqs) -> np.ndarray:
        return self._batched(self.model.predict, seqs)

    def decode(self, seqs) -> np.ndarray:
        return self._batched(self.model.decode, seqs)

    def generate(self, seqs, step_size: float) -> np.ndarray:
        return self._batched(lambda s: self.model.generate(s, step_size), seqs)

    def evaluate(self, test: dict) -> dict:
        """{loss, pairwise_accuracy, mse, hamming_distance} on a split (eval mode)."""
        p = self.params
        predicted = self.predict(test["inputs"])
        targets = test["targets"].astype(np.float64)
        decoded = self.decode(test["inputs"])
        loss, _, _ = self.model.loss(
            tf.constant(test["inputs"]), tf.constant(test["targets"]),
            tf.constant(shift_right(test["decoder_targets"])),
            tf.constant(test["decoder_targets"]), training=False, trade_off=p["trade_off"],
            weight_decay=p["weight_decay"])
        return {"loss": float(loss),
                "pairwise_accuracy": pairwise_accuracy(targets, predicted),
                "mse": float(np.mean((predicted.astype(np.float64) - targets) ** 2)),
                "hamming_distance": hamming_distance(test["decoder_targets"], decoded)}


def typed_decode_rule(length: int, vocab: int) -> list:
    """Per position, the tokens --typed_decode allows: a node token 1..k+2 (k the node's index
    in its cell, as the original), then an op type, then an op size."""
    if (length, vocab) != (SEQ_LENGTH, len(VOCAB)):
        raise ConfigError(f"--typed_decode: needs --decoder_length={SEQ_LENGTH} and "
                          f"--decoder_vocab_size={len(VOCAB)} (the dag vocabulary), got "
                          f"{length} and {vocab}")
    types = [VOCAB.index(t) for t in OP_TYPES]
    sizes = [VOCAB.index(s) for s in OP_SIZES]
    table = []
    for position in range(length):
        branch, slot = divmod(position, 3)
        node = (branch % (length // 6)) // 2
        table.append(range(1, node + 3) if slot == 0 else types if slot == 1 else sizes)
    return table


def log_evaluation(result: dict, step: int) -> None:
    log.info("Evaluation on test data set")
    log.info("{'loss': %s, 'global_step': %d}", result["loss"], step)
    log.info("test pairwise accuracy = %s", result["pairwise_accuracy"])
    log.info("test mean squared error = %s", result["mse"])
    log.info("test hamming distance = %s", result["hamming_distance"])


# -- the modes ----------------------------------------------------------------------------------

def train(p: dict) -> dict:
    train_data = read_split(p["data_dir"], "train", p)
    test_data = read_split(p["data_dir"], "test", p)
    epd = EPD(p)
    model_dir = Path(p["model_dir"])
    model_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(model_dir / HPARAMS_FILE, json.dumps(p, indent=2) + "\n")
    restored = epd.restore()
    start = int(epd.epoch.numpy()) if restored else 0
    if restored:
        log.info("Restored %s (epoch %d, step %d)", restored, start,
                 int(epd.optimizer.iterations.numpy()))
    log.info("Training the encoder-predictor-decoder on %d architectures, testing on %d",
             len(train_data["inputs"]), len(test_data["inputs"]))
    csv = MetricsCSV(model_dir / CSV_FILE, resume_from_epoch=start if restored else None)
    lr = float(epd.optimizer.learning_rate.numpy())
    started = time.time()

    def log_step(step: int, values: dict) -> None:
        if step == 1 or step % LOG_EVERY == 0:
            seconds = time.time() - started
            log.info("learning_rate = %s, mean_squared_error = %s, cross_entropy = %s "
                     "(%.3f sec)", lr, values["mse"], values["ce"], seconds)
            log.info("loss = %s, step = %d", values["loss"], step)

    last_train, last_test = None, None
    for epoch in range(start, p["train_epochs"]):
        # One generator per (seed, epoch): the same order and swaps after a resume.
        rng = np.random.default_rng([int(p["seed"]), epoch])
        last_train = train_epd(
            epd.model, epd.optimizer, train_data["inputs"], train_data["targets"], 1,
            batch_size=p["batch_size"], trade_off=p["trade_off"],
            weight_decay=p["weight_decay"], max_grad_norm=p["max_gradient_norm"],
            symmetry=p["symmetry"], rng=rng, on_batch=log_step)[0]
        done = epoch + 1
        epd.epoch.assign(done)
        if done % p["eval_frequency"] == 0 or done == p["train_epochs"]:
            last_test = epd.evaluate(test_data)
            log_evaluation(last_test, int(epd.optimizer.iterations.numpy()))
            csv.write({"epoch": done, "loss": last_train["loss"], "mse": last_train["mse"],
                       "ce": last_train["ce"],
                       "test_pairwise_accuracy": last_test["pairwise_accuracy"],
                       "test_mse": last_test["mse"],
                       "test_hamming_distance": last_test["hamming_distance"]})
        epd.save()  # after the csv row: a resume re-trains (and re-logs) this epoch at worst
    if last_test is None:  # nothing left to train (a finished run started again)
        last_test = epd.evaluate(test_data)
        log_evaluation(last_test, int(epd.optimizer.iterations.numpy()))
    if last_train is None:
        rows = csv.rows()
        last_train = ({k: float(rows[-1][k]) for k in ("loss", "mse", "ce")} if rows else {})
    results = {"epochs": int(epd.epoch.numpy()), "steps": int(epd.optimizer.iterations.numpy()),
               "num_train": len(train_data["inputs"]), "num_test": len(test_data["inputs"]),
               "seed": int(p["seed"]),
               "train": {k: float(last_train[k]) for k in ("loss", "mse", "ce")
                         if k in last_train},
               "test": last_test,
               "note": "test files = the first 50 training architectures (not held out)"}
    atomic_write_text(model_dir / RESULTS_FILE, json.dumps(results, indent=2) + "\n")
    return results


def test(p: dict) -> dict:
    test_data = read_split(p["data_dir"], "test", p)
    epd = EPD(p)
    epd.restore(required=True)
    result = epd.evaluate(test_data)
    log_evaluation(result, int(epd.optimizer.iterations.numpy()))
    return result


def predict(p: dict) -> dict:
    if not p["predict_from_file"]:
        raise ConfigError("--predict_from_file: required with --mode=predict (a file of "
                          "architectures, one per line)")
    source = Path(p["predict_from_file"])
    seqs = read_tokens(source, p["source_length"], p["encoder_vocab_size"])
    epd = EPD(p)
    epd.restore(required=True)
    decoded = epd.decode(seqs)
    moved = epd.generate(seqs, p["predict_lambda"])
    values = epd.predict(seqs)
    target = p["predict_to_file"] or f"{source}.result"
    arch_lines = [" ".join(map(str, row)) for row in decoded.tolist()]
    for line in arch_lines:
        log.info("Inference results OUTPUT: %s", line)
    log.info("Writing results into %s", target)
    files = {"arch": f"{target}.arch", "new_arch": f"{target}.new_arch",
             "perf": f"{target}.perf"}
    atomic_write_text(files["arch"], "".join(f"{line}\n" for line in arch_lines))
    atomic_write_text(files["new_arch"],
                      "".join(" ".join(map(str, row)) + "\n" for row in moved.tolist()))
    atomic_write_text(files["perf"], "".join(f"{np.float32(v)}\n" for v in values))
    return {"count": len(seqs), **files}


def run(args) -> dict:
    """Run --mode on parsed flags; raises NasreproError on bad input."""
    if args.mode not in MODES:
        raise ConfigError(f"--mode={args.mode}: expected one of {', '.join(MODES)}")
    if args.mode == "train":
        p = merged_params(args) if args.restore else dict(vars(args))
        return train(p)
    if args.mode == "test":
        return test(merged_params(args))
    return predict(merged_params(args, keep=lambda name: name.startswith("predict")))


def main(argv=None) -> int:
    args = parse_args(argv)
    # Our own stdout handler, and no propagation: a handler that a library adds to the root
    # logger later would print every line twice.
    logger = setup_logging(logger_name=LOGGER_NAME)
    logger.propagate = False
    try:
        run(args)
    except NasreproError as err:
        print(f"main.py: error: {err}", file=sys.stderr)
        return 2
    finally:
        close_logging(LOGGER_NAME)
        logger.propagate = True
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""NAO: trains one cell dag on CIFAR-10 / CIFAR-100 from the binary records (renqianluo/NAO
NAO/cnn/train_cifar.py at e07be44; test_cifar.py restores the newest checkpoint and reports the
test accuracy, with the same flags). The flags and defaults are the original's; new ones are
marked "new".

The original split each batch over --num_gpus towers and averaged their gradients; here
tf.distribute.MirroredStrategy does the same over the GPUs, or, on a machine without GPUs, over
--num_gpus logical CPU devices. Each replica normalizes with its own batch statistics, as each
tower did. One epoch is ceil(training images / batch) steps of full batches from an endless
stream of shuffled passes; the learning rate changes once per epoch; after every epoch the
valid split (--split_train_valid) and the test set are evaluated and a checkpoint is written to
--model_dir, from which a killed run resumes.

Differences from the original, all listed in the README: the image counts come from the data
(the original hard-coded 50,000 / 45,000 / 5,000 / 10,000); a missing aux head no longer crashes
the loss; --data_dir works without a trailing slash."""
import argparse
import json
import math
import sys
import time
from pathlib import Path

try:
    from nasrepro.project_python import ensure_project_python
except ModuleNotFoundError:  # an interpreter without the project: take it from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from nasrepro.project_python import ensure_project_python
ensure_project_python(__file__, needs=("tensorflow",))

from nasrepro.tf.startup import import_tensorflow

tf = import_tensorflow()  # first, so that its start-up notices stay quiet

import numpy as np  # noqa: E402

from dag import build_dag
from model import Network
from nasrepro.archs.nao_dag import Dag, dag_from_json, write_dag_json
from nasrepro.atomic import atomic_write_text
from nasrepro.complexity.tf_count import count_params
from nasrepro.data.cifar import read_cifar
from nasrepro.data.locate import resolve_data_path
from nasrepro.environment import current_profile
from nasrepro.errors import ConfigError, NasreproError, check_positive, check_probability
from nasrepro.runs.finish import CurvesPlot, finish_run
from nasrepro.runs.logs import setup_logging
from nasrepro.runs.metrics_csv import MetricsCSV
from nasrepro.runs.output_dir import prepare_output_dir
from nasrepro.runs.progress import progress
from nasrepro.runs.run_info import Timer
from nasrepro.schedules import nao_step_lr
from nasrepro.tf.checkpoint import TFCheckpointer
from nasrepro.tf.cifar_input import eval_batches, stream_batches
from nasrepro.tf.optimizers import Momentum
LOG_EVERY = 100  # steps between the training lines, hard-coded in the original
EVAL_BATCH = 100  # the original's valid / test batch size
MOMENTUM = 0.9
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a("--mode", default="train", choices=("train", "test"))
    a("--data_dir", default="/tmp/cifar10_data",
      help="folder with the CIFAR binary records (data_batch_*.bin / train.bin, or NAO's "
           "train_batch_*.bin + valid_batch.bin split)")
    a("--dataset", default="cifar10", choices=("cifar10", "cifar100"))
    a("--model_dir", default="/tmp/cifar10_model")
    a("--num_nodes", type=int, default=5)
    a("--N", type=int, default=6)
    a("--filters", type=int, default=36)
    a("--drop_path_keep_prob", type=float, default=0.6)
    a("--dense_dropout_keep_prob", type=float, default=1.0)
    a("--stem_multiplier", type=float, default=3.0)
    a("--train_epochs", type=int, default=600)
    a("--epochs_per_eval", type=int, default=10, help="unused: every epoch is evaluated, as "
                                                       "in the original")
    a("--eval_after", type=int, default=0, help="unused, as in the original")
    a("--batch_size", type=int, default=128, help="global batch, split over the replicas")
    a("--arch", default=None, help="a named architecture of dag.py or a JSON dag file")
    a("--hparams", default=None, help="JSON file whose keys override every flag (and "
                                      "conv_dag / reduc_dag)")
    a("--split_train_valid", action="store_true")
    a("--use_nesterov", action="store_true")
    a("--use_aux_head", action="store_true")
    a("--aux_head_weight", type=float, default=0.4)
    a("--weight_decay", type=float, default=5e-4)
    a("--cutout_size", type=int, default=None)
    a("--num_gpus", type=int, default=1,
      help="replicas: GPUs, or logical CPU devices on a machine without GPUs")
    a("--seed", type=int, default=None)
    a("--data_format", default=None, choices=("channels_first", "channels_last"),
      help="accepted; the network computes in channels_last (NHWC)")
    a("--lr_schedule", default="cosine", choices=("cosine", "constant", "decay"))
    a("--lr", type=float, default=0.1)
    a("--lr_max", type=float, default=0.025)
    a("--lr_min", type=float, default=0.0)
    a("--T_0", type=int, default=10)
    a("--T_mul", type=int, default=2)
    a("--clip", type=float, default=5.0)
    a("--num_train_images", type=int, default=None,
      help="new: train on the first N training images (the small profiles)")
    a("--final_test_only", action="store_true",
      help="new: evaluate the test set after the last epoch only (the search needs only the "
           "valid accuracy; the original evaluated both every epoch)")
    return p


def apply_hparams(args) -> dict:
    """Overrides from --hparams (the original let its keys replace every parameter); returns
    the dag entries it holds, if any."""
    if args.hparams is None:
        return {}
    path = Path(args.hparams)
    try:
        values = json.loads(path.read_text())
    except OSError as err:
        raise ConfigError(f"--hparams={path}: cannot read it ({err.strerror})") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"--hparams={path}: not JSON ({err.msg}, line {err.lineno})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"--hparams={path}: expected a JSON object of parameters")
    dags = {k: values.pop(k) for k in ("conv_dag", "reduc_dag") if k in values}
    for key, value in values.items():
        if hasattr(args, key) and key not in ("mode", "hparams"):
            setattr(args, key, value)
    return dags


def check_args(args) -> None:
    check_positive(args, "N", "filters", "train_epochs", "batch_size", "num_gpus",
                   expected="a positive integer")
    check_probability(args, "drop_path_keep_prob", "dense_dropout_keep_prob")
    if args.num_nodes != 5:
        raise ConfigError(f"--num_nodes={args.num_nodes}: the dags and their 60-token "
                          "sequences have 5 nodes per cell")
    if args.batch_size % args.num_gpus:
        raise ConfigError(f"--batch_size={args.batch_size}: must split evenly over "
                          f"--num_gpus={args.num_gpus} replicas")
    if args.cutout_size is not None and not 0 < args.cutout_size <= 32:
        raise ConfigError(f"--cutout_size={args.cutout_size}: expected 1..32 (leave it out "
                          "for no cutout)")
    if args.lr_schedule == "cosine" and (args.T_0 < 1 or args.T_mul < 1):
        raise ConfigError(f"--T_0={args.T_0} --T_mul={args.T_mul}: expected positive integers")


def load_dag(args, hparam_dags: dict) -> Dag:
    if hparam_dags:
        if set(hparam_dags) != {"conv_dag", "reduc_dag"}:
            raise ConfigError(f"--hparams={args.hparams}: has {sorted(hparam_dags)}, expected "
                              "both conv_dag and reduc_dag")
        return dag_from_json(hparam_dags, f"--hparams={args.hparams}")
    if args.arch is None:
        raise ConfigError("--arch: required (a named architecture of dag.py such as NAONet, "
                          "or a JSON dag file)")
    return build_dag(args.arch)


def make_strategy(num_replicas: int):
    """MirroredStrategy over `num_replicas` GPUs, or logical CPUs without GPUs; the default
    strategy for one."""
    if num_replicas == 1:
        return tf.distribute.get_strategy()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        if len(gpus) < num_replicas:
            raise ConfigError(f"--num_gpus={num_replicas}: this machine has {len(gpus)} GPU(s)")
        return tf.distribute.MirroredStrategy([f"/gpu:{i}" for i in range(num_replicas)])
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:  # only possible before TensorFlow has started its devices
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * num_replicas)
    except RuntimeError:
        pass
    logical = tf.config.list_logical_devices("CPU")
    if len(logical) < num_replicas:
        raise ConfigError(f"--num_gpus={num_replicas}: TensorFlow already started with "
                          f"{len(logical)} CPU device(s) in this process; run the script in "
                          "a fresh process")
    return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(num_replicas)])


def learning_rate(args, step: int, batches_per_epoch: int, images: int) -> float:
    return nao_step_lr(args.lr_schedule, step, batches_per_epoch, lr=args.lr,
                       lr_max=args.lr_max, lr_min=args.lr_min, t0=args.T_0, t_mul=args.T_mul,
                       exact_epoch_steps=images / float(args.batch_size))


class Run:
    """The network, its optimizer, data and checkpoints; train() is train_cifar.py, test() is
    test_cifar.py."""

    def __init__(self, args, log_name: str):
        hparam_dags = apply_hparams(args)
        check_args(args)
        self.args, self.timer = args, Timer()
        self.dag = load_dag(args, hparam_dags)
        self.out_dir = prepare_output_dir(args.model_dir)
        self.logger = setup_logging(self.out_dir / log_name, logger_name="nao_cnn")
        self.logger.propagate = False
        self.log = self.logger.info
        self.strategy = make_strategy(args.num_gpus)
        self._read_data()
        seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy
                                                           % 2 ** 31)
        tf.random.set_seed(seed)
        count = len(self.labels["train"])
        self.batches_per_epoch = math.ceil(count / args.batch_size)
        self.total_steps = int(args.train_epochs * count / float(args.batch_size))
        with self.strategy.scope():
            self.seed = tf.Variable(seed, dtype=tf.int64, trainable=False, name="seed")
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            self.net = Network(self.dag, args.N, args.filters, NUM_CLASSES[args.dataset],
                               args.stem_multiplier, args.use_aux_head, args.drop_path_keep_prob,
                               args.dense_dropout_keep_prob, self.total_steps)
            self.variables = list(self.net.trainable_variables)
            self.optimizer = Momentum(self.variables, MOMENTUM, nesterov=args.use_nesterov)
        self.params_total = count_params(self.net)
        self.params_main = count_params(self.net, exclude=("aux_head",))
        self.checkpointer = TFCheckpointer(self.out_dir, max_to_keep=2, net=self.net,
                                           optimizer=self.optimizer, global_step=self.step,
                                           seed=self.seed)
        self._compile_steps()

    def _read_data(self):
        args = self.args
        kind = "cifar10-bin" if args.dataset == "cifar10" else "cifar100-bin"
        path = resolve_data_path(args.data_dir or None, kind, current_profile(), "--data_dir")
        layout = "binary-split" if args.split_train_valid and args.dataset == "cifar10" \
            else "binary"
        data = read_cifar(path, args.dataset, layout)
        self.data_dir = data.directory
        self.images, self.labels = data.images, data.labels
        if args.num_train_images is not None:
            n = args.num_train_images
            if not 0 < n <= len(self.labels["train"]):
                raise ConfigError(f"--num_train_images={n}: expected 1.."
                                  f"{len(self.labels['train'])}")
            self.images["train"] = self.images["train"][:n]
            self.labels["train"] = self.labels["train"][:n]

    def _compile_steps(self):
        args, net, strategy = self.args, self.net, self.strategy
        wd, aux_w, clip = args.weight_decay, args.aux_head_weight, args.clip
        replicas = strategy.num_replicas_in_sync

        def l2():
            return tf.add_n([tf.nn.l2_loss(v) for v in self.variables])

        def replica_grads(images, labels):
            with tf.GradientTape() as tape:
                out = net(images, True, self.step, self.seed)
                ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                    labels=labels, logits=out["logits"]))
                loss = ce
                if "aux_logits" in out:  # the original's loss needed the aux head (it crashed)
                    loss += aux_w * tf.reduce_mean(
                        tf.nn.sparse_softmax_cross_entropy_with_logits(
                            labels=labels, logits=out["aux_logits"]))
                loss += wd * l2()
            grads = tape.gradient(loss, self.variables)
            predictions = tf.argmax(out["logits"], axis=1, output_type=labels.dtype)
            acc = tf.reduce_mean(tf.cast(tf.equal(predictions, labels), tf.float32))
            return loss, acc, grads

        @tf.function
        def train_step(images, labels, lr):
            loss, acc, grads = strategy.run(replica_grads, args=(images, labels))
            mean = tf.distribute.ReduceOp.MEAN
            grads = [strategy.reduce(mean, g, axis=None) for g in grads]
            grads, _ = tf.clip_by_global_norm(grads, clip)
            self.optimizer.apply(grads, lr)
            self.step.assign_add(1)
            return strategy.reduce(mean, loss, axis=None), strategy.reduce(mean, acc, axis=None)

        @tf.function(reduce_retracing=True)
        def eval_step(images, labels):
            logits = net(images, False)["logits"]
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            correct = tf.equal(tf.argmax(logits, axis=1, output_type=labels.dtype), labels)
            return tf.reduce_sum(ce), tf.reduce_sum(tf.cast(correct, tf.float32)), l2()

        self.train_step, self.eval_step, self.replicas = train_step, eval_step, replicas

    def evaluate(self, split: str) -> tuple:
        """(loss, accuracy) over a split: mean cross entropy + weight decay, as the original."""
        total_ce = correct = 0.0
        l2 = 0.0
        count = len(self.labels[split])
        for x, y in eval_batches(self.images[split], self.labels[split], EVAL_BATCH,
                                 standardize=True):
            ce, right, l2 = self.eval_step(x, y)
            total_ce += float(ce)
            correct += float(right)
        return total_ce / count + self.args.weight_decay * float(l2), correct / count

    def _eval_line(self, split, epoch, lr, loss, acc, secs):
        self.log("Evaluation on {} data\nepoch={:<6d} step={:<6d} loss={:<6f} "
                 "learning_rate={:<8.6f} {}_accuracy={:<8.6f} secs={:<10.2f}".format(
                     split, epoch, int(self.step.numpy()), loss, lr, split, acc, secs))

    def _check_resume(self) -> None:
        """A model_dir holding another architecture's checkpoints is refused, not resumed."""
        saved = self.out_dir / "hparams.json"
        if self.checkpointer.latest() is None or not saved.is_file():
            return
        try:
            old = json.loads(saved.read_text())
        except json.JSONDecodeError:
            return
        if {k: old.get(k) for k in ("conv_dag", "reduc_dag")} != {
                "conv_dag": self.dag.conv, "reduc_dag": self.dag.reduc}:
            raise ConfigError(f"--model_dir={self.args.model_dir}: holds checkpoints of another "
                              f"architecture (its hparams.json); use a new --model_dir")
        for key in ("N", "filters", "dataset", "use_aux_head"):
            if key in old and old[key] != getattr(self.args, key):
                raise ConfigError(f"--model_dir={self.args.model_dir}: its checkpoints were "
                                  f"trained with --{key}={old[key]}, not "
                                  f"{getattr(self.args, key)}; use a new --model_dir")

    def _log_variables(self):
        total = 0
        for v in sorted(self.variables, key=lambda v: v.name):
            size = int(np.prod(v.shape))
            self.log("Weight    {}\tshape    {}\tsize    {}".format(
                v.name[:-2].ljust(80), str(v.shape).ljust(20), size))
            total += size
        self.log("Trainable Variables Total size: {}".format(total))

    def train(self) -> dict:
        args, bpe = self.args, self.batches_per_epoch
        self._check_resume()
        params = {**vars(args), "num_classes": NUM_CLASSES[args.dataset],
                  "total_steps": self.total_steps, "batches_per_epoch": bpe,
                  "seed": int(self.seed.numpy()), **self.dag.to_json()}
        atomic_write_text(self.out_dir / "hparams.json", json.dumps(params, indent=1))
        # The cell being trained, for test_cifar10.sh (make nao-test passes it back as --arch).
        write_dag_json(self.out_dir / "arch.json", self.dag)
        self._log_variables()
        if self.replicas > 1:
            self.log("Replicas: {} (MirroredStrategy over {})".format(
                self.replicas, ", ".join(self.strategy.extended.worker_devices)))
        restored = self.checkpointer.restore_latest()
        start = int(self.step.numpy())
        if restored:
            self.log("Resuming from {} (global step {}, epoch {})".format(
                restored, start, start // bpe))
        metrics = MetricsCSV(self.out_dir / "metrics.csv",
                             resume_from_epoch=start // bpe if restored else None)
        end = args.train_epochs * bpe
        seed = int(self.seed.numpy())
        batches = stream_batches(self.images["train"], self.labels["train"], args.batch_size,
                                 seed, start, args.cutout_size, standardize=True)
        if self.replicas > 1:
            batches = self.strategy.experimental_distribute_dataset(batches)
        self.log("Starting Session")
        started, losses, accs = time.time(), [], []
        best_valid = None
        rows = metrics.rows()
        if rows and "valid_acc" in rows[0]:
            best_valid = max((float(r["valid_acc"]) for r in rows if r["valid_acc"]),
                             default=None)
        last = {}
        bar = progress(total=end - start, desc="train_cifar")
        for step, (x, y) in zip(range(start, end), batches):
            lr = learning_rate(args, step, bpe, len(self.labels["train"]))
            loss, acc = self.train_step(x, y, tf.constant(lr, tf.float32))
            losses.append(float(loss))
            accs.append(float(acc))
            bar.update(1)
            done = step + 1
            epoch = done // bpe
            if done % LOG_EVERY == 0:
                self.log("epoch={:<6d} step={:<6d} loss={:<6f} learning_rate={:<8.4f} "
                         "training_accuracy={:<8.4f} mins={:<10.2f}".format(
                             epoch, done, float(loss), lr, float(acc),
                             (time.time() - started) / 60))
            if done % bpe == 0:
                row = {"epoch": epoch, "global_step": done, "lr": lr,
                       "train_loss": float(np.mean(losses)), "train_acc": float(np.mean(accs))}
                losses, accs = [], []
                if args.split_train_valid:
                    t = time.time()
                    v_loss, v_acc = self.evaluate("valid")
                    self._eval_line("valid", epoch, lr, v_loss, v_acc, time.time() - t)
                    row.update(valid_loss=v_loss, valid_acc=v_acc)
                    best_valid = v_acc if best_valid is None else max(best_valid, v_acc)
                row.update(test_loss=None, test_acc=None)  # the header has them from row 1
                if not args.final_test_only or done == end:
                    t = time.time()
                    t_loss, t_acc = self.evaluate("test")
                    self._eval_line("test", epoch, lr, t_loss, t_acc, time.time() - t)
                    row.update(test_loss=t_loss, test_acc=t_acc)
                metrics.write(row)
                self.checkpointer.save(done)
                last = row
        bar.close()
        if not last:  # resumed a finished run: report its last epoch
            rows = metrics.rows()
            if not rows:
                raise ConfigError(f"--model_dir={args.model_dir}: finished checkpoints but no "
                                  "metrics.csv; use a new --model_dir")
            last = {k: float(v) for k, v in rows[-1].items() if v}
        self.log("Training finished!")
        return self._finish(last, best_valid)

    def _finish(self, last: dict, best_valid) -> dict:
        args = self.args
        metrics = {"test_error_pct": 100.0 * (1.0 - last["test_acc"]),
                   "params_m": self.params_main / 1e6}
        if best_valid is not None:  # the search's number: 1 - the best valid accuracy
            metrics["valid_error_pct"] = 100.0 * (1.0 - best_valid)
        panels = [("accuracy", ("train_acc", "test_acc") + (
            ("valid_acc",) if args.split_train_valid else ())), ("loss", ("train_loss",))]
        dataset = "CIFAR-10" if args.dataset == "cifar10" else "CIFAR-100"
        return finish_run(
            self.out_dir, system="NAO", script="cnn/train_cifar.py", dataset=dataset,
            data_path=self.data_dir, metrics=metrics, config=vars(args), arch=args.arch,
            started=self.timer,
            plots=[CurvesPlot("metrics.csv", "learning_curve.png", tuple(panels),
                              title=f"NAO {args.arch} on {dataset}")],
            notes="params_m leaves the aux head out; the log's 'Trainable Variables Total size' "
                  "counts it, as the original's did")

    def test(self) -> float:
        restored = self.checkpointer.restore_latest()
        if restored is None:
            raise ConfigError(f"--model_dir={self.args.model_dir}: no checkpoint to test (train "
                              "it first with the same --model_dir)")
        self._log_variables()
        self.log("Restored {}".format(restored))
        t = time.time()
        loss, acc = self.evaluate("test")
        self.log("Evaluation on test data\nloss={:<6f} test_accuracy={:<8.6f} "
                 "secs={:<10.2f}".format(loss, acc, time.time() - t))
        atomic_write_text(self.out_dir / "test_result.json", json.dumps(
            {"checkpoint": Path(restored).name, "global_step": int(self.step.numpy()),
             "test_loss": loss, "test_acc": acc}, indent=1) + "\n")
        return acc


def main(argv=None, mode=None) -> int:
    args = build_parser().parse_args(argv)
    mode = mode or args.mode
    if args.seed is not None:  # a seeded run repeats itself exactly
        tf.config.experimental.enable_op_determinism()
    try:
        run = Run(args, "test.log" if mode == "test" else "train.log")
        run.test() if mode == "test" else run.train()
    except NasreproError as err:
        print(f"{Path(sys.argv[0]).name}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

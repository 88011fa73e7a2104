"""The weight-sharing child of the NAO-WS search (renqianluo/NAO NAO-WS/cnn/model_search.py:
its train() and valid()): ENAS's micro child in search mode (nasrepro.tf.micro_child), trained on
one architecture drawn from the pool at every step, and each pool architecture scored on one
validation batch.

- Training: the architecture of a step is drawn inside the compiled step, uniformly from the pool
  (--child_sample_policy=uniform, the script's) or from a categorical with the pool's logits (the
  other policies). Every child variable is trained, the aux head's too, with the loss, L2 and
  (no-op) clipping of the fixed child (nasrepro.tf.child_steps).
- Scoring (valid()): architecture i gets the i-th batch of `eval_batch_size` images of a stream
  that runs through the validation images in order and starts over at their end (the original's
  queue, rebuilt for every evaluation), so 1,000 architectures and 5,000 images of batches of
  500 give each batch to every tenth architecture. Search-mode cells run as in training (batch
  statistics, dropout) unless --child_search_eval_inference.

The child is checkpointed in <output_dir>/child after every epoch (the original's model_dir), with
its optimizer, global step and random generator, so a killed search resumes from the epoch."""
import time

import numpy as np

from model import build_child
from nasrepro.complexity.tf_count import count_params
from nasrepro.errors import ConfigError
from nasrepro.tf.checkpoint import TFCheckpointer
from nasrepro.tf.child_steps import child_learning_rate, make_child_steps, train_child_epoch
from nasrepro.tf.cifar_input import num_batches
from nasrepro.tf.optimizers import NesterovMomentum
from nasrepro.tf.startup import import_tensorflow
from nasrepro.tf.training import count_correct

tf = import_tensorflow()
LOG_EVERY = 50  # steps between the child's log lines, hard-coded in the original
ARC_LENGTH = 8  # ints per node pair of cells: (x_id, x_op, y_id, y_op) x normal and reduction


class SharedChild:
    """The search child, its optimizer and training data. `pool` is the architecture pool of
    the current round (lists of 8 * num_cells ints)."""

    def __init__(self, args, images, labels, seed: int, directory, log):
        self.args, self.log = args, log
        self.images, self.labels = images, labels
        self.seed_value = seed
        self.seed = tf.Variable(seed, dtype=tf.int64, trainable=False, name="seed")
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.generator = tf.random.Generator.from_seed(seed)
        # Scoring draws its dropout from its own generator, reseeded from the global step, so
        # it leaves the training generator alone: a search resumed after a scoring trains on
        # from the same random state as an uninterrupted one.
        self.score_generator = tf.random.Generator.from_seed(seed)
        arc_length = ARC_LENGTH * args.child_num_cells
        self.pool = tf.Variable(tf.zeros([1, arc_length], tf.int32), trainable=False,
                                shape=tf.TensorShape([None, arc_length]), name="arch_pool")
        self.pool_logits = tf.Variable(tf.zeros([1]), trainable=False,
                                       shape=tf.TensorShape([None]), name="arch_pool_logits")
        self.uniform = args.child_sample_policy in (None, "uniform")
        log("-" * 80)
        log("Build model child")
        self.child = build_child(args, search_eval_training=not args.child_search_eval_inference)
        if args.child_use_aux_heads:
            log("Using aux_head at layer {}".format(self.child.aux_head_layer))
            log("Aux head uses {} params".format(count_params(self.child.aux_head)))
        variables = list(self.child.trainable_variables)
        log("Model has {} params".format(count_params(self.child)))
        self.optimizer = NesterovMomentum(variables, momentum=0.9, name="child_momentum")
        self.train_step, _ = make_child_steps(
            self.child, variables, self.optimizer, self.step, self.generator, args.child_l2_reg,
            clip_bound=args.child_grad_bound if args.child_clip_gradients else None,
            arc_fn=self._sample_arc)
        self.checkpointer = TFCheckpointer(directory, max_to_keep=2, child=self.child,
                                           optimizer=self.optimizer, global_step=self.step,
                                           seed=self.seed, generator=self.generator)
        self.batches = num_batches(len(labels["train"]), args.child_batch_size)
        self.total_steps = args.child_num_epochs * self.batches

    def _sample_arc(self):
        size = tf.shape(self.pool)[0]
        if self.uniform:
            index = self.generator.uniform([], 0, size, dtype=tf.int32)
        else:
            # tf.multinomial in the original: the policy's values are taken as logits.
            seed = self.generator.make_seeds(1)[:, 0]
            index = tf.random.stateless_categorical(self.pool_logits[None], 1, seed)[0, 0]
        return tf.gather(self.pool, index)

    @tf.function(autograph=False)
    def _score_step(self, images, labels, arc):
        logits, _ = self.child(images, training=False, generator=self.score_generator, arc=arc)
        return count_correct(logits, labels)

    def set_pool(self, pool, logits=None) -> None:
        pool = np.asarray(pool, dtype=np.int32)
        if pool.ndim != 2 or len(pool) == 0:
            raise ConfigError(f"the architecture pool has shape {pool.shape}, expected "
                              "(architectures >= 1, ints per architecture)")
        self.pool.assign(pool)
        self.pool_logits.assign(np.zeros(len(pool), np.float32) if logits is None
                                else np.asarray(logits, np.float32))

    @property
    def epoch(self) -> int:
        return int(self.step.numpy()) // self.batches

    def restore(self):
        return self.checkpointer.restore_latest()

    def save(self) -> None:
        self.checkpointer.save(int(self.step.numpy()))

    def train_until(self, end_epoch: int, epoch_callback=None) -> None:
        """Trains epoch by epoch up to `end_epoch`, a checkpoint after each; the learning rate
        follows the whole run's schedule (cosine restarts over the global epoch)."""
        args = self.args
        started = time.time()
        self.log("-" * 80)
        self.log("Starting session")
        for epoch in range(self.epoch, end_epoch):
            lr = child_learning_rate(args, epoch)
            train = train_child_epoch(
                self.train_step, self.step, self.images["train"], self.labels["train"],
                batch_size=args.child_batch_size, seed=self.seed_value, epoch=epoch,
                num_epochs=args.child_num_epochs, cutout_size=args.child_cutout_size, lr=lr,
                total_steps=self.total_steps, batches_per_epoch=self.batches, log=self.log,
                log_every=LOG_EVERY, started=started)
            # The row first: a kill before the checkpoint retrains the epoch, and the resumed
            # run drops rows past the checkpoint's epoch.
            if epoch_callback is not None:
                epoch_callback({"epoch": epoch + 1, "global_step": int(self.step.numpy()),
                                "lr": lr, **train})
            self.save()

    def score(self, pool) -> list:
        """valid(): the accuracy of every architecture of `pool` on its validation batch."""
        images, labels = self.images["valid"], self.labels["valid"]
        total, batch = len(labels), self.args.child_eval_batch_size
        started = time.time()
        self.log("-" * 80)
        self.log("Starting session")
        accuracies = []
        self.score_generator.reset_from_seed(self.seed_value * 1_000_003 + int(self.step.numpy()))
        for i, arch in enumerate(pool):
            index = (i * batch + np.arange(batch)) % total
            correct = self._score_step(tf.constant(images[index]), tf.constant(labels[index]),
                                       tf.constant(arch, tf.int32))
            accuracies.append(int(correct) / batch)
        self.log(" valid_acc={:<6.6f}".format(np.mean(accuracies))
                 + " mins={:<10.2f}".format((time.time() - started) / 60))
        return accuracies

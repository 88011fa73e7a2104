"""The compiled training and evaluation steps of a TF child network (ENAS's micro and macro
children, NAO-WS's child): softmax cross entropy plus 0.4 x the aux head's, plus
`l2 * sum(w^2)` over the optimized variables; the global gradient norm before clipping (what
the originals logged); per-tensor clipping only when asked (the originals' clip_mode="norm" built
clipped gradients and applied the unclipped ones); one optimizer step and the global step.

`arc_fn` is called inside the compiled step and gives the architecture of this step: a
controller's sample (ENAS), an architecture drawn from a pool (NAO-WS), or None (a fixed child)."""
import time
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from ..runs.progress import progress
from ..schedules import cosine_restarts_lr, staircase_lr
from .cifar_input import train_batches
from .training import (clip_each_by_norm, count_correct, global_norm, l2_sum_of_squares,
                       sparse_softmax_ce)

AUX_LOSS_WEIGHT = 0.4


def any_batch_size(fn):
    """`fn` compiled once for every batch size: the signature is taken from the first call
    with the batch dimension left open, so an epoch's smaller last batch (or a smaller eval
    batch) does not trace the whole child network a second time (a minute or more per step
    function on a CPU)."""
    compiled = []

    def call(images, labels, *rest):
        if not compiled:
            spec = [tf.TensorSpec([None, *images.shape[1:]], images.dtype),
                    tf.TensorSpec([None], labels.dtype)]
            spec += [tf.TensorSpec(tf.convert_to_tensor(r).shape, tf.convert_to_tensor(r).dtype)
                     for r in rest]
            compiled.append(tf.function(fn, input_signature=spec, autograph=False))
        return compiled[0](images, labels, *rest)
    return call


def make_child_steps(child, variables, optimizer, step: tf.Variable,
                     generator: tf.random.Generator, l2_reg: float,
                     clip_bound: Optional[float] = None,
                     arc_fn: Callable[[], Optional[tf.Tensor]] = lambda: None):
    """(train_step(images, labels, lr, drop_path_progress) -> (loss, grad_norm, correct),
    eval_step(images, labels) -> correct), both tf.functions. `loss` is the main head's cross
    entropy, without the aux and L2 terms, as the originals logged it."""
    variables = list(variables)
    l2 = float(l2_reg)

    @any_batch_size
    def train_step(images, labels, lr, drop_path_progress):
        arc = arc_fn()
        with tf.GradientTape() as tape:
            logits, aux_logits = child(images, training=True, generator=generator, arc=arc,
                                       drop_path_progress=drop_path_progress)
            loss = sparse_softmax_ce(logits, labels)
            train_loss = loss
            if aux_logits is not None:
                train_loss += AUX_LOSS_WEIGHT * sparse_softmax_ce(aux_logits, labels)
            total = train_loss + l2 * l2_sum_of_squares(variables)
        grads = tape.gradient(total, variables)
        grad_norm = global_norm(grads)
        if clip_bound is not None:
            grads = clip_each_by_norm(grads, clip_bound)
        optimizer.apply(grads, lr)
        step.assign_add(1)
        return loss, grad_norm, count_correct(logits, labels)

    @any_batch_size
    def eval_step(images, labels):
        logits, _ = child(images, training=False, generator=generator, arc=arc_fn())
        return count_correct(logits, labels)

    return train_step, eval_step


def child_log_line(epoch, global_step, loss, lr, grad_norm, tr_acc, batch_size, minutes):
    """The original's per-step line (no space between the epoch field and ch_step)."""
    return ("epoch={:<6d}".format(epoch) + "ch_step={:<6d}".format(global_step)
            + " loss={:<8.6f}".format(loss) + " lr={:<8.4f}".format(lr)
            + " |g|={:<8.4f}".format(grad_norm)
            + " tr_acc={:<3d}/{:>3d}".format(tr_acc, batch_size)
            + " mins={:<10.2f}".format(minutes))


def accuracy(eval_step, images, labels, batch_size: int) -> float:
    """Fraction of `images` eval_step classifies right, each image once, in batches."""
    from .cifar_input import eval_batches
    correct = sum(int(eval_step(x, y)) for x, y in eval_batches(images, labels, batch_size))
    return correct / len(labels)


def child_learning_rate(flags, epoch: int) -> float:
    """The child's learning rate in `epoch` from the --child_lr* flags both ENAS and NAO-WS
    have: cosine with warm restarts (--child_lr_cosine) or a staircase decay."""
    if flags.child_lr_cosine:
        return cosine_restarts_lr(epoch, flags.child_lr_max, flags.child_lr_min,
                                  flags.child_lr_T_0, flags.child_lr_T_mul)
    return staircase_lr(epoch, flags.child_lr, flags.child_lr_dec_rate, flags.child_lr_dec_every)


def train_child_epoch(train_step, step: tf.Variable, images, labels, *, batch_size: int,
                      seed: int, epoch: int, num_epochs: int, cutout_size, lr: float,
                      total_steps: int, batches_per_epoch: int, log, log_every: int,
                      started: float) -> dict:
    """One epoch of train_step over the augmented training batches of (seed, epoch), with the
    drop-path progress min(1, (step + 1) / total_steps) and the child line every `log_every`
    steps (minutes counted from `started`). Returns the epoch's train_loss and train_acc."""
    losses, correct, seen = [], 0, 0
    lr_t = tf.constant(lr, tf.float32)
    batches = train_batches(images, labels, batch_size, seed, epoch, cutout_size)
    for x, y in progress(batches, total=batches_per_epoch, desc=f"epoch {epoch + 1}/{num_epochs}"):
        keep_progress = min(1.0, (int(step.numpy()) + 1) / total_steps)
        loss, grad_norm, tr_acc = train_step(x, y, lr_t, tf.constant(keep_progress, tf.float32))
        losses.append(float(loss))
        correct += int(tr_acc)
        seen += int(y.shape[0])
        global_step = int(step.numpy())
        if global_step % log_every == 0:
            log(child_log_line(global_step // batches_per_epoch, global_step, float(loss), lr,
                               float(grad_norm), int(tr_acc), batch_size,
                               (time.time() - started) / 60))
    return {"train_loss": float(np.mean(losses)), "train_acc": correct / max(seen, 1)}

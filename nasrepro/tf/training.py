"""Pieces of the TF codes' child training step: the L2 term, gradient norms and clipping.

ENAS and NAO-WS add `l2 * sum(w^2)` (not halved) over the optimized variables to the loss,
log the global gradient norm before clipping, and meant to clip each tensor's norm."""
import tensorflow as tf


def l2_sum_of_squares(variables) -> tf.Tensor:
    return tf.add_n([tf.reduce_sum(tf.square(v)) for v in variables])


def global_norm(grads) -> tf.Tensor:
    return tf.linalg.global_norm([g for g in grads if g is not None])


def clip_each_by_norm(grads, bound: float) -> list:
    """Clip every gradient tensor to norm `bound` (what clip_mode="norm" was meant to do)."""
    return [None if g is None else tf.clip_by_norm(g, bound) for g in grads]


def sparse_softmax_ce(logits, labels) -> tf.Tensor:
    """Mean softmax cross entropy against integer labels."""
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                                         logits=logits))


def count_correct(logits, labels) -> tf.Tensor:
    predictions = tf.argmax(logits, axis=1, output_type=labels.dtype)
    return tf.reduce_sum(tf.cast(tf.equal(predictions, labels), tf.int32))

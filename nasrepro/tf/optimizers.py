"""The two TF1 optimizers the ENAS family used, as small checkpointable tf.Modules.

Written out rather than taken from Keras so that the update rules are exactly TF1's
(MomentumOptimizer with use_nesterov, AdamOptimizer with its bias-corrected step size) and
their slots are plain tf.Variables that tf.train.Checkpoint saves with the model."""
import tensorflow as tf


class _SlotOptimizer(tf.Module):
    def __init__(self, variables, slot_names, name):
        super().__init__(name=name)
        self.params = list(variables)
        with self.name_scope:
            self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="iterations")
            self.slots = {
                slot: [tf.Variable(tf.zeros_like(v), trainable=False, name=f"{slot}_{i}")
                       for i, v in enumerate(self.params)]
                for slot in slot_names}

    def _check(self, grads):
        if len(grads) != len(self.params):
            raise ValueError(f"{self.name}: got {len(grads)} gradients for "
                             f"{len(self.params)} variables")


class Momentum(_SlotOptimizer):
    """TF1 MomentumOptimizer: a = m*a + g; w -= lr * a, or with `nesterov`
    w -= lr * (g + m*a)."""

    def __init__(self, variables, momentum: float = 0.9, nesterov: bool = False,
                 name="momentum"):
        super().__init__(variables, ("accumulator",), name)
        self.momentum, self.nesterov = momentum, nesterov

    def apply(self, grads, learning_rate):
        self._check(grads)
        for var, acc, grad in zip(self.params, self.slots["accumulator"], grads):
            if grad is None:
                continue
            acc.assign(acc * self.momentum + grad)
            step = grad + self.momentum * acc if self.nesterov else acc
            var.assign_sub(learning_rate * step)
        self.iterations.assign_add(1)


class NesterovMomentum(Momentum):
    """TF1 MomentumOptimizer(use_nesterov=True) (ENAS, NAO-WS)."""

    def __init__(self, variables, momentum: float = 0.9, name="momentum"):
        super().__init__(variables, momentum, nesterov=True, name=name)


class Adam(_SlotOptimizer):
    """TF1 AdamOptimizer: lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t); w -= lr_t * m / (sqrt(v) + eps)."""

    def __init__(self, variables, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8, name="adam"):
        super().__init__(variables, ("m", "v"), name)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon

    def apply(self, grads, learning_rate):
        self._check(grads)
        self.iterations.assign_add(1)
        t = tf.cast(self.iterations, tf.float32)
        lr_t = learning_rate * tf.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)
        for var, m, v, grad in zip(self.params, self.slots["m"], self.slots["v"], grads):
            if grad is None:
                continue
            m.assign(self.beta1 * m + (1.0 - self.beta1) * grad)
            v.assign(self.beta2 * v + (1.0 - self.beta2) * tf.square(grad))
            var.assign_sub(lr_t * m / (tf.sqrt(v) + self.epsilon))

"""The plain LSTM cell of ENAS's controllers (TF1 `common_ops.lstm`).

One weight matrix on concat([x, h]) with no bias; gate order i, f, o, g:
i, f, o = sigmoid, g = tanh; c' = i*g + f*c; h' = o*tanh(c')."""
import tensorflow as tf


class LSTMCell(tf.Module):
    def __init__(self, input_size: int, hidden_size: int, init_range: float = 0.1, name=None):
        super().__init__(name=name)
        self.input_size, self.hidden_size = input_size, hidden_size
        with self.name_scope:
            self.w = tf.Variable(
                tf.random.uniform([input_size + hidden_size, 4 * hidden_size],
                                  -init_range, init_range), name="w")

    def __call__(self, x, c, h):
        """x [batch, input_size], c and h [batch, hidden_size] -> (new c, new h)."""
        gates = tf.matmul(tf.concat([x, h], axis=1), self.w)
        i, f, o, g = tf.split(gates, 4, axis=1)
        c = tf.sigmoid(i) * tf.tanh(g) + tf.sigmoid(f) * c
        h = tf.sigmoid(o) * tf.tanh(c)
        return c, h

"""The ENAS micro controller (melodyguan/enas, src/cifar10/micro_controller.py): an LSTM that
samples a normal and a reduction cell, 4 decisions per node (input index, op, input index, op),
with pointer attention over the cell's earlier nodes for the indices.

`sample(generator)` returns the 8*num_cells ints in `--child_fixed_arc` order, the summed
negative log-probability of the sampled decisions (the original's `sample_log_prob`) and the
summed categorical entropy. All Python loops run over a fixed number of decisions, so a
tf.function traces one unrolled graph."""
import numpy as np
import tensorflow as tf

from nasrepro.tf.lstm import LSTMCell

INIT_RANGE = 0.1


def uniform_variable(shape, name: str) -> tf.Variable:
    return tf.Variable(tf.random.uniform(shape, -INIT_RANGE, INIT_RANGE), name=name)


def shape_logits(logits, temperature, tanh_constant):
    """The original's order: divide by the temperature, then C * tanh (each only if set)."""
    if temperature is not None:
        logits = logits / temperature
    if tanh_constant is not None:
        logits = tanh_constant * tf.tanh(logits)
    return logits


def decide(logits, seed):
    """Sample one category per row of `logits` [rows, n] with a stateless seed [2].

    Returns (choice int32 [rows], -log p(choice) [rows])."""
    choice = tf.reshape(
        tf.random.stateless_categorical(logits, 1, seed=seed, dtype=tf.int32), [-1])
    neg_log_prob = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=choice, logits=logits)
    return choice, neg_log_prob


def full_entropy(logits):
    """Entropy of each row's softmax, without gradient (it only enters the reward)."""
    return tf.stop_gradient(tf.nn.softmax_cross_entropy_with_logits(
        labels=tf.nn.softmax(logits), logits=logits))


class MicroController(tf.Module):
    def __init__(self, num_cells: int = 5, num_branches: int = 5, lstm_size: int = 64,
                 tanh_constant=None, op_tanh_reduce: float = 1.0, temperature=None,
                 name="controller"):
        super().__init__(name=name)
        self.num_cells, self.num_branches, self.lstm_size = num_cells, num_branches, lstm_size
        self.tanh_constant, self.op_tanh_reduce = tanh_constant, op_tanh_reduce
        self.temperature = temperature
        size, ops = lstm_size, num_branches
        with self.name_scope:
            self.lstm = LSTMCell(size, size, init_range=INIT_RANGE, name="lstm")
            self.g_emb = uniform_variable([1, size], "g_emb")
            self.w_emb = uniform_variable([ops, size], "w_emb")
            self.w_soft = uniform_variable([size, ops], "w_soft")
            # Starts strongly in favour of the two sep convs (tanh saturates at +C for them).
            self.b_soft = tf.Variable(
                np.array([[10.0, 10.0] + [0.0] * (ops - 2)], np.float32), name="b_soft")
            self.w_attn_1 = uniform_variable([size, size], "w_attn_1")
            self.w_attn_2 = uniform_variable([size, size], "w_attn_2")
            self.v_attn = uniform_variable([size, 1], "v_attn")
        # A fixed extra bias on the normal cell's op logits only (after tanh scaling).
        self.b_soft_no_learn = tf.constant(
            np.array([[0.25, 0.25] + [-0.25] * (ops - 2)], np.float32))

    @property
    def arc_length(self) -> int:
        return 8 * self.num_cells

    def sample(self, generator: tf.random.Generator) -> dict:
        seeds = generator.make_seeds(self.arc_length)  # one stateless seed per decision
        zeros = tf.zeros([1, self.lstm_size])
        per_cell = 4 * self.num_cells
        normal = self._sample_cell(seeds[:, :per_cell], zeros, zeros, normal=True)
        # The reduction sampler continues from the normal sampler's last LSTM state.
        reduce = self._sample_cell(seeds[:, per_cell:], normal["c"], normal["h"], normal=False)
        return dict(arc=tf.concat([normal["arc"], reduce["arc"]], axis=0),
                    log_prob=normal["log_prob"] + reduce["log_prob"],
                    entropy=normal["entropy"] + reduce["entropy"])

    def _sample_cell(self, seeds, c, h, normal: bool) -> dict:
        # Input nodes 0 and 1: two LSTM steps on g_emb; their anchors (the inputs fed back when
        # they are chosen) are zeros, their attention keys come from these steps.
        anchors, keys = [], []
        for _ in range(2):
            c, h = self.lstm(self.g_emb, c, h)
            anchors.append(tf.zeros_like(h))
            keys.append(tf.matmul(h, self.w_attn_1))
        arc, log_probs, entropies = [], [], []
        op_tanh = (None if self.tanh_constant is None
                   else self.tanh_constant / self.op_tanh_reduce)
        for node in range(2, self.num_cells + 2):
            slot = 4 * (node - 2)
            node_keys, node_anchors = tf.concat(keys, axis=0), tf.concat(anchors, axis=0)
            inputs = self.g_emb
            indices = []
            for i in range(2):
                c, h = self.lstm(inputs, c, h)
                query = tf.tanh(node_keys + tf.matmul(h, self.w_attn_2))
                logits = tf.reshape(tf.matmul(query, self.v_attn), [1, node])
                logits = shape_logits(logits, self.temperature, self.tanh_constant)
                index, neg_log_prob = decide(logits, seeds[:, slot + 2 * i])
                indices.append(index)
                log_probs.append(neg_log_prob)
                entropies.append(full_entropy(logits))
                inputs = tf.gather(node_anchors, index)
            ops = []
            for i in range(2):
                c, h = self.lstm(inputs, c, h)
                logits = tf.matmul(h, self.w_soft) + self.b_soft
                logits = shape_logits(logits, self.temperature, op_tanh)
                if normal:
                    logits = logits + self.b_soft_no_learn
                op, neg_log_prob = decide(logits, seeds[:, slot + 2 * i + 1])
                ops.append(op)
                log_probs.append(neg_log_prob)
                entropies.append(full_entropy(logits))
                inputs = tf.gather(self.w_emb, op)
            arc += [indices[0], ops[0], indices[1], ops[1]]
            # One more step on the last op's embedding gives this node's anchor and key.
            c, h = self.lstm(inputs, c, h)
            anchors.append(h)
            keys.append(tf.matmul(h, self.w_attn_1))
        return dict(arc=tf.concat(arc, axis=0), c=c, h=h,
                    log_prob=tf.reduce_sum(tf.concat(log_probs, axis=0)),
                    entropy=tf.reduce_sum(tf.concat(entropies, axis=0)))

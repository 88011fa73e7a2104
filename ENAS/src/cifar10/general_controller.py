"""The ENAS macro controller (melodyguan/enas, src/cifar10/general_controller.py,
`search_whole_channels=True`): per layer an op id, then one skip bit per earlier layer, sampled
from attention over the earlier layers' anchors.

`sample(generator)` returns the arc in codec order (op, then k bits for layer k), the summed
negative log-probability, the original's entropy approximation (-log p * p of the sampled
decision, not the full entropy), the number of skips and the skip penalty: per layer
sum(sigmoid(logits) * log(sigmoid(logits) / [1 - skip_target, skip_target])), averaged over the
layers that have skip bits. The original calls it a KL divergence; it is not a normalized one."""
import tensorflow as tf

from nasrepro.tf.lstm import LSTMCell
from src.cifar10.micro_controller import INIT_RANGE, decide, shape_logits, uniform_variable


class GeneralController(tf.Module):
    def __init__(self, num_layers: int, num_branches: int = 6, lstm_size: int = 64,
                 tanh_constant=None, temperature=None, skip_target: float = 0.8,
                 skip_weight: float = 0.0, name="controller"):
        super().__init__(name=name)
        self.num_layers, self.num_branches, self.lstm_size = num_layers, num_branches, lstm_size
        self.tanh_constant, self.temperature = tanh_constant, temperature
        self.skip_target, self.skip_weight = skip_target, skip_weight
        size = lstm_size
        with self.name_scope:
            self.lstm = LSTMCell(size, size, init_range=INIT_RANGE, name="lstm")
            self.g_emb = uniform_variable([1, size], "g_emb")
            self.w_emb = uniform_variable([num_branches, size], "w_emb")
            self.w_soft = uniform_variable([size, num_branches], "w_soft")
            self.w_attn_1 = uniform_variable([size, size], "w_attn_1")
            self.w_attn_2 = uniform_variable([size, size], "w_attn_2")
            self.v_attn = uniform_variable([size, 1], "v_attn")

    @property
    def arc_length(self) -> int:
        return self.num_layers + self.num_layers * (self.num_layers - 1) // 2

    def sample(self, generator: tf.random.Generator) -> dict:
        layers = self.num_layers
        seeds = generator.make_seeds(2 * layers)  # op and skip-bits seed per layer
        targets = tf.constant([[1.0 - self.skip_target, self.skip_target]])
        c = h = tf.zeros([1, self.lstm_size])
        inputs = self.g_emb
        anchors, keys = [], []
        arc, log_probs, entropies, skip_counts, penalties = [], [], [], [], []
        for k in range(layers):
            c, h = self.lstm(inputs, c, h)
            logits = shape_logits(tf.matmul(h, self.w_soft), self.temperature,
                                  self.tanh_constant)
            op, neg_log_prob = decide(logits, seeds[:, 2 * k])
            arc.append(op)
            log_probs.append(tf.reduce_sum(neg_log_prob))
            entropies.append(_approx_entropy(neg_log_prob))
            inputs = tf.gather(self.w_emb, op)

            c, h = self.lstm(inputs, c, h)
            if k > 0:
                query = tf.tanh(tf.concat(keys, axis=0) + tf.matmul(h, self.w_attn_2))
                query = tf.matmul(query, self.v_attn)  # [k, 1]
                logits = shape_logits(tf.concat([-query, query], axis=1), self.temperature,
                                      self.tanh_constant)
                bits, neg_log_prob = decide(logits, seeds[:, 2 * k + 1])
                arc.append(bits)
                log_probs.append(tf.reduce_sum(neg_log_prob))
                entropies.append(_approx_entropy(neg_log_prob))
                skip_prob = tf.sigmoid(logits)
                penalties.append(tf.reduce_sum(skip_prob * tf.math.log(skip_prob / targets)))
                chosen = tf.cast(tf.reshape(bits, [1, k]), tf.float32)
                skip_counts.append(tf.reduce_sum(bits))
                # Next input: mean of the chosen layers' anchors (1 + count: never divide by 0).
                inputs = tf.matmul(chosen, tf.concat(anchors, axis=0)) / (
                    1.0 + tf.reduce_sum(chosen))
            else:
                inputs = self.g_emb
            anchors.append(h)
            keys.append(tf.matmul(h, self.w_attn_1))

        skip_count = tf.add_n(skip_counts) if skip_counts else tf.constant(0, tf.int32)
        possible = layers * (layers - 1) // 2
        return dict(
            arc=tf.concat(arc, axis=0),
            log_prob=tf.add_n(log_probs),
            entropy=tf.add_n(entropies),
            skip_count=skip_count,
            skip_penalty=(tf.reduce_mean(tf.stack(penalties)) if penalties
                          else tf.constant(0.0)),
            skip_rate=tf.cast(skip_count, tf.float32) / float(max(possible, 1)))


def _approx_entropy(neg_log_prob):
    """The original's per-decision "entropy": -log p * p of the sampled choice, summed."""
    return tf.stop_gradient(tf.reduce_sum(neg_log_prob * tf.exp(-neg_log_prob)))

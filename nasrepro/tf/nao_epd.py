"""NAO's encoder-predictor-decoder (the "controller", EPD) in TensorFlow 2.

Numerics of renqianluo/NAO's TF1 code: NAO-WS/cnn/controller.py, encoder/encoder.py and
decoder/decoder.py (the defaults here are NAO-WS/cnn/train_search.sh's), with parameters for
NAO/cnn/epd and NAO/rnn/epd.

Encoder: token embedding; `source_length // encoder_length` consecutive embeddings are
concatenated into one LSTM input; a TF1 `LSTMCell` (bias, forget bias 1, gates i j f o) with
dropout on its outputs (training only); every output L2-normalised (the attention memory);
their mean L2-normalised again is the architecture embedding.
Predictor: `mlp_num_layers` x (dense + ReLU), then dense(1) + sigmoid. Its dropout is off by
default because the originals call `tf.layers.dropout` without `training=` (NAO/rnn is the
exception: `mlp_dropout_active=True`).
Decoder: a TF1 `AttentionWrapper(LSTMCell, normalized BahdanauAttention, attention_layer_size=
None, output_attention=False)`: the LSTM reads [token embedding; previous step's attention
context] (zeros at the first step), its output is the attention query and the input of the
vocabulary projection (with bias), and the context it yields is fed to the next step. The state
starts at (c, h) = (arch_emb, arch_emb). Greedy decoding masks the token distribution per
position with a decode rule.
New architectures: each encoder output moves against the gradient of the predicted value
(h' = h - eta * df/dh, i.e. towards a lower predicted normalised error rate), is re-normalised,
re-pooled, and the decoder runs from the moved embedding over the moved memory.

Every weight is drawn in the constructor from a `tf.random.Generator` seeded with `seed`; the
same generator then draws the dropout masks, and its state is part of the model's checkpoint.

The decode rules are framework-free and live in nasrepro/archs/nao.py (the PyTorch controller of
NAO-V2 uses them too); the section "Framework-free pieces" here (symmetry augmentation, target
normalisation, teacher-forcing inputs) uses numpy only.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from ..archs.nao import (DEFAULT_NODES, CellBranchRule, allowed_tokens_mask,  # noqa: F401
                          collect_new_seqs)
from ..errors import ConfigError, DataError, check_value
from .layers import dropout
from .optimizers import Adam

SOS_ID = 0  # the decoder's start token (also the originals' EOS); never part of an architecture
MISSING_TARGET = -1.0  # a target equal to this is left out of the MSE (encoder.py compute_loss)


# ----------------------------------------------------------------------------------------------
# Framework-free pieces (numpy only).

DecodeRule = Union[CellBranchRule, Callable[[int], Iterable[int]], Sequence[Iterable[int]]]


def shift_right(seqs, sos_id: int = SOS_ID) -> np.ndarray:
    """Teacher-forcing decoder inputs: [SOS] + seq[:-1] for every row."""
    seqs = np.asarray(seqs)
    return np.concatenate([np.full_like(seqs[:, :1], sos_id), seqs[:, :-1]], axis=1)


def swap_branches(seqs, normal_nodes, reduce_nodes, nodes: int = DEFAULT_NODES,
                  branch_length: int = 2) -> np.ndarray:
    """Token-level `swap_node_inputs`: in row i, the two branches (branch_length tokens each)
    of node normal_nodes[i] of the normal cell and of node reduce_nodes[i] of the reduction cell
    change places. Rows are token sequences of 2 cells x nodes x 2 x branch_length tokens."""
    seqs = np.asarray(seqs)
    rows = len(seqs)
    cell_length = 2 * nodes * branch_length
    if seqs.ndim != 2 or seqs.shape[1] != 2 * cell_length:
        raise DataError(f"swap_branches: shape {seqs.shape}, expected (rows, {2 * cell_length})")
    perm = np.tile(np.arange(2 * cell_length), (rows, 1))
    index = np.arange(rows)[:, None]
    offsets = np.arange(branch_length)[None, :]
    for start, chosen in ((0, normal_nodes), (cell_length, reduce_nodes)):
        chosen = np.asarray(chosen).reshape(rows, 1)
        if chosen.size and (chosen.min() < 0 or chosen.max() >= nodes):
            raise DataError(f"swap_branches: node {int(chosen.max())}, expected 0..{nodes - 1}")
        first = start + 2 * branch_length * chosen + offsets
        second = first + branch_length
        perm[index, first], perm[index, second] = second, first
    return seqs[index, perm]


def symmetry_batch(seqs, rng: np.random.Generator, nodes: int = DEFAULT_NODES,
                   branch_length: int = 2, decoder_input_after_swap: bool = False):
    """One draw of NAO's --symmetry augmentation for a batch of sequences.

    Per row a node a of the normal cell and then a node b of the reduction cell are drawn
    uniformly (one vector of a's for the batch, then one of b's) and their branches swapped.
    Returns (encoder input, decoder input, decoder target): the encoder input and the decoder
    target are the swapped sequence; the decoder input is built from the sequence BEFORE the
    swap, as the original's input_fn does (`preprocess` runs before `generate_symmetry`), unless
    decoder_input_after_swap."""
    seqs = np.asarray(seqs)
    a = rng.integers(0, nodes, size=len(seqs))
    b = rng.integers(0, nodes, size=len(seqs))
    swapped = swap_branches(seqs, a, b, nodes, branch_length)
    decoder_input = shift_right(swapped if decoder_input_after_swap else seqs)
    return swapped, decoder_input, swapped


def normalize_targets(values: Sequence[float]) -> List[float]:
    """Min-max normalisation to [0, 1], as train_search.py does with the pool's error rates."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise DataError(f"normalize_targets: expected a non-empty flat list, got shape "
                        f"{values.shape}")
    low, high = float(values.min()), float(values.max())
    if not high > low:
        raise DataError(f"normalize_targets: all {len(values)} values equal {low}, nothing to "
                        f"normalise (the original divides by max - min = 0)")
    return ((values - low) / (high - low)).tolist()


# ----------------------------------------------------------------------------------------------
# Layers.

def _uniform(generator, shape, init_range, name):
    return tf.Variable(generator.uniform(shape, -init_range, init_range), name=name)


def _orthogonal(generator, shape, name):
    """tf.orthogonal_initializer (gain 1) on a 2-D shape: QR of a normal matrix, signs fixed
    by the diagonal of R, rows orthonormal when there are fewer rows than columns."""
    rows, cols = shape
    flat = generator.normal([max(rows, cols), min(rows, cols)])
    q, r = tf.linalg.qr(flat, full_matrices=False)
    q = q * tf.sign(tf.linalg.diag_part(r))
    if rows < cols:
        q = tf.transpose(q)
    return tf.Variable(q, name=name)


class TF1LSTMCell(tf.Module):
    """TF1 `tf.nn.rnn_cell.LSTMCell(num_units)`: [x, h] @ kernel + bias (zeros), gates i, j, f,
    o; c' = sigmoid(f + 1) * c + sigmoid(i) * tanh(j); h' = sigmoid(o) * tanh(c')."""

    def __init__(self, input_size: int, hidden_size: int, generator, init: str = "uniform",
                 init_range: float = 0.1, forget_bias: float = 1.0, name=None):
        super().__init__(name=name)
        self.hidden_size, self.forget_bias = hidden_size, forget_bias
        shape = [input_size + hidden_size, 4 * hidden_size]
        with self.name_scope:
            if init == "orthogonal":
                self.kernel = _orthogonal(generator, shape, "kernel")
            elif init == "uniform":
                self.kernel = _uniform(generator, shape, init_range, "kernel")
            else:
                raise ConfigError(f"LSTM init={init!r}: expected 'uniform' or 'orthogonal'")
            self.bias = tf.Variable(tf.zeros([4 * hidden_size]), name="bias")

    def __call__(self, x, c, h):
        gates = tf.matmul(tf.concat([x, h], axis=1), self.kernel) + self.bias
        i, j, f, o = tf.split(gates, 4, axis=1)
        c = tf.sigmoid(f + self.forget_bias) * c + tf.sigmoid(i) * tf.tanh(j)
        return c, tf.sigmoid(o) * tf.tanh(c)


class NormedBahdanauAttention(tf.Module):
    """TF1 `BahdanauAttention(num_units, memory, normalize=True)` with softmax alignments:
    keys = memory @ W_m, score_t = sum(g * v/|v| * tanh(keys_t + query @ W_q + b)),
    context = sum_t softmax(score)_t * memory_t. W_m, W_q, v ~ U(-r, r); g = sqrt(1/units);
    b = 0."""

    def __init__(self, num_units: int, memory_size: int, query_size: int, generator,
                 init_range: float = 0.1, name=None):
        super().__init__(name=name)
        with self.name_scope:
            self.memory_kernel = _uniform(generator, [memory_size, num_units], init_range,
                                          "memory_kernel")
            self.query_kernel = _uniform(generator, [query_size, num_units], init_range,
                                         "query_kernel")
            self.v = _uniform(generator, [num_units], init_range, "v")
            self.g = tf.Variable(math.sqrt(1.0 / num_units), name="g")
            self.b = tf.Variable(tf.zeros([num_units]), name="b")

    def keys(self, memory):
        return tf.einsum("btd,du->btu", memory, self.memory_kernel)

    def __call__(self, query, keys, memory):
        processed = tf.matmul(query, self.query_kernel)[:, None, :]
        normed_v = self.g * self.v * tf.math.rsqrt(tf.reduce_sum(tf.square(self.v)))
        score = tf.reduce_sum(normed_v * tf.tanh(keys + processed + self.b), axis=2)
        alignments = tf.nn.softmax(score, axis=-1)
        return tf.einsum("bt,btd->bd", alignments, memory)


class _DenseBias(tf.Module):
    """tf.layers.dense under the originals' scope initializer: kernel U(-r, r), bias zeros."""

    def __init__(self, in_features: int, out_features: int, generator, init_range: float,
                 name=None):
        super().__init__(name=name)
        with self.name_scope:
            self.kernel = _uniform(generator, [in_features, out_features], init_range, "kernel")
            self.bias = tf.Variable(tf.zeros([out_features]), name="bias")

    def __call__(self, x):
        return tf.matmul(x, self.kernel) + self.bias


def _l2_normalize(x):
    return tf.math.l2_normalize(x, axis=-1)


# ----------------------------------------------------------------------------------------------
# The model.

class EncoderPredictorDecoder(tf.Module):
    """NAO's controller. Defaults: NAO-WS/cnn/train_search.sh.

    NAO/cnn/epd/train.sh: vocab_size=21, source_length=60, encoder_length=20, emb_size=32,
    mlp_num_layers=0, mlp_dropout_first=True (inactive anyway).
    NAO/rnn/epd/train.sh: vocab_size=16, source_length=encoder_length=22, emb_size=96,
    mlp_hidden_size=200, mlp_dropout_active=True, decoder_init="uniform", mask_on="logits",
    and its own decode_rule.

    decode_rule: None (CellBranchRule for the decoder length and vocabulary), an object with
    `allowed(position)`, a function position -> tokens, or a per-position table.
    mask_on: "probs" multiplies the softmax by the mask (NAO, NAO-WS CNN; here the best allowed
    token always wins), "logits" multiplies the raw logits by it (NAO/rnn/epd's decoder, where a
    masked token's 0 can beat negative allowed logits)."""

    def __init__(self, vocab_size: int = 12, source_length: int = 40, encoder_length: int = 20,
                 emb_size: int = 48, hidden_size: int = 96, encoder_dropout: float = 0.1,
                 mlp_num_layers: int = 3, mlp_hidden_size: int = 100, mlp_dropout: float = 0.1,
                 mlp_dropout_active: bool = False, mlp_dropout_first: bool = False,
                 decoder_vocab_size: Optional[int] = None,
                 decoder_length: Optional[int] = None, decoder_dropout: float = 0.0,
                 attention_units: Optional[int] = None, decoder_init: str = "orthogonal",
                 init_range: float = 0.1, decode_rule: Optional[DecodeRule] = None,
                 mask_on: str = "probs", nodes: int = DEFAULT_NODES, seed: int = 0, name=None):
        super().__init__(name=name or "epd")
        decoder_vocab_size = vocab_size if decoder_vocab_size is None else decoder_vocab_size
        decoder_length = source_length if decoder_length is None else decoder_length
        attention_units = hidden_size if attention_units is None else attention_units
        check_value(encoder_length > 0 and source_length % encoder_length == 0, "EPD",
                    "encoder_length", encoder_length,
                    f"a positive divisor of source_length={source_length}")
        for what, rate in (("encoder_dropout", encoder_dropout), ("mlp_dropout", mlp_dropout),
                           ("decoder_dropout", decoder_dropout)):
            check_value(0.0 <= rate < 1.0, "EPD", what, rate, "a rate in [0, 1)")
        check_value(mask_on in ("probs", "logits"), "EPD", "mask_on", mask_on,
                    "'probs' or 'logits'")
        self.vocab_size, self.source_length, self.encoder_length = (
            vocab_size, source_length, encoder_length)
        self.emb_size, self.hidden_size = emb_size, hidden_size
        self.group = source_length // encoder_length
        self.encoder_dropout, self.decoder_dropout = encoder_dropout, decoder_dropout
        self.mlp_dropout, self.mlp_dropout_active = mlp_dropout, mlp_dropout_active
        self.mlp_dropout_first = mlp_dropout_first
        self.decoder_vocab_size, self.decoder_length = decoder_vocab_size, decoder_length
        self.mask_on, self.nodes, self.seed = mask_on, nodes, seed
        if decode_rule is None:
            decode_rule = CellBranchRule.for_sizes(decoder_length, decoder_vocab_size, nodes)
        # A table stays out of the module's attributes (tf.Module would wrap and track it).
        self.decode_rule = decode_rule if hasattr(decode_rule, "allowed") or callable(
            decode_rule) else None
        # Configuration, not a weight: a numpy array stays out of the checkpoint.
        self.allowed_mask = allowed_tokens_mask(decode_rule, decoder_length, decoder_vocab_size)

        with self.name_scope:
            self.generator = tf.random.Generator.from_seed(seed)
            gen = self.generator
            # Encoder and predictor.
            self.encoder_embedding = _uniform(gen, [vocab_size, emb_size], init_range,
                                              "encoder_embedding")
            self.encoder_cell = TF1LSTMCell(self.group * emb_size, hidden_size, gen, "uniform",
                                            init_range, name="encoder_lstm")
            self.mlp = []
            width = hidden_size
            for i in range(mlp_num_layers):
                self.mlp.append(_DenseBias(width, mlp_hidden_size, gen, init_range,
                                           name=f"mlp_{i}"))
                width = mlp_hidden_size
            self.regression = _DenseBias(width, 1, gen, init_range, name="regression")
            # Decoder.
            self.decoder_embedding = _uniform(gen, [decoder_vocab_size, hidden_size], init_range,
                                              "decoder_embedding")
            self.decoder_cell = TF1LSTMCell(2 * hidden_size, hidden_size, gen, decoder_init,
                                            init_range, name="decoder_lstm")
            self.attention = NormedBahdanauAttention(attention_units, hidden_size, hidden_size,
                                                     gen, init_range, name="attention")
            self.output_projection = _DenseBias(hidden_size, decoder_vocab_size, gen,
                                                init_range, name="output_projection")

    # -- encoder and predictor ------------------------------------------------------------------

    def encode(self, seqs, training: bool = False, dropout_rate: Optional[float] = None):
        """Token ids [N, source_length] -> (outputs [N, encoder_length, H], arch_emb [N, H]),
        both L2-normalised along H. In training the LSTM outputs are dropped at `dropout_rate`
        (default: the model's encoder_dropout)."""
        rate = self.encoder_dropout if dropout_rate is None else float(dropout_rate)
        x = tf.gather(self.encoder_embedding, seqs)
        x = tf.reshape(x, [-1, self.encoder_length, self.group * self.emb_size])
        batch = tf.shape(x)[0]
        c = h = tf.zeros([batch, self.hidden_size])
        outputs = []
        for t in range(self.encoder_length):
            c, h = self.encoder_cell(x[:, t], c, h)
            outputs.append(h)
        outputs = tf.stack(outputs, axis=1)
        if training and rate > 0:
            outputs = dropout(outputs, 1.0 - rate, self.generator)
        outputs = _l2_normalize(outputs)
        return outputs, self.pool(outputs)

    @staticmethod
    def pool(outputs):
        """The architecture embedding of (normalised) encoder outputs."""
        return _l2_normalize(tf.reduce_mean(outputs, axis=1))

    def predict_from_embedding(self, arch_emb, training: bool = False):
        """arch_emb [N, H] -> predicted values [N] in (0, 1)."""
        x = arch_emb
        drop = training and self.mlp_dropout_active and self.mlp_dropout > 0
        for layer in self.mlp:
            if drop and self.mlp_dropout_first:
                x = dropout(x, 1.0 - self.mlp_dropout, self.generator)
            x = tf.nn.relu(layer(x))
            if drop and not self.mlp_dropout_first:
                x = dropout(x, 1.0 - self.mlp_dropout, self.generator)
        return tf.sigmoid(self.regression(x))[:, 0]

    # -- decoder --------------------------------------------------------------------------------

    def _decoder_step(self, token_emb, context, c, h, keys, memory, training):
        c, h = self.decoder_cell(tf.concat([token_emb, context], axis=1), c, h)
        out = h
        if training and self.decoder_dropout > 0:
            out = dropout(out, 1.0 - self.decoder_dropout, self.generator)
        context = self.attention(out, keys, memory)
        return self.output_projection(out), context, c, h

    def teacher_forced_logits(self, memory, arch_emb, decoder_inputs, training: bool = False):
        """Logits [N, decoder_length, vocab] with decoder_inputs ([SOS] + target[:-1]) fed in."""
        keys = self.attention.keys(memory)
        embedded = tf.gather(self.decoder_embedding, decoder_inputs)
        context = tf.zeros_like(memory[:, 0, :])
        c = h = arch_emb
        logits = []
        for t in range(self.decoder_length):
            step, context, c, h = self._decoder_step(embedded[:, t], context, c, h, keys, memory,
                                                     training)
            logits.append(step)
        return tf.stack(logits, axis=1)

    def greedy_decode(self, memory, arch_emb):
        """Constrained greedy decoding from SOS -> token ids [N, decoder_length] (int32)."""
        keys = self.attention.keys(memory)
        batch = tf.shape(memory)[0]
        token = tf.fill([batch], tf.constant(SOS_ID, tf.int32))
        context = tf.zeros_like(memory[:, 0, :])
        c = h = arch_emb
        tokens = []
        for t in range(self.decoder_length):
            logits, context, c, h = self._decoder_step(
                tf.gather(self.decoder_embedding, token), context, c, h, keys, memory, False)
            allowed = tf.constant(self.allowed_mask[t])
            if self.mask_on == "probs":
                # The original multiplies the softmax by the mask and takes the argmax; -1 on
                # the masked tokens picks the same token and stays allowed if all probs underflow.
                scores = tf.where(allowed, tf.nn.softmax(logits), -1.0)
            else:
                scores = logits * tf.cast(allowed, logits.dtype)
            token = tf.argmax(scores, axis=-1, output_type=tf.int32)
            tokens.append(token)
        return tf.stack(tokens, axis=1)

    # -- losses ---------------------------------------------------------------------------------

    def l2_loss(self):
        """sum over trainable variables of ||v||^2 / 2 (tf.nn.l2_loss)."""
        return tf.add_n([tf.nn.l2_loss(v) for v in self.trainable_variables])

    def loss(self, seqs, targets, decoder_inputs, decoder_targets=None, training: bool = True,
             trade_off: float = 0.8, weight_decay: float = 1e-4,
             encoder_dropout: Optional[float] = None):
        """(total, mse, ce): total = trade_off * mse + (1 - trade_off) * ce + weight_decay *
        l2_loss. mse is over the targets that are not MISSING_TARGET (0 if none); ce is the mean
        token cross entropy against decoder_targets (default: seqs). `encoder_dropout`
        overrides the model's rate (training only)."""
        decoder_targets = seqs if decoder_targets is None else decoder_targets
        targets = tf.cast(targets, tf.float32)
        memory, arch_emb = self.encode(seqs, training, encoder_dropout)
        predicted = self.predict_from_embedding(arch_emb, training)
        weights = tf.cast(tf.not_equal(targets, MISSING_TARGET), tf.float32)
        mse = tf.math.divide_no_nan(tf.reduce_sum(weights * tf.square(predicted - targets)),
                                    tf.reduce_sum(weights))
        logits = self.teacher_forced_logits(memory, arch_emb, decoder_inputs, training)
        ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=decoder_targets, logits=logits))
        total = trade_off * mse + (1.0 - trade_off) * ce + weight_decay * self.l2_loss()
        return total, mse, ce

    # -- the gradient step ----------------------------------------------------------------------

    def move_embedding(self, seqs, step_size):
        """(moved outputs, moved arch_emb): every encoder output h_t becomes
        normalize(h_t - step_size * d(predicted)/d(h_t)), then they are re-pooled. A positive
        step lowers the predicted value (the originals' targets are error rates)."""
        memory, _ = self.encode(seqs, training=False)
        with tf.GradientTape() as tape:
            tape.watch(memory)
            predicted = self.predict_from_embedding(self.pool(memory))
        # The batch's sum gives every sample its own gradient (tf.gradients in the original).
        grads = tape.gradient(predicted, memory)
        moved = _l2_normalize(memory - tf.cast(step_size, tf.float32) * grads)
        return moved, self.pool(moved)

    # -- compiled entry points (token ids in, tensors out) --------------------------------------

    @tf.function(reduce_retracing=True)
    def _predict_fn(self, seqs):
        return self.predict_from_embedding(self.encode(seqs)[1])

    @tf.function(reduce_retracing=True)
    def _decode_fn(self, seqs):
        return self.greedy_decode(*self.encode(seqs))

    @tf.function(reduce_retracing=True)
    def _generate_fn(self, seqs, step_size):
        moved, moved_emb = self.move_embedding(seqs, step_size)
        return self.greedy_decode(moved, moved_emb), self.predict_from_embedding(moved_emb)

    @tf.function(reduce_retracing=True)
    def _train_step_fn(self, optimizer, seqs, targets, decoder_inputs, decoder_targets,
                       trade_off, weight_decay, max_grad_norm, encoder_dropout=None):
        # encoder_dropout is a Python float (or None): one trace per value.
        with tf.GradientTape() as tape:
            total, mse, ce = self.loss(seqs, targets, decoder_inputs, decoder_targets, True,
                                       trade_off, weight_decay, encoder_dropout)
        grads = tape.gradient(total, self.trainable_variables)
        grads = [tf.convert_to_tensor(g) for g in grads]  # embeddings give IndexedSlices
        clipped, grad_norm = tf.clip_by_global_norm(grads, max_grad_norm)
        optimizer.apply(clipped, optimizer.learning_rate)
        return total, mse, ce, grad_norm

    # -- public numpy API -----------------------------------------------------------------------

    def _tokens(self, seqs, length: int, vocab: int, what: str) -> tf.Tensor:
        array = np.asarray(seqs)
        if array.ndim != 2 or array.shape[1] != length or array.shape[0] == 0:
            raise DataError(f"{what}: shape {array.shape}, expected (batch >= 1, {length})")
        if not np.issubdtype(array.dtype, np.integer):
            raise DataError(f"{what}: dtype {array.dtype}, expected integer token ids")
        if array.min() < 0 or array.max() >= vocab:
            row, col = np.argwhere((array < 0) | (array >= vocab))[0]
            raise DataError(f"{what}: token {array[row, col]} at row {row}, position {col}, "
                            f"expected a token id in 0..{vocab - 1}")
        return tf.constant(array, dtype=tf.int32)

    def encoder_input(self, seqs) -> tf.Tensor:
        return self._tokens(seqs, self.source_length, self.vocab_size, "encoder input")

    def predict(self, seqs) -> np.ndarray:
        """Predicted values [N] (eval mode)."""
        return self._predict_fn(self.encoder_input(seqs)).numpy()

    def decode(self, seqs) -> np.ndarray:
        """Greedy constrained reconstructions [N, decoder_length] (eval mode)."""
        return self._decode_fn(self.encoder_input(seqs)).numpy()

    def generate(self, seqs, step_size: float, with_predictions: bool = False):
        """Decoded sequences [N, decoder_length] after one gradient step of `step_size` from
        each sequence's embedding; with_predictions also returns the moved embeddings'
        predicted values [N]."""
        tokens, values = self._generate_fn(self.encoder_input(seqs),
                                           tf.constant(step_size, tf.float32))
        return (tokens.numpy(), values.numpy()) if with_predictions else tokens.numpy()


# Constructor arguments of the originals' scripts (the defaults are NAO_WS_CNN).
NAO_WS_CNN = dict(vocab_size=12, source_length=40, encoder_length=20, emb_size=48,
                  hidden_size=96, encoder_dropout=0.1, mlp_num_layers=3, mlp_hidden_size=100,
                  mlp_dropout=0.1, decoder_dropout=0.0)
NAO_CNN = dict(vocab_size=21, source_length=60, encoder_length=20, emb_size=32, hidden_size=96,
               encoder_dropout=0.1, mlp_num_layers=0, mlp_dropout_first=True,
               decoder_dropout=0.0)


# ----------------------------------------------------------------------------------------------
# Training and generation.

class EPDAdam(Adam):
    """TF1 AdamOptimizer over the model's trainable variables, with its learning rate."""

    def __init__(self, model: EncoderPredictorDecoder, learning_rate: float = 0.001,
                 name="epd_adam"):
        super().__init__(model.trainable_variables, name=name)
        with self.name_scope:
            self.learning_rate = tf.Variable(float(learning_rate), trainable=False,
                                             name="learning_rate")


def make_optimizer(model: EncoderPredictorDecoder, learning_rate: float = 0.001) -> EPDAdam:
    """Adam (lr 0.001, betas 0.9/0.999, eps 1e-8) for `model`; checkpoint it with the model."""
    check_value(learning_rate > 0, "EPD", "learning_rate", learning_rate, "a positive number")
    return EPDAdam(model, learning_rate)


def train_epd(model: EncoderPredictorDecoder, optimizer: EPDAdam, seqs, targets, epochs: int,
              batch_size: int = 100, trade_off: float = 0.8, weight_decay: float = 1e-4,
              max_grad_norm: float = 5.0, symmetry: bool = False,
              rng: Optional[np.random.Generator] = None,
              decoder_input_after_swap: bool = False,
              encoder_dropout: Optional[float] = None,
              on_batch: Optional[Callable[[int, Dict[str, float]], None]] = None
              ) -> List[Dict[str, float]]:
    """`epochs` passes over (seqs, targets) in a fresh random order each (from `rng`), batches
    of `batch_size` (the last one smaller), one Adam step each with the global gradient norm
    clipped to `max_grad_norm`. With `symmetry` every drawn example gets a random node of each
    cell swapped (symmetry_batch). Returns per epoch {epoch, loss, mse, ce, grad_norm}, the
    sample-weighted means over its batches (loss includes the weight decay term).

    `encoder_dropout` overrides the model's rate for this call. NAO-WS's search trains with
    0.1 only in its first round: building the prediction graph sets the shared params dict's
    encoder_dropout to 0 (encoder.py Model.__init__), and later rounds train with that dict.

    `on_batch(step, values)` is called after every batch with the optimizer's step count and
    that batch's {loss, mse, ce, grad_norm} (the originals' log line every 100 steps)."""
    check_value(isinstance(epochs, int) and epochs >= 0, "train_epd", "epochs", epochs,
                "an integer >= 0")
    check_value(isinstance(batch_size, int) and batch_size >= 1, "train_epd", "batch_size",
                batch_size, "an integer >= 1")
    check_value(0.0 <= trade_off <= 1.0, "train_epd", "trade_off", trade_off, "a value in [0, 1]")
    check_value(max_grad_norm > 0, "train_epd", "max_grad_norm", max_grad_norm,
                "a positive number")
    if encoder_dropout is not None:
        check_value(0.0 <= encoder_dropout < 1.0, "train_epd", "encoder_dropout",
                    encoder_dropout, "a rate in [0, 1)")
        encoder_dropout = float(encoder_dropout)
    if len(optimizer.params) != len(model.trainable_variables) or any(
            p is not v for p, v in zip(optimizer.params, model.trainable_variables)):
        raise ConfigError("train_epd: the optimizer was made for another model "
                          "(use make_optimizer(model))")
    seqs = model.encoder_input(seqs).numpy()
    targets = np.asarray(targets, dtype=np.float32)
    if targets.shape != (len(seqs),):
        raise DataError(f"train_epd: {len(seqs)} sequences and targets of shape "
                        f"{targets.shape}, expected one target per sequence")
    if model.decoder_length != model.source_length:
        raise ConfigError("train_epd: the decoder reconstructs the encoder input, so "
                          f"decoder_length={model.decoder_length} must equal "
                          f"source_length={model.source_length}")
    branch_length = model.source_length // (4 * model.nodes)
    if symmetry and branch_length * 4 * model.nodes != model.source_length:
        raise ConfigError(f"train_epd: symmetry needs source_length={model.source_length} to be "
                          f"2 cells x {model.nodes} nodes x 2 branches x a branch length")
    rng = np.random.default_rng(model.seed) if rng is None else rng
    hyper = [tf.constant(x, tf.float32) for x in (trade_off, weight_decay, max_grad_norm)]
    history = []
    for epoch in range(epochs):
        order = rng.permutation(len(seqs))
        sums, count = np.zeros(4), 0
        for start in range(0, len(seqs), batch_size):
            index = order[start:start + batch_size]
            batch = seqs[index]
            if symmetry:
                enc_in, dec_in, dec_tgt = symmetry_batch(batch, rng, model.nodes, branch_length,
                                                         decoder_input_after_swap)
            else:
                enc_in, dec_in, dec_tgt = batch, shift_right(batch), batch
            values = model._train_step_fn(
                optimizer, tf.constant(enc_in, tf.int32), tf.constant(targets[index]),
                tf.constant(dec_in, tf.int32), tf.constant(dec_tgt, tf.int32), *hyper,
                encoder_dropout=encoder_dropout)
            values = np.array([float(v) for v in values])
            sums += len(index) * values
            count += len(index)
            if on_batch is not None:
                on_batch(int(optimizer.iterations.numpy()),
                         dict(zip(("loss", "mse", "ce", "grad_norm"), values.tolist())))
        loss, mse, ce, grad_norm = sums / max(count, 1)
        history.append(dict(epoch=epoch + 1, loss=loss, mse=mse, ce=ce, grad_norm=grad_norm))
    return history


def generate_new_archs(model: EncoderPredictorDecoder, top_seqs, existing_seqs,
                       max_new: int = 500, max_step_size: int = 100,
                       on_step: Optional[Callable[[int, int], None]] = None
                       ) -> Tuple[List[tuple], int]:
    """NAO-WS's generation (train_search.py): at each step size eta = 1, 2, ... all of
    `top_seqs` take ONE gradient step from their own embedding and are decoded; the loop,
    the novelty check and the stop rule are nasrepro.archs.nao.collect_new_seqs. Returns (kept
    sequences as tuples, last eta)."""
    inputs = model.encoder_input(top_seqs)

    def decode_at(eta):
        tokens, _ = model._generate_fn(inputs, tf.constant(eta, tf.float32))
        return tokens.numpy().tolist()
    return collect_new_seqs(decode_at, existing_seqs, max_new, max_step_size, on_step)

"""NAO's encoder-predictor-decoder in TF2 (nasrepro/tf/nao_epd.py): sizes and initialisation as
the TF1 originals (renqianluo/NAO, NAO-WS/cnn encoder/decoder/controller), a numpy re-computation
of the forward pass, the decode rule, the symmetry augmentation, a short fit that reconstructs
and ranks, the gradient step, the generation loop, determinism and checkpoints."""
import math

import numpy as np
import pytest

pytest.importorskip("nasrepro.tf")
import tensorflow as tf  # noqa: E402  (after nasrepro.tf, which imports it quietly)

from nasrepro.archs.nao import (arch_to_seq, parse_nao_arch, random_arch, seq_to_arch,  # noqa: E402
                                swap_node_inputs)
from nasrepro.errors import ConfigError, DataError  # noqa: E402
from nasrepro.ranking import hamming_distance, pairwise_accuracy  # noqa: E402
from nasrepro.tf import nao_epd as E  # noqa: E402

pytestmark = pytest.mark.tf

# Two nodes per cell: 16 tokens (inputs 1..3, ops 4..8), short graphs that trace quickly.
SMALL = dict(nodes=2, vocab_size=9, source_length=16, encoder_length=8, emb_size=8,
             hidden_size=16, mlp_num_layers=2, mlp_hidden_size=8)


def nao_ws_seqs(n, seed=0, nodes=5):
    rng = np.random.default_rng(seed)
    return np.array([arch_to_seq(random_arch(rng, nodes)) for _ in range(n)])


def param_count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


@pytest.fixture(scope="module")
def trained():
    """20 random NAO-WS archs, 250 full-batch Adam steps (about 20 s). Weight decay off and lr
    0.005 so that a few hundred steps suffice (measured: with the search's lr 0.001 and weight
    decay 1e-4 the token cross entropy is still 1.0 after 300 steps; with lr 0.005 and 1e-4,
    3.7 of 40 tokens are wrong after 400). Here every token is reconstructed from step 200."""
    seqs = nao_ws_seqs(20)
    targets = np.random.default_rng(1).uniform(size=20)
    model = E.EncoderPredictorDecoder(seed=0)
    optimizer = E.make_optimizer(model, 0.005)
    history = E.train_epd(model, optimizer, seqs, targets, epochs=250, batch_size=20,
                          weight_decay=0.0, rng=np.random.default_rng(2))
    return model, seqs, targets, history


# --- sizes, initialisation, forward pass --------------------------------------------------------

def test_parameter_counts_match_the_originals_graphs():
    model = E.EncoderPredictorDecoder()
    shapes = {v.name.split("/", 1)[1].split(":")[0]: tuple(v.shape)
              for v in model.trainable_variables}
    assert shapes["encoder_embedding"] == (12, 48)
    assert shapes["encoder_lstm/kernel"] == (2 * 48 + 96, 4 * 96)  # 2 tokens per LSTM step
    assert shapes["decoder_lstm/kernel"] == (96 + 96 + 96, 4 * 96)  # [emb; context; h]
    assert shapes["output_projection/bias"] == (12,)  # MyDense always has a bias
    # By hand from the TF1 graph: W_emb, LSTMCell kernel+bias, 3 mlp dense, regression;
    # W_emb, LSTMCell, memory/query layers, attention v, g, b, output projection.
    encoder = 12 * 48 + (192 * 384 + 384) + (96 * 100 + 100) + 2 * (100 * 100 + 100) + 101
    decoder = 12 * 96 + (288 * 384 + 384) + 2 * 96 * 96 + 96 + 1 + 96 + (96 * 12 + 12)
    assert param_count(model) == encoder + decoder == 236606
    nao_cnn = E.EncoderPredictorDecoder(**E.NAO_CNN)
    assert param_count(nao_cnn) == (21 * 32 + (192 * 384 + 384) + 97 + 21 * 96
                                    + (288 * 384 + 384) + 2 * 96 * 96 + 193 + (96 * 21 + 21))


def test_initialisation():
    model = E.EncoderPredictorDecoder(seed=3)
    kernel = model.decoder_cell.kernel.numpy()  # orthogonal: 288 orthonormal rows
    np.testing.assert_allclose(kernel @ kernel.T, np.eye(288), atol=1e-4)
    for v in (model.encoder_embedding, model.decoder_embedding, model.encoder_cell.kernel,
              model.attention.v, model.output_projection.kernel, model.mlp[0].kernel):
        assert np.abs(v.numpy()).max() <= 0.1
        assert np.abs(v.numpy()).max() > 0.09
    for v in (model.encoder_cell.bias, model.decoder_cell.bias, model.attention.b,
              model.output_projection.bias, model.regression.bias):
        assert not v.numpy().any()
    assert model.attention.g.numpy() == pytest.approx(math.sqrt(1 / 96))
    same = E.EncoderPredictorDecoder(seed=3)
    other = E.EncoderPredictorDecoder(seed=4)
    np.testing.assert_array_equal(same.decoder_cell.kernel.numpy(), kernel)
    assert not np.array_equal(other.decoder_cell.kernel.numpy(), kernel)


def test_shapes_and_unit_norms():
    model = E.EncoderPredictorDecoder(seed=0)
    seqs = nao_ws_seqs(5)
    outputs, arch_emb = model.encode(tf.constant(seqs))
    assert outputs.shape == (5, 20, 96) and arch_emb.shape == (5, 96)
    np.testing.assert_allclose(np.linalg.norm(outputs, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(arch_emb, axis=-1), 1.0, atol=1e-5)
    values = model.predict(seqs)
    assert values.shape == (5,) and ((values > 0) & (values < 1)).all()
    decoded = model.decode(seqs)
    assert decoded.shape == (5, 40) and decoded.dtype == np.int32
    # Dropout acts in training only.
    x = tf.constant(seqs)
    np.testing.assert_array_equal(model.encode(x)[0], model.encode(x)[0])
    assert not np.allclose(model.encode(x, training=True)[0], model.encode(x)[0])


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _lstm(x, c, h, kernel, bias):
    i, j, f, o = np.split(np.concatenate([x, h], 1) @ kernel + bias, 4, axis=1)
    c = _sigmoid(f + 1.0) * c + _sigmoid(i) * np.tanh(j)
    return c, _sigmoid(o) * np.tanh(c)


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def reference_forward(model, seqs, decoder_inputs):
    """NAO's TF1 EPD in numpy: (predicted [N], teacher-forced logits [N, L, V])."""
    w = {v.name.split("/", 1)[1].split(":")[0]: v.numpy() for v in model.trainable_variables}
    n = len(seqs)
    x = w["encoder_embedding"][seqs].reshape(n, model.encoder_length, -1)
    c = h = np.zeros((n, model.hidden_size))
    outputs = []
    for t in range(model.encoder_length):
        c, h = _lstm(x[:, t], c, h, w["encoder_lstm/kernel"], w["encoder_lstm/bias"])
        outputs.append(h)
    memory = _unit(np.stack(outputs, 1))
    arch_emb = _unit(memory.mean(1))
    y = arch_emb
    for i in range(len(model.mlp)):
        y = np.maximum(y @ w[f"mlp_{i}/kernel"] + w[f"mlp_{i}/bias"], 0)
    predicted = _sigmoid(y @ w["regression/kernel"] + w["regression/bias"])[:, 0]
    keys = memory @ w["attention/memory_kernel"]
    v = w["attention/v"]
    normed_v = w["attention/g"] * v / np.linalg.norm(v)
    context = np.zeros((n, model.hidden_size))
    c = h = arch_emb
    logits = []
    for t in range(model.decoder_length):
        token_emb = w["decoder_embedding"][decoder_inputs[:, t]]
        c, h = _lstm(np.concatenate([token_emb, context], 1), c, h, w["decoder_lstm/kernel"],
                     w["decoder_lstm/bias"])
        query = h @ w["attention/query_kernel"]
        score = (normed_v * np.tanh(keys + query[:, None] + w["attention/b"])).sum(-1)
        align = np.exp(score - score.max(1, keepdims=True))
        align /= align.sum(1, keepdims=True)
        context = (align[:, :, None] * memory).sum(1)
        logits.append(h @ w["output_projection/kernel"] + w["output_projection/bias"])
    return predicted, np.stack(logits, 1)


def test_forward_matches_numpy_reference():
    model = E.EncoderPredictorDecoder(seed=5, **SMALL)
    # Non-zero biases and attention b so that every term is exercised.
    rng = np.random.default_rng(0)
    for v in (model.encoder_cell.bias, model.decoder_cell.bias, model.attention.b,
              model.output_projection.bias, model.mlp[1].bias):
        v.assign(rng.uniform(-0.5, 0.5, v.shape).astype(np.float32))
    seqs = nao_ws_seqs(4, nodes=2)
    decoder_inputs = E.shift_right(seqs)
    predicted, logits = reference_forward(model, seqs, decoder_inputs)
    memory, arch_emb = model.encode(tf.constant(seqs))
    np.testing.assert_allclose(model.predict_from_embedding(arch_emb), predicted, atol=1e-5)
    got = model.teacher_forced_logits(memory, arch_emb, tf.constant(decoder_inputs))
    np.testing.assert_allclose(got, logits, atol=1e-5)


def test_teacher_forcing_equals_feeding_back_greedy_tokens():
    model = E.EncoderPredictorDecoder(seed=1, **SMALL)
    seqs = nao_ws_seqs(6, nodes=2)
    decoded = model.decode(seqs)
    memory, arch_emb = model.encode(tf.constant(seqs))
    logits = model.teacher_forced_logits(memory, arch_emb, tf.constant(E.shift_right(decoded)))
    probs = tf.nn.softmax(logits).numpy()
    np.testing.assert_array_equal(np.where(model.allowed_mask, probs, -1).argmax(-1), decoded)


# --- the decode rule ---------------------------------------------------------------------------

def originals_mask(t, branch_length, vocab):
    """MyDense.call of NAO-WS/cnn and NAO/cnn/epd decoder.py, literally."""
    if t % branch_length == 0:
        index = int(t / branch_length % 10 / 2) + 3
        return [0] + [1] * (index - 1) + [0] * (vocab - index)
    return [0] * 7 + [1] * (vocab - 7)


@pytest.mark.parametrize("branch_length,vocab", [(2, 12), (3, 21)])
def test_cell_rule_is_the_originals_mask(branch_length, vocab):
    length = 20 * branch_length
    mask = E.allowed_tokens_mask(E.CellBranchRule.for_sizes(length, vocab), length, vocab)
    expected = [originals_mask(t, branch_length, vocab) for t in range(length)]
    np.testing.assert_array_equal(mask, np.array(expected, dtype=bool))


def test_cell_rule_agrees_with_the_torch_controllers():
    nao_controller = pytest.importorskip("nasrepro.torch.nao_controller")
    for nodes in (2, 5):
        ours = E.CellBranchRule.for_sizes(8 * nodes, 1 + nodes + 1 + 5, nodes)
        theirs = nao_controller.CellDecodeRule(nodes, 5)
        assert all(list(ours.allowed(t)) == list(theirs.allowed(t)) for t in range(8 * nodes))


def test_rule_forms_and_errors():
    table = [range(1, 3)] * 16
    np.testing.assert_array_equal(E.allowed_tokens_mask(table, 16, 9),
                                  E.allowed_tokens_mask(lambda t: [1, 2], 16, 9))
    with pytest.raises(ConfigError, match="position 0"):
        E.allowed_tokens_mask(lambda t: [], 16, 9)
    with pytest.raises(ConfigError, match="position 3"):
        E.allowed_tokens_mask(lambda t: [9] if t == 3 else [1], 16, 9)
    with pytest.raises(ConfigError, match="15 positions"):
        E.allowed_tokens_mask(table[:15], 16, 9)


def test_untrained_constrained_decoding_is_valid():
    model = E.EncoderPredictorDecoder(seed=11)
    seqs = nao_ws_seqs(50, seed=3)
    for decoded in (model.decode(seqs), model.generate(seqs, 0.0), model.generate(seqs, 10.0),
                    model.generate(seqs, 1e4), model.generate(seqs, -1e4)):
        for seq in decoded:
            parse_nao_arch(str(seq_to_arch(seq)))  # seq_to_arch checks too
    # NAO's CNN layout: 3 tokens per branch, vocabulary of 21.
    nao_cnn = E.EncoderPredictorDecoder(seed=2, **E.NAO_CNN)
    inputs = np.random.default_rng(0).integers(1, 21, size=(10, 60))
    decoded = nao_cnn.decode(inputs)
    assert nao_cnn.allowed_mask[np.arange(60)[None, :], decoded].all()


def test_mask_on_probs_or_logits():
    """The CNN decoders mask the softmax, so the best allowed token wins; NAO/rnn's multiplies
    the logits, where a masked token's 0 beats negative allowed logits."""
    table = [[1, 2]] * 16
    for mask_on, expected in (("probs", 1), ("logits", 0)):
        model = E.EncoderPredictorDecoder(seed=0, decode_rule=table, mask_on=mask_on, **SMALL)
        model.output_projection.kernel.assign(tf.zeros_like(model.output_projection.kernel))
        bias = np.full(9, -1.0, np.float32)
        bias[0] = 5.0  # the network prefers the start token everywhere
        model.output_projection.bias.assign(bias)
        assert (model.decode(nao_ws_seqs(3, nodes=2)) == expected).all()


# --- training ----------------------------------------------------------------------------------

def test_loss_terms():
    model = E.EncoderPredictorDecoder(seed=0, **SMALL)
    seqs = nao_ws_seqs(6, nodes=2)
    targets = np.array([0.1, 0.9, E.MISSING_TARGET, 0.5, 0.3, E.MISSING_TARGET], np.float32)
    x, dec_in = tf.constant(seqs), tf.constant(E.shift_right(seqs))
    total, mse, ce = model.loss(x, targets, dec_in, training=False, trade_off=0.7,
                                weight_decay=0.01)
    predicted = model.predict(seqs)
    kept = targets != E.MISSING_TARGET
    assert float(mse) == pytest.approx(np.mean((predicted[kept] - targets[kept]) ** 2), rel=1e-5)
    memory, arch_emb = model.encode(x)
    logits = model.teacher_forced_logits(memory, arch_emb, dec_in).numpy()
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected_ce = -np.take_along_axis(log_probs, seqs[..., None], -1).mean()
    assert float(ce) == pytest.approx(expected_ce, rel=1e-5)
    l2 = sum((v.numpy().astype(np.float64) ** 2).sum() / 2 for v in model.trainable_variables)
    assert float(total) == pytest.approx(0.7 * float(mse) + 0.3 * float(ce) + 0.01 * l2,
                                         rel=1e-5)
    all_missing = np.full(6, E.MISSING_TARGET, np.float32)
    assert float(model.loss(x, all_missing, dec_in, training=False)[1]) == 0.0


def test_short_fit_reconstructs_and_ranks(trained):
    model, seqs, targets, history = trained
    assert len(history) == 250
    assert history[-1]["ce"] < history[0]["ce"] / 10
    assert history[-1]["mse"] < history[0]["mse"] / 20
    assert hamming_distance(seqs, model.decode(seqs)) <= 0.5  # of 40 tokens; measured 0
    # Targets are error rates; the predictor should order them as they are.
    assert pairwise_accuracy(targets, model.predict(seqs)) >= 0.9


def test_gradient_step(trained):
    model, seqs, _, _ = trained
    np.testing.assert_array_equal(model.generate(seqs, 0.0), model.decode(seqs))
    before = model.predict(seqs)
    for eta in (0.1, 0.5, 1.0):
        moved, moved_emb = model.move_embedding(tf.constant(seqs), eta)
        np.testing.assert_allclose(np.linalg.norm(moved, axis=-1), 1.0, atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(moved_emb, axis=-1), 1.0, atol=1e-5)
        after = model.predict_from_embedding(moved_emb).numpy()
        assert (after < before).all(), eta
        _, values = model.generate(seqs, eta, with_predictions=True)
        np.testing.assert_allclose(values, after, atol=1e-6)
    # A large step changes what is decoded.
    assert hamming_distance(seqs, model.generate(seqs, 50.0)) > 0


def test_generate_new_archs(trained):
    model, seqs, _, _ = trained
    new, eta = E.generate_new_archs(model, seqs[:10], seqs, max_new=15, max_step_size=100)
    assert len(new) == 15 and len(set(new)) == 15 and eta >= 1
    known = {tuple(s) for s in seqs.tolist()}
    assert not known & set(new)
    for seq in new:
        parse_nao_arch(str(seq_to_arch(seq)))  # seq_to_arch checks too
    # The step-size limit: the loop ends after eta = max_step_size + 1.
    new, eta = E.generate_new_archs(model, seqs[:4], seqs, max_new=10**6, max_step_size=2)
    assert eta == 3 and len(new) <= 3 * 4 and len(set(new)) == len(new)
    # Everything already known: nothing is kept and the loop still ends.
    found = {tuple(s) for s in model.generate(seqs[:4], 1.0).tolist()}
    found |= {tuple(s) for s in model.generate(seqs[:4], 2.0).tolist()}
    assert E.generate_new_archs(model, seqs[:4], list(found), 10, 1) == ([], 2)
    assert E.generate_new_archs(model, seqs[:4], seqs, 0, 100) == ([], 0)


def test_train_is_deterministic_and_checkpoints_round_trip(tmp_path):
    seqs = nao_ws_seqs(12, seed=4, nodes=2)
    targets = E.normalize_targets(np.random.default_rng(5).uniform(0.05, 0.3, size=12))

    def run(seed, epochs=3):
        model = E.EncoderPredictorDecoder(seed=seed, **SMALL)
        optimizer = E.make_optimizer(model)
        history = E.train_epd(model, optimizer, seqs, targets, epochs=epochs, batch_size=4,
                              symmetry=True, rng=np.random.default_rng(6))
        return model, optimizer, history

    model, optimizer, history = run(7)
    _, _, again = run(7)
    assert history == again
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert int(optimizer.iterations.numpy()) == 3 * 3  # 3 batches of 4 per epoch

    prefix = tf.train.Checkpoint(model=model, optimizer=optimizer).write(str(tmp_path / "ckpt"))
    restored = E.EncoderPredictorDecoder(seed=99, **SMALL)
    restored_opt = E.make_optimizer(restored, learning_rate=0.5)
    assert not np.array_equal(restored.predict(seqs), model.predict(seqs))
    status = tf.train.Checkpoint(model=restored, optimizer=restored_opt).read(prefix)
    status.assert_existing_objects_matched()
    np.testing.assert_array_equal(restored.predict(seqs), model.predict(seqs))
    np.testing.assert_array_equal(restored.decode(seqs), model.decode(seqs))
    assert float(restored_opt.learning_rate.numpy()) == pytest.approx(0.001)
    # Resuming continues exactly: Adam's slots, step count and the dropout generator came back.
    rng_a, rng_b = np.random.default_rng(8), np.random.default_rng(8)
    more = E.train_epd(model, optimizer, seqs, targets, 2, 4, rng=rng_a)
    resumed = E.train_epd(restored, restored_opt, seqs, targets, 2, 4, rng=rng_b)
    assert more == resumed
    np.testing.assert_array_equal(restored.predict(seqs), model.predict(seqs))


# --- data ----------------------------------------------------------------------------------------

def originals_symmetry(seq, a, b, branch_length):
    """generate_symmetry of NAO-WS/cnn/controller.py (and NAO/cnn/epd/main.py), in numpy."""
    group, half, cell = 2 * branch_length, branch_length, len(seq) // 2
    return np.concatenate([seq[:group * a], seq[group * a + half:group * (a + 1)],
                           seq[group * a:group * a + half], seq[group * (a + 1):cell + group * b],
                           seq[cell + group * b + half:cell + group * (b + 1)],
                           seq[cell + group * b:cell + group * b + half],
                           seq[cell + group * (b + 1):]])


def test_symmetry_batch_swaps_node_branches():
    seqs = nao_ws_seqs(30, seed=9)
    rng = np.random.default_rng(10)
    draws = np.random.default_rng(10)
    a, b = draws.integers(0, 5, size=30), draws.integers(0, 5, size=30)
    enc_in, dec_in, dec_tgt = E.symmetry_batch(seqs, rng)
    for i, seq in enumerate(seqs):
        expected = arch_to_seq(swap_node_inputs(seq_to_arch(seq), a[i], b[i]))
        np.testing.assert_array_equal(enc_in[i], expected)
        np.testing.assert_array_equal(enc_in[i], originals_symmetry(seq, a[i], b[i], 2))
        changed = set(np.flatnonzero(enc_in[i] != seq))
        assert changed <= set(range(4 * a[i], 4 * a[i] + 4)) | set(
            range(20 + 4 * b[i], 20 + 4 * b[i] + 4))
    np.testing.assert_array_equal(dec_tgt, enc_in)
    np.testing.assert_array_equal(dec_in, E.shift_right(seqs))  # built before the swap
    _, after, _ = E.symmetry_batch(seqs, np.random.default_rng(10),
                                   decoder_input_after_swap=True)
    np.testing.assert_array_equal(after, E.shift_right(enc_in))


def test_symmetry_with_three_tokens_per_branch():
    seqs = np.random.default_rng(0).integers(1, 21, size=(8, 60))
    a, b = np.array([0, 4, 2, 1, 3, 0, 4, 2]), np.array([4, 0, 2, 3, 1, 1, 0, 4])
    swapped = E.swap_branches(seqs, a, b, branch_length=3)
    for i in range(8):
        np.testing.assert_array_equal(swapped[i], originals_symmetry(seqs[i], a[i], b[i], 3))


def test_shift_right_and_normalize_targets():
    np.testing.assert_array_equal(E.shift_right([[3, 4, 5], [6, 7, 8]]), [[0, 3, 4], [0, 6, 7]])
    assert E.normalize_targets([0.2, 0.1, 0.3]) == pytest.approx([0.5, 0.0, 1.0])
    with pytest.raises(DataError, match="all 2 values"):
        E.normalize_targets([0.1, 0.1])


def test_bad_inputs_are_named():
    model = E.EncoderPredictorDecoder(seed=0, **SMALL)
    with pytest.raises(DataError, match=r"shape \(2, 15\)"):
        model.predict(np.ones((2, 15), int))
    with pytest.raises(DataError, match="token 9 at row 1, position 2"):
        bad = np.ones((2, 16), int)
        bad[1, 2] = 9
        model.decode(bad)
    with pytest.raises(ConfigError, match="encoder_length"):
        E.EncoderPredictorDecoder(source_length=40, encoder_length=7)
    with pytest.raises(ConfigError, match="mask_on"):
        E.EncoderPredictorDecoder(mask_on="both")
    with pytest.raises(ConfigError, match="another model"):
        E.train_epd(model, E.make_optimizer(E.EncoderPredictorDecoder(**SMALL)),
                    nao_ws_seqs(2, nodes=2), [0.0, 1.0], epochs=1)
    with pytest.raises(DataError, match="one target per sequence"):
        E.train_epd(model, E.make_optimizer(model), nao_ws_seqs(2, nodes=2), [0.0], epochs=1)

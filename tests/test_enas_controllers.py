"""ENAS controllers (micro, macro), the LSTM cell and the REINFORCE trainer.

Log-probabilities and entropies are checked against a numpy replay of the original sampling
(melodyguan/enas, src/cifar10/micro_controller.py and general_controller.py) that feeds the
sampled decisions back step by step; the trainer against hand-computed REINFORCE gradients, the
EMA baseline and TF1 Adam with beta1 = 0, epsilon = 1e-3."""
import numpy as np
import pytest
import tensorflow as tf

from nasrepro.archs import enas
from nasrepro.paper_modules import load_paper_module
from nasrepro.tf.lstm import LSTMCell
from nasrepro.tf.reinforce import ReinforceTrainer

GeneralController = load_paper_module("ENAS", "src.cifar10.general_controller").GeneralController
_micro = load_paper_module("ENAS", "src.cifar10.micro_controller")
MicroController, decide, full_entropy = _micro.MicroController, _micro.decide, _micro.full_entropy


# ---------------------------------------------------------------------- numpy references


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_lstm(w, x, c, h):
    z = np.concatenate([x, h], axis=1) @ w
    i, f, o, g = np.split(z, 4, axis=1)
    c = _sigmoid(i) * np.tanh(g) + _sigmoid(f) * c
    return c, _sigmoid(o) * np.tanh(c)


def _log_softmax(logits):
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def replay_micro(ctrl, arc):
    """-sum log p and full entropy of `arc` under `ctrl`, step by step as melodyguan/enas
    src/cifar10/micro_controller.py samples."""
    v = {name: getattr(ctrl, name).numpy().astype(np.float64) for name in
         ("g_emb", "w_emb", "w_soft", "b_soft", "w_attn_1", "w_attn_2", "v_attn")}
    w = ctrl.lstm.w.numpy().astype(np.float64)
    C, red = ctrl.tanh_constant, ctrl.op_tanh_reduce
    no_learn = ctrl.b_soft_no_learn.numpy()
    c = h = np.zeros((1, ctrl.lstm_size))
    neg_log_prob = entropy = 0.0
    first_op_probs = {}
    n = ctrl.num_cells
    for cell in range(2):
        ints = arc[cell * 4 * n:(cell + 1) * 4 * n]
        anchors, keys = [], []
        for _ in range(2):
            c, h = np_lstm(w, v["g_emb"], c, h)
            anchors.append(np.zeros_like(h))
            keys.append(h @ v["w_attn_1"])
        for node in range(2, n + 2):
            x = v["g_emb"]
            base = 4 * (node - 2)
            for i in range(2):
                c, h = np_lstm(w, x, c, h)
                logits = (np.tanh(np.concatenate(keys) + h @ v["w_attn_2"]) @ v["v_attn"]).T
                logits = C * np.tanh(logits)
                lp = _log_softmax(logits)[0]
                choice = ints[base + 2 * i]
                neg_log_prob -= lp[choice]
                entropy -= (np.exp(lp) * lp).sum()
                x = anchors[choice]
            for i in range(2):
                c, h = np_lstm(w, x, c, h)
                logits = (C / red) * np.tanh(h @ v["w_soft"] + v["b_soft"])
                if cell == 0:
                    logits = logits + no_learn
                lp = _log_softmax(logits)[0]
                if node == 2 and i == 0:
                    first_op_probs[cell] = np.exp(lp)
                choice = ints[base + 2 * i + 1]
                neg_log_prob -= lp[choice]
                entropy -= (np.exp(lp) * lp).sum()
                x = v["w_emb"][choice:choice + 1]
            c, h = np_lstm(w, x, c, h)
            anchors.append(h)
            keys.append(h @ v["w_attn_1"])
    return neg_log_prob, entropy, first_op_probs


def replay_macro(ctrl, arc):
    """-sum log p, approximate entropy, skip penalty of `arc` as melodyguan/enas
    src/cifar10/general_controller.py computes them."""
    v = {name: getattr(ctrl, name).numpy().astype(np.float64) for name in
         ("g_emb", "w_emb", "w_soft", "w_attn_1", "w_attn_2", "v_attn")}
    w = ctrl.lstm.w.numpy().astype(np.float64)
    C = ctrl.tanh_constant
    targets = np.array([1.0 - ctrl.skip_target, ctrl.skip_target])
    c = h = np.zeros((1, ctrl.lstm_size))
    x = v["g_emb"]
    anchors, keys, penalties = [], [], []
    neg_log_prob = entropy = 0.0
    pos = 0
    for k in range(ctrl.num_layers):
        c, h = np_lstm(w, x, c, h)
        lp = _log_softmax(C * np.tanh(h @ v["w_soft"]))[0]
        op = arc[pos]
        neg_log_prob -= lp[op]
        entropy -= lp[op] * np.exp(lp[op])
        x = v["w_emb"][op:op + 1]
        c, h = np_lstm(w, x, c, h)
        if k > 0:
            bits = np.array(arc[pos + 1:pos + 1 + k])
            q = np.tanh(np.concatenate(keys) + h @ v["w_attn_2"]) @ v["v_attn"]
            logits = C * np.tanh(np.concatenate([-q, q], axis=1))
            lp = _log_softmax(logits)[np.arange(k), bits]
            neg_log_prob -= lp.sum()
            entropy -= (lp * np.exp(lp)).sum()
            p = _sigmoid(logits)
            penalties.append((p * np.log(p / targets)).sum())
            x = (bits[None].astype(np.float64) @ np.concatenate(anchors)) / (1.0 + bits.sum())
        else:
            x = v["g_emb"]
        anchors.append(h)
        keys.append(h @ v["w_attn_1"])
        pos += 1 + k
    return neg_log_prob, entropy, float(np.mean(penalties))


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def micro():
    tf.random.set_seed(11)
    ctrl = MicroController(tanh_constant=1.1, op_tanh_reduce=2.5)
    gen = tf.random.Generator.from_seed(5)
    return ctrl, gen, tf.function(lambda: ctrl.sample(gen), autograph=False)


@pytest.fixture(scope="module")
def micro_samples(micro):
    _, _, sample = micro
    return [{k: t.numpy() for k, t in sample().items()} for _ in range(300)]


# ---------------------------------------------------------------------- LSTM


def test_lstm_cell_matches_numpy_reference():
    tf.random.set_seed(3)
    cell = LSTMCell(3, 4, init_range=0.5)
    w = cell.w.numpy()
    assert w.shape == (7, 16) and np.abs(w).max() <= 0.5 and np.abs(w).max() > 0.3
    assert len(cell.trainable_variables) == 1  # no bias
    rng = np.random.default_rng(0)
    x, c, h = (rng.normal(size=s).astype(np.float32) for s in ((2, 3), (2, 4), (2, 4)))
    got_c, got_h = cell(tf.constant(x), tf.constant(c), tf.constant(h))
    want_c, want_h = np_lstm(w.astype(np.float64), x, c, h)
    np.testing.assert_allclose(got_c.numpy(), want_c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_h.numpy(), want_h, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------- micro controller


def test_micro_controller_variables_and_init():
    tf.random.set_seed(0)
    ctrl = MicroController(lstm_size=8)
    shapes = {v.name.split("/")[-1].split(":")[0]: tuple(v.shape)
              for v in ctrl.trainable_variables}
    assert shapes == {"w": (16, 32), "g_emb": (1, 8), "w_emb": (5, 8), "w_soft": (8, 5),
                      "b_soft": (1, 5), "w_attn_1": (8, 8), "w_attn_2": (8, 8),
                      "v_attn": (8, 1)}
    np.testing.assert_array_equal(ctrl.b_soft.numpy(), [[10, 10, 0, 0, 0]])
    np.testing.assert_allclose(ctrl.b_soft_no_learn.numpy(),
                               [[0.25, 0.25, -0.25, -0.25, -0.25]])
    for var in ctrl.trainable_variables:
        if "b_soft" not in var.name:
            assert np.abs(var.numpy()).max() <= 0.1


def test_micro_samples_are_valid_arcs(micro_samples):
    for out in micro_samples[:50]:
        assert out["arc"].dtype == np.int32 and out["arc"].shape == (40,)
        enas.parse_micro_arc(out["arc"], num_cells=5)
    # Over 300 samples node 6 reads every earlier node at least once.
    assert {int(o["arc"][16]) for o in micro_samples} == set(range(6))


def test_micro_log_prob_and_entropy_match_the_replay(micro, micro_samples):
    ctrl = micro[0]
    for out in micro_samples[:5]:
        neg_log_prob, entropy, _ = replay_micro(ctrl, [int(v) for v in out["arc"]])
        assert out["log_prob"] > 0
        np.testing.assert_allclose(out["log_prob"], neg_log_prob, rtol=1e-4)
        np.testing.assert_allclose(out["entropy"], entropy, rtol=1e-4)


def test_micro_initial_op_bias(micro, micro_samples):
    # From the op-logit biases of melodyguan/enas src/cifar10/micro_controller.py: about 0.32
    # each for the sep convs in the normal cell, 0.25 in the reduction.
    _, _, first = replay_micro(micro[0], [int(v) for v in micro_samples[0]["arc"]])
    assert np.all(np.abs(first[0][:2] - 0.315) < 0.01)
    assert np.all(np.abs(first[1][:2] - 0.254) < 0.01)
    ops = np.array([o["arc"] for o in micro_samples])
    normal_ops, reduce_ops = ops[:, 1:20:2], ops[:, 21:40:2]
    assert abs(np.isin(normal_ops, (0, 1)).mean() - 0.63) < 0.04
    assert abs(np.isin(reduce_ops, (0, 1)).mean() - 0.51) < 0.04


def test_same_generator_seed_gives_same_arcs(micro):
    ctrl = micro[0]

    def arcs(seed):
        gen = tf.random.Generator.from_seed(seed)
        return [ctrl.sample(gen)["arc"].numpy().tolist() for _ in range(3)]

    assert arcs(42) == arcs(42)
    assert arcs(42) != arcs(43)


def test_micro_log_prob_has_gradients_for_every_variable(micro):
    ctrl = micro[0]
    with tf.GradientTape() as tape:
        out = ctrl.sample(tf.random.Generator.from_seed(1))
    grads = tape.gradient(out["log_prob"], ctrl.trainable_variables)
    assert all(g is not None for g in grads)
    assert all(float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(g)))) > 0 for g in grads)


# ---------------------------------------------------------------------- macro controller


@pytest.mark.parametrize("layers", [6, 12])
def test_macro_samples_are_valid_and_match_the_replay(layers):
    tf.random.set_seed(layers)
    ctrl = GeneralController(layers, tanh_constant=1.5, skip_target=0.4, skip_weight=0.8)
    gen = tf.random.Generator.from_seed(9)
    sample = tf.function(lambda: ctrl.sample(gen), autograph=False)
    outs = [{k: t.numpy() for k, t in sample().items()} for _ in range(50)]
    for out in outs:
        arc = enas.parse_macro_arc(out["arc"], layers)
        assert out["skip_count"] == arc.skip_count
        assert out["skip_rate"] == pytest.approx(arc.skip_count / (layers * (layers - 1) / 2))
    assert {op for o in outs for op in o["arc"][[k * (k + 1) // 2 for k in range(layers)]]} == \
        set(range(6))
    for out in outs[:3]:
        neg_log_prob, entropy, penalty = replay_macro(ctrl, [int(v) for v in out["arc"]])
        np.testing.assert_allclose(out["log_prob"], neg_log_prob, rtol=1e-4)
        np.testing.assert_allclose(out["entropy"], entropy, rtol=1e-4)
        np.testing.assert_allclose(out["skip_penalty"], penalty, rtol=1e-4)


# ---------------------------------------------------------------------- REINFORCE


class ToyController(tf.Module):
    """One categorical decision over 3 choices: gradients are checkable by hand."""

    def __init__(self):
        super().__init__(name="toy")
        self.theta = tf.Variable([[0.1, -0.2, 0.3]])

    def sample(self, generator):
        choice, neg_log_prob = decide(self.theta, generator.make_seeds(1)[:, 0])
        return dict(arc=choice, log_prob=neg_log_prob[0],
                    entropy=full_entropy(self.theta)[0])


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def test_baseline_follows_the_ema_and_loss_uses_the_updated_baseline():
    ctrl = ToyController()
    trainer = ReinforceTrainer(ctrl, learning_rate=0.0, entropy_weight=0.1,
                               baseline_decay=0.9)
    gen = tf.random.Generator.from_seed(0)
    accs = [0.5, 0.8, 0.2]
    baseline = 0.0
    for acc in accs:
        out = trainer.step(lambda arc, a=acc: tf.constant(a), gen)
        entropy = -(_softmax(ctrl.theta.numpy()[0]) * np.log(_softmax(ctrl.theta.numpy()[0])))
        reward = acc + 0.1 * entropy.sum()
        baseline = baseline - (1 - 0.9) * (baseline - reward)
        assert float(out["acc"]) == pytest.approx(acc)
        assert float(out["reward"]) == pytest.approx(reward, rel=1e-6)
        assert float(out["baseline"]) == pytest.approx(baseline, rel=1e-6)
        assert float(trainer.baseline.numpy()) == pytest.approx(baseline, rel=1e-6)
        assert float(out["loss"]) == pytest.approx(
            float(out["log_prob"]) * (reward - baseline), rel=1e-5)


def test_gradients_are_averaged_over_num_aggregate_and_applied_with_tf1_adam():
    ctrl = ToyController()
    lr = 0.1
    trainer = ReinforceTrainer(ctrl, learning_rate=lr, num_aggregate=3, baseline_decay=0.5)
    gen = tf.random.Generator.from_seed(3)
    step = tf.function(lambda reward_fn: trainer.step(reward_fn, gen), autograph=False)
    accs = iter([0.9, 0.1, 0.6, 0.3, 0.7, 0.0])
    theta = ctrl.theta.numpy()[0].astype(np.float64)
    m = v = np.zeros(3)
    for update in range(1, 3):
        grads, start = [], ctrl.theta.numpy().copy()
        for i in range(3):
            acc = tf.constant(next(accs))
            p = _softmax(ctrl.theta.numpy()[0].astype(np.float64))  # before a possible update
            out = step(lambda arc: acc)
            onehot = np.eye(3)[int(out["arc"][0])]
            # d/dtheta of (-log p_a) * (r - b) = (p - onehot) * (r - b)
            grad = (p - onehot) * (float(out["reward"]) - float(out["baseline"]))
            assert float(out["grad_norm"]) == pytest.approx(np.linalg.norm(grad), rel=1e-5)
            grads.append(grad)
            if i < 2:  # nothing applied before the third sample
                assert int(out["train_step"]) == update - 1
                np.testing.assert_array_equal(ctrl.theta.numpy(), start)
        assert int(out["train_step"]) == update
        assert int(trainer.optimizer.iterations.numpy()) == update
        g = np.mean(grads, axis=0)
        # TF1 Adam, beta1 = 0 (no momentum), beta2 = 0.999, epsilon = 1e-3.
        m = 0.0 * m + g
        v = 0.999 * v + 0.001 * g * g
        lr_t = lr * np.sqrt(1 - 0.999 ** update)
        theta = theta - lr_t * m / (np.sqrt(v) + 1e-3)
        np.testing.assert_allclose(ctrl.theta.numpy()[0], theta, rtol=1e-5, atol=1e-7)
        for acc_var in trainer.accumulators:
            assert not np.any(acc_var.numpy())
    assert int(trainer.num_samples.numpy()) == 6


def test_reinforce_learns_to_prefer_a_rewarded_op():
    # Reward = share of sep_conv_5x5 (op 1) among the normal cell's ops. Without tanh shaping the
    # b_soft init makes ops 0 and 1 about equally likely and the rest negligible.
    tf.random.set_seed(21)
    ctrl = MicroController(num_cells=2, lstm_size=16)
    trainer = ReinforceTrainer(ctrl, learning_rate=0.03, entropy_weight=1e-4)
    gen = tf.random.Generator.from_seed(4)

    def reward_fn(arc):
        return tf.reduce_mean(tf.cast(tf.equal(arc[1:8:2], 1), tf.float32))

    step = tf.function(lambda: trainer.step(reward_fn, gen), autograph=False)
    sample = tf.function(lambda: ctrl.sample(gen)["arc"], autograph=False)

    def share():
        arcs = np.array([sample().numpy() for _ in range(100)])
        return float(np.mean(arcs[:, 1:8:2] == 1))

    before = share()
    for _ in range(200):
        out = step()
    after = share()
    assert 0.35 < before < 0.65
    assert after > 0.9, (before, after)
    assert int(out["train_step"]) == 200
    assert float(out["baseline"]) > 0.4

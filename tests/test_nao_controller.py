"""NAO's encoder-predictor-decoder (nasrepro/torch/nao_controller.py), its training helpers,
the ranking measures (nasrepro/ranking.py) and NAO-V2's thin controller modules."""
import numpy as np
import pytest
import torch

from nasrepro.archs.nao import (arch_to_seq, random_arch, seq_to_arch, swap_node_inputs,
                                vocab_size)
from nasrepro.complexity.torch_count import count_params
from nasrepro.errors import ConfigError, DataError
from nasrepro.ranking import hamming_distance, pairwise_accuracy
from nasrepro.torch.nao_controller import (NAO, CellDecodeRule, ControllerData,
                                           EncoderPredictorDecoder, LuongAttention,
                                           augment_with_swaps, build_controller_data,
                                           controller_infer, controller_train_epoch,
                                           generate_new_archs, shift_right)


# train_search.py's --controller_* defaults (vocab as main() sets it: 1 + 6 + 5 = 12).
DEFAULTS = dict(encoder_layers=1, encoder_vocab_size=12, encoder_hidden_size=64,
                encoder_dropout=0.0, encoder_length=20, source_length=40, encoder_emb_size=32,
                mlp_layers=0, mlp_hidden_size=200, mlp_dropout=0.1, decoder_layers=1,
                decoder_vocab_size=12, decoder_hidden_size=64, decoder_dropout=0.0,
                decoder_length=40)


def sizes_for(nodes, num_ops=5, hidden=64, **overrides):
    vocab = vocab_size(nodes, num_ops)
    sizes = dict(DEFAULTS, encoder_vocab_size=vocab, decoder_vocab_size=vocab,
                 encoder_hidden_size=hidden, decoder_hidden_size=hidden,
                 encoder_emb_size=hidden // 2, source_length=8 * nodes,
                 encoder_length=4 * nodes, decoder_length=8 * nodes)
    sizes.update(overrides)
    return sizes


def random_seqs(n, seed, nodes=5, num_ops=5):
    rng = np.random.default_rng(seed)
    return [arch_to_seq(random_arch(rng, nodes, num_ops)) for _ in range(n)]


def fit(seed, epochs, n_archs=20, lr=1e-3):
    """The original's controller recipe (Adam 1e-3, trade-off 0.8, clip 5) on random archs."""
    torch.manual_seed(seed)
    model = NAO(**DEFAULTS)
    rng = np.random.default_rng(seed)
    seqs = random_seqs(n_archs, seed)
    targets = rng.random(n_archs).tolist()
    data = build_controller_data(seqs, targets)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        last = controller_train_epoch(model, data.batches(10, rng), optimizer, 0.8, 5.0)
    return model, seqs, targets, last


@pytest.fixture(scope="module")
def trained():
    # 300 epochs of 2 batches: about 3 s on 2 CPU cores.
    return fit(seed=0, epochs=300)


# --- 1. shapes and parameter count ------------------------------------------------------------

def test_default_parameter_count_matches_original():
    # Golden: the original NAO_V2 controller.NAO built with train_search.py's defaults,
    # counted in a scratch copy (sum of numel over named_parameters) = 80845:
    # encoder emb 384 + LSTM 33280 + regressor 65; decoder LSTM 33280 + emb 768
    # + attention 4096 + 8192 + output 780.
    assert count_params(NAO(**DEFAULTS)) == 80845
    # Same measurement with --controller_mlp_layers=2 (two 200-wide ReLU layers).
    assert count_params(NAO(**dict(DEFAULTS, mlp_layers=2))) == 134181


def test_default_layer_shapes():
    shapes = {name: tuple(p.shape) for name, p in NAO(**DEFAULTS).named_parameters()}
    assert shapes["encoder.embedding.weight"] == (12, 32)
    assert shapes["encoder.lstm.weight_ih_l0"] == (256, 64)
    assert shapes["encoder.regressor.weight"] == (1, 64)
    assert shapes["decoder.embedding.weight"] == (12, 64)
    assert shapes["decoder.attention.query_proj.weight"] == (64, 64)
    assert shapes["decoder.attention.combine_proj.weight"] == (64, 128)
    assert shapes["decoder.classifier.weight"] == (12, 64)
    assert "decoder.attention.query_proj.bias" not in shapes
    assert NAO is EncoderPredictorDecoder


def test_default_forward_shapes_and_normalisation():
    torch.manual_seed(0)
    model = NAO(**DEFAULTS).eval()
    seqs = torch.tensor(random_seqs(6, seed=1))
    outputs, (h, c), arch_emb, predicted = model.encoder(seqs)
    assert outputs.shape == (6, 20, 64) and h.shape == c.shape == (1, 6, 64)
    assert arch_emb.shape == (6, 64) and predicted.shape == (6, 1)
    torch.testing.assert_close(outputs.norm(dim=-1), torch.ones(6, 20))
    torch.testing.assert_close(arch_emb.norm(dim=-1), torch.ones(6))
    assert ((predicted > 0) & (predicted < 1)).all()

    for decoder_input in (shift_right(seqs), None):  # teacher forcing, greedy
        value, log_probs, tokens = model(seqs, decoder_input)
        torch.testing.assert_close(value, predicted)
        assert log_probs.shape == (6, 40, 12) and tokens.shape == (6, 40)
        torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(6, 40))
    torch.testing.assert_close(model.predict(seqs), predicted)
    new, new_values = model.generate_new_arch(seqs, 5.0)
    assert new.shape == (6, 40) and new.dtype == torch.long and new_values.shape == (6, 1)


def test_attention_by_hand():
    # With W_q = I and W_o = [I | 0] the output is tanh(context): [context; query] order, as
    # the original (renqianluo/NAO_pytorch, NAO_V2/decoder.py), so weights carry over.
    attention = LuongAttention(2)
    with torch.no_grad():
        attention.query_proj.weight.copy_(torch.eye(2))
        attention.combine_proj.weight.copy_(torch.cat([torch.eye(2), torch.zeros(2, 2)], 1))
    sources = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    query = torch.tensor([[[2.0, 0.0]]])
    weights = torch.softmax(torch.tensor([2.0, 0.0]), 0)
    expected = torch.tanh(weights[0] * sources[0, 0] + weights[1] * sources[0, 1])
    torch.testing.assert_close(attention(query, sources)[0, 0], expected)


def test_teacher_forcing_equals_stepwise_feeding():
    # One LSTM call over [SOS]+seq[:-1] must equal feeding those tokens one at a time.
    torch.manual_seed(0)
    model = NAO(**DEFAULTS).eval()
    seqs = torch.tensor(random_seqs(3, seed=2))
    with torch.no_grad():
        outputs, _, emb, _ = model.encoder(seqs)
        state = model._initial_state(emb)
        full, _ = model.decoder(state, outputs, shift_right(seqs))
        steps, inputs = [], shift_right(seqs)
        for t in range(40):
            log_probs, state = model.decoder._log_probs(inputs[:, t:t + 1], state, outputs)
            steps.append(log_probs)
    torch.testing.assert_close(full, torch.cat(steps, 1))


def test_bad_sizes_and_inputs_are_named():
    with pytest.raises(ConfigError, match="encoder_emb_size=16"):
        NAO(**dict(DEFAULTS, encoder_emb_size=16))
    with pytest.raises(ConfigError, match="encoder_length=15"):
        NAO(**dict(DEFAULTS, encoder_length=15))
    with pytest.raises(ConfigError, match="decoder_hidden_size=32"):
        NAO(**dict(DEFAULTS, decoder_hidden_size=32))
    with pytest.raises(ConfigError, match="decoder_length=36"):
        NAO(**dict(DEFAULTS, decoder_length=36))
    with pytest.raises(ConfigError, match="decoder_vocab_size=7"):
        NAO(**dict(DEFAULTS, decoder_vocab_size=7))
    model = NAO(**DEFAULTS)
    with pytest.raises(DataError, match=r"encoder input: shape \(2, 39\), expected \(batch, 40\)"):
        model.predict(torch.ones(2, 39, dtype=torch.long))
    bad = torch.ones(2, 40, dtype=torch.long)
    bad[1, 7] = 12
    with pytest.raises(DataError, match=r"token 12 at row 1, position 7, expected a token id "
                                        r"in 0\.\.11"):
        model.predict(bad)
    with pytest.raises(ConfigError, match="direction='up'"):
        model.generate_new_arch(torch.ones(1, 40, dtype=torch.long), 1.0, direction="up")


# --- 2. a short fit reconstructs and ranks ----------------------------------------------------

def test_short_fit_reconstructs_and_ranks(trained):
    model, seqs, targets, (loss, mse, ce) = trained
    values, decoded = controller_infer(model, seqs)
    token_accuracy = 1 - hamming_distance(seqs, decoded) / 40
    # Measured (seed 0, 300 epochs): 1.00 of tokens reconstructed, pairwise accuracy 0.989.
    assert token_accuracy >= 0.9
    assert pairwise_accuracy(targets, values) >= 0.9
    assert loss < 0.05 and mse < 0.01 and ce < 0.2
    # Teacher-forced choices reproduce the inputs too.
    with torch.no_grad():
        _, _, forced = model(torch.tensor(seqs), shift_right(torch.tensor(seqs)))
    assert (forced == torch.tensor(seqs)).float().mean() >= 0.9


def test_train_epoch_loss_is_the_weighted_sum():
    torch.manual_seed(0)
    model = NAO(**DEFAULTS)
    seqs, targets = random_seqs(7, seed=3), [0.1, 0.5, 0.9, 0.3, 0.2, 0.8, 0.6]
    data = ControllerData(seqs, targets)
    # lr 0 leaves the weights alone, so the epoch's means can be recomputed afterwards.
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    loss, mse, ce = controller_train_epoch(model, data.batches(3), optimizer, 0.7, 5.0)
    with torch.no_grad():
        x = torch.tensor(seqs)
        predicted, log_probs, _ = model(x, shift_right(x))
    expected_mse = float(((predicted.view(-1) - torch.tensor(targets)) ** 2).mean())
    expected_ce = float(-log_probs.gather(-1, x.unsqueeze(-1)).mean())
    assert mse == pytest.approx(expected_mse, rel=1e-5)
    assert ce == pytest.approx(expected_ce, rel=1e-5)
    assert loss == pytest.approx(0.7 * expected_mse + 0.3 * expected_ce, rel=1e-5)
    with pytest.raises(ConfigError, match="trade_off=1.5"):
        controller_train_epoch(model, data.batches(3), optimizer, 1.5, 5.0)
    with pytest.raises(DataError, match="no batches"):
        controller_train_epoch(model, [], optimizer, 0.8, 5.0)


# --- 3. decoded sequences are always valid architectures --------------------------------------

def test_cell_rule_is_the_originals_for_five_nodes():
    rule = CellDecodeRule(5, 5)
    for t in range(40):
        if t % 2 == 0:
            node = (t // 2 % 10) // 2  # the original's hard-coded index rule
            assert list(rule.allowed(t)) == list(range(1, node + 3))
        else:
            assert list(rule.allowed(t)) == list(range(7, 12))
    assert repr(CellDecodeRule.for_sizes(40, 12)) == "CellDecodeRule(nodes=5, num_ops=5)"


def test_cell_rule_for_three_nodes():
    rule = CellDecodeRule.for_sizes(24, vocab_size(3, 5))
    assert (rule.nodes, rule.num_ops) == (3, 5)
    assert [list(rule.allowed(t)) for t in (0, 2, 4, 8, 10, 12, 20)] == \
        [[1, 2], [1, 2], [1, 2, 3], [1, 2, 3, 4], [1, 2, 3, 4], [1, 2], [1, 2, 3, 4]]
    assert list(rule.allowed(1)) == list(range(5, 10))


@pytest.mark.parametrize("nodes", [5, 3])
def test_untrained_decodes_are_valid(nodes):
    torch.manual_seed(nodes)
    model = NAO(**sizes_for(nodes, hidden=32)).eval()
    seqs = torch.tensor(random_seqs(16, seed=nodes, nodes=nodes))
    with torch.no_grad():
        _, _, greedy = model(seqs)
        _, _, forced = model(seqs, shift_right(seqs))
    decoded = greedy.tolist() + forced.tolist()
    for step in (1, 10, 50):
        decoded += model.generate_new_arch(seqs, float(step))[0].tolist()
    for seq in decoded:
        seq_to_arch(seq, nodes)  # raises if any token breaks the cell rule


def test_decoded_after_training_and_steps_are_valid(trained):
    model, seqs, _, _ = trained
    for step in (1, 5, 20, 100):
        for seq in model.generate_new_arch(torch.tensor(seqs), float(step))[0].tolist():
            seq_to_arch(seq)


def test_rule_overrides_what_the_network_prefers():
    torch.manual_seed(0)
    model = NAO(**DEFAULTS).eval()
    with torch.no_grad():  # make SOS (never allowed) and op 4 (token 11) overwhelmingly likely
        model.decoder.classifier.bias[0] = 100.0
        model.decoder.classifier.bias[11] = 50.0
        _, _, tokens = model(torch.tensor(random_seqs(4, seed=5)))
    assert (tokens[:, 1::2] == 11).all()
    assert (tokens[:, 0::2] >= 1).all() and (tokens[:, 0::2] <= 6).all()


class OnlyToken:
    """A custom decode rule: the same single token everywhere."""

    def __init__(self, token):
        self.token = token

    def allowed(self, position):
        return [self.token]


def test_decode_rule_is_pluggable():
    torch.manual_seed(0)
    model = NAO(**DEFAULTS, decode_rule=OnlyToken(3)).eval()
    seqs = torch.tensor(random_seqs(2, seed=6))
    assert (model(seqs)[2] == 3).all()
    assert (model.generate_new_arch(seqs, 1.0)[0] == 3).all()
    assert "allowed" not in model.state_dict()  # configuration, not a weight
    with pytest.raises(ConfigError, match=r"position 0 allows tokens \[12\], expected a "
                                          r"non-empty set within 0\.\.11"):
        NAO(**DEFAULTS, decode_rule=OnlyToken(12))


# --- 4. gradient steps and generation ---------------------------------------------------------

def test_gradient_step_direction(trained):
    model, seqs, _, _ = trained
    model.eval()
    x = torch.tensor(seqs)
    with torch.no_grad():
        before = model.predict(x)
    for step in (0.5, 2.0, 10.0):
        _, up = model.generate_new_arch(x, step, "+")
        _, down = model.generate_new_arch(x, step, "-")
        assert up.mean() > before.mean() > down.mean()
    _, small = model.generate_new_arch(x, 1e-4, "+")
    torch.testing.assert_close(small, before, atol=1e-4, rtol=0)


def test_generate_new_archs_rules(trained):
    model, seqs, _, _ = trained
    existing = {tuple(s) for s in seqs}
    calls = []
    new = generate_new_archs(model, seqs, existing, max_new=10,
                             on_step=lambda step, kept: calls.append((step, kept)))
    assert 0 < len(new) <= 10
    assert len(set(new)) == len(new)
    assert not existing & set(new)
    for seq in new:
        seq_to_arch(seq)
    assert [s for s, _ in calls] == list(range(1, len(calls) + 1))
    assert calls[-1][1] == len(new)
    assert all(a[1] <= b[1] for a, b in zip(calls, calls[1:]))
    # Same model, same inputs: the same archs.
    assert generate_new_archs(model, seqs, existing, max_new=10) == new


def test_generate_stops_after_max_step_size(trained):
    model, seqs, _, _ = trained
    calls = []
    new = generate_new_archs(model, seqs[:2], set(), max_new=10 ** 6, max_step_size=3,
                             on_step=lambda step, kept: calls.append(step))
    # As the original loop, the size check follows the step: sizes 1..max_step_size+1 run.
    assert calls == [1, 2, 3, 4]
    assert 1 <= len(new) <= 2 * 4
    # Everything steps 1..3 can decode is already known: nothing new, and the loop still ends.
    calls.clear()
    assert generate_new_archs(model, seqs[:2], set(new), max_new=5, max_step_size=2,
                              on_step=lambda step, kept: calls.append(step)) == []
    assert calls == [1, 2, 3]
    assert generate_new_archs(model, seqs, set(), max_new=0) == []


# --- training data ----------------------------------------------------------------------------

def test_shift_right():
    x = torch.tensor([[5, 6, 7], [1, 2, 3]])
    assert shift_right(x).tolist() == [[0, 5, 6], [0, 1, 2]]


@pytest.mark.parametrize("nodes", [5, 3])
def test_swap_augmentation(nodes):
    seqs = random_seqs(6, seed=7, nodes=nodes)
    targets = [0.1 * i for i in range(6)]
    out_seqs, out_targets = augment_with_swaps(seqs, targets, 3, np.random.default_rng(0),
                                               nodes)
    assert len(out_seqs) == len(out_targets) == 18
    assert out_seqs[:6] == seqs and out_targets == targets * 3
    for i, seq in enumerate(out_seqs[6:]):
        original = seq_to_arch(seqs[i % 6], nodes)
        copy = seq_to_arch(seq, nodes)
        # One of the swaps of one node per cell.
        assert any(swap_node_inputs(original, a, b) == copy
                   for a in range(nodes) for b in range(nodes))
    # Seeded: the same copies again.
    again, _ = augment_with_swaps(seqs, targets, 3, np.random.default_rng(0), nodes)
    assert again == out_seqs
    # The swapped nodes are drawn over the whole cell, in both cells (the original hard-codes
    # 5 nodes here, issue #11).
    many = random_seqs(30, seed=8, nodes=nodes)
    copies, _ = augment_with_swaps(many, [0.0] * 30, 3, np.random.default_rng(1), nodes)
    changed = {"normal": set(), "reduce": set()}
    for i, seq in enumerate(copies[30:]):
        before, after = seq_to_arch(many[i % 30], nodes), seq_to_arch(seq, nodes)
        for cell in changed:
            old_cell, new_cell = getattr(before, cell), getattr(after, cell)
            changed[cell] |= {n for n in range(nodes)
                              if old_cell[4 * n:4 * n + 4] != new_cell[4 * n:4 * n + 4]}
    assert changed["normal"] == changed["reduce"] == set(range(nodes))


def test_controller_data_batches():
    seqs = random_seqs(7, seed=8)
    data = build_controller_data(seqs, [0.5] * 7, expand=2, rng=np.random.default_rng(1))
    assert len(data) == 14
    batches = list(data.batches(4, np.random.default_rng(2)))
    assert [len(b["encoder_input"]) for b in batches] == [4, 4, 4, 2]
    for b in batches:
        assert set(b) == {"encoder_input", "encoder_target", "decoder_input", "decoder_target"}
        assert torch.equal(b["decoder_target"], b["encoder_input"])
        assert (b["decoder_input"][:, 0] == 0).all()
        assert torch.equal(b["decoder_input"][:, 1:], b["encoder_input"][:, :-1])
        assert b["encoder_target"].shape == (len(b["encoder_input"]), 1)
    seen = torch.cat([b["encoder_input"] for b in batches])
    assert sorted(map(tuple, seen.tolist())) == sorted(map(tuple, data.inputs.tolist()))
    ordered = torch.cat([b["encoder_input"] for b in data.batches(5)])
    assert torch.equal(ordered, data.inputs)
    assert "encoder_target" not in next(ControllerData(seqs).batches(2))


def test_controller_data_errors():
    seqs = random_seqs(3, seed=9)
    with pytest.raises(DataError, match="sequence 2 has 39 tokens, expected 40"):
        ControllerData([seqs[0], seqs[1], seqs[2][:-1]])
    with pytest.raises(DataError, match="3 sequences and 2 targets"):
        ControllerData(seqs, [0.1, 0.2])
    with pytest.raises(DataError, match="no sequences"):
        ControllerData([])
    with pytest.raises(ConfigError, match="expand=0"):
        augment_with_swaps(seqs, [0, 0, 0], 0, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="expand > 1 needs targets and an rng"):
        build_controller_data(seqs, None, expand=2)


# --- 5. ranking -------------------------------------------------------------------------------

def test_pairwise_accuracy_golden():
    assert pairwise_accuracy([1, 2, 3], [10, 20, 30]) == 1.0
    assert pairwise_accuracy([1, 2, 3], [30, 20, 10]) == 0.0
    # 6 pairs; only (2, 3) disagrees: a ties (2 >= 2) but b has 0.4 < 0.5.
    assert pairwise_accuracy([3, 1, 2, 2], [0.9, 0.1, 0.5, 0.4]) == 1.0
    assert pairwise_accuracy([3, 1, 2, 2], [0.9, 0.1, 0.4, 0.5]) == pytest.approx(5 / 6)
    # Ties, counted as NAO counts them: a[i] >= a[j] and b[i] >= b[j] agrees.
    assert pairwise_accuracy([1, 1], [1, 1]) == 1.0
    assert pairwise_accuracy([1, 1], [1, 0]) == 1.0
    assert pairwise_accuracy([1, 1], [0, 1]) == 0.0
    assert pairwise_accuracy([1, 0], [1, 1]) == 1.0
    assert pairwise_accuracy([0, 1], [1, 1]) == 0.0  # asymmetric in its arguments
    # 3 items, pairs (0,1) ok, (0,2): 0.5 >= 0.5 and 2 >= 1 ok, (1,2): 0.2 < 0.5 but 3 >= 1 no.
    assert pairwise_accuracy(np.array([0.5, 0.2, 0.5]), [2, 3, 1]) == pytest.approx(1 / 3)


def test_hamming_distance_golden():
    assert hamming_distance([[1, 2, 3], [1, 1, 1]], [[1, 2, 4], [2, 2, 2]]) == 2.0
    assert hamming_distance([[1, 2]], [[1, 2]]) == 0.0
    assert hamming_distance([(1, 2, 3)], [np.array([3, 2, 1])]) == 2.0


def test_ranking_errors():
    with pytest.raises(DataError, match="3 and 2 values, expected the same length"):
        pairwise_accuracy([1, 2, 3], [1, 2])
    with pytest.raises(DataError, match="1 value"):
        pairwise_accuracy([1], [1])
    with pytest.raises(DataError, match="expected a flat list"):
        pairwise_accuracy([[1, 2]], [[1, 2]])
    with pytest.raises(DataError, match="2 and 1 sequences"):
        hamming_distance([[1], [2]], [[1]])
    with pytest.raises(DataError, match="sequence 1 has lengths 2 and 3"):
        hamming_distance([[1, 2], [1, 2]], [[1, 2], [1, 2, 3]])
    with pytest.raises(DataError, match="no sequences"):
        hamming_distance([], [])


# --- 6. determinism ---------------------------------------------------------------------------

def test_same_seed_same_controller():
    first, seqs, _, loss_a = fit(seed=3, epochs=15, n_archs=10)
    second, _, _, loss_b = fit(seed=3, epochs=15, n_archs=10)
    other, _, _, _ = fit(seed=4, epochs=15, n_archs=10)
    assert loss_a == loss_b
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    assert controller_infer(first, seqs) == controller_infer(second, seqs)
    assert controller_infer(first, seqs)[0] != controller_infer(other, seqs)[0]
    assert generate_new_archs(first, seqs, set(), 5) == generate_new_archs(second, seqs, set(), 5)


# --- NAO-V2's thin modules --------------------------------------------------------------------

def test_nao_v2_modules_expose_the_shared_classes(paper_module):
    from nasrepro.torch import nao_controller

    def _load(name):
        return paper_module("NAO-V2", name)
    assert _load("controller").NAO is nao_controller.EncoderPredictorDecoder
    assert _load("encoder").Encoder is nao_controller.Encoder
    assert _load("decoder").Decoder is nao_controller.Decoder
    for name in ("controller", "encoder", "decoder"):
        assert _load(name).__doc__.strip()

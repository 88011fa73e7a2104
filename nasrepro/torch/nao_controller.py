"""NAO's encoder-predictor-decoder (the "controller"), in PyTorch (renqianluo/NAO_pytorch,
NAO_V2/controller.py, encoder.py, decoder.py and their use in train_search.py, commit 418ff71).

The encoder embeds an architecture's token sequence, groups `source_length // length` tokens per
LSTM step, L2-normalises every step's output and mean-pools them into a unit-length architecture
embedding. The predictor maps that embedding to a value in (0, 1). The decoder starts its LSTM
from (embedding, embedding), attends over the encoder outputs and reconstructs the sequence,
choosing at each position the most likely token among those a decode rule allows.
New architectures come from moving the encoder outputs along the predictor's gradient and
decoding the result.

The layers are created in the same order and with the same shapes as the original NAO_V2 module,
so with the same torch seed both start from the same weights. The decode rule is pluggable
(`CellDecodeRule` for NAO's CNN cells; NAO-WS's RNN cells bring their own) and is generalised to
any node count (the original hard-codes 5 nodes, issue #11).
"""
from __future__ import annotations

from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..archs.nao import (DEFAULT_NODES, SMALL_OPS, CellBranchRule, allowed_tokens_mask,
                          arch_to_seq, collect_new_seqs, seq_to_arch, swap_node_inputs)
from ..errors import ConfigError, DataError, check_value

SOS_ID = 0  # start symbol fed to the decoder first; never part of an architecture sequence


# ----------------------------------------------------------------------------------------------
# Decode rules: which tokens may appear at each output position.

class CellDecodeRule(CellBranchRule):
    """NAO's CNN-cell constraint for cells of `nodes` nodes and `num_ops` ops, two tokens per
    node input (id, op): nasrepro.archs.nao.CellBranchRule with the vocabulary of 1 start
    symbol, nodes+1 input ids and the ops. Even positions of a cell are inputs of node
    `offset // 4`, which may read ids 0..node+1 (tokens 1..node+2); odd positions are ops
    (tokens nodes+2 .. nodes+1+num_ops). With nodes=5 this is exactly the original's rule
    (node = (t//2 % 10)//2, ops = tokens 7..11)."""

    def __init__(self, nodes: int = DEFAULT_NODES, num_ops: int = len(SMALL_OPS)):
        check_value(isinstance(nodes, int) and nodes >= 1, "CellDecodeRule", "nodes", nodes,
                    "an integer >= 1")
        check_value(isinstance(num_ops, int) and num_ops >= 1, "CellDecodeRule", "num_ops",
                    num_ops, "an integer >= 1")
        super().__init__(nodes, 2, nodes + 2 + num_ops)
        self.num_ops = num_ops

    @classmethod
    def for_sizes(cls, length: int, vocab_size: int) -> "CellDecodeRule":
        """The rule implied by a decoder length (8 tokens per node) and vocabulary size
        (1 start symbol + nodes+1 input ids + the ops)."""
        check_value(length > 0 and length % 8 == 0, "controller", "decoder_length", length,
                    "a positive multiple of 8 (two cells of 4 tokens per node)")
        nodes = length // 8
        num_ops = vocab_size - 1 - (nodes + 1)
        check_value(num_ops >= 1, "controller", "decoder_vocab_size", vocab_size,
                    f"more than {nodes + 2} (1 start symbol + {nodes + 1} input ids for "
                    f"{nodes} nodes + at least one op)")
        return cls(nodes, num_ops)

    def __repr__(self) -> str:
        return f"CellDecodeRule(nodes={self.nodes}, num_ops={self.num_ops})"


def decode_mask(rule, length: int, vocab_size: int) -> torch.Tensor:
    """(length, vocab_size) booleans: True where `rule.allowed(position)` admits the token."""
    return torch.from_numpy(allowed_tokens_mask(rule, length, vocab_size))


# ----------------------------------------------------------------------------------------------
# Encoder with predictor.

def _pool(outputs: torch.Tensor) -> torch.Tensor:
    """Unit-length architecture embedding: the mean of the per-step outputs, L2-normalised."""
    return F.normalize(outputs.mean(dim=1), p=2, dim=-1)


def _check_tokens(seq: torch.Tensor, length: int, vocab_size: int, what: str) -> None:
    if seq.dim() != 2 or seq.size(1) != length:
        raise DataError(f"{what}: shape {tuple(seq.shape)}, expected (batch, {length})")
    if seq.dtype not in (torch.int64, torch.int32):
        raise DataError(f"{what}: dtype {seq.dtype}, expected integer token ids")
    if seq.numel() and (seq.min() < 0 or seq.max() >= vocab_size):
        row, col = torch.nonzero((seq < 0) | (seq >= vocab_size))[0].tolist()
        raise DataError(f"{what}: token {seq[row, col].item()} at row {row}, position {col}, "
                        f"expected a token id in 0..{vocab_size - 1}")


class Encoder(nn.Module):
    """Token sequence -> per-step outputs, architecture embedding and predicted value."""

    def __init__(self, layers: int, vocab_size: int, hidden_size: int, dropout: float,
                 length: int, source_length: int, emb_size: int, mlp_layers: int,
                 mlp_hidden_size: int, mlp_dropout: float):
        super().__init__()
        check_value(length > 0 and source_length % length == 0, "controller", "encoder_length",
                    length, f"a positive divisor of source_length={source_length}")
        group = source_length // length
        check_value(group * emb_size == hidden_size, "controller", "encoder_emb_size", emb_size,
                    f"hidden_size / (source_length / encoder_length) = {hidden_size}/{group} "
                    f"(the LSTM reads {group} concatenated embeddings per step)")
        self.vocab_size, self.length, self.source_length = vocab_size, length, source_length
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.dropout = nn.Dropout(dropout)
        # LSTM dropout only acts between stacked layers (torch warns for 1 layer if non-zero).
        self.lstm = nn.LSTM(hidden_size, hidden_size, layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        mlp = []
        width = hidden_size
        for _ in range(mlp_layers):
            mlp += [nn.Linear(width, mlp_hidden_size), nn.ReLU(), nn.Dropout(mlp_dropout)]
            width = mlp_hidden_size
        self.mlp = nn.Sequential(*mlp)
        self.regressor = nn.Linear(width, 1)

    def predict_from_embedding(self, arch_emb: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.regressor(self.mlp(arch_emb)))

    def forward(self, seq: torch.Tensor):
        """Returns (outputs (B, length, H), LSTM (h, c), arch_emb (B, H), predicted (B, 1))."""
        _check_tokens(seq, self.source_length, self.vocab_size, "encoder input")
        embedded = self.dropout(self.embedding(seq))
        # Neighbouring tokens (an input id and its op) share one LSTM step.
        embedded = embedded.reshape(seq.size(0), self.length, -1)
        outputs, hidden = self.lstm(embedded)
        outputs = F.normalize(outputs, p=2, dim=-1)
        arch_emb = _pool(outputs)
        return outputs, hidden, arch_emb, self.predict_from_embedding(arch_emb)

    def step_in_embedding(self, seq: torch.Tensor, step_size: float, direction: str = "+"):
        """Move every per-step output along d(predicted)/d(outputs) by `step_size` ('+' up the
        predictor, '-' down), re-normalise and re-pool. Returns (moved outputs, moved arch_emb),
        both detached. Works under torch.no_grad() too."""
        if direction not in ("+", "-"):
            raise ConfigError(f"step_in_embedding direction={direction!r}: expected '+' or '-'")
        with torch.enable_grad():
            outputs, _, _, predicted = self(seq)
            # Summing over the batch gives each sample its own gradient (samples are independent).
            grads, = torch.autograd.grad(predicted.sum(), outputs)
        sign = 1.0 if direction == "+" else -1.0
        moved = F.normalize(outputs.detach() + sign * step_size * grads, p=2, dim=-1)
        return moved, _pool(moved)


# ----------------------------------------------------------------------------------------------
# Decoder with attention.

class LuongAttention(nn.Module):
    """Dot-product attention with a projected query: score_j = (W_q h) . s_j, and the output is
    tanh(W_o [context; h]). No biases."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.query_proj = nn.Linear(hidden_size, hidden_size, bias=False)
        self.combine_proj = nn.Linear(2 * hidden_size, hidden_size, bias=False)

    def forward(self, queries: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
        # queries (B, T, H), sources (B, S, H) -> (B, T, H)
        weights = torch.softmax(torch.bmm(self.query_proj(queries), sources.transpose(1, 2)),
                                dim=-1)
        context = torch.bmm(weights, sources)
        return torch.tanh(self.combine_proj(torch.cat([context, queries], dim=-1)))


class Decoder(nn.Module):
    """LSTM decoder over the encoder outputs; teacher-forced or greedy under a decode rule."""

    def __init__(self, layers: int, vocab_size: int, hidden_size: int, dropout: float,
                 length: int, encoder_length: int, decode_rule=None):
        super().__init__()
        self.vocab_size, self.length, self.layers = vocab_size, length, layers
        self.encoder_length = encoder_length
        self.decode_rule = decode_rule or CellDecodeRule.for_sizes(length, vocab_size)
        self.lstm = nn.LSTM(hidden_size, hidden_size, layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.embedding = nn.Embedding(vocab_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.attention = LuongAttention(hidden_size)
        self.classifier = nn.Linear(hidden_size, vocab_size)
        # Not persistent: the rule is configuration, not a learned weight.
        self.register_buffer("allowed", decode_mask(self.decode_rule, length, vocab_size),
                             persistent=False)

    def _log_probs(self, tokens, hidden, encoder_outputs):
        outputs, hidden = self.lstm(self.dropout(self.embedding(tokens)), hidden)
        return F.log_softmax(self.classifier(self.attention(outputs, encoder_outputs)), -1), hidden

    def _choose(self, log_probs: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        return log_probs.detach().masked_fill(~allowed, float("-inf")).argmax(dim=-1)

    def forward(self, hidden, encoder_outputs: torch.Tensor,
                inputs: Optional[torch.Tensor] = None):
        """Returns (log-probs (B, length, vocab), chosen tokens (B, length)).

        With `inputs` ([SOS] + target[:-1], teacher forcing) every position is read from it;
        without, decoding is greedy from SOS, feeding back each chosen token. Either way the
        chosen token is the best one the decode rule allows at that position."""
        if inputs is not None:
            _check_tokens(inputs, self.length, self.vocab_size, "decoder input")
            # No input feeding, so one LSTM call over all positions equals stepping through.
            log_probs, _ = self._log_probs(inputs, hidden, encoder_outputs)
            return log_probs, self._choose(log_probs, self.allowed)
        token = torch.full((encoder_outputs.size(0), 1), SOS_ID, dtype=torch.long,
                           device=encoder_outputs.device)
        steps, chosen = [], []
        for position in range(self.length):
            log_probs, hidden = self._log_probs(token, hidden, encoder_outputs)
            token = self._choose(log_probs, self.allowed[position])
            steps.append(log_probs)
            chosen.append(token)
        return torch.cat(steps, dim=1), torch.cat(chosen, dim=1)


# ----------------------------------------------------------------------------------------------
# The whole controller.

class EncoderPredictorDecoder(nn.Module):
    """NAO's controller; arguments as the original's --controller_* flags, plus `decode_rule`
    (default: the CNN-cell rule implied by decoder_length and decoder_vocab_size)."""

    def __init__(self, encoder_layers: int, encoder_vocab_size: int, encoder_hidden_size: int,
                 encoder_dropout: float, encoder_length: int, source_length: int,
                 encoder_emb_size: int, mlp_layers: int, mlp_hidden_size: int,
                 mlp_dropout: float, decoder_layers: int, decoder_vocab_size: int,
                 decoder_hidden_size: int, decoder_dropout: float, decoder_length: int,
                 decode_rule=None):
        super().__init__()
        # The decoder starts from the architecture embedding, so the sizes must agree.
        check_value(decoder_hidden_size == encoder_hidden_size, "controller",
                    "decoder_hidden_size", decoder_hidden_size,
                    f"encoder_hidden_size={encoder_hidden_size}")
        self.encoder = Encoder(encoder_layers, encoder_vocab_size, encoder_hidden_size,
                               encoder_dropout, encoder_length, source_length, encoder_emb_size,
                               mlp_layers, mlp_hidden_size, mlp_dropout)
        self.decoder = Decoder(decoder_layers, decoder_vocab_size, decoder_hidden_size,
                               decoder_dropout, decoder_length, encoder_length, decode_rule)

    def _initial_state(self, arch_emb: torch.Tensor):
        # (h0, c0) = (emb, emb); with stacked decoder layers each layer starts from it (the
        # original only supports one layer).
        state = arch_emb.unsqueeze(0).repeat(self.decoder.layers, 1, 1).contiguous()
        return state, state

    def forward(self, input_seq: torch.Tensor, decoder_input: Optional[torch.Tensor] = None):
        """Returns (predicted (B, 1), log-probs (B, L, V), decoded tokens (B, L)).
        `decoder_input` is [SOS] + input_seq[:-1] for teacher forcing; None decodes greedily."""
        outputs, _, arch_emb, predicted = self.encoder(input_seq)
        log_probs, tokens = self.decoder(self._initial_state(arch_emb), outputs, decoder_input)
        return predicted, log_probs, tokens

    def predict(self, seq: torch.Tensor) -> torch.Tensor:
        return self.encoder(seq)[3]

    def generate_new_arch(self, input_seq: torch.Tensor, step_size: float,
                          direction: str = "+") -> Tuple[torch.Tensor, torch.Tensor]:
        """Decode from the encoder outputs moved `step_size` along the predictor's gradient.
        Returns (new token seqs (B, L), predicted values of the moved embeddings (B, 1))."""
        moved, moved_emb = self.encoder.step_in_embedding(input_seq, step_size, direction)
        with torch.no_grad():
            _, tokens = self.decoder(self._initial_state(moved_emb), moved)
            return tokens, self.encoder.predict_from_embedding(moved_emb)


NAO = EncoderPredictorDecoder


# ----------------------------------------------------------------------------------------------
# Training data.

def shift_right(seqs: torch.Tensor, sos_id: int = SOS_ID) -> torch.Tensor:
    """Teacher-forcing decoder input: [SOS] + seq[:-1] for every row."""
    start = torch.full_like(seqs[:, :1], sos_id)
    return torch.cat([start, seqs[:, :-1]], dim=1)


def augment_with_swaps(seqs: Sequence[Sequence[int]], targets: Sequence[float], expand: int,
                       rng: np.random.Generator, nodes: int = DEFAULT_NODES,
                       num_ops: int = len(SMALL_OPS)) -> Tuple[list, list]:
    """The samples, then `expand - 1` rounds of copies in which one random node of each cell
    has its two (input, op) pairs swapped (the same architecture); targets are copied.
    Within a round the normal-cell node is drawn before the reduction-cell node, per sample."""
    check_value(isinstance(expand, int) and expand >= 1, "controller", "expand", expand,
                "an integer >= 1 (1 = no augmentation)")
    if len(seqs) != len(targets):
        raise DataError(f"augment_with_swaps: {len(seqs)} sequences and {len(targets)} targets, "
                        f"expected one target per sequence")
    archs = [seq_to_arch(seq, nodes, num_ops) for seq in seqs]
    out_seqs, out_targets = [list(map(int, s)) for s in seqs], list(targets)
    for _ in range(expand - 1):
        for arch, target in zip(archs, targets):
            a, b = int(rng.integers(0, nodes)), int(rng.integers(0, nodes))
            out_seqs.append(arch_to_seq(swap_node_inputs(arch, a, b)))
            out_targets.append(target)
    return out_seqs, out_targets


class ControllerData:
    """Token sequences (and optional targets) served as controller batches:
    {encoder_input, encoder_target, decoder_input, decoder_target} (no encoder_target
    without targets)."""

    def __init__(self, seqs: Sequence[Sequence[int]],
                 targets: Optional[Sequence[float]] = None):
        if len(seqs) == 0:
            raise DataError("controller data: no sequences")
        lengths = {len(s) for s in seqs}
        if len(lengths) != 1:
            first = len(seqs[0])
            index = next(i for i, s in enumerate(seqs) if len(s) != first)
            raise DataError(f"controller data: sequence {index} has {len(seqs[index])} tokens, "
                            f"expected {first} like sequence 0")
        if targets is not None and len(targets) != len(seqs):
            raise DataError(f"controller data: {len(seqs)} sequences and {len(targets)} "
                            f"targets, expected one target per sequence")
        self.inputs = torch.as_tensor(np.asarray(seqs, dtype=np.int64))
        self.targets = (None if targets is None else
                        torch.as_tensor(np.asarray(targets, dtype=np.float32)).view(-1, 1))

    def __len__(self) -> int:
        return len(self.inputs)

    def batches(self, batch_size: int,
                rng: Optional[np.random.Generator] = None) -> Iterator[Dict[str, torch.Tensor]]:
        """Batches in order, or in a fresh random order drawn from `rng`."""
        check_value(batch_size >= 1, "controller", "batch_size", batch_size, "an integer >= 1")
        order = np.arange(len(self)) if rng is None else rng.permutation(len(self))
        for start in range(0, len(self), batch_size):
            index = torch.as_tensor(order[start:start + batch_size])
            inputs = self.inputs[index]
            batch = {"encoder_input": inputs, "decoder_input": shift_right(inputs),
                     "decoder_target": inputs}
            if self.targets is not None:
                batch["encoder_target"] = self.targets[index]
            yield batch


def build_controller_data(seqs, targets=None, expand: int = 1,
                          rng: Optional[np.random.Generator] = None,
                          nodes: int = DEFAULT_NODES,
                          num_ops: int = len(SMALL_OPS)) -> ControllerData:
    """ControllerData of the samples, augmented `expand`-fold with swapped copies (as the
    original's --controller_expand) when expand > 1."""
    if expand != 1:
        if rng is None or targets is None:
            raise ConfigError("build_controller_data: expand > 1 needs targets and an rng")
        seqs, targets = augment_with_swaps(seqs, targets, expand, rng, nodes, num_ops)
    return ControllerData(seqs, targets)


# ----------------------------------------------------------------------------------------------
# Training, inference and generation loops.

def controller_train_epoch(model: EncoderPredictorDecoder, batches: Iterable[dict],
                           optimizer: torch.optim.Optimizer, trade_off: float,
                           grad_bound: float) -> Tuple[float, float, float]:
    """One pass; loss = trade_off * MSE(predicted, target) + (1 - trade_off) * NLL of the
    teacher-forced reconstruction. Returns the sample-weighted means (loss, mse, ce)."""
    check_value(0.0 <= trade_off <= 1.0, "controller", "trade_off", trade_off, "a value in [0, 1]")
    check_value(grad_bound > 0, "controller", "grad_bound", grad_bound, "a positive number")
    model.train()
    sums, count = np.zeros(3), 0
    for batch in batches:
        optimizer.zero_grad()
        predicted, log_probs, _ = model(batch["encoder_input"], batch["decoder_input"])
        mse = F.mse_loss(predicted.view(-1), batch["encoder_target"].view(-1))
        ce = F.nll_loss(log_probs.reshape(-1, log_probs.size(-1)),
                        batch["decoder_target"].reshape(-1))
        loss = trade_off * mse + (1.0 - trade_off) * ce
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), grad_bound)
        optimizer.step()
        n = batch["encoder_input"].size(0)
        sums += n * np.array([loss.item(), mse.item(), ce.item()])
        count += n
    if count == 0:
        raise DataError("controller_train_epoch: no batches")
    loss, mse, ce = sums / count
    return float(loss), float(mse), float(ce)


def controller_infer(model: EncoderPredictorDecoder, seqs: Sequence[Sequence[int]],
                     batch_size: Optional[int] = None) -> Tuple[List[float], List[tuple]]:
    """Predicted values and greedy reconstructions (eval mode, no gradients)."""
    data = ControllerData(seqs)
    model.eval()
    values, decoded = [], []
    with torch.no_grad():
        for batch in data.batches(batch_size or len(data)):
            predicted, _, tokens = model(batch["encoder_input"])
            values += predicted.view(-1).tolist()
            decoded += [tuple(row) for row in tokens.tolist()]
    return values, decoded


def generate_new_archs(model: EncoderPredictorDecoder, top_seqs: Sequence[Sequence[int]],
                       existing: set, max_new: int, max_step_size: int = 50,
                       direction: str = "+",
                       on_step: Optional[Callable[[int, int], None]] = None) -> List[tuple]:
    """New token sequences from gradient steps of size 1, 2, ... on `top_seqs` (one batch),
    kept by nasrepro.archs.nao.collect_new_seqs (new to `existing` and to each other, up to
    `max_new`; the last step tried is max_step_size + 1). `on_step(step_size, kept_so_far)`
    after every step (for the "Generate new architectures with step size %d" /
    "%d new archs generated now" log lines)."""
    check_value(max_new >= 0, "controller", "new_arch", max_new, "an integer >= 0")
    inputs = ControllerData(top_seqs).inputs
    model.eval()

    def decode_at(step_size):
        tokens, _ = model.generate_new_arch(inputs, step_size, direction)
        return tokens.tolist()
    kept, _ = collect_new_seqs(decode_at, existing, max_new, max_step_size, on_step)
    return kept

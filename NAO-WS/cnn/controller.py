"""The NAO-WS controller (renqianluo/NAO NAO-WS/cnn/controller.py with encoder/encoder.py and
decoder/decoder.py): the encoder-predictor-decoder of nasrepro.tf.nao_epd built from the
--controller_* flags, trained each round on the pool's normalized error rates, and the
generation of new architectures by gradient steps on its encoder outputs.

As in the original, the controller is not re-initialized between rounds: every round trains
--controller_train_epochs more epochs from where the last one stopped (Adam's moments and step
count included). It is checkpointed in <output_dir>/controller every
--controller_save_frequency epochs and at the end of each round's training, with the round and
epoch it has reached, so a killed search resumes mid-training."""
import time

import numpy as np

from nasrepro.archs.nao import vocab_size
from nasrepro.errors import ConfigError, check_positive
from nasrepro.ranking import hamming_distance, pairwise_accuracy
from nasrepro.tf.checkpoint import TFCheckpointer
from nasrepro.tf.nao_epd import (EncoderPredictorDecoder, generate_new_archs, make_optimizer,
                                 train_epd)
from nasrepro.tf.startup import import_tensorflow

tf = import_tensorflow()
LOG_EVERY = 100  # controller steps between log lines, hard-coded in the original
ADAM_MAX_LR = 0.001  # the original asserts Adam's learning rate is at most this


def check_controller_args(args) -> None:
    check_positive(args, "controller_num_seed_arch", "controller_encoder_hidden_size",
                   "controller_encoder_emb_size", "controller_decoder_hidden_size",
                   "controller_source_length", "controller_encoder_length",
                   "controller_decoder_length", "controller_encoder_vocab_size",
                   "controller_decoder_vocab_size", "controller_save_frequency",
                   "controller_batch_size", expected="a positive integer")
    if args.controller_mlp_num_layers < 0 or args.controller_train_epochs < 0:
        raise ConfigError("--controller_mlp_num_layers and --controller_train_epochs: "
                          "expected integers >= 0")
    expected_length = 8 * args.child_num_cells
    for flag in ("controller_source_length", "controller_decoder_length"):
        if getattr(args, flag) != expected_length:
            raise ConfigError(f"--{flag}={getattr(args, flag)}: the architectures of "
                              f"--child_num_cells={args.child_num_cells} are {expected_length} "
                              "tokens (2 cells x nodes x 2 branches x 2 tokens)")
    expected_vocab = vocab_size(args.child_num_cells)
    for flag in ("controller_encoder_vocab_size", "controller_decoder_vocab_size"):
        if getattr(args, flag) != expected_vocab:
            raise ConfigError(f"--{flag}={getattr(args, flag)}: expected {expected_vocab} "
                              f"(start token, {args.child_num_cells + 1} input ids, 5 ops)")
    if args.controller_encoder_hidden_size != args.controller_decoder_hidden_size:
        raise ConfigError("--controller_encoder_hidden_size and --controller_decoder_hidden_size"
                          " must be equal: the architecture embedding is the decoder's state")
    if (args.controller_encoder_num_layers, args.controller_decoder_num_layers) != (1, 1):
        raise ConfigError("--controller_encoder_num_layers / --controller_decoder_num_layers: "
                          "only 1 (the script's) is ported")
    if args.controller_optimizer != "adam":
        raise ConfigError(f"--controller_optimizer={args.controller_optimizer}: only adam (the "
                          "script's) is ported")
    if not 0 < args.controller_lr <= ADAM_MAX_LR:
        raise ConfigError(f"--controller_lr={args.controller_lr}: expected a rate in "
                          f"(0, {ADAM_MAX_LR}] (the original refuses a higher Adam rate)")
    if not args.controller_attention:
        raise ConfigError("--controller_attention: the decoder without attention is not ported "
                          "(train_search.sh sets the flag)")
    if args.controller_predict_beam_width != 0:
        raise ConfigError(f"--controller_predict_beam_width={args.controller_predict_beam_width}"
                          ": only greedy decoding (0, the script's) is ported")


class Controller:
    """The EPD of a search, its Adam optimizer and its checkpoints."""

    def __init__(self, args, seed: int, directory, log):
        check_controller_args(args)
        self.args, self.log = args, log
        self.seed = seed
        self.model = EncoderPredictorDecoder(
            vocab_size=args.controller_encoder_vocab_size,
            source_length=args.controller_source_length,
            encoder_length=args.controller_encoder_length,
            emb_size=args.controller_encoder_emb_size,
            hidden_size=args.controller_encoder_hidden_size,
            encoder_dropout=args.controller_encoder_dropout,
            mlp_num_layers=args.controller_mlp_num_layers,
            mlp_hidden_size=args.controller_mlp_hidden_size,
            mlp_dropout=args.controller_mlp_dropout,
            mlp_dropout_active=args.controller_mlp_dropout_active,
            decoder_vocab_size=args.controller_decoder_vocab_size,
            decoder_length=args.controller_decoder_length,
            decoder_dropout=args.controller_decoder_dropout,
            nodes=args.child_num_cells, seed=seed, name="EPD")
        self.optimizer = make_optimizer(self.model, args.controller_lr)
        # How far training has got: the round it belongs to and its epochs in that round.
        self.trained_round = tf.Variable(-1, dtype=tf.int64, trainable=False, name="round")
        self.trained_epochs = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs")
        self.checkpointer = TFCheckpointer(directory, max_to_keep=2, model=self.model,
                                           optimizer=self.optimizer,
                                           round=self.trained_round,
                                           epochs=self.trained_epochs)

    def restore(self):
        return self.checkpointer.restore_latest()

    def _save(self) -> None:
        self.checkpointer.save(int(self.optimizer.iterations.numpy()))

    def train(self, round_index: int, seqs, targets, epoch_callback=None) -> None:
        """`--controller_train_epochs` epochs on (seqs, targets), continuing a killed round."""
        args = self.args
        if int(self.trained_round.numpy()) != round_index:
            self.trained_round.assign(round_index)
            self.trained_epochs.assign(0)
        start = int(self.trained_epochs.numpy())
        self.log("Training Encoder-Predictor-Decoder")
        self.log("Data size : {}, {}".format(np.asarray(seqs).shape, np.asarray(targets).shape))
        if start:
            self.log("Resuming at epoch {} of this round".format(start))
        batches = -(-len(seqs) // args.controller_batch_size)
        # The original's quirk: building the prediction graph in round 1 sets the shared
        # params' encoder_dropout to 0, and later rounds train with that.
        dropout = None if round_index == 0 or args.controller_encoder_dropout_every_round else 0.0
        started = time.time()

        def log_step(step, v):
            if step % LOG_EVERY == 0:
                self.log("epoch={:<6d} ".format(step // batches) + "step={:<6d} ".format(step)
                         + "se={:<6f} ".format(v["mse"])
                         + "cross_entropy={:<6f} ".format(v["ce"])
                         + "loss={:<6f} ".format(v["loss"])
                         + "learning_rate={:<8.4f} ".format(args.controller_lr)
                         + "|gn|={:<8.4f} ".format(v["grad_norm"])
                         + "mins={:<10.2f}".format((time.time() - started) / 60))

        for epoch in range(start, args.controller_train_epochs):
            # One generator per (seed, round, epoch): the same order and swaps after a resume.
            rng = np.random.default_rng([self.seed, round_index, epoch])
            history = train_epd(
                self.model, self.optimizer, seqs, targets, 1,
                batch_size=args.controller_batch_size, trade_off=args.controller_trade_off,
                weight_decay=args.controller_weight_decay,
                max_grad_norm=args.controller_max_gradient_norm,
                symmetry=args.controller_symmetry, rng=rng,
                decoder_input_after_swap=args.controller_swap_decoder_input,
                encoder_dropout=dropout, on_batch=log_step)
            self.trained_epochs.assign(epoch + 1)
            if epoch_callback is not None:
                row = history[0]
                epoch_callback({"epoch": round_index * args.controller_train_epochs + epoch + 1,
                                "round": round_index + 1, "loss": row["loss"],
                                "mse": row["mse"], "ce": row["ce"]})
            if (epoch + 1) % args.controller_save_frequency == 0:
                self._save()
        self._save()

    def evaluate(self, seqs, targets) -> tuple:
        """(pairwise accuracy of the predictions against `targets`, mean Hamming distance of
        the greedy reconstructions from `seqs`)."""
        predicted = self.model.predict(seqs)
        decoded = self.model.decode(seqs)
        return pairwise_accuracy(targets, predicted), hamming_distance(seqs, decoded)

    def predict(self, seqs) -> np.ndarray:
        return self.model.predict(seqs)

    def generate(self, top_seqs, existing_seqs, max_new: int, max_step_size: int) -> tuple:
        """(new token sequences, last step size): train_search.py's loop over eta = 1, 2, ..."""
        def on_step(eta, kept):
            self.log("Generating new architectures using gradient descent with step size "
                     "{}".format(eta))
            self.log("{} new archs generated now".format(kept))
        return generate_new_archs(self.model, top_seqs, existing_seqs, max_new, max_step_size,
                                  on_step=on_step)

"""NAO-V2's encoder-predictor-decoder, under the original file name and class name `NAO`.

`NAO(...)` takes the --controller_* sizes of train_search.py in the original order;
`forward` returns (predicted value, decoder log-probs, decoded tokens), `predict` the value
alone, and `generate_new_arch(seqs, step_size, direction)` decodes new architectures from
encoder outputs moved along the predictor's gradient. The implementation is shared with
NAO-WS and lives in nasrepro.torch.nao_controller (class EncoderPredictorDecoder).
"""
from nasrepro.torch.nao_controller import NAO, EncoderPredictorDecoder

__all__ = ["NAO", "EncoderPredictorDecoder"]

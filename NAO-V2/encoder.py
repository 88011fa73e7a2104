"""NAO-V2's controller encoder, under the original file name.

`Encoder` embeds an architecture's 40 tokens, reads them two per step with an LSTM,
L2-normalises the outputs, mean-pools them into a unit-length architecture embedding and
predicts the architecture's (normalised) accuracy from it with a sigmoid regressor; its
`step_in_embedding` moves the outputs along the predictor's gradient. The implementation is
shared with NAO-WS and lives in nasrepro.torch.nao_controller.
"""
from nasrepro.torch.nao_controller import Encoder

__all__ = ["Encoder"]

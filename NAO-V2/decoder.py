"""NAO-V2's controller decoder, under the original file name.

`Decoder` is an LSTM started from the architecture embedding that attends over the encoder
outputs (Luong dot-product attention) and rebuilds the token sequence, teacher-forced in
training and greedy at inference, choosing at each position only among the tokens the cell
rule allows (input ids the node may read, or ops). The implementation is shared with NAO-WS
and lives in nasrepro.torch.nao_controller.
"""
from nasrepro.torch.nao_controller import SOS_ID, CellDecodeRule, Decoder, LuongAttention

__all__ = ["Decoder", "LuongAttention", "CellDecodeRule", "SOS_ID"]

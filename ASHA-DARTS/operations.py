"""The DARTS op table, shared with NAO-V2 and GAEA: written once in nasrepro.torch.ops."""
from nasrepro.torch.ops import (OPS, DilConv, FactorizedReduce, Identity, ReLUConvBN,  # noqa: F401
                                SepConv, Zero)

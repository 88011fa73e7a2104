"""The DARTS op table with the activation as a parameter (the example's operations.py): written
once in nasrepro.torch.ops. ActivationConvBN is DARTS' ReLUConvBN with `activation` given; the
factorized reduce keeps its ReLU, as the example's did (the activation is not passed to it)."""
from nasrepro.torch.ops import (OPS, DilConv, FactorizedReduce, Identity,  # noqa: F401
                                ReLUConvBN as ActivationConvBN, SepConv, Zero)

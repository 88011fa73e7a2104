"""DARTS' evaluation network (the example copied quark0/darts' model.py): nasrepro's
NetworkCIFAR builds the same modules, parameter for parameter."""
from nasrepro.torch.darts_network import Cell, NetworkCIFAR  # noqa: F401

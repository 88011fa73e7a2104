"""nasrepro: the shared library behind the paper folders (ENAS, NAO, NAO-WS, NAO-V2,
GAEA-ImageNet, ASHA-DARTS). Paper folders import from here; nothing here imports them."""

__version__ = "0.1.0"

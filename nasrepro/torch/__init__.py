"""PyTorch building blocks shared by the PyTorch systems (NAO-V2, the DARTS family, NAO RNNs)."""

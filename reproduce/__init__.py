"""Reproduction harness: the claims registry, the `make` jobs, the runner and the verifier."""

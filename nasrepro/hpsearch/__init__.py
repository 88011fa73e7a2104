"""Hyperparameter search: Determined-style experiment configs and ASHA."""

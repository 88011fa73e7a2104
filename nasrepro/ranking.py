"""How well a performance predictor ranks architectures, and how far decoded sequences drift.

NAO-family searches log both every 100 controller epochs: the pairwise accuracy of the
predictor against the measured (normalised) accuracies, and the mean Hamming distance between
the input token sequences and what the decoder reconstructs from them.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import DataError


def _vector(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise DataError(f"{name}: expected a flat list of numbers, got shape {array.shape}")
    return array


def pairwise_accuracy(a: Sequence[float], b: Sequence[float]) -> float:
    """Fraction of pairs i < j that `a` and `b` order the same way.

    Ties count as NAO counts them: a pair agrees when a[i] >= a[j] and b[i] >= b[j], or when
    a[i] < a[j] and b[i] < b[j]. So a tie in `a` agrees only with b[i] >= b[j], which makes the
    measure asymmetric in its arguments (NAO passes the targets first, predictions second)."""
    a, b = _vector(a, "pairwise_accuracy first list"), _vector(b, "pairwise_accuracy second list")
    if len(a) != len(b):
        raise DataError(f"pairwise_accuracy: the lists have {len(a)} and {len(b)} values, "
                        f"expected the same length")
    if len(a) < 2:
        raise DataError(f"pairwise_accuracy: {len(a)} value(s), expected at least 2 to form a "
                        f"pair")
    i, j = np.triu_indices(len(a), k=1)
    same_order = ((a[i] >= a[j]) & (b[i] >= b[j])) | ((a[i] < a[j]) & (b[i] < b[j]))
    return float(np.count_nonzero(same_order)) / len(i)


def hamming_distance(seqs_a: Sequence[Sequence[int]], seqs_b: Sequence[Sequence[int]]) -> float:
    """Mean over sequence pairs of the number of positions where the two differ."""
    if len(seqs_a) != len(seqs_b):
        raise DataError(f"hamming_distance: {len(seqs_a)} and {len(seqs_b)} sequences, "
                        f"expected the same number")
    if len(seqs_a) == 0:
        raise DataError("hamming_distance: no sequences, expected at least one pair")
    total = 0
    for index, (first, second) in enumerate(zip(seqs_a, seqs_b)):
        first, second = np.asarray(first).ravel(), np.asarray(second).ravel()
        if len(first) != len(second):
            raise DataError(f"hamming_distance: sequence {index} has lengths {len(first)} and "
                            f"{len(second)}, expected equal lengths")
        total += int(np.count_nonzero(first != second))
    return total / len(seqs_a)

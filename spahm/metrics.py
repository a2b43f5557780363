"""Metrics shared by several applications: Hausdorff distance, Hungarian relabelling,
normalised Hamming distance and the adjusted Rand index."""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from sklearn.metrics import adjusted_rand_score


def hausdorff(estimated, truth):
    """Hausdorff distance between two sets of atoms (rows), Euclidean.

    ``max(max_a min_b |a - b|, max_b min_a |a - b|)``.
    """
    estimated = np.atleast_2d(np.asarray(estimated, dtype=float))
    truth = np.atleast_2d(np.asarray(truth, dtype=float))
    if estimated.shape[0] == 0 or truth.shape[0] == 0:
        raise ValueError("hausdorff: both atom sets must be non-empty")
    if estimated.shape[1] != truth.shape[1]:
        raise ValueError(
            f"hausdorff: dimensions differ ({estimated.shape[1]} estimated vs {truth.shape[1]} true)"
        )
    d = cdist(estimated, truth)
    return float(max(d.min(axis=1).max(), d.min(axis=0).max()))


def relabel(predicted, truth):
    """Map predicted labels onto true labels by the optimal one-to-one matching.

    Hungarian assignment on the confusion matrix (maximising agreement); predicted labels left
    without a partner get fresh labels that match no true label.
    """
    predicted = np.asarray(predicted)
    truth = np.asarray(truth)
    if predicted.shape != truth.shape:
        raise ValueError(f"relabel: {predicted.shape[0]} predicted labels vs {truth.shape[0]} true")
    p_values, p_idx = np.unique(predicted, return_inverse=True)
    t_values, t_idx = np.unique(truth, return_inverse=True)
    confusion = np.zeros((len(p_values), len(t_values)))
    np.add.at(confusion, (p_idx, t_idx), 1)
    rows, cols = linear_sum_assignment(confusion, maximize=True)
    mapping = np.empty(len(p_values), dtype=object)
    unmatched = [v for v in range(len(p_values)) if v not in set(rows)]
    mapping[rows] = t_values[cols]
    fresh = np.max(t_values) + 1 if np.issubdtype(t_values.dtype, np.number) else None
    for k, v in enumerate(unmatched):
        mapping[v] = fresh + k if fresh is not None else f"__unmatched_{k}"
    return np.array(mapping[p_idx].tolist())


def hamming(predicted, truth):
    """Normalised Hamming distance after the optimal one-to-one relabelling (0 is perfect)."""
    truth = np.asarray(truth)
    return float(np.mean(relabel(predicted, truth) != truth))


def ari(predicted, truth):
    """Adjusted Rand index (scikit-learn)."""
    return float(adjusted_rand_score(np.asarray(truth), np.asarray(predicted)))

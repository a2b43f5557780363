"""Metrics shared by several applications: Hausdorff distance, Hungarian relabelling,
normalised Hamming distance and the adjusted Rand index."""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from sklearn.metrics import adjusted_rand_score


def scaled_distances(a, b):
    """Euclidean distances between the rows of ``a`` and of ``b`` as ``(d, unit)``: the
    distances are ``d * unit``, computed on the rows divided by their largest magnitude
    ``unit`` so that no square overflows or underflows (``d`` is exact to rounding for any
    finite input; ``d * unit`` may exceed the float range)."""
    unit = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    unit = unit if unit > 0.0 else 1.0
    return cdist(a / unit, b / unit), unit


def _finite_rows(x, name):
    from ._validation import as_real_array

    x = np.atleast_2d(as_real_array(x, f"hausdorff: {name}"))
    if x.ndim != 2:
        raise ValueError(f"hausdorff: {name} must be a 2-D array of atoms (rows), got shape "
                         f"{x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"hausdorff: {name} holds NaN or infinite values")
    return x


def hausdorff(estimated, truth):
    """Hausdorff distance between two sets of atoms (rows), Euclidean.

    ``max(max_a min_b |a - b|, max_b min_a |a - b|)``.

    Raises
    ------
    ValueError
        Empty sets, different dimensions, non-finite values, or a distance beyond the float
        range (never NaN).
    """
    estimated, truth = _finite_rows(estimated, "estimated"), _finite_rows(truth, "truth")
    if estimated.shape[0] == 0 or truth.shape[0] == 0:
        raise ValueError("hausdorff: both atom sets must be non-empty")
    if estimated.shape[1] != truth.shape[1]:
        raise ValueError(
            f"hausdorff: dimensions differ ({estimated.shape[1]} estimated vs {truth.shape[1]} true)"
        )
    d, unit = scaled_distances(estimated, truth)
    value = float(max(d.min(axis=1).max(), d.min(axis=0).max())) * unit
    if not np.isfinite(value):
        raise ValueError("hausdorff: the distance exceeds the float range")
    return value


def relabel(predicted, truth):
    """Map predicted labels onto true labels by the optimal one-to-one matching.

    Hungarian assignment on the confusion matrix (maximising agreement); predicted labels left
    without a partner get fresh labels that match no true label.
    """
    predicted = np.asarray(predicted)
    truth = np.asarray(truth)
    if predicted.ndim != 1 or truth.ndim != 1:
        raise ValueError(f"relabel: labels must be 1-D, got shapes {predicted.shape} and "
                         f"{truth.shape}")
    if predicted.shape != truth.shape:
        raise ValueError(f"relabel: {predicted.shape[0]} predicted labels vs {truth.shape[0]} true")
    if predicted.size == 0:
        raise ValueError("relabel: no labels (both label arrays are empty)")
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
    """Adjusted Rand index (scikit-learn); ``ValueError`` for empty or mismatched labels."""
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    if predicted.size == 0 or truth.size == 0:
        raise ValueError("ari: no labels (a label array is empty)")
    return float(adjusted_rand_score(truth, predicted))

"""Topic analysis for the application: fused topics read as words, and which silos use them."""
from __future__ import annotations

import numpy as np


def nearest_words(atoms, embeddings, topn=10, candidates=None):
    """Indices of the ``topn`` words nearest (Euclidean) to each atom, nearest first.

    Parameters
    ----------
    atoms : ndarray (L, D)
    embeddings : ndarray (V, D)
    candidates : boolean array (V,) or None
        Only these words may be returned.

    Returns
    -------
    ndarray (L, topn) of word ids
    """
    atoms = np.atleast_2d(np.asarray(atoms, dtype=np.float64))
    emb = np.asarray(embeddings, dtype=np.float64)
    d2 = (atoms ** 2).sum(1)[:, None] - 2.0 * atoms @ emb.T + (emb ** 2).sum(1)[None, :]
    if candidates is not None:
        d2 = np.where(np.asarray(candidates, dtype=bool)[None, :], d2, np.inf)
    topn = min(topn, emb.shape[0])
    part = np.argpartition(d2, topn - 1, axis=1)[:, :topn]
    order = np.take_along_axis(d2, part, axis=1).argsort(axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def silo_usage(assignments, local_weights, n_global):
    """(J, L) matrix: share of silo j's tokens in local topics matched to global topic i."""
    usage = np.zeros((len(assignments), n_global))
    for j, (a, w) in enumerate(zip(assignments, local_weights)):
        np.add.at(usage[j], np.asarray(a), np.asarray(w))
    return usage

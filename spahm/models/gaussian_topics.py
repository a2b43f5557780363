"""Gaussian topics of one silo: k-means on the embeddings of its words, weighted by counts.

A silo's word ``w`` with count ``c_w`` is the point ``embeddings[w]`` with weight ``c_w``
(scikit-learn's ``sample_weight``), so k-means minimises the within-topic scatter of the
silo's *tokens*. Each cluster is a Gaussian topic; its local atom is the cluster mean. Fused
global atoms (``spahm.match`` on the silos' atoms) are read as topics through their nearest
words in embedding space.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans


@dataclass(frozen=True)
class LocalTopics:
    """The k-means Gaussian topics of one silo.

    Attributes
    ----------
    means : ndarray (k, D)   local atoms
    word_ids : ndarray (n,)  the silo's distinct words (vocabulary ids)
    counts : ndarray (n,)    their counts in the silo
    labels : ndarray (n,)    topic of each word
    weights : ndarray (k,)   share of the silo's tokens in each topic (sums to 1)
    """

    means: np.ndarray
    word_ids: np.ndarray
    counts: np.ndarray
    labels: np.ndarray
    weights: np.ndarray


def word_counts(ids, n_words):
    """Distinct word ids of a token id array and their counts (ids ascending)."""
    counts = np.bincount(np.asarray(ids, dtype=np.int64), minlength=n_words)
    present = np.flatnonzero(counts)
    return present, counts[present].astype(np.float64)


def fit_local_topics(token_ids, embeddings, n_topics=25, n_init=1, max_iter=300,
                     random_state=None) -> LocalTopics:
    """k-means topics of one silo, each distinct word weighted by its count.

    Parameters
    ----------
    token_ids : int array
        The silo's tokens as vocabulary ids.
    embeddings : ndarray (V, D)
    n_topics : int, default 25
        Clusters; a silo with fewer distinct words gets one topic per word.

    Returns
    -------
    LocalTopics

    Examples
    --------
    >>> import numpy as np
    >>> emb = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 10.0]])
    >>> t = fit_local_topics([0, 0, 0, 1, 2], emb, n_topics=2, random_state=0)
    >>> np.round(t.means[np.argsort(t.means[:, 0])], 2).tolist()
    [[0.0, 0.25], [10.0, 10.0]]
    """
    embeddings = np.asarray(embeddings, dtype=np.float64)
    word_ids, counts = word_counts(token_ids, embeddings.shape[0])
    if len(word_ids) == 0:
        raise ValueError("fit_local_topics: the silo has no tokens with an embedding")
    if n_topics < 1:
        raise ValueError(f"n_topics must be >= 1, got {n_topics}")
    X = embeddings[word_ids]
    k = min(int(n_topics), len(word_ids))
    km = KMeans(n_clusters=k, n_init=n_init, max_iter=max_iter, random_state=random_state)
    labels = km.fit_predict(X, sample_weight=counts)
    weights = np.bincount(labels, weights=counts, minlength=k)
    return LocalTopics(means=km.cluster_centers_, word_ids=word_ids, counts=counts,
                       labels=labels, weights=weights / weights.sum())


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

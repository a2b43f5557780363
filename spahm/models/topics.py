"""Gaussian topics of one silo: k-means on the embeddings of its words, weighted by counts.

A silo's word ``w`` with count ``c_w`` is the point ``embeddings[w]`` with weight ``c_w``
(scikit-learn's ``sample_weight``), so k-means minimises the within-topic scatter of the
silo's *tokens*. Each cluster is a Gaussian topic; its local atom is the cluster mean. Fused
global atoms (``spahm.match`` on the silos' atoms) are read as topics through their nearest
words in embedding space.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.utils import check_array
from scipy.special import digamma

from .. import families
from ..adapters import Adapter, LocalAtoms, group_average, register_adapter


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
    embeddings = check_array(embeddings, dtype=np.float64, input_name="embeddings")
    ids = np.asarray(token_ids)
    if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
        raise ValueError(f"token_ids must be a 1-D array of integer vocabulary ids, got "
                         f"{ids.dtype} of shape {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= embeddings.shape[0]):
        raise ValueError(f"token_ids must lie in [0, {embeddings.shape[0]}) (rows of the "
                         f"embeddings), got {int(ids.min())} .. {int(ids.max())}")
    if isinstance(n_topics, bool) or not isinstance(n_topics, numbers.Integral) or n_topics < 1:
        raise ValueError(f"n_topics must be an integer >= 1, got {n_topics!r}")
    word_ids, counts = word_counts(ids, embeddings.shape[0])
    if len(word_ids) == 0:
        raise ValueError("fit_local_topics: the silo has no tokens with an embedding")
    X = embeddings[word_ids]
    k = min(int(n_topics), len(word_ids))
    km = KMeans(n_clusters=k, n_init=n_init, max_iter=max_iter, random_state=random_state)
    labels = km.fit_predict(X, sample_weight=counts)
    weights = np.bincount(labels, weights=counts, minlength=k)
    return LocalTopics(means=km.cluster_centers_, word_ids=word_ids, counts=counts,
                       labels=labels, weights=weights / weights.sum())


class LocalTopicsAdapter(Adapter):
    """k-means Gaussian topics of one silo (:func:`fit_local_topics`): the local atoms are the
    topic means; the fused model is a k-means-like model of the global topic means
    (:class:`spahm.models.mixture.FusedKMeans`), read as topics through its nearest words."""

    name = "spahm.models.topics LocalTopics"

    def matches(self, model):
        return isinstance(model, LocalTopics)

    def extract(self, model, data=None):
        return LocalAtoms(np.asarray(model.means, dtype=float), None, {"weights": model.weights})

    def build(self, result, locals_, models):
        from .mixture import FusedKMeans

        return FusedKMeans(result.global_atoms, result.popularity).fit()


# ---------------------------------------------------------------------------- LDA
def _lda_family(locals_):
    """Multinomial family whose concentration is the median local topic size (row sum)."""
    LDAAdapter.check_vocabulary(locals_)
    sizes = np.concatenate([x.extra["row_sums"] for x in locals_])
    return families.Multinomial(concentration=float(np.median(sizes)))


class LDAAdapter(Adapter):
    """LDA topics: the local atoms are the topic-word distributions (rows of ``components_``
    normalised), fused with the multinomial family.

    The silos must share one vocabulary: the same words in the same columns (one
    ``CountVectorizer`` vocabulary for all silos); models with different vocabulary sizes are
    refused, and a shared size with different words cannot be detected.

    Matching and smoothing are kept apart: the family's ``concentration`` sets how precise a
    local topic is *for the matching* only. A fused topic is the pooled pseudo-counts of the
    local topics matched to it (their ``components_`` rows summed, times the silo weights when
    given) normalised, scaled to their mean size; its smoothing is the LDA's own
    ``topic_word_prior``, as for any LDA. So two concentrations that give the same matching give
    the same fused model.
    """

    name = "sklearn LatentDirichletAllocation"
    family = staticmethod(_lda_family)
    uses_weights = True

    def matches(self, model):
        from sklearn.decomposition import LatentDirichletAllocation

        return isinstance(model, LatentDirichletAllocation)

    def extract(self, model, data=None):
        comp = np.asarray(model.components_, dtype=float)
        sums = comp.sum(axis=1)
        return LocalAtoms(comp / sums[:, None], None,
                          {"row_sums": sums, "components": comp,
                           "doc_topic_prior": model.doc_topic_prior_,
                           "topic_word_prior": model.topic_word_prior_})

    def check(self, locals_):
        self.check_vocabulary(locals_)

    @staticmethod
    def check_vocabulary(locals_):
        """``ValueError`` unless every model has the vocabulary size of model 0."""
        sizes = [x.atoms.shape[1] for x in locals_]
        for j, v in enumerate(sizes):
            if v != sizes[0]:
                raise ValueError(f"model {j} has a vocabulary of {v} words but model 0 has "
                                 f"{sizes[0]}: LDA silos must share one vocabulary (the same "
                                 "words in the same columns)")

    def build(self, result, locals_, models):
        from sklearn.decomposition import LatentDirichletAllocation

        L, V = result.global_atoms.shape
        size = group_average([x.extra["row_sums"] for x in locals_], result.assignments, L)
        pooled = np.zeros((L, V))
        for x, a in zip(locals_, result.assignments):
            np.add.at(pooled, a, x.extra["components"] * x.extra.get("silo_weight", 1.0))
        topics = pooled / pooled.sum(axis=1, keepdims=True)
        first = models[0]
        lda = LatentDirichletAllocation(
            n_components=L,
            doc_topic_prior=float(np.mean([x.extra["doc_topic_prior"] for x in locals_])),
            topic_word_prior=float(np.mean([x.extra["topic_word_prior"] for x in locals_])),
            max_doc_update_iter=first.max_doc_update_iter, mean_change_tol=first.mean_change_tol)
        lda.components_ = topics * size[:, None]
        lda.doc_topic_prior_ = lda.doc_topic_prior
        lda.topic_word_prior_ = lda.topic_word_prior
        lda.exp_dirichlet_component_ = np.exp(
            digamma(lda.components_) - digamma(lda.components_.sum(axis=1))[:, None])
        lda.n_features_in_ = V
        lda.n_batch_iter_, lda.n_iter_, lda.bound_ = 0, 0, np.nan
        return lda


register_adapter(LDAAdapter(), first=False)
register_adapter(LocalTopicsAdapter(), first=False)

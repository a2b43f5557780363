"""Fuse fitted models directly: extract local atoms, fuse, and rebuild a global model.

``fuse_models(models)`` takes a list of fitted local models of one kind (one per silo), reads
their atoms (and the atoms' variances where the model knows them), runs SPAHM and returns a
global model of the same kind built from the fused atoms, ready to ``predict``:

=================================================  ==========================  ======================
local model                                        atoms (family)              global model
=================================================  ==========================  ======================
``sklearn.cluster.KMeans`` / ``MiniBatchKMeans``   centres (Gaussian)          :class:`FusedKMeans`
``sklearn.mixture.GaussianMixture``                means (Gaussian)            ``GaussianMixture``
``sklearn.decomposition.LatentDirichletAllocation`` topic-word rows (multinomial) ``LatentDirichletAllocation``
GPy ``SparseGPRegression`` (or ``spahm.models``    ``[Z, f(Z)]`` (Gaussian)    GPy ``SparseGPRegression``
``.sparse_gp.LocalSparseGP``)
``spahm.models.hdp_hmm.StickyHDPHMM``              state means (Gaussian)      :class:`FusedGaussianHMM`
=================================================  ==========================  ======================

Variances (uncertainty-aware fusion, see :class:`spahm.SPAHM`): a k-means centre's or a mixture
mean's variance is its cluster's variance divided by its size, which needs the silo's data
(``data=``); a sparse GP gives the posterior variance of its latent function at the inducing
inputs; an HDP-HMM state's mean has variance ``diag(covariance) / frames``.

Other model types plug in with :func:`register_adapter` (an object with ``matches``,
``extract`` and ``build``; see :class:`Adapter`). Every global model gets two attributes:
``fusion_`` (the :class:`spahm.MatchResult`) and ``local_to_global_`` (per silo, the global
index of each local atom).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import digamma, logsumexp

from . import families
from .estimator import match

# Covariances averaged from local models get this much added to their diagonal (relative to
# their mean variance) so that a rebuilt Gaussian component is always positive definite.
_COVARIANCE_JITTER = 1e-9


@dataclass
class LocalAtoms:
    """What an adapter reads from one fitted local model."""

    atoms: np.ndarray
    variances: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


class Adapter:
    """How to fuse one kind of model. Subclass and pass an instance to :func:`register_adapter`.

    ``family`` is the conjugate family used for the atoms (a name or a family object), or a
    callable ``family(locals) -> family`` when it depends on the models.
    """

    name = "adapter"
    family = "gaussian"

    def matches(self, model) -> bool:
        """Whether this adapter handles ``model``."""
        raise NotImplementedError

    def extract(self, model, data=None) -> LocalAtoms:
        """Atoms (and variances) of one fitted model; ``data`` is that silo's data or None."""
        raise NotImplementedError

    def build(self, result, locals_, models):
        """The global model from the fusion ``result`` and every silo's :class:`LocalAtoms`."""
        raise NotImplementedError


_REGISTRY: list = []


def register_adapter(adapter, first=True):
    """Make :func:`fuse_models` accept a new kind of model.

    Parameters
    ----------
    adapter : Adapter
        Must implement ``matches``, ``extract`` and ``build``.
    first : bool, default True
        Try it before the built-in adapters (so it can override them).
    """
    for method in ("matches", "extract", "build"):
        if not callable(getattr(adapter, method, None)):
            raise ValueError(f"adapter {adapter!r} has no method {method}()")
    if first:
        _REGISTRY.insert(0, adapter)
    else:
        _REGISTRY.append(adapter)
    return adapter


def get_adapter(model):
    """The registered adapter for ``model``; ``ValueError`` listing the supported kinds."""
    for adapter in _REGISTRY:
        if adapter.matches(model):
            return adapter
    kinds = ", ".join(a.name for a in _REGISTRY)
    raise ValueError(f"no adapter for a {type(model).__module__}.{type(model).__name__}; "
                     f"supported: {kinds} (add one with spahm.adapters.register_adapter)")


# ---------------------------------------------------------------------------- helpers
def centroid_variances(x, labels, centres):
    """Variance of each cluster centre, per dimension: within-cluster variance / cluster size.

    Clusters with fewer than two points use the silo's pooled within-cluster variance.
    """
    x = np.asarray(x, dtype=float)
    k = len(centres)
    n = np.bincount(labels, minlength=k).astype(float)
    within = np.zeros_like(centres, dtype=float)
    np.add.at(within, labels, (x - centres[labels]) ** 2)
    dof = np.maximum(n - 1.0, 0.0)
    pooled = within.sum(axis=0) / max(dof.sum(), 1.0)
    var = np.where(dof[:, None] > 0, within / np.maximum(dof, 1.0)[:, None], pooled)
    return var / np.maximum(n, 1.0)[:, None]


def group_average(values, assignments, n_global, weights=None):
    """Average per global atom of the local ``values`` (list of (L_j, ...)) mapped through
    ``assignments``, weighted by ``weights`` (list of (L_j,)) or equally."""
    values = [np.asarray(v, dtype=float) for v in values]
    total = np.zeros((n_global,) + values[0].shape[1:])
    mass = np.zeros(n_global)
    for j, (v, a) in enumerate(zip(values, assignments)):
        w = np.ones(len(a)) if weights is None else np.asarray(weights[j], dtype=float)
        np.add.at(total, a, v * w.reshape((-1,) + (1,) * (v.ndim - 1)))
        np.add.at(mass, a, w)
    return total / np.maximum(mass, np.finfo(float).tiny).reshape((-1,) + (1,) * (total.ndim - 1))


def _full_covariances(covariances, covariance_type, n_components, dim):
    c = np.asarray(covariances, dtype=float)
    if covariance_type == "full":
        return c
    if covariance_type == "tied":
        return np.broadcast_to(c, (n_components, dim, dim)).copy()
    if covariance_type == "diag":
        return np.einsum("kd,de->kde", c, np.eye(dim))
    return c[:, None, None] * np.eye(dim)[None]  # spherical


def _precision_cholesky(covariances):
    """``C_k`` with ``Sigma_k^{-1} = C_k C_k^T`` (upper-triangular, as scikit-learn stores)."""
    dim = covariances.shape[-1]
    out = np.empty_like(covariances)
    for k, cov in enumerate(covariances):  # K is small: one Cholesky per component
        chol = np.linalg.cholesky(cov)
        out[k] = solve_triangular(chol, np.eye(dim), lower=True).T
    return out


def _jittered(covariances):
    dim = covariances.shape[-1]
    scale = np.trace(covariances, axis1=1, axis2=2).mean() / dim
    return covariances + _COVARIANCE_JITTER * max(scale, 1.0) * np.eye(dim)


# ---------------------------------------------------------------------------- k-means
class FusedKMeans:
    """A k-means predictor with the fused centres (nearest-centre assignment).

    Attributes
    ----------
    cluster_centers_ : ndarray (L, D)
    popularity_ : ndarray (L,)
        Number of silos whose centres were fused into each centre.
    n_clusters : int
    """

    def __init__(self, cluster_centers, popularity):
        self.cluster_centers_ = np.asarray(cluster_centers, dtype=float)
        self.popularity_ = np.asarray(popularity)
        self.n_clusters = len(self.cluster_centers_)
        self.n_features_in_ = self.cluster_centers_.shape[1]

    def _check(self, X):
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have shape (n, {self.n_features_in_}), got {X.shape}")
        return X

    def transform(self, X):
        """Euclidean distance of every row of X to every fused centre, (n, L)."""
        X = self._check(X)
        sq = ((X**2).sum(1)[:, None] - 2.0 * X @ self.cluster_centers_.T
              + (self.cluster_centers_**2).sum(1)[None, :])
        return np.sqrt(np.maximum(sq, 0.0))

    def predict(self, X):
        """Index of the nearest fused centre of every row of X."""
        return self.transform(X).argmin(axis=1)

    def score(self, X):
        """Opposite of the sum of squared distances to the nearest centre (as KMeans.score)."""
        return -float((self.transform(X).min(axis=1) ** 2).sum())


class KMeansAdapter(Adapter):
    name = "sklearn KMeans"

    def matches(self, model):
        from sklearn.cluster import KMeans, MiniBatchKMeans

        return isinstance(model, (KMeans, MiniBatchKMeans))

    def extract(self, model, data=None):
        centres = np.asarray(model.cluster_centers_, dtype=float)
        variances = None
        if data is not None:
            x = np.asarray(data, dtype=float)
            variances = centroid_variances(x, model.predict(x), centres)
        return LocalAtoms(centres, variances)

    def build(self, result, locals_, models):
        return FusedKMeans(result.global_atoms, result.popularity)


# ---------------------------------------------------------------------------- Gaussian mixture
class GaussianMixtureAdapter(Adapter):
    name = "sklearn GaussianMixture"

    def matches(self, model):
        from sklearn.mixture import GaussianMixture

        return isinstance(model, GaussianMixture)

    def extract(self, model, data=None):
        means = np.asarray(model.means_, dtype=float)
        K, D = means.shape
        cov = _full_covariances(model.covariances_, model.covariance_type, K, D)
        variances = None
        if data is not None:
            n = len(np.asarray(data)) * np.asarray(model.weights_)
            variances = np.diagonal(cov, axis1=1, axis2=2) / np.maximum(n, 1.0)[:, None]
        return LocalAtoms(means, variances, {"covariances": cov, "weights": model.weights_})

    def build(self, result, locals_, models):
        from sklearn.mixture import GaussianMixture

        L, D = result.global_atoms.shape
        weights = [x.extra["weights"] for x in locals_]
        cov = _jittered(group_average([x.extra["covariances"] for x in locals_],
                                      result.assignments, L, weights))
        gm = GaussianMixture(n_components=L, covariance_type="full")
        gm.means_ = result.global_atoms.copy()
        gm.weights_ = result.popularity / result.popularity.sum()
        gm.covariances_ = cov
        gm.precisions_cholesky_ = _precision_cholesky(cov)
        gm.precisions_ = np.einsum("kij,klj->kil", gm.precisions_cholesky_, gm.precisions_cholesky_)
        gm.converged_, gm.n_iter_, gm.lower_bound_ = True, 0, -np.inf
        gm.n_features_in_ = D
        return gm


# ---------------------------------------------------------------------------- LDA
def _lda_family(locals_):
    """Multinomial family whose concentration is the median local topic size (row sum)."""
    sizes = np.concatenate([x.extra["row_sums"] for x in locals_])
    return families.Multinomial(concentration=float(np.median(sizes)))


class LDAAdapter(Adapter):
    name = "sklearn LatentDirichletAllocation"
    family = staticmethod(_lda_family)

    def matches(self, model):
        from sklearn.decomposition import LatentDirichletAllocation

        return isinstance(model, LatentDirichletAllocation)

    def extract(self, model, data=None):
        comp = np.asarray(model.components_, dtype=float)
        sums = comp.sum(axis=1)
        return LocalAtoms(comp / sums[:, None], None,
                          {"row_sums": sums, "doc_topic_prior": model.doc_topic_prior_,
                           "topic_word_prior": model.topic_word_prior_})

    def build(self, result, locals_, models):
        from sklearn.decomposition import LatentDirichletAllocation

        L, V = result.global_atoms.shape
        size = group_average([x.extra["row_sums"] for x in locals_], result.assignments, L)
        first = models[0]
        lda = LatentDirichletAllocation(
            n_components=L,
            doc_topic_prior=float(np.mean([x.extra["doc_topic_prior"] for x in locals_])),
            topic_word_prior=float(np.mean([x.extra["topic_word_prior"] for x in locals_])),
            max_doc_update_iter=first.max_doc_update_iter, mean_change_tol=first.mean_change_tol)
        lda.components_ = result.global_atoms * size[:, None]
        lda.doc_topic_prior_ = lda.doc_topic_prior
        lda.topic_word_prior_ = lda.topic_word_prior
        lda.exp_dirichlet_component_ = np.exp(
            digamma(lda.components_) - digamma(lda.components_.sum(axis=1))[:, None])
        lda.n_features_in_ = V
        lda.n_batch_iter_, lda.n_iter_, lda.bound_ = 0, 0, np.nan
        return lda


# ---------------------------------------------------------------------------- GPy sparse GP
def _gpy_sparse_gp(model):
    """The GPy sparse GP inside ``model`` (itself, or a LocalSparseGP's ``model_``), or None."""
    for candidate in (model, getattr(model, "model_", None)):
        if candidate is None or "GPy" not in sys.modules:
            continue
        import GPy

        if isinstance(candidate, GPy.core.SparseGP):
            return candidate
    return None


class SparseGPAdapter(Adapter):
    """Atoms ``[Z, f(Z)]``: inducing inputs with the posterior mean of the latent function.

    Variances: 0 for the input coordinates, the latent posterior variance for the output.
    The global model is a GPy ``SparseGPRegression`` whose data and inducing inputs are the
    fused points, with the local models' mean kernel parameters and noise variance.
    """

    name = "GPy SparseGPRegression"

    def matches(self, model):
        return _gpy_sparse_gp(model) is not None

    def extract(self, model, data=None):
        gp = _gpy_sparse_gp(model)
        Z = np.asarray(gp.Z.values, dtype=float)
        mean, var = gp.predict_noiseless(Z)
        variances = np.zeros((len(Z), Z.shape[1] + 1))
        variances[:, -1] = np.maximum(var[:, 0], 0.0)
        return LocalAtoms(np.hstack([Z, mean]), variances,
                          {"kernel": gp.kern, "noise": float(gp.likelihood.variance.values[0])})

    def build(self, result, locals_, models):
        import GPy

        atoms = result.global_atoms
        Z, u = atoms[:, :-1], atoms[:, -1:]
        kernel = locals_[0].extra["kernel"].copy()
        params = [x.extra["kernel"].param_array for x in locals_]
        if all(p.shape == params[0].shape for p in params):
            kernel[:] = np.mean(params, axis=0)
        noise = float(np.mean([x.extra["noise"] for x in locals_]))
        model = GPy.models.SparseGPRegression(Z, u, kernel=kernel, Z=Z.copy())
        model.likelihood.variance = noise
        return model


# ---------------------------------------------------------------------------- HDP-HMM
class FusedGaussianHMM:
    """Global HMM from fused HDP-HMM states: Gaussian emissions, fused transition matrix.

    ``transmat_`` adds up every silo's transitions between its states, mapped to global states
    and weighted by the states' frame counts; ``predict`` is the Viterbi path.

    Attributes
    ----------
    means_ : ndarray (L, D)
    covariances_ : ndarray (L, D, D)
        Frame-weighted average of the matched local covariances.
    transmat_ : ndarray (L, L)
    startprob_ : ndarray (L,)
        Proportional to the states' total frame counts.
    popularity_ : ndarray (L,)
    """

    def __init__(self, means, covariances, transmat, startprob, popularity):
        self.means_ = np.asarray(means, dtype=float)
        self.covariances_ = np.asarray(covariances, dtype=float)
        self.transmat_ = np.asarray(transmat, dtype=float)
        self.startprob_ = np.asarray(startprob, dtype=float)
        self.popularity_ = np.asarray(popularity)
        self.n_states_ = len(self.means_)
        self._prec_chol = _precision_cholesky(self.covariances_)

    def score_samples(self, X):
        """Emission log density of every frame under every global state, (T, L)."""
        X = np.asarray(X, dtype=float)
        y = X[None] @ self._prec_chol - (self.means_[:, None, :] @ self._prec_chol)
        half_logdet = np.log(np.diagonal(self._prec_chol, axis1=1, axis2=2)).sum(axis=1)
        D = X.shape[1]
        return (-0.5 * (y**2).sum(axis=2) + half_logdet[:, None] - 0.5 * D * np.log(2 * np.pi)).T

    def predict(self, X):
        """Most likely global state sequence of one sequence X (T, D) (Viterbi)."""
        with np.errstate(divide="ignore"):
            log_a, log_pi = np.log(self.transmat_), np.log(self.startprob_)
        emit = self.score_samples(X)
        T = len(emit)
        back = np.zeros((T, self.n_states_), dtype=np.intp)
        delta = log_pi + emit[0]
        for t in range(1, T):  # the recursion is sequential in time; states are vectorised
            scores = delta[:, None] + log_a
            back[t] = scores.argmax(axis=0)
            delta = scores[back[t], np.arange(self.n_states_)] + emit[t]
        path = np.empty(T, dtype=np.intp)
        path[-1] = int(delta.argmax())
        for t in range(T - 1, 0, -1):
            path[t - 1] = back[t, path[t]]
        return path

    def log_likelihood(self, X):
        """``log p(X)`` of one sequence under the fused HMM (forward algorithm)."""
        with np.errstate(divide="ignore"):
            log_a, log_pi = np.log(self.transmat_), np.log(self.startprob_)
        emit = self.score_samples(X)
        alpha = log_pi + emit[0]
        for t in range(1, len(emit)):
            alpha = logsumexp(alpha[:, None] + log_a, axis=0) + emit[t]
        return float(logsumexp(alpha))


class HDPHMMAdapter(Adapter):
    name = "spahm StickyHDPHMM"

    def matches(self, model):
        from .models.hdp_hmm import StickyHDPHMM

        return isinstance(model, StickyHDPHMM)

    def extract(self, model, data=None):
        means = np.asarray(model.means_, dtype=float)
        cov = np.asarray(model.covariances_, dtype=float)
        counts = np.asarray(model.state_counts_, dtype=float)
        variances = np.diagonal(cov, axis1=1, axis2=2) / np.maximum(counts, 1.0)[:, None]
        return LocalAtoms(means, variances, {"covariances": cov, "counts": counts,
                                             "transmat": np.asarray(model.transmat_, dtype=float)})

    def build(self, result, locals_, models):
        L = result.n_global_atoms
        counts = [x.extra["counts"] for x in locals_]
        cov = _jittered(group_average([x.extra["covariances"] for x in locals_],
                                      result.assignments, L, counts))
        trans = np.zeros((L, L))
        frames = np.zeros(L)
        for x, a in zip(locals_, result.assignments):
            np.add.at(trans, (a[:, None], a[None, :]), x.extra["counts"][:, None] * x.extra["transmat"])
            np.add.at(frames, a, x.extra["counts"])
        empty = trans.sum(axis=1) == 0
        trans[empty] = 1.0
        trans /= trans.sum(axis=1, keepdims=True)
        return FusedGaussianHMM(result.global_atoms, cov, trans, frames / frames.sum(),
                                result.popularity)


for _adapter in (KMeansAdapter(), GaussianMixtureAdapter(), LDAAdapter(), SparseGPAdapter(),
                 HDPHMMAdapter()):
    register_adapter(_adapter, first=False)


# ---------------------------------------------------------------------------- one call
def extract(models, data=None, use_variances=True):
    """The adapter and every model's :class:`LocalAtoms` (all models must be of one kind)."""
    models = list(models)
    if not models:
        raise ValueError("models is empty: expected a list of fitted local models, one per silo")
    adapter = get_adapter(models[0])
    for j, m in enumerate(models):
        if not adapter.matches(m):
            raise ValueError(f"model {j} is a {type(m).__name__}, but model 0 is handled by the "
                             f"{adapter.name} adapter: fuse models of one kind")
    if data is not None and len(data) != len(models):
        raise ValueError(f"data has {len(data)} entries but there are {len(models)} models")
    locals_ = [adapter.extract(m, None if data is None else data[j]) for j, m in enumerate(models)]
    if not use_variances:
        for x in locals_:
            x.variances = None
    return adapter, locals_


def fuse_models(models, data=None, *, use_variances=True, family=None, **kwargs):
    """Fuse fitted local models of one kind into a global model of the same kind.

    Parameters
    ----------
    models : list of fitted models
        One per silo, all of one supported kind (see the module docstring).
    data : list of array-like or None
        Each silo's training data, optional; k-means and Gaussian mixtures use it for the
        variances of their centres (uncertainty-aware fusion).
    use_variances : bool, default True
        Pass the atoms' variances to SPAHM when the adapter knows them.
    family : str, Family or None
        Overrides the adapter's family (e.g. ``Multinomial(concentration=...)`` for LDA).
    **kwargs
        Any :class:`spahm.SPAHM` argument (``sigma``, ``gamma0``, ``random_state``, ...).

    Returns
    -------
    The global model, with ``fusion_`` (:class:`spahm.MatchResult`) and ``local_to_global_``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.cluster import KMeans
    >>> from spahm import fuse_models
    >>> rng = np.random.default_rng(0)
    >>> centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    >>> silos = [centres[rng.choice(3, 300)] + rng.normal(0, 0.5, (300, 2)) for _ in range(4)]
    >>> local = [KMeans(3, n_init=3, random_state=0).fit(x) for x in silos]
    >>> fused = fuse_models(local, data=silos, random_state=0)
    >>> fused.n_clusters, bool(fused.predict([[9.8, 0.3]])[0] == fused.predict([[10.2, -0.1]])[0])
    (3, True)
    """
    adapter, locals_ = extract(models, data, use_variances)
    if family is None:
        family = adapter.family(locals_) if callable(adapter.family) else adapter.family
    variances = [x.variances for x in locals_]
    variances = None if any(v is None for v in variances) else variances
    fam_name = family if isinstance(family, str) else getattr(family, "name", "")
    if variances is not None and fam_name != "gaussian":
        variances = None
    result = match([x.atoms for x in locals_], local_variances=variances, family=family, **kwargs)
    model = adapter.build(result, locals_, models)
    model.fusion_ = result
    model.local_to_global_ = result.assignments
    return model

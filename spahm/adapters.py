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
GPy ``SparseGPRegression`` (or ``spahm.models``    ``[Z, f(Z)]`` (Gaussian)    :class:`FusedSparseGP`
``.sparse_gp.LocalSparseGP``)
``spahm.models.hdp_hmm.StickyHDPHMM``              state means (Gaussian)      :class:`FusedGaussianHMM`
=================================================  ==========================  ======================

Variances (uncertainty-aware fusion, see :class:`spahm.SPAHM`): a k-means centre's or a mixture
mean's variance is its cluster's variance divided by its size, which needs the silo's data
(``data=``); a sparse GP gives the posterior variance of its latent function at the inducing
inputs; an HDP-HMM state's mean has variance ``diag(covariance) / frames``.

Other model types plug in with :func:`register_adapter` (an :class:`Adapter`: ``matches``,
``extract`` and ``build``, or ``fuse`` for a fusion that is not one matching). Every argument of
:func:`fuse_models` is honoured or refused for every adapter: ``data`` only where the adapter
uses it (``Adapter.uses_data``), ``weights`` only where its global model has weights
(``Adapter.uses_weights``). Every global model gets two attributes: ``fusion_`` (the
:class:`spahm.MatchResult`) and ``local_to_global_`` (per silo, the global index of each local
atom).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import solve_triangular

from ._validation import check_weights
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

    :meth:`fuse` is what :func:`fuse_models` calls, with arguments already checked against
    ``uses_data`` and ``uses_weights``; the default extracts every model's atoms, matches
    them once and builds the global model. Override it when a fusion is not one matching
    (e.g. networks, layer by layer).
    """

    name = "adapter"
    family = "gaussian"
    #: whether ``build`` uses per-silo weights (``LocalAtoms.extra["silo_weight"]``)
    uses_weights = False
    #: what ``extract`` uses the silos' data for: ``False`` (not at all: ``data`` is refused)
    #: or ``"variances"`` (only the atoms' variances: refused with ``use_variances=False``)
    uses_data = False

    def fuse(self, models, data=None, *, weights=None, use_variances=True, family=None,
             **kwargs):
        """The global model fused from ``models`` (see :func:`fuse_models`)."""
        return _fuse_by_matching(self, models, data, weights=weights,
                                 use_variances=use_variances, family=family, **kwargs)

    def matches(self, model) -> bool:
        """Whether this adapter handles ``model``."""
        raise NotImplementedError

    def extract(self, model, data=None) -> LocalAtoms:
        """Atoms (and variances) of one fitted model; ``data`` is that silo's data or None."""
        raise NotImplementedError

    def build(self, result, locals_, models):
        """The global model from the fusion ``result`` and every silo's :class:`LocalAtoms`."""
        raise NotImplementedError

    def check(self, locals_):
        """Raise ``ValueError`` if the models cannot be fused together (e.g. vocabularies)."""


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
    for method in ("matches", "extract", "build", "fuse"):
        if not callable(getattr(adapter, method, None)):
            raise ValueError(f"adapter {adapter!r} has no method {method}() (subclass "
                             "spahm.adapters.Adapter)")
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


# ---------------------------------------------------------------------------- one call
def _model_list(models):
    """``models`` as a list; ``ValueError`` for None, a single model or an empty list."""
    if models is None or hasattr(models, "fit") or hasattr(models, "predict") \
            or isinstance(models, (str, bytes, dict)):
        kind = "None" if models is None else f"a single {type(models).__name__}"
        raise ValueError(f"models is {kind}: expected a list of fitted local models, one per "
                         "silo (wrap a single model as [model])")
    try:
        models = list(models)
    except TypeError:
        raise ValueError(f"models must be a list of fitted local models, one per silo; got "
                         f"{type(models).__name__}") from None
    if not models:
        raise ValueError("models is empty: expected a list of fitted local models, one per silo")
    return models


def _check_fitted(model, j):
    """``ValueError`` naming model ``j`` when scikit-learn says it is not fitted."""
    from sklearn.base import BaseEstimator
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if isinstance(model, BaseEstimator):
        try:
            check_is_fitted(model)
        except NotFittedError:
            raise ValueError(f"model {j} ({type(model).__name__}) is not fitted: fit each local "
                             "model on its silo before fusing") from None


def extract(models, data=None, use_variances=True, adapter=None):
    """The adapter and every model's :class:`LocalAtoms` (all models must be of one kind;
    ``adapter``: the one to use, by default the registered one for ``models[0]``)."""
    models = _model_list(models)
    adapter = get_adapter(models[0]) if adapter is None else adapter
    _check_kind(models, adapter)
    data = _silo_data(data, len(models), adapter, use_variances)
    locals_ = []
    for j, m in enumerate(models):
        try:
            locals_.append(adapter.extract(m, None if data is None else data[j]))
        except ValueError as exc:
            raise ValueError(f"model {j}: {exc}") from None
    if not use_variances:
        for x in locals_:
            x.variances = None
    return adapter, locals_


def _check_kind(models, adapter):
    for j, m in enumerate(models):
        if not adapter.matches(m):
            raise ValueError(f"model {j} is a {type(m).__name__}, but model 0 is handled by the "
                             f"{adapter.name} adapter: fuse models of one kind")
        _check_fitted(m, j)


def _silo_data(data, n_models, adapter, use_variances):
    """``data`` as a list of J entries, or ``ValueError`` when the adapter would not use it."""
    if data is None:
        return None
    uses = getattr(adapter, "uses_data", False)
    if not uses:
        raise ValueError(f"data: the {adapter.name} adapter does not use the silos' data "
                         "(pass data=None)")
    if uses == "variances" and not use_variances:
        raise ValueError(f"data: the {adapter.name} adapter uses the silos' data only for the "
                         "atoms' variances, which use_variances=False turns off (pass one of "
                         "them)")
    if isinstance(data, (str, bytes, np.ndarray)) or not hasattr(data, "__len__"):
        raise ValueError(f"data must be a list with one array per model, got "
                         f"{type(data).__name__}")
    data = list(data)
    if len(data) != n_models:
        raise ValueError(f"data has {len(data)} entries but there are {n_models} models")
    return data


def _silo_weights(weights, n_models, adapter):
    if weights is None:
        return None
    if not adapter.uses_weights:
        raise ValueError(f"weights: the {adapter.name} adapter's global model has no weights "
                         "to apply them to")
    return check_weights(weights, n_models)


def fuse_models(models, data=None, *, weights=None, use_variances=True, family=None, **kwargs):
    """Fuse fitted local models of one kind into a global model of the same kind.

    Parameters
    ----------
    models : list of fitted models
        One per silo, all of one supported kind (see the module docstring).
    data : list of array-like or None
        Each silo's training data, optional; k-means and Gaussian mixtures use it for the
        variances of their centres (uncertainty-aware fusion). Refused for model types that
        do not use it, and with ``use_variances=False`` (it would be ignored).
    weights : array-like (J,) or None
        Per-silo weights (e.g. silo sizes) for model types whose global model has weights:
        a fused Gaussian mixture's weights are the local weights times the silo weights,
        summed per global component; an LDA's pooled topic-word counts and an MLP's
        averaged units are weighted by them. ``None``: silos weigh equally. Refused for
        model types without weights (k-means, sparse GP, HDP-HMM).
    use_variances : bool, default True
        Pass the atoms' variances to SPAHM when the adapter knows them (from ``data`` for
        k-means and mixtures; always for sparse GPs and HDP-HMMs; never for LDA and MLPs,
        whose atoms have none).
    family : str, Family or None
        Overrides the adapter's family (e.g. ``Multinomial(concentration=...)`` for LDA).
    **kwargs
        Any :class:`spahm.SPAHM` argument (``sigma``, ``gamma0``, ``random_state``, ...).

    Returns
    -------
    The global model, with ``fusion_`` (:class:`spahm.MatchResult`) and ``local_to_global_``.

    Raises
    ------
    ValueError
        Models of mixed or unsupported kinds, unfitted models, and any argument the models'
        adapter cannot honour; the message names the model or argument.

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
    models = _model_list(models)
    adapter = get_adapter(models[0])
    if not isinstance(use_variances, (bool, np.bool_)):
        raise ValueError(f"use_variances must be True or False, got {use_variances!r}")
    data = _silo_data(data, len(models), adapter, use_variances)
    weights = _silo_weights(weights, len(models), adapter)
    return adapter.fuse(models, data, weights=weights, use_variances=bool(use_variances),
                        family=family, **kwargs)


def _fuse_by_matching(adapter, models, data=None, *, weights=None, use_variances=True,
                      family=None, **kwargs):
    """:meth:`Adapter.fuse`'s default: extract, check, match once, build."""
    _, locals_ = extract(models, data, use_variances, adapter)
    if callable(getattr(adapter, "check", None)):
        adapter.check(locals_)
    silo_weights = _silo_weights(weights, len(models), adapter)
    if silo_weights is not None:
        for x, w in zip(locals_, silo_weights):
            x.extra["silo_weight"] = float(w)
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

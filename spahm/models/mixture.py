"""k-means and Gaussian mixtures: the centres (means) of a silo's clusters are its local atoms.

The global model of fused k-means is :class:`FusedKMeans`, a scikit-learn estimator; fused
Gaussian mixtures come back as a ``GaussianMixture``. :class:`FusedKMeans` is the pattern for
every fused model of :mod:`spahm.models`: its constructor arguments are what defines it (the
fused centres), ``fit`` validates them and sets the fitted attributes (ending in ``_``), so
``get_params``, ``clone``, ``repr``, pickling and use inside a ``Pipeline`` work as for any
scikit-learn estimator; ``predict`` / ``transform`` check that it is fitted and validate their
input with ``validate_data`` (shape, NaN, dtype).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, _fit_context
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .._validation import ParamValidationMixin
from ..adapters import (Adapter, LocalAtoms, _full_covariances, _jittered,
                        _precision_cholesky, centroid_variances, group_average,
                        register_adapter)
from ..metrics import scaled_distances


# ---------------------------------------------------------------------------- k-means
class FusedKMeans(ParamValidationMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """Nearest-centre assignment to fused k-means centres.

    Built by :func:`spahm.fuse_models` from fitted ``KMeans`` models; it can also be made
    directly, ``FusedKMeans(cluster_centers=centres).fit()``.

    Parameters
    ----------
    cluster_centers : array-like (L, D)
        The fused centres (SPAHM's global atoms).
    popularity : array-like (L,) or None
        Number of silos whose centres were fused into each centre (ones when None).

    Attributes
    ----------
    cluster_centers_ : ndarray (L, D)
    popularity_ : ndarray (L,)
    n_features_in_ : int
    labels_ : ndarray (n,)
        Cluster of each row of the ``X`` given to :meth:`fit` (only when one was given).

    Examples
    --------
    >>> from spahm.models.mixture import FusedKMeans
    >>> FusedKMeans(cluster_centers=[[0.0, 0.0], [10.0, 10.0]]).fit().predict([[9.0, 9.5]]).tolist()
    [1]
    """

    _parameter_constraints: dict = {
        "cluster_centers": [None, "array-like"],
        "popularity": [None, "array-like"],
    }

    def __init__(self, *, cluster_centers=None, popularity=None):
        self.cluster_centers = cluster_centers
        self.popularity = popularity

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X=None, y=None):
        """Validate the centres and set the fitted attributes (``X``, optional, is labelled).

        Returns
        -------
        self
        """
        if self.cluster_centers is None:
            raise ValueError("FusedKMeans needs cluster_centers (the fused centres): build it "
                             "with spahm.fuse_models(kmeans_models) or FusedKMeans(cluster_centers=centres)")
        centres = check_array(self.cluster_centers, dtype=np.float64,
                              input_name="cluster_centers")
        popularity = (np.ones(len(centres), dtype=int) if self.popularity is None
                      else np.asarray(self.popularity))
        if popularity.shape != (len(centres),):
            raise ValueError(f"popularity has shape {popularity.shape}; expected "
                             f"({len(centres)},), one count per centre")
        if popularity.dtype.kind not in "iu" or np.any(popularity < 0):
            raise ValueError(f"popularity must hold counts (integers >= 0), got "
                             f"{popularity.tolist()!r}")
        labels = None
        if X is not None:  # checked before any attribute is set: a failed fit changes nothing
            X = check_array(X, dtype=np.float64, input_name="X")
            if X.shape[1] != centres.shape[1]:
                raise ValueError(f"X has {X.shape[1]} features, but the centres have "
                                 f"{centres.shape[1]}")
            labels = scaled_distances(X, centres)[0].argmin(axis=1)
        self.cluster_centers_ = centres
        self.popularity_ = popularity
        self.n_features_in_ = centres.shape[1]
        if labels is not None:
            self.labels_ = labels
        return self

    @property
    def n_clusters(self):
        """Number of fused centres."""
        check_is_fitted(self, "cluster_centers_")
        return len(self.cluster_centers_)

    def transform(self, X):
        """Euclidean distance of every row of X to every fused centre, (n, L)."""
        check_is_fitted(self, "cluster_centers_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return _distances(X, self.cluster_centers_)

    def predict(self, X):
        """Index of the nearest fused centre of every row of X."""
        check_is_fitted(self, "cluster_centers_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return scaled_distances(X, self.cluster_centers_)[0].argmin(axis=1)

    def score(self, X, y=None):
        """Opposite of the sum of squared distances to the nearest centre (as KMeans.score);
        ``ValueError`` when it exceeds the float range."""
        check_is_fitted(self, "cluster_centers_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        d, unit = scaled_distances(X, self.cluster_centers_)
        with np.errstate(over="ignore"):
            value = -float((d.min(axis=1) ** 2).sum()) * unit * unit
        if not np.isfinite(value):
            raise ValueError("X: the score (sum of squared distances) exceeds the float range")
        return value

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags


def _distances(X, centres):
    """Euclidean distance of every row of ``X`` to every centre, (n, L); ``ValueError`` when
    a distance exceeds the float range (they are computed without overflow otherwise)."""
    d, unit = scaled_distances(X, centres)
    with np.errstate(over="ignore"):
        out = d * unit
    if not np.all(np.isfinite(out)):
        raise ValueError("X: distances to the centres exceed the float range; rescale X and "
                         "the centres")
    return out


def _silo_data(data, dim):
    """A silo's data as a finite float array (n, dim); ``ValueError`` otherwise."""
    x = check_array(data, dtype=np.float64, input_name="data")
    if x.shape[1] != dim:
        raise ValueError(f"data has {x.shape[1]} columns but the model's atoms have {dim}")
    return x


class KMeansAdapter(Adapter):
    name = "sklearn KMeans"
    uses_data = "variances"

    def matches(self, model):
        from sklearn.cluster import KMeans, MiniBatchKMeans

        return isinstance(model, (KMeans, MiniBatchKMeans))

    def extract(self, model, data=None):
        centres = np.asarray(model.cluster_centers_, dtype=float)
        variances = None
        if data is not None:
            x = _silo_data(data, centres.shape[1])
            variances = centroid_variances(x, model.predict(x), centres)
        return LocalAtoms(centres, variances)

    def build(self, result, locals_, models):
        return FusedKMeans(cluster_centers=result.global_atoms,
                           popularity=result.popularity).fit()


# ---------------------------------------------------------------------------- Gaussian mixture
class GaussianMixtureAdapter(Adapter):
    """Fused mixture weights: each local component's weight times its silo's weight
    (``fuse_models(weights=...)``, e.g. silo sizes; equal by default), summed per global
    component and normalised."""

    name = "sklearn GaussianMixture"
    uses_weights = True
    uses_data = "variances"

    def matches(self, model):
        from sklearn.mixture import GaussianMixture

        return isinstance(model, GaussianMixture)

    def extract(self, model, data=None):
        means = np.asarray(model.means_, dtype=float)
        K, D = means.shape
        cov = _full_covariances(model.covariances_, model.covariance_type, K, D)
        variances = None
        if data is not None:
            n = len(_silo_data(data, D)) * np.asarray(model.weights_)
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
        mass = np.zeros(L)
        for x, a in zip(locals_, result.assignments):
            np.add.at(mass, a, np.asarray(x.extra["weights"]) * x.extra.get("silo_weight", 1.0))
        gm.weights_ = mass / mass.sum()
        gm.covariances_ = cov
        gm.precisions_cholesky_ = _precision_cholesky(cov)
        gm.precisions_ = np.einsum("kij,klj->kil", gm.precisions_cholesky_, gm.precisions_cholesky_)
        gm.converged_, gm.n_iter_, gm.lower_bound_ = True, 0, -np.inf
        gm.n_features_in_ = D
        return gm


register_adapter(KMeansAdapter(), first=False)
register_adapter(GaussianMixtureAdapter(), first=False)

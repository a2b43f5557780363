"""k-means as a local model: the centroids of a silo's data are its local atoms."""
from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from sklearn.cluster import KMeans

from ..adapters import (Adapter, LocalAtoms, _full_covariances, _jittered,
                        _precision_cholesky, centroid_variances, group_average,
                        register_adapter)


def fit_kmeans(data, n_clusters, random_state=None, n_init=1, max_iter=300, sample_weight=None):
    """Fit scikit-learn ``KMeans`` (k-means++ init) and return the fitted model."""
    data = np.asarray(data, dtype=float)
    if data.ndim != 2 or data.shape[0] < n_clusters:
        raise ValueError(
            f"k-means needs a 2-D array with at least n_clusters={n_clusters} rows, "
            f"got shape {data.shape}"
        )
    return KMeans(n_clusters=n_clusters, n_init=n_init, max_iter=max_iter,
                  random_state=random_state).fit(data, sample_weight=sample_weight)


def local_centroids(silo_data, n_clusters, random_state=0, n_init=1, max_iter=300, n_jobs=1):
    """Fit one k-means per silo (in parallel) and return each silo's centroids.

    Parameters
    ----------
    silo_data : list of ndarray (M_j, D)
    n_clusters : list of int, one per silo
    random_state : int
        Silo j uses ``random_state + j``.

    Returns
    -------
    list of ndarray (k_j, D)
    """
    jobs = (
        delayed(fit_kmeans)(x, k, random_state + j, n_init, max_iter)
        for j, (x, k) in enumerate(zip(silo_data, n_clusters))
    )
    models = Parallel(n_jobs=n_jobs)(jobs)
    return [m.cluster_centers_ for m in models]


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


register_adapter(KMeansAdapter(), first=False)
register_adapter(GaussianMixtureAdapter(), first=False)

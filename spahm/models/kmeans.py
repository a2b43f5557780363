"""k-means as a local model: the centroids of a silo's data are its local atoms."""
from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from sklearn.cluster import KMeans


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

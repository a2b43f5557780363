"""J identical fitted models, their components in random orders, fuse back to that model
(for every adapter of spahm.models.mixture, topics and mlp)."""
import copy

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.decomposition import LatentDirichletAllocation
from sklearn.mixture import GaussianMixture
from sklearn.neural_network import MLPRegressor

from spahm import fuse_models

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CENTRES = np.array([[0.0, 0.0], [9.0, 1.0], [2.0, 8.0], [-7.0, 5.0]])


def _points(seed, n=200):
    rng = np.random.default_rng(seed)
    return CENTRES[rng.integers(4, size=n)] + rng.normal(0, 0.5, (n, 2))


def _permuted(model, fields, rng):
    """A copy of ``model`` whose components (rows of each fitted array in ``fields``) are in a
    random order."""
    out = copy.deepcopy(model)
    order = rng.permutation(len(getattr(model, fields[0])))
    for name in fields:
        setattr(out, name, np.asarray(getattr(model, name))[order].copy())
    return out


def _order(rows):
    return np.lexsort(np.asarray(rows).T[::-1])


def _kmeans(seed):
    return KMeans(4, n_init=2, random_state=seed).fit(_points(seed)), ["cluster_centers_"]


def _mixture(seed):
    gm = GaussianMixture(4, random_state=seed).fit(_points(seed))
    return gm, ["means_", "covariances_", "weights_", "precisions_cholesky_", "precisions_"]


def _lda(seed):
    rng = np.random.default_rng(seed)
    docs = rng.integers(0, 6, (40, 10))
    return LatentDirichletAllocation(3, max_iter=10, random_state=seed).fit(docs), ["components_"]


def _same_kmeans(fused, model, X):
    a, b = fused.cluster_centers_, model.cluster_centers_
    np.testing.assert_allclose(a[_order(a)], b[_order(b)], rtol=1e-7, atol=1e-7)
    # the same partition of X up to the names of the clusters
    pairs = set(zip(fused.predict(X).tolist(), model.predict(X).tolist()))
    assert len(pairs) == len({p for p, _ in pairs}) == len({q for _, q in pairs})


def _same_mixture(fused, model, X):
    i, j = _order(fused.means_), _order(model.means_)
    np.testing.assert_allclose(fused.means_[i], model.means_[j], rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(fused.weights_[i], model.weights_[j], rtol=1e-9)
    np.testing.assert_allclose(fused.covariances_[i], model.covariances_[j], rtol=1e-6)
    np.testing.assert_allclose(fused.score_samples(X), model.score_samples(X), rtol=1e-6)


def _same_lda(fused, model, X):
    i, j = _order(fused.components_), _order(model.components_)
    np.testing.assert_allclose(fused.components_[i], model.components_[j], rtol=1e-9)


CASES = {"kmeans": (_kmeans, _same_kmeans), "mixture": (_mixture, _same_mixture),
         "lda": (_lda, _same_lda)}


@pytest.mark.parametrize("J", [2, 5])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kind", sorted(CASES))
def test_identical_models_fuse_back_to_the_model(kind, seed, J):
    make, same = CASES[kind]
    model, fields = make(seed)
    rng = np.random.default_rng(seed + 10)
    copies = [model] + [_permuted(model, fields, rng) for _ in range(J - 1)]
    fused = fuse_models(copies, random_state=seed)
    assert fused.fusion_.n_global_atoms == len(getattr(model, fields[0]))
    assert (fused.fusion_.popularity == J).all()
    X = _points(seed + 100, 50) if kind != "lda" else None
    same(fused, model, X)


@pytest.mark.parametrize("J", [2, 4])
def test_identical_networks_fuse_back_to_the_network(J):
    rng = np.random.default_rng(J)
    X = rng.normal(size=(80, 3))
    net = MLPRegressor(hidden_layer_sizes=(6, 4), max_iter=100, random_state=0)
    net.fit(X, X @ [1.0, -2.0, 0.5])
    copies = [copy.deepcopy(net) for _ in range(J)]
    for c in copies[1:]:  # hidden units in a random order, the next layer's rows with them
        for h in range(len(c.coefs_) - 1):
            p = rng.permutation(c.coefs_[h].shape[1])
            c.coefs_[h], c.intercepts_[h] = c.coefs_[h][:, p], c.intercepts_[h][p]
            c.coefs_[h + 1] = c.coefs_[h + 1][p]
    fused = fuse_models(copies, random_state=0)
    assert fused.hidden_layer_sizes == (6, 4)
    np.testing.assert_allclose(fused.predict(X), net.predict(X), rtol=1e-8, atol=1e-8)

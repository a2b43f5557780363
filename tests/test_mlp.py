"""Fusing scikit-learn MLPs (spahm.models.mlp): matching hidden units layer by layer."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier, MLPRegressor

from spahm import fuse_models
from spahm.models.mlp import average_networks, check_networks, fuse_networks, layer_atoms

# Tiny networks trained for a few epochs: whether they converged does not matter here.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _blobs(seed=0, n=240, d=5, k=3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, size=(k, d))
    y = rng.integers(k, size=n)
    return centres[y] + rng.normal(0, 1, size=(n, d)), y


def _classifier(hidden=(10, 6), seed=0, X=None, y=None, classes=None):
    if X is None:
        X, y = _blobs(seed)
    net = MLPClassifier(hidden_layer_sizes=hidden, max_iter=300, random_state=seed)
    if classes is None:
        return net.fit(X, y)
    for _ in range(60):
        net.partial_fit(X, y, classes=classes)
    return net


def _permuted(net, rng):
    """A copy of ``net`` with the units of every hidden layer in a random order."""
    out = clone(net)
    coefs = [c.copy() for c in net.coefs_]
    intercepts = [b.copy() for b in net.intercepts_]
    for h in range(len(coefs) - 1):
        p = rng.permutation(coefs[h].shape[1])
        coefs[h], intercepts[h], coefs[h + 1] = coefs[h][:, p], intercepts[h][p], coefs[h + 1][p]
    for key, value in vars(net).items():
        if key.endswith("_") and not key.startswith("__"):
            setattr(out, key, value)
    out.coefs_, out.intercepts_ = coefs, intercepts
    return out


@pytest.mark.parametrize("hidden", [(12,), (10, 6)])
def test_permuted_copies_of_one_classifier_fuse_back_to_it(hidden):
    X, y = _blobs(1)
    net = _classifier(hidden, seed=1, X=X, y=y)
    rng = np.random.default_rng(5)
    copies = [net] + [_permuted(net, rng) for _ in range(3)]
    np.testing.assert_allclose(copies[2].predict_proba(X), net.predict_proba(X), atol=1e-12)
    fused = fuse_networks(copies, random_state=0)
    assert fused.hidden_layer_sizes == hidden
    assert np.max(np.abs(fused.predict_proba(X) - net.predict_proba(X))) < 1e-8
    # every copy's units are matched one to one
    for layer, assignments in enumerate(fused.local_to_global_):
        for a in assignments:
            assert sorted(a) == list(range(hidden[layer]))


def test_permuted_copies_of_one_regressor_fuse_back_to_it():
    X, _ = _blobs(2)
    target = np.column_stack([X[:, 0] - X[:, 1], np.sin(X[:, 2])])
    net = MLPRegressor(hidden_layer_sizes=(9,), max_iter=400, random_state=0).fit(X, target)
    rng = np.random.default_rng(1)
    fused = fuse_models([_permuted(net, rng) for _ in range(4)], random_state=0)
    assert isinstance(fused, MLPRegressor)
    assert np.max(np.abs(fused.predict(X) - net.predict(X))) < 1e-8


def test_fused_classifier_of_skewed_silos_predicts():
    X, y = _blobs(3, n=600, k=4)
    classes = np.arange(4)
    rng = np.random.default_rng(0)
    # silo j sees mostly classes j and j+1: label skew
    silos = []
    for j in range(4):
        keep = np.isin(y, [j, (j + 1) % 4]) | (rng.random(len(y)) < 0.05)
        silos.append((X[keep], y[keep]))
    nets = [_classifier((16,), seed=j, X=x, y=t, classes=classes) for j, (x, t) in enumerate(silos)]
    fused = fuse_models(nets, random_state=0)
    assert isinstance(fused, MLPClassifier)
    np.testing.assert_array_equal(fused.classes_, classes)
    proba = fused.predict_proba(X)
    assert proba.shape == (len(X), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(np.unique(fused.predict(X))) <= set(classes)
    assert fused.hidden_layer_sizes[0] == fused.fusion_[0].n_global_atoms
    assert fused.hidden_layer_sizes[0] >= 16
    mean_local = np.mean([(m.predict(X) == y).mean() for m in nets])
    assert (fused.predict(X) == y).mean() > mean_local
    assert "MLPClassifier" in repr(clone(fused))


def test_silos_with_different_widths_fuse_layer_by_layer():
    X, y = _blobs(4)
    nets = [_classifier((8, 5), seed=0, X=X, y=y), _classifier((12, 7), seed=1, X=X, y=y)]
    fused = fuse_networks(nets, random_state=0)
    assert len(fused.fusion_) == 2
    assert fused.coefs_[0].shape == (X.shape[1], fused.hidden_layer_sizes[0])
    assert fused.coefs_[1].shape == fused.hidden_layer_sizes
    assert fused.coefs_[2].shape == (fused.hidden_layer_sizes[1], 3)
    assert fused.hidden_layer_sizes[0] >= 12 and fused.hidden_layer_sizes[1] >= 7
    assert fused.predict(X).shape == y.shape


def test_layer_atoms_scale_each_block_to_unit_rms_and_map_rows():
    X, y = _blobs(5)
    nets = [_classifier((6,), seed=s, X=X, y=y) for s in range(2)]
    atoms, scales = layer_atoms(nets, 0, [np.arange(5)] * 2, 5)
    stacked = np.vstack(atoms)
    n_in = X.shape[1] + 1
    assert np.sqrt(np.mean(stacked[:, :n_in] ** 2)) == pytest.approx(1.0)
    assert np.sqrt(np.mean(stacked[:, n_in:] ** 2)) == pytest.approx(1.0)
    # rows of a layer's incoming weights go to the global units of the layer below
    rows = [np.array([4, 0, 2, 1, 3])] * 2
    moved, _ = layer_atoms(nets, 0, rows, 7, scale=False)
    np.testing.assert_array_equal(moved[0][:, [4, 0, 2, 1, 3]], nets[0].coefs_[0].T)
    np.testing.assert_array_equal(moved[0][:, [5, 6]], 0.0)


def test_weight_averaging_of_identical_networks_is_the_network():
    X, y = _blobs(6)
    net = _classifier((7,), X=X, y=y)
    avg = average_networks([net, net])
    np.testing.assert_allclose(avg.predict_proba(X), net.predict_proba(X), atol=1e-12)
    other = _classifier((9,), X=X, y=y)
    with pytest.raises(ValueError, match="model 1 has weight shapes"):
        average_networks([net, other])


# ---------------------------------------------------------------------------- bad input
def test_different_input_sizes_are_rejected():
    X, y = _blobs(7)
    a = _classifier((5,), X=X, y=y)
    b = _classifier((5,), X=X[:, :4], y=y)
    with pytest.raises(ValueError, match=r"model 1 has n_features_in_ \(input size\) 4 .* 5"):
        fuse_models([a, b])


def test_unfitted_network_is_named():
    a = _classifier((5,))
    with pytest.raises(NotFittedError, match="model 1 .*not fitted"):
        fuse_networks([a, MLPClassifier(hidden_layer_sizes=(5,))])


def test_classifiers_and_regressors_are_not_mixed():
    X, y = _blobs(8)
    a = _classifier((5,), X=X, y=y)
    b = MLPRegressor(hidden_layer_sizes=(5,), max_iter=50).fit(X, y.astype(float))
    with pytest.raises(ValueError, match="model 1 is a MLPRegressor but model 0 is a "
                                         "MLPClassifier"):
        fuse_models([a, b])


def test_other_mismatches_are_named():
    X, y = _blobs(9)
    a = _classifier((5,), X=X, y=y)
    with pytest.raises(ValueError, match="model 1 has classes .*partial_fit"):
        fuse_networks([a, _classifier((5,), X=X[y < 2], y=y[y < 2])])
    with pytest.raises(ValueError, match="number of hidden layers"):
        fuse_networks([a, _classifier((5, 4), X=X, y=y)])
    with pytest.raises(ValueError, match="activation"):
        fuse_networks([a, MLPClassifier(hidden_layer_sizes=(5,), activation="tanh",
                                        max_iter=50).fit(X, y)])
    with pytest.raises(ValueError, match="model 1 is a KMeans"):
        check_networks([a, KMeans(2, n_init=1).fit(X)])
    with pytest.raises(ValueError, match="empty"):
        fuse_networks([])

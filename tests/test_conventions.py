"""scikit-learn's conventions in the library: signatures, declared constraints, random states,
and every argument of ``fuse_models`` honoured or refused for every adapter."""
import inspect

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.decomposition import LatentDirichletAllocation
from sklearn.mixture import GaussianMixture
from sklearn.neural_network import MLPClassifier
from sklearn.utils._param_validation import InvalidParameterError

from spahm import SPAHM, fuse_models, match
from spahm._validation import check_params
from spahm.models.mixture import FusedKMeans

ESTIMATORS = [SPAHM, FusedKMeans]
SILOS = [np.array([[0.0, 0.0], [10.0, 10.0]]), np.array([[0.1, -0.1], [9.9, 10.2]]),
         np.array([[10.1, 9.8]])]


def test_fit_signatures_follow_scikit_learn():
    assert str(inspect.signature(SPAHM.fit)) == \
        "(self, local_atoms, y=None, *, local_variances=None)"
    assert str(inspect.signature(SPAHM.partial_fit)) == \
        "(self, new_silos, y=None, *, local_variances=None)"
    assert str(inspect.signature(match)).startswith("(local_atoms, *, local_variances=None")


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_constructor_parameters_are_keyword_only_and_constrained(estimator):
    params = list(inspect.signature(estimator).parameters.values())
    assert params and all(p.kind is p.KEYWORD_ONLY for p in params)
    assert set(estimator._parameter_constraints) == {p.name for p in params}
    with pytest.raises(TypeError):
        estimator(1.0)


def test_variances_given_as_y_are_refused_not_ignored():
    with pytest.raises(ValueError, match="y must be None.*local_variances="):
        SPAHM().fit(SILOS, [0.1, 0.1, 0.1])


@pytest.mark.parametrize("make", [lambda: 0, lambda: 2**40, lambda: np.int64(3),
                                  lambda: np.random.RandomState(0),
                                  lambda: np.random.default_rng(0),
                                  lambda: np.random.SeedSequence(0), lambda: np.random.PCG64(0)],
                         ids=["int", "big int", "numpy int", "RandomState", "Generator",
                              "SeedSequence", "BitGenerator"])
def test_random_state_takes_what_scikit_learn_takes(make):
    reference = match(SILOS, random_state=0)
    assert match(SILOS, random_state=make()).n_global_atoms == reference.n_global_atoms


def test_a_random_state_object_gives_reproducible_results():
    a = match(SILOS, n_init=3, random_state=np.random.RandomState(4))
    b = match(SILOS, n_init=3, random_state=np.random.RandomState(4))
    np.testing.assert_array_equal(a.global_atoms, b.global_atoms)


def test_check_params_names_the_config_key():
    with pytest.raises(InvalidParameterError, match=r"^fusion\.n_init: .*'n_init' parameter"):
        check_params({"n_init": 0, "unknown_key": "not checked"}, SPAHM, prefix="fusion.")
    with pytest.raises(ValueError, match=r"fusion\.sigma: .*Got inf"):
        check_params({"sigma": float("inf")}, SPAHM, prefix="fusion.")
    with pytest.raises(ValueError, match=r"'fusion\.gamma0' parameter .* not a bool"):
        check_params({"gamma0": True}, SPAHM, prefix="fusion.")
    check_params({"sigma": [1.0, 2.0], "mu0": None, "optimize_hyperparameters": False}, SPAHM)


def test_parameters_set_after_fit_are_checked_by_partial_fit():
    model = SPAHM(random_state=0).fit(SILOS)
    model.set_params(n_iter=-1)
    with pytest.raises(InvalidParameterError, match="'n_iter' parameter of SPAHM"):
        model.partial_fit([SILOS[0]])


# ------------------------------------------------------------------ fuse_models' arguments
def _blobs(seed, n=120):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    y = rng.integers(3, size=n)
    return centres[y] + rng.normal(0, 0.4, (n, 2)), y


def _models(kind):
    data = [_blobs(j) for j in range(2)]
    if kind == "kmeans":
        return [KMeans(3, n_init=2, random_state=0).fit(x) for x, _ in data]
    if kind == "mixture":
        return [GaussianMixture(3, random_state=0).fit(x) for x, _ in data]
    if kind == "lda":
        counts = [np.random.default_rng(j).integers(0, 5, (20, 6)) for j in range(2)]
        return [LatentDirichletAllocation(2, max_iter=5, random_state=0).fit(c) for c in counts]
    return [MLPClassifier(hidden_layer_sizes=(4,), max_iter=50, random_state=0).fit(x, y)
            for x, y in data]


KINDS = ["kmeans", "mixture", "lda", "mlp"]
USES_DATA = {"kmeans", "mixture"}
USES_WEIGHTS = {"mixture", "lda", "mlp"}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", KINDS)
def test_every_argument_is_honoured_or_refused(kind):
    models = _models(kind)
    data = [np.ones((5, 2))] * 2
    if kind in USES_DATA:
        fuse_models(models, data=[_blobs(j)[0] for j in range(2)], random_state=0)
        with pytest.raises(ValueError, match="use_variances=False"):
            fuse_models(models, data=data, use_variances=False, random_state=0)
    else:
        with pytest.raises(ValueError, match="data: the .* adapter does not use the silos' data"):
            fuse_models(models, data=data, random_state=0)
    if kind in USES_WEIGHTS:
        fuse_models(models, weights=[1.0, 3.0], random_state=0)
        with pytest.raises(ValueError, match="weights must be 2 positive finite numbers"):
            fuse_models(models, weights=[1.0, -1.0], random_state=0)
    else:
        with pytest.raises(ValueError, match="weights: the .* adapter's global model has no"):
            fuse_models(models, weights=[1.0, 3.0], random_state=0)
    with pytest.raises(ValueError, match="use_variances must be True or False"):
        fuse_models(models, use_variances="no", random_state=0)
    with pytest.raises(InvalidParameterError, match="'n_init' parameter of SPAHM"):
        fuse_models(models, n_init=0)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_weights_weigh_the_averaged_units():
    """Two networks fused with weights (w, 1 - w) on a shared unit: the unit and the output
    bias are the weighted averages; equal weights give the unweighted fusion."""
    a, b = _models("mlp")
    b.coefs_ = [c.copy() for c in a.coefs_]
    b.intercepts_ = [i + 1.0 for i in a.intercepts_]  # same units, shifted biases
    equal = fuse_models([a, b], random_state=0, sigma=10.0)
    same = fuse_models([a, b], weights=[2.0, 2.0], random_state=0, sigma=10.0)
    skewed = fuse_models([a, b], weights=[3.0, 1.0], random_state=0, sigma=10.0)
    assert equal.hidden_layer_sizes == skewed.hidden_layer_sizes == (4,)
    np.testing.assert_allclose(same.intercepts_[-1], equal.intercepts_[-1])
    np.testing.assert_allclose(equal.intercepts_[-1], a.intercepts_[-1] + 0.5)
    np.testing.assert_allclose(skewed.intercepts_[-1], a.intercepts_[-1] + 0.25)
    np.testing.assert_allclose(np.sort(skewed.intercepts_[0]), np.sort(a.intercepts_[0] + 0.25))


def test_adapters_declare_fuse():
    from spahm import adapters

    for adapter in adapters._REGISTRY:
        assert callable(adapter.fuse) and adapter.uses_data in (False, "variances")

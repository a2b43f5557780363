"""Bad input to the core: each a ValueError that names the silo or parameter and the problem."""
import numpy as np
import pytest

from spahm import match

GOOD = np.ones((2, 3))

BAD_ATOMS = [
    ("no silos", [], "empty"),
    ("a single 2-D array", np.ones((4, 3)), "single 2-D array"),
    ("not a list", 5, "must be a list"),
    ("silo with 0 atoms", [GOOD, np.empty((0, 3))], "silo 1 has 0 local atoms"),
    ("ragged dimensions", [GOOD, np.ones((2, 4))], "silo 1 has atoms of dimension D=4"),
    ("NaN", [GOOD, np.array([[1.0, np.nan, 0.0]])], "silo 1: local atom 0 has a non-finite"),
    ("inf", [np.array([[np.inf, 1.0, 0.0]]), GOOD], "silo 0: local atom 0 has a non-finite"),
    ("strings", [GOOD, [["a", "b", "c"]]], "silo 1: local atoms holds <U1 values, not numbers"),
    ("a string silo", [GOOD, "abc"], "silo 1: expected a numeric array"),
    ("1-D silo", [GOOD, np.ones(3)], r"silo 1: expected a 2-D array .* \(reshape a single atom"),
    ("3-D silo", [GOOD, np.ones((2, 3, 1))], "silo 1: expected a 2-D array"),
    ("zero-dimensional atoms", [np.ones((2, 0))], "dimension 0"),
    ("complex atoms", [GOOD, GOOD * (1 + 1j)], "silo 1: local atoms holds complex numbers"),
    ("a None silo", [GOOD, None], "silo 1 is None"),
]


@pytest.mark.parametrize("atoms,message", [(a, m) for _, a, m in BAD_ATOMS],
                         ids=[n for n, _, _ in BAD_ATOMS])
def test_bad_local_atoms(atoms, message):
    with pytest.raises(ValueError, match=message):
        match(atoms)


def _param(name):
    """scikit-learn's message for a parameter outside its ``_parameter_constraints``."""
    return f"The '{name}' parameter of SPAHM must be"


BAD_PARAMS = [
    ({"sigma": 0.0}, _param("sigma")),
    ({"sigma": -1.0}, _param("sigma")),
    ({"sigma0": np.array([1.0, -1.0, 1.0])}, _param("sigma0")),
    ({"sigma": np.ones(4)}, "sigma must be a scalar or have length D=3"),
    ({"sigma": "big"}, _param("sigma")),
    ({"sigma": True}, _param("sigma") + " a number, not a bool"),
    ({"sigma": np.inf}, _param("sigma")),
    ({"gamma0": 0}, _param("gamma0")),
    ({"gamma0": np.ones(3)}, _param("gamma0")),
    ({"gamma0": "a"}, _param("gamma0")),
    ({"mu0": np.nan}, _param("mu0")),
    ({"mu0": [0.0, np.nan, 0.0]}, _param("mu0")),
    ({"n_iter": -1}, _param("n_iter")),
    ({"n_iter": 2.5}, _param("n_iter")),
    ({"n_iter": 10**6}, _param("n_iter") + r" an int in the range \[0, 10000\]"),
    ({"popularity_cap": 0}, _param("popularity_cap")),
    ({"n_init": 0}, _param("n_init")),
    ({"n_init": 10**6}, _param("n_init") + r" an int in the range \[1, 1000\]"),
    ({"n_init": True}, _param("n_init")),
    ({"max_global_atoms": 1}, "max_global_atoms=1 is smaller than silo 0's 2 local atoms"),
    ({"max_global_atoms": 0}, _param("max_global_atoms")),
    ({"random_state": "abc"}, _param("random_state") + ".* Got 'abc'"),
    ({"random_state": -1}, _param("random_state")),
    ({"random_state": 1.5}, _param("random_state")),
    ({"sigma": 1 + 2j}, _param("sigma")),
    ({"mu0": 1j}, _param("mu0")),
    ({"optimize_hyperparameters": "yes"}, _param("optimize_hyperparameters")),
    ({"family": "gauss"}, _param("family")),
    ({"sigma0": 1e-200, "sigma": 1e-200}, r"sigma=1e-200 is too far from the atoms' spread"),
    ({"sigma_prior_dof": -1.0}, _param("sigma_prior_dof")),
    ({"sigma_prior_dof": "none"}, _param("sigma_prior_dof")),
    ({"sigma_prior_dof": np.inf}, _param("sigma_prior_dof")),
]


@pytest.mark.parametrize("kwargs,message", BAD_PARAMS, ids=[str(k) for k, _ in BAD_PARAMS])
def test_bad_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        match([GOOD, GOOD + 1], **kwargs)


def test_complex_local_variances_are_refused():
    with pytest.raises(ValueError, match="silo 0: local_variances holds complex numbers"):
        match([GOOD, GOOD + 1], local_variances=[1j, 1.0])


# ------------------------------------------------------------------ fitted models
def _kmeans():
    from sklearn.cluster import KMeans

    return KMeans(2, n_init=1, random_state=0)


def _fitted_fused():
    from spahm.models.mixture import FusedKMeans

    return FusedKMeans(cluster_centers=np.array([[0.0, 0.0], [5.0, 5.0]])).fit()


BAD_MODELS = [
    ("None", lambda: None, "models is None: expected a list"),
    ("a single model", lambda: _kmeans().fit(GOOD * np.arange(2)[:, None]),
     "models is a single KMeans: expected a list"),
    ("empty list", lambda: [], "models is empty"),
    ("unfitted models", lambda: [_kmeans(), _kmeans()], "model 0 .KMeans. is not fitted"),
    ("not a model", lambda: [object()], "no adapter for a builtins.object"),
]


@pytest.mark.parametrize("make,message", [(m, e) for _, m, e in BAD_MODELS],
                         ids=[n for n, _, _ in BAD_MODELS])
def test_bad_models_to_fuse(make, message):
    from spahm import fuse_models

    with pytest.raises(ValueError, match=message):
        fuse_models(make())


BAD_PREDICT = [
    ("NaN", np.array([[np.nan, 0.0]]), "NaN"),
    ("wrong width", np.ones((2, 3)), "3 features, but FusedKMeans is expecting 2"),
    ("1-D", np.ones(2), "Expected a 2-dimensional container|Expected 2D array"),
    ("empty", np.ones((0, 2)), "0 sample"),
    ("strings", [["a", "b"]], "could not convert|dtype"),
    ("complex", np.ones((1, 2)) * 1j, "Complex data not supported"),
]


@pytest.mark.parametrize("X,message", [(x, m) for _, x, m in BAD_PREDICT],
                         ids=[n for n, _, _ in BAD_PREDICT])
def test_fused_kmeans_predict_validates_like_scikit_learn(X, message):
    with pytest.raises(ValueError, match=message):
        _fitted_fused().predict(X)


def test_unfitted_fused_kmeans_says_not_fitted():
    from sklearn.exceptions import NotFittedError

    from spahm.models.mixture import FusedKMeans

    with pytest.raises(NotFittedError, match="not fitted"):
        FusedKMeans(cluster_centers=[[0.0, 0.0]]).predict([[1.0, 1.0]])


@pytest.mark.parametrize("weights,message", [
    ([1.0], "weights must be 2 positive finite numbers"),
    ([1.0, -2.0], "weights must be 2 positive finite numbers"),
    ([1.0, np.nan], "weights must be 2 positive finite numbers"),
])
def test_bad_silo_weights(weights, message):
    from sklearn.mixture import GaussianMixture

    from spahm import fuse_models

    rng = np.random.default_rng(0)
    local = [GaussianMixture(2, random_state=0).fit(rng.normal(size=(40, 2))) for _ in range(2)]
    with pytest.raises(ValueError, match=message):
        fuse_models(local, weights=weights)

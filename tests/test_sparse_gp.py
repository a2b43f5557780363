"""Sparse-GP local model, atom extraction, the fused global model and experts on tiny data."""
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone

from experiments.temperature.baselines import gpoe, mixture_average, nlpd, rbcm, rmse
from spahm import match
from spahm.models.sparse_gp import (
    FusedInducingPredictor,
    FusedSparseGP,
    LocalSparseGP,
    SparseGPAdapter,
    Standardizer,
    extract_atoms,
    group_outputs,
    live_inducing_points,
    rbf_kernel,
    silo_summary,
    split_atoms,
)


def _predictor(Z, u, s2, variance, lengthscale, noise):
    return FusedInducingPredictor(inducing_inputs=Z, inducing_outputs=u, output_variance=s2,
                                  variance=variance, lengthscale=lengthscale,
                                  noise_variance=noise)


@pytest.fixture(scope="module")
def sine_gp():
    """A sparse GP fitted to 80 noisy points of sin(x) on [-3, 3]."""
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(-3, 3, 80))[:, None]
    y = np.sin(x[:, 0]) + 0.05 * rng.normal(size=80)
    return LocalSparseGP(num_inducing=10, max_iters=200, random_state=0).fit(x, y)


def test_standardizer_from_summaries_equals_pooled():
    rng = np.random.default_rng(1)
    silos = [rng.normal(size=(n, 3)) * [1, 5, 10] + [0, 3, -2] for n in (5, 9, 14)]
    s = Standardizer.from_summaries([silo_summary(x) for x in silos])
    pooled = np.vstack(silos)
    np.testing.assert_allclose(s.mean, pooled.mean(0))
    np.testing.assert_allclose(s.scale, pooled.std(0))
    z = s.transform(pooled)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(0), 1)


def test_standardizer_constant_column_does_not_divide_by_zero():
    s = Standardizer.from_summaries([silo_summary(np.ones((4, 1)))])
    assert np.isfinite(s.transform(np.ones((2, 1)))).all()


def test_rbf_kernel_matches_gpy():
    import GPy

    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    k = GPy.kern.RBF(3, variance=1.7, lengthscale=[0.5, 1.0, 2.0], ARD=True)
    np.testing.assert_allclose(rbf_kernel(a, b, 1.7, np.array([0.5, 1.0, 2.0])), k.K(a, b))


def test_atoms_are_inducing_inputs_with_the_function_value(sine_gp):
    atoms = extract_atoms(sine_gp, output_weight=2.0)
    assert atoms.shape == (10, 2)
    np.testing.assert_array_equal(atoms[:, 0], sine_gp.inducing_inputs_[:, 0])
    inside = np.abs(atoms[:, 0]) < 2.8
    # the known answer: the output part is 2 * sin(z) up to the fit's error
    np.testing.assert_allclose(atoms[inside, 1], 2 * np.sin(atoms[inside, 0]), atol=0.1)
    z, u = split_atoms(atoms, output_weight=2.0)
    np.testing.assert_allclose(u, atoms[:, 1] / 2)
    np.testing.assert_array_equal(z, sine_gp.inducing_inputs_)


def test_fused_predictor_on_own_atoms_reproduces_the_sparse_gp_mean(sine_gp):
    z, u = split_atoms(extract_atoms(sine_gp))
    pred = _predictor(z, u, 0.0, sine_gp.variance_, sine_gp.lengthscale_,
                                  sine_gp.noise_variance_)
    x = np.linspace(-3, 3, 41)[:, None]
    np.testing.assert_allclose(pred.predict(x), sine_gp.predict(x), atol=2e-3)
    assert rmse(np.sin(x[:, 0]), pred.predict(x)) < 0.1


def test_fused_predictor_closed_form_single_point():
    # one inducing point z=0 with output 2, exact: mean = 2 exp(-x^2 / (2 l^2)),
    # var = v - v exp(-x^2 / l^2) (v=1.5, l=0.7)
    p = _predictor([[0.0]], [2.0], 0.0, 1.5, [0.7], 0.1)
    x = np.array([[0.0], [0.5], [2.0]])
    mean, var = p.predict(x, return_var=True)
    k = 1.5 * np.exp(-x[:, 0] ** 2 / (2 * 0.49))
    np.testing.assert_allclose(mean, k / 1.5 * 2.0, rtol=1e-5)
    np.testing.assert_allclose(var, np.maximum(1.5 - k**2 / 1.5, 1e-10), rtol=1e-4, atol=1e-5)
    # a noisy pseudo-observation shrinks the mean towards the prior: 2 v / (v + s^2)
    noisy = _predictor([[0.0]], [2.0], 0.5, 1.5, [0.7], 0.1)
    assert noisy.predict([[0.0]])[0] == pytest.approx(2 * 1.5 / 2.0, rel=1e-5)


def test_fused_predictor_rejects_bad_shapes():
    with pytest.raises(ValueError, match="inducing_inputs"):
        _predictor(np.zeros((3, 1)), np.zeros(2), 0.0, 1.0, [1.0], 0.1).predict([[0.0]])
    with pytest.raises(ValueError, match="output_variance"):
        _predictor(np.zeros((1, 1)), np.zeros(1), -1.0, 1.0, [1.0], 0.1).predict([[0.0]])


@pytest.mark.parametrize("X,message", [
    (np.zeros((3, 2)), "2 features, but the model was fitted on 1"),
    (np.zeros(3), "Expected 2D array"),
    (np.array([[np.nan]]), "NaN"),
    (np.array([[1j]]), "Complex data not supported"),
])
def test_predict_validates_its_input(sine_gp, X, message):
    """Every predictor refuses input of the wrong dimension, NaN or complex numbers."""
    fused = _predictor([[0.0]], [1.0], 0.0, 1.0, [1.0], 0.1)
    for model in (fused, sine_gp):
        with pytest.raises(ValueError, match=message):
            model.predict(X)


def test_fused_models_are_estimators():
    p = _predictor([[0.0]], [1.0], 0.0, 1.0, [1.0], 0.1)
    q = clone(p)
    assert q.predict([[1.0]])[0] == pytest.approx(p.predict([[1.0]])[0])
    assert "FusedInducingPredictor" in repr(p)
    y = np.exp(-0.5 * np.array([0.0, 1.0]))
    assert p.score([[0.0], [1.0], [2.0]], [*y, np.exp(-2.0)]) == pytest.approx(1.0, abs=1e-4)


def test_fusing_two_halves_predicts_the_whole_function():
    """Two silos see sin(2x) on [-3, 0] and [0, 3]; the fused model predicts both halves."""
    rng = np.random.default_rng(3)
    silos = []
    for lo, hi in ((-3, 0), (0, 3)):
        x = rng.uniform(lo, hi, 60)[:, None]
        y = np.sin(2 * x[:, 0]) + 0.05 * rng.normal(size=60)
        silos.append(LocalSparseGP(num_inducing=10, max_iters=200, random_state=1).fit(x, y))
    res = match([SparseGPAdapter(input_scale=None).extract(g).atoms for g in silos], sigma=0.05,
                sigma0=1.0, gamma0=2.0, random_state=0)
    locals_ = [SparseGPAdapter(input_scale=None).extract(m) for m in silos]
    u, s2 = group_outputs([x.extra["outputs"] for x in locals_],
                          [x.extra["output_variances"] for x in locals_], res.assignments,
                          res.n_global_atoms)
    assert s2.shape == (res.n_global_atoms,) and (s2 > 0).all()
    z = np.zeros((res.n_global_atoms, 1))
    for x, a in zip(locals_, res.assignments):
        z[a] = x.extra["inputs"]  # sigma 0.3 on two disjoint halves: nothing is matched
    assert res.n_global_atoms == sum(len(x.atoms) for x in locals_)
    g = silos[0]
    fused = _predictor(z, u, s2, g.variance_, g.lengthscale_, g.noise_variance_)
    x = np.linspace(1.0, 2.8, 30)[:, None]  # the half silo 0 never saw
    assert rmse(np.sin(2 * x[:, 0]), fused.predict(x)) < 0.3  # 0.19 at the time of writing
    assert rmse(np.sin(2 * x[:, 0]), g.predict(x)) > 0.6  # 0.76: silo 0 alone
    # the same through the adapter: the global model is the fused points with each silo's kernel
    adapter = SparseGPAdapter(input_scale=None)
    model = adapter.build(res, locals_, silos)
    assert isinstance(model, FusedSparseGP) and model.n_silos == 2
    np.testing.assert_allclose(model.predict(x, silo=0), fused.predict(x))
    assert not np.allclose(model.predict(x, silo=1), fused.predict(x))  # silo 1's own kernel
    with pytest.raises(ValueError, match="silo must be in 0..1"):
        model.predict(x, silo=2)


def test_group_outputs_is_the_flat_prior_posterior():
    """A lone point keeps its output and variance; a matched pair gets the precision-weighted
    mean and 1 / (1/v1 + 1/v2)."""
    u, s2 = group_outputs([np.array([1.0, 5.0]), np.array([3.0])],
                          [np.array([1.0, 0.2]), np.array([3.0])],
                          [np.array([0, 1]), np.array([0])], 2)
    np.testing.assert_allclose(u, [(1.0 + 3.0 / 3) / (1 + 1 / 3), 5.0])
    np.testing.assert_allclose(s2, [1 / (1 + 1 / 3), 0.2])


def test_experts_combinations():
    means = np.array([[1.0, 0.0], [3.0, 0.0]])
    variances = np.array([[1.0, 1.0], [1.0, 4.0]])
    m, v = gpoe(means, variances)
    np.testing.assert_allclose(m, [2.0, 0.0])
    np.testing.assert_allclose(v, [1.0, 1 / (0.5 + 0.125)])
    m, v = mixture_average(means, variances)
    np.testing.assert_allclose(m, [2.0, 0.0])
    np.testing.assert_allclose(v, [2.0, 2.5])
    # rBCM: an expert no more certain than the prior gets weight 0
    m, v = rbcm(np.array([[5.0], [1.0]]), np.array([[4.0], [1.0]]), prior_variance=4.0)
    beta = 0.5 * np.log(4.0)
    precision = beta + (1 - beta) / 4.0
    np.testing.assert_allclose(v, [1 / precision])
    np.testing.assert_allclose(m, [beta * 1.0 / precision])


def test_nlpd_of_standard_normal():
    assert nlpd([0.0], [0.0], [1.0]) == pytest.approx(0.5 * np.log(2 * np.pi))
    assert rmse([1.0, 3.0], [0.0, 0.0]) == pytest.approx(np.sqrt(5))


def test_local_fit_is_deterministic():
    x = np.linspace(-2, 2, 30)[:, None]
    a = LocalSparseGP(num_inducing=5, max_iters=30, random_state=4).fit(x, np.cos(x[:, 0]))
    b = LocalSparseGP(num_inducing=5, max_iters=30, random_state=4).fit(x, np.cos(x[:, 0]))
    np.testing.assert_array_equal(extract_atoms(a), extract_atoms(b))


def test_one_extraction_path(sine_gp):
    """extract_atoms and the adapter give the same atoms; the adapter adds the variances."""
    local = SparseGPAdapter(output_weight=2.0, input_scale=None, dead_margin=None).extract(sine_gp)
    np.testing.assert_array_equal(local.atoms, extract_atoms(sine_gp, output_weight=2.0))
    _, var = sine_gp.predict(sine_gp.inducing_inputs_, return_var=True)
    np.testing.assert_allclose(local.variances[:, -1], 4.0 * var)
    assert (local.variances[:, :-1] == 0).all()
    with pytest.raises(ValueError, match="output_weight"):
        SparseGPAdapter(output_weight=0.0)
    with pytest.raises(ValueError, match="output_variance"):
        SparseGPAdapter(output_variance="nope")
    with pytest.raises(ValueError, match="dead_margin"):
        SparseGPAdapter(dead_margin=0)
    with pytest.raises(ValueError, match="input_scale"):
        SparseGPAdapter(input_scale=[1.0, -1.0])


def test_unfitted_model_is_refused():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted"):
        extract_atoms(LocalSparseGP())


def test_gpy_sparse_gp_atoms_and_kernel_check():
    """A plain GPy sparse GP gives the same atoms as its parts (fuse_models on GPy models is
    tested in test_adapters.py); only the RBF kernel can be sent back to a silo."""
    import GPy

    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, (40, 1))
    m = GPy.models.SparseGPRegression(X, np.sin(X), kernel=GPy.kern.RBF(1, lengthscale=0.7),
                                      Z=np.linspace(-3, 3, 5)[:, None])
    local = SparseGPAdapter().extract(m)
    np.testing.assert_array_equal(local.atoms[:, 0], m.Z.values[:, 0])
    np.testing.assert_allclose(local.atoms[:, 1], m.predict_noiseless(m.Z.values)[0][:, 0])
    variance, lengthscale, noise = local.extra["kernel"]
    assert lengthscale.shape == (1,) and lengthscale[0] == pytest.approx(0.7)
    with pytest.raises(ValueError, match="RBF kernel"):
        extract_atoms(GPy.models.SparseGPRegression(X, np.sin(X), kernel=GPy.kern.Matern32(1)))


def test_importing_the_module_does_not_import_gpy():
    code = ("import sys, spahm.models.sparse_gp; "
            "assert 'GPy' not in sys.modules, 'GPy imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("params,name", [
    ({"num_inducing": None}, "num_inducing"), ({"num_inducing": 0}, "num_inducing"),
    ({"max_iters": -5}, "max_iters"), ({"init_noise_variance": 0}, "init_noise_variance"),
    ({"init_lengthscale": -1.0}, "init_lengthscale"), ({"optimize_inducing": "yes"},
                                                       "optimize_inducing"),
])
def test_local_fit_checks_its_parameters_with_sklearn(params, name):
    """scikit-learn's own parameter validation at fit, naming the parameter."""
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of LocalSparseGP"):
        LocalSparseGP(**params).fit(np.zeros((3, 1)), np.zeros(3))


def test_constructors_are_keyword_only():
    with pytest.raises(TypeError):
        LocalSparseGP(10)
    with pytest.raises(TypeError):
        FusedInducingPredictor([[0.0]], [1.0], 0.0, 1.0, [1.0], 0.1)
    with pytest.raises(TypeError):
        FusedSparseGP([[0.0]], [1.0], 0.0, [(1.0, [1.0], 0.1)])
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="'variance' parameter"):
        _predictor([[0.0]], [1.0], 0.0, -1.0, [1.0], 0.1).fit()
    with pytest.raises(InvalidParameterError, match="'kernels' parameter of FusedSparseGP"):
        FusedSparseGP(inducing_inputs=[[0.0]], inducing_outputs=[1.0], output_variance=0.0,
                      kernels="nope").fit()


def test_local_fit_validates():
    with pytest.raises(ValueError, match="NaN"):
        LocalSparseGP().fit(np.array([[np.nan]]), np.zeros(1))
    with pytest.raises(ValueError, match="y must be finite"):
        LocalSparseGP().fit(np.zeros((2, 1)), [0.0, np.inf])
    with pytest.raises(ValueError, match="2 rows but y has 3"):
        LocalSparseGP().fit(np.zeros((2, 1)), np.zeros(3))


def _silos(domains, seed=5, n=80, noise=0.05, f=lambda x: np.sin(2 * x)):
    rng = np.random.default_rng(seed)
    data, models = [], []
    for lo, hi in domains:
        x = rng.uniform(lo, hi, (n, 1))
        y = f(x[:, 0]) + noise * rng.normal(size=n)
        data.append((x, y))
        models.append(LocalSparseGP(num_inducing=10, max_iters=200, random_state=2).fit(x, y))
    return data, models


def test_own_points_are_returned_unchanged_when_nothing_matches():
    """Silos far apart: every global point is one silo's live point, input, output and its
    local posterior variance unchanged (no shrinkage towards the prior mean)."""
    from spahm import fuse_models

    _, models = _silos([(-3, 0), (10, 13), (30, 33)])
    fused = fuse_models(models, sigma=1e-3, sigma0=1.0, gamma0=3.0, random_state=0)
    assert fused.fusion_.n_global_atoms == fused.n_local_atoms_  # nothing matched
    adapter = SparseGPAdapter().for_models(models)
    for j, m in enumerate(models):
        local = adapter.extract(m)
        a = fused.local_to_global_[j]
        np.testing.assert_array_equal(fused.inducing_inputs[a], local.extra["inputs"])
        np.testing.assert_array_equal(fused.inducing_outputs[a], local.extra["outputs"])
        np.testing.assert_array_equal(fused.output_variance[a], local.extra["output_variances"])


def test_dead_inducing_points_are_not_sent():
    """An inducing point far outside the silo's inputs (GPy leaves such points where the
    optimiser pushed them) is not an atom; the model reports both counts."""
    import GPy
    from spahm import fuse_models

    rng = np.random.default_rng(0)
    models = []
    for shift in (0.0, 0.5):
        X = rng.uniform(-3, 3, (60, 1)) + shift
        Z = np.vstack([np.linspace(-2.5, 2.5, 5)[:, None] + shift, [[40.0]]])  # last: dead
        m = GPy.models.SparseGPRegression(X, np.sin(X), kernel=GPy.kern.RBF(1, lengthscale=1.0),
                                          Z=Z)
        m.likelihood.variance = 0.01
        models.append(m)
    assert live_inducing_points(models[0]).tolist() == [True] * 5 + [False]
    local = SparseGPAdapter().extract(models[0])
    assert len(local.atoms) == 5 and (np.abs(local.extra["inputs"]) < 3).all()
    fused = fuse_models(models, sigma=1e-3, sigma0=2.0, random_state=0)
    assert fused.n_inducing_points_ == 12 and fused.n_local_atoms_ == 10
    assert (np.abs(fused.inducing_inputs) < 4).all()
    # the rule is on the training inputs: 2 lengthscales beyond their range is still alive
    edge = GPy.models.SparseGPRegression(np.linspace(0, 1, 20)[:, None], np.zeros((20, 1)),
                                         kernel=GPy.kern.RBF(1, lengthscale=0.5),
                                         Z=np.array([[0.5], [1.9], [2.1]]))
    assert live_inducing_points(edge, margin=2.0).tolist() == [True, True, False]


def test_shared_function_is_predicted_with_the_pooled_accuracy():
    """Planted: two silos see the same function on overlapping halves of the domain. Fused,
    each silo predicts the whole domain as well as a sparse GP on the pooled data."""
    from spahm import fuse_models

    data, models = _silos([(-3, 0.5), (-0.5, 3)], seed=7)
    X = np.vstack([x for x, _ in data])
    y = np.concatenate([y for _, y in data])
    pooled = LocalSparseGP(num_inducing=20, max_iters=200, random_state=2).fit(X, y)
    fused = fuse_models(models, sigma=0.05, sigma0=1.0, gamma0=2.0, random_state=0)
    assert fused.fusion_.n_global_atoms < fused.n_local_atoms_  # the overlap is matched
    x = np.linspace(-2.9, 2.9, 200)[:, None]
    truth = np.sin(2 * x[:, 0])
    pooled_rmse = rmse(truth, pooled.predict(x))
    for j, m in enumerate(models):
        assert rmse(truth, m.predict(x)) > 0.4  # alone, a silo misses the other half
        assert rmse(truth, fused.predict(x, silo=j)) < max(1.5 * pooled_rmse, 0.05)

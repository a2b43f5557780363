"""Uncertainty-aware fusion: local atoms with their own variances."""
import numpy as np
import pytest

from conftest import planted_problem
from spahm import families, match
from spahm.metrics import hausdorff


def _same(a, b):
    np.testing.assert_array_equal(a.global_atoms, b.global_atoms)
    for x, y in zip(a.assignments, b.assignments):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.objective, b.objective)


def test_zero_variances_give_exactly_todays_result():
    _, silos, _ = planted_problem(seed=3, J=12, L=8, noise=2.0, spread=4.0)
    plain = match(silos, random_state=7)
    zero = match(silos, random_state=7, local_variances=[np.zeros(len(s)) for s in silos])
    _same(plain, zero)
    assert plain.hyperparameters == zero.hyperparameters


@pytest.mark.parametrize("optimize", [True, False])
def test_equal_variances_are_plain_spahm_with_the_total_variance(optimize):
    _, silos, _ = planted_problem(seed=4, J=10, L=6, noise=1.0, spread=5.0)
    c = 0.3
    plain = match(silos, random_state=1, sigma=np.sqrt(1.0 + c), optimize_hyperparameters=optimize)
    equal = match(silos, random_state=1, local_variances=[c] * len(silos),
                  optimize_hyperparameters=optimize)
    _same(plain, equal)
    assert equal.hyperparameters["sigma"] == pytest.approx(
        np.sqrt(plain.hyperparameters["sigma"] ** 2 - c))


def test_posterior_mean_is_precision_weighted():
    """One global atom, two silos: the fused atom is the textbook precision-weighted mean."""
    silos = [np.array([[0.0]]), np.array([[1.0]])]
    tau = [np.array([0.5]), np.array([4.5])]
    res = match(silos, local_variances=tau, sigma=0.5, sigma0=100.0, mu0=0.0,
                optimize_hyperparameters=False, random_state=0)
    assert res.n_global_atoms == 1
    w = np.array([1 / (0.25 + 0.5), 1 / (0.25 + 4.5)])
    expected = (w * np.array([0.0, 1.0])).sum() / (w.sum() + 1 / 100.0**2)
    assert res.global_atoms[0, 0] == pytest.approx(expected, rel=1e-9)


def test_heteroscedastic_costs_are_the_log_marginal_gain():
    """Match cost = 2 x (log marginal with the atom - without) + popularity, by brute force."""
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(0)
    group = rng.normal(0, 1, size=(3, 2))
    tau_group = rng.uniform(0, 1, size=(3, 2))
    v, tau_v = rng.normal(0, 1, size=(1, 2)), rng.uniform(0, 1, size=(1, 2))
    fam = families.Gaussian(sigma=0.8, sigma0=2.0, mu0=0.1).bind(group, tau_group)

    def full_lml(x, tau):
        return sum(multivariate_normal(np.full(len(x), 0.1),
                                       np.diag(0.64 + tau[:, d]) + 4.0 * np.ones((len(x),) * 2))
                   .logpdf(x[:, d]) for d in range(2))

    sums = fam.statistics(group, tau_group).sum(0, keepdims=True)
    J = 6
    cost = families.cost_matrix(fam, v, sums, np.array([3.0]), 1.0, J, variances=tau_v)
    gain = full_lml(np.vstack([group, v]), np.vstack([tau_group, tau_v])) - full_lml(group, tau_group)
    alone = full_lml(v, tau_v)
    # match - new differs from 2 x (gain - alone) only by the prior terms
    prior = 2 * np.log(3 / (J - 3)) - 2 * np.log(1.0 / J)
    assert cost[0, 0] - cost[0, 1] == pytest.approx(2 * (gain - alone) + prior, rel=1e-9)


def test_per_dimension_variances_and_per_atom_scalars_are_accepted():
    _, silos, _ = planted_problem(seed=2, J=4, L=4, D=3)
    per_atom = [np.full(len(s), 0.01) + 0.001 * np.arange(len(s)) for s in silos]
    per_dim = [np.tile([0.01, 0.02, 0.03], (len(s), 1)) for s in silos]
    a = match(silos, local_variances=per_atom, random_state=0)
    b = match(silos, local_variances=per_dim, random_state=0)
    assert a.n_global_atoms == b.n_global_atoms == 4


def test_variances_downweight_noisy_silos():
    """Clean silos and a few very noisy copies: weighting by precision recovers the truth better."""
    rng = np.random.default_rng(5)
    truth = rng.normal(0, 20, size=(5, 4))
    silos, tau = [], []
    for j in range(12):
        sd = 3.0 if j % 3 == 0 else 0.1
        silos.append(truth + rng.normal(0, sd, truth.shape))
        tau.append(np.full(len(truth), sd**2))
    plain = match(silos, random_state=0)
    aware = match(silos, local_variances=tau, random_state=0)
    assert hausdorff(aware.global_atoms, truth) < 0.5 * hausdorff(plain.global_atoms, truth)


BAD = [
    ([np.ones(2)], "local_variances has 1 entries but there are 2 silos"),
    ([np.ones(2), np.ones(3)], r"silo 1: local_variances has shape \(3,\)"),
    ([np.ones(2), np.array([1.0, -1.0])], "silo 1: local_variances of local atom 1 is -1.0"),
    ([np.ones(2), np.array([1.0, np.nan])], "silo 1: local_variances of local atom 1 is nan"),
    (np.ones((2, 2)), "single array"),
]


@pytest.mark.parametrize("variances,message", BAD, ids=[m[:25] for _, m in BAD])
def test_bad_local_variances(variances, message):
    with pytest.raises(ValueError, match=message):
        match([np.ones((2, 3)), np.zeros((2, 3))], local_variances=variances)


# ------------------------------------------------------------------ the experiment
SMOKE = ["experiment=uncertainty", "profile=quick", "trials=1", "data.L=6", "data.D=3", "data.J=4",
         "data.M_clean=60", "data.M_noisy=20", "grid.noise_noisy=[2.0]", "model.n_init=1",
         "fusion.n_iter=2", "quiet=true"]


def test_experiment_config_composes():
    from conftest import compose

    for profile in ("quick", "paper"):
        cfg = compose(["experiment=uncertainty", f"profile={profile}"])
        assert cfg.name == "uncertainty" and set(cfg.methods) == {
            "spahm_plain", "spahm_uncertainty", "oracle", "spahm_true"}
        assert cfg.model.init == "maximin"  # the local k-means that finds small clusters
    # the atoms' settings are the simulated experiment's, written once
    simulated = compose(["experiment=simulated", "profile=paper"])
    full = compose(["experiment=uncertainty", "profile=paper"])
    for key in ("L", "D", "mu0", "sigma0", "popularity_a", "popularity_b", "dirichlet_alpha"):
        assert full.data[key] == simulated.data[key]


def test_experiment_smoke(tmp_path):
    from conftest import compose
    from experiments import uncertainty
    from experiments._runner import ConfigError, load_results, run_experiment

    df = run_experiment(compose(SMOKE + [f"output_dir={tmp_path}"]), uncertainty)
    assert set(df.method) >= {"spahm_plain", "spahm_uncertainty", "oracle", "spahm_true"}
    assert (tmp_path / "uncertainty_vs_plain.png").stat().st_size > 1000
    text = uncertainty.report(load_results(tmp_path))
    assert "SPAHM (uncertainty-aware)" in text and "oracle" in text
    bad = compose(["experiment=uncertainty", "data.noisy_fraction=1.5",
                   f"output_dir={tmp_path / 'bad'}"])
    with pytest.raises(ConfigError, match="data.noisy_fraction"):
        run_experiment(bad, uncertainty)


def test_sampling_keeps_the_simulated_atoms():
    """The experiment draws its atoms with simulated.sample_atoms, unchanged."""
    from conftest import compose
    from experiments import uncertainty
    from experiments.simulated import sample_atoms

    cfg = compose(["experiment=uncertainty", "profile=quick"])
    problem, data, labels, noisy = uncertainty.sample_silos(np.random.default_rng(4), cfg, 3.0)
    d = cfg.data
    again = sample_atoms(np.random.default_rng(4), d.J, d.sigma_local, d)
    np.testing.assert_array_equal(problem["truth"], again["truth"])
    assert noisy.sum() == round(d.noisy_fraction * d.J)
    assert {len(x) for x, n in zip(data, noisy) if n} == {d.M_noisy}
    assert all(len(z) == len(x) and z.max() < len(a)
               for x, z, a in zip(data, labels, problem["local_atoms"]))


def test_oracle_gets_true_label_means_with_their_true_variances():
    from conftest import compose
    from experiments import uncertainty
    from experiments._runner import Trial

    cfg = compose(SMOKE)
    t = uncertainty._Trial(cfg, {"noise_noisy": 2.0}, Trial(0, 0))
    atoms, variances = t.oracle_locals()
    for x, z, noisy, a, v in zip(t.data, t.labels, t.noisy, atoms, variances):
        kept = np.unique(z)
        np.testing.assert_allclose(a, [x[z == k].mean(axis=0) for k in kept])
        sd = 2.0 if noisy else cfg.data.noise_clean
        np.testing.assert_allclose(v[:, 0], [sd**2 / (z == k).sum() for k in kept])


def test_atoms_without_data_are_counted():
    """The report's floor: global atoms of which no silo holds a point cannot be found."""
    from conftest import compose
    from experiments import uncertainty
    from experiments._runner import Trial

    rows = uncertainty.trial(compose(SMOKE), {"noise_noisy": 2.0}, Trial(0, 0))
    value = {(r["method"], r["metric"]): r["value"] for r in rows}
    assert 1 <= value[("truth", "n_atoms_with_data")] <= value[("truth", "n_atoms")]

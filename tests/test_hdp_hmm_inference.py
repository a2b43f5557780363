"""Sticky HDP-HMM inference beyond the Gibbs conditionals: the hyperparameter updates of
Fox et al. (2011) against exact posteriors, the adaptive truncation, the stopping rule,
missing frames and scikit-learn's parameter validation."""
import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import gammaln
from sklearn.base import clone

from spahm.metrics import ari
from spahm.models._hdp import resample_concentration, resample_hyperparameters
from spahm.models.hdp_hmm import StickyHDPHMM
from tests.test_hdp_hmm import _planted


def _exact_concentration_posterior(customers, tables, shape, rate):
    """Mean and sd of p(c | n, m) ∝ Gamma(c; shape, rate) c^m prod_j Gamma(c) / Gamma(c + n_j),
    by quadrature."""
    customers = np.asarray(customers, dtype=float)

    def log_unnorm(c):
        return ((shape - 1 + tables) * np.log(c) - rate * c
                + np.sum(gammaln(c) - gammaln(c + customers)))

    grid = np.linspace(1e-6, 200, 400001)
    logs = np.array([log_unnorm(c) for c in grid[::100]])
    top = logs.max()
    dens = lambda c: np.exp(log_unnorm(c) - top)  # noqa: E731
    z = integrate.quad(dens, 1e-9, np.inf, limit=400)[0]
    mean = integrate.quad(lambda c: c * dens(c), 1e-9, np.inf, limit=400)[0] / z
    second = integrate.quad(lambda c: c * c * dens(c), 1e-9, np.inf, limit=400)[0] / z
    return mean, np.sqrt(second - mean ** 2)


@pytest.mark.parametrize("customers, tables, prior", [
    ([12, 5, 30], 9, (1.0, 0.01)),       # three restaurants (alpha + kappa over rows)
    ([40], 4, (1.0, 0.01)),              # one restaurant (gamma over states)
    ([3, 0, 7, 1], 6, (2.0, 1.0)),       # an empty restaurant is ignored
])
def test_concentration_update_leaves_the_exact_posterior_invariant(customers, tables, prior):
    """Iterated with the counts held fixed, the auxiliary-variable update is a Markov chain
    whose draws have the exact posterior's mean and sd (computed by quadrature)."""
    rng = np.random.default_rng(0)
    c, draws = 1.0, []
    for _ in range(40000):
        c = resample_concentration(rng, c, customers, tables, *prior)
        draws.append(c)
    draws = np.array(draws[1000:])
    mean, sd = _exact_concentration_posterior(customers, tables, *prior)
    # Monte Carlo error of a mean of ~39000 correlated draws: well under 3%
    assert draws.mean() == pytest.approx(mean, rel=0.03)
    assert draws.std() == pytest.approx(sd, rel=0.05)


def test_rho_update_is_its_beta_posterior_and_hyperparameters_split_alpha_kappa():
    """rho | w, m ~ Beta(c + sum w, d + m - sum w); alpha = (1 - rho)(alpha + kappa)."""
    rng = np.random.default_rng(1)
    counts = np.array([[20, 2], [1, 30]])
    tables = np.array([[5, 1], [1, 6]])
    overrides = np.array([3, 4])
    tables_bar = np.vstack([tables - np.diag(overrides), [[1, 0]]])
    priors = {"alpha_kappa": (1.0, 0.01), "rho": (10.0, 1.0), "gamma": (1.0, 0.01)}
    draws = np.array([resample_hyperparameters(rng, (0.5, 10.0, 5.0), counts, tables,
                                               overrides, tables_bar, priors)
                      for _ in range(20000)])
    rho = draws[:, 1] / (draws[:, 0] + draws[:, 1])
    exact = stats.beta(10.0 + 7, 1.0 + 13 - 7)
    assert rho.mean() == pytest.approx(exact.mean(), rel=0.01)
    assert rho.std() == pytest.approx(exact.std(), rel=0.05)
    assert np.all(draws > 0)
    # one update from a fixed start is not the posterior, but gamma's draws must respond to
    # the number of states with tables (2 here): far below the prior mean of 100
    assert draws[:, 2].mean() < 20


def test_resampled_hyperparameters_are_stored_and_vary():
    seqs, labels, _ = _planted(3, K=3, T=100)
    model = StickyHDPHMM(n_states=10, n_iter=30, n_restarts=2, resample_hyperparameters=True,
                         random_state=0).fit(seqs)
    assert model.hyper_trace_.shape == (2, 30, 3)
    assert np.unique(model.hyper_trace_[:, :, 0]).size > 10  # resampled every sweep
    assert model.alpha_ > 0 and model.kappa_ > 0 and model.gamma_ > 0
    assert model.alpha_ != 0.5 and model.kappa_ != 10.0
    fixed = StickyHDPHMM(n_states=10, n_iter=10, n_restarts=1, random_state=0).fit(seqs)
    assert (fixed.alpha_, fixed.kappa_, fixed.gamma_) == (0.5, 10.0, 5.0)
    assert np.all(fixed.hyper_trace_ == [0.5, 10.0, 5.0])
    assert ari(np.concatenate(model.state_sequences_), np.concatenate(labels)) > 0.95


@pytest.mark.parametrize("truth, start", [(3, 6), (5, 2)])
def test_adaptive_truncation_finds_the_segmentation_of_a_large_fixed_truncation(truth, start):
    """Working on the used states plus 3 spare ones (of 40) gives the same segmentation on
    planted data as all 40 states, while the states worked on stay far below 40."""
    seqs, labels, _ = _planted(truth, K=truth, T=120)
    common = dict(n_states=40, n_iter=40, n_restarts=2, n_init_states=start, random_state=0)
    full = StickyHDPHMM(**common).fit(seqs)
    adaptive = StickyHDPHMM(**common, n_spare_states=3).fit(seqs)
    z_full, z_adapt = (np.concatenate(m.state_sequences_) for m in (full, adaptive))
    assert adaptive.n_states_ == full.n_states_ == truth
    assert ari(z_adapt, z_full) > 0.98
    assert ari(z_adapt, np.concatenate(labels)) > 0.95
    assert np.all(full.n_active_trace_ == 40)
    assert adaptive.n_active_trace_.max() <= max(start, truth) + 2 + 3
    assert adaptive.n_active_trace_[-1] == truth + 3


def test_stopping_rule_stops_when_the_log_joint_settles_and_not_before():
    seqs, labels, _ = _planted(3, K=3, T=100)
    common = dict(n_states=10, n_iter=400, n_burnin=10, n_restarts=2, random_state=0)
    stopped = StickyHDPHMM(**common, tol=0.01, patience=15).fit(seqs)
    assert stopped.n_iter_ < 400
    assert stopped.log_joint_trace_.shape == (2, stopped.n_iter_)
    # the rule: no improvement of the best log joint by tol per frame in the last 15 sweeps
    n = sum(len(x) for x in seqs)
    best = np.maximum.accumulate(stopped.log_joint_trace_[:, 10:].max(axis=0))
    assert best[-1] - best[-16] <= 0.01 * n
    assert stopped.n_iter_ >= 10 + 15
    assert ari(np.concatenate(stopped.state_sequences_), np.concatenate(labels)) > 0.95
    never = StickyHDPHMM(**{**common, "n_iter": 60}).fit(seqs)
    assert never.n_iter_ == 60


def test_missing_frames_are_imputed_not_counted():
    """NaN rows are missing: states are sampled for them, no emission statistic counts them,
    and hiding a block does not change the segmentation of the other frames much."""
    seqs, labels, _ = _planted(3, K=3, T=120)
    holed = [x.copy() for x in seqs]
    holed[0][40:55] = np.nan
    model = StickyHDPHMM(n_states=10, n_iter=30, n_restarts=2, random_state=0).fit(holed)
    z = model.state_sequences_[0]
    assert np.all(z >= 0) and model.state_counts_.sum() == sum(len(x) for x in seqs) - 15
    observed = np.concatenate([np.delete(model.state_sequences_[0], range(40, 55))]
                              + model.state_sequences_[1:])
    truth = np.concatenate([np.delete(labels[0], range(40, 55))] + labels[1:])
    assert ari(observed, truth) > 0.95
    with pytest.raises(ValueError, match="whole row of NaN"):
        StickyHDPHMM().fit([np.array([[0.0, np.nan], [1.0, 1.0], [2.0, 2.0]])])


@pytest.mark.parametrize("kwargs, name", [
    ({"gamma": "a"}, "gamma"),
    ({"n_states": 2.5}, "n_states"),
    ({"split_merge": "yes"}, "split_merge"),
    ({"random_state": "seed"}, "random_state"),
    ({"n_spare_states": 0}, "n_spare_states"),
    ({"tol": -1.0}, "tol"),
    ({"rho_prior": (1.0, -1.0)}, "rho_prior"),
    ({"gamma_prior": 3.0}, "gamma_prior"),
])
def test_wrong_types_and_ranges_are_value_errors_naming_the_parameter(kwargs, name):
    seqs, _, _ = _planted(2, T=20, n_seq=1)
    with pytest.raises(ValueError, match=name):
        StickyHDPHMM(**kwargs).fit(seqs)


def test_keyword_only_parameters_and_random_states_as_scikit_learn_accepts():
    with pytest.raises(TypeError):
        StickyHDPHMM(10)
    seqs, _, _ = _planted(2, T=30, n_seq=1)
    params = dict(n_states=5, n_iter=4, n_restarts=1)
    a = StickyHDPHMM(**params, random_state=3).fit(seqs)
    b = clone(a).fit(seqs)
    np.testing.assert_array_equal(a.state_sequences_[0], b.state_sequences_[0])
    rs = StickyHDPHMM(**params, random_state=np.random.RandomState(0)).fit(seqs)
    gen = StickyHDPHMM(**params, random_state=np.random.default_rng(0)).fit(seqs)
    assert rs.n_states_ >= 1 and gen.n_states_ >= 1


def test_merge_gains_and_log_joint_on_the_used_states_equal_the_full_ones():
    """Restricting the collapsed terms to the states holding frames (with the sum of all
    weights) changes nothing: the cost of merges and of the log joint follows the used
    states, not the truncation."""
    from spahm.models._hdp import merge_gains, transition_log_marginal
    from spahm.models._niw import sufficient_statistics
    from spahm.models.hdp_hmm import _compact, emission_prior

    rng = np.random.default_rng(4)
    K, N = 12, 200
    X = rng.normal(size=(N, 2))
    z = rng.choice([0, 3, 4, 9], size=N)
    starts, inside = np.array([0, 120]), np.ones(N - 1, dtype=bool)
    inside[119] = False
    from spahm.models._hdp import transition_counts
    summary = (*sufficient_statistics(X, z, K), transition_counts(z, starts, inside, K))
    log_beta = np.log(rng.dirichlet(np.ones(K)))
    prior = emission_prior(X)
    keep, small, beta, beta_sum = _compact(summary, log_beta)
    assert keep.tolist() == [0, 3, 4, 9]
    i, j, full = merge_gains(*summary[:3], summary[3], np.exp(log_beta), prior, 0.7, 4.0)
    si, sj, part = merge_gains(*small[:3], small[3], beta, prior, 0.7, 4.0, beta_sum=beta_sum)
    np.testing.assert_array_equal(keep[si], i)
    np.testing.assert_array_equal(keep[sj], j)
    np.testing.assert_allclose(part, full, rtol=1e-10, atol=1e-8)
    whole = transition_log_marginal(summary[3], np.exp(log_beta), 0.7, 4.0).sum()
    assert transition_log_marginal(small[3], beta, 0.7, 4.0, beta_sum).sum() == pytest.approx(
        whole, rel=1e-12)

"""The formulas of spahm.core against slow loops written straight from docs/method.md
('The cost', 'The algorithm')."""
import itertools
import math

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.stats import multivariate_normal

from spahm import core


# -------------------------------------------------------------- slow references (docs/method.md)
def slow_match(v, S, m, mu0, s0, s, J, cap):
    total = 0.0
    for d in range(len(v)):
        a = s0[d] / s[d]
        total += (a * (v[d] + S[d]) ** 2 + 2 * mu0[d] * (v[d] + S[d])) / ((m + 1) * s0[d] + s[d])
        total -= (a * S[d] ** 2 + 2 * mu0[d] * S[d]) / (m * s0[d] + s[d])
        total += math.log(m * s0[d] + s[d]) - math.log((m + 1) * s0[d] + s[d])
        total += m * mu0[d] ** 2 / (m * s0[d] + s[d]) - (m + 1) * mu0[d] ** 2 / ((m + 1) * s0[d] + s[d])
    mc = min(m, cap)
    return total + 2 * math.log(mc / (J - mc))


def slow_new(v, k, mu0, s0, s, gamma0, J):
    total = 0.0
    for d in range(len(v)):
        a = s0[d] / s[d]
        total += (a * v[d] ** 2 + 2 * mu0[d] * v[d] - mu0[d] ** 2) / (s0[d] + s[d])
        total += math.log(s[d]) - math.log(s0[d] + s[d])
    return total + 2 * math.log(gamma0 / J) - 2 * math.log(k)


def _random_state(seed, D=3, L=4, Lj=3):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 6, size=L).astype(float)
    sums = rng.normal(0, 3, size=(L, D)) * counts[:, None]
    atoms = rng.normal(0, 3, size=(Lj, D))
    mu0 = rng.normal(0, 1, size=D)
    s0 = rng.uniform(0.5, 4, size=D)
    s = rng.uniform(0.1, 2, size=D)
    return atoms, sums, counts, mu0, s0, s


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("cap", [2, 10])
def test_cost_matrix_equals_method_formulas(seed, cap):
    atoms, sums, counts, mu0, s0, s = _random_state(seed)
    J, gamma0 = 8, 1.7
    cost = core.cost_matrix(atoms, sums, counts, mu0, s0, s, gamma0, J, popularity_cap=cap)
    L, Lj = len(counts), len(atoms)
    assert cost.shape == (Lj, L + Lj)
    for l in range(Lj):
        for i in range(L):
            expected = slow_match(atoms[l], sums[i], counts[i], mu0, s0, s, J, cap)
            assert cost[l, i] == pytest.approx(expected, rel=1e-10, abs=1e-9)
        for k in range(1, Lj + 1):
            expected = slow_new(atoms[l], k, mu0, s0, s, gamma0, J)
            assert cost[l, L + k - 1] == pytest.approx(expected, rel=1e-10, abs=1e-9)


def test_posterior_means_formula():
    _, sums, counts, mu0, s0, s = _random_state(1)
    got = core.posterior_means(sums, counts, mu0, s0, s)
    for i in range(len(counts)):
        for d in range(sums.shape[1]):
            expected = (mu0[d] * s[d] + sums[i, d] * s0[d]) / (counts[i] * s0[d] + s[d])
            assert got[i, d] == pytest.approx(expected)


def test_posterior_mean_is_the_conjugate_posterior():
    """One dimension, three atoms: the closed form equals the textbook precision-weighted mean."""
    x = np.array([1.0, 2.0, 4.5])
    mu0, s0, s = 0.5, 2.0, 0.3
    precision = 1 / s0 + len(x) / s
    textbook = (mu0 / s0 + x.sum() / s) / precision
    got = core.posterior_means(np.array([[x.sum()]]), np.array([3.0]), np.array([mu0]),
                               np.array([s0]), np.array([s]))
    assert got[0, 0] == pytest.approx(textbook)


def _groups(seed=3, L=5, D=4):
    rng = np.random.default_rng(seed)
    groups = [rng.normal(rng.normal(0, 5, D), 1.0, size=(rng.integers(1, 5), D)) for _ in range(L)]
    sums = np.array([g.sum(0) for g in groups])
    sumsq = np.array([(g**2).sum(0) for g in groups])
    counts = np.array([len(g) for g in groups], dtype=float)
    return groups, sums, sumsq, counts


def test_hyperparameter_update_matches_method_text():
    groups, sums, sumsq, counts = _groups()
    D = sums.shape[1]
    mu0, s0, s = core.update_hyperparameters(sums, sumsq, counts, prior_dof=0.0)
    means = np.array([g.mean(0) for g in groups])
    # mu0: mean over global atoms of their means (pooled over dimensions)
    assert mu0 == pytest.approx(np.full(D, means.mean()))
    # sigma^2: pooled within-atom variance
    within = sum(((g - g.mean(0)) ** 2).sum() for g in groups if len(g) > 1)
    dof = sum(len(g) - 1 for g in groups if len(g) > 1) * D
    assert s == pytest.approx(np.full(D, within / dof))
    # sigma0^2: per dimension, variance of the global means minus sigma^2 times the mean of
    # 1/m (floored), then pooled
    var_means = ((means - means.mean()) ** 2).sum(0) / (len(groups) - 1)
    expected_s0 = np.maximum(var_means - within / dof * np.mean(1 / counts), core.VARIANCE_FLOOR)
    assert s0 == pytest.approx(np.full(D, expected_s0.mean()))
    # the default shrinks sigma^2 by SIGMA_PRIOR_DOF pseudo degrees of freedom per dimension
    shrunk = core.update_hyperparameters(sums, sumsq, counts).s
    n_single = np.count_nonzero(counts == 1)
    prior = core.SIGMA_PRIOR_DOF + core.SINGLETON_DOF * n_single
    assert shrunk == pytest.approx(np.full(D, within / (dof + prior * D)))


def test_hyperparameter_update_returns_in_call_order():
    _, sums, sumsq, counts = _groups()
    hyper = core.update_hyperparameters(sums, sumsq, counts)
    assert hyper._fields == ("mu0", "s0", "s")
    assert hyper.s0 is hyper[1] and hyper.s is hyper[2]


def test_one_spurious_pair_cannot_collapse_the_estimates():
    """250 unmatched atoms and one pair matched by mistake, far apart. The plain
    moment estimator sets sigma^2 to the pair's spread and sigma0^2 to the floor (the next pass
    then merges wholesale); the shrunk estimate keeps sigma0^2 near the atoms' spread."""
    rng = np.random.default_rng(0)
    D = 8
    atoms = rng.normal(0.0, 1.0, size=(250, D))
    pair = np.vstack([rng.normal(0, 1, D) - 2.0, rng.normal(0, 1, D) + 2.0])  # 4 sd apart
    sums = np.vstack([atoms, pair.sum(0)])
    sumsq = np.vstack([atoms**2, (pair**2).sum(0)])
    counts = np.r_[np.ones(250), 2.0]
    plain = core.update_hyperparameters(sums, sumsq, counts, prior_dof=0.0)
    assert plain.s0[0] < 0.05  # the collapse this guards against
    hyper = core.update_hyperparameters(sums, sumsq, counts)
    assert np.all(hyper.s0 > 0.5) and np.all(hyper.s < 2.5)
    per_dim = core.update_hyperparameters(sums, sumsq, counts, per_dimension=(True,) * 3)
    assert np.all(per_dim.s0 > 0.2)


def test_hyperparameter_update_per_dimension():
    groups, sums, sumsq, counts = _groups(seed=4)
    mu0, s0, s = core.update_hyperparameters(sums, sumsq, counts, per_dimension=(True, True, True),
                                             prior_dof=0.0)
    means = np.array([g.mean(0) for g in groups])
    assert mu0 == pytest.approx(means.mean(0))
    within = sum(((g - g.mean(0)) ** 2).sum(0) for g in groups if len(g) > 1)
    dof = sum(len(g) - 1 for g in groups if len(g) > 1)
    assert s == pytest.approx(within / dof)


def test_variance_floor_guards_degenerate_spread():
    """Identical atoms everywhere: every variance estimate is floored, never zero or negative."""
    sums = np.array([[2.0, 2.0], [2.0, 2.0]]) * 3
    sumsq = np.array([[4.0, 4.0], [4.0, 4.0]]) * 3
    mu0, s0, s = core.update_hyperparameters(sums, sumsq, np.array([3.0, 3.0]))
    assert np.all(s >= core.VARIANCE_FLOOR) and np.all(s0 >= core.VARIANCE_FLOOR)
    assert np.all(np.isfinite(mu0))


def test_hyperparameter_update_without_repeated_atoms_keeps_sigma():
    sums = np.array([[1.0], [5.0]])
    mu0, s0, s = core.update_hyperparameters(sums, sums**2, np.array([1.0, 1.0]))
    assert s is None and s0[0] > 0


def test_log_marginal_likelihood_equals_joint_gaussian():
    """Within one global atom and dimension the atoms are jointly N(mu0, s I + s0 11^T)."""
    groups, sums, sumsq, counts = _groups(seed=5, L=3, D=2)
    mu0, s0, s = np.array([0.3, -1.0]), np.array([9.0, 4.0]), np.array([1.5, 0.7])
    expected = 0.0
    for g in groups:
        m = len(g)
        for d in range(g.shape[1]):
            cov = s[d] * np.eye(m) + s0[d] * np.ones((m, m))
            expected += multivariate_normal(np.full(m, mu0[d]), cov).logpdf(g[:, d])
    got = core.log_marginal_likelihood(sums, sumsq, counts, mu0, s0, s)
    assert got == pytest.approx(expected, rel=1e-10)


def test_match_cost_is_twice_the_log_marginal_gain():
    """Cost of matching (without the popularity term) = 2 x change in log marginal likelihood."""
    groups, sums, sumsq, counts = _groups(seed=6, L=1, D=3)
    mu0, s0, s = np.zeros(3), np.full(3, 4.0), np.full(3, 0.5)
    v = np.array([[0.5, -1.0, 2.0]])
    cost = core.cost_matrix(v, sums, counts, mu0, s0, s, 1.0, 10, popularity_cap=10**6)
    before = core.log_marginal_likelihood(sums, sumsq, counts, mu0, s0, s)
    after = core.log_marginal_likelihood(sums + v, sumsq + v**2, counts + 1, mu0, s0, s)
    # the two differ only by terms common to all columns of row l (they cancel in the argmax)
    alone = core.log_marginal_likelihood(v, v**2, np.array([1.0]), mu0, s0, s)
    m = counts[0]
    popularity = 2 * math.log(m / (10 - m))
    new_without_prior = cost[0, 1] - 2 * math.log(1.0 / 10)
    assert (cost[0, 0] - popularity) - new_without_prior == pytest.approx(
        2 * (after - before) - 2 * alone, rel=1e-9)


# ------------------------------------------------------------------ Hungarian vs brute force
def brute_force_best(cost):
    """Maximum total over all one-to-one maps of rows into columns."""
    n_rows, n_cols = cost.shape
    best = -np.inf
    for cols in itertools.permutations(range(n_cols), n_rows):
        best = max(best, cost[np.arange(n_rows), list(cols)].sum())
    return best


@pytest.mark.parametrize("seed", range(6))
def test_assignment_equals_brute_force(seed):
    atoms, sums, counts, mu0, s0, s = _random_state(seed, D=2, L=3, Lj=3)
    cost = core.cost_matrix(atoms, sums, counts, mu0, s0, s, gamma0=2.0, n_silos=6)
    rows, cols = linear_sum_assignment(cost, maximize=True)
    assert cost[rows, cols].sum() == pytest.approx(brute_force_best(cost))


def test_estimator_step_takes_the_brute_force_optimum():
    """One silo matched against a fixed global set: the estimator's choice is the brute-force best."""
    from spahm._matching import GaussianState

    rng = np.random.default_rng(11)
    silos = [rng.normal(0, 2, size=(3, 2)), rng.normal(0, 2, size=(3, 2))]
    state = GaussianState(silos, 1.0, 1.0, 0.0, (False,) * 3, 1.5, popularity_cap=10, max_atoms=None)
    state.solve(0)
    D = np.ones(2)
    cost = core.cost_matrix(silos[1], state.sums[: state.L], state.counts[: state.L], 0 * D, D, D,
                            1.5, 2)
    state.solve(1)
    total = 0.0
    new_k = 0
    for l, g in enumerate(state.z[3:]):
        if g < 3:
            total += cost[l, g]
        else:
            new_k += 1
            total += cost[l, 3 + new_k - 1]
    assert total == pytest.approx(brute_force_best(cost))


def test_popularity_term_caps_the_count():
    assert core.popularity_term(np.array([15.0]), 20, 10)[0] == pytest.approx(2 * math.log(10 / 10))
    assert core.popularity_term(np.array([3.0]), 20, 10)[0] == pytest.approx(2 * math.log(3 / 17))


def test_log_prior_prefers_fewer_atoms_for_small_gamma():
    one = core.log_prior_assignment(np.array([4.0]), 4, gamma0=0.5)
    four = core.log_prior_assignment(np.ones(4), 4, gamma0=0.5)
    assert one > four


@pytest.mark.parametrize("seed", range(3))
def test_count_tables_give_the_same_atom_terms(seed):
    _, sums, counts, mu0, s0, s = _random_state(seed, L=6)
    J, cap = 9, 3
    direct = core.atom_terms(sums, counts, mu0, s0, s, J, cap)
    tabled = core.atom_terms_from_tables(sums, counts, core.count_tables(J, mu0, s0, s, cap),
                                         mu0, s0, s)
    for a, b in zip(direct, tabled):
        np.testing.assert_allclose(np.broadcast_to(a, np.shape(b)), b, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_isotropic_fast_path_equals_the_general_match_costs(seed):
    atoms, sums, counts, mu0, _, _ = _random_state(seed, L=6)
    D = sums.shape[1]
    s0, s = np.full(D, 2.5), np.full(D, 0.4)
    J, cap = 9, 3
    tables = core.count_tables(J, mu0, s0, s, cap)
    w, c = core.isotropic_atom_terms(sums, counts, tables, mu0, s0[0] / s[0])
    fast = core.isotropic_match_costs(atoms, (atoms**2).sum(1), atoms @ mu0, sums, w, c,
                                      s0[0] / s[0])
    A, B, c_general = core.atom_terms(sums, counts, mu0, s0, s, J, cap)
    np.testing.assert_allclose(fast, core.match_costs(atoms, A, B, c_general), rtol=1e-10)


def test_standardisation_is_equivariant_and_overflow_free():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(20, 4))
    centre, scale = core.standardisation(x)
    assert centre == pytest.approx(x.mean()) and scale == pytest.approx(x.std())
    big = core.standardisation(x * 1e300)
    assert big[0] == pytest.approx(centre * 1e300) and big[1] == pytest.approx(scale * 1e300)
    assert core.standardisation(np.full((3, 2), 7.0), fallback_scale=0.5) == (7.0, 0.5)

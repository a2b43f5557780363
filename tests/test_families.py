"""Exponential families: log marginals against slow integrals, generic Gaussian == closed form,
brute-force enumeration of assignments, planted recovery, family-specific validation."""
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from conftest import planted_problem
from spahm import SPAHM, core, families, match
from spahm._matching import FamilyState


def bound(family, atoms):
    return family.bind(np.asarray(atoms, dtype=float))


# ------------------------------------------------------------------ log marginals vs integrals
def test_gaussian_log_marginal_is_the_joint_gaussian_with_own_variances():
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 2.0, size=(4, 2))
    tau = rng.uniform(0, 1.5, size=(4, 2))
    fam = families.Gaussian(sigma=[0.7, 1.2], sigma0=[2.0, 3.0], mu0=[0.5, -1.0]).bind(x, tau)
    got = fam.log_marginal(fam.statistics(x, tau).sum(0), 4.0) + fam.log_base_measure(x, tau)
    expected = sum(
        stats.multivariate_normal(np.full(4, fam.mu[d]),
                                  np.diag(fam.s[d] + tau[:, d]) + fam.s0[d] * np.ones((4, 4)))
        .logpdf(x[:, d]) for d in range(2))
    assert got == pytest.approx(expected, rel=1e-10)


def test_poisson_log_marginal_equals_integral():
    x = np.array([[3.0, 0.0], [5.0, 1.0], [4.0, 2.0]])
    fam = families.PoissonGamma(a=[2.0, 1.5], b=[0.5, 2.0]).bind(x)
    got = fam.log_marginal(x.sum(0), 3.0) + fam.log_base_measure(x)
    expected = 0.0
    for d in range(2):
        f = lambda lam: np.prod(stats.poisson.pmf(x[:, d], lam)) * stats.gamma.pdf(  # noqa: E731
            lam, fam.alpha[d], scale=1 / fam.beta[d])
        expected += math.log(integrate.quad(f, 0, np.inf)[0])
    assert got == pytest.approx(expected, rel=1e-7)


def test_bernoulli_log_marginal_equals_integral():
    x = np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    fam = families.BernoulliBeta(a=[0.5, 2.0, 1.0], b=[0.5, 1.0, 3.0]).bind(x)
    got = fam.log_marginal(x.sum(0), 2.0)
    expected = 0.0
    for d in range(3):
        f = lambda t: np.prod(t ** x[:, d] * (1 - t) ** (1 - x[:, d])) * stats.beta.pdf(  # noqa: E731
            t, fam.alpha[d], fam.beta[d])
        expected += math.log(integrate.quad(f, 0, 1)[0])
    assert got == pytest.approx(expected, rel=1e-7)


def test_multinomial_log_marginal_equals_beta_integral_for_two_categories():
    x = np.array([[0.3, 0.7], [0.45, 0.55], [0.2, 0.8]])
    fam = families.Multinomial(concentration=7.0, alpha=[1.5, 0.8]).bind(x)
    got = fam.log_marginal(x.sum(0), 3.0)
    n = 7.0
    f = lambda t: np.prod(t ** (n * x[:, 0]) * (1 - t) ** (n * x[:, 1])) * stats.beta.pdf(  # noqa: E731
        t, 1.5, 0.8)
    assert got == pytest.approx(math.log(integrate.quad(f, 0, 1)[0]), rel=1e-7)


def test_posterior_means_are_in_the_support():
    x = np.array([[0.1, 0.9, 0.0], [0.2, 0.5, 0.3]])
    fam = families.Multinomial().bind(x)
    mean = fam.posterior_mean(x.sum(0)[None], np.array([2.0]))
    assert mean.sum() == pytest.approx(1.0) and (mean > 0).all()
    b = families.BernoulliBeta().bind(np.ones((2, 3)))
    assert ((b.posterior_mean(np.full((1, 3), 2.0), np.array([2.0])) < 1)).all()


# ------------------------------------------------------------------ generic Gaussian == core
@pytest.mark.parametrize("seed", range(5))
def test_generic_gaussian_costs_equal_closed_form(seed):
    rng = np.random.default_rng(seed)
    D, L, Lj, J, gamma0, cap = 3, 4, 3, 8, 1.7, 10
    counts = rng.integers(1, 6, size=L).astype(float)
    sums = rng.normal(0, 3, size=(L, D)) * counts[:, None]
    atoms = rng.normal(0, 3, size=(Lj, D))
    mu0, sigma0, sigma = rng.normal(0, 1, D), rng.uniform(0.7, 2, D), rng.uniform(0.3, 1.4, D)
    closed = core.cost_matrix(atoms, sums, counts, mu0, sigma0**2, sigma**2, gamma0, J, cap)
    fam = families.Gaussian(sigma, sigma0, mu0).bind(atoms)
    # the sums of sufficient statistics of m atoms of variance s: [S / s, m / s]
    stat_sums = np.hstack([sums / fam.s, counts[:, None] / fam.s])
    generic = families.cost_matrix(fam, atoms, stat_sums, counts, gamma0, J, cap)
    np.testing.assert_allclose(generic, closed, rtol=1e-10, atol=1e-10)


def test_generic_gaussian_fit_equals_fast_path():
    _, silos, _ = planted_problem(seed=3, J=12, L=8, noise=2.0, spread=4.0)
    fast = match(silos, random_state=7)
    generic = match(silos, random_state=7, family=families.Gaussian(1.0, 1.0))
    key = lambda x: x[np.lexsort(x.T[::-1])]  # noqa: E731  (labels of new atoms may differ on ties)
    np.testing.assert_allclose(key(generic.global_atoms), key(fast.global_atoms), atol=1e-8)
    np.testing.assert_allclose(generic.objective, fast.objective, rtol=1e-10)
    assert generic.hyperparameters["sigma"] == pytest.approx(fast.hyperparameters["sigma"])


# ------------------------------------------------------------------ brute-force enumeration
def _tiny(family_name, rng):
    """Two well-separated global atoms and J=3 silos of 2 atoms, one family's support."""
    if family_name == "gaussian":
        truth = np.array([[0.0, 0.0], [6.0, -6.0]])
        return [truth + rng.normal(0, 0.3, truth.shape) for _ in range(3)], families.Gaussian(0.5, 5.0)
    if family_name == "poisson":
        truth = np.array([[1.0, 30.0, 2.0], [25.0, 1.0, 40.0]])
        return [rng.poisson(truth).astype(float) for _ in range(3)], families.PoissonGamma()
    if family_name == "bernoulli":
        truth = np.tile([[1.0, 0.0], [0.0, 1.0]], (1, 5))
        silos = [np.abs(truth - (rng.random(truth.shape) < 0.05)) for _ in range(3)]
        return silos, families.BernoulliBeta()
    truth = np.array([[0.7, 0.2, 0.1], [0.05, 0.15, 0.8]])
    return [np.array([rng.dirichlet(200 * t) for t in truth]) for _ in range(3)], \
        families.Multinomial(concentration=50.0)


def _partitions(silo_of):
    """All groupings of the atoms into global atoms with at most one atom per silo per group."""
    n = len(silo_of)

    def grow(labels, k):
        if len(labels) == n:
            yield list(labels)
            return
        i = len(labels)
        for g in range(k + 1):
            if any(labels[p] == g and silo_of[p] == silo_of[i] for p in range(i)):
                continue
            yield from grow(labels + [g], max(k, g + 1))

    yield from grow([], 0)


def _log_posterior(fam, stats_all, labels, J, gamma0, base=0.0):
    labels = np.asarray(labels)
    K = labels.max() + 1
    sums = np.array([stats_all[labels == g].sum(0) for g in range(K)])
    counts = np.bincount(labels).astype(float)
    return families.objective(fam, sums, counts, gamma0, J, base)


@pytest.mark.parametrize("family_name", ["gaussian", "poisson", "bernoulli", "multinomial"])
def test_fit_finds_the_brute_force_map_on_tiny_cases(family_name):
    rng = np.random.default_rng(1)
    silos, fam = _tiny(family_name, rng)
    atoms = np.vstack(silos)
    b = fam.bind(atoms)
    stats_all = b.statistics(atoms)
    silo_of = np.repeat(np.arange(3), 2)
    base = b.log_base_measure(atoms)
    scores = [(_log_posterior(b, stats_all, lab, 3, 1.0, base), lab) for lab in _partitions(silo_of)]
    best_score, best = max(scores, key=lambda s: s[0])
    result = match(silos, family=fam, random_state=0, optimize_hyperparameters=False, n_iter=3)
    fitted = np.concatenate(result.assignments)
    same_group = lambda lab: {(i, k) for i in range(6) for k in range(6) if lab[i] == lab[k]}  # noqa: E731
    assert same_group(fitted) == same_group(best)
    assert result.objective[-1] == pytest.approx(best_score, rel=1e-9)


@pytest.mark.parametrize("family_name", ["gaussian", "poisson", "bernoulli", "multinomial"])
def test_one_silo_step_is_the_brute_force_best_conditional(family_name):
    """Against fixed other silos, the step maximises 2 x (log marginal + IBP conditional prior)
    over every one-to-one placement of the silo's atoms (existing atoms or new ones)."""
    rng = np.random.default_rng(2)
    silos, fam = _tiny(family_name, rng)
    silos = silos + [silos[0][::-1] + 0.0]  # J = 4
    atoms = np.vstack(silos)
    b = fam.bind(atoms)
    state = FamilyState(silos, None, b, 1.0, popularity_cap=10, max_atoms=None)
    state.initial_pass()
    state.remove(3)
    L, J = state.L, 4
    sums, counts = state.sums[:L].copy(), state.counts[:L].copy()
    mine = state.stats[6:8]
    best = -np.inf
    for placement in itertools.product(range(L + 1), repeat=2):  # L means "a new atom"
        existing = [p for p in placement if p < L]
        if len(set(existing)) < len(existing):
            continue
        score, n_new = 0.0, 0
        for row, p in zip(mine, placement):
            if p < L:
                score += 2 * (b.log_marginal(sums[p] + row, counts[p] + 1)
                              - b.log_marginal(sums[p], counts[p]))
                score += 2 * math.log(counts[p] / (J - counts[p]))
            else:
                n_new += 1
                score += 2 * b.log_marginal(row, 1.0) + 2 * math.log(1.0 / J)
        best = max(best, score - 2 * math.log(math.factorial(n_new)))
    state.solve(3)
    chosen = state.z[6:8]
    score, n_new = 0.0, 0
    for row, g in zip(mine, chosen):
        if g < L:
            score += 2 * (b.log_marginal(sums[g] + row, counts[g] + 1)
                          - b.log_marginal(sums[g], counts[g])) + 2 * math.log(counts[g] / (J - counts[g]))
        else:
            n_new += 1
            score += 2 * b.log_marginal(row, 1.0) + 2 * math.log(1.0 / J)
    assert score - 2 * math.log(math.factorial(n_new)) == pytest.approx(best, rel=1e-10, abs=1e-9)


# ------------------------------------------------------------------ planted recovery per family
def _planted(family_name, seed=0, J=8, L=6):
    rng = np.random.default_rng(seed)
    if family_name == "poisson":
        truth = rng.choice([1.0, 40.0], size=(L, 12))
        make, fam = lambda t: rng.poisson(t).astype(float), "poisson"
    elif family_name == "bernoulli":
        truth = rng.choice([0.03, 0.97], size=(L, 40))
        make, fam = lambda t: (rng.random(t.shape) < t).astype(float), "bernoulli"
    elif family_name == "multinomial":
        truth = rng.dirichlet(np.full(30, 0.2), size=L)
        make, fam = lambda t: np.array([rng.dirichlet(1000 * r + 1e-3) for r in t]), "multinomial"
    else:
        truth = rng.normal(0, 20, size=(L, 5))
        make, fam = lambda t: t + rng.normal(0, 0.5, t.shape), "gaussian"
    silos, labels = [], []
    for _ in range(J):
        idx = rng.permutation(np.flatnonzero(rng.random(L) < 0.7))
        if idx.size == 0:
            idx = np.array([0])
        silos.append(make(truth[idx]))
        labels.append(idx)
    return truth, silos, labels, fam


@pytest.mark.parametrize("family_name", ["gaussian", "poisson", "bernoulli", "multinomial"])
def test_planted_recovery_per_family(family_name):
    truth, silos, labels, fam = _planted(family_name)
    result = match(silos, family=fam, random_state=0)
    used = np.unique(np.concatenate(labels))
    assert result.n_global_atoms == len(used)
    groups = {}
    for a, lab in zip(result.assignments, labels):
        for g, t in zip(a, lab):
            groups.setdefault(int(g), set()).add(int(t))
    assert all(len(t) == 1 for t in groups.values())
    for g, t in groups.items():
        err = np.abs(result.global_atoms[g] - truth[next(iter(t))]).max()
        scale = {"gaussian": 1.0, "poisson": 8.0, "bernoulli": 0.35, "multinomial": 0.05}
        assert err < scale[family_name]


# ------------------------------------------------------------------ selection and validation
def test_family_selection_by_name_and_object():
    assert isinstance(families.get_family("Poisson-Gamma"), families.PoissonGamma)
    assert isinstance(families.get_family("dirichlet"), families.Multinomial)
    fam = families.BernoulliBeta(a=1.0, b=1.0)
    assert families.get_family(fam) is fam
    with pytest.raises(ValueError, match=r"unknown family 'student'.*bernoulli.*gaussian"):
        families.get_family("student")
    with pytest.raises(ValueError, match=r"'family' parameter of SPAHM .*'student'") as error:
        match([np.ones((2, 2))], family="student")
    assert all(f"'{name}'" in str(error.value) for name in families.FAMILIES)
    model = SPAHM(family="poisson")
    assert model.get_params()["family"] == "poisson"


BAD = [
    ("poisson", [np.ones((2, 3)), np.array([[1.0, -2.0, 0.0]])],
     r"silo 1: local atom 0 has a negative count \(-2.0\) in dimension 1"),
    ("bernoulli", [np.array([[0.0, 1.0], [1.0, 1.5]])],
     r"silo 0: local atom 1 has value 1.5 in dimension 1, outside \[0, 1\]"),
    ("multinomial", [np.array([[0.5, 0.5]]), np.array([[0.2, 0.2], [0.5, 0.5]])],
     "silo 1: local atom 0 sums to 0.4, not 1"),
    ("multinomial", [np.array([[1.2, -0.2]])], "silo 0: local atom 0 has a negative probability"),
]


@pytest.mark.parametrize("family,silos,message", BAD, ids=[b[2][:30] for b in BAD])
def test_family_specific_validation(family, silos, message):
    with pytest.raises(ValueError, match=message):
        match(silos, family=family)


def test_local_variances_need_the_gaussian_family():
    with pytest.raises(ValueError, match="Gaussian family only"):
        match([np.ones((2, 2))], family="poisson", local_variances=[np.ones(2)])


def test_bad_family_hyperparameters():
    with pytest.raises(ValueError, match="concentration must be a positive scalar"):
        match([np.full((1, 2), 0.5)], family=families.Multinomial(concentration=-1))
    with pytest.raises(ValueError, match="a must be positive"):
        match([np.ones((1, 2))], family=families.PoissonGamma(a=-1.0, b=1.0))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), family_name=st.sampled_from(["poisson", "bernoulli",
                                                                "multinomial"]),
       data=st.data())
def test_permuting_silos_and_atoms_leaves_fused_set_unchanged(seed, family_name, data):
    _, silos, _, fam = _planted(family_name, seed=seed, J=5, L=4)
    order = data.draw(st.permutations(range(len(silos))))
    shuffled = [silos[j][list(data.draw(st.permutations(range(len(silos[j])))))] for j in order]
    a = match(silos, family=fam, random_state=0, n_iter=3)
    b = match(shuffled, family=fam, random_state=0, n_iter=3)
    key = lambda x: x[np.lexsort(x.T[::-1])]  # noqa: E731
    assert a.n_global_atoms == b.n_global_atoms
    np.testing.assert_allclose(key(a.global_atoms), key(b.global_atoms), rtol=1e-8, atol=1e-8)


def test_estimator_with_a_family_object_clones():
    from sklearn.base import clone

    model = SPAHM(family=families.Multinomial(concentration=30.0), random_state=0)
    copy = clone(model)
    assert copy.get_params()["family"].concentration == 30.0
    _, silos, _, _ = _planted("multinomial", J=3, L=3)
    assert copy.fit(silos).hyperparameters_["concentration"] == 30.0

"""Sticky HDP-HMM (spahm.models.hdp_hmm): each formula against a slow, obviously-correct version,
and the sampler on sequences with planted states."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from spahm.metrics import hamming
from spahm.models.hdp_hmm import (
    StickyHDPHMM,
    backward_sample,
    forward_filter,
    gaussian_log_likelihood,
    map_states,
    niw_posterior,
    sample_log_dirichlet,
    sample_niw,
    sample_table_counts,
    state_atoms,
    sufficient_statistics,
)


def _random_chain(rng, K, T):
    trans = rng.dirichlet(np.ones(K), size=K)
    pi0 = rng.dirichlet(np.ones(K))
    log_lik = rng.normal(0.0, 2.0, size=(T, K))
    return trans, pi0, log_lik


def _path_log_joint(path, log_lik, pi0, trans):
    lp = np.log(pi0[path[0]]) + log_lik[0, path[0]]
    for t in range(1, len(path)):
        lp += np.log(trans[path[t - 1], path[t]]) + log_lik[t, path[t]]
    return lp


def test_gaussian_log_likelihood_matches_scipy():
    rng = np.random.default_rng(0)
    K, D = 3, 4
    X = rng.normal(size=(7, D))
    means = rng.normal(size=(K, D))
    covs = []
    for _ in range(K):
        a = rng.normal(size=(D, D))
        covs.append(a @ a.T + D * np.eye(D))
    prec_chol = np.linalg.cholesky(np.linalg.inv(np.array(covs)))
    got = gaussian_log_likelihood(X, means, prec_chol)
    want = np.column_stack([multivariate_normal(means[k], covs[k]).logpdf(X) for k in range(K)])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_forward_filter_matches_brute_force_enumeration():
    rng = np.random.default_rng(1)
    K, T_long, T_short = 3, 6, 4
    trans, pi0, ll_long = _random_chain(rng, K, T_long)
    ll_short = rng.normal(0.0, 2.0, size=(T_short, K))
    padded = np.zeros((2, T_long, K))
    padded[0] = ll_long
    padded[1, :T_short] = ll_short
    padded[1, T_short:] = 1e6  # beyond the end: must be ignored
    alpha, loglik = forward_filter(padded, np.log(pi0), trans, np.array([T_long, T_short]))
    for s, (ll, T) in enumerate(((ll_long, T_long), (ll_short, T_short))):
        joints = {p: _path_log_joint(p, ll, pi0, trans)
                  for p in itertools.product(range(K), repeat=T)}
        assert loglik[s] == pytest.approx(logsumexp(list(joints.values())), rel=1e-10)
        # filtered marginal at the last step: p(z_T | x_1..T)
        last = np.array([logsumexp([v for p, v in joints.items() if p[-1] == k]) for k in range(K)])
        np.testing.assert_allclose(alpha[s, T - 1], np.exp(last - logsumexp(last)), atol=1e-10)


def test_forward_filter_survives_extreme_likelihoods():
    trans = np.array([[1.0, 0.0], [0.0, 1.0]])  # state 1 unreachable from state 0
    log_lik = np.array([[[0.0, -1e4], [-2e3, 0.0], [-1e3, -5.0]]])
    alpha, loglik = forward_filter(log_lik, np.log([1.0, 1e-320]), trans, np.array([3]))
    assert np.all(np.isfinite(alpha)) and np.isfinite(loglik[0])


def test_backward_sampling_draws_exact_posterior_paths():
    rng = np.random.default_rng(2)
    K, T, n = 2, 4, 40000
    trans, pi0, ll = _random_chain(rng, K, T)
    paths = list(itertools.product(range(K), repeat=T))
    lj = np.array([_path_log_joint(p, ll, pi0, trans) for p in paths])
    exact = np.exp(lj - logsumexp(lj))
    batch = np.broadcast_to(ll, (n, T, K))
    lengths = np.full(n, T)
    alpha, _ = forward_filter(batch, np.log(pi0), trans, lengths)
    z = backward_sample(alpha, trans, lengths, np.random.default_rng(3))
    codes = z @ (K ** np.arange(T - 1, -1, -1))
    freq = np.bincount(codes, minlength=K**T) / n
    np.testing.assert_allclose(freq, exact, atol=0.01)


def test_backward_sampling_respects_lengths():
    rng = np.random.default_rng(4)
    trans, pi0, ll = _random_chain(rng, 3, 5)
    alpha, _ = forward_filter(np.stack([ll, ll]), np.log(pi0), trans, np.array([5, 2]))
    z = backward_sample(alpha, trans, np.array([5, 2]), rng)
    assert np.all(z[0] >= 0) and np.all(z[1, :2] >= 0) and np.all(z[1, 2:] == -1)


def test_table_counts_mean_and_bounds():
    rng = np.random.default_rng(5)
    counts = np.array([[0, 1, 5], [30, 2, 0]])
    conc = np.array([[0.3, 2.0, 0.5], [4.0, 0.01, 1.0]])
    draws = np.array([sample_table_counts(rng, counts, conc) for _ in range(4000)])
    assert np.all(draws <= counts) and np.all(draws[:, counts > 0] >= 1)
    assert np.all(draws[:, counts == 0] == 0)
    expected = np.array([[sum(c / (i + c) for i in range(n)) for n, c in zip(rn, rc)]
                         for rn, rc in zip(counts, conc)])
    np.testing.assert_allclose(draws.mean(axis=0), expected, atol=0.1)


def test_log_dirichlet_normalised_finite_and_unbiased():
    rng = np.random.default_rng(6)
    a = np.array([[1e-3, 1e-3, 50.0], [2.0, 3.0, 5.0]])
    draws = np.array([sample_log_dirichlet(rng, a) for _ in range(4000)])
    assert np.all(np.isfinite(draws))
    np.testing.assert_allclose(logsumexp(draws, axis=-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.exp(draws).mean(axis=0), a / a.sum(axis=1, keepdims=True),
                               atol=0.01)


def test_niw_posterior_matches_textbook_form():
    rng = np.random.default_rng(7)
    D, K, T = 3, 2, 40
    X = rng.normal(size=(T, D)) * 3 + 1
    z = rng.integers(K, size=T)
    m0, n0, nu0, S0 = rng.normal(size=D), 1.5, D + 2.0, np.eye(D) * 2
    m_n, n_n, nu_n, S_n = niw_posterior((m0, n0, nu0, S0), *sufficient_statistics(X, z, K))
    for k in range(K):
        x = X[z == k]
        n, xbar = len(x), x.mean(axis=0)
        scatter = (x - xbar).T @ (x - xbar)
        assert n_n[k] == n0 + n and nu_n[k] == nu0 + n
        np.testing.assert_allclose(m_n[k], (n0 * m0 + n * xbar) / (n0 + n))
        np.testing.assert_allclose(
            S_n[k], S0 + scatter + n0 * n / (n0 + n) * np.outer(xbar - m0, xbar - m0), rtol=1e-10)


def test_sample_niw_moments():
    rng = np.random.default_rng(8)
    D = 2
    m_n = np.array([[1.0, -2.0]])
    S_n = np.array([[[4.0, 1.0], [1.0, 3.0]]])
    nu_n, n_n = np.array([10.0]), np.array([5.0])
    mus, sigmas = [], []
    for _ in range(6000):
        mu, C = sample_niw(rng, m_n, n_n, nu_n, S_n)
        mus.append(mu[0])
        sigmas.append(np.linalg.inv(C[0] @ C[0].T))
    np.testing.assert_allclose(np.mean(mus, axis=0), m_n[0], atol=0.05)
    np.testing.assert_allclose(np.mean(sigmas, axis=0), S_n[0] / (nu_n[0] - D - 1), atol=0.05)


def _planted(seed, K=3, T=150, n_seq=3, sep=6.0):
    rng = np.random.default_rng(seed)
    means = sep * np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.4]])[:K]
    P = np.full((K, K), 0.05 / (K - 1))
    np.fill_diagonal(P, 0.95)
    seqs, labels = [], []
    for _ in range(n_seq):
        z = [rng.integers(K)]
        for _ in range(T - 1):
            z.append(rng.choice(K, p=P[z[-1]]))
        z = np.array(z)
        labels.append(z)
        seqs.append(means[z] + rng.normal(size=(T, 2)))
    return seqs, labels, means


@pytest.mark.parametrize("init", ["kmeans", "random"])
def test_sampler_recovers_planted_states(init):
    seqs, labels, means = _planted(0)
    model = StickyHDPHMM(n_states=10, n_iter=40, n_restarts=2, init=init, n_init_states=6,
                         random_state=0).fit(seqs)
    assert model.n_states_ == 3  # surplus initial states die out
    assert hamming(np.concatenate(model.state_sequences_), np.concatenate(labels)) < 0.02
    atoms = state_atoms(model)
    dist = np.linalg.norm(atoms[:, None] - means[None], axis=2)
    assert np.all(dist.min(axis=1) < 0.5)
    assert [len(z) for z in model.state_sequences_] == [len(x) for x in seqs]
    assert model.log_likelihood_trace_.shape == (2, 40)
    assert model.log_likelihood_ == pytest.approx(model.log_likelihood_trace_[:, 20:].max())
    np.testing.assert_allclose(model.transmat_.sum(axis=1), 1.0)
    assert model.state_counts_.sum() == sum(len(x) for x in seqs)


def test_same_seed_same_result_and_restarts_differ():
    seqs, _, _ = _planted(1, T=60, n_seq=2)
    a = StickyHDPHMM(n_states=6, n_iter=8, n_restarts=2, random_state=3).fit(seqs)
    b = StickyHDPHMM(n_states=6, n_iter=8, n_restarts=2, random_state=3).fit(seqs)
    np.testing.assert_array_equal(a.log_likelihood_trace_, b.log_likelihood_trace_)
    np.testing.assert_array_equal(np.concatenate(a.state_sequences_),
                                  np.concatenate(b.state_sequences_))
    assert not np.array_equal(a.log_likelihood_trace_[0], a.log_likelihood_trace_[1])


def test_map_states():
    out = map_states([np.array([0, 1, 1]), np.array([2])], np.array([5, 3, 5]))
    assert [o.tolist() for o in out] == [[5, 3, 3], [5]]


@pytest.mark.parametrize("kwargs, match", [
    ({"n_states": 1}, "n_states"),
    ({"gamma": 0.0}, "gamma"),
    ({"kappa": -1.0}, "kappa"),
    ({"prior_dof": 1.0}, "prior_dof"),
    ({"n_iter": 5, "n_burnin": 5}, "n_burnin"),
    ({"init": "spectral"}, "init"),
])
def test_bad_hyperparameters_are_named(kwargs, match):
    seqs, _, _ = _planted(2, T=20, n_seq=1)
    with pytest.raises(ValueError, match=match):
        StickyHDPHMM(**kwargs).fit(seqs)


def test_bad_sequences_are_named():
    with pytest.raises(ValueError, match="sequence 1"):
        StickyHDPHMM().fit([np.zeros((5, 2)), np.zeros((5, 3))])
    with pytest.raises(ValueError, match="NaN"):
        StickyHDPHMM().fit([np.full((5, 2), np.nan)])
    with pytest.raises(ValueError, match="empty"):
        StickyHDPHMM().fit([])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), K=st.integers(2, 5), T=st.integers(1, 8))
def test_forward_filter_invariant_to_state_relabelling(seed, K, T):
    """Renaming the states (permuting transitions, initial distribution and likelihoods
    together) leaves the log likelihood unchanged and permutes the filtered distributions."""
    rng = np.random.default_rng(seed)
    trans, pi0, ll = _random_chain(rng, K, T)
    perm = rng.permutation(K)
    a, l1 = forward_filter(ll[None], np.log(pi0), trans, np.array([T]))
    b, l2 = forward_filter(ll[None][:, :, perm], np.log(pi0[perm]), trans[np.ix_(perm, perm)],
                           np.array([T]))
    assert l1[0] == pytest.approx(l2[0], rel=1e-10, abs=1e-10)
    np.testing.assert_allclose(a[:, :, perm], b, atol=1e-12)

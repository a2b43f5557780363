"""Sticky HDP-HMM (spahm.models.hdp_hmm): each formula against a slow, obviously-correct version,
and the sampler on sequences with planted states."""
import itertools
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp
from scipy.stats import invwishart, multivariate_normal

from spahm.metrics import hamming
from spahm.models.hdp_hmm import (
    FusedGaussianHMM,
    HDPHMMAdapter,
    StickyHDPHMM,
    backward_sample,
    emission_prior,
    forward_filter,
    gaussian_log_likelihood,
    map_states,
    merge_gains,
    niw_log_marginal,
    niw_posterior,
    sample_log_dirichlet,
    sample_niw,
    sample_table_counts,
    sufficient_statistics,
    transition_counts,
    transition_log_marginal,
    viterbi,
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
    """Sequences of K planted, well separated Gaussian states with sticky transitions."""
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(K) / K
    means = sep * np.column_stack([np.cos(angles), np.sin(angles)])
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


@pytest.mark.parametrize("truth, start, init", [
    (3, 6, "kmeans"),    # surplus initial states close (merges)
    (3, 8, "random"),
    (5, 2, "kmeans"),    # missing states open (splits and prior draws)
    (5, 1, "random"),
])
def test_sampler_recovers_planted_states(truth, start, init):
    seqs, labels, means = _planted(truth, K=truth, T=120)
    model = StickyHDPHMM(n_states=10, n_iter=40, n_restarts=2, init=init, n_init_states=start,
                         random_state=0).fit(seqs)
    assert model.n_states_ == truth
    assert hamming(np.concatenate(model.state_sequences_), np.concatenate(labels)) < 0.03
    atoms = HDPHMMAdapter().extract(model).atoms
    dist = np.linalg.norm(atoms[:, None] - means[None], axis=2)
    # each atom near a distinct true state (small states' means shrink towards the data mean)
    assert np.all(dist.min(axis=1) < 1.5) and len(set(dist.argmin(axis=1))) == truth
    assert [len(z) for z in model.state_sequences_] == [len(x) for x in seqs]
    assert model.log_likelihood_trace_.shape == model.n_states_trace_.shape == (2, 40)
    assert model.log_joint_ == pytest.approx(model.log_joint_trace_[:, 20:].max())
    np.testing.assert_allclose(model.transmat_.sum(axis=1), 1.0)
    assert model.state_counts_.sum() == sum(len(x) for x in seqs)


def test_emission_prior_is_on_the_data_scale():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(500, 3)) * [1.0, 100.0, 0.01] + [0.0, 5.0, -2.0]
    m0, n0, nu0, S = emission_prior(X, prior_scale=2.0)
    np.testing.assert_allclose(m0, X.mean(axis=0))
    assert nu0 == 5.0 and n0 == 1.0
    np.testing.assert_allclose(S, 2.0 * np.cov(X, rowvar=False), rtol=1e-5)
    # rescaling a feature rescales the prior with it: the fit does not depend on units
    seqs, labels, _ = _planted(4, K=3, T=80, n_seq=2)
    a = StickyHDPHMM(n_states=6, n_iter=15, n_restarts=1, random_state=1).fit(seqs)
    b = StickyHDPHMM(n_states=6, n_iter=15, n_restarts=1, random_state=1).fit(
        [x * [1000.0, 0.001] for x in seqs])
    assert a.n_states_ == b.n_states_
    assert hamming(np.concatenate(a.state_sequences_), np.concatenate(b.state_sequences_)) == 0


def test_niw_log_marginal_is_candidates_formula():
    """log p(x) = log p(x | theta) + log p(theta) - log p(theta | x) for any theta."""
    rng = np.random.default_rng(12)
    D, n = 2, 7
    x = rng.normal(size=(n, D)) + 1.0
    prior = (np.array([0.5, -0.5]), 2.0, D + 3.0, np.array([[2.0, 0.3], [0.3, 1.0]]))
    stats = sufficient_statistics(x, np.zeros(n, dtype=int), 1)
    got = niw_log_marginal(prior, *stats)[0]
    mu, sigma = np.array([0.8, 0.9]), np.array([[1.5, 0.2], [0.2, 0.7]])

    def log_niw(params):
        m, k, nu, S = params
        return (invwishart(df=nu, scale=S).logpdf(sigma)
                + multivariate_normal(m, sigma / k).logpdf(mu))

    post = [v[0] if np.ndim(v) else v for v in niw_posterior(prior, *stats)]
    want = (multivariate_normal(mu, sigma).logpdf(x).sum() + log_niw(prior) - log_niw(post))
    assert got == pytest.approx(want, rel=1e-10)
    assert niw_log_marginal(prior, np.zeros(1), np.zeros((1, D)), np.zeros((1, D, D)))[0] == 0


def test_transition_log_marginal_is_the_polya_urn():
    """The Dirichlet-multinomial of a state sequence equals drawing it from the urn."""
    z = np.array([0, 0, 1, 1, 1, 0, 2, 2])
    starts, inside = np.array([0]), np.ones(7, dtype=bool)
    beta, alpha, kappa = np.array([0.5, 0.3, 0.2]), 1.5, 2.0
    counts = transition_counts(z, starts, inside, 3)
    conc = alpha * beta[None, :] + kappa * np.eye(3)
    seen = np.zeros((3, 3))
    lp = np.log(beta[z[0]])  # first state: urn with concentration alpha * beta, no counts
    for a, b in zip(z[:-1], z[1:]):
        lp += np.log((conc[a, b] + seen[a, b]) / (conc[a].sum() + seen[a].sum()))
        seen[a, b] += 1
    assert transition_log_marginal(counts, beta, alpha, kappa).sum() == pytest.approx(lp)


def test_merge_gains_match_the_collapsed_joint():
    rng = np.random.default_rng(13)
    K, D, N = 6, 3, 200
    X = rng.normal(size=(N, D)) * 3
    z = rng.integers(0, 4, size=N)
    starts, inside = np.array([0, 120]), np.ones(N - 1, dtype=bool)
    inside[119] = False
    prior = emission_prior(X)
    beta, alpha, kappa = rng.dirichlet(np.ones(K)), 0.7, 5.0

    def joint(z, beta):
        c = transition_counts(z, starts, inside, K)
        return (niw_log_marginal(prior, *sufficient_statistics(X, z, K)).sum()
                + transition_log_marginal(c, beta, alpha, kappa).sum())

    i, j, gain = merge_gains(*sufficient_statistics(X, z, K),
                             transition_counts(z, starts, inside, K), beta, prior, alpha, kappa)
    assert len(gain) == 6  # pairs of the 4 used states
    for a, b, g in zip(i, j, gain):
        merged_beta = beta.copy()
        merged_beta[a] += merged_beta[b]
        merged_beta[b] = 0.0
        assert g == pytest.approx(joint(np.where(z == b, a, z), merged_beta) - joint(z, beta),
                                  rel=1e-9)


def test_filter_and_sampler_take_one_transition_matrix_per_sequence():
    rng = np.random.default_rng(14)
    K, T = 3, 6
    chains = [_random_chain(rng, K, T) for _ in range(2)]
    ll = np.stack([c[2] for c in chains])
    trans = np.stack([c[0] for c in chains])
    log_pi0 = np.log(np.stack([c[1] for c in chains]))
    alpha, loglik = forward_filter(ll, log_pi0, trans, np.array([T, T - 2]))
    for s in range(2):
        a1, l1 = forward_filter(ll[s:s + 1], log_pi0[s], trans[s], np.array([T - 2 * s]))
        assert loglik[s] == pytest.approx(l1[0], rel=1e-12)
        np.testing.assert_allclose(alpha[s, :T - 2 * s], a1[0, :T - 2 * s], atol=1e-12)
    z = backward_sample(alpha, trans, np.array([T, T - 2]), rng)
    assert np.all(z[1, T - 2:] == -1) and np.all(z[:, :T - 2] >= 0)


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
    ({"prior_covariance": "diagonal"}, "prior_covariance"),
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


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), K=st.integers(1, 4), T=st.integers(1, 6),
       zeros=st.booleans())
def test_viterbi_is_the_brute_force_argmax_over_all_paths(seed, K, T, zeros):
    """On small HMMs the Viterbi path has the largest log p(z, x) of all K^T paths (also with
    forbidden transitions, log 0 = -inf)."""
    rng = np.random.default_rng(seed)
    trans, pi0, ll = _random_chain(rng, K, T)
    if zeros and K > 1:
        trans[rng.random((K, K)) < 0.3] = 0.0
        trans[np.arange(K), np.arange(K)] = np.maximum(trans[np.arange(K), np.arange(K)], 0.1)
        trans /= trans.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        path = viterbi(ll, np.log(pi0), np.log(trans))
        scores = {p: _path_log_joint(p, ll, pi0, trans)
                  for p in itertools.product(range(K), repeat=T)}
        got = _path_log_joint(tuple(path), ll, pi0, trans)
    assert path.shape == (T,)
    assert got == pytest.approx(max(scores.values()), rel=1e-12, abs=1e-12)


# ---------------------------------------------------------------------------- fused HMM
def _fused():
    return FusedGaussianHMM(means=[[0.0, 0.0], [6.0, 0.0]],
                            covariances=[np.eye(2), np.eye(2)],
                            transmat=[[0.9, 0.1], [0.2, 0.8]], startprob=[0.5, 0.5]).fit()


def test_fused_hmm_is_a_scikit_learn_estimator():
    from sklearn.base import clone

    hmm = _fused()
    x = np.array([[0.1, 0.0], [0.2, -0.1], [6.1, 0.2], [5.8, 0.0]])
    assert hmm.predict(x).tolist() == [0, 0, 1, 1]
    again = clone(hmm).fit()
    assert again.get_params()["startprob"] == [0.5, 0.5]
    np.testing.assert_array_equal(again.predict(x), hmm.predict(x))
    assert "FusedGaussianHMM(" in repr(hmm)
    restored = pickle.loads(pickle.dumps(hmm))
    assert restored.log_likelihood(x) == pytest.approx(hmm.log_likelihood(x))
    # score_samples is gaussian_log_likelihood, and log_likelihood the forward algorithm
    want = np.column_stack([multivariate_normal(m, np.eye(2)).logpdf(x) for m in hmm.means_])
    np.testing.assert_allclose(hmm.score_samples(x), want, rtol=1e-10)
    paths = itertools.product(range(2), repeat=len(x))
    joint = [np.log(hmm.startprob_[p[0]]) + want[0, p[0]]
             + sum(np.log(hmm.transmat_[a, b]) + want[t + 1, b]
                   for t, (a, b) in enumerate(zip(p[:-1], p[1:]))) for p in paths]
    assert hmm.score(x) == pytest.approx(logsumexp(joint), rel=1e-10)


@pytest.mark.parametrize("X, match", [
    (np.array([[0.0, np.nan], [1.0, 1.0]]), "NaN"),
    (np.array([0.0, 1.0]), "Expected 2D array"),
    (np.zeros((0, 2)), "0 sample"),
    (np.zeros((3, 3)), "3 features"),
    (np.array([[1 + 1j, 0.0]]), "omplex"),
])
def test_fused_hmm_predict_validates_like_scikit_learn(X, match):
    with pytest.raises(ValueError, match=match):
        _fused().predict(X)


def test_fused_hmm_unfitted_and_bad_parameters_are_named():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        FusedGaussianHMM(means=[[0.0]], covariances=[[[1.0]]], transmat=[[1.0]],
                         startprob=[1.0]).predict([[0.0]])
    with pytest.raises(ValueError, match="transmat rows"):
        FusedGaussianHMM(means=[[0.0], [1.0]], covariances=[[[1.0]], [[1.0]]],
                         transmat=[[0.5, 0.6], [0.5, 0.5]], startprob=[0.5, 0.5]).fit()
    with pytest.raises(ValueError, match="covariances must be"):
        FusedGaussianHMM(means=[[0.0], [1.0]], covariances=[[[1.0]]],
                         transmat=np.eye(2), startprob=[0.5, 0.5]).fit()
    with pytest.raises(ValueError, match="fuse_models builds it"):
        FusedGaussianHMM().fit()

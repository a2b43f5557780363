"""Conjugate Normal-inverse-Wishart helpers: posteriors from sufficient statistics, posterior
draws (Bartlett decomposition) and marginal likelihoods with the Gaussian integrated out.

Prior ``(m0, n0, nu0, S0)``: ``Sigma ~ IW(nu0, S0)``, ``mu | Sigma ~ N(m0, Sigma / n0)``.
Used by the sticky HDP-HMM's emissions (:mod:`spahm.models.hdp_hmm`) and by the Gaussian LDA
of the topics experiment (``experiments/topics/gaussian_lda.py``); the formulas are Murphy's
("Conjugate Bayesian analysis of the Gaussian distribution", 2007, section 9).
"""
from __future__ import annotations

import numpy as np
from scipy.special import multigammaln


def niw_posterior(prior, n, sum_x, sum_xx):
    """Normal-inverse-Wishart posterior parameters of every state, from sufficient statistics.

    ``prior`` is ``(m0, n0, nu0, S0)``; ``n`` (K,), ``sum_x`` (K, D), ``sum_xx`` (K, D, D).
    Returns ``(m_n, n_n, nu_n, S_n)`` with leading axis K.
    """
    m0, n0, nu0, S0 = prior
    n_n = n0 + n
    nu_n = nu0 + n
    m_n = (n0 * m0[None, :] + sum_x) / n_n[:, None]
    S_n = (S0[None] + sum_xx + n0 * np.outer(m0, m0)[None]
           - n_n[:, None, None] * m_n[:, :, None] * m_n[:, None, :])
    return m_n, n_n, nu_n, 0.5 * (S_n + np.swapaxes(S_n, 1, 2))



def sample_bartlett(rng, nu, D):
    """Bartlett factors of Wishart draws: lower-triangular ``A`` (K, D, D) with
    ``A_ii^2 ~ chi^2(nu_k - i)`` (``i = 0..D-1``) and ``A_ij ~ N(0, 1)`` below the diagonal,
    so ``L A A^T L^T ~ Wishart(nu_k, L L^T)``. Returns ``(A, diag)``, ``diag`` (K, D) the
    diagonal of ``A``."""
    nu = np.asarray(nu, dtype=float)
    A = np.tril(rng.standard_normal((nu.shape[0], D, D)), k=-1)
    diag = np.sqrt(rng.chisquare(nu[:, None] - np.arange(D)[None, :]))
    A[:, np.arange(D), np.arange(D)] = diag
    return A, diag


def sample_niw(rng, m_n, n_n, nu_n, S_n):
    """Draw ``(mu_k, C_k)`` from NIW posteriors; ``C_k C_k^T = Sigma_k^{-1}`` (Bartlett)."""
    K, D = m_n.shape
    L = np.linalg.cholesky(np.linalg.inv(S_n))  # Wishart scale of the precision
    A, _ = sample_bartlett(rng, nu_n, D)
    C = L @ A
    eps = rng.standard_normal((K, D, 1))
    mu = m_n + np.linalg.solve(np.swapaxes(C, 1, 2), eps)[..., 0] / np.sqrt(n_n)[:, None]
    return mu, C


def sufficient_statistics(X, z, K, XX=None):
    """Counts, sums and sums of outer products of the frames of every state.

    Parameters
    ----------
    X : ndarray (N, D)
    z : int ndarray (N,)
    K : int
    XX : ndarray (N, D * D), optional
        Flattened outer products ``x_t x_t^T`` of the frames, if already computed (the sampler
        computes them once per fit).

    Returns
    -------
    n : ndarray (K,)
    sum_x : ndarray (K, D)
    sum_xx : ndarray (K, D, D)
    """
    N, D = X.shape
    if XX is None:
        XX = (X[:, :, None] * X[:, None, :]).reshape(N, D * D)
    z = np.asarray(z)
    n = np.bincount(z, minlength=K).astype(float)
    order = np.argsort(z, kind="stable")
    used = np.flatnonzero(n)
    first = np.concatenate([[0], np.cumsum(n[used])[:-1]]).astype(np.int64)
    sum_x, sum_xx = np.zeros((K, D)), np.zeros((K, D * D))
    # frames sorted by state, summed per run of one state
    sum_x[used] = np.add.reduceat(X[order], first, axis=0)
    sum_xx[used] = np.add.reduceat(XX[order], first, axis=0)
    return n, sum_x, sum_xx.reshape(K, D, D)



def niw_log_marginal_from_logdet(n, D, n0, nu0, logdet0, logdet_n):
    """``log p(x_1..n)`` of ``n`` frames with the Gaussian integrated out over the NIW prior,
    from the log determinants of the prior scale ``S0`` and the posterior scale ``S_n``
    (Murphy 2007, eq. 266); callers that keep ``log det S_n`` up to date use this directly."""
    n = np.asarray(n, dtype=float)
    n_n = n0 + n
    nu_n = nu0 + n
    return (-0.5 * n * D * np.log(np.pi) + multigammaln(0.5 * nu_n, D)
            - multigammaln(0.5 * nu0, D) + 0.5 * nu0 * logdet0 - 0.5 * nu_n * logdet_n
            + 0.5 * D * (np.log(n0) - np.log(n_n)))


def niw_log_marginal(prior, n, sum_x, sum_xx):
    """``log p(frames of state k)`` with the state's mean and covariance integrated out over
    the Normal-inverse-Wishart prior, for every state (0 for a state without frames).

    ``prior`` is ``(m0, n0, nu0, S0)``; ``n`` (K,), ``sum_x`` (K, D), ``sum_xx`` (K, D, D).
    """
    m0, n0, nu0, S0 = prior
    _, _, _, S_n = niw_posterior(prior, n, sum_x, sum_xx)
    return niw_log_marginal_from_logdet(n, m0.shape[0], n0, nu0, np.linalg.slogdet(S0)[1],
                                        np.linalg.slogdet(S_n)[1])

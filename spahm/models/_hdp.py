"""Pieces of the sticky HDP-HMM's inference that are not about emissions or time steps:
Dirichlet draws in log space, the auxiliary table counts of the Chinese restaurant franchise,
the hyperparameter updates of Fox et al. (2011), transition counts and the collapsed
``log p(z | beta)``, and the gains of merge moves.

The hyperparameter updates (Fox, Sudderth, Jordan & Willsky, "A sticky HDP-HMM with
application to speaker diarization", AoAS 2011, Appendix; the auxiliary-variable scheme of
Escobar & West 1995 and Teh et al. 2006): given the table counts ``m_jk`` of the transition
rows, the override counts ``w_j`` and the customers ``n_j.`` of every row,

- ``alpha + kappa`` (one concentration for all rows) under a Gamma prior, with auxiliary
  ``r_j ~ Beta(alpha + kappa + 1, n_j.)`` and ``s_j ~ Bernoulli(n_j. / (n_j. + alpha + kappa))``;
- ``rho = kappa / (alpha + kappa) ~ Beta(c + sum_j w_j, d + m_.. - sum_j w_j)``;
- ``gamma`` under a Gamma prior, the same scheme with one restaurant whose ``mbar_..``
  customers sit at ``Kbar`` tables (the states with a table).
"""
from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from ._niw import niw_log_marginal

# Dirichlet draws use log-Gamma variates: a Gamma(a) draw with a << 1 underflows to 0 in
# double precision, its log does not. Shapes below this threshold use the boosting identity.
_SMALL_SHAPE = 1.0
# Smallest value used where a log of zero would appear (unused states' weights).
_TINY = 1e-300


def sample_log_dirichlet(rng, concentration):
    """Log of Dirichlet draws, one per row of ``concentration`` (any shape, last axis = simplex).

    Uses ``log G = log G' + log(U) / a`` with ``G' ~ Gamma(a + 1)`` for small shapes ``a``, so
    components with tiny concentration get a very negative log, never ``-inf``.
    """
    a = np.asarray(concentration, dtype=float)
    small = a < _SMALL_SHAPE
    log_g = np.log(rng.gamma(np.where(small, a + 1.0, a)))
    log_u = np.log(rng.random(a.shape))
    log_g = np.where(small, log_g + log_u / a, log_g)
    top = log_g.max(axis=-1, keepdims=True)
    return log_g - top - np.log(np.exp(log_g - top).sum(axis=-1, keepdims=True))


def sample_table_counts(rng, counts, concentration):
    """Auxiliary table counts of the Chinese restaurant franchise, vectorised over cells.

    ``m = sum_{i=0}^{n-1} Bernoulli(c / (i + c))`` for every cell with ``n`` customers and
    concentration ``c`` (the number of tables ``n`` customers occupy in a CRP with parameter c).
    """
    n = np.asarray(counts, dtype=np.int64).ravel()
    c = np.asarray(concentration, dtype=float).ravel()
    cell = np.repeat(np.arange(n.size), n)
    seat = np.arange(cell.size) - np.repeat(np.cumsum(n) - n, n)
    opens = rng.random(cell.size) < c[cell] / (seat + c[cell])
    tables = np.bincount(cell, weights=opens, minlength=n.size).astype(np.int64)
    return tables.reshape(np.shape(counts))


def transition_counts(z, starts, inside, K):
    """Transition counts between states inside sequences, rows ``0..K-1``, and the first
    states of the sequences, row ``K``: an int array (K + 1, K)."""
    counts = np.zeros((K + 1, K), dtype=np.int64)
    prev, nxt = z[:-1][inside], z[1:][inside]
    counts[:K] = np.bincount(prev * K + nxt, minlength=K * K).reshape(K, K)
    counts[K] = np.bincount(z[starts], minlength=K)
    return counts



def resample_concentration(rng, value, customers, tables, shape, rate, n_steps=1):
    """Auxiliary-variable Gibbs update of a Dirichlet-process concentration shared by several
    restaurants (Escobar & West 1995; Teh et al. 2006, Appendix A).

    The posterior given restaurant ``j``'s ``n_j`` customers and the total number of tables
    ``m`` under a ``Gamma(shape, rate)`` prior is
    ``p(c | n, m) ∝ Gamma(c; shape, rate) c^m prod_j Gamma(c) / Gamma(c + n_j)``; each step draws
    ``r_j ~ Beta(c + 1, n_j)``, ``s_j ~ Bernoulli(n_j / (n_j + c))``, then
    ``c ~ Gamma(shape + m - sum s_j, rate - sum log r_j)``, which leaves it invariant.

    Parameters
    ----------
    value : float
        Current concentration.
    customers : array-like of int
        Customers per restaurant (restaurants without customers are ignored).
    tables : int
        Tables over all restaurants.
    shape, rate : float
        Gamma prior (rate parametrisation).
    n_steps : int
        Updates in a row (each one a valid Gibbs step).
    """
    n = np.asarray(customers, dtype=float).ravel()
    n = n[n > 0]
    c = float(value)
    for _ in range(n_steps):
        if n.size == 0:
            c = rng.gamma(shape, 1.0 / rate)
            continue
        r = rng.beta(c + 1.0, n)
        s = rng.random(n.size) < n / (n + c)
        c = rng.gamma(shape + tables - s.sum(), 1.0 / (rate - np.log(r).sum()))
    return float(c)


def resample_hyperparameters(rng, hyper, counts, tables, overrides, tables_bar, priors):
    """One update of ``(alpha, kappa, gamma)`` given the auxiliary counts of a sweep.

    Parameters
    ----------
    hyper : (alpha, kappa, gamma)
    counts : int ndarray (K, K)
        Transition counts of the rows ``j`` (the first-state row left out: its concentration
        is ``alpha`` alone, and Fox et al.'s update is for the transition rows).
    tables : int ndarray (K, K)
        Table counts ``m_jk`` of those rows.
    overrides : int ndarray (K,)
        Override counts ``w_j`` (tables of self-transitions owed to ``kappa``).
    tables_bar : int ndarray (K + 1, K)
        Table counts after the overrides, all rows (first-state row included): the top-level
        restaurant's customers.
    priors : dict
        ``alpha_kappa`` (shape, rate), ``rho`` (c, d), ``gamma`` (shape, rate).

    Returns
    -------
    (alpha, kappa, gamma)
    """
    alpha, kappa, gamma = hyper
    m_total = int(tables.sum())
    c = resample_concentration(rng, alpha + kappa, counts.sum(axis=1), m_total,
                               *priors["alpha_kappa"])
    w_total = int(np.sum(overrides))
    rho = rng.beta(priors["rho"][0] + w_total, priors["rho"][1] + m_total - w_total)
    per_state = tables_bar.sum(axis=0)
    gamma = resample_concentration(rng, gamma, [per_state.sum()],
                                   int(np.count_nonzero(per_state)), *priors["gamma"])
    return (1.0 - rho) * c, rho * c, gamma


def _log_rising(a, n):
    """``log Gamma(a + n) - log Gamma(a)``, 0 where ``n == 0`` (also for ``a`` = 0)."""
    a = np.maximum(a, _TINY)
    return np.where(n > 0, gammaln(a + n) - gammaln(a), 0.0)


def transition_log_marginal(counts, beta, alpha, kappa, beta_sum=None):
    """``log p(z | beta)`` with the transition rows and the initial distribution integrated
    out: a Dirichlet-multinomial per row, row ``j < K`` with concentration
    ``alpha * beta + kappa * e_j``, the first-state row ``K`` with ``alpha * beta``.
    Returns one value per row, (K + 1,).

    ``counts`` and ``beta`` may be restricted to a subset of the states that holds every
    transition (the others' rows and columns are zero and add nothing); ``beta_sum`` is then
    the sum of the whole ``beta`` (default: ``beta.sum()``)."""
    K = beta.shape[0]
    beta_sum = beta.sum() if beta_sum is None else beta_sum
    conc = np.vstack([alpha * beta[None, :] + kappa * np.eye(K), alpha * beta[None, :]])
    total = np.append(np.full(K, alpha * beta_sum + kappa), alpha * beta_sum)
    return (gammaln(total) - gammaln(total + counts.sum(axis=1))
            + _log_rising(conc, counts).sum(axis=1))


def merge_gains(n, sum_x, sum_xx, counts, beta, prior, alpha, kappa, pairs=None,
                beta_sum=None):
    """Change of the collapsed ``log p(x, z | beta)`` if state ``j`` were merged into ``i``,
    for every pair of used states ``i < j`` (or the given ``pairs``, a tuple of two int
    arrays).

    Merging relabels ``j``'s frames as ``i``, adds ``beta_j`` to ``beta_i``, and merges rows
    and columns ``i`` and ``j`` of the transition counts (``i -> j``, ``j -> i`` and
    ``j -> j`` become self-transitions of ``i``). Only the terms that change are computed.
    The arrays may be restricted to the states holding frames, with ``beta_sum`` the sum of
    the whole ``beta`` (as :func:`transition_log_marginal`).

    Returns
    -------
    i, j : int arrays (P,)
    gain : ndarray (P,)
    """
    K = beta.shape[0]
    beta_sum = beta.sum() if beta_sum is None else beta_sum
    if pairs is None:
        used = np.flatnonzero(n > 0)
        i, j = (used[idx] for idx in np.triu_indices(used.size, k=1))
    else:
        i, j = (np.atleast_1d(np.asarray(p, dtype=np.int64)) for p in pairs)
    if i.size == 0:
        return i, j, np.zeros(0)
    # emissions: the merged state's marginal against the two separate ones
    emit = niw_log_marginal(prior, n, sum_x, sum_xx)
    merged = niw_log_marginal(prior, n[i] + n[j], sum_x[i] + sum_x[j], sum_xx[i] + sum_xx[j])
    gain = merged - emit[i] - emit[j]
    # transitions, rows other than i and j (and the first-state row K): columns i, j merge
    rows = transition_log_marginal(counts, beta, alpha, kappa, beta_sum)
    conc = np.vstack([alpha * beta[None, :] + kappa * np.eye(K), alpha * beta[None, :]])
    cell = _log_rising(conc, counts)  # (K + 1, K)
    other = (_log_rising(conc[:, i] + conc[:, j], counts[:, i] + counts[:, j])
             - cell[:, i] - cell[:, j]).T  # (P, K + 1)
    pair = np.arange(i.size)
    other[pair, i] = 0.0
    other[pair, j] = 0.0
    gain += other.sum(axis=1)
    # rows i and j become one row with concentration alpha * beta' + kappa * e_i
    row = counts[i] + counts[j]  # (P, K)
    self_count = row[pair, i] + row[pair, j]
    row_conc = np.broadcast_to(alpha * beta, row.shape).copy()
    keep = np.ones(row.shape, dtype=bool)
    keep[pair, i] = False
    keep[pair, j] = False
    total = alpha * beta_sum + kappa
    merged_row = (gammaln(total) - gammaln(total + row.sum(axis=1))
                  + np.where(keep, _log_rising(row_conc, row), 0.0).sum(axis=1)
                  + _log_rising(alpha * (beta[i] + beta[j]) + kappa, self_count))
    gain += merged_row - rows[i] - rows[j]
    return i, j, gain



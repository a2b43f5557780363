"""Pure formulas of Gaussian SPAHM (METHOD.md, "MAP inference by iterated Hungarian matching").

Every function here is free of state: the estimator in :mod:`spahm.estimator` keeps the
bookkeeping (sums, counts, caches) and calls these. Hyperparameters are per-dimension arrays
of length D (a scalar is broadcast by the caller): ``mu0`` the prior mean, ``s0`` the prior
variance sigma0^2 and ``s`` the observation variance sigma^2.

Costs are twice the log posterior gain, as in METHOD.md, so that the assignment maximises
their sum.
"""
from __future__ import annotations

import numpy as np
from scipy.special import gammaln

# Variances estimated from data are clipped to this floor so that the empirical-Bayes update
# can never return a zero or negative variance (e.g. identical silos give zero spread).
VARIANCE_FLOOR = 1e-10


def popularity_term(counts, n_silos, cap):
    """``2 log(m / (J - m))`` with ``m`` capped at ``cap`` (the authors cap it at 10).

    ``counts`` are the sizes of the global atoms with the current silo removed, so
    ``1 <= m <= J - 1`` and the term is finite.
    """
    m = np.minimum(np.asarray(counts, dtype=float), float(cap))
    return 2.0 * (np.log(m) - np.log(n_silos - m))


def atom_terms(sums, counts, mu0, s0, s, n_silos, popularity_cap):
    """Per-global-atom pieces of the match cost, so that ``match = (v*v) @ A.T + v @ B.T + c``.

    Parameters
    ----------
    sums : ndarray (L, D)
        Sum of the local atoms already at each global atom (current silo removed).
    counts : ndarray (L,)
        Number of local atoms at each global atom (current silo removed), all >= 1.
    mu0, s0, s : ndarray (D,)
        Prior mean, prior variance and observation variance per dimension.

    Returns
    -------
    A, B : ndarray (L, D)
    c : ndarray (L,)
    """
    m = np.asarray(counts, dtype=float)[:, None]
    ratio = s0 / s
    den_old = m * s0 + s
    den_new = den_old + s0
    old = (ratio * sums**2 + 2.0 * mu0 * sums) / den_old
    new_const = (ratio * sums**2 + 2.0 * mu0 * sums) / den_new
    A = np.broadcast_to(ratio / den_new, sums.shape)
    B = (2.0 * ratio * sums + 2.0 * mu0) / den_new
    c = (
        new_const
        - old
        + np.log(den_old)
        - np.log(den_new)
        + m * mu0**2 / den_old
        - (m + 1.0) * mu0**2 / den_new
    ).sum(axis=1)
    c += popularity_term(counts, n_silos, popularity_cap)
    return A, B, c


def count_tables(n_silos, mu0, s0, s, popularity_cap):
    """Everything in the match cost that depends on a global atom only through its count.

    Rows are indexed by the count m = 0..J, so that refreshing a global atom's terms is a table
    look-up plus a few products with its sums (see :func:`atom_terms_from_tables`). Row 0
    (and row J, whose popularity term is infinite) never enters a cost: a global atom with no
    local atoms is removed, and one that every silo uses has count J - 1 once a silo is removed.

    Returns
    -------
    inv_old, inv_new : ndarray (J + 1, D)
        ``1 / (m s0 + s)`` and ``1 / ((m + 1) s0 + s)``.
    const : ndarray (J + 1,)
        The terms without the sums: log-determinant, ``mu0^2`` and popularity terms.
    """
    m = np.arange(n_silos + 1, dtype=float)[:, None]
    den_old = m * s0 + s
    den_new = den_old + s0
    inv_old, inv_new = 1.0 / den_old, 1.0 / den_new
    with np.errstate(divide="ignore"):
        popularity = popularity_term(m[:, 0], n_silos, popularity_cap)
    const = (
        np.log(den_old) - np.log(den_new) + m * mu0**2 * inv_old - (m + 1.0) * mu0**2 * inv_new
    ).sum(axis=1) + popularity
    return inv_old, inv_new, const


def atom_terms_from_tables(sums, counts, tables, mu0, s0, s):
    """The same ``A, B, c`` as :func:`atom_terms`, from :func:`count_tables`."""
    inv_old, inv_new, const = tables
    m = np.asarray(counts).astype(np.intp)
    ratio = s0 / s
    new = inv_new[m]
    A = ratio * new
    B = (2.0 * ratio * sums + 2.0 * mu0) * new
    c = ((ratio * sums**2 + 2.0 * mu0 * sums) * (new - inv_old[m])).sum(axis=1) + const[m]
    return A, B, c


def match_costs(atoms, A, B, c):
    """Match block of the cost matrix, (L_j, L): two matrix products and a broadcast add."""
    return (atoms * atoms) @ A.T + atoms @ B.T + c


def new_atom_costs(atoms, mu0, s0, s, gamma0, n_silos, squares=None):
    """Per-local-atom part of ``new(l, k)`` without the ``-2 log k`` term, shape (L_j,).

    ``squares`` may pass ``atoms**2`` when the caller already has it.
    """
    total = s0 + s
    constant = np.sum(np.log(s) - np.log(total) - mu0**2 / total) + 2.0 * np.log(gamma0 / n_silos)
    squares = atoms**2 if squares is None else squares
    return squares @ (s0 / s / total) + atoms @ (2.0 * mu0 / total) + constant


def new_atom_penalty(n_columns):
    """The ``-2 log k`` Poisson-prior penalty of the k-th new global atom, k = 1..n."""
    return -2.0 * np.log(np.arange(1, n_columns + 1, dtype=float))


def cost_matrix(atoms, sums, counts, mu0, s0, s, gamma0, n_silos, popularity_cap=10):
    """The full cost matrix of one silo against the current global atoms.

    Parameters
    ----------
    atoms : ndarray (L_j, D)
        The silo's local atoms.
    sums, counts : ndarray (L, D), (L,)
        Sufficient statistics of the global atoms with this silo removed.

    Returns
    -------
    ndarray (L_j, L + L_j)
        Columns ``0..L-1`` match an existing global atom; column ``L + k - 1`` opens the k-th
        new global atom.
    """
    A, B, c = atom_terms(sums, counts, mu0, s0, s, n_silos, popularity_cap)
    new = new_atom_costs(atoms, mu0, s0, s, gamma0, n_silos)[:, None] + new_atom_penalty(len(atoms))
    return np.hstack([match_costs(atoms, A, B, c), new])


def posterior_means(sums, counts, mu0, s0, s):
    """Posterior mean of each global atom: ``(mu0 s + S s0) / (m s0 + s)``."""
    m = np.asarray(counts, dtype=float)[:, None]
    return (mu0 * s + sums * s0) / (m * s0 + s)


def update_hyperparameters(sums, sumsq, counts, per_dimension=(False, False, False)):
    """Empirical-Bayes re-estimation of ``mu0``, ``sigma^2`` and ``sigma0^2`` (METHOD.md step 4).

    Parameters
    ----------
    sums, sumsq : ndarray (L, D)
        Sum and sum of squares of the local atoms of each global atom.
    counts : ndarray (L,)
    per_dimension : tuple of 3 bool
        Whether ``mu0``, ``sigma^2``, ``sigma0^2`` are estimated per dimension (length D) or
        pooled over dimensions (scalar broadcast to length D).

    Returns
    -------
    mu0, s, s0 : ndarray (D,) each, or ``None`` for ``s`` when no global atom has two or more
        local atoms (the within-atom variance is then not identifiable; keep the old value).
    """
    m = np.asarray(counts, dtype=float)
    means = sums / m[:, None]
    D = sums.shape[1]

    def pooled(values_sum, n, per_dim):
        if per_dim:
            return values_sum / n
        return np.full(D, values_sum.sum() / (n * D))

    mu0 = pooled(means.sum(axis=0), len(m), per_dimension[0])

    multi = m > 1
    if multi.any():
        within = (sumsq[multi] - sums[multi] ** 2 / m[multi, None]).sum(axis=0)
        s = pooled(within, (m[multi] - 1.0).sum(), per_dimension[1])
        s = np.maximum(s, VARIANCE_FLOOR)
    else:
        s = None

    centred = ((means - mu0) ** 2).sum(axis=0)
    if len(m) > 1:
        var_means = pooled(centred, len(m) - 1.0, per_dimension[2])
    else:
        var_means = np.zeros(D)
    s_for_s0 = s if s is not None else 0.0
    s0 = np.maximum(var_means - s_for_s0 * np.mean(1.0 / m), VARIANCE_FLOOR)
    return mu0, s, s0


def log_marginal_likelihood(sums, sumsq, counts, mu0, s0, s):
    """Log marginal likelihood of the local atoms given the grouping, theta integrated out.

    Exact for the Gaussian case: per global atom and dimension, ``m`` atoms of variance ``s``
    around a mean drawn from ``N(mu0, s0)``.
    """
    m = np.asarray(counts, dtype=float)[:, None]
    precision = 1.0 / s0 + m / s
    return float(
        (
            -0.5 * m * np.log(2.0 * np.pi * s)
            - 0.5 * np.log(s0 * precision)
            - sumsq / (2.0 * s)
            - mu0**2 / (2.0 * s0)
            + (sums / s + mu0 / s0) ** 2 / (2.0 * precision)
        ).sum()
    )


def log_prior_assignment(counts, n_silos, gamma0):
    """Log Beta-Bernoulli (Indian buffet) prior of the assignment, ordering factor omitted.

    ``K log gamma0 - gamma0 H_J + sum_i log((J - m_i)! (m_i - 1)! / J!)``.
    """
    m = np.asarray(counts, dtype=float)
    harmonic = np.sum(1.0 / np.arange(1, n_silos + 1))
    return float(
        len(m) * np.log(gamma0)
        - gamma0 * harmonic
        + np.sum(gammaln(n_silos - m + 1.0) + gammaln(m) - gammaln(n_silos + 1.0))
    )


def objective(sums, sumsq, counts, mu0, s0, s, gamma0, n_silos):
    """Log posterior of the assignment (up to a constant): marginal likelihood plus prior."""
    return log_marginal_likelihood(sums, sumsq, counts, mu0, s0, s) + log_prior_assignment(
        counts, n_silos, gamma0
    )

"""Pure formulas of Gaussian SPAHM (docs/method.md, 'The algorithm').

Every function here is free of state: the estimator in :mod:`spahm.estimator` keeps the
bookkeeping (sums, counts, caches) and calls these. Hyperparameters are per-dimension arrays
of length D (a scalar is broadcast by the caller): ``mu0`` the prior mean, ``s0`` the prior
variance sigma0^2 and ``s`` the observation variance sigma^2.

Costs are twice the log posterior gain (docs/method.md, 'The cost'), so that the assignment
maximises their sum.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import gammaln

# Variances estimated from data are clipped to this floor so that the empirical-Bayes update
# can never return a zero or negative variance (e.g. identical silos give zero spread). The
# estimator works on standardised atoms (:func:`standardisation`), so the floor is relative:
# 1e-10 times the squared spread of the atoms' entries.
VARIANCE_FLOOR = 1e-10

# Shrinkage of the empirical-Bayes estimate of sigma^2, in pseudo degrees of freedom per
# dimension: sigma^2 = W / (dof + SIGMA_PRIOR_DOF + SINGLETON_DOF * n_1), as if each dimension
# had that many more matched deviations of zero; n_1 is the number of global atoms with a
# single local atom. An atom left alone is the fit's statement that no other silo holds a copy
# nearby, so many singletons and few matched atoms mean the few matched deviations must not
# set sigma^2 alone: one spurious pair far apart would otherwise make sigma^2 its own spread,
# sigma0^2 collapse to the floor and the next pass merge atoms wholesale. The
# estimate errs small (fewer merges next pass); with most atoms matched the shrinkage is about
# a percent.
SIGMA_PRIOR_DOF = 1.0
SINGLETON_DOF = 0.5


# Entries below this largest magnitude are standardised directly; others are divided by it first.
_SAFE_MAGNITUDE = (1e-100, 1e100)


class Hyperparameters(NamedTuple):
    """Gaussian SPAHM hyperparameters, per dimension: prior mean, prior variance sigma0^2 and
    observation variance sigma^2 (``s`` is ``None`` when it could not be estimated)."""

    mu0: np.ndarray
    s0: np.ndarray
    s: np.ndarray | None


def standardisation(atoms, fallback_scale=1.0):
    """Centre and scale of the atoms' entries: their mean and standard deviation (scalars).

    Computed without overflow for any finite input (entries are divided by their largest
    magnitude first). When every entry is the same, the scale is ``fallback_scale``.

    Returns
    -------
    centre, scale : float
    """
    atoms = np.asarray(atoms, dtype=float)
    top = float(np.max(np.abs(atoms)))
    if top == 0.0:
        return 0.0, float(fallback_scale)
    if _SAFE_MAGNITUDE[0] < top < _SAFE_MAGNITUDE[1]:  # squares cannot overflow or underflow
        centre, scale = float(atoms.mean()), float(atoms.std())
        return centre, (scale if scale > 0.0 else float(fallback_scale))
    unit = atoms / top
    centre = float(unit.mean())
    spread = float(unit.std())
    scale = spread * top
    if not (np.isfinite(scale) and scale > 0.0):
        scale = float(fallback_scale)
    return centre * top, scale


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


def isotropic_atom_terms(sums, counts, tables, mu0, ratio):
    """``w, c`` of each global atom when ``s0`` and ``s`` are the same in every dimension.

    The match cost is then ``w * (ratio (|v|^2 + 2 v.S) + 2 v.mu0) + c`` with
    ``ratio = s0 / s`` (:func:`isotropic_match_costs`): one matrix product per silo.

    Parameters
    ----------
    sums : ndarray (L, D)
    counts : ndarray (L,)
    tables : tuple
        :func:`count_tables` for the current hyperparameters.
    mu0 : ndarray (D,)
    ratio : float
        ``s0 / s``.

    Returns
    -------
    w, c : ndarray (L,)
    """
    inv_old, inv_new, const = tables
    m = np.asarray(counts).astype(np.intp)
    w = inv_new[m, 0]
    q = ratio * np.einsum("ij,ij->i", sums, sums) + 2.0 * (sums @ mu0)
    return w, q * (w - inv_old[m, 0]) + const[m]


def isotropic_match_costs(atoms, sq_norms, atoms_dot_mu0, sums, w, c, ratio):
    """Match block ``(L_j, L)`` from :func:`isotropic_atom_terms` (equal to :func:`match_costs`).

    ``sq_norms`` and ``atoms_dot_mu0`` are ``|v|^2`` and ``v.mu0`` of the silo's atoms.
    """
    block = atoms @ sums.T
    block *= 2.0 * ratio
    block += (ratio * sq_norms + 2.0 * atoms_dot_mu0)[:, None]
    block *= w
    block += c
    return block


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


def update_hyperparameters(sums, sumsq, counts, per_dimension=(False, False, False),
                           prior_dof=None):
    """Empirical-Bayes re-estimation of ``mu0``, ``sigma0^2`` and ``sigma^2``
    (docs/method.md, 'The algorithm').

    Every estimate is made per dimension (as the authors do); a hyperparameter that is pooled
    over dimensions is the mean of its per-dimension estimates.

    - ``mu0_d``: mean over global atoms of their means;
    - ``sigma_d^2``: within-atom sum of squares ``W_d`` of the global atoms with two or more
      local atoms over their degrees of freedom plus a shrinkage
      (``W_d / (dof + prior_dof + SINGLETON_DOF n_1)``, :data:`SIGMA_PRIOR_DOF`), so that one
      pair of matched atoms cannot set it alone;
    - ``sigma0_d^2``: variance of the global means minus ``sigma_d^2`` times the mean of
      ``1 / m``.

    Variances are floored at :data:`VARIANCE_FLOOR`.

    Parameters
    ----------
    sums, sumsq : ndarray (L, D)
        Sum and sum of squares of the local atoms of each global atom.
    counts : ndarray (L,)
    per_dimension : tuple of 3 bool
        For ``(mu0, sigma^2, sigma0^2)`` in this order: whether each is kept per dimension
        or pooled over dimensions (the mean of the per-dimension estimates, broadcast).
    prior_dof : float or None
        Shrinkage pseudo degrees of freedom per dimension; ``None``: :data:`SIGMA_PRIOR_DOF`
        plus :data:`SINGLETON_DOF` per single-atom global atom; 0: the plain moment
        estimator of docs/method.md, 'The algorithm'.

    Returns
    -------
    Hyperparameters
        ``(mu0, s0, s)``, each an ndarray (D,); ``s`` is ``None`` when no global atom has two
        or more local atoms (the within-atom variance is then not identifiable; keep the old
        value).
    """
    m = np.asarray(counts, dtype=float)
    means = sums / m[:, None]
    D = sums.shape[1]

    def pooled(per_dim_values, keep):
        return per_dim_values if keep else np.full(D, per_dim_values.mean())

    mu0 = pooled(means.mean(axis=0), per_dimension[0])

    multi = m > 1
    within = (sumsq[multi] - sums[multi] ** 2 / m[multi, None]).sum(axis=0)
    within = np.maximum(within, 0.0)  # rounding can make it slightly negative
    dof = (m[multi] - 1.0).sum()
    if prior_dof is None:
        prior_dof = SIGMA_PRIOR_DOF + SINGLETON_DOF * np.count_nonzero(m == 1)
    s = within / (dof + prior_dof) if dof > 0 else None
    if s is not None:
        s = pooled(np.maximum(s, VARIANCE_FLOOR), per_dimension[1])

    if len(m) > 1:
        var_means = ((means - mu0) ** 2).sum(axis=0) / (len(m) - 1.0)
    else:
        var_means = np.zeros(D)
    noise = (s if s is not None else 0.0) * np.mean(1.0 / m)
    s0 = pooled(np.maximum(var_means - noise, VARIANCE_FLOOR), per_dimension[2])
    return Hyperparameters(mu0, s0, s)


def log_marginal_likelihood(sums, sumsq, counts, mu0, s0, s):
    """Log marginal likelihood of the local atoms given the grouping, theta integrated out.

    Exact for the Gaussian case: per global atom and dimension, ``m`` atoms of variance ``s``
    around a mean drawn from ``N(mu0, s0)``. Written in the centred form (within-atom sum of
    squares ``W`` and the mean's density ``N(mean; mu0, s0 + s / m)``) so that no intermediate
    squares a precision: it stays finite for variances far below the atoms' spread.
    """
    m = np.asarray(counts, dtype=float)[:, None]
    mean = sums / m
    within = np.maximum(sumsq - sums * mean, 0.0)
    var_mean = s0 + s / m
    return float(
        (
            -0.5 * (m - 1.0) * np.log(2.0 * np.pi * s)
            - 0.5 * np.log(m)
            - within / (2.0 * s)
            - 0.5 * np.log(2.0 * np.pi * var_mean)
            - (mean - mu0) ** 2 / (2.0 * var_mean)
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

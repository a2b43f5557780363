"""Conjugate exponential families for SPAHM (docs/method.md, 'The model').

A local atom ``v`` is a noisy copy of its global atom ``theta``, ``v ~ F(. | theta)``, and the
global atoms are drawn from the conjugate prior ``H``. Integrating ``theta`` out, a *set* of
atoms assigned to one global atom has a closed-form log marginal likelihood that depends on the
set only through the sum ``S`` of its atoms' sufficient statistics and its size ``m``. That is
all the matching needs:

    match(l, i) = 2 [log p(S_i + T(v_l), m_i + 1) - log p(S_i, m_i)] + 2 log(m_i / (J - m_i))
    new(l, k)   = 2  log p(T(v_l), 1) + 2 log(gamma0 / J) - 2 log k

with the same popularity and new-atom prior terms as the Gaussian case (:mod:`spahm.core`).
``log p`` omits the base measure ``prod_l h(v_l)``: every local atom sits on exactly one global
atom, so those factors are common to all columns of a row and cancel in the assignment.

Every family implements the small interface of :class:`Family`; :func:`cost_matrix` builds the
costs from it for any family. Families:

- :class:`Gaussian` - known-variance Gaussian with a Gaussian prior; optionally every local
  atom carries its own extra variance (uncertainty-aware fusion, see :class:`Gaussian`);
- :class:`PoissonGamma` - count vectors, ``v_d ~ Poisson(theta_d)``, ``theta_d ~ Gamma(a, b)``;
- :class:`BernoulliBeta` - binary (or fractional, in [0, 1]) vectors, ``theta_d ~ Beta(a, b)``;
- :class:`Multinomial` - probability vectors such as LDA topic-word distributions, treated as
  ``concentration`` multinomial pseudo-draws from ``theta ~ Dirichlet(alpha)`` (see its notes).

The estimator (:class:`spahm.SPAHM`) takes ``family=`` a name from :data:`FAMILIES` or a family
object. The default Gaussian family keeps the fast closed-form path of :mod:`spahm.core`.
"""
from __future__ import annotations

import numpy as np
from scipy.special import betaln, gammaln

from . import core

# Rows of a probability vector may be off by rounding; beyond this they are rejected.
_SIMPLEX_TOLERANCE = 1e-6


class Family:
    """Interface of a conjugate family; subclasses override the methods below.

    A family object holds hyperparameters as the user gave them; :meth:`bind` returns a copy
    resolved for the data (defaults filled in, shapes checked against the dimension ``D``).
    """

    #: short name used by ``SPAHM(family=...)``
    name = "family"
    #: whether local atoms may come with their own variances (``local_variances``)
    supports_variances = False

    def bind(self, atoms, variances=None):
        """A copy resolved for the stacked local atoms ``(N, D)`` (and variances)."""
        return self

    def check_silo(self, atoms, j):
        """Raise ``ValueError`` naming silo ``j`` if its atoms are outside the support."""

    def statistics(self, atoms, variances=None):
        """Sufficient statistics ``T(v)`` of each local atom, shape ``(N, P)``."""
        raise NotImplementedError

    def log_marginal(self, stats, counts):
        """Log marginal likelihood (base measure omitted) of sets of atoms.

        Parameters
        ----------
        stats : ndarray (..., P)
            Sum of the sufficient statistics of each set.
        counts : ndarray (...)
            Number of atoms in each set (broadcast against ``stats[..., 0]``).

        Returns
        -------
        ndarray (...)
        """
        raise NotImplementedError

    def log_base_measure(self, atoms, variances=None):
        """``sum_l log h(v_l)``: makes :meth:`log_marginal` the full log marginal likelihood."""
        return 0.0

    def posterior_mean(self, stats, counts):
        """Posterior mean of each global atom, shape ``(L, D)``."""
        raise NotImplementedError

    def reestimate(self, atoms, variances, z, n_global, per_dimension, prior_dof=None):
        """Empirical-Bayes update after a pass; families without one return ``self``."""
        return self

    def hyperparameters(self):
        """The family's current hyperparameters, for ``hyperparameters_``."""
        return {}

    def __repr__(self):
        inner = ", ".join(f"{k}={v!r}" for k, v in self._given().items())
        return f"{type(self).__name__}({inner})"

    def _given(self):
        return {}


def _vector(value, name, dim, positive=True):
    arr = np.asarray(value, dtype=np.float64)
    if not (arr.ndim == 0 or (arr.ndim == 1 and arr.shape[0] == dim)):
        raise ValueError(f"{name} must be a scalar or have length D={dim}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or (positive and np.any(arr <= 0)):
        kind = "positive and finite" if positive else "finite"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return np.broadcast_to(arr, (dim,)).copy()


def _first_bad(mask):
    row, col = np.argwhere(mask)[0]
    return int(row), int(col)


# ---------------------------------------------------------------------------- Gaussian
class Gaussian(Family):
    """Gaussian atoms with known variance around a Gaussian global atom.

    ``theta_d ~ N(mu0_d, sigma0_d^2)``; ``v_ld ~ N(theta_d, sigma_d^2 + tau_ld)`` where
    ``tau_l`` is local atom l's own variance (0 when none is given). The statistics of an atom
    are its precision-weighted value and its precision per dimension, ``[v / s, 1 / s]`` with
    ``s = sigma^2 + tau``, so a set of atoms is summarised by ``W = sum v_l / s_l`` and
    ``Q = sum 1 / s_l`` and

        log p = sum_d -1/2 log(sigma0^2 P) - mu0^2 / (2 sigma0^2) + (mu0 / sigma0^2 + W)^2 / (2 P)

    with ``P = 1 / sigma0^2 + Q``. With ``tau = 0`` these are exactly the closed-form costs of
    :mod:`spahm.core`; the posterior mean is ``(mu0 / sigma0^2 + W) / P``.

    Parameters
    ----------
    sigma, sigma0 : float or array (D,)
        Standard deviations of a local atom around its global atom and of the global atoms.
    mu0 : float, array (D,) or None
        Prior mean; ``None`` uses the mean of all local atoms' entries.

    Empirical Bayes (``optimize_hyperparameters``) re-estimates ``mu0``, ``sigma0`` as
    :func:`spahm.core.update_hyperparameters` does, and ``sigma^2`` as the within-atom
    variance (with the same shrinkage) minus the mean of the local variances ``tau`` (floored).
    """

    name = "gaussian"
    supports_variances = True

    def __init__(self, sigma=1.0, sigma0=1.0, mu0=None):
        self.sigma = sigma
        self.sigma0 = sigma0
        self.mu0 = mu0
        self._bound = False

    def _given(self):
        return {"sigma": self.sigma, "sigma0": self.sigma0, "mu0": self.mu0}

    def bind(self, atoms, variances=None):
        dim = atoms.shape[1]
        out = Gaussian(self.sigma, self.sigma0, self.mu0)
        out.per_dim = tuple(np.ndim(v) == 1 for v in (self.mu0, self.sigma, self.sigma0))
        out.s = _vector(self.sigma, "sigma", dim) ** 2
        out.s0 = _vector(self.sigma0, "sigma0", dim) ** 2
        out.mu = _vector(atoms.mean() if self.mu0 is None else self.mu0, "mu0", dim, False)
        out._bound = True
        return out

    def _total_variance(self, atoms, variances):
        return self.s if variances is None else self.s + variances

    def statistics(self, atoms, variances=None):
        precision = 1.0 / np.broadcast_to(self._total_variance(atoms, variances), atoms.shape)
        return np.hstack([atoms * precision, precision])

    def log_marginal(self, stats, counts):
        D = self.s.shape[0]
        W, Q = stats[..., :D], stats[..., D:]
        P = 1.0 / self.s0 + Q
        return (
            -0.5 * np.log(self.s0 * P) - self.mu**2 / (2.0 * self.s0)
            + (self.mu / self.s0 + W) ** 2 / (2.0 * P)
        ).sum(axis=-1)

    def log_base_measure(self, atoms, variances=None):
        s = np.broadcast_to(self._total_variance(atoms, variances), atoms.shape)
        return float((-0.5 * np.log(2.0 * np.pi * s) - atoms**2 / (2.0 * s)).sum())

    def posterior_mean(self, stats, counts):
        D = self.s.shape[0]
        W, Q = stats[..., :D], stats[..., D:]
        return (self.mu / self.s0 + W) / (1.0 / self.s0 + Q)

    def reestimate(self, atoms, variances, z, n_global, per_dimension=None, prior_dof=None):
        per_dimension = self.per_dim if per_dimension is None else per_dimension
        counts = np.bincount(z, minlength=n_global).astype(float)
        sums = np.zeros((n_global, atoms.shape[1]))
        sumsq = np.zeros_like(sums)
        np.add.at(sums, z, atoms)
        np.add.at(sumsq, z, atoms**2)
        mu0, s0, s_total = core.update_hyperparameters(sums, sumsq, counts, per_dimension,
                                                       prior_dof)
        out = Gaussian(self.sigma, self.sigma0, self.mu0)
        out.per_dim = self.per_dim
        out.mu, out.s0 = mu0, s0
        out.s = self.s
        if s_total is not None:
            if variances is None:
                out.s = s_total
            else:
                # the within-atom spread of atoms in shared global atoms holds sigma^2 + tau
                shared = counts[z] > 1
                tau = np.broadcast_to(variances, atoms.shape)[shared]
                tau = tau.mean(axis=0) if per_dimension[1] else np.full(atoms.shape[1], tau.mean())
                out.s = np.maximum(s_total - tau, core.VARIANCE_FLOOR)
        out._bound = True
        return out

    def hyperparameters(self):
        def shaped(values, per_dim):
            return values.copy() if per_dim else float(values[0])

        return {"mu0": shaped(self.mu, self.per_dim[0]),
                "sigma": shaped(np.sqrt(self.s), self.per_dim[1]),
                "sigma0": shaped(np.sqrt(self.s0), self.per_dim[2])}


# ---------------------------------------------------------------------------- Poisson-Gamma
class PoissonGamma(Family):
    """Count vectors: ``v_d ~ Poisson(theta_d)``, ``theta_d ~ Gamma(shape=a, rate=b)``.

    ``log p(S, m) = sum_d a log b - lgamma(a) + lgamma(a + S_d) - (a + S_d) log(b + m)``
    (the ``1 / v!`` base measure omitted); posterior mean ``(a + S) / (b + m)``. Non-integer
    non-negative values (e.g. averaged counts) are accepted: the formula is the same.

    Parameters
    ----------
    a, b : float or array (D,)
        Shape and rate of the Gamma prior (prior mean ``a / b``, prior variance ``a / b^2``).
        ``a=None`` / ``b=None`` (default) match the prior mean and variance to the local atoms'
        mean and variance per dimension (floored), once, before fusion.

    Hyperparameters are not re-estimated during the passes.
    """

    name = "poisson"

    def __init__(self, a=None, b=None):
        self.a = a
        self.b = b

    def _given(self):
        return {"a": self.a, "b": self.b}

    def bind(self, atoms, variances=None):
        dim = atoms.shape[1]
        mean = np.maximum(atoms.mean(axis=0), 1e-3)
        var = np.maximum(atoms.var(axis=0), mean * 1e-3)
        out = PoissonGamma(self.a, self.b)
        out.alpha = mean**2 / var if self.a is None else _vector(self.a, "a", dim)
        out.beta = mean / var if self.b is None else _vector(self.b, "b", dim)
        return out

    def check_silo(self, atoms, j):
        if (atoms < 0).any():
            row, col = _first_bad(atoms < 0)
            raise ValueError(
                f"silo {j}: local atom {row} has a negative count ({atoms[row, col]}) in "
                f"dimension {col}; the Poisson-Gamma family needs non-negative counts")

    def statistics(self, atoms, variances=None):
        return atoms

    def log_marginal(self, stats, counts):
        a, b = self.alpha, self.beta
        m = np.asarray(counts, dtype=float)[..., None]
        return (a * np.log(b) - gammaln(a) + gammaln(a + stats)
                - (a + stats) * np.log(b + m)).sum(axis=-1)

    def log_base_measure(self, atoms, variances=None):
        return float(-gammaln(atoms + 1.0).sum())

    def posterior_mean(self, stats, counts):
        return (self.alpha + stats) / (self.beta + np.asarray(counts, dtype=float)[:, None])

    def hyperparameters(self):
        return {"a": self.alpha.copy(), "b": self.beta.copy()}


# ---------------------------------------------------------------------------- Bernoulli-Beta
class BernoulliBeta(Family):
    """Binary vectors: ``v_d ~ Bernoulli(theta_d)``, ``theta_d ~ Beta(a, b)``.

    ``log p(S, m) = sum_d log B(a + S_d, b + m - S_d) - log B(a, b)``; posterior mean
    ``(a + S) / (a + b + m)``. Values strictly between 0 and 1 are accepted as soft
    (fractional) observations with the same formula.

    Parameters
    ----------
    a, b : float or array (D,), default 0.5
        Beta prior (0.5, 0.5 is Jeffreys' prior). Not re-estimated.
    """

    name = "bernoulli"

    def __init__(self, a=0.5, b=0.5):
        self.a = a
        self.b = b

    def _given(self):
        return {"a": self.a, "b": self.b}

    def bind(self, atoms, variances=None):
        dim = atoms.shape[1]
        out = BernoulliBeta(self.a, self.b)
        out.alpha, out.beta = _vector(self.a, "a", dim), _vector(self.b, "b", dim)
        return out

    def check_silo(self, atoms, j):
        bad = (atoms < 0) | (atoms > 1)
        if bad.any():
            row, col = _first_bad(bad)
            raise ValueError(
                f"silo {j}: local atom {row} has value {atoms[row, col]} in dimension {col}, "
                "outside [0, 1]; the Bernoulli-Beta family needs binary (or [0, 1]) entries")

    def statistics(self, atoms, variances=None):
        return atoms

    def log_marginal(self, stats, counts):
        a, b = self.alpha, self.beta
        m = np.asarray(counts, dtype=float)[..., None]
        return (betaln(a + stats, b + m - stats) - betaln(a, b)).sum(axis=-1)

    def posterior_mean(self, stats, counts):
        m = np.asarray(counts, dtype=float)[:, None]
        return (self.alpha + stats) / (self.alpha + self.beta + m)

    def hyperparameters(self):
        return {"a": self.alpha.copy(), "b": self.beta.copy()}


# ---------------------------------------------------------------------------- probability vectors
class Multinomial(Family):
    """Probability vectors (e.g. topic-word distributions), Multinomial-Dirichlet approximation.

    A probability vector ``v`` (entries >= 0 summing to 1) is read as ``n`` multinomial draws
    with fractional counts ``n v`` from its global atom ``theta ~ Dirichlet(alpha)``:

        log p(S, m) = lgamma(sum alpha) - sum_d lgamma(alpha_d)
                      + sum_d lgamma(alpha_d + n S_d) - lgamma(sum alpha + n m)

    (``S`` the sum of the set's vectors; the multinomial coefficient is the base measure and is
    omitted). Posterior mean ``(alpha + n S) / (sum alpha + n m)``, a probability vector.

    The approximation: a local model's probability vector is not really a multinomial sample;
    ``concentration`` ``n`` says how many draws it is worth. It plays the role of
    ``1 / sigma^2`` in the Gaussian family: larger values make atoms look more precise, so
    fewer of them match and more global atoms open. For LDA topics a useful ``n`` is the
    number of tokens a topic typically explains (its row sum in ``components_``).

    Parameters
    ----------
    concentration : float, default 100
        Pseudo-count ``n`` of one local probability vector.
    alpha : float or array (D,), default 0.1
        Dirichlet prior of the global atoms. Neither is re-estimated.
    """

    name = "multinomial"

    def __init__(self, concentration=100.0, alpha=0.1):
        self.concentration = concentration
        self.alpha = alpha

    def _given(self):
        return {"concentration": self.concentration, "alpha": self.alpha}

    def bind(self, atoms, variances=None):
        dim = atoms.shape[1]
        if np.ndim(self.concentration) != 0 or not np.isfinite(self.concentration) \
                or self.concentration <= 0:
            raise ValueError(f"concentration must be a positive scalar, got {self.concentration!r}")
        out = Multinomial(self.concentration, self.alpha)
        out.n = float(self.concentration)
        out.a = _vector(self.alpha, "alpha", dim)
        return out

    def check_silo(self, atoms, j):
        if (atoms < 0).any():
            row, col = _first_bad(atoms < 0)
            raise ValueError(
                f"silo {j}: local atom {row} has a negative probability ({atoms[row, col]}) in "
                f"dimension {col}; the multinomial family needs probability vectors")
        totals = atoms.sum(axis=1)
        off = np.abs(totals - 1.0) > _SIMPLEX_TOLERANCE
        if off.any():
            row = int(np.flatnonzero(off)[0])
            raise ValueError(
                f"silo {j}: local atom {row} sums to {totals[row]:.6g}, not 1; the multinomial "
                "family needs probability vectors (normalise each row, e.g. LDA components_ "
                "divided by their row sums)")

    def statistics(self, atoms, variances=None):
        return atoms

    def log_marginal(self, stats, counts):
        a, n = self.a, self.n
        m = np.asarray(counts, dtype=float)
        return (gammaln(a.sum()) - gammaln(a).sum() + gammaln(a + n * stats).sum(axis=-1)
                - gammaln(a.sum() + n * m))

    def log_base_measure(self, atoms, variances=None):
        n = self.n
        return float((gammaln(n + 1.0) - gammaln(n * atoms + 1.0).sum(axis=1)).sum())

    def posterior_mean(self, stats, counts):
        m = np.asarray(counts, dtype=float)[:, None]
        return (self.a + self.n * stats) / (self.a.sum() + self.n * m)

    def hyperparameters(self):
        return {"concentration": self.n, "alpha": self.a.copy()}


#: Family names accepted by ``SPAHM(family=...)``.
FAMILIES = {
    "gaussian": Gaussian,
    "poisson": PoissonGamma,
    "bernoulli": BernoulliBeta,
    "multinomial": Multinomial,
}
_ALIASES = {"poisson-gamma": "poisson", "poisson_gamma": "poisson", "bernoulli-beta": "bernoulli",
            "bernoulli_beta": "bernoulli", "dirichlet": "multinomial",
            "multinomial-dirichlet": "multinomial", "multinomial_dirichlet": "multinomial"}
#: Every name ``SPAHM(family=...)`` accepts: :data:`FAMILIES` and their aliases (lower case).
FAMILY_NAMES = tuple(FAMILIES) + tuple(_ALIASES)


def get_family(family):
    """A family object from a name in :data:`FAMILIES` (or an alias) or a :class:`Family`."""
    if isinstance(family, Family):
        return family
    if isinstance(family, str):
        key = _ALIASES.get(family.lower(), family.lower())
        if key in FAMILIES:
            return FAMILIES[key]()
    raise ValueError(
        f"unknown family {family!r}: expected one of {sorted(FAMILIES)} or a "
        "spahm.families.Family object")


# ---------------------------------------------------------------------------- generic costs
def match_costs(family, atom_stats, sums, counts, n_silos, popularity_cap=10, old=None):
    """Match block ``(L_j, L)`` of the cost matrix from the family's log marginal.

    ``old`` may pass ``family.log_marginal(sums, counts)`` when the caller caches it.
    """
    counts = np.asarray(counts, dtype=float)
    if old is None:
        old = family.log_marginal(sums, counts)
    new = family.log_marginal(sums[None, :, :] + atom_stats[:, None, :], counts[None, :] + 1.0)
    return 2.0 * (new - old) + core.popularity_term(counts, n_silos, popularity_cap)


def new_atom_costs(family, atom_stats, gamma0, n_silos):
    """Per-local-atom part of ``new(l, k)`` without the ``-2 log k`` term, shape ``(L_j,)``."""
    alone = family.log_marginal(atom_stats, np.ones(len(atom_stats)))
    return 2.0 * alone + 2.0 * np.log(gamma0 / n_silos)


def cost_matrix(family, atoms, sums, counts, gamma0, n_silos, popularity_cap=10, variances=None):
    """The full ``(L_j, L + L_j)`` cost matrix of one silo, as :func:`spahm.core.cost_matrix`.

    ``family`` must be bound (:meth:`Family.bind`); ``sums`` are sums of sufficient statistics.
    """
    stats = family.statistics(atoms, variances)
    new = new_atom_costs(family, stats, gamma0, n_silos)[:, None] + core.new_atom_penalty(len(atoms))
    if len(counts) == 0:
        return new
    return np.hstack([match_costs(family, stats, sums, counts, n_silos, popularity_cap), new])


def objective(family, stats_sums, counts, gamma0, n_silos, base=0.0):
    """Log posterior of the assignment: log marginal likelihood (plus ``base``) and IBP prior."""
    return (float(family.log_marginal(stats_sums, counts).sum()) + base
            + core.log_prior_assignment(counts, n_silos, gamma0))

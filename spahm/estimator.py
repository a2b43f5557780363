"""The SPAHM estimator and the functional ``match``: passes, bookkeeping and validation.

The formulas live in :mod:`spahm.core`; this module keeps the state of the iterated
Hungarian matching:

- ``sums``, ``sumsq``, ``counts``: sufficient statistics of every global atom, updated in
  place when a silo is removed and re-added (each silo puts at most one atom on a global atom,
  so fancy-indexed ``+=`` is exact);
- ``A``, ``B``, ``c``: the per-global-atom terms of the match cost
  (``match = (v*v) @ A.T + v @ B.T + c``). Only the global atoms that a silo touches change
  when it is removed or re-added, so only those rows are recomputed; a silo's cost matrix is
  then two small matrix products and the assignment solve;
- ``z``: the global index of every local atom (all silos concatenated); global atoms left
  empty are compacted with one index remap of ``z``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from . import core
from . import families as _families
from ._validation import (check_finite, check_int, check_local_atoms, check_local_variances,
                          check_positive)


@dataclass(frozen=True)
class MatchResult:
    """What :func:`match` returns.

    Attributes
    ----------
    global_atoms : ndarray (L, D)
        Posterior means of the global atoms.
    popularity : ndarray (L,)
        Number of silos whose local atoms sit on each global atom.
    assignments : list of ndarray
        For each silo (input order), the global index of each of its local atoms.
    hyperparameters : dict
        Final ``mu0``, ``sigma``, ``sigma0`` (standard deviations) and ``gamma0``.
    objective : ndarray
        Log posterior of the assignment after the initial pass and after each pass.
    n_iter : int
        Passes run after the initial pass.
    """

    global_atoms: np.ndarray
    popularity: np.ndarray
    assignments: list
    hyperparameters: dict
    objective: np.ndarray = field(repr=False)
    n_iter: int = 0

    @property
    def n_global_atoms(self) -> int:
        return int(self.global_atoms.shape[0])


class SPAHM(BaseEstimator):
    """Fuse local models by matching their parameters (Gaussian SPAHM by default).

    Parameters
    ----------
    sigma : float or array of shape (D,), default 1.0
        Initial standard deviation of a local atom around its global atom.
    sigma0 : float or array of shape (D,), default 1.0
        Initial standard deviation of the global atoms around ``mu0``.
    mu0 : float, array of shape (D,) or None, default None
        Initial prior mean of the global atoms; ``None`` uses the mean of all local atoms'
        entries (a scalar).
    gamma0 : float, default 1.0
        Mass of the Beta process: larger values open new global atoms more readily.
    n_iter : int, default 10
        Passes over the silos in random order after the initial pass.
    optimize_hyperparameters : bool, default True
        Re-estimate ``mu0``, ``sigma`` and ``sigma0`` by empirical Bayes after each pass. A
        hyperparameter given as a scalar is re-estimated pooled over dimensions, one given as
        a length-D array per dimension. ``gamma0`` is never estimated.
    popularity_cap : int, default 10
        Cap on the count inside the popularity prior term only (as the authors' code).
    max_global_atoms : int or None, default None
        Upper bound on the number of global atoms; once reached, local atoms can only match.
        Must be at least the largest silo's number of atoms.
    n_init : int, default 1
        Number of runs with different random visit orders; the run with the highest log
        posterior (:func:`spahm.core.objective`) is kept. The matching is a coordinate ascent
        and can stop in a local optimum; restarts guard against that, like k-means' ``n_init``.
    random_state : int, numpy Generator or None
        Seeds the order in which silos are revisited.
    family : str or spahm.families.Family, default "gaussian"
        The conjugate family of the local atoms: a name in :data:`spahm.families.FAMILIES`
        (``"gaussian"``, ``"poisson"``, ``"bernoulli"``, ``"multinomial"``) with its default
        hyperparameters, or a family object. The name ``"gaussian"`` uses ``sigma``,
        ``sigma0`` and ``mu0`` above and the fast closed-form path; a family object carries
        its own hyperparameters (those three are then ignored). Only the Gaussian family
        re-estimates hyperparameters; the others keep theirs (``optimize_hyperparameters``
        has no effect on them).

    Attributes
    ----------
    global_atoms_, popularity_, assignments_, hyperparameters_, objective_, n_iter_

    Notes
    -----
    One silo (J = 1) is legal: its atoms become the global atoms (posterior means). A silo
    with no atoms is rejected: drop it before fusion.

    Uncertainty-aware fusion (``fit(local_atoms, local_variances)``, Gaussian family only):
    local atom l of a silo is modelled as ``v_l ~ N(theta_i, sigma^2 + tau_l)`` where
    ``tau_l`` is its own variance (e.g. a k-means centroid's within-cluster variance divided by
    the cluster size) and ``sigma^2`` the between-silo spread, still estimated. Global atoms
    are precision-weighted posterior means. When every ``tau`` is the same value ``c`` the fit
    is exactly plain SPAHM with ``sigma = sqrt(sigma^2 + c)`` (``tau = 0``: exactly today's
    result), and ``hyperparameters_["sigma"]`` reports ``sqrt(sigma_total^2 - c)``.

    Examples
    --------
    >>> import numpy as np
    >>> from spahm import SPAHM
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.normal(0, 10, size=(3, 2))
    >>> silos = [truth + rng.normal(0, 0.1, size=truth.shape) for _ in range(4)]
    >>> SPAHM(random_state=0).fit(silos).global_atoms_.shape
    (3, 2)
    """

    def __init__(
        self,
        sigma=1.0,
        sigma0=1.0,
        mu0=None,
        gamma0=1.0,
        n_iter=10,
        optimize_hyperparameters=True,
        popularity_cap=10,
        max_global_atoms=None,
        n_init=1,
        random_state=None,
        family="gaussian",
    ):
        self.sigma = sigma
        self.sigma0 = sigma0
        self.mu0 = mu0
        self.gamma0 = gamma0
        self.n_iter = n_iter
        self.optimize_hyperparameters = optimize_hyperparameters
        self.popularity_cap = popularity_cap
        self.max_global_atoms = max_global_atoms
        self.n_init = n_init
        self.random_state = random_state
        self.family = family

    # ------------------------------------------------------------------ validation
    def _validated(self, local_atoms):
        silos = check_local_atoms(local_atoms)
        dim = silos[0].shape[1]
        sigma = check_positive(self.sigma, "sigma", dim)
        sigma0 = check_positive(self.sigma0, "sigma0", dim)
        mu0 = None if self.mu0 is None else check_finite(self.mu0, "mu0", dim)
        if np.ndim(self.gamma0) != 0:
            raise ValueError(f"gamma0 must be a positive scalar, got {self.gamma0!r}")
        gamma0 = check_positive(self.gamma0, "gamma0", 1)
        n_iter = check_int(self.n_iter, "n_iter", 0)
        cap = check_int(self.popularity_cap, "popularity_cap", 1)
        largest = max(len(s) for s in silos)
        max_atoms = check_int(self.max_global_atoms, "max_global_atoms", 1, allow_none=True)
        if max_atoms is not None and max_atoms < largest:
            j = int(np.argmax([len(s) for s in silos]))
            raise ValueError(
                f"max_global_atoms={max_atoms} is smaller than silo {j}'s {largest} local atoms; "
                "each global atom takes at most one atom per silo"
            )
        return silos, sigma, sigma0, mu0, float(gamma0), n_iter, cap, max_atoms

    # ------------------------------------------------------------------ fitting
    def fit(self, local_atoms, local_variances=None, y=None):
        """Fuse the silos' local atoms.

        Parameters
        ----------
        local_atoms : list of array-like, each of shape (L_j, D)
            One array per silo.
        local_variances : list of array-like or None
            Optional, Gaussian family only: each silo's local-atom variances ``tau`` as a
            scalar, shape (L_j,) or (L_j, D) (see Notes). ``None``: plain SPAHM.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            On any malformed input; the message names the silo or hyperparameter.
        """
        silos, sigma, sigma0, mu0, gamma0, n_iter, cap, max_atoms = self._validated(local_atoms)
        n_init = check_int(self.n_init, "n_init", 1)
        family, variances, offset = self._resolve_family(silos, local_variances, sigma, sigma0,
                                                         mu0)
        if family is None and offset:
            # equal local variances c: plain SPAHM whose observation variance is sigma^2 + c
            sigma = np.sqrt(np.square(sigma) + offset)
        rng = np.random.default_rng(self.random_state)
        best_state, best_objective = None, None
        for _ in range(n_init):
            if family is None:
                state = _MatchingState(silos, sigma, sigma0, mu0, gamma0, cap, max_atoms)
            else:
                state = _FamilyMatchingState(silos, variances, family, gamma0, cap, max_atoms)
            # The per-silo products are small: one BLAS thread is faster than several, and
            # much faster when the cores are busy (threads spin-wait on each other).
            with threadpool_limits(limits=1, user_api="blas"):
                objective = self._run_passes(state, n_iter, rng)
            if best_objective is None or objective[-1] > best_objective[-1]:
                best_state, best_objective = state, objective
        state = best_state

        self.global_atoms_ = state.global_atoms()
        self.popularity_ = state.counts[: state.L].astype(int)
        self.assignments_ = state.assignments()
        self.hyperparameters_ = state.hyperparameters()
        if family is None and offset:
            hp_sigma = np.sqrt(np.maximum(np.square(self.hyperparameters_["sigma"]) - offset,
                                          core.VARIANCE_FLOOR))
            self.hyperparameters_["sigma"] = hp_sigma if np.ndim(hp_sigma) else float(hp_sigma)
        self.objective_ = np.asarray(best_objective)
        self.n_iter_ = n_iter
        return self

    def _resolve_family(self, silos, local_variances, sigma, sigma0, mu0):
        """``(family, variances, offset)``: ``family`` is None on the fast Gaussian path,
        where ``offset`` is the common local variance (0 when none are given)."""
        fast = isinstance(self.family, str) and self.family.lower() == "gaussian"
        family = _families.get_family(self.family)  # raises on unknown names
        variances = check_local_variances(local_variances, silos)
        if variances is not None and not family.supports_variances:
            raise ValueError(
                f"local_variances are supported by the Gaussian family only, not {family.name!r}")
        if fast:
            if variances is None:
                return None, None, 0.0
            stacked = np.vstack(variances)
            if np.ptp(stacked) == 0.0:
                return None, None, float(stacked.flat[0])
            family = _families.Gaussian(sigma, sigma0, mu0)
        for j, atoms in enumerate(silos):
            family.check_silo(atoms, j)
        stacked_atoms = np.vstack(silos)
        stacked_var = None if variances is None else np.vstack(variances)
        return family.bind(stacked_atoms, stacked_var), stacked_var, 0.0

    def _run_passes(self, state, n_iter, rng):
        """Initial pass, then ``n_iter`` passes in random order; the objective after each."""
        state.initial_pass()
        state.refresh_statistics()
        objective = [state.objective()]
        for _ in range(n_iter):
            for j in rng.permutation(state.n_silos):
                state.remove(j)
                state.solve(j)
            state.refresh_statistics()
            if self.optimize_hyperparameters:
                state.update_hyperparameters()
            objective.append(state.objective())
        return objective

    @property
    def n_global_atoms_(self):
        return int(self.global_atoms_.shape[0])


def match(local_atoms, local_variances=None, **kwargs) -> MatchResult:
    """Fuse local atoms and return a frozen :class:`MatchResult`.

    Takes the same keyword arguments as :class:`SPAHM`; ``local_variances`` as
    :meth:`SPAHM.fit`.

    Examples
    --------
    >>> import numpy as np
    >>> from spahm import match
    >>> silos = [np.array([[0.0, 0.0], [10.0, 10.0]]), np.array([[10.1, 9.9]])]
    >>> result = match(silos, random_state=0)
    >>> result.n_global_atoms, bool(result.assignments[0][1] == result.assignments[1][0])
    (2, True)
    """
    model = SPAHM(**kwargs).fit(local_atoms, local_variances)
    return MatchResult(
        global_atoms=model.global_atoms_,
        popularity=model.popularity_,
        assignments=model.assignments_,
        hyperparameters=model.hyperparameters_,
        objective=model.objective_,
        n_iter=model.n_iter_,
    )


#: New-atom columns offered to the assignment solver before the full set (see ``solve``).
NEW_COLUMNS_FIRST = 8


class _StateBase:
    """Bookkeeping shared by every family: which global atom each local atom sits on (``z``),
    the counts, the passes' remove / solve steps and the compaction of empty global atoms.

    A subclass keeps its own per-global-atom arrays (named in ``_row_arrays``) and says how a
    silo's atoms add to them (``_add``), how the rows a silo touched are refreshed
    (``_refresh_rows``) and how its match block is computed (``_match_block``).
    """

    _row_arrays = ("counts",)

    def _init_common(self, silos, gamma0, popularity_cap, max_atoms):
        self.n_silos = len(silos)
        self.atoms = np.vstack(silos)
        self.sizes = np.array([len(s) for s in silos])
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])
        self.gamma0 = gamma0
        self.cap = popularity_cap
        self.max_atoms = max_atoms
        self.penalty = core.new_atom_penalty(int(self.sizes.max()))
        self.capacity = int(min(self.atoms.shape[0], max_atoms or np.inf))
        self.counts = np.zeros(self.capacity)
        self.L = 0
        self.z = np.full(self.atoms.shape[0], -1, dtype=np.intp)

    def _slice(self, j):
        return slice(self.offsets[j], self.offsets[j + 1])

    def initial_pass(self):
        for j in np.argsort(-self.sizes, kind="stable"):
            self.solve(j)

    def remove(self, j):
        sl = self._slice(j)
        idx = self.z[sl].copy()
        self._add(sl, idx, -1.0)
        self.counts[idx] -= 1
        self.z[sl] = -1
        emptied = self.counts[idx] == 0
        if emptied.any():
            keep = self.counts[: self.L] > 0
            remap = np.cumsum(keep) - 1
            assigned = self.z >= 0
            self.z[assigned] = remap[self.z[assigned]]
            n = int(keep.sum())
            for name in self._row_arrays:
                arr = getattr(self, name)
                arr[:n] = arr[: self.L][keep]
                arr[n : self.L] = 0  # vacated rows: new global atoms start from zero
            self.L = n
            idx = remap[idx[~emptied]]
        if len(idx):
            self._refresh_rows(idx)

    def solve(self, j):
        sl = self._slice(j)
        L, n_local = self.L, sl.stop - sl.start
        n_new = n_local if self.max_atoms is None else min(n_local, self.max_atoms - L)
        # Offer only a few new-atom columns first. The k-th new atom costs -2 log k, so the
        # cost of opening n new atoms is convex in n: if the optimum with K columns opens fewer
        # than K, more columns cannot change it (it is a min-cost flow with convex arc costs).
        # Only when all K are used is the full problem solved.
        offered = min(n_new, max(NEW_COLUMNS_FIRST, n_local - L))
        cost = np.empty((n_local, L + offered))
        if L:
            cost[:, :L] = self._match_block(sl, L)
        cost[:, L:] = self.new_costs[sl, None] + self.penalty[None, :offered]
        rows, cols = linear_sum_assignment(cost, maximize=True)
        if offered < n_new and np.count_nonzero(cols >= L) == offered:
            cost = np.hstack([cost[:, :L], self.new_costs[sl, None] + self.penalty[None, :n_new]])
            rows, cols = linear_sum_assignment(cost, maximize=True)
        is_new = cols >= L
        # New global atoms are numbered in the order of their columns (cheapest penalty first).
        cols[is_new] = L + np.argsort(np.argsort(cols[is_new]))
        self.L = L + int(is_new.sum())
        target = np.empty(n_local, dtype=np.intp)
        target[rows] = cols
        self.z[sl] = target
        self._add(sl, target, 1.0)
        self.counts[target] += 1
        self._refresh_rows(target)

    def _onehot(self):
        """Sparse (L, N) indicator of which local atom sits on which global atom."""
        n = len(self.z)
        return scipy.sparse.csr_matrix((np.ones(n), (self.z, np.arange(n))), shape=(self.L, n))

    def assignments(self):
        return [self.z[self._slice(j)].copy() for j in range(self.n_silos)]


class _MatchingState(_StateBase):
    """Gaussian SPAHM with shared (scalar or per-dimension) variances: the fast path.

    Per global atom it keeps the sums and sums of squares of its local atoms and the terms of
    the match cost. In the isotropic case (``sigma`` and ``sigma0`` the same in every
    dimension) those terms are two scalars per global atom, ``w = 1 / ((m + 1) s0 + s)`` and
    ``c``, and a silo's match block is ``w * (r (|v|^2 + 2 v.S) + 2 v.mu0) + c`` with
    ``r = s0 / s``: one matrix product ``V @ S.T``. Otherwise ``(v*v) @ A.T + v @ B.T + c``.
    """

    def __init__(self, silos, sigma, sigma0, mu0, gamma0, popularity_cap, max_atoms):
        self._init_common(silos, gamma0, popularity_cap, max_atoms)
        self.dim = self.atoms.shape[1]
        self.sq_atoms = self.atoms**2
        self.sq_norms = self.sq_atoms.sum(axis=1)
        # Hyperparameters are kept as length-D arrays; the flags remember which were given
        # per dimension (and are therefore re-estimated per dimension).
        self.per_dim = (np.ndim(mu0) == 1, np.ndim(sigma) == 1, np.ndim(sigma0) == 1)
        full = lambda v: np.broadcast_to(np.asarray(v, dtype=float), (self.dim,)).copy()  # noqa: E731
        self.mu0 = full(self.atoms.mean() if mu0 is None else mu0)
        self.s = full(sigma) ** 2
        self.s0 = full(sigma0) ** 2
        self.sums = np.zeros((self.capacity, self.dim))
        self.sumsq = np.zeros((self.capacity, self.dim))
        self.c = np.zeros(self.capacity)
        self.w = np.zeros(self.capacity)
        self.A = self.B = None
        self._refresh_hyperparameter_terms()

    def _refresh_hyperparameter_terms(self):
        """Everything that depends on the hyperparameters alone; rerun after each update."""
        self.new_costs = core.new_atom_costs(
            self.atoms, self.mu0, self.s0, self.s, self.gamma0, self.n_silos, self.sq_atoms
        )
        self.tables = core.count_tables(self.n_silos, self.mu0, self.s0, self.s, self.cap)
        self.isotropic = bool(np.ptp(self.s0) == 0.0 and np.ptp(self.s) == 0.0)
        self.ratio = float(self.s0[0] / self.s[0])
        self.atoms_dot_mu0 = self.atoms @ self.mu0
        # the (L, D) terms A and B are needed only when the variances differ across dimensions
        if self.isotropic:
            self._row_arrays = ("sums", "sumsq", "counts", "c", "w")
        else:
            self._row_arrays = ("sums", "sumsq", "counts", "A", "B", "c")
            if getattr(self, "A", None) is None:
                self.A, self.B = np.zeros((2, self.capacity, self.dim))

    def _add(self, sl, target, sign):
        # Sums of squares enter only the once-per-pass hyperparameter update and objective;
        # refresh_statistics recomputes them (and the sums) from scratch before those.
        if sign > 0:
            self.sums[target] += self.atoms[sl]
        else:
            self.sums[target] -= self.atoms[sl]

    def _refresh_rows(self, rows):
        # A global atom that every silo uses (m = J) has an infinite popularity term; its row
        # is refreshed again when the next silo is removed, before any cost uses it.
        sums, counts = self.sums[rows], self.counts[rows]
        if self.isotropic:
            inv_old, inv_new, const = self.tables
            m = counts.astype(np.intp)
            w = inv_new[m, 0]
            q = self.ratio * np.einsum("ij,ij->i", sums, sums) + 2.0 * (sums @ self.mu0)
            self.w[rows] = w
            self.c[rows] = q * (w - inv_old[m, 0]) + const[m]
        else:
            A, B, c = core.atom_terms_from_tables(sums, counts, self.tables, self.mu0, self.s0,
                                                  self.s)
            self.A[rows], self.B[rows], self.c[rows] = A, B, c

    def _match_block(self, sl, L):
        atoms = self.atoms[sl]
        if not self.isotropic:
            return core.match_costs(atoms, self.A[:L], self.B[:L], self.c[:L])
        block = atoms @ self.sums[:L].T
        block *= 2.0 * self.ratio
        block += (self.ratio * self.sq_norms[sl] + 2.0 * self.atoms_dot_mu0[sl])[:, None]
        block *= self.w[:L]
        block += self.c[:L]
        return block

    def refresh_statistics(self):
        """Recompute the sums from scratch once per pass, so rounding cannot drift."""
        onehot = self._onehot()
        self.sums[: self.L] = onehot @ self.atoms
        self.sumsq[: self.L] = onehot @ self.sq_atoms
        self.counts[: self.L] = np.asarray(onehot.sum(axis=1)).ravel()
        self._refresh_rows(np.arange(self.L))

    def update_hyperparameters(self):
        L = self.L
        mu0, s, s0 = core.update_hyperparameters(
            self.sums[:L], self.sumsq[:L], self.counts[:L], self.per_dim
        )
        self.mu0 = mu0
        if s is not None:
            self.s = s
        self.s0 = s0
        self._refresh_hyperparameter_terms()
        self._refresh_rows(np.arange(L))

    # -- outputs -----------------------------------------------------------------
    def objective(self):
        L = self.L
        return core.objective(
            self.sums[:L], self.sumsq[:L], self.counts[:L], self.mu0, self.s0, self.s,
            self.gamma0, self.n_silos,
        )

    def global_atoms(self):
        L = self.L
        return core.posterior_means(self.sums[:L], self.counts[:L], self.mu0, self.s0, self.s)

    def hyperparameters(self):
        def shaped(values, per_dim):
            return values.copy() if per_dim else float(values[0])

        return {
            "mu0": shaped(self.mu0, self.per_dim[0]),
            "sigma": shaped(np.sqrt(self.s), self.per_dim[1]),
            "sigma0": shaped(np.sqrt(self.s0), self.per_dim[2]),
            "gamma0": self.gamma0,
        }


class _FamilyMatchingState(_StateBase):
    """Bookkeeping of one fit for any :class:`spahm.families.Family` (the generic path).

    The global atoms keep the sums of their atoms' sufficient statistics and a cached log
    marginal likelihood, refreshed only for the rows a silo touches. A silo's match block is
    one vectorised call of the family's log marginal over ``(L_j, L)`` candidate sets.
    """

    _row_arrays = ("sums", "counts", "lml")

    def __init__(self, silos, variances, family, gamma0, popularity_cap, max_atoms):
        self._init_common(silos, gamma0, popularity_cap, max_atoms)
        self.variances = variances
        self._set_family(family)

    def _set_family(self, family):
        self.family = family
        self.stats = family.statistics(self.atoms, self.variances)
        self.new_costs = _families.new_atom_costs(family, self.stats, self.gamma0, self.n_silos)
        self.base = family.log_base_measure(self.atoms, self.variances)
        if self.L == 0:
            self.sums = np.zeros((self.capacity, self.stats.shape[1]))
            self.lml = np.zeros(self.capacity)

    def _add(self, sl, target, sign):
        self.sums[target] += sign * self.stats[sl]

    def _refresh_rows(self, rows):
        self.lml[rows] = self.family.log_marginal(self.sums[rows], self.counts[rows])

    def _match_block(self, sl, L):
        return _families.match_costs(self.family, self.stats[sl], self.sums[:L], self.counts[:L],
                                     self.n_silos, self.cap, old=self.lml[:L])

    def refresh_statistics(self):
        """Recompute the sums from scratch once per pass, so rounding cannot drift."""
        onehot = self._onehot()
        self.sums[: self.L] = onehot @ self.stats
        self.counts[: self.L] = np.asarray(onehot.sum(axis=1)).ravel()
        self._refresh_rows(np.arange(self.L))

    def update_hyperparameters(self):
        family = self.family.reestimate(self.atoms, self.variances, self.z, self.L, None)
        if family is not self.family:
            self._set_family(family)
            self.refresh_statistics()

    def objective(self):
        L = self.L
        return _families.objective(self.family, self.sums[:L], self.counts[:L], self.gamma0,
                                   self.n_silos, self.base)

    def global_atoms(self):
        return self.family.posterior_mean(self.sums[: self.L], self.counts[: self.L])

    def hyperparameters(self):
        return {**self.family.hyperparameters(), "gamma0": self.gamma0}

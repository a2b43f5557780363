"""The state of the iterated Hungarian matching (private; used by :mod:`spahm.estimator`).

The formulas live in :mod:`spahm.core` (Gaussian fast path) and :mod:`spahm.families` (any
conjugate family); a state keeps the bookkeeping of one fit:

- ``sums`` (and ``sumsq``), ``counts``: sufficient statistics of every global atom, updated in
  place when a silo is removed and re-added (each silo puts at most one atom on a global atom,
  so fancy-indexed ``+=`` is exact);
- the per-global-atom terms of the match cost. Only the global atoms that a silo touches
  change when it is removed or re-added, so only those rows are recomputed; a silo's cost
  matrix is then two small matrix products and the assignment solve;
- ``z``: the global index of every local atom (all silos concatenated); global atoms left
  empty are compacted with one index remap of ``z``.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse
from scipy.optimize import linear_sum_assignment

from . import core
from . import families as _families

#: New-atom columns offered to the assignment solver before the full set (see ``solve``).
NEW_COLUMNS_FIRST = 8


def same_partition(a, b):
    """Whether two labellings of the same local atoms group them identically."""
    if len(a) != len(b):
        return False
    pairs = np.unique(np.stack([a, b]), axis=1).shape[1]
    return pairs == len(np.unique(a)) == len(np.unique(b))


class _StateBase:
    """Bookkeeping shared by every family: which global atom each local atom sits on (``z``),
    the counts, the passes' remove / solve steps and the compaction of empty global atoms.

    A subclass keeps its own per-global-atom arrays (named in ``_row_arrays``) and says how a
    silo's atoms add to them (``_add``), how the rows a silo touched are refreshed
    (``_refresh_rows``), how its match block is computed (``_match_block``) and what depends
    on the local atoms and the number of silos (``_atoms_changed``).
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

    def first_order(self, silos=None, rng=None):
        """The order of the initial pass over the silos (all, or the given indices): largest
        first (docs/method.md, 'The algorithm'), or a random order drawn from ``rng``
        (restarts after the first)."""
        silos = np.arange(self.n_silos) if silos is None else np.asarray(silos)
        if rng is not None:
            return rng.permutation(silos)
        return silos[np.argsort(-self.sizes[silos], kind="stable")]

    def initial_pass(self, silos=None, rng=None):
        """Match the silos (all, or the given indices) once, in :meth:`first_order`."""
        for j in self.first_order(silos, rng):
            self.solve(j)

    def add_silos(self, silos, variances=None):
        """Append new silos (unmatched); ``initial_pass(their indices)`` then matches them."""
        first = self.n_silos
        self.atoms = np.vstack([self.atoms, *silos])
        if variances is not None:
            self.variances = np.vstack([self.variances, *variances])
        self.sizes = np.concatenate([self.sizes, [len(s) for s in silos]])
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])
        self.n_silos = len(self.sizes)
        self.penalty = core.new_atom_penalty(int(self.sizes.max()))
        capacity = int(min(self.atoms.shape[0], self.max_atoms or np.inf))
        for name in self._row_arrays:
            arr = getattr(self, name)
            grown = np.zeros((capacity,) + arr.shape[1:])
            grown[: len(arr)] = arr
            setattr(self, name, grown)
        self.capacity = capacity
        self.z = np.concatenate([self.z, np.full(self.atoms.shape[0] - len(self.z), -1,
                                                 dtype=np.intp)])
        self._atoms_changed()
        self._refresh_rows(np.arange(self.L))
        return np.arange(first, self.n_silos)

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

    def run_passes(self, n_iter, rng, optimize_hyperparameters, first_silos=None,
                   shuffle_first=False):
        """Initial pass (over ``first_silos`` or all; largest first, or in a random order if
        ``shuffle_first``), then up to ``n_iter`` passes in random order; stops early once a
        pass changes no grouping and the hyperparameters stay put.

        Returns
        -------
        objective : list of float
            Log posterior after the initial pass and after each pass run.
        converged : bool
            Whether the last pass left the grouping (and hyperparameters) unchanged.
        """
        self.initial_pass(first_silos, rng if shuffle_first else None)
        self.refresh_statistics()
        objective = [self.objective()]
        converged = False
        for _ in range(n_iter):
            before = self.z.copy()
            hyper_before = self._hyper_signature()
            for j in rng.permutation(self.n_silos):
                self.remove(j)
                self.solve(j)
            self.refresh_statistics()
            if optimize_hyperparameters:
                self.update_hyperparameters()
            objective.append(self.objective())
            if same_partition(before, self.z) and np.array_equal(hyper_before,
                                                                 self._hyper_signature()):
                converged = True
                break
        return objective, converged

    def _onehot(self):
        """Sparse (L, N) indicator of which local atom sits on which global atom."""
        n = len(self.z)
        return scipy.sparse.csr_matrix((np.ones(n), (self.z, np.arange(n))), shape=(self.L, n))

    def assignments(self):
        return [self.z[self._slice(j)].copy() for j in range(self.n_silos)]


class GaussianState(_StateBase):
    """Gaussian SPAHM with shared (scalar or per-dimension) variances: the fast path.

    Per global atom it keeps the sums and sums of squares of its local atoms and the terms of
    the match cost: in the isotropic case (``sigma`` and ``sigma0`` the same in every
    dimension) two scalars per global atom (:func:`spahm.core.isotropic_atom_terms`),
    otherwise ``A, B, c`` (:func:`spahm.core.atom_terms_from_tables`).

    Hyperparameters are length-D arrays (``s`` and ``s0`` are variances); ``per_dim`` says
    which of ``(mu0, s, s0)`` are re-estimated per dimension.
    """

    def __init__(self, silos, s, s0, mu0, per_dim, gamma0, popularity_cap, max_atoms,
                 prior_dof=None):
        self._init_common(silos, gamma0, popularity_cap, max_atoms)
        self.prior_dof = prior_dof
        self.dim = self.atoms.shape[1]
        self.per_dim = per_dim
        full = lambda v: np.broadcast_to(np.asarray(v, dtype=float), (self.dim,)).copy()  # noqa: E731
        self.mu0, self.s, self.s0 = full(mu0), full(s), full(s0)
        self.sums = np.zeros((self.capacity, self.dim))
        self.sumsq = np.zeros((self.capacity, self.dim))
        self.c = np.zeros(self.capacity)
        self.w = np.zeros(self.capacity)
        self.A = self.B = None
        self._atoms_changed()

    def _atoms_changed(self):
        self.sq_atoms = self.atoms**2
        self.sq_norms = self.sq_atoms.sum(axis=1)
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
            if self.A is None or len(self.A) != self.capacity:
                self.A, self.B = np.zeros((2, self.capacity, self.dim))

    def _hyper_signature(self):
        return np.concatenate([self.mu0, self.s, self.s0])

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
            self.w[rows], self.c[rows] = core.isotropic_atom_terms(sums, counts, self.tables,
                                                                   self.mu0, self.ratio)
        else:
            A, B, c = core.atom_terms_from_tables(sums, counts, self.tables, self.mu0, self.s0,
                                                  self.s)
            self.A[rows], self.B[rows], self.c[rows] = A, B, c

    def _match_block(self, sl, L):
        if not self.isotropic:
            return core.match_costs(self.atoms[sl], self.A[:L], self.B[:L], self.c[:L])
        return core.isotropic_match_costs(self.atoms[sl], self.sq_norms[sl],
                                          self.atoms_dot_mu0[sl], self.sums[:L], self.w[:L],
                                          self.c[:L], self.ratio)

    def refresh_statistics(self):
        """Recompute the sums from scratch once per pass, so rounding cannot drift."""
        onehot = self._onehot()
        self.sums[: self.L] = onehot @ self.atoms
        self.sumsq[: self.L] = onehot @ self.sq_atoms
        self.counts[: self.L] = np.asarray(onehot.sum(axis=1)).ravel()
        self._refresh_rows(np.arange(self.L))

    def update_hyperparameters(self):
        L = self.L
        hyper = core.update_hyperparameters(self.sums[:L], self.sumsq[:L], self.counts[:L],
                                            self.per_dim, self.prior_dof)
        self.mu0, self.s0 = hyper.mu0, hyper.s0
        if hyper.s is not None:
            self.s = hyper.s
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
        """``mu0``, ``sigma``, ``sigma0`` (standard deviations) as length-D arrays."""
        return {"mu0": self.mu0.copy(), "sigma": np.sqrt(self.s), "sigma0": np.sqrt(self.s0)}


class FamilyState(_StateBase):
    """Bookkeeping of one fit for any :class:`spahm.families.Family` (the generic path).

    The global atoms keep the sums of their atoms' sufficient statistics and a cached log
    marginal likelihood, refreshed only for the rows a silo touches. A silo's match block is
    one vectorised call of the family's log marginal over ``(L_j, L)`` candidate sets.
    """

    _row_arrays = ("sums", "counts", "lml")

    def __init__(self, silos, variances, family, gamma0, popularity_cap, max_atoms,
                 prior_dof=None):
        self._init_common(silos, gamma0, popularity_cap, max_atoms)
        self.prior_dof = prior_dof
        self.variances = None if variances is None else np.vstack(variances)
        self.family = family
        self.sums = self.lml = None
        self._atoms_changed()

    def _atoms_changed(self):
        self.stats = self.family.statistics(self.atoms, self.variances)
        self.new_costs = _families.new_atom_costs(self.family, self.stats, self.gamma0,
                                                  self.n_silos)
        self.base = self.family.log_base_measure(self.atoms, self.variances)
        if self.sums is None:
            self.sums = np.zeros((self.capacity, self.stats.shape[1]))
            self.lml = np.zeros(self.capacity)

    def _hyper_signature(self):
        hp = self.family.hyperparameters()
        return np.concatenate([np.ravel(hp[k]) for k in sorted(hp)]) if hp else np.zeros(0)

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
        family = self.family.reestimate(self.atoms, self.variances, self.z, self.L, None,
                                        prior_dof=self.prior_dof)
        if family is not self.family:
            self.family = family
            self._atoms_changed()
            self.refresh_statistics()

    def objective(self):
        L = self.L
        return _families.objective(self.family, self.sums[:L], self.counts[:L], self.gamma0,
                                   self.n_silos, self.base)

    def global_atoms(self):
        return self.family.posterior_mean(self.sums[: self.L], self.counts[: self.L])

    def hyperparameters(self):
        return dict(self.family.hyperparameters())

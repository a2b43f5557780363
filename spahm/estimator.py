"""The SPAHM estimator and the functional ``match``: validation, canonical order, scale.

The formulas live in :mod:`spahm.core` and :mod:`spahm.families`, the bookkeeping of the
iterated Hungarian matching in :mod:`spahm._matching`. This module checks the input, puts
silos and atoms in a canonical order (so the result does not depend on their order),
standardises Gaussian atoms (so it does not depend on their scale), runs the passes and maps
the result back.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from . import core
from . import families as _families
from ._matching import FamilyState, GaussianState
from ._validation import (RANDOM_STATE, ParamValidationMixin, RealArray, check_finite,
                          check_local_atoms, check_local_variances, check_positive,
                          check_random_state)

#: Upper bound on ``n_init`` (restarts): each restart is a full fit, so a larger count is
#: almost surely a mistake that would run for hours.
MAX_N_INIT = 1000
#: Upper bound on ``n_iter`` (passes). Passes stop at a fixed point, usually within a few.
MAX_N_ITER = 10_000


def _canonical_order(silos, variances):
    """Canonical order of the silos and of the atoms inside each.

    Returns
    -------
    order : list of int
        Input index of the silo at each canonical position: largest silos first, silos of one
        size in lexicographic order of their sorted atoms (then variances).
    rows : list of ndarray
        For each input silo, the input row of each canonical row (atoms sorted
        lexicographically, ties broken by their variances).
    """
    keys, rows = [], []
    for j, atoms in enumerate(silos):
        key = atoms if variances is None else np.hstack([atoms, variances[j]])
        perm = np.argsort(key[:, 0], kind="stable")
        first = key[perm, 0]
        if np.any(first[1:] == first[:-1]):  # ties in the first column: full lexicographic sort
            perm = np.lexsort(key.T[::-1])
        rows.append(perm)
        keys.append(key[perm].ravel())
    sizes = np.array([len(a) for a in silos])
    order = []
    for size in np.unique(sizes)[::-1]:
        group = np.flatnonzero(sizes == size)
        order.extend(sorted(group.tolist(), key=lambda j: _Lexicographic(keys[j])))
    return order, rows


class _Lexicographic:
    """Sort key comparing two flat arrays lexicographically, at their first difference."""

    __slots__ = ("values",)

    def __init__(self, values):
        self.values = values

    def __lt__(self, other):
        differ = np.flatnonzero(self.values != other.values)
        return bool(differ.size) and bool(self.values[differ[0]] < other.values[differ[0]])


@dataclass
class _Problem:
    """A validated fit: silos in canonical order, standardised when Gaussian, and how to map
    the state's output back (``centre``, ``scale``, ``order``, ``rows``)."""

    silos: list
    variances: list | None
    order: list
    rows: list
    centre: float = 0.0
    scale: float = 1.0
    family: object = None          # None: the fast Gaussian path
    s: np.ndarray | float = 1.0    # fast path: standardised sigma^2, sigma0^2, mu0
    s0: np.ndarray | float = 1.0
    mu0: np.ndarray | float = 0.0
    per_dim: tuple = (False, False, False)
    offset: float = 0.0            # common local variance folded into sigma^2 (fast path)
    gaussian: bool = True

    def variances_to_standard(self, variances):
        """Variances in the atoms' units to standardised units (divided by scale twice, so
        that no square of the scale can overflow)."""
        return variances / self.scale / self.scale

    def new_state(self, gamma0, cap, max_atoms, prior_dof=None):
        if self.family is None:
            return GaussianState(self.silos, self.s, self.s0, self.mu0, self.per_dim, gamma0, cap,
                                 max_atoms, prior_dof)
        return FamilyState(self.silos, self.variances, self.family, gamma0, cap, max_atoms,
                           prior_dof)

    def to_input_order(self, assignments):
        """Canonical per-silo assignments back to input silos and input rows."""
        out = [None] * len(self.order)
        for position, j in enumerate(self.order):
            a = np.empty_like(assignments[position])
            a[self.rows[j]] = assignments[position]
            out[j] = a
        return out


# A variance relative to the atoms' squared spread outside this range leaves no headroom in
# the costs (they hold 1 / variance times sums of squares) before float64 overflows.
_RELATIVE_VARIANCE_RANGE = (1e-280, 1e280)


def _standardised_variance(value, scale, name):
    """``(value / scale)^2`` as float array; ``ValueError`` when it leaves the float range."""
    with np.errstate(over="ignore", under="ignore"):
        out = (np.asarray(value, dtype=float) / scale) ** 2
    low, high = _RELATIVE_VARIANCE_RANGE
    if not np.all(np.isfinite(out)) or np.any(out < low) or np.any(out > high):
        raise ValueError(
            f"{name}={value!r} is too far from the atoms' spread ({scale:.3g}): its square "
            "relative to that spread is outside the float range; give it in the atoms' units")
    return out


# The prior mean enters the costs squared over sigma0^2: one further than this many atoms'
# spreads from their centre leaves no headroom before float64 overflows.
_MAX_RELATIVE_MU0 = 1e130


def _standardised_mean(mu0, centre, scale):
    """``(mu0 - centre) / scale``; ``ValueError`` naming mu0 when it is too far away."""
    with np.errstate(over="ignore", invalid="ignore"):
        mu = (np.asarray(mu0, dtype=float) - centre) / scale
    if not np.all(np.abs(mu) <= _MAX_RELATIVE_MU0):
        raise ValueError(
            f"mu0={mu0!r} is too far from the atoms (centre {centre:.3g}, spread {scale:.3g}): "
            f"more than {_MAX_RELATIVE_MU0:.0e} spreads away, its squares in the costs would "
            "overflow float64; give it in the atoms' units")
    return mu


@contextmanager
def _within_float_range(problem):
    """Turn a float overflow in the matching into a ``ValueError`` naming the magnitudes
    (instead of numpy's warning or scipy's "cost matrix is infeasible")."""
    try:
        with np.errstate(over="raise", invalid="raise"):
            yield
    except (FloatingPointError, OverflowError) as exc:
        raise ValueError(_overflow_message(problem, exc)) from None
    except ValueError as exc:
        if "infeasible" not in str(exc):
            raise
        raise ValueError(_overflow_message(problem, exc)) from None


def _overflow_message(problem, exc):
    if isinstance(problem, list):  # before the problem is built: the input silos
        top = max(float(np.max(np.abs(s))) for s in problem)
        return (f"the local atoms (largest magnitude {top:.3g}) overflow float64 in the "
                f"family's statistics ({exc}); rescale them")
    top = max(float(np.max(np.abs(s))) for s in problem.silos)
    if problem.gaussian:
        return (f"the matching overflows float64 ({exc}): the local atoms (spread "
                f"{problem.scale:.3g}) and mu0, sigma, sigma0 or gamma0 are too far apart in "
                "magnitude; give the hyperparameters in the atoms' units")
    return (f"the matching overflows float64 ({exc}): the local atoms (largest magnitude "
            f"{top:.3g}) are too large for the {problem.family.name} family's costs; "
            "rescale them")


@dataclass(frozen=True)
class MatchResult:
    """What :func:`match` returns: the fitted attributes of :class:`SPAHM` without their
    trailing underscore (``global_atoms``, ``popularity``, ``assignments``,
    ``hyperparameters``, ``objective``, ``n_iter``, ``converged``; see there)."""

    global_atoms: np.ndarray
    popularity: np.ndarray
    assignments: list
    hyperparameters: dict
    objective: np.ndarray = field(repr=False)
    n_iter: int = 0
    converged: bool = False

    @property
    def n_global_atoms(self) -> int:
        return int(self.global_atoms.shape[0])


class SPAHM(ParamValidationMixin, BaseEstimator):
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
    n_iter : int in [0, 10000], default 10
        Most passes over the silos in random order after the initial pass. The passes stop
        earlier once one changes no grouping and leaves the hyperparameters as they were (a
        fixed point: further passes cannot change anything); ``converged_`` says so.
    optimize_hyperparameters : bool, default True
        Re-estimate ``mu0``, ``sigma`` and ``sigma0`` by empirical Bayes after each pass. A
        hyperparameter given as a scalar is re-estimated pooled over dimensions, one given as
        a length-D array per dimension. ``gamma0`` is never estimated.
    popularity_cap : int, default 10
        Cap on the count inside the popularity prior term only (as the authors' code).
    max_global_atoms : int or None, default None
        Upper bound on the number of global atoms; once reached, local atoms can only match.
        Must be at least the largest silo's number of atoms.
    n_init : int in [1, 1000], default 1
        Number of runs with different random visit orders; the run with the highest log
        posterior (:func:`spahm.core.objective`) is kept. The matching is a coordinate ascent
        and can stop in a local optimum; restarts guard against that, like k-means' ``n_init``.
        The first run's initial pass goes largest silo first (docs/method.md, 'The
        algorithm'), each later run's in a random order, so a restart can leave a poor first
        grouping; the first run is the same as with ``n_init=1``.
    random_state : None, int >= 0, numpy RandomState, Generator, BitGenerator or SeedSequence
        Seeds the order in which silos are revisited (a ``Generator`` or ``RandomState`` is
        advanced, as in scikit-learn).
    family : str or spahm.families.Family, default "gaussian"
        The conjugate family of the local atoms: a name in :data:`spahm.families.FAMILIES`
        (``"gaussian"``, ``"poisson"``, ``"bernoulli"``, ``"multinomial"``) with its default
        hyperparameters, or a family object. The name ``"gaussian"`` uses ``sigma``,
        ``sigma0`` and ``mu0`` above and the fast closed-form path; a family object carries
        its own hyperparameters (those three are then ignored). Only the Gaussian family
        re-estimates hyperparameters; the others keep theirs (``optimize_hyperparameters``
        has no effect on them).
    sigma_prior_dof : float >= 0 or None, default None
        Shrinkage of the empirical-Bayes ``sigma^2`` (pseudo degrees of freedom per
        dimension, :func:`spahm.core.update_hyperparameters`). None: the robust default,
        :data:`spahm.core.SIGMA_PRIOR_DOF` plus :data:`spahm.core.SINGLETON_DOF` per global
        atom left alone, so that one spurious pair cannot set ``sigma^2``. 0: the plain moment
        estimator of docs/method.md ('The algorithm') and the authors' released code. The
        default can hold ``sigma`` far below the truth when the local noise exceeds the
        spread of the global atoms and the initial ``sigma`` is small (few first matches, many
        single atoms, a smaller ``sigma``, fewer matches: the simulated experiment at sd 10);
        0 does not.

    Attributes
    ----------
    global_atoms_ : ndarray (L, D)
        Posterior means of the global atoms.
    popularity_ : ndarray (L,)
        Number of silos whose local atoms sit on each global atom.
    assignments_ : list of ndarray
        For each silo (input order), the global index of each of its local atoms.
    hyperparameters_ : dict
        Final ``mu0``, ``sigma``, ``sigma0`` (standard deviations) and ``gamma0``.
    objective_ : ndarray
        Log posterior (:func:`spahm.core.objective`) after the initial pass and after each
        pass run.
    n_iter_ : int
        Passes run after the initial pass (at most ``n_iter``).
    converged_ : bool
        Whether the last pass changed nothing (see ``n_iter``).

    Notes
    -----
    The result does not depend on the order of the silos nor on the order of the atoms in a
    silo: both are put in a canonical order inside (silos by size, largest first, then by
    their sorted atoms; atoms sorted) and the assignments are mapped back to the input order.

    Gaussian fusion is scale-free: the atoms are standardised inside (their entries' mean and
    standard deviation), so scaling every atom, ``sigma``, ``sigma0`` and ``mu0`` by ``a > 0``
    and translating the atoms and ``mu0`` by ``b`` scales and translates the global atoms
    and hyperparameters the same way, over the whole float range. Variance floors are
    relative to the atoms' spread. A ``ValueError`` names a hyperparameter whose square is
    outside the float range relative to that spread.

    One silo (J = 1) is legal: there is nothing to match, its atoms become the global atoms
    as they are (one global atom each, popularity 1; the hyperparameters are not estimated:
    with one silo they are not identifiable). A silo with no atoms is rejected: drop it
    before fusion.

    Uncertainty-aware fusion (``fit(local_atoms, local_variances=...)``, Gaussian family only):
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

    _parameter_constraints: dict = {
        "sigma": [Interval(Real, 0, None, closed="neither"), RealArray(positive=True)],
        "sigma0": [Interval(Real, 0, None, closed="neither"), RealArray(positive=True)],
        "mu0": [None, Interval(Real, None, None, closed="neither"), RealArray()],
        "gamma0": [Interval(Real, 0, None, closed="neither")],
        "n_iter": [Interval(Integral, 0, MAX_N_ITER, closed="both")],
        "optimize_hyperparameters": ["boolean"],
        "popularity_cap": [Interval(Integral, 1, None, closed="left")],
        "max_global_atoms": [None, Interval(Integral, 1, None, closed="left")],
        "n_init": [Interval(Integral, 1, MAX_N_INIT, closed="both")],
        "random_state": RANDOM_STATE,
        "family": [StrOptions(set(_families.FAMILIES)),
                   Hidden(StrOptions(set(_families.FAMILY_NAMES))), _families.Family],
        "sigma_prior_dof": [None, Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
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
        sigma_prior_dof=None,
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
        self.sigma_prior_dof = sigma_prior_dof

    # ------------------------------------------------------------------ validation
    def _validated(self, local_atoms):
        """Silos and the hyperparameters that depend on them (their types and ranges are
        ``_parameter_constraints``, checked before)."""
        silos = check_local_atoms(local_atoms)
        dim = silos[0].shape[1]
        sigma = check_positive(self.sigma, "sigma", dim)
        sigma0 = check_positive(self.sigma0, "sigma0", dim)
        mu0 = None if self.mu0 is None else check_finite(self.mu0, "mu0", dim)
        largest = max(len(s) for s in silos)
        max_atoms = self.max_global_atoms
        if max_atoms is not None and max_atoms < largest:
            j = int(np.argmax([len(s) for s in silos]))
            raise ValueError(
                f"max_global_atoms={max_atoms} is smaller than silo {j}'s {largest} local atoms; "
                "each global atom takes at most one atom per silo"
            )
        return silos, sigma, sigma0, mu0

    def _problem(self, silos, local_variances, sigma, sigma0, mu0):
        """Canonical order, family and (Gaussian) standardisation of validated silos."""
        family = _families.get_family(self.family)  # raises on unknown names
        variances = check_local_variances(local_variances, silos)
        if variances is not None and not family.supports_variances:
            raise ValueError(
                f"local_variances are supported by the Gaussian family only, not {family.name!r}")
        fast = isinstance(self.family, str) and self.family.lower() == "gaussian"
        if not fast:
            for j, atoms in enumerate(silos):
                family.check_silo(atoms, j)
        order, rows = _canonical_order(silos, variances)
        silos_c = [silos[j][rows[j]] for j in order]
        vars_c = None if variances is None else [variances[j][rows[j]] for j in order]
        problem = _Problem(silos_c, vars_c, order, rows)
        if not fast and type(family) is not _families.Gaussian:
            stacked = np.vstack(silos_c)
            problem.family = family.bind(stacked, None if vars_c is None else np.vstack(vars_c))
            problem.gaussian = False
            return problem
        if not fast:  # a Gaussian family object: its own hyperparameters
            dim = silos[0].shape[1]
            sigma = check_positive(family.sigma, "sigma", dim)
            sigma0 = check_positive(family.sigma0, "sigma0", dim)
            mu0 = None if family.mu0 is None else check_finite(family.mu0, "mu0", dim)
        if fast and vars_c is not None and np.ptp(np.vstack(vars_c)) == 0.0:
            # equal local variances c: plain SPAHM whose observation variance is sigma^2 + c
            problem.offset = float(vars_c[0].flat[0])
            with np.errstate(over="ignore"):
                total = np.sqrt(np.square(sigma) + problem.offset)
            # beyond 1e154 the square overflows: hypot is the same quantity without it
            sigma = total if np.all(np.isfinite(total)) else np.hypot(sigma,
                                                                      np.sqrt(problem.offset))
            vars_c = problem.variances = None
        stacked = np.vstack(silos_c)
        centre, scale = core.standardisation(stacked, fallback_scale=float(np.mean(sigma)))
        problem.centre, problem.scale = centre, scale
        problem.silos = [(x - centre) / scale for x in silos_c]
        if vars_c is not None:
            problem.variances = [problem.variances_to_standard(v) for v in vars_c]
        s = _standardised_variance(sigma, scale, "sigma")
        s0 = _standardised_variance(sigma0, scale, "sigma0")
        mu = 0.0 if mu0 is None else _standardised_mean(mu0, centre, scale)
        problem.per_dim = (np.ndim(mu0) == 1, np.ndim(sigma) == 1, np.ndim(sigma0) == 1)
        if fast and vars_c is None:
            problem.s, problem.s0, problem.mu0 = s, s0, mu
        else:
            problem.family = _families.Gaussian(np.sqrt(s), np.sqrt(s0), mu).bind(
                np.vstack(problem.silos), None if vars_c is None else np.vstack(problem.variances))
            problem.family.per_dim = problem.per_dim
        return problem

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, local_atoms, y=None, *, local_variances=None):
        """Fuse the silos' local atoms.

        Parameters
        ----------
        local_atoms : list of array-like, each of shape (L_j, D)
            One array per silo.
        y : None
            Ignored (scikit-learn's convention).
        local_variances : list of array-like or None
            Optional, Gaussian family only: each silo's local-atom variances ``tau`` as a
            scalar, shape (L_j,) or (L_j, D) (see Notes). ``None``: plain SPAHM.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            On any malformed input; the message names the silo or hyperparameter
            (``InvalidParameterError``, a ``ValueError``, for a hyperparameter of the wrong
            type or range). A failed fit leaves a fitted model as it was.
        """
        _check_y(y)
        silos, sigma, sigma0, mu0 = self._validated(local_atoms)
        with _within_float_range(silos):
            problem = self._problem(silos, local_variances, sigma, sigma0, mu0)
        rng = check_random_state(self.random_state)
        n_iter, n_init = (0, 1) if len(silos) == 1 else (self.n_iter, self.n_init)
        # (one silo: nothing to match; its atoms are the global atoms, see Notes)
        best = None
        # The per-silo products are small: one BLAS thread is faster than several, and much
        # faster when the cores are busy (threads spin-wait on each other).
        with threadpool_limits(limits=1, user_api="blas"), _within_float_range(problem):
            for restart in range(n_init):
                state = problem.new_state(float(self.gamma0), self.popularity_cap,
                                          self.max_global_atoms, self.sigma_prior_dof)
                objective, converged = state.run_passes(n_iter, rng,
                                                        self.optimize_hyperparameters,
                                                        shuffle_first=restart > 0)
                if best is None or objective[-1] > best[1][-1]:
                    best = (state, objective, converged)
            fitted = self._fitted(problem, *best)
        if len(silos) == 1:
            fitted["global_atoms_"] = silos[0][np.argsort(fitted["assignments_"][0])].copy()
            fitted["converged_"] = True
        self._set_fitted(problem, rng, fitted)
        return self

    def partial_fit(self, new_silos, y=None, *, local_variances=None):
        """Add new silos to a fitted model without refitting the others from scratch.

        The new silos are matched against the current global atoms (largest first), then up
        to ``n_iter`` passes over all silos refine the grouping as :meth:`fit` does. A model
        that is not fitted yet is fitted on ``new_silos``. All or nothing: when it raises, the
        model is exactly as it was before the call.

        Parameters
        ----------
        new_silos : list of array-like, each of shape (L_j, D)
            The new silos' local atoms (same ``D`` as the fitted ones).
        y : None
            Ignored (scikit-learn's convention).
        local_variances : list of array-like or None
            As in :meth:`fit`; allowed only when the model was fitted with variances.

        Returns
        -------
        self
            ``assignments_`` lists the old silos first, then the new ones in input order.
        """
        if not hasattr(self, "_problem_"):
            return self.fit(new_silos, local_variances=local_variances)
        self._validate_params()  # parameters may have been set since fit
        _check_y(y)
        # Work on copies and commit at the end, so that a failure changes nothing.
        problem, state = copy.copy(self._problem_), copy.deepcopy(self._state_)
        rng = copy.deepcopy(self._rng_)
        silos, *_ = self._validated(new_silos)
        dim = problem.silos[0].shape[1]
        if silos[0].shape[1] != dim:
            raise ValueError(f"new silos have atoms of dimension D={silos[0].shape[1]}, but the "
                             f"fitted silos have D={dim}")
        variances = check_local_variances(local_variances, silos)
        if (variances is not None) != (problem.variances is not None):
            raise ValueError("local_variances must be given for the new silos exactly when the "
                             "model was fitted with (unequal) local variances")
        if not problem.gaussian:
            for j, atoms in enumerate(silos):
                problem.family.check_silo(atoms, j)
        order, rows = _canonical_order(silos, variances)
        new = [(silos[j][rows[j]] - problem.centre) / problem.scale for j in order]
        new_vars = (None if variances is None
                    else [problem.variances_to_standard(variances[j][rows[j]]) for j in order])
        first = len(problem.order)
        problem.silos = problem.silos + new
        problem.order = problem.order + [first + j for j in order]
        problem.rows = problem.rows + rows
        if new_vars is not None:
            problem.variances = problem.variances + new_vars
        with threadpool_limits(limits=1, user_api="blas"), _within_float_range(problem):
            added = state.add_silos(new, new_vars)
            objective, converged = state.run_passes(self.n_iter, rng,
                                                    self.optimize_hyperparameters,
                                                    first_silos=added)
            fitted = self._fitted(problem, state, objective, converged)
        self._set_fitted(problem, rng, fitted)
        return self

    def _set_fitted(self, problem, rng, fitted):
        self._problem_, self._rng_ = problem, rng
        for name, value in fitted.items():
            setattr(self, name, value)

    @staticmethod
    def _fitted(problem, state, objective, converged):
        """The fitted attributes (in the atoms' units) of a finished matching ``state``."""
        scale, centre = problem.scale, problem.centre
        atoms = state.global_atoms()
        hp = state.hyperparameters()
        if problem.gaussian:
            shaped = lambda v, keep: np.asarray(v, dtype=float).copy() if keep else float(np.mean(v))  # noqa: E731
            keep_mu, keep_s, keep_s0 = problem.per_dim
            # sigma^2 - offset in standardised units, then scaled (no square of the scale)
            sigma = scale * np.sqrt(np.maximum(np.square(np.asarray(hp["sigma"]))
                                               - problem.variances_to_standard(problem.offset),
                                               core.VARIANCE_FLOOR))
            hp = {"mu0": shaped(np.asarray(hp["mu0"]) * scale + centre, keep_mu),
                  "sigma": shaped(sigma, keep_s),
                  "sigma0": shaped(np.asarray(hp["sigma0"]) * scale, keep_s0)}
        # the objective is a log density of the atoms: standardising divided them by scale
        jacobian = state.atoms.size * np.log(scale) if problem.gaussian else 0.0
        return {
            "_state_": state,
            "global_atoms_": atoms * scale + centre if problem.gaussian else atoms,
            "popularity_": state.counts[: state.L].astype(int),
            "assignments_": problem.to_input_order(state.assignments()),
            "hyperparameters_": {**hp, "gamma0": state.gamma0},
            "objective_": np.asarray(objective) - jacobian,
            "n_iter_": len(objective) - 1,
            "converged_": bool(converged),
        }

    @property
    def n_global_atoms_(self):
        check_is_fitted(self, "global_atoms_")
        return int(self.global_atoms_.shape[0])


def _check_y(y):
    if y is not None:
        raise ValueError("y must be None: SPAHM is unsupervised; pass the local atoms' "
                         "variances as local_variances=...")


def match(local_atoms, *, local_variances=None, **kwargs) -> MatchResult:
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
    model = SPAHM(**kwargs).fit(local_atoms, local_variances=local_variances)
    return MatchResult(
        global_atoms=model.global_atoms_,
        popularity=model.popularity_,
        assignments=model.assignments_,
        hyperparameters=model.hyperparameters_,
        objective=model.objective_,
        n_iter=model.n_iter_,
        converged=model.converged_,
    )



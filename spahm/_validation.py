"""Boundary checks: every bad input becomes a ``ValueError`` that names the silo and the problem.

Hyperparameters are declared once per estimator in ``_parameter_constraints`` (scikit-learn's
constraint language, :mod:`sklearn.utils._param_validation`) and checked at ``fit`` by
:class:`ParamValidationMixin`; :func:`check_params` checks a plain mapping (e.g. a config
section) against the same constraints and names the offending key.
"""
from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np
from sklearn.utils._param_validation import (Interval, InvalidParameterError, Options,
                                             validate_parameter_constraints)

__all__ = ["InvalidParameterError", "ParamValidationMixin", "RealArray", "RANDOM_STATE",
           "check_params"]


class RealArray(Options):
    """Constraint: a 1-D array-like of finite real numbers (``positive``: all > 0).

    A subclass of scikit-learn's ``Options`` only so that its validation accepts it as a
    constraint; it is satisfied by arrays, not by members of a set. Scalars, strings, bools,
    complex and object arrays are refused. The length (the atoms' dimension ``D``) is checked
    at ``fit``, where it is known.
    """

    def __init__(self, *, positive=False):
        super().__init__(type=object, options=set())
        self.positive = positive

    def is_satisfied_by(self, val):
        if np.isscalar(val) or isinstance(val, (str, bytes, Mapping)) or np.ndim(val) != 1:
            return False
        if any(isinstance(v, (bool, np.bool_, str, bytes)) for v in np.ravel(val)):
            return False
        try:
            arr = np.asarray(val)
        except (TypeError, ValueError):
            return False
        if arr.dtype.kind not in "iuf" or arr.size == 0 or np.ma.isMaskedArray(val):
            return False
        arr = arr.astype(np.float64)
        return bool(np.all(np.isfinite(arr)) and (not self.positive or np.all(arr > 0)))

    def __str__(self):
        what = "positive finite" if self.positive else "finite"
        return f"a 1-D array-like of {what} floats"


#: ``random_state`` as scikit-learn accepts it (None, a non-negative int, a ``RandomState``)
#: plus numpy's ``Generator``, ``BitGenerator`` and ``SeedSequence``.
RANDOM_STATE = [None, Interval(numbers.Integral, 0, None, closed="left"), np.random.RandomState,
                np.random.Generator, np.random.BitGenerator, np.random.SeedSequence]

# Constraints that a bool satisfies on purpose; any other constraint refuses bools (scikit-
# learn's Interval(Integral, ...) takes True for 1).
_BOOL_CONSTRAINTS = ("boolean", "verbose", bool, np.bool_, object)


def _allows_bool(constraints):
    return constraints == "no_validation" or any(
        any(c is b or (isinstance(c, str) and c == b) for b in _BOOL_CONSTRAINTS)
        for c in constraints)


def check_params(values, constraints, *, caller=None, prefix=""):
    """Check a mapping of parameter values against ``_parameter_constraints``.

    Parameters
    ----------
    values : mapping
        Name -> value (e.g. a config section as a plain dict). Names without a constraint are
        not checked.
    constraints : dict or estimator class or instance
        ``{name: [constraint, ...]}`` in scikit-learn's constraint language, or an object
        with ``_parameter_constraints``.
    caller : str or None
        Named in the message (the estimator's class name by default).
    prefix : str
        Put before each name in the message (e.g. ``"fusion."`` for a config key).

    Raises
    ------
    InvalidParameterError
        (a ``ValueError``) naming ``prefix + name``, the value and what was expected. A bool
        is refused where the constraints do not ask for one.
    """
    if not isinstance(constraints, Mapping):
        caller = caller or getattr(constraints, "__name__", type(constraints).__name__)
        constraints = constraints._parameter_constraints
    caller = caller or "the estimator"
    for name, value in values.items():
        if name not in constraints:
            continue
        rule = constraints[name]
        key = f"{prefix}{name}"
        if isinstance(value, (bool, np.bool_)) and not _allows_bool(rule):
            raise InvalidParameterError(
                f"The {key!r} parameter of {caller} must be a number, not a bool. "
                f"Got {value!r} instead.")
        try:
            validate_parameter_constraints({name: rule}, {name: value}, caller_name=caller)
        except InvalidParameterError as exc:
            message = str(exc) if not prefix else f"{key}: {exc}"
            raise InvalidParameterError(message) from None


class ParamValidationMixin:
    """``_validate_params`` through :func:`check_params` (so bools are refused as numbers).

    Put it before ``BaseEstimator`` in the bases of an estimator that declares
    ``_parameter_constraints``; ``sklearn.base._fit_context`` calls it at ``fit``.
    """

    def _validate_params(self):
        check_params(self.get_params(deep=False), self._parameter_constraints,
                     caller=type(self).__name__)


def as_real_array(value, what):
    """``value`` as a float64 array, read exactly or refused.

    Refused with a ``ValueError`` starting with ``what``: masked arrays (the mask would be
    dropped), sparse matrices, strings, bytes, complex numbers (the imaginary part would be
    dropped), dates and time spans (their numbers are a unit's count, not a quantity), object
    arrays holding anything but real numbers, and ragged nested lists. Integers, bools and
    floats of any width convert as numpy converts them.
    """
    if np.ma.isMaskedArray(value):
        raise ValueError(f"{what} is a masked array: drop or fill the masked entries first "
                         "(the mask would be ignored)")
    if hasattr(value, "toarray") and hasattr(value, "nnz"):
        raise ValueError(f"{what} is a sparse matrix: convert it with .toarray()")
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{what}: expected numbers, got a string")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: not a rectangular array of numbers ({exc})") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise ValueError(f"{what} holds complex numbers; expected real numbers (the imaginary "
                         "part would be dropped)")
    if kind in "mM":
        raise ValueError(f"{what} holds dates or time spans ({arr.dtype}); convert them to "
                         "numbers in the unit you mean first")
    if kind in "USV":
        raise ValueError(f"{what} holds {arr.dtype} values, not numbers")
    if kind == "O":
        bad = next((v for v in arr.ravel() if isinstance(v, (bool, np.bool_))
                    or not isinstance(v, (numbers.Real, np.number))
                    or isinstance(v, np.complexfloating)), None)
        if bad is not None:
            raise ValueError(f"{what} holds {type(bad).__name__} values, not real numbers")
    try:
        with np.errstate(over="raise"):
            return arr.astype(np.float64)
    except (TypeError, ValueError, OverflowError, FloatingPointError) as exc:
        raise ValueError(f"{what}: not representable as float64 numbers ({exc})") from None


def check_local_atoms(local_atoms, name="local_atoms"):
    """Return the silos as a list of float64 arrays of shape (L_j, D).

    Raises
    ------
    ValueError
        No silos; a silo that is not 2-D, has no atoms, is not numeric or holds NaN/inf;
        silos whose dimensions differ.
    """
    if isinstance(local_atoms, np.ndarray) and local_atoms.ndim == 2:
        raise ValueError(
            f"{name} is a single 2-D array; expected a list of J arrays of shape (L_j, D), "
            "one per silo (wrap a single silo as [atoms])"
        )
    if isinstance(local_atoms, (set, frozenset, Mapping, str, bytes)):
        raise ValueError(f"{name} must be a list of arrays of shape (L_j, D), one per silo; got "
                         f"a {type(local_atoms).__name__} (unordered or not a sequence)")
    try:
        silos = list(local_atoms)
    except TypeError:
        raise ValueError(
            f"{name} must be a list of arrays of shape (L_j, D), one per silo; "
            f"got {type(local_atoms).__name__}"
        ) from None
    if not silos:
        raise ValueError(f"{name} is empty: expected at least one silo, an array of shape (L_j, D)")
    checked = []
    dim = None
    for j, silo in enumerate(silos):
        if isinstance(silo, (str, bytes)):
            raise ValueError(f"silo {j}: expected a numeric array of shape (L_j, D), got a string")
        if silo is None:
            raise ValueError(f"silo {j} is None: expected a numeric array of shape (L_j, D)")
        if isinstance(silo, (Mapping, set, frozenset)):
            raise ValueError(f"silo {j}: local atoms must be numeric with shape (L_j, D), got a "
                             f"{type(silo).__name__}")
        arr = as_real_array(silo, f"silo {j}: local atoms")
        if arr.ndim != 2:
            raise ValueError(
                f"silo {j}: expected a 2-D array of shape (L_j, D), got {arr.ndim}-D with shape "
                f"{arr.shape}" + (" (reshape a single atom as (1, D))" if arr.ndim == 1 else "")
            )
        if arr.shape[0] == 0:
            raise ValueError(
                f"silo {j} has 0 local atoms; drop empty silos before fusion (a silo must "
                "contribute at least one atom)"
            )
        if arr.shape[1] == 0:
            raise ValueError(f"silo {j}: atoms have dimension 0")
        if dim is None:
            dim = arr.shape[1]
        elif arr.shape[1] != dim:
            raise ValueError(
                f"silo {j} has atoms of dimension D={arr.shape[1]}, but silo 0 has D={dim}"
            )
        bad = ~np.isfinite(arr)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ValueError(
                f"silo {j}: local atom {row} has a non-finite value ({arr[row, col]}) in "
                f"dimension {col}"
            )
        checked.append(arr)
    return checked


def check_positive(value, name, dim, allow_none=False):
    """A positive finite scalar or length-``dim`` vector, returned as float or 1-D array."""
    if value is None:
        if allow_none:
            return None
        raise ValueError(f"{name} is required")
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a positive number or length-D array, got {value!r}")
    arr = as_real_array(value, name)
    if arr.ndim == 0:
        pass
    elif arr.ndim == 1 and arr.shape[0] == dim:
        pass
    else:
        raise ValueError(f"{name} must be a scalar or have length D={dim}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return float(arr) if arr.ndim == 0 else arr


def check_finite(value, name, dim):
    """A finite scalar or length-``dim`` vector (e.g. the prior mean ``mu0``)."""
    arr = as_real_array(value, name)
    if not (arr.ndim == 0 or (arr.ndim == 1 and arr.shape[0] == dim)):
        raise ValueError(f"{name} must be a scalar or have length D={dim}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(arr) if arr.ndim == 0 else arr


def check_random_state(value, name="random_state"):
    """A numpy ``Generator`` from what :data:`RANDOM_STATE` allows.

    ``None``, a non-negative integer, a ``SeedSequence`` or a ``BitGenerator`` seed a new
    ``Generator``; a ``Generator`` is returned as is (and advanced by its user); a legacy
    ``RandomState`` is advanced by one draw that seeds a new ``Generator`` (so, as in
    scikit-learn, reusing it gives different but reproducible results). Anything else raises
    ``ValueError`` naming ``name``.
    """
    if isinstance(value, np.random.Generator):
        return value
    if value is None or isinstance(value, (np.random.SeedSequence, np.random.BitGenerator)):
        return np.random.default_rng(value)
    if isinstance(value, np.random.RandomState):
        return np.random.default_rng(value.randint(0, 2**32, size=4, dtype=np.uint64))
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)) \
            and value >= 0:
        return np.random.default_rng(int(value))
    raise ValueError(f"{name} must be None, a non-negative integer, a numpy Generator or "
                     f"RandomState, got {value!r}")


def check_int(value, name, minimum, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_local_variances(local_variances, silos, name="local_variances"):
    """Each silo's local-atom variances as an array of shape (L_j, D), or ``None``.

    A silo's entry may be a scalar (one variance for all its atoms), shape (L_j,) (one per
    atom) or (L_j, D) (per atom and dimension); values must be finite and >= 0.

    Raises
    ------
    ValueError
        Wrong number of entries, a shape that does not fit the silo, negative or non-finite
        values; the message names the silo.
    """
    if local_variances is None:
        return None
    if isinstance(local_variances, np.ndarray) and local_variances.ndim >= 2:
        raise ValueError(f"{name} is a single array; expected a list of J arrays, one per silo")
    try:
        entries = list(local_variances)
    except TypeError:
        raise ValueError(f"{name} must be a list with one array per silo, got "
                         f"{type(local_variances).__name__}") from None
    if len(entries) != len(silos):
        raise ValueError(f"{name} has {len(entries)} entries but there are {len(silos)} silos")
    out = []
    for j, (var, atoms) in enumerate(zip(entries, silos)):
        n, dim = atoms.shape
        arr = as_real_array(var, f"silo {j}: {name}")
        if arr.ndim == 0:
            arr = np.full((n, dim), float(arr))
        elif arr.shape == (n,) or arr.shape == (n, 1):
            arr = np.repeat(arr.reshape(n, 1), dim, axis=1)
        elif arr.shape != (n, dim):
            raise ValueError(
                f"silo {j}: {name} has shape {arr.shape}; expected a scalar, ({n},) or "
                f"({n}, {dim}) for its {n} local atoms of dimension {dim}")
        bad = ~np.isfinite(arr) | (arr < 0)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ValueError(
                f"silo {j}: {name} of local atom {row} is {arr[row, col]} in dimension {col}; "
                "variances must be finite and >= 0")
        out.append(arr)
    return out


def check_weights(weights, n, what="model"):
    """``n`` positive finite per-silo weights (e.g. silo sizes) as a float array.

    Raises
    ------
    ValueError
        Wrong length, non-numeric, complex, non-finite or non-positive values.
    """
    w = None
    if not np.iscomplexobj(weights) and not isinstance(weights, (str, bytes)):
        try:
            w = np.asarray(weights, dtype=float)
        except (TypeError, ValueError):
            w = None
    if w is None or w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError(f"weights must be {n} positive finite numbers, one per {what} "
                         f"(e.g. silo sizes), got {weights!r}")
    return w

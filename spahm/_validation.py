"""Boundary checks: every bad input becomes a ``ValueError`` that names the silo and the problem."""
from __future__ import annotations

import numbers

import numpy as np


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
        if np.iscomplexobj(silo):
            raise ValueError(f"silo {j}: local atoms are complex; expected real numbers "
                             "(complex values would be truncated to their real part)")
        try:
            arr = np.asarray(silo, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"silo {j}: local atoms must be numeric with shape (L_j, D) ({exc})"
            ) from None
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
    if np.iscomplexobj(value):
        raise ValueError(f"{name} must be real, got complex {value!r}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number or length-D array, got {value!r}") from None
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
    if np.iscomplexobj(value):
        raise ValueError(f"{name} must be real, got complex {value!r}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or length-D array, got {value!r}") from None
    if not (arr.ndim == 0 or (arr.ndim == 1 and arr.shape[0] == dim)):
        raise ValueError(f"{name} must be a scalar or have length D={dim}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(arr) if arr.ndim == 0 else arr


def check_random_state(value, name="random_state"):
    """A numpy ``Generator`` from ``None``, a non-negative integer, a ``SeedSequence`` or a
    ``Generator`` (returned as is); anything else raises ``ValueError`` naming ``name``."""
    if isinstance(value, np.random.Generator):
        return value
    if value is None or isinstance(value, (np.random.SeedSequence, np.random.BitGenerator)):
        return np.random.default_rng(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0:
        return np.random.default_rng(int(value))
    raise ValueError(f"{name} must be None, a non-negative integer or a numpy Generator, "
                     f"got {value!r}")


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
        if np.iscomplexobj(var):
            raise ValueError(f"silo {j}: {name} are complex; expected real variances")
        try:
            arr = np.asarray(var, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"silo {j}: {name} must be numeric") from None
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

"""Command line: ``spahm fuse a.npy b.csv ... -o fused.npz``.

Each input file holds one silo's local atoms, one atom per row (``.npy``; ``.npz`` with one
array or an ``atoms`` array; ``.csv`` comma-separated, ``.txt``/``.tsv``/``.dat`` whitespace-
separated, an optional header line is skipped). The output ``.npz`` holds

- ``global_atoms`` (L, D), ``popularity`` (L,);
- ``assignments``: the global index of every local atom, all silos concatenated in input order,
  with ``silo_sizes`` to split them, and ``assignments_<j>`` per silo;
- ``files`` (the input paths), ``objective`` and the final hyperparameters as ``hp_<name>``.

It is written to a temporary file beside the target and renamed into place.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import families
from .estimator import match

_TEXT_DELIMITERS = {".csv": ",", ".txt": None, ".tsv": "\t", ".dat": None}


class InputError(ValueError):
    """A file that cannot be used; the message names the file."""


def _load_text(path, delimiter):
    def read(skip):
        return np.loadtxt(path, delimiter=delimiter, ndmin=2, skiprows=skip, dtype=np.float64)

    if not Path(path).read_text(errors="replace").strip():
        raise InputError(f"{path}: holds no atoms (empty file)")
    try:
        return read(0)
    except ValueError as first:
        try:
            return read(1)  # a header line
        except ValueError:
            raise InputError(f"{path}: not a numeric table ({first})") from None


def load_atoms(path):
    """One silo's local atoms from ``path`` as a float array (L_j, D); ``InputError`` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                keys = list(z.files)
                if "atoms" in keys:
                    arr = z["atoms"]
                elif len(keys) == 1:
                    arr = z[keys[0]]
                else:
                    raise InputError(f"{path}: holds arrays {keys}; expected one array or one "
                                     "named 'atoms'")
        elif suffix in _TEXT_DELIMITERS:
            arr = _load_text(path, _TEXT_DELIMITERS[suffix])
        else:
            raise InputError(f"{path}: unknown file type {suffix or '(none)'}; expected .npy, "
                             f".npz, {', '.join(_TEXT_DELIMITERS)}")
    except InputError:
        raise
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot be read as an array ({exc})") from None
    try:
        arr = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{path}: not numeric (dtype {arr.dtype})") from None
    if arr.ndim != 2:
        raise InputError(f"{path}: expected a 2-D array (one atom per row), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"{path}: holds no atoms (shape {arr.shape})")
    bad = ~np.isfinite(arr)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(f"{path}: atom {row} has a non-finite value in column {col}")
    return arr


def save_result(path, result, files):
    """Write the fusion result to ``path`` (.npz) atomically: temporary file, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "global_atoms": result.global_atoms,
        "popularity": result.popularity,
        "assignments": np.concatenate(result.assignments),
        "silo_sizes": np.array([len(a) for a in result.assignments]),
        "files": np.array([str(f) for f in files]),
        "objective": result.objective,
    }
    for j, a in enumerate(result.assignments):
        arrays[f"assignments_{j}"] = a
    for name, value in result.hyperparameters.items():
        arrays[f"hp_{name}"] = np.asarray(value, dtype=np.float64)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _parser():
    parser = argparse.ArgumentParser(prog="spahm", description="SPAHM model fusion.")
    sub = parser.add_subparsers(dest="command", required=True)
    fuse = sub.add_parser("fuse", help="fuse local atoms stored in files (one file per silo)",
                          description=__doc__.split("\n\n")[1])
    fuse.add_argument("files", nargs="+", help="one file of local atoms per silo")
    fuse.add_argument("-o", "--output", required=True, help="output .npz")
    fuse.add_argument("--variances", nargs="+", default=None,
                      help="one file per silo with its atoms' variances (Gaussian family)")
    fuse.add_argument("--family", default="gaussian", help=f"one of {sorted(families.FAMILIES)}")
    fuse.add_argument("--sigma", type=float, default=1.0)
    fuse.add_argument("--sigma0", type=float, default=1.0)
    fuse.add_argument("--gamma0", type=float, default=1.0)
    fuse.add_argument("--n-iter", type=int, default=10)
    fuse.add_argument("--n-init", type=int, default=1)
    fuse.add_argument("--no-optimize", action="store_true",
                      help="keep sigma, sigma0 and mu0 fixed (no empirical Bayes)")
    fuse.add_argument("--seed", type=int, default=0)
    return parser


def _name_silos(message, files):
    """Append the file name to every 'silo j' in a message from the core."""
    return re.sub(r"silo (\d+)", lambda m: f"silo {m.group(1)} ({files[int(m.group(1))]})"
                  if int(m.group(1)) < len(files) else m.group(0), message)


def fuse(args):
    silos = [load_atoms(f) for f in args.files]
    dims = {f: s.shape[1] for f, s in zip(args.files, silos)}
    if len(set(dims.values())) > 1:
        first = args.files[0]
        other = next(f for f in args.files if dims[f] != dims[first])
        raise InputError(f"{other}: atoms have dimension {dims[other]}, but {first} has "
                         f"{dims[first]}")
    variances = None
    if args.variances is not None:
        if len(args.variances) != len(args.files):
            raise InputError(f"--variances has {len(args.variances)} files for "
                             f"{len(args.files)} atom files")
        variances = []
        for f, s in zip(args.variances, silos):
            v = load_atoms(f)
            variances.append(v[:, 0] if v.shape[1] == 1 else v)
    result = match(silos, local_variances=variances, family=args.family, sigma=args.sigma,
                   sigma0=args.sigma0, gamma0=args.gamma0, n_iter=args.n_iter, n_init=args.n_init,
                   optimize_hyperparameters=not args.no_optimize, random_state=args.seed)
    save_result(args.output, result, args.files)
    n_local = sum(len(s) for s in silos)
    print(f"{result.n_global_atoms} global atoms from {n_local} local atoms in {len(silos)} "
          f"silos -> {args.output}")
    return result


def main(argv=None):
    """Entry point of the ``spahm`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "fuse":
            fuse(args)
    except InputError as exc:
        print(f"spahm: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        files = list(args.files)
        print(f"spahm: error: {_name_silos(str(exc), files)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

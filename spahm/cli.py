"""Command line: ``spahm fuse a.npy b.csv ... -o fused.npz`` (the text is :data:`FUSE_HELP`)."""
from __future__ import annotations

import argparse
import os
import re
import stat
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from . import families
from ._validation import InvalidParameterError, as_real_array
from .estimator import match

_TEXT_DELIMITERS = {".csv": ",", ".txt": None, ".tsv": "\t", ".dat": None}

#: ``spahm fuse --help`` (plain text: argparse prints it as is).
FUSE_HELP = """\
Fuse the local atoms of several silos with SPAHM (one input file per silo).

Input: each file holds one silo's local atoms, one atom per row:
  .npy                   a 2-D array
  .npz                   one array, or an array named 'atoms'
  .csv                   comma-separated
  .txt, .tsv, .dat       whitespace- or tab-separated
Text files are UTF-8 (a leading byte-order mark is allowed) and read strictly: every
field is a decimal number such as 3, -0.5 or 1.2e-3 (no 0x10, 1_000 or 1,5), every row
has the same number of fields, blank lines are skipped. A first line is a header only
with --header, or when every one of its fields is a name (a letter or _ first, e.g.
x,y or dim_1) and it is not a number; anything else that does not parse is an error
naming the file, line and field. --no-header reads the first line as data.

Output (-o): one .npz file holding
  global_atoms           (L, D) the fused atoms (posterior means)
  popularity             (L,) how many silos use each global atom
  assignments            global index of every local atom, all silos concatenated in
                         input order; silo_sizes splits them; assignments_<j> per silo
  files                  the input paths
  objective              log posterior after the initial pass and after each pass run
                         (one value per pass; passes stop early once one changes nothing)
  n_iter, converged      passes run, and whether the last one changed nothing
  hp_<name>              final hyperparameters (mu0, sigma, sigma0, gamma0, ...)
It is written to a temporary file beside the target and renamed into place; an
overwritten file keeps its permissions, a new one gets the usual ones (0666 less the
umask). The output must be a new name or an existing regular file (not a device,
pipe, directory or symbolic link) and may not be one of the input files. '-o DIR/'
(trailing slash) writes DIR/fused.npz.

Example:
  spahm fuse silo_a.npy silo_b.csv -o fused.npz --sigma 0.5 --gamma0 2
"""

#: File name used when ``-o`` names a directory (``-o results/``).
DEFAULT_OUTPUT_NAME = "fused.npz"


class InputError(ValueError):
    """A file that cannot be used; the message names the file."""


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)",
                     re.IGNORECASE)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def _fields(line, delimiter):
    return [f.strip() for f in (line.split() if delimiter is None else line.split(delimiter))]


def _load_text(path, delimiter, header=None):
    """A text table read strictly (see FUSE_HELP); ``header`` True, False or None (auto)."""
    raw = Path(path).read_bytes()
    if b"\0" in raw:
        raise InputError(f"{path}: holds NUL bytes; not a text table")
    try:
        text = raw.decode("utf-8-sig")  # a leading byte-order mark is an encoding marker
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise InputError(f"{path}: holds no atoms (empty file)")
    rows = [(n, _fields(line, delimiter)) for n, line in lines]
    first = rows[0][1]
    if header is None:
        header = all(_NAME.fullmatch(f) and not _NUMBER.fullmatch(f) for f in first)
    if header:
        rows = rows[1:]
        if not rows:
            raise InputError(f"{path}: holds a header line and no atoms")
    width = len(rows[0][1])
    for n, fields in rows:
        if len(fields) != width:
            raise InputError(f"{path}: line {n} has {len(fields)} fields, line {rows[0][0]} has "
                             f"{width}")
        for k, f in enumerate(fields):
            if not _NUMBER.fullmatch(f):
                hint = (" (a header line must hold only names, or pass --header)"
                        if n == lines[0][0] else "")
                raise InputError(f"{path}: line {n}, field {k + 1}: {f!r} is not a decimal "
                                 f"number{hint}")
    return np.array([[float(f) for f in fields] for _, fields in rows], dtype=np.float64)


def load_atoms(path, header=None):
    """One silo's local atoms from ``path`` as a float array (L_j, D); ``InputError`` otherwise.

    ``header`` (text files): True skips the first line, False reads it as data, None (the
    default) skips it only when every field is a name (see :data:`FUSE_HELP`).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
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
            arr = _load_text(path, _TEXT_DELIMITERS[suffix], header)
        else:
            raise InputError(f"{path}: unknown file type {suffix or '(none)'}; expected .npy, "
                             f".npz, {', '.join(_TEXT_DELIMITERS)}")
    except InputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: cannot be read as an array ({exc})") from None
    try:
        arr = as_real_array(arr, str(path))
    except ValueError as exc:
        raise InputError(str(exc)) from None
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
        "n_iter": np.asarray(result.n_iter),
        "converged": np.asarray(result.converged),
    }
    for j, a in enumerate(result.assignments):
        arrays[f"assignments_{j}"] = a
    for name, value in result.hyperparameters.items():
        arrays[f"hp_{name}"] = np.asarray(value, dtype=np.float64)
    for name, value in arrays.items():
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise ValueError(f"the fusion result's {name} is not finite; nothing was written")
    mode = _output_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _output_mode(path):
    """Permission bits for the output: those of the file it replaces, else 0666 less the
    umask (what ``open`` gives a new file; ``mkstemp`` alone would give 0600)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def _parser():
    parser = argparse.ArgumentParser(prog="spahm", description="SPAHM model fusion.")
    sub = parser.add_subparsers(dest="command", required=True)
    fuse = sub.add_parser("fuse", help="fuse local atoms stored in files (one file per silo)",
                          description=FUSE_HELP,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    fuse.add_argument("files", nargs="+", help="one file of local atoms per silo")
    fuse.add_argument("-o", "--output", required=True,
                      help="output .npz file, or DIR/ to write DIR/" + DEFAULT_OUTPUT_NAME)
    fuse.add_argument("--variances", nargs="+", default=None,
                      help="one file per silo with its atoms' variances (Gaussian family): "
                           "one column (one variance per atom) or one per dimension")
    fuse.add_argument("--family", default="gaussian",
                      help=f"conjugate family of the atoms, one of {sorted(families.FAMILIES)} "
                           "(default: gaussian)")
    fuse.add_argument("--sigma", type=float, default=1.0,
                      help="initial sd of a local atom around its global atom (default: 1)")
    fuse.add_argument("--sigma0", type=float, default=1.0,
                      help="initial sd of the global atoms around their mean (default: 1)")
    fuse.add_argument("--gamma0", type=float, default=1.0,
                      help="mass of the Beta process: larger opens new global atoms more "
                           "readily (default: 1)")
    fuse.add_argument("--n-iter", type=int, default=10,
                      help="most passes over the silos after the initial one (default: 10)")
    fuse.add_argument("--n-init", type=int, default=1,
                      help="restarts; the first goes largest silo first, the others from random "
                           "orders; the highest log posterior is kept (default: 1)")
    fuse.add_argument("--no-optimize", action="store_true",
                      help="keep sigma, sigma0 and mu0 fixed (no empirical Bayes)")
    fuse.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                      help="text files: --header skips every file's first line, --no-header "
                           "reads it as data (default: skipped only when all its fields are "
                           "names)")
    fuse.add_argument("--seed", type=int, default=0,
                      help="seed of the order in which silos are revisited (default: 0)")
    return parser


def _name_silos(message, files):
    """Append the file name to every 'silo j' in a message from the core."""
    return re.sub(r"silo (\d+)", lambda m: f"silo {m.group(1)} ({files[int(m.group(1))]})"
                  if int(m.group(1)) < len(files) else m.group(0), message)


#: SPAHM parameter -> the option that sets it.
_OPTIONS = {"n_iter": "--n-iter", "n_init": "--n-init", "random_state": "--seed",
            "optimize_hyperparameters": "--no-optimize"}


def _name_options(message):
    """scikit-learn's "The 'n_init' parameter of SPAHM must be ..." as "--n-init must be ..."."""
    return re.sub(r"The '(\w+)' parameter of SPAHM",
                  lambda m: _OPTIONS.get(m.group(1), "--" + m.group(1).replace("_", "-")),
                  message)


def output_path(output, inputs):
    """The file to write for ``-o output``; ``InputError`` when it cannot or must not be used.

    ``DIR/`` (trailing separator) means ``DIR/fused.npz``; an empty name, an existing
    directory, or a path that is one of the ``inputs`` is refused.
    """
    if not str(output).strip():
        raise InputError("-o/--output is empty: give a file name such as fused.npz")
    text = str(output)
    path = Path(text)
    if text.endswith(("/", os.sep)):
        if path.exists() and not path.is_dir():
            raise InputError(f"{text}: ends with '/' but is a file, not a directory")
        path = path / DEFAULT_OUTPUT_NAME
    elif path.is_dir():
        raise InputError(f"{text}: is a directory; give a file name, or end it with '/' to "
                         f"write {DEFAULT_OUTPUT_NAME} into it")
    if path.is_symlink():
        raise InputError(f"{path}: is a symbolic link; give the path of a regular file (or a "
                         "new name)")
    if path.exists() and not path.is_file():
        raise InputError(f"{path}: exists and is not a regular file (a device, pipe or "
                         "socket); give a new name or a regular file")
    target = path.resolve()
    for f in inputs:
        if Path(f).resolve() == target:
            raise InputError(f"{text}: is one of the input files; choose another output name "
                             "(it would be overwritten)")
    return path


def fuse(args):
    if args.seed < 0:
        raise InputError(f"--seed must be a non-negative integer, got {args.seed}")
    inputs = list(args.files) + list(args.variances or [])
    output = output_path(args.output, inputs)
    silos = [load_atoms(f, args.header) for f in args.files]
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
            v = load_atoms(f, args.header)
            variances.append(v[:, 0] if v.shape[1] == 1 else v)
    result = match(silos, local_variances=variances, family=args.family, sigma=args.sigma,
                   sigma0=args.sigma0, gamma0=args.gamma0, n_iter=args.n_iter, n_init=args.n_init,
                   optimize_hyperparameters=not args.no_optimize, random_state=args.seed)
    try:
        save_result(output, result, args.files)
    except OSError as exc:
        raise InputError(f"{output}: cannot be written ({exc.strerror or exc})") from None
    n_local = sum(len(s) for s in silos)
    print(f"{result.n_global_atoms} global atoms from {n_local} local atoms in {len(silos)} "
          f"silos -> {output}")
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
    except InvalidParameterError as exc:
        print(f"spahm: error: {_name_options(str(exc))}", file=sys.stderr)
        return 2
    except ValueError as exc:
        files = list(args.files)
        print(f"spahm: error: {_name_silos(str(exc), files)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

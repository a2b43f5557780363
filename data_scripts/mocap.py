"""Install mocap6: six CMU motion-capture exercise sequences with hand-labelled behaviours.

Subjects 13 and 14 of the CMU Graphics Lab Motion Capture Database, as preprocessed by
E. Fox et al. (AoAS 2014) and distributed with the NPBayesHMM toolbox (BSD-3-Clause,
(c) M. C. Hughes), folder ``data/mocap6``: one ``<name>.dat`` per sequence (12 features per
frame), ``zTrue.dat`` (behaviour 1..12 of every frame), ``SeqNames.txt``, ``BehaviorNames.txt``.

Usage::

    python -m data_scripts.mocap                             # download from the canonical URL
    python -m data_scripts.mocap --from ../shared/data/mocap6
    python -m data_scripts.mocap --target data/mocap6

All nine files are fetched and checked against their sha256 before anything is written; each
is then written to a temporary name in the target folder and renamed into place.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from data_scripts._common import REPO_DATA, InstallError, cli, fetch, verify, write_atomic

BASE_URL = "https://raw.githubusercontent.com/michaelchughes/NPBayesHMM/master/data/mocap6/"
DEFAULT_TARGET = REPO_DATA / "mocap6"
SHA256 = {
    "13_29.dat": "e6524e54023e293e16ab75c3aa19c166f6954303c021166fbd57ad7639fb4cf4",
    "13_30.dat": "36537f85576be06919be5e408e81288c1dd5d3d1fa0d53d41bb6323e9f391e69",
    "13_31.dat": "d949881618d926382d7e355e01e2cc189371951bd5b4385c1fb0912218f5f20a",
    "14_06.dat": "1afd45b0eec22df8741ef2a8f4f70c39392127299ac602e561a675675f7c58cd",
    "14_14.dat": "2c9633e664abe9971051d4a625fc3da7c784dcd476c07400fb7b7cb8f9aaac66",
    "14_20.dat": "65a0dfa0eb8ae78ea8f2ee0ce22e7d092a4c687298a900acdb8f738245f913a0",
    "BehaviorNames.txt": "4b6aa25e63ba6519a441a9ad26c16aac530327df25a727c9ed5bc96ffe5a6d3f",
    "SeqNames.txt": "cb1d0eb8719fe90d7b30e34b20bba4a7b554c3871fceb80e527f3cd977082530",
    "zTrue.dat": "cf355c7f443c52f35849c431eee0fb4de17fbfc7dade9608e524c086a15daf33",
}


def read_local(folder) -> dict:
    """Bytes of every expected file in ``folder``; names every missing file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InstallError(f"{folder} is not a folder")
    missing = [name for name in SHA256 if not (folder / name).is_file()]
    if missing:
        raise InstallError(f"{folder}: missing {', '.join(missing)}")
    return {name: (folder / name).read_bytes() for name in SHA256}


def download(base_url=BASE_URL, timeout=60) -> dict:
    """Bytes of every expected file under ``base_url``."""
    return {name: fetch(base_url.rstrip("/") + "/" + name, timeout) for name in SHA256}


def install(files: dict, target) -> Path:
    """Check all nine files, then write each into ``target`` atomically. Returns ``target``."""
    missing = [name for name in SHA256 if name not in files]
    if missing:
        raise InstallError(f"mocap6: missing {', '.join(missing)}")
    verify(files, SHA256, "mocap6")
    for name in SHA256:
        write_atomic(Path(target) / name, files[name])
    return Path(target)


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, default=None,
                        help="local folder holding the nine mocap6 files (instead of downloading)")
    parser.add_argument("--url", default=BASE_URL,
                        help=f"base URL to download from (default {BASE_URL})")
    parser.add_argument("--target", type=Path, default=DEFAULT_TARGET,
                        help="folder to install into (default: data/mocap6 at the repo root)")
    args = parser.parse_args(argv)
    files = read_local(args.source) if args.source is not None else download(args.url)
    out = install(files, args.target)
    print(f"installed {len(SHA256)} files into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

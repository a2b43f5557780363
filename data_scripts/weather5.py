"""Install weather5: daily weather of five cities, 2016-2017 (offline temperature profile).

The table is the ``Weather`` data set of the R package mosaicData (Weather Underground daily
summaries of Auckland, Beijing, Chicago, Mumbai and San Diego), redistributed by Rdatasets.

Usage::

    python -m data_scripts.weather5                      # download the canonical CSV
    python -m data_scripts.weather5 --from ../shared/data/weather5
    python -m data_scripts.weather5 --target data/weather5

The canonical file has a leading ``rownames`` column; the copy in the shared data folder
does not. Both are accepted; the installed ``Weather.csv`` never has it. Every file is
checked by content (the expected columns, five cities, 731 days each). A file without
``rownames`` must also match the sha256 of the shared copy; a file with ``rownames`` is
compared after dropping that column (and R's ``NA`` for missing values), and a mismatch is
only reported, since Rdatasets may format numbers differently. The file is written to a
temporary name and renamed.
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import pandas as pd

from data_scripts._common import REPO_DATA, InstallError, cli, fetch, sha256_bytes, write_atomic

URL = "https://vincentarelbundock.github.io/Rdatasets/csv/mosaicData/Weather.csv"
FILENAME = "Weather.csv"
SHA256 = "2244a84bbb6bf2cde900e651f7eed7ab0015ba0ffedcfb58a1200563610e5b2f"  # without rownames
DEFAULT_TARGET = REPO_DATA / "weather5"
COLUMNS = [
    "city", "date", "year", "month", "day", "high_temp", "avg_temp", "low_temp", "high_dewpt",
    "avg_dewpt", "low_dewpt", "high_humidity", "avg_humidity", "low_humidity", "high_hg",
    "avg_hg", "low_hg", "high_vis", "avg_vis", "low_vis", "high_wind", "avg_wind", "low_wind",
    "precip", "events",
]
CITIES = ["Auckland", "Beijing", "Chicago", "Mumbai", "San Diego"]
N_DAYS = 731


def strip_rownames(data: bytes) -> bytes:
    """Drop a leading ``rownames`` column (the Rdatasets copy) if present; bytes in, bytes out."""
    if not _has_rownames(data):
        return data
    text = data.decode("utf-8")
    frame = pd.read_csv(io.StringIO(text), keep_default_na=False, dtype=str)
    frame = frame.drop(columns=frame.columns[0]).replace("NA", "")  # R writes missing as NA
    frame.columns = [c.strip('"') for c in frame.columns]
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _has_rownames(data: bytes) -> bool:
    return data.split(b"\n", 1)[0].split(b",", 1)[0].strip(b'"') == b"rownames"


def check_table(data: bytes) -> pd.DataFrame:
    """Parse and check the content: columns, five cities, 731 days each; returns the table."""
    try:
        frame = pd.read_csv(io.BytesIO(data))
    except (ValueError, UnicodeDecodeError) as exc:  # empty, truncated mid-quote, not text
        raise InstallError(f"{FILENAME}: not a readable CSV table ({exc})") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InstallError(f"{FILENAME}: missing columns {missing}")
    counts = frame["city"].value_counts()
    if sorted(counts.index) != CITIES or not (counts == N_DAYS).all():
        raise InstallError(f"{FILENAME}: expected {N_DAYS} days for each of {CITIES}, got "
                         f"{counts.to_dict()}")
    return frame


def install(data: bytes, target: Path, expect_sha256: bool) -> Path:
    """Check ``data`` (with or without rownames) and write ``target/Weather.csv`` atomically."""
    had_rownames = _has_rownames(data)
    data = strip_rownames(data)
    check_table(data)
    digest = sha256_bytes(data)
    if expect_sha256 and digest != SHA256:
        if not had_rownames:
            raise InstallError(f"{FILENAME}: sha256 {digest} differs from the expected {SHA256}")
        # the Rdatasets copy is checked by content; its number formatting may differ
        print(f"note: {FILENAME} passed the content checks; after dropping rownames its sha256 "
              f"{digest} differs from the shared copy's", file=sys.stderr)
    return write_atomic(target / FILENAME, data)


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, default=None,
                        help=f"local folder holding {FILENAME} (instead of downloading {URL})")
    parser.add_argument("--target", type=Path, default=DEFAULT_TARGET,
                        help="folder for Weather.csv (default: data/weather5 at the repo root)")
    args = parser.parse_args(argv)
    if args.source is not None:
        path = args.source / FILENAME if args.source.is_dir() else args.source
        if not path.is_file():
            raise InstallError(f"{path} not found")
        data = path.read_bytes()
    else:
        data = fetch(URL)
    out = install(data, args.target, expect_sha256=True)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

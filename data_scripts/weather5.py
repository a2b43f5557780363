"""Install weather5: daily weather of five cities, 2016-2017 (offline temperature profile).

The table is the ``Weather`` data set of the R package mosaicData (Weather Underground daily
summaries of Auckland, Beijing, Chicago, Mumbai and San Diego), redistributed by Rdatasets.

Usage::

    python -m data_scripts.weather5                      # download the canonical CSV
    python -m data_scripts.weather5 --from ../shared/data/weather5
    python -m data_scripts.weather5 --target data/weather5

The canonical file has a leading ``rownames`` column; the copy in the shared data folder
does not. Every file is checked by content (the expected columns, five cities, 731 days each)
and then by value: the expected columns, read as numbers where they are numbers (so ``68``
and ``68.0``, R's ``NA`` and an empty field are the same), must match ``VALUES_SHA256``, the
checksum of the shared copy's values. A column it does not know (``rownames`` or any other)
is dropped only then; a changed value is refused whatever else the file holds. The installed
``Weather.csv`` holds the expected columns only, written to a temporary name and renamed.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

import pandas as pd

from data_scripts._common import (
    REPO_DATA,
    InstallError,
    cli,
    sha256_bytes,
    single_file_main,
    write_atomic,
)

URL = "https://vincentarelbundock.github.io/Rdatasets/csv/mosaicData/Weather.csv"
FILENAME = "Weather.csv"
DEFAULT_TARGET = REPO_DATA / "weather5"
COLUMNS = [
    "city", "date", "year", "month", "day", "high_temp", "avg_temp", "low_temp", "high_dewpt",
    "avg_dewpt", "low_dewpt", "high_humidity", "avg_humidity", "low_humidity", "high_hg",
    "avg_hg", "low_hg", "high_vis", "avg_vis", "low_vis", "high_wind", "avg_wind", "low_wind",
    "precip", "events",
]
CITIES = ["Auckland", "Beijing", "Chicago", "Mumbai", "San Diego"]
N_DAYS = 731


SHA256 = "2244a84bbb6bf2cde900e651f7eed7ab0015ba0ffedcfb58a1200563610e5b2f"  # the shared copy
VALUES_SHA256 = "3b3c59d8bf396b9d7b6c49749fae83951ce99cd25847e25b31433aa13c48ab9a"


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


def values_sha256(frame: pd.DataFrame) -> str:
    """Checksum of the expected columns' values, whatever the number formatting."""
    return sha256_bytes(frame[COLUMNS].to_csv(index=False, float_format="%.10g",
                                              lineterminator="\n").encode())


def install(data: bytes, target: Path) -> Path:
    """Check ``data`` and write ``target/Weather.csv`` (the expected columns) atomically.

    Raise :class:`InstallError` if a value of an expected column differs from the shared
    copy's; columns it does not know are dropped only when every known value matches.
    """
    frame = check_table(data)
    extra = [c for c in frame.columns if c not in COLUMNS]
    digest = values_sha256(frame)
    if digest != VALUES_SHA256:
        dropped = f" after dropping column(s) {extra}" if extra else ""
        raise InstallError(f"{FILENAME}: the values of its {len(COLUMNS)} expected columns"
                           f"{dropped} differ from the expected table's (value checksum "
                           f"{digest}, expected {VALUES_SHA256})")
    if not extra and sha256_bytes(data) == SHA256:
        return write_atomic(target / FILENAME, data)
    text = pd.read_csv(io.BytesIO(data), keep_default_na=False, dtype=str)[COLUMNS]
    return write_atomic(target / FILENAME, text.replace("NA", "").to_csv(
        index=False, lineterminator="\n").encode("utf-8"))


@cli
def main(argv=None) -> int:
    return single_file_main(argv, description=__doc__.split("\n\n")[0], filename=FILENAME,
                            url=URL, default_target=DEFAULT_TARGET, install=install,
                            target_help="folder for Weather.csv (default: data/weather5 at the repo root)")


if __name__ == "__main__":
    sys.exit(main())

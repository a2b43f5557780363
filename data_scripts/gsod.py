"""Install NOAA GSOD (Global Surface Summary of the Day) for US stations as one tidy table.

The paper profile of the temperature experiment: daily mean temperature of every US station
in the 50 states, one silo per state. Needs internet (or the files in a local folder).

Sources (canonical):

- yearly archives https://www.ncei.noaa.gov/data/global-summary-of-the-day/archive/<year>.tar.gz
  (one CSV per station, ``<USAF><WBAN>.csv``, all fields quoted; TEMP in degrees F,
  9999.9 = missing);
- station list https://www.ncei.noaa.gov/pub/data/noaa/isd-history.csv
  (USAF, WBAN, STATION NAME, CTRY, STATE, ICAO, LAT, LON, ELEV(M), BEGIN, END).

Usage::

    python -m data_scripts.gsod                          # 2015, downloads about 100 MB
    python -m data_scripts.gsod --years 2015 2016
    python -m data_scripts.gsod --from DIR               # DIR holds <year>.tar.gz, isd-history.csv

Output: ``<target>/gsod.csv`` with columns station, state, date, latitude, longitude,
elevation (m), temp (degrees F), one row per station-day with a valid mean temperature,
stations of the 50 states only (CTRY = US). ``<target>/gsod.sha256`` lists the sha256 of
every input file; NOAA revises these files, so there is no fixed checksum: if ``DIR``
holds a ``SHA256SUMS`` file (``sha256sum`` format), ``--from`` checks the inputs against it.
Downloads go to ``<target>/raw/`` and are reused; every file is written to a temporary name
and renamed. A damaged archive or station list, or a target folder that cannot be written,
ends with one line naming the file and the problem (exit status 1).
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from data_scripts._common import (REPO_DATA, InstallError, cli, fetch_to_file, sha256_file,
                                  write_atomic)

ARCHIVE_URL = "https://www.ncei.noaa.gov/data/global-summary-of-the-day/archive/{year}.tar.gz"
HISTORY_URL = "https://www.ncei.noaa.gov/pub/data/noaa/isd-history.csv"
HISTORY_FILE = "isd-history.csv"
DEFAULT_TARGET = REPO_DATA / "gsod"
STATES = (
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
    "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY"
).split()
COLUMNS = ["station", "state", "date", "latitude", "longitude", "elevation", "temp"]
HISTORY_COLUMNS = ["USAF", "WBAN", "CTRY", "STATE", "LAT", "LON", "ELEV(M)"]
GSOD_COLUMNS = ["STATION", "DATE", "LATITUDE", "LONGITUDE", "ELEVATION", "TEMP"]
MISSING_TEMP = 9999.9
# isd-history and GSOD write unknown elevations as -999.x or 9999.x
_ELEVATION_RANGE = (-500.0, 9000.0)


# ---------------------------------------------------------------------------- parsers
def parse_station_history(text: str) -> pd.DataFrame:
    """US stations of the 50 states from isd-history.csv text.

    Returns columns station (USAF + WBAN, 11 characters, as in the GSOD file names), state,
    latitude, longitude, elevation (NaN when unknown).
    """
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:  # empty, binary, ragged
        raise InstallError(f"{HISTORY_FILE}: not a readable CSV station list ({exc})") from None
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in HISTORY_COLUMNS if c not in frame.columns]
    if missing:
        raise InstallError(f"{HISTORY_FILE}: not the NOAA station list, it lacks the columns "
                           f"{missing}")
    frame = frame[(frame["CTRY"] == "US") & frame["STATE"].isin(STATES)]
    out = pd.DataFrame({
        "station": frame["USAF"].str.strip() + frame["WBAN"].str.strip(),
        "state": frame["STATE"],
        "latitude": pd.to_numeric(frame["LAT"], errors="coerce"),
        "longitude": pd.to_numeric(frame["LON"], errors="coerce"),
        "elevation": _clean_elevation(pd.to_numeric(frame["ELEV(M)"], errors="coerce")),
    })
    return out.drop_duplicates("station").reset_index(drop=True)


def parse_gsod_csv(text: str, name="station file") -> pd.DataFrame:
    """One GSOD station file (CSV, all fields quoted) as station, date, latitude, longitude,
    elevation, temp; rows with a missing mean temperature (9999.9) are dropped."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in GSOD_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InstallError(f"{name}: not a GSOD station file, it lacks the columns {missing}")
    rows = [(r["STATION"].strip(), r["DATE"].strip(), r["LATITUDE"], r["LONGITUDE"],
             r["ELEVATION"], r["TEMP"]) for r in reader]
    frame = pd.DataFrame(rows, columns=["station", "date", "latitude", "longitude", "elevation",
                                        "temp"])
    for col in ("latitude", "longitude", "elevation", "temp"):
        frame[col] = pd.to_numeric(frame[col].str.strip(), errors="coerce")
    frame["elevation"] = _clean_elevation(frame["elevation"])
    frame = frame[frame["temp"].notna() & ~np.isclose(frame["temp"], MISSING_TEMP)]
    return frame.reset_index(drop=True)


def _clean_elevation(values):
    lo, hi = _ELEVATION_RANGE
    return values.where((values > lo) & (values < hi))


def read_archive(path, stations: pd.DataFrame) -> pd.DataFrame:
    """The rows of a yearly ``.tar.gz`` for the given stations (other members are skipped)."""
    wanted = set(stations["station"])
    frames = []
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                name = Path(member.name).name
                if not member.isfile() or not name.endswith(".csv") or name[:-4] not in wanted:
                    continue
                text = tar.extractfile(member).read().decode("utf-8", errors="replace")
                frames.append(parse_gsod_csv(text, f"{Path(path).name}:{member.name}"))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise InstallError(f"{path}: not a readable .tar.gz archive (truncated or damaged? "
                           f"{type(exc).__name__}: {exc}); delete it to download it again") from None
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(frames, ignore_index=True)


def tidy(daily: pd.DataFrame, stations: pd.DataFrame) -> pd.DataFrame:
    """Join daily rows with the station list (state; coordinates the daily file lacks)."""
    meta = stations.set_index("station")
    daily = daily[daily["station"].isin(meta.index)].copy()
    daily["state"] = daily["station"].map(meta["state"])
    for col in ("latitude", "longitude", "elevation"):
        daily[col] = daily[col].fillna(daily["station"].map(meta[col]))
    daily = daily.dropna(subset=["latitude", "longitude", "elevation"])
    return daily[COLUMNS].sort_values(["state", "station", "date"]).reset_index(drop=True)


# ---------------------------------------------------------------------------- files
def download(url: str, path: Path) -> Path:
    """Download ``url`` to ``path`` unless it is already there (via ``<name>.part``, renamed
    when complete, so an interrupted download is never taken for a finished one)."""
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    fetch_to_file(url, part)
    os.replace(part, path)
    return path


def check_target(target: Path) -> None:
    """Refuse a target that is a file or cannot be written, before any work."""
    if target.exists() and not target.is_dir():
        raise InstallError(f"target {target} is a file, not a folder")
    try:
        target.mkdir(parents=True, exist_ok=True)
        probe = target / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InstallError(f"cannot write to the target folder {target}: "
                           f"{exc.strerror or exc}") from None


def check_sums(files, manifest: Path):
    """Compare the sha256 of ``files`` with a ``sha256sum``-style manifest (if listed there)."""
    expected = {}
    for line in manifest.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            expected[Path(parts[1].lstrip("*")).name] = parts[0].lower()
    for f in files:
        want = expected.get(Path(f).name)
        if want is not None and sha256_file(f) != want:
            raise InstallError(f"{f}: sha256 differs from {manifest}")


def build(years, source: Path | None, target: Path) -> Path:
    """Fetch (or find) the inputs, parse them and write ``target/gsod.csv``."""
    check_target(target)
    folder = source if source is not None else target / "raw"
    if source is None:
        download(HISTORY_URL, folder / HISTORY_FILE)
        archives = [download(ARCHIVE_URL.format(year=y), folder / f"{y}.tar.gz") for y in years]
    else:
        archives = [folder / f"{y}.tar.gz" for y in years]
    inputs = [folder / HISTORY_FILE, *archives]
    missing = [str(p) for p in inputs if not p.is_file()]
    if missing:
        raise InstallError(f"missing input files: {missing}")
    if source is not None and (source / "SHA256SUMS").is_file():
        check_sums(inputs, source / "SHA256SUMS")
    stations = parse_station_history((folder / HISTORY_FILE).read_text(encoding="utf-8",
                                                                         errors="replace"))
    daily = pd.concat([read_archive(a, stations) for a in archives], ignore_index=True)
    table = tidy(daily, stations)
    out = write_atomic(target / "gsod.csv", table.to_csv(index=False).encode())
    sums = "".join(f"{sha256_file(p)}  {p.name}\n" for p in inputs)
    write_atomic(target / "gsod.sha256", sums.encode())
    print(f"wrote {out}: {len(table)} station-days, {table.station.nunique()} stations, "
          f"{table.state.nunique()} states")
    return out


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=int, nargs="+", default=[2015])
    parser.add_argument("--from", dest="source", type=Path, default=None,
                        help="local folder holding <year>.tar.gz and isd-history.csv")
    parser.add_argument("--target", type=Path, default=DEFAULT_TARGET,
                        help="output folder (default: data/gsod at the repo root)")
    args = parser.parse_args(argv)
    build(args.years, args.source, args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())

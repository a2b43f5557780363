"""Install the CORGIS weekly weather of 2016: 318 US stations in the 50 states, placed on the map.

The ``states`` profile of the temperature experiment: one silo per state, as in the paper's
section 4.4 (whose NOAA GSOD 2015 files need internet), at weekly instead of daily
resolution. Source: the CORGIS "Weather" data set 2.0.0 (Austin Cory Bart, Ryan Whitcomb):
the National Weather Service's climate reports of 2016 summarised per station and week.

Usage::

    python -m data_scripts.us_weather                    # download the canonical CSV
    python -m data_scripts.us_weather --from ../shared/data/us_weather_2016
    python -m data_scripts.us_weather --target data/us_weather

The file has no coordinates. Each station is placed by its code with the ``airportsdata``
package (IATA table, else the FAA location identifiers), and the airport's state must be the
row's state; a code that is not found, or found in another state or country, is left out.
What is dropped or merged, and why, is printed (counts and codes):

- placeholder weeks (average = maximum = minimum temperature: missing reports, not weather);
- stations that cannot be placed (unknown code, or an airport in another state);
- Puerto Rico (not a state); the duplicate spellings "DE" and "VA" are merged into Delaware
  and Virginia.

Output: ``<target>/us_weather.csv`` with columns station, state (two letters), date (the
week's first day), day_of_year, month, latitude, longitude (degrees), elevation (metres),
temp (the week's average temperature, degrees F). The input's sha256 is checked; files are
written to a temporary name and renamed.
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

URL = "https://corgis-edu.github.io/corgis/datasets/csv/weather/weather.csv"
FILENAME = "weather.csv"
SHA256 = "4c7f09f3a2d25709e5a195ac847b1d3c4505ff095c3820388e26b430382720d0"
DEFAULT_TARGET = REPO_DATA / "us_weather"
OUTPUT = "us_weather.csv"
COLUMNS = ["station", "state", "date", "day_of_year", "month", "latitude", "longitude",
           "elevation", "temp"]
_FEET = 0.3048
_SOURCE = {"code": "Station.Code", "state": "Station.State", "date": "Date.Full",
           "avg": "Data.Temperature.Avg Temp", "max": "Data.Temperature.Max Temp",
           "min": "Data.Temperature.Min Temp"}
STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "Florida": "FL", "Georgia": "GA",
    "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
    "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD",
    "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS",
    "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH",
    "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY", "North Carolina": "NC",
    "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA",
    "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN",
    "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA",
    "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
}


def read_table(data: bytes) -> pd.DataFrame:
    """Parse the CSV and check its columns."""
    try:
        frame = pd.read_csv(io.BytesIO(data))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InstallError(f"{FILENAME}: not a readable CSV table ({exc})") from None
    missing = [c for c in _SOURCE.values() if c not in frame.columns]
    if missing:
        raise InstallError(f"{FILENAME}: not the CORGIS weather table, it lacks the columns "
                           f"{missing}")
    return frame


def _codes(codes):
    return " ".join(sorted(set(codes)))


def normalise_states(frame, report):
    """Two-letter state per row: full names and two-letter spellings merged; rows of anything
    that is not one of the 50 states (Puerto Rico) dropped."""
    names = frame[_SOURCE["state"]].astype(str).str.strip()
    letters = set(STATES.values())
    spelled = names[names.isin(letters)]
    if len(spelled):
        report(f"merged: {len(spelled)} rows spelled {_codes(spelled)} into the states' full "
               f"names (stations {_codes(frame.loc[spelled.index, _SOURCE['code']])})")
    state = names.map(STATES).where(~names.isin(letters), names)
    other = state.isna()
    if other.any():
        report(f"dropped: {int(other.sum())} rows of {_codes(names[other])} (not one of the 50 "
               f"states; stations {_codes(frame.loc[other, _SOURCE['code']])})")
    return frame.assign(state=state)[~other]


def drop_placeholders(frame, report):
    """Rows with average = maximum = minimum temperature: missing reports, not weather."""
    flat = ((frame[_SOURCE["avg"]] == frame[_SOURCE["max"]])
            & (frame[_SOURCE["max"]] == frame[_SOURCE["min"]]))
    if flat.any():
        per = frame.loc[flat, _SOURCE["code"]].value_counts().sort_index()
        report(f"dropped: {int(flat.sum())} placeholder weeks (average = maximum = minimum) at "
               f"{len(per)} stations: " + ", ".join(f"{c} {n}" for c, n in per.items()))
    return frame[~flat]


def _airport_tables():
    try:
        import airportsdata
    except ImportError:
        raise InstallError("the airportsdata package is needed to place the stations: "
                           "pip install airportsdata (or the project's `experiments` "
                           "extra)") from None
    return [("IATA", airportsdata.load("IATA")), ("FAA LID", airportsdata.load("LID"))]


def place(code, state, tables):
    """``(airport record, table name, None)`` for a code whose airport is in ``state``, else
    ``(None, None, reason)``: the IATA table first, then the FAA location identifiers."""
    found = []
    for name, table in tables:
        airport = table.get(code)
        if airport is None:
            continue
        where = (STATES.get(airport.get("subd", ""), airport.get("subd", ""))
                 if airport.get("country") == "US" else airport.get("country", "?"))
        if where == state:
            return airport, name, None
        found.append(f"{name} {code} is {airport.get('name', '?')} in {where or '?'}")
    if found:
        return None, None, f"state mismatch ({'; '.join(found)}; the row says {state})"
    return None, None, "code not found in the IATA or FAA LID tables"


def place_stations(frame, report, tables=None):
    """Latitude, longitude and elevation (metres) per row from the airport tables; stations
    that cannot be placed are dropped and reported one by one."""
    tables = _airport_tables() if tables is None else tables
    stations = frame[[_SOURCE["code"], "state"]].drop_duplicates()
    places, used = {}, {}
    for code, state in stations.itertuples(index=False):
        airport, table, why = place(str(code).strip(), state, tables)
        if airport is None:
            n = int(((frame[_SOURCE["code"]] == code) & (frame.state == state)).sum())
            report(f"dropped: station {code} ({state}, {n} weeks): {why}")
            continue
        places[(code, state)] = (airport["lat"], airport["lon"], airport["elevation"] * _FEET)
        used[table] = used.get(table, 0) + 1
    report("placed: " + ", ".join(f"{n} stations by {t}" for t, n in used.items()))
    keys = list(zip(frame[_SOURCE["code"]], frame.state))
    kept = [k in places for k in keys]
    frame = frame[kept].copy()
    coords = [places[k] for k in zip(frame[_SOURCE["code"]], frame.state)]
    frame[["latitude", "longitude", "elevation"]] = pd.DataFrame(coords, index=frame.index)
    return frame


def tidy(data: bytes, report=print, tables=None) -> pd.DataFrame:
    """The installed table from the raw CSV bytes (sha256 not checked here)."""
    frame = read_table(data)
    n_rows, n_stations = len(frame), frame[_SOURCE["code"]].nunique()
    frame = normalise_states(frame, report)
    frame = drop_placeholders(frame, report)
    frame = place_stations(frame, report, tables)
    date = pd.to_datetime(frame[_SOURCE["date"]])
    out = pd.DataFrame({"station": frame[_SOURCE["code"]].astype(str).str.strip(),
                        "state": frame.state, "date": date.dt.strftime("%Y-%m-%d"),
                        "day_of_year": date.dt.day_of_year, "month": date.dt.month,
                        "latitude": frame.latitude, "longitude": frame.longitude,
                        "elevation": frame.elevation.round(1),
                        "temp": frame[_SOURCE["avg"]].astype(float)})
    out = out.sort_values(["state", "station", "date"]).reset_index(drop=True)
    report(f"kept: {len(out)} of {n_rows} station-weeks, {out.station.nunique()} of {n_stations} "
           f"stations, {out.state.nunique()} states")
    return out


def install(data: bytes, target: Path, expected_sha256=SHA256, report=print, tables=None):
    """Check ``data`` against ``expected_sha256``, tidy it and write ``target/us_weather.csv``."""
    digest = sha256_bytes(data)
    if digest != expected_sha256:
        raise InstallError(f"{FILENAME}: sha256 {digest} differs from the expected "
                           f"{expected_sha256} ({len(data)} bytes; truncated, corrupted or a "
                           "different version?)")
    table = tidy(data, report, tables)
    return write_atomic(Path(target) / OUTPUT, table.to_csv(index=False).encode())


@cli
def main(argv=None) -> int:
    return single_file_main(argv, description=__doc__.split("\n\n")[0], filename=FILENAME,
                            url=URL, default_target=DEFAULT_TARGET, install=install,
                            target_help="output folder (default: data/us_weather at the repo root)")


if __name__ == "__main__":
    sys.exit(main())

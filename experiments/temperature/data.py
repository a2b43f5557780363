"""Temperature data: weather5 and GSOD as one tidy table, silos, and the per-silo splits."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from experiments._runner import DataMissingError
from experiments.temperature.config import INPUT_NAMES

TARGET = "temp"
log = logging.getLogger(__name__)
DATA_SCRIPTS = {"weather5": "python -m data_scripts.weather5 [--from ../shared/data/weather5]",
                "gsod": "python -m data_scripts.gsod (needs internet) [--from DIR]",
                "us_weather": "python -m data_scripts.us_weather "
                              "[--from ../shared/data/us_weather_2016]"}
#: How each source may be cut into silos.
SILOS = {"weather5": ("city", "city_year"), "gsod": ("state",), "us_weather": ("state",)}


def load_weather5(root, stations) -> pd.DataFrame:
    """weather5 as a tidy table: one row per city-day with the seven inputs and the target.

    ``stations`` maps each city to its station's ``latitude``, ``longitude`` and
    ``elevation`` (metres). A day enters only if the previous calendar day is in the file;
    the target is ``avg_temp`` (degrees F). Accepts the file with a leading ``rownames``
    column (the Rdatasets copy). Column ``silo`` is the city.
    """
    path = Path(root) / "Weather.csv"
    if not path.is_file():
        raise DataMissingError(f"{path} not found: run `{DATA_SCRIPTS['weather5']}` "
                               "(or set SPAHM_DATA to the folder holding weather5/)")
    raw = pd.read_csv(path)
    if raw.columns[0] in ("rownames", "Unnamed: 0"):
        raw = raw.drop(columns=raw.columns[0])
    unknown = sorted(set(raw.city) - set(stations))
    if unknown:
        raise ValueError(f"config data.stations lacks coordinates for {unknown}")
    raw = raw[["city", "date", "avg_temp"]].dropna()
    raw = raw.assign(date=pd.to_datetime(raw["date"])).sort_values(["city", "date"])
    facts = pd.DataFrame.from_dict({k: dict(v) for k, v in stations.items()}, orient="index")
    frame = _with_previous(raw.rename(columns={"city": "silo", "avg_temp": TARGET}), by="silo")
    for name in ("latitude", "longitude", "elevation"):
        frame[name] = frame["silo"].map(facts[name]).astype(float)
    return frame[["silo", "date", *INPUT_NAMES, TARGET]].reset_index(drop=True)



def _station_table(root, name):
    """``<root>/<name>.csv`` written by ``data_scripts/<name>.py``: one row per station and
    date, the target's missing rows dropped; DataMissingError naming the script if absent."""
    path = Path(root) / f"{name}.csv"
    if not path.is_file():
        raise DataMissingError(f"{path} not found: run `{DATA_SCRIPTS[name]}` "
                               f"(or set SPAHM_DATA to the folder holding {name}/)")
    raw = pd.read_csv(path, dtype={"station": str, "state": str})
    return raw.assign(date=pd.to_datetime(raw["date"])).dropna(subset=[TARGET])

def load_gsod(root, min_rows_per_silo=1, years=None) -> pd.DataFrame:
    """The tidy GSOD table of ``data_scripts/gsod.py`` as one row per station-day, silo = state.

    The previous day's temperature is the same station's mean temperature of the previous
    calendar day (days without it are dropped). States with fewer than ``min_rows_per_silo``
    rows are dropped.
    """
    raw = _station_table(root, "gsod")
    if years:
        raw = raw[raw.date.dt.year.isin(list(years))]
    raw = raw.sort_values(["station", "date"])
    frame = _with_previous(raw.rename(columns={"state": "silo"}), by="station")
    return _drop_small(frame, min_rows_per_silo)[["silo", "date", *INPUT_NAMES, TARGET]]


def load_us_weather(root, min_rows_per_silo=1, report=None) -> pd.DataFrame:
    """The weekly table of ``data_scripts/us_weather.py`` as one row per station-week, silo =
    state. The previous week's temperature is the same station's average of the week seven
    days before (weeks without it are dropped). States with fewer than ``min_rows_per_silo``
    station-weeks are dropped and named through ``report`` (a callable taking one line)."""
    raw = _station_table(root, "us_weather")
    raw = raw.sort_values(["station", "date"]).rename(columns={"state": "silo"})
    frame = _with_previous(raw, by="station", step=pd.Timedelta(days=7))
    return _drop_small(frame, min_rows_per_silo, report)[["silo", "date", *INPUT_NAMES, TARGET]]


def _drop_small(frame, min_rows, report=None):
    sizes = frame.groupby("silo").size()
    small = sizes[sizes < min_rows]
    if report is not None and len(small):
        report(f"left out {len(small)} silo(s) with fewer than {min_rows} rows: "
               + ", ".join(f"{s} ({n})" for s, n in small.items()))
    return frame[~frame.silo.isin(small.index)].reset_index(drop=True)


def _with_previous(frame, by, step=pd.Timedelta(days=1)):
    """Add day/month/year/day_of_year and ``prev_temp`` (same ``by`` group, ``step`` before)."""
    frame = frame.copy()
    prev = frame.groupby(by)[TARGET].shift(1)
    gap = frame.groupby(by)["date"].diff()
    frame["prev_temp"] = prev.where(gap == step)
    frame["day"] = frame.date.dt.day
    frame["month"] = frame.date.dt.month
    frame["year"] = frame.date.dt.year
    frame["day_of_year"] = frame.date.dt.day_of_year
    return frame.dropna(subset=["prev_temp", TARGET])


def load_data(cfg) -> pd.DataFrame:
    """The configured source as a tidy table with one ``silo`` per configured unit.

    ``data.silos = city_year`` (weather5) makes each city's year its own silo ("Chicago 2016").
    """
    d = cfg.data
    if d.source == "weather5":
        frame = load_weather5(d.root, d.stations)
        if d.years:
            frame = frame[frame.year.isin(list(d.years))]
        if d.silos == "city_year":
            frame = frame.assign(silo=frame.silo + " " + frame.year.astype(str))
        return frame.reset_index(drop=True)
    if d.source == "us_weather":
        return load_us_weather(d.root, d.min_rows_per_silo, report=log.info)
    return load_gsod(d.root, d.min_rows_per_silo, OmegaConf.select(cfg, "data.years"))


def split_silos(frame, rng, fraction, max_kept=None, max_held=None):
    """Random split inside every silo (sorted names): ``fraction`` of each silo's rows held out.

    Returns two dicts silo -> frame (kept, held out), each capped at ``max_kept`` /
    ``max_held`` random rows when given. Used twice: train / test, and inside each silo's
    training rows, fit / validation.
    """
    kept, held = {}, {}
    for silo, rows in frame.groupby("silo", sort=True):
        order = rng.permutation(len(rows))
        n_held = max(1, int(round(fraction * len(rows))))
        held_idx, kept_idx = order[:n_held], order[n_held:]
        if max_held is not None:
            held_idx = held_idx[:max_held]
        if max_kept is not None:
            kept_idx = kept_idx[:max_kept]
        kept[silo] = rows.iloc[np.sort(kept_idx)]
        held[silo] = rows.iloc[np.sort(held_idx)]
    return kept, held

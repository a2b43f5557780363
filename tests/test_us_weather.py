"""The CORGIS weekly US weather: data script on a small fixture, loader, states profile."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from data_scripts import us_weather
from data_scripts._common import sha256_bytes
from experiments import register_configs, temperature
from experiments.temperature import data as tdata

pytest.importorskip("airportsdata")
ROOT = Path(__file__).resolve().parents[1]
HEADER = ('"Data.Precipitation","Date.Full","Date.Month","Date.Week of","Date.Year",'
          '"Station.City","Station.Code","Station.Location","Station.State",'
          '"Data.Temperature.Avg Temp","Data.Temperature.Max Temp","Data.Temperature.Min Temp",'
          '"Data.Wind.Direction","Data.Wind.Speed"\n')


def _row(code, city, location, state, date, avg, hi, lo):
    day = int(date[-2:])
    return (f'0.0,"{date}",{int(date[5:7])},{day},2016,"{city}","{code}","{location}",'
            f'"{state}",{avg},{hi},{lo},33,4.3\n')


def _fixture():
    """Written in the file's format; the values are made up for the test."""
    weeks = ["2016-01-03", "2016-01-10", "2016-01-17"]
    rows = [_row("BHM", "Birmingham", "Birmingham, AL", "Alabama", d, a, a + 7, a - 7)
            for d, a in zip(weeks, (39, 44, 41))]
    rows.append(_row("BHM", "Birmingham", "Birmingham, AL", "Alabama", "2016-01-24", 60, 60, 60))
    rows += [_row("ILG", "Wilmington", "Wilmington, DE", "DE", d, 30, 37, 23) for d in weeks[:2]]
    rows += [_row("LZK", "North Little Rock", "North Little Rock, AR", "Arkansas", d, 40, 48, 33)
             for d in weeks]
    rows += [_row("ATT", "Austin/City", "Austin/City, TX", "Texas", d, 50, 60, 40) for d in weeks]
    rows += [_row("SJU", "San Juan", "San Juan, PR", "Puerto Rico", d, 78, 84, 72) for d in weeks]
    return (HEADER + "".join(rows)).encode()


def test_fixture_is_tidied_with_every_drop_reported(tmp_path):
    data, lines = _fixture(), []
    out = us_weather.install(data, tmp_path, expected_sha256=sha256_bytes(data),
                             report=lines.append)
    table = pd.read_csv(out)
    assert list(table.columns) == us_weather.COLUMNS
    # the placeholder week (60 / 60 / 60) is gone; DE is merged into Delaware
    assert table.groupby("station").size().to_dict() == {"BHM": 3, "ILG": 2}
    assert set(table.state) == {"AL", "DE"}
    bhm = table[table.station == "BHM"].iloc[0]
    assert bhm.latitude == pytest.approx(33.56, abs=0.05)
    assert bhm.elevation == pytest.approx(650 * 0.3048, abs=0.1)  # feet -> metres
    assert table.day_of_year.tolist()[:3] == [3, 10, 17]
    text = "\n".join(lines)
    assert "1 placeholder weeks" in text and "BHM 1" in text
    assert "station LZK (AR, 3 weeks): code not found" in text  # unplaceable, reported
    assert "station ATT (TX, 3 weeks): state mismatch" in text and "in AK" in text
    assert "Puerto Rico" in text and "SJU" in text
    assert "merged: 2 rows spelled DE" in text
    assert "kept: 5 of 15 station-weeks, 2 of 5 stations, 2 states" in text


def test_bad_sha256_is_refused_before_writing(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "weather.csv").write_bytes(_fixture())
    code = us_weather.main(["--from", str(tmp_path / "src"), "--target", str(tmp_path / "out")])
    assert code == 1
    err = capsys.readouterr().err
    assert "sha256" in err and "differs from the expected" in err
    assert not (tmp_path / "out" / "us_weather.csv").exists()


def test_bad_sha256_message(tmp_path):
    with pytest.raises(us_weather.InstallError, match="weather.csv: sha256 .* differs"):
        us_weather.install(_fixture(), tmp_path)


def test_state_mismatch_is_refused():
    tables = us_weather._airport_tables()
    airport, _, why = us_weather.place("ATT", "TX", tables)
    assert airport is None and why.startswith("state mismatch")
    airport, table, why = us_weather.place("BHM", "AL", tables)
    assert why is None and table == "IATA" and airport["subd"] == "Alabama"


def test_loader_previous_week_and_small_states(tmp_path):
    data = _fixture()
    us_weather.install(data, tmp_path, expected_sha256=sha256_bytes(data), report=lambda _: None)
    lines = []
    frame = tdata.load_us_weather(tmp_path, min_rows_per_silo=2, report=lines.append)
    # BHM: weeks 2 and 3 have the week before; ILG only one week -> DE left out
    assert frame.silo.unique().tolist() == ["AL"]
    assert frame.prev_temp.tolist() == [39.0, 44.0]
    assert frame.day_of_year.tolist() == [10, 17]
    assert lines == ["left out 1 silo(s) with fewer than 2 rows: DE (1)"]


def test_states_profile_composes():
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["experiment=temperature",
                                                       "profile=states"])
    temperature.validate(cfg)
    assert cfg.data.source == "us_weather" and cfg.data.silos == "state"
    assert cfg.model.num_inducing == 50 and "day_of_year" in cfg.data.inputs
    assert "year" not in cfg.data.inputs
    assert set(cfg.methods) >= {"sgp50", "sgp300", "spahm", "spahm_eb", "pooled", "average",
                                "gpoe", "rbcm"}


@pytest.mark.skipif(not (ROOT.parent / "shared" / "data" / "us_weather_2016").is_dir(),
                    reason="no shared us_weather_2016")
def test_real_file_gives_45_states(tmp_path):
    src = ROOT.parent / "shared" / "data" / "us_weather_2016"
    assert us_weather.main(["--from", str(src), "--target", str(tmp_path)]) == 0
    frame = tdata.load_us_weather(tmp_path, min_rows_per_silo=100)
    assert frame.silo.nunique() == 45
    assert np.isfinite(frame[["latitude", "longitude", "elevation"]].to_numpy()).all()

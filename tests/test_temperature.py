"""Temperature experiment: data scripts, loaders, config, and an end-to-end smoke run."""
import io
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from data_scripts import gsod, weather5
from experiments import temperature
from experiments._runner import ConfigError, DataMissingError, load_results

ROOT = Path(__file__).resolve().parents[1]
SHARED_WEATHER = ROOT.parent / "shared" / "data" / "weather5"

# Real-format lines (isd-history.csv and a GSOD station CSV); values written for the test.
ISD_HISTORY = (
    '"USAF","WBAN","STATION NAME","CTRY","STATE","ICAO","LAT","LON","ELEV(M)","BEGIN","END"\n'
    '"722900","23188","SAN DIEGO INTERNATIONAL AIRPORT","US","CA","KSAN","+32.734","-117.183",'
    '"+0004.6","19420101","20250824"\n'
    '"725300","94846","CHICAGO O\'HARE INTERNATIONAL AIRPORT","US","IL","KORD","+41.995",'
    '"-087.934","+0201.8","19461001","20250824"\n'
    '"545110","99999","BEIJING CAPITAL INTERNATIONAL","CH","","ZBAA","+40.080","+116.585",'
    '"+0035.3","19450101","20250824"\n'
    '"999999","23188","UNKNOWN US STATION","US","","","","","","20100101","20250824"\n'
)
GSOD_HEADER = (
    '"STATION","DATE","LATITUDE","LONGITUDE","ELEVATION","NAME","TEMP","TEMP_ATTRIBUTES",'
    '"DEWP","DEWP_ATTRIBUTES","SLP","SLP_ATTRIBUTES","STP","STP_ATTRIBUTES","VISIB",'
    '"VISIB_ATTRIBUTES","WDSP","WDSP_ATTRIBUTES","MXSPD","GUST","MAX","MAX_ATTRIBUTES","MIN",'
    '"MIN_ATTRIBUTES","PRCP","PRCP_ATTRIBUTES","SNDP","FRSHTT"\n'
)


def _gsod_line(station, date, temp, lat="32.7336", lon="-117.1831", elev="4.6",
               name="SAN DIEGO INTERNATIONAL AIRPORT, CA US"):
    return (f'"{station}","{date}","{lat}","{lon}","{elev}","{name}","{temp:>6}","24",'
            '"  45.2","24","1019.8","24"," 019.4","24"," 10.0","24","  4.1","24","  9.9",'
            '"999.9","  66.0","*","  46.0","*"," 0.00","G","999.9","000000"\n')


SAN_DIEGO = (GSOD_HEADER
             + _gsod_line("72290023188", "2015-01-01", "  55.3")
             + _gsod_line("72290023188", "2015-01-02", "  56.1")
             + _gsod_line("72290023188", "2015-01-03", "9999.9")
             + _gsod_line("72290023188", "2015-01-04", "  58.0"))
CHICAGO = (GSOD_HEADER
           + _gsod_line("72530094846", "2015-01-01", "  20.4", "41.995", "-87.9336", "201.8",
                        "CHICAGO O'HARE INTERNATIONAL AIRPORT, IL US")
           + _gsod_line("72530094846", "2015-01-02", "  25.0", "41.995", "-87.9336", "201.8",
                        "CHICAGO O'HARE INTERNATIONAL AIRPORT, IL US"))
BEIJING = GSOD_HEADER + _gsod_line("54511099999", "2015-01-01", "  28.9", "40.08", "116.585",
                                   "35.3", "BEIJING CAPITAL INTERNATIONAL, CH")


def _write_archive(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


# ---------------------------------------------------------------------------- GSOD
def test_parse_station_history_keeps_us_states_only():
    st = gsod.parse_station_history(ISD_HISTORY)
    assert st.station.tolist() == ["72290023188", "72530094846"]
    assert st.state.tolist() == ["CA", "IL"]
    np.testing.assert_allclose(st.latitude, [32.734, 41.995])
    np.testing.assert_allclose(st.longitude, [-117.183, -87.934])
    np.testing.assert_allclose(st.elevation, [4.6, 201.8])


def test_parse_gsod_csv_drops_missing_temperature():
    daily = gsod.parse_gsod_csv(SAN_DIEGO)
    assert daily.date.tolist() == ["2015-01-01", "2015-01-02", "2015-01-04"]
    np.testing.assert_allclose(daily.temp, [55.3, 56.1, 58.0])
    assert (daily.station == "72290023188").all()
    np.testing.assert_allclose(daily[["latitude", "longitude", "elevation"]].iloc[0],
                               [32.7336, -117.1831, 4.6])


def test_gsod_build_from_folder(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "isd-history.csv").write_text(ISD_HISTORY)
    _write_archive(src / "2015.tar.gz", {"72290023188.csv": SAN_DIEGO,
                                         "72530094846.csv": CHICAGO,
                                         "54511099999.csv": BEIJING})
    out = str(tmp_path / "out")
    assert gsod.main(["--from", str(src), "--target", out, "--years", "2015"]) == 0
    table = pd.read_csv(tmp_path / "out" / "gsod.csv", dtype={"station": str})
    assert list(table.columns) == gsod.COLUMNS
    assert sorted(table.state.unique()) == ["CA", "IL"]
    assert len(table) == 5
    assert (tmp_path / "out" / "gsod.sha256").read_text().count("\n") == 2
    # the loader: previous calendar day of the same station only
    frame = temperature.load_gsod(tmp_path / "out")
    assert sorted(frame.silo.unique()) == ["CA", "IL"]
    ca = frame[frame.silo == "CA"]
    assert ca.date.dt.strftime("%Y-%m-%d").tolist() == ["2015-01-02"]  # 01-04 lacks 01-03
    assert ca.prev_temp.tolist() == [55.3]
    assert frame[frame.silo == "IL"].prev_temp.tolist() == [20.4]


def test_gsod_checksum_manifest_is_enforced(tmp_path):
    (tmp_path / "isd-history.csv").write_text(ISD_HISTORY)
    _write_archive(tmp_path / "2015.tar.gz", {"72290023188.csv": SAN_DIEGO})
    (tmp_path / "SHA256SUMS").write_text("0" * 64 + "  isd-history.csv\n")
    assert gsod.main(["--from", str(tmp_path), "--target", str(tmp_path / "o")]) == 1


# ---------------------------------------------------------------------------- weather5
def _synthetic_weather(n_days=80, rownames=False):
    """A weather5-format table (five cities, smooth seasonal temperature) for the smoke test."""
    rng = np.random.default_rng(0)
    rows = []
    dates = pd.date_range("2016-01-01", periods=n_days)
    for k, city in enumerate(weather5.CITIES):
        temp = 60 + 15 * np.sin(2 * np.pi * (np.arange(n_days) / 365 + k / 5))
        temp = np.round(temp + rng.normal(0, 2, n_days))
        for d, t in zip(dates, temp):
            row = {c: "" for c in weather5.COLUMNS}
            row.update(city=city, date=d.strftime("%Y-%m-%d"), year=d.year, month=d.month,
                       day=d.day, avg_temp=int(t), high_temp=int(t) + 5, low_temp=int(t) - 5)
            rows.append(row)
    frame = pd.DataFrame(rows, columns=weather5.COLUMNS)
    if rownames:
        frame.insert(0, "rownames", np.arange(1, len(frame) + 1))
    return frame


def test_load_weather5_previous_day_and_station_facts(tmp_path):
    frame = _synthetic_weather(10, rownames=True)
    frame = frame.drop(index=3)  # Auckland loses 2016-01-04: 01-05 has no previous day
    frame.to_csv(tmp_path / "Weather.csv", index=False)
    stations = {c: {"latitude": i, "longitude": 2 * i, "elevation": 3 * i}
                for i, c in enumerate(weather5.CITIES)}
    out = temperature.load_weather5(tmp_path, stations)
    assert list(out.columns) == ["silo", "date", *temperature.INPUTS, "temp"]
    auck = out[out.silo == "Auckland"]
    assert len(auck) == 7 and len(out[out.silo == "Beijing"]) == 9
    assert "2016-01-05" not in set(auck.date.dt.strftime("%Y-%m-%d"))
    src = frame[frame.city == "Auckland"].set_index("date")["avg_temp"]
    for _, r in auck.iterrows():
        prev = (r.date - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
        assert r.prev_temp == src[prev] and r.temp == src[r.date.strftime("%Y-%m-%d")]
    beijing = out[out.silo == "Beijing"][["latitude", "longitude", "elevation"]]
    assert (beijing == [1, 2, 3]).all().all()
    with pytest.raises(ValueError, match="stations"):
        temperature.load_weather5(tmp_path, {"Auckland": stations["Auckland"]})


def test_missing_data_names_the_script(tmp_path):
    with pytest.raises(DataMissingError, match="data_scripts.weather5"):
        temperature.load_weather5(tmp_path, {})
    with pytest.raises(DataMissingError, match="data_scripts.gsod"):
        temperature.load_gsod(tmp_path)


@pytest.mark.skipif(not (SHARED_WEATHER / "Weather.csv").is_file(), reason="no shared weather5")
def test_weather5_script_and_loader_on_the_real_file(tmp_path):
    assert weather5.main(["--from", str(SHARED_WEATHER), "--target", str(tmp_path / "a")]) == 0
    assert weather5.sha256_bytes((tmp_path / "a" / "Weather.csv").read_bytes()) == weather5.SHA256
    # the Rdatasets layout (leading rownames column) installs to the same table
    raw = pd.read_csv(SHARED_WEATHER / "Weather.csv")
    raw.insert(0, "rownames", np.arange(1, len(raw) + 1))
    (tmp_path / "r").mkdir()
    raw.to_csv(tmp_path / "r" / "Weather.csv", index=False)
    assert weather5.main(["--from", str(tmp_path / "r"), "--target", str(tmp_path / "b")]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "b" / "Weather.csv"),
                                  pd.read_csv(SHARED_WEATHER / "Weather.csv"))
    cfg = _compose(["profile=quick"])
    frame = temperature.load_weather5(tmp_path / "a", cfg.data.stations)
    assert frame.groupby("silo").size().to_dict() == {c: 730 for c in weather5.CITIES}
    assert frame.isna().sum().sum() == 0


def test_weather5_script_rejects_a_wrong_checksum(tmp_path):
    frame = _synthetic_weather(731)
    frame.to_csv(tmp_path / "Weather.csv", index=False)
    assert weather5.main(["--from", str(tmp_path), "--target", str(tmp_path / "o")]) == 1
    assert not (tmp_path / "o" / "Weather.csv").exists()


# ---------------------------------------------------------------------------- config
def _compose(overrides):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=["experiment=temperature", *overrides])


@pytest.mark.parametrize("profile,source,gamma0", [("quick", "weather5", 5.0),
                                                    ("paper", "gsod", 50.0)])
def test_config_composes_and_validates(profile, source, gamma0):
    cfg = _compose([f"profile={profile}"])
    temperature.validate(cfg)
    assert cfg.name == "temperature" and cfg.data.source == source
    assert cfg.fusion.gamma0 == gamma0 and cfg.model.num_inducing == 50
    assert cfg.model.num_inducing_large == 300
    assert cfg.data.root.endswith(source)


@pytest.mark.parametrize("override,key", [("data.test_fraction=1.5", "data.test_fraction"),
                                          ("model.num_inducing=0", "model.num_inducing"),
                                          ("methods=[sgp50,nope]", "methods"),
                                          ("fused.pseudo_noise=-1", "fused.pseudo_noise"),
                                          ("+sensitivity.spahm_x={nope:1}", "sensitivity")])
def test_config_errors_name_the_key(override, key):
    cfg = _compose(["profile=quick", override])
    with pytest.raises(ConfigError, match=key):
        temperature.validate(cfg)


# ---------------------------------------------------------------------------- end to end
TINY = ["profile=quick", "trials=1", "quiet=true", "model.max_iters=15", "model.num_inducing=6",
        "model.num_inducing_large=10", "model.pooled_num_inducing=8", "data.max_train_per_silo=40",
        "data.max_test_per_silo=10", "fusion.n_iter=3",
        "sensitivity={spahm_fixed:null,spahm_eb:null,spahm_sigma03:null,spahm_sigma1:{sigma:1.0}}"]


def test_smoke_run_end_to_end(tmp_path, monkeypatch):
    data = tmp_path / "data" / "weather5"
    data.mkdir(parents=True)
    _synthetic_weather(60).to_csv(data / "Weather.csv", index=False)
    monkeypatch.setenv("SPAHM_DATA", str(tmp_path / "data"))
    runs = []
    for name in ("a", "b"):
        cfg = _compose(TINY + [f"output_dir={tmp_path / name}"])
        runs.append(temperature.run(cfg))
    df = runs[0]
    assert set(df.method) == set(temperature.METHODS) | {"spahm_sigma1"}
    timed = df.metric == "time_s"  # everything but wall times: same seed, same numbers
    pd.testing.assert_frame_equal(df[~timed], runs[1][~timed])
    rmse = df[df.metric == "rmse_self"].set_index("method")["value"]
    assert np.isfinite(rmse).all() and (rmse < 30).all()
    for f in ("metrics.csv", "predictions.csv", "rmse.png", "nlpd.png", "predictions.png",
              "config.yaml", "provenance.json"):
        assert (tmp_path / "a" / f).is_file(), f
    pred = pd.read_csv(tmp_path / "a" / "predictions.csv")
    assert {"truth", "spahm_mean", "pooled_mean", "sgp50_mean", "average_mean"} <= set(pred.columns)
    assert (pred.silo == "Chicago").all()
    # figures redraw from the saved files alone
    for f in ("rmse.png", "predictions.png"):
        (tmp_path / "a" / f).unlink()
    temperature.plot(load_results(tmp_path / "a"), tmp_path / "a")
    assert (tmp_path / "a" / "predictions.png").is_file()
    text = temperature.report(df)
    assert "paper" in text and "5.509" in text and "SPAHM" in text


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_WEATHER / "Weather.csv").is_file(), reason="no shared weather5")
def test_one_quick_trial_on_real_weather5_shows_the_papers_ordering(tmp_path, monkeypatch):
    """About a minute: the quick profile's first trial on the real data."""
    monkeypatch.setenv("SPAHM_DATA", str(SHARED_WEATHER.parent))
    cfg = _compose(["profile=quick", "trials=1", "quiet=true", f"output_dir={tmp_path}"])
    df = temperature.run(cfg)
    value = df.set_index(["method", "metric"])["value"]
    assert value["spahm", "rmse_across"] < 0.5 * value["sgp50", "rmse_across"]
    assert value["spahm", "rmse_self"] < value["sgp50", "rmse_self"] + 0.5

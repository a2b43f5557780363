"""Temperature experiment: data scripts, loaders, config, selection, and an end-to-end run."""
import io
import os
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from data_scripts import gsod, weather5
from experiments import register_configs, temperature
from experiments._runner import ConfigError, DataMissingError, load_results, run_experiment
from experiments.temperature import data as tdata

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
    frame = tdata.load_gsod(tmp_path / "out")
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


def _gsod_source(tmp_path, history=ISD_HISTORY, archive=None):
    src = tmp_path / "src"
    src.mkdir()
    (src / "isd-history.csv").write_text(history)
    if archive is None:
        _write_archive(src / "2015.tar.gz", {"72290023188.csv": SAN_DIEGO})
    else:
        (src / "2015.tar.gz").write_bytes(archive)
    return src


def _good_archive(tmp_path):
    _write_archive(tmp_path / "good.tar.gz", {"72290023188.csv": SAN_DIEGO})
    return (tmp_path / "good.tar.gz").read_bytes()


@pytest.mark.parametrize("damage,expected", [
    ("truncated", "2015.tar.gz: not a readable .tar.gz archive"),
    ("not_gzip", "2015.tar.gz: not a readable .tar.gz archive"),
    ("history_columns", "isd-history.csv: not the NOAA station list, it lacks the columns"),
    ("history_binary", "isd-history.csv: not"),
    ("station_file", "not a GSOD station file, it lacks the columns ['TEMP']"),
])
def test_gsod_damaged_inputs_give_one_clear_line(tmp_path, capsys, damage, expected):
    archive, history = None, ISD_HISTORY
    if damage == "truncated":
        archive = _good_archive(tmp_path)[:60]
    elif damage == "not_gzip":
        archive = b"<html>404 Not Found</html>"
    elif damage == "history_columns":
        history = "a,b\n1,2\n"
    elif damage == "history_binary":
        history = ""
    elif damage == "station_file":
        _write_archive(tmp_path / "bad.tar.gz",
                       {"72290023188.csv": SAN_DIEGO.replace('"TEMP",', '"TMP",')})
        archive = (tmp_path / "bad.tar.gz").read_bytes()
    src = _gsod_source(tmp_path, history, archive)
    assert gsod.main(["--from", str(src), "--target", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and expected in err and "\n" not in err, err
    assert not (tmp_path / "out" / "gsod.csv").exists()


def test_gsod_unwritable_target_gives_one_clear_line(tmp_path, capsys):
    src = _gsod_source(tmp_path)
    (tmp_path / "file").write_text("x")
    assert gsod.main(["--from", str(src), "--target", str(tmp_path / "file")]) == 1
    assert capsys.readouterr().err.strip() == f"error: target {tmp_path / 'file'} is a file, not a folder"
    assert gsod.main(["--from", str(src), "--target", str(tmp_path / "file" / "sub")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: cannot write to the target folder {tmp_path / 'file' / 'sub'}")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root writes into read-only folders; the file-target test above "
                           "covers the same error path")
def test_gsod_read_only_target(tmp_path, capsys):
    src = _gsod_source(tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert gsod.main(["--from", str(src), "--target", str(ro)]) == 1
    finally:
        ro.chmod(0o700)
    assert "cannot write to the target folder" in capsys.readouterr().err


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
    out = tdata.load_weather5(tmp_path, stations)
    assert list(out.columns) == ["silo", "date", *tdata.INPUT_NAMES, "temp"]
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
        tdata.load_weather5(tmp_path, {"Auckland": stations["Auckland"]})


def test_missing_data_names_the_script(tmp_path):
    with pytest.raises(DataMissingError, match="data_scripts.weather5"):
        tdata.load_weather5(tmp_path, {})
    with pytest.raises(DataMissingError, match="data_scripts.gsod"):
        tdata.load_gsod(tmp_path)


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
    frame = tdata.load_weather5(tmp_path / "a", cfg.data.stations)
    assert frame.groupby("silo").size().to_dict() == {c: 730 for c in weather5.CITIES}
    assert frame.isna().sum().sum() == 0


def test_weather5_script_rejects_a_wrong_checksum(tmp_path):
    frame = _synthetic_weather(731)
    frame.to_csv(tmp_path / "Weather.csv", index=False)
    assert weather5.main(["--from", str(tmp_path), "--target", str(tmp_path / "o")]) == 1
    assert not (tmp_path / "o" / "Weather.csv").exists()


# ---------------------------------------------------------------------------- config
def _compose(overrides):
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=["experiment=temperature", *overrides])


def test_the_module_follows_the_contract():
    from experiments.contract import Experiment

    assert isinstance(temperature, Experiment)
    assert not hasattr(temperature, "run")


@pytest.mark.parametrize("profile,source", [("quick", "weather5"), ("paper", "gsod")])
def test_config_composes_and_validates(profile, source):
    cfg = _compose([f"profile={profile}"])
    temperature.validate(cfg)
    assert cfg.name == "temperature" and cfg.data.source == source
    assert cfg.model.num_inducing == 50 and cfg.model.num_inducing_large == 300
    assert cfg.data.root.endswith(source)
    assert 1.0 in cfg.selection.gamma0_per_silo  # the paper's gamma0 / J = 50 / 50


@pytest.mark.parametrize("override,key", [("data.test_fraction=1.5", "data.test_fraction"),
                                          ("data.validation_fraction=0", "data.validation_fraction"),
                                          ("model.num_inducing=0", "model.num_inducing"),
                                          ("methods=[sgp50,nope]", "methods"),
                                          ("model.pseudo_noise=-1", "model.pseudo_noise"),
                                          ("model.pseudo_noise=posterior", "model.pseudo_noise"),
                                          ("model.input_scale=nope", "model.input_scale"),
                                          ("model.dead_margin=0", "model.dead_margin"),
                                          ("selection.max_extensions=-1",
                                           "selection.max_extensions"),
                                          ("selection.sigma=[]", "selection.sigma"),
                                          ("selection.gamma0_per_silo=[1,-1]",
                                           "selection.gamma0_per_silo"),
                                          ("selection.criterion=nope", "selection.criterion"),
                                          ("data.silos=state", "data.silos"),
                                          ("data.inputs=[day,nope]", "data.inputs")])
def test_config_errors_name_the_key(override, key):
    cfg = _compose(["profile=quick", override])
    with pytest.raises(ConfigError, match=key):
        temperature.validate(cfg)


@pytest.mark.parametrize("override", ["model.nope=1", "data.test_fraction=abc",
                                      "selection.sigma=[abc]"])
def test_schema_refuses_unknown_keys_and_wrong_types(override):
    with pytest.raises(ConfigCompositionException):
        _compose(["profile=quick", override])


def test_city_year_silos(tmp_path):
    _synthetic_weather(500).to_csv(tmp_path / "Weather.csv", index=False)
    cfg = _compose(["profile=quick", f"data.root={tmp_path}", "data.silos=city_year"])
    frame = tdata.load_data(cfg)
    assert sorted(set(frame.silo)) == sorted(f"{c} {y}" for c in weather5.CITIES
                                             for y in (2016, 2017))
    assert (frame.silo.str[-4:].astype(int) == frame.year).all()


# ---------------------------------------------------------------------------- end to end
TINY = ["profile=quick", "trials=2", "quiet=true", "model.max_iters=15", "model.num_inducing=6",
        "model.num_inducing_large=10", "model.pooled_num_inducing=8", "data.max_train_per_silo=40",
        "data.max_test_per_silo=10", "fusion.n_iter=3", "selection.sigma=[0.1,1.0]",
        "selection.gamma0_per_silo=[1.0]", "selection.max_extensions=0", "n_jobs=1"]


def test_smoke_run_end_to_end(tmp_path, monkeypatch):
    data = tmp_path / "data" / "weather5"
    data.mkdir(parents=True)
    _synthetic_weather(60).to_csv(data / "Weather.csv", index=False)
    monkeypatch.setenv("SPAHM_DATA", str(tmp_path / "data"))
    runs = []
    for name in ("a", "b"):
        cfg = _compose(TINY + [f"output_dir={tmp_path / name}"])
        runs.append(run_experiment(cfg, temperature))
    df = runs[0]
    assert set(temperature.LABELS) <= set(df.method)
    timed = df.metric.str.endswith("time_s")  # everything but times: same seed, same numbers
    pd.testing.assert_frame_equal(df[~timed].reset_index(drop=True),
                                  runs[1][~timed].reset_index(drop=True))
    main = df[df.method.isin(temperature.LABELS)]
    rmse = main[main.metric == "rmse_self"].set_index(["trial", "method"])["value"]
    assert np.isfinite(rmse).all() and (rmse < 30).all()
    # sigma / gamma0: the validation grid's best point, from training data only
    for t in (0, 1):
        val = df[(df.method == temperature.VALIDATION) & (df.metric == "score") & (df.trial == t)]
        best = val.loc[val.value.idxmin()]
        chosen = df[(df.method == "spahm") & (df.trial == t)].set_index("metric")["value"]
        assert (chosen["sigma"], chosen["gamma0"]) == (best.sigma, best.gamma0)
        assert chosen["gamma0"] == 5.0  # gamma0 / J = 1 with J = 5
    grid = df[df.method == temperature.GRID]
    assert len(grid.groupby(["sigma", "gamma0"])) == 2  # the sensitivity rows, kept apart
    spahm = df[df.method == "spahm"].set_index(["trial", "metric"])["value"]
    assert 0 < spahm[0, "compression"] <= 1 and spahm[0, "n_inducing_points"] == 30
    assert spahm[0, "n_local_atoms"] <= 30  # the live ones
    assert spahm[0, "compression_all"] == pytest.approx(spahm[0, "n_global_atoms"] / 30)
    out = tmp_path / "a"
    for f in ("metrics.csv", "timings.csv", "predictions.csv", "rmse.png", "nlpd.png",
              "sensitivity.png", "predictions.png", "budget.png", "map.png", "config.yaml",
              "provenance.json", "report.md"):
        assert (out / f).is_file(), f
    pred = pd.read_csv(out / "predictions.csv")
    assert (pred.silo == "Chicago").all() and (pred.from_silo == "San Diego").all()
    # only the named city's models: per-silo methods, no shared model
    assert {"sgp50_mean", "spahm_mean", "spahm_eb_from_mean"} <= set(pred.columns)
    assert not any(c.startswith(("pooled", "average", "gpoe", "rbcm")) for c in pred.columns)
    # figures and report redraw from the saved files alone
    for f in ("rmse.png", "predictions.png", "sensitivity.png"):
        (out / f).unlink()
    saved = OmegaConf.load(out / "config.yaml")
    paths = temperature.plot(load_results(out), out, saved)
    assert {p.name for p in paths} == {"rmse.png", "nlpd.png", "sensitivity.png",
                                       "predictions.png", "budget.png", "map.png"}
    per_silo = df[df.method == temperature.SILO]
    assert set(per_silo.model) == {"sgp50", "spahm"}
    assert len(per_silo) == 2 * 2 * 2 * 5  # trials x models x (self, across) x silos
    text = temperature.report(load_results(out), saved)
    assert "5.509" in text and "Sensitivity (NOT used for choosing)" in text
    assert "chosen on each split's validation days" in text and "0.116" in text


def test_grid_is_extended_until_the_choice_is_inside(tmp_path, monkeypatch):
    """A grid whose best point is an edge of the sigma or the gamma0 / J axis grows on that
    side (x0.5 / x2) until the chosen value has a neighbour beyond it, or the extensions run
    out; only validation rows decide."""
    data = tmp_path / "data" / "weather5"
    data.mkdir(parents=True)
    _synthetic_weather(60).to_csv(data / "Weather.csv", index=False)
    monkeypatch.setenv("SPAHM_DATA", str(tmp_path / "data"))
    overrides = [o for o in TINY if not o.startswith(("selection.", "trials"))]
    cfg = _compose(overrides + ["trials=1", "selection.sigma=[4.0,8.0]",
                                "selection.gamma0_per_silo=[1.0]", "selection.max_extensions=3",
                                "methods=[spahm]", "sensitivity=true",
                                f"output_dir={tmp_path / 'run'}"])
    df = run_experiment(cfg, temperature)
    J = df[(df.method == "spahm") & (df.metric == "n_silos")].value.iloc[0]
    val = df[(df.method == temperature.VALIDATION) & (df.metric == "score")]
    score = val.set_index(["sigma", "gamma0"])["value"]
    assert score.index.is_unique
    # every value of one axis is scored with every value of the other
    assert len(score) == val.sigma.nunique() * val.gamma0.nunique()
    spahm = df[df.method == "spahm"].set_index("metric")["value"]
    assert score[spahm["sigma"], spahm["gamma0"]] == pytest.approx(score.min(), rel=1e-9)
    for axis, given, chosen in (("sigma", [4.0, 8.0], spahm["sigma"]),
                                ("gamma0", [J], spahm["gamma0"])):
        values = sorted(set(val[axis]))
        assert set(given) <= set(values)
        for v in set(values) - set(given):  # x0.5 / x2 steps from the given grid
            steps = [np.log2(v / g) for g in (min(given), max(given))]
            assert any(float(s).is_integer() and abs(s) <= 3 for s in steps), (axis, v)
        below = sum(x < min(given) for x in values)
        above = sum(x > max(given) for x in values)
        # inside the grid, or on an edge whose side ran out of extensions
        assert (values[0] < chosen < values[-1] or (chosen == values[0] and below == 3)
                or (chosen == values[-1] and above == 3)), (axis, chosen, values)
    # the gamma0 grid of one value was extended on both sides
    assert val.gamma0.nunique() >= 3
    # the sensitivity table covers the grid as extended
    grid = df[(df.method == temperature.GRID) & (df.metric == "rmse_across")]
    assert set(zip(grid.sigma, grid.gamma0)) == set(score.index)


def test_data_missing_is_reported_before_any_trial(tmp_path, monkeypatch):
    monkeypatch.setenv("SPAHM_DATA", str(tmp_path))
    cfg = _compose(TINY + [f"output_dir={tmp_path / 'run'}"])
    with pytest.raises(DataMissingError, match="data_scripts.weather5"):
        temperature.prepare(cfg)


def test_plot_silo_must_exist(tmp_path, monkeypatch):
    (tmp_path / "weather5").mkdir()
    _synthetic_weather(20).to_csv(tmp_path / "weather5" / "Weather.csv", index=False)
    monkeypatch.setenv("SPAHM_DATA", str(tmp_path))
    cfg = _compose(TINY + ["plot.silo=Paris"])
    with pytest.raises(ConfigError, match="plot.silo"):
        temperature.prepare(cfg)


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_WEATHER / "Weather.csv").is_file(), reason="no shared weather5")
def test_one_quick_trial_on_real_weather5_shows_the_papers_ordering(tmp_path, monkeypatch):
    """About two minutes: the quick profile's first split on the real data."""
    monkeypatch.setenv("SPAHM_DATA", str(SHARED_WEATHER.parent))
    cfg = _compose(["profile=quick", "trials=1", "quiet=true", f"output_dir={tmp_path}"])
    df = run_experiment(cfg, temperature)
    value = df[df.method.isin(temperature.LABELS)].set_index(["method", "metric"])["value"]
    assert value["spahm", "rmse_across"] < 0.5 * value["sgp50", "rmse_across"]
    assert value["spahm", "rmse_self"] < value["sgp50", "rmse_self"] + 0.5


@pytest.mark.parametrize("run", ["quick", "city_year", "states"])
def test_committed_choices_lie_inside_their_validation_grids(run):
    """In every split of the committed runs, the chosen sigma and gamma0 have a scored grid
    value on each side (the grids as extended in that split)."""
    df = pd.read_csv(ROOT / "results" / "temperature" / run / "metrics.csv")
    for trial, rows in df.groupby("trial"):
        chosen = rows[rows.method == "spahm"].set_index("metric")["value"]
        scored = rows[(rows.method == temperature.VALIDATION) & (rows.metric == "score")]
        for axis in ("sigma", "gamma0"):
            values = sorted(set(scored[axis]))
            assert values[0] < chosen[axis] < values[-1], (run, trial, axis, values)

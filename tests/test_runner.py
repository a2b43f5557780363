"""The shared runner: resume that verifies what it resumes, run directories it may use, checks
before anything is written, per-silo fitting on any joblib backend.

Each bad input is a row of a table: the input, and the error text or the result expected.
"""
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from conftest import ROOT
from experiments import _parallel, _runner
from experiments._runner import (
    ConfigError,
    RunDirError,
    Trial,
    check_run,
    fit_per_silo,
    load_results,
    parallel_backend,
    run_experiment,
)

# ---------------------------------------------------------------------------- a tiny experiment
CALLS = []


def _trial(cfg, setting, trial, prepared):
    CALLS.append((setting["x"], trial.index))
    value = float(trial.rng("v").normal()) * setting["x"]
    return [{"method": "a", "metric": "m", "value": value},
            {"method": "b", "metric": "m", "value": value + 1.0},
            {"method": "a", "metric": "time_s", "value": 0.25}]


FAKE = types.SimpleNamespace(
    LABELS={"a": "A", "b": "B"},
    validate=lambda cfg: None,
    prepare=lambda cfg: None,
    settings=lambda cfg: [{"x": 1}, {"x": 2.5}],
    trial=_trial,
    plot=lambda df, out_dir, cfg: [],
    report=lambda df, cfg: f"{len(df)} rows\n",
)


def fake_cfg(out_dir, **extra):
    cfg = {"name": "fake", "profile": "quick", "trials": 3, "seed": 7, "resume": True,
           "quiet": True, "n_jobs": 1, "output_dir": str(out_dir),
           "parallel": {"backend": "loky", "address": None},
           "objective": {"metric": "m", "method": "b", "direction": "minimize"}}
    cfg.update(extra)
    return OmegaConf.create(cfg)


def run_fake(out_dir, **extra):
    CALLS.clear()
    return run_experiment(fake_cfg(out_dir, **extra), FAKE)


def tidy(df):
    cols = ["x", "trial", "seed", "method", "metric", "value"]
    return df[cols].sort_values(cols[:5]).reset_index(drop=True)


@pytest.fixture
def clean_run(tmp_path):
    """A finished run of the tiny experiment and its rows."""
    out = tmp_path / "run"
    df = run_fake(out)
    assert len(CALLS) == 6
    return out, tidy(df)


def test_a_finished_run_writes_a_manifest_and_resumes_nothing(clean_run):
    out, rows = clean_run
    manifest = json.loads((out / "manifest.json").read_text())["trials"]
    assert len(manifest) == 6
    assert all(v["metrics"]["rows"] == 2 and v["timings"]["rows"] == 1 for v in manifest.values())
    again = run_fake(out)
    assert CALLS == []
    pd.testing.assert_frame_equal(tidy(again), rows)
    assert again.attrs["objective"] == pytest.approx(rows.query("method == 'b'")["value"].mean())


def _cut_mid_line(out):
    data = (out / "metrics.csv").read_bytes()
    (out / "metrics.csv").write_bytes(data[:-7])


def _header_only(out):
    (out / "metrics.csv").write_text((out / "metrics.csv").read_text().splitlines()[0] + "\n")


def _zero_bytes(out):
    (out / "metrics.csv").write_bytes(b"")


def _drop_a_trial(out):
    df = pd.read_csv(out / "metrics.csv")
    df[~((df.x == 2.5) & (df.trial == 1))].to_csv(out / "metrics.csv", index=False)


def _change_a_value(out):
    df = pd.read_csv(out / "metrics.csv")
    df.loc[3, "value"] += 1e-3
    df.to_csv(out / "metrics.csv", index=False, float_format="%.10g")


def _drop_a_timing_row(out):
    lines = (out / "timings.csv").read_text().splitlines(keepends=True)
    (out / "timings.csv").write_text("".join(lines[:-1]))


def _no_timings(out):
    (out / "timings.csv").unlink()


# damage, what the check reports, trials run again by resume
DAMAGE = [
    (_cut_mid_line, "metrics.csv is cut off (its last line is incomplete)", 1),
    (_header_only, "trial 0 (x=1) is damaged (metrics.csv has 0 of its 2 rows)", 6),
    (_zero_bytes, "metrics.csv is empty (0 bytes)", 6),
    (_drop_a_trial, "trial 1 (x=2.5) is damaged (metrics.csv has 0 of its 2 rows)", 1),
    (_change_a_value, "metrics.csv's rows differ from their checksum", 1),
    (_drop_a_timing_row, "timings.csv has 0 of its 1 rows", 1),
    (_no_timings, "timings.csv is missing", 6),
]


@pytest.mark.parametrize("damage,message,rerun", DAMAGE, ids=[d[0].__name__ for d in DAMAGE])
def test_resume_verifies_what_it_resumes(clean_run, capsys, damage, message, rerun):
    out, rows = clean_run
    clean = {n: (out / n).read_bytes() for n in ("metrics.csv", "timings.csv", "manifest.json")}
    damage(out)
    check = check_run(out)
    assert any(message in p for p in check.problems), check.problems
    with pytest.raises(RunDirError, match="Resume the run"):  # spahm-report's check
        load_results(out)
    again = run_fake(out)
    assert len(CALLS) == rerun
    assert message in capsys.readouterr().err
    pd.testing.assert_frame_equal(tidy(again), rows)  # same numbers as the clean run
    pd.testing.assert_frame_equal(tidy(load_results(out)), rows)
    assert check_run(out).problems == []
    # the repaired run's files are byte for byte those of the clean run
    assert {n: (out / n).read_bytes() for n in clean} == clean


def test_a_damaged_run_is_refused_by_spahm_report(tmp_path, capsys):
    from experiments import report

    out = tmp_path / "sim"
    cfg = _tiny_simulated(out)
    _cut_mid_line(out)
    assert report.main([str(out)]) == 1
    err = capsys.readouterr().err
    assert "metrics.csv is cut off" in err and "Traceback" not in err
    (out / "metrics.csv").write_bytes(b"")
    assert report.main([str(out)]) == 1
    assert "metrics.csv is empty (0 bytes)" in capsys.readouterr().err
    assert cfg.name == "simulated"


def _tiny_simulated(out):
    from conftest import compose
    from experiments.cli import run

    cfg = compose(["experiment=simulated", *TINY_SIMULATED, f"output_dir={out}"])
    run(cfg)
    return cfg


TINY_SIMULATED = ["trials=1", "data.L=5", "data.D=2", "data.M=60", "grid.sigma_local=[0.5]",
                  "grid.J_at_sigma=3", "grid.J=[3]", "grid.sigma_at_J=0.5", "fusion.n_iter=2",
                  "model.n_init=1", "quiet=true"]


# ---------------------------------------------------------------------------- run directories
def _foreign(path):
    path.mkdir()
    (path / "notes.txt").write_text("mine")


def _other_experiment(path):
    path.mkdir()
    (path / "config.yaml").write_text("name: topics\nseed: 0\n")
    (path / "provenance.json").write_text("{}")


def _a_file(path):
    path.write_text("x")


RUN_DIRS = [
    (_foreign, "holds files no run of 'fake' wrote (notes.txt)"),
    (_other_experiment, "holds a run of 'topics', not 'fake'"),
    (_a_file, "is a file: name a new or empty directory"),
]


@pytest.mark.parametrize("make,message", RUN_DIRS, ids=[r[0].__name__ for r in RUN_DIRS])
def test_run_directories_holding_other_files_are_refused(tmp_path, make, message):
    out = tmp_path / "run"
    make(out)
    before = sorted(p.name for p in out.iterdir()) if out.is_dir() else out.read_text()
    with pytest.raises(RunDirError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_fake(out)
    assert CALLS == []
    assert (sorted(p.name for p in out.iterdir()) if out.is_dir() else out.read_text()) == before


def test_only_hydra_files_or_an_earlier_run_are_accepted(tmp_path, clean_run):
    out = tmp_path / "hydra_only"
    (out / ".hydra").mkdir(parents=True)
    (out / "cli.log").write_text("")
    run_fake(out)
    assert len(CALLS) == 6 and (out / "metrics.csv").is_file()


# config value, error text; nothing may be written
BAD_CONFIG = [
    ({"seed": -1}, "config key 'seed' = -1: expected an integer >= 0"),
    ({"seed": "abc"}, "config key 'seed' = 'abc': expected an integer >= 0"),
    ({"trials": 0}, "config key 'trials' = 0: expected an integer >= 1"),
    ({"n_jobs": 0}, "config key 'n_jobs' = 0: expected an integer >= 1, or -1"),
    ({"threads": 0}, "config key 'threads' = 0: expected an integer >= 1"),
    ({"parallel": {"backend": "spark", "address": None}}, "config key 'parallel.backend' = 'spark'"),
    ({"objective": {"metric": "m", "method": "b", "direction": "up"}},
     "config key 'objective.direction' = 'up'"),
]


@pytest.mark.parametrize("extra,message", BAD_CONFIG, ids=[m.split("=")[0] for _, m in BAD_CONFIG])
def test_runner_keys_are_checked_before_anything_is_written(tmp_path, extra, message):
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        run_fake(out, **extra)
    assert not out.exists() and CALLS == []


def test_nothing_is_written_when_a_run_fails_before_its_first_trial(tmp_path):
    out = tmp_path / "run"
    failing = types.SimpleNamespace(**{**vars(FAKE), "prepare": _raise_missing})
    with pytest.raises(_runner.DataMissingError):
        run_experiment(fake_cfg(out), failing)
    assert not out.exists()


def _raise_missing(cfg):
    raise _runner.DataMissingError("no data (test)")


def test_committed_results_record_no_absolute_path(tmp_path):
    out = ROOT / "outputs" / "_test_relative_paths"
    try:
        run_fake(out)
        saved = OmegaConf.load(out / "config.yaml")
        assert saved.output_dir == "outputs/_test_relative_paths"
        assert str(ROOT) not in (out / "provenance.json").read_text()
        provenance = json.loads((out / "provenance.json").read_text())
        assert provenance["output_dir"] == "outputs/_test_relative_paths"
    finally:
        import shutil

        shutil.rmtree(out, ignore_errors=True)
    assert _runner.command_line([str(ROOT / "experiments" / "cli.py"),
                                 f"hydra.run.dir={ROOT / 'results' / 'x'}"]) == \
        "experiments/cli.py hydra.run.dir=results/x"
    assert _runner.command_line(["/somewhere/bin/spahm-experiment", "seed=1"]) == \
        "spahm-experiment seed=1"


# ---------------------------------------------------------------------------- the command line
def spahm_experiment(*args, cwd=ROOT, env=None):
    return subprocess.run([sys.executable, "-m", "experiments.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


# arguments, error text on stderr
CLI_ERRORS = [
    (["hydra.run.dir=conf"], "run directory conf holds files no run of 'simulated' wrote"),
    (["seed=-1", "hydra.run.dir={tmp}/r"], "error: config key 'seed' = -1: expected an integer >= 0"),
    (["experiment=temperature", "hydra.run.dir={tmp}/r"], "python -m data_scripts.weather5"),
]


@pytest.mark.parametrize("args,message", CLI_ERRORS, ids=["conf", "seed-negative", "data-missing"])
def test_user_errors_are_one_message_without_traceback(tmp_path, args, message):
    conf_before = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "conf").rglob("*"))
    tiny = [] if "experiment=temperature" in args else TINY_SIMULATED
    done = spahm_experiment(*[a.format(tmp=tmp_path) for a in args], *tiny,
                            env={"SPAHM_DATA": str(tmp_path / "no-data")})
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "hint:" in done.stderr or "HYDRA_FULL_ERROR" in done.stderr
    assert not (tmp_path / "r").exists()  # no run directory left behind
    assert sorted(str(p.relative_to(ROOT)) for p in (ROOT / "conf").rglob("*")) == conf_before
    if "experiment=temperature" in args:
        shared = ROOT.parent / "shared" / "data" / "weather5"
        assert ("--from" in done.stderr) == shared.is_dir()


# command line, error text: refused before Hydra creates or writes anything
BEFORE_HYDRA = [
    (["hydra.run.dir=/"], "run directory / holds files no run of 'simulated' wrote"),
    (["experiment=mocap", "hydra.run.dir=conf"], "run directory conf holds files no run of 'mocap'"),
    (["hydra.run.dir=README.md"], "run directory README.md is a file"),
    (["-m", "hydra.sweep.dir=conf"], "sweep directory conf holds files no sweep wrote"),
]


@pytest.mark.parametrize("argv,message", BEFORE_HYDRA, ids=["root", "conf", "file", "sweep"])
def test_unusable_directories_are_refused_before_hydra_starts(argv, message, monkeypatch):
    from experiments import cli

    monkeypatch.chdir(ROOT)
    with pytest.raises(RunDirError, match=message):
        cli._refuse_unusable_dirs(argv)


def test_full_error_shows_the_traceback(tmp_path):
    done = spahm_experiment("seed=-1", f"hydra.run.dir={tmp_path}/r", *TINY_SIMULATED,
                            env={"HYDRA_FULL_ERROR": "1"})
    assert done.returncode == 1 and "Traceback" in done.stderr and "ConfigError" in done.stderr


def test_ctrl_c_prints_one_line_and_leaves_no_empty_directory(tmp_path, monkeypatch, capsys):
    from experiments import cli

    def interrupted(cfg):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run", interrupted)
    out = tmp_path / "r"
    (out / ".hydra").mkdir(parents=True)  # as Hydra leaves it before the task starts
    with pytest.raises(SystemExit) as stop:
        cli._task(fake_cfg(out))
    assert stop.value.code == 130
    assert capsys.readouterr().err == "interrupted: nothing was kept\n"
    assert not out.exists()


def test_a_run_prints_its_directory_and_headline_and_returns_the_objective(tmp_path, capsys,
                                                                           monkeypatch):
    from experiments import cli

    monkeypatch.setattr(cli, "load", lambda name: FAKE)
    value = cli._task(fake_cfg(tmp_path / "r"))
    printed = capsys.readouterr().out
    assert printed.startswith(f"run directory: {tmp_path / 'r'}\n")
    assert "m (minimize; mean over trials and settings):" in printed
    assert "<- objective" in printed and "+-" in printed
    assert isinstance(value, float)


def test_progress_bars_only_on_a_terminal(monkeypatch):
    cfg = fake_cfg("x", quiet=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert not _runner._show_progress(cfg)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert _runner._show_progress(cfg)
    assert not _runner._show_progress(fake_cfg("x", quiet=True))


# ---------------------------------------------------------------------------- per-silo fitting
def _fit(data, seed):
    try:
        from distributed import get_worker

        where = get_worker().address
    except (ImportError, ValueError):
        where = None
    return float(np.sum(data)) + seed % 1000, where


def test_fit_per_silo_is_the_same_on_every_backend():
    trial = Trial(2, 11)
    data = [np.arange(j + 2.0) for j in range(4)]
    reference = fit_per_silo(_fit, data, trial, n_jobs=1)
    assert len({m for m, _ in reference.models}) == 4  # every silo its own seed
    for backend in ("loky", "threading", "sequential"):
        with parallel_backend(fake_cfg("x", parallel={"backend": backend, "address": None})):
            fits = fit_per_silo(_fit, data, trial, n_jobs=2)
        assert [m for m, _ in fits.models] == [m for m, _ in reference.models]
        assert fits.wall_s.shape == (4,) and fits.sequential_wall_s >= fits.parallel_wall_s


def _blas_threads(data, seed):
    from threadpoolctl import threadpool_info

    return sorted({p["num_threads"] for p in threadpool_info()})


def test_threads_are_pinned_in_the_run_and_in_its_loky_workers(tmp_path):
    """``threads`` limits BLAS/OpenMP in the run's process and in every loky worker, whatever
    the machine's core count (the last digits of GP and coherence results depend on it)."""
    seen = {}

    def trial(cfg, setting, trial, prepared):
        seen["parent"] = _blas_threads(None, 0)
        seen["workers"] = fit_per_silo(_blas_threads, [0, 1, 2, 3], trial, n_jobs=2).models
        return [{"method": "a", "metric": "m", "value": 1.0}]

    module = types.SimpleNamespace(**{**vars(FAKE), "trial": trial,
                                      "settings": lambda cfg: [{"x": 1}]})
    run_experiment(fake_cfg(tmp_path / "run", trials=1, threads=1), module)
    assert seen["parent"] == [1]
    assert seen["workers"] == [[1]] * 4
    provenance = json.loads((tmp_path / "run" / "provenance.json").read_text())
    assert set(provenance["threads"].values()) == {1}


def test_fit_per_silo_on_a_dask_cluster():
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed (pip install -e '.[dask]')")
    trial = Trial(0, 3)
    data = [np.arange(j + 1.0) for j in range(4)]
    reference = fit_per_silo(_fit, data, trial, n_jobs=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        cfg = fake_cfg("x", n_jobs=2, parallel={"backend": "dask", "address": cluster.scheduler_address})
        with parallel_backend(cfg):
            fits = fit_per_silo(_fit, data, trial, n_jobs=2)
    assert [m for m, _ in fits.models] == [m for m, _ in reference.models]
    assert all(where is not None for _, where in fits.models)  # fitted on the cluster's workers


def test_an_unreachable_dask_scheduler_is_a_config_error(monkeypatch):
    pytest.importorskip("distributed", reason="dask.distributed is not installed")
    monkeypatch.setattr(_parallel, "DASK_CONNECT_TIMEOUT", "1s")
    cfg = fake_cfg("x", parallel={"backend": "dask", "address": "tcp://127.0.0.1:9"})
    with pytest.raises(ConfigError, match="cannot reach the dask scheduler"):
        with parallel_backend(cfg):
            pass


def test_output_dir_naming_a_tracked_folder_is_refused(monkeypatch):
    from experiments import cli

    monkeypatch.setattr(cli, "load", lambda name: FAKE)
    CALLS.clear()
    before = sorted(p.name for p in (ROOT / "conf").iterdir())
    with pytest.raises(cli.RunError, match="error: run directory .*conf holds files no run of 'fake'"):
        cli._task(fake_cfg(ROOT / "conf"))
    assert sorted(p.name for p in (ROOT / "conf").iterdir()) == before and CALLS == []


def test_resuming_a_finished_run_leaves_its_csv_byte_identical(clean_run):
    out, _ = clean_run
    before = {name: (out / name).read_bytes() for name in ("metrics.csv", "timings.csv", "manifest.json")}
    run_fake(out)
    assert CALLS == []
    assert {name: (out / name).read_bytes() for name in before} == before
    # a run from scratch gives the same metrics.csv, byte for byte
    run_fake(out, resume=False)
    assert len(CALLS) == 6 and (out / "metrics.csv").read_bytes() == before["metrics.csv"]


def test_a_damaged_manifest_reruns_every_trial(clean_run, capsys):
    out, rows = clean_run
    (out / "manifest.json").write_text('{"trials": {"x": 1')
    assert "manifest.json is damaged: no trial can be verified" in check_run(out).problems[0]
    again = run_fake(out)
    assert len(CALLS) == 6
    pd.testing.assert_frame_equal(tidy(again), rows)


def test_provenance_records_the_commit_the_run_started_from(tmp_path, monkeypatch):
    """The commit is read before the first trial runs: a checkout that moves on during a long
    run (a commit made meanwhile) does not end up in the run's provenance.json."""
    from experiments import _provenance

    _provenance._git_commit.cache_clear()
    seen = []
    module = types.SimpleNamespace(**{**vars(FAKE), "trial": lambda cfg, s, trial, p: (
        seen.append(_provenance._git_commit.cache_info().currsize) or _trial(cfg, s, trial, p))})
    try:
        run_experiment(fake_cfg(tmp_path / "run", trials=1), module)
    finally:
        _provenance._git_commit.cache_clear()
    assert seen and all(n == 1 for n in seen)  # read before the first trial started
    info = json.loads((tmp_path / "run" / "provenance.json").read_text())
    assert info["git_commit"] == _provenance._git_commit()

"""Probes of a run as a hostile user would try it: each row an input or a fault, and the
outcome expected. Principles: nothing committed or owned by another run is lost; no damaged
or foreign file is trusted; every failure is one line naming its cause."""
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import types

import pytest
from omegaconf import OmegaConf

from conftest import ROOT
from experiments import _store, cli
from experiments._loop import progress_line
from experiments._runner import ConfigError, RunDirError, load_results, run_experiment
from experiments._store import hold

CALLS = []


def _trial(cfg, setting, trial, prepared):
    CALLS.append((setting["x"], trial.index))
    value = float(trial.rng("v").normal()) * setting["x"]
    return [{"method": "a", "metric": "m", "value": value},
            {"method": "a", "metric": "time_s", "value": 0.25}]


FAKE = types.SimpleNamespace(
    LABELS={"a": "A"}, validate=lambda cfg: None, prepare=lambda cfg: None,
    settings=lambda cfg: [{"x": 1}, {"x": 2}], trial=_trial,
    plot=lambda df, out_dir, cfg: [], report=lambda df, cfg: f"{len(df)} rows\n")


def cfg_for(out_dir, **extra):
    cfg = {"name": "fake", "profile": "quick", "trials": 2, "seed": 7, "resume": True,
           "overwrite": False, "quiet": True, "n_jobs": 1, "output_dir": str(out_dir),
           "parallel": {"backend": "loky", "address": None},
           "objective": {"metric": "m", "method": "a", "direction": "minimize"}}
    cfg.update(extra)
    return OmegaConf.create(cfg)


def run(out_dir, module=FAKE, **extra):
    CALLS.clear()
    return run_experiment(cfg_for(out_dir, **extra), module)


def files(path):
    return {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})


@pytest.fixture
def committed_run(tmp_path):
    """A finished run committed to a git repository."""
    repo = tmp_path / "repo"
    out = repo / "results" / "fake"
    run(out)
    git("init", "-q", cwd=repo)
    git("add", ".", cwd=repo)
    git("commit", "-qm", "results", cwd=repo)
    return out


# ---------------------------------------------------------------------------- 1. nothing lost
def test_a_run_into_committed_results_is_refused_without_overwrite(committed_run):
    before = files(committed_run)
    for extra in ({}, {"resume": False}, {"trials": 3}):
        with pytest.raises(RunDirError, match="holds committed results .*overwrite=true"):
            run(committed_run, **extra)
        assert CALLS == [] and files(committed_run) == before


def test_overwrite_replaces_committed_results_only_once_the_run_completes(committed_run):
    before = files(committed_run)

    def interrupted(cfg, setting, trial, prepared):
        if len(CALLS) == 2:
            raise KeyboardInterrupt
        return _trial(cfg, setting, trial, prepared)

    module = types.SimpleNamespace(**{**vars(FAKE), "trial": interrupted})
    with pytest.raises(KeyboardInterrupt):
        run(committed_run, module, overwrite=True, resume=False, seed=8)
    assert files(committed_run) == before  # the committed run is whole
    staged = _store.staging_dir(committed_run)
    assert staged.is_dir()
    run(committed_run, overwrite=True, seed=8)  # resumes the replacement, not the old run
    assert len(CALLS) == 2 and not staged.exists()
    assert files(committed_run)[_path("metrics.csv")] != before[_path("metrics.csv")]
    assert json.loads((committed_run / "provenance.json").read_text())["output_dir"] == str(
        committed_run)


def _path(name):
    from pathlib import Path

    return Path(name)


def test_a_second_run_into_a_held_directory_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with hold(out):
        with pytest.raises(RunDirError, match="another run is writing into"):
            run(out)
    assert CALLS == []


def test_a_killed_run_leaves_no_stuck_lock(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from experiments._store import hold
        with hold({str(out)!r}):
            print("held", flush=True)
            time.sleep(60)
        """)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunDirError, match="another run"):
        run(out)
    holder.kill()
    holder.wait()
    holder.stdout.close()
    run(out)
    assert len(CALLS) == 4 and not [p for p in out.iterdir() if "lock" in p.name]


# ---------------------------------------------------------------------------- 2. nothing trusted
def _delete_manifest(out):
    (out / "manifest.json").unlink()


def _empty_manifest(out):
    (out / "manifest.json").write_text('{"trials": {}}\n')


def _zero_manifest(out):
    (out / "manifest.json").write_text("")


def _other_experiment(out):
    path = out / "config.yaml"
    path.write_text(path.read_text().replace("name: fake", "name: mocap"))


def _crlf(out):
    path = out / "metrics.csv"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))


def _metrics_dir(out):
    (out / "metrics.csv").unlink()
    (out / "metrics.csv").mkdir()


def _bad_yaml(out):
    (out / "config.yaml").write_text("name: [fake\n")


# damage, what spahm-report / load_results says
TAMPERING = [
    (_delete_manifest, "manifest.json is missing: no trial can be verified"),
    (_empty_manifest, "records no finished trial"),
    (_zero_manifest, "manifest.json is damaged"),
    (_other_experiment, "names experiment 'mocap' but the run was 'fake'"),
    (_crlf, "Windows line ends"),
    (_metrics_dir, "metrics.csv cannot be read"),
    (_bad_yaml, "config.yaml is not readable"),
]


@pytest.mark.parametrize("damage,message", TAMPERING, ids=[t[0].__name__ for t in TAMPERING])
def test_tampered_runs_are_refused_by_report_and_resume(tmp_path, damage, message, capsys):
    out = tmp_path / "run"
    run(out)
    damage(out)
    with pytest.raises(RunDirError, match=message):
        load_results(out)
    from experiments import report

    assert report.main([str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


@pytest.mark.parametrize("damage", [_delete_manifest, _empty_manifest, _crlf],
                         ids=["no-manifest", "empty-manifest", "crlf"])
def test_resume_reruns_what_it_cannot_verify(tmp_path, damage, capsys):
    out = tmp_path / "run"
    first = run(out)
    reference = (out / "metrics.csv").read_bytes()
    damage(out)
    again = run(out)
    assert len(CALLS) == 4 and len(again) == len(first)
    assert (out / "metrics.csv").read_bytes() == reference
    assert "such trials are run again" in capsys.readouterr().err


# ---------------------------------------------------------------------------- 3. one line each
BAD_VALUES = ["fusion.n_init=0", "fusion.sigma=inf", "fusion.max_global_atoms=0",
              "fusion.mu0=nan", "fusion.popularity_cap=0", "fusion.gamma0=-1",
              "fusion.n_iter=1.5", "fusion.sigma0=abc", "fusion.sigma_prior_dof=-1"]


@pytest.mark.parametrize("override", BAD_VALUES)
def test_every_fusion_value_is_checked_before_any_work(tmp_path, override):
    key, value = override.split("=")
    try:
        parsed = float(value) if value in ("inf", "nan") else json.loads(value)
    except ValueError:
        parsed = value
    cfg = cfg_for(tmp_path / "run")
    cfg.fusion = {key.split(".")[1]: parsed}
    CALLS.clear()
    with pytest.raises(ConfigError, match=f"config key '{key}'"):
        run_experiment(cfg, FAKE)
    assert CALLS == [] and not (tmp_path / "run").exists()


def _full_disk(monkeypatch, tmp_path):
    def no_space(df, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(_store, "atomic_write_csv", no_space)
    return tmp_path / "run"


def _under_a_file(monkeypatch, tmp_path):
    (tmp_path / "f").write_text("x")
    return tmp_path / "f" / "run"


def _read_only(monkeypatch, tmp_path):
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "ro"))

    monkeypatch.setattr(_store, "atomic_write_csv", denied)
    return tmp_path / "ro"


FAULTS = [(_full_disk, "No space left on device"), (_under_a_file, "Not a directory"),
          (_read_only, "Permission denied")]


@pytest.mark.parametrize("fault,message", FAULTS, ids=[f[0].__name__ for f in FAULTS])
def test_faults_are_one_line_and_a_hint(tmp_path, monkeypatch, fault, message):
    out = fault(monkeypatch, tmp_path)
    monkeypatch.setattr(cli, "load", lambda name: FAKE)
    with pytest.raises(cli.RunError) as stop:
        cli._task(cfg_for(out))
    text = str(stop.value)
    assert text.startswith("error: ") and message in text and "\nhint: " in text
    assert text.count("\n") == 1


def test_hydra_errors_are_one_line_without_its_header(tmp_path):
    for args in (["seed=abc"], ["seed=["], ["experiment=nope"], ["fusion.n_init=0"]):
        done = subprocess.run([sys.executable, "-m", "experiments.cli", *args,
                               f"hydra.run.dir={tmp_path}/r"], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 1, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith(
            "hint: "), done.stderr
        assert "Error executing job" not in done.stderr and "HYDRA_FULL_ERROR" not in done.stderr


def test_the_ctrl_c_hint_is_the_exact_command_that_resumes(tmp_path):
    out = tmp_path / "outputs" / "fake" / "quick" / "2026-01-01_00-00-00"
    command = cli.resume_command(out, ["/x/bin/spahm-experiment", "experiment=simulated",
                                       "trials=3"])
    assert command == f"spahm-experiment experiment=simulated trials=3 hydra.run.dir={out}"
    command = cli.resume_command(out, ["spahm-experiment", "output_dir=/a b"])
    assert command == "spahm-experiment 'output_dir=/a b'"


def test_sigterm_stops_a_run_as_ctrl_c_does(tmp_path):
    """No memory-mapped folder of loky's left in /dev/shm or the temp dir, finished trials
    kept, the same exit path as Ctrl-C."""
    shm = tmp_path / "shm"
    shm.mkdir()
    script = textwrap.dedent(f"""
        import sys, time, types, numpy as np
        from omegaconf import OmegaConf
        from experiments._runner import fit_per_silo, run_experiment

        def fit(data, seed):
            return float(data.sum())

        def trial(cfg, setting, t, prepared):
            big = [np.ones(300_000) * j for j in range(4)]   # > 1 MB: memory-mapped
            fit_per_silo(fit, big, t, n_jobs=2)
            print("trial", flush=True)
            time.sleep(30 if t.index else 0)
            return [{{"method": "a", "metric": "m", "value": 1.0}}]

        module = types.SimpleNamespace(validate=lambda c: None, prepare=lambda c: None,
                                       settings=lambda c: [{{}}], trial=trial,
                                       plot=lambda *a: [], report=lambda *a: "")
        cfg = OmegaConf.create({{"name": "fake", "profile": "quick", "trials": 3, "seed": 0,
                                "quiet": True, "n_jobs": 2, "output_dir": {str(tmp_path / 'run')!r},
                                "parallel": {{"backend": "loky", "address": None}}}})
        try:
            run_experiment(cfg, module)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
        """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT),
                                            "JOBLIB_TEMP_FOLDER": str(shm)})
    assert proc.stdout.readline().strip() == "trial"
    assert proc.stdout.readline().strip() == "trial"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in out
    assert list(shm.iterdir()) == []
    assert len(load_results(tmp_path / "run")) == 1  # the finished trial is kept


# ---------------------------------------------------------------------------- progress in logs
def test_progress_is_one_line_per_trial_outside_a_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    run(tmp_path / "run", quiet=False)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("[fake] trial")]
    assert [ln.split(" done")[0] for ln in lines] == [f"[fake] trial {i}/4" for i in range(1, 5)]
    assert "\r" not in err and "left" in lines[0] and "left" not in lines[-1]


def test_progress_line_estimates_what_is_left():
    assert progress_line("x", 1, 4, 30.0) == "[x] trial 1/4 done, 30s elapsed, about 1m30s left"
    assert progress_line("x", 4, 4, 7300.0) == "[x] trial 4/4 done, 2h01m elapsed"


def test_hydra_run_dir_at_committed_results_is_refused_before_hydra_writes(committed_run):
    before = files(committed_run)
    with pytest.raises(RunDirError, match="holds committed results"):
        cli._refuse_unusable_dirs(["experiment=fake", f"hydra.run.dir={committed_run}"])
    cli._refuse_unusable_dirs(["experiment=fake", f"hydra.run.dir={committed_run}",
                               "overwrite=true"])
    assert files(committed_run) == before


TINY_SIMULATED = ["trials=1", "data.L=5", "data.D=2", "data.M=60", "grid.sigma_local=[0.5]",
                  "grid.J_at_sigma=3", "grid.J=[3]", "grid.sigma_at_J=0.5", "fusion.n_iter=2",
                  "model.n_init=1"]


def test_reproduce_keeps_committed_runs_unless_told(tmp_path, capsys):
    """`make paper` (reproduce without --overwrite) does not rerun a committed paper run."""
    from experiments import reproduce

    repo = tmp_path / "repo"
    results = repo / "results"
    args = ["--profile", "paper", "--only", "simulated", "--results", str(results),
            *TINY_SIMULATED, "quiet=true"]
    assert reproduce.main(args) == 0
    git("init", "-q", cwd=repo)
    git("add", ".", cwd=repo)
    git("commit", "-qm", "results", cwd=repo)
    run_dir = results / "simulated" / "paper"
    before = files(run_dir)
    assert reproduce.main(args + ["seed=5"]) == 0
    assert files(run_dir) == before
    assert "the committed run was kept" in (results / "REPORT_paper.md").read_text()
    assert reproduce.main(args + ["seed=5", "--overwrite"]) == 0
    assert files(run_dir)[_path("metrics.csv")] != before[_path("metrics.csv")]


def test_progress_lines_reach_stderr_and_the_run_log(tmp_path):
    run_dir = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "experiments.cli", *TINY_SIMULATED,
                           f"hydra.run.dir={run_dir}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    line = "[simulated] trial 1/1 done"
    log = (run_dir / "spahm-experiment.log").read_text()
    assert line in done.stderr and line in log, done.stderr
    assert "\r" not in done.stderr and "\x1b[" not in done.stderr + log

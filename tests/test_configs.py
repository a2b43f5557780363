"""Config composition for every experiment x profile x launcher, and a real 2-job sweep."""
import subprocess
import sys

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from conftest import CONF_DIR, ROOT
from experiments import EXPERIMENTS, register_configs

register_configs()

LAUNCHERS = {
    "local": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
    "slurm": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher",
    "ray_cluster": "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher",
}


@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
@pytest.mark.parametrize("profile", ["quick", "paper"])
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_profile_launcher_composes(experiment, profile, launcher):
    overrides = [f"experiment={experiment}", f"profile={profile}"]
    if launcher != "local":
        overrides.append(f"hydra/launcher={launcher}")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
    assert cfg.name == experiment and cfg.profile == profile
    assert cfg.hydra.launcher._target_ == LAUNCHERS[launcher]
    assert cfg.trials >= 1 and "fusion" in cfg and cfg.fusion.gamma0 > 0
    if launcher == "local":
        assert cfg.hydra.launcher.n_jobs == 2
    if launcher == "slurm":
        assert cfg.hydra.launcher.cpus_per_task == 2 and cfg.hydra.launcher.timeout_min > 0
    if launcher == "ray_cluster":  # each job asks Ray for the CPUs it uses
        assert cfg.hydra.launcher.ray.remote.num_cpus == cfg.n_jobs
    assert cfg.objective.metric and cfg.objective.method  # every experiment names its objective
    assert cfg.objective.direction in ("minimize", "maximize")


def test_no_config_shadows_a_plugin_schema():
    """Our launcher and sweeper configs extend the plugins' schemas under other names (a file
    named like a plugin's schema, e.g. hydra/launcher/ray.yaml, gives deprecation warnings)."""
    from hydra.core.config_store import ConfigStore

    for group in ("launcher", "sweeper"):
        ours = {p.stem for p in (ROOT / "conf" / "hydra" / group).glob("*.yaml")}
        theirs = {name.removesuffix(".yaml")
                  for name in ConfigStore.instance().list(f"hydra/{group}")}
        assert not ours & theirs
    assert {"ray_cluster", "local", "slurm"} <= {
        p.stem for p in (ROOT / "conf" / "hydra" / "launcher").glob("*.yaml")}


def test_no_empty_profile_files():
    for path in (ROOT / "conf" / "profile_settings").glob("*.yaml"):
        body = [line for line in path.read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
        assert body and body != ["{}"], f"{path.name} overrides nothing: delete it"


# override, error text from Hydra's composition (types and unknown keys checked by the schemas)
BAD_OVERRIDES = [
    ("seed=abc", "Value 'abc' of type 'str' could not be converted to Integer"),
    ("trials=2.5", "Value '2.5' of type 'float' could not be converted to Integer"),
    ("resume=maybe", "Value 'maybe' is not a valid bool"),
    ("fusion.gama0=2", "Key 'gama0' not in 'FusionCfg'"),
    ("fusion.n_iter=ten", "Value 'ten' of type 'str' could not be converted to Integer"),
    ("parallel.bakend=dask", "Key 'bakend' not in 'ParallelCfg'"),
]


@pytest.mark.parametrize("override,message", BAD_OVERRIDES, ids=[o for o, _ in BAD_OVERRIDES])
def test_schemas_check_root_and_fusion_keys(override, message):
    from hydra.errors import ConfigCompositionException

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        with pytest.raises(ConfigCompositionException) as err:
            compose(config_name="config", overrides=["experiment=simulated", override])
    assert message in str(err.value) + str(err.value.__cause__)


def test_hydra_help_names_the_command():
    done = subprocess.run([sys.executable, "-m", "experiments.cli", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert done.stdout.startswith("spahm-experiment: run one of the SPAHM paper's experiments")
    assert "cli is powered by Hydra" not in done.stdout and "objective:" in done.stdout


def test_joblib_multirun_and_report(tmp_path):
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "experiments.cli", "-m", "experiment=simulated", "profile=quick",
           "trials=1", "data.L=5", "data.D=2", "data.M=60", "grid.sigma_local=[0.5]",
           "grid.J_at_sigma=3", "grid.J=[3]", "grid.sigma_at_J=0.5", "fusion.n_iter=2",
           "model.n_init=1", "quiet=true", "fusion.gamma0=0.5,2", f"hydra.sweep.dir={sweep}"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    jobs = sorted(p.parent for p in sweep.rglob("metrics.csv"))
    assert len(jobs) == 2
    assert "fusion.gamma0=0.5" in jobs[0].name and "fusion.gamma0=2" in jobs[1].name
    report = subprocess.run([sys.executable, "-m", "experiments.report", str(sweep), "--no-plots"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr[-2000:]
    table = pd.read_csv(sweep / "all_metrics.csv")
    assert set(table["fusion.gamma0"].astype(float)) == {0.5, 2.0}
    assert (sweep / "sweep.md").read_text().count("## simulated") == 2
    # rerunning the same sweep into the same directory resumes: no new rows (in one process)
    again = subprocess.run([*cmd, "hydra/launcher=basic"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    for job in jobs:
        rows = pd.read_csv(job / "metrics.csv")
        assert not rows.duplicated(["sigma_local", "J", "trial", "method", "metric"]).any()


def test_progress_bars_follow_quiet(capsys):
    from spahm import _progress

    list(_progress.progress(range(3), "hidden"))
    assert "hidden" not in capsys.readouterr().err
    with _progress.enabled():
        list(_progress.progress(range(3), "shown"))
    assert "shown" in capsys.readouterr().err


TINY_SIMULATED = ["trials=1", "data.L=5", "data.D=2", "data.M=60", "grid.sigma_local=[0.5]",
                  "grid.J_at_sigma=3", "grid.J=[3]", "grid.sigma_at_J=0.5", "fusion.n_iter=2",
                  "model.n_init=1", "quiet=true"]


def test_reproduce_writes_the_report_and_names_missing_data(tmp_path, monkeypatch):
    from experiments import reproduce

    results = tmp_path / "results"
    code = reproduce.main(["--only", "simulated", "--results", str(results), *TINY_SIMULATED])
    assert code == 0
    report = (results / "REPORT.md").read_text()
    assert "## simulated (quick profile)" in report and "### Hausdorff distance vs noise sd" in report
    assert (results / "simulated" / "quick" / "metrics.csv").is_file()
    assert "**topics:** no finished quick run in `topics/quick/`." in report

    # a paper-profile report links to the quick one, and the other way round
    code = reproduce.main(["--profile", "paper", "--only", "simulated", "--results", str(results),
                           *TINY_SIMULATED])
    assert code == 0
    assert "[`REPORT.md`](REPORT.md)" in (results / "REPORT_paper.md").read_text()
    reproduce.main(["--only", "simulated", "--results", str(results), *TINY_SIMULATED])
    report = (results / "REPORT.md").read_text()
    assert "[`REPORT_paper.md`](REPORT_paper.md)" in report
    # the main job reruns from scratch and says whether it got the same numbers
    assert ("**simulated:** rerun from scratch; its `metrics.csv` is byte-identical to the one it "
            "replaced.") in report
    metrics = results / "simulated" / "quick" / "metrics.csv"
    metrics.write_text(metrics.read_text().replace(",0,", ",99,", 1))
    reproduce.main(["--only", "simulated", "--results", str(results), *TINY_SIMULATED])
    assert "its `metrics.csv` **differs from** the one it replaced" in (
        results / "REPORT.md").read_text()

    # --report-only rebuilds the report from the saved runs and touches no run directory
    run_files = {p: p.read_bytes() for p in (results / "simulated").rglob("*") if p.is_file()}
    (results / "REPORT.md").unlink()
    assert reproduce.main(["--report-only", "--results", str(results)]) == 0
    assert "## simulated (quick profile)" in (results / "REPORT.md").read_text()
    assert {p: p.read_bytes() for p in (results / "simulated").rglob("*") if p.is_file()} == run_files

    # no data anywhere and no network: mocap is reported as not reproduced, exit status 1,
    # and the simulated section stays in the report
    monkeypatch.setenv("SPAHM_DATA", str(tmp_path / "no-data"))
    monkeypatch.setattr(reproduce, "install_data", lambda *a: ["download failed (test)"])
    code = reproduce.main(["--only", "mocap", "--results", str(results)])
    assert code == 1
    report = (results / "REPORT.md").read_text()
    assert "mocap: not reproduced, its data is missing." in report
    assert "data_scripts.mocap" in report and "## simulated (quick profile)" in report
    assert not (results / "mocap" / "quick" / "metrics.csv").exists()

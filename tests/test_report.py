"""spahm-report on sweeps: swept keys from Hydra's record, seeds pooled, a metric x value table
and a figure per swept key, identical sweep points flagged; the Optuna example."""
import subprocess
import sys

import pandas as pd
import pytest
from omegaconf import OmegaConf

from conftest import ROOT
from experiments import report

TINY = ["experiment=simulated", "trials=1", "data.L=5", "data.D=2", "data.M=60",
        "grid.sigma_local=[0.5]", "grid.J_at_sigma=3", "grid.J=[3]", "grid.sigma_at_J=0.5",
        "fusion.n_iter=2", "model.n_init=1", "quiet=true"]


def multirun(sweep, *args):
    done = subprocess.run([sys.executable, "-m", "experiments.cli", "-m", "hydra/launcher=basic",
                           *TINY, *args, f"hydra.sweep.dir={sweep}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_sweep_report_pools_seeds_and_tabulates_each_swept_key(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    multirun(sweep, "fusion.sigma=0.5,4", "seed=0,1")
    assert len(report.find_runs(sweep)) == 4
    assert report.main([str(sweep)]) == 0
    text = (sweep / "sweep.md").read_text()
    # one section per sweep point, the two seeds pooled into it: 2 trials each
    assert text.count("## simulated (quick profile) - fusion.sigma=") == 2
    assert "(2 runs, 2 trials)" in text
    assert "Runs that differ only in `seed` are pooled" in text
    # the table across the swept key and its figure
    assert "### `fusion.sigma`" in text
    assert "| method | metric | fusion.sigma=0.5 | fusion.sigma=4 |" in text
    row = next(line for line in text.splitlines() if line.startswith("| spahm_kmeans | hausdorff |"))
    assert row.count("+-") == 2  # mean +- sd over the two pooled seeds at each sweep point
    assert (sweep / "sweep_fusion.sigma.png").is_file()
    table = pd.read_csv(sweep / "all_metrics.csv")
    assert set(table["fusion.sigma"]) == {0.5, 4.0} and set(table["seed"]) == {0, 1}
    # the numbers of the two sweep points differ: no warning
    assert "identical numbers" not in text and "identical" not in capsys.readouterr().err


def _point(value, shift=0.0):
    rows = []
    for trial in range(2):
        for method in ("a", "b"):
            rows.append({"experiment": "x", "run": f"k={value}/{trial}", "trial": 0,
                         "pooled_trial": trial, "method": method, "metric": "m",
                         "value": 1.0 + trial + shift * (method == "a"), "k": value})
    return rows


@pytest.mark.parametrize("shift,warned", [(0.0, True), (0.5, False)])
def test_identical_sweep_points_are_flagged(tmp_path, shift, warned):
    table = pd.DataFrame(_point(1) + _point(2, shift))
    text, warnings = report.sweep_section(table, ["k"], tmp_path,
                                          {"metric": "m", "method": "a", "direction": "minimize"})
    assert bool(warnings) == warned
    assert ("**Warning:** sweep points k=1 and k=2 gave identical numbers" in text) == warned
    assert "| a | m | 1.5000 +- 0.7071 |" in text
    assert (tmp_path / "sweep_k.png").is_file()


def test_optuna_sweeper_tunes_the_objective(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper",
                        reason="hydra-optuna-sweeper is not installed (pip install -e '.[optuna]')")
    sweep = tmp_path / "optuna"
    done = multirun(sweep, "hydra/sweeper=optuna_tpe", "hydra.sweeper.n_trials=3",
                    "fusion.sigma=interval(0.2,5)")
    # plain-text logs: no colour codes, no plugin-scan lines, no Optuna INFO chatter
    assert "\x1b[" not in done.stderr and "setup plugin" not in done.stderr, done.stderr
    assert "A new study created" not in done.stderr
    best = OmegaConf.load(sweep / "optimization_results.yaml")
    runs = report.find_runs(sweep)
    assert len(runs) == 3
    # the best value is the objective of one of the jobs: mean hausdorff of spahm_kmeans
    values = []
    for run in runs:
        rows = pd.read_csv(run / "metrics.csv")
        values.append(rows.query("method == 'spahm_kmeans' and metric == 'hausdorff'")["value"].mean())
    assert best.best_value == pytest.approx(min(values))
    assert report.main([str(sweep), "--no-plots"]) == 0
    assert "### `fusion.sigma`" in (sweep / "sweep.md").read_text()


def test_report_written_outside_the_run_links_back_to_its_figures(tmp_path):
    run = tmp_path / "runs" / "one"
    done = subprocess.run([sys.executable, "-m", "experiments.cli", *TINY,
                           f"hydra.run.dir={run}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "elsewhere" / "r.md"
    assert report.main([str(run), "--out", str(out)]) == 0
    text = out.read_text()
    assert "](../runs/one/hausdorff_vs_sigma.png)" in text


def test_sweep_spread_is_over_trials_not_over_settings():
    """Two noise levels whose values differ by 100 and three trials that agree: the sd is 0
    (pooling the settings would give about 55, bars far below zero)."""
    rows = pd.DataFrame([{"method": "a", "k": "1", "pooled_trial": t, "sigma": s, "value": v}
                         for t in range(3) for s, v in ((0.1, 0.0), (10.0, 100.0))])
    stats = report.sweep_stats(rows, "k")
    assert stats[["mean", "std", "count"]].values.tolist() == [[50.0, 0.0, 3]]


def test_a_run_still_being_written_is_not_a_run(tmp_path):
    """``.<name>.overwrite`` (a committed run being replaced) is skipped until it is swapped in."""
    for name in ("paper", ".paper.overwrite"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.csv").write_text("method,metric,value\n")
    assert report.find_runs(tmp_path) == [tmp_path / "paper"]

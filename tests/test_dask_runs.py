"""``parallel.backend=dask`` through the experiments' own path (composed config, runner,
the experiment's fit_per_silo calls): the same numbers as loky, and no scheduler chatter."""
import pytest

from experiments import reproduce
from experiments._runner import run_experiment
from experiments.registry import EXPERIMENTS, load

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")

TINY = {
    "simulated": ["trials=1", "data.L=5", "data.D=2", "data.M=60", "grid.sigma_local=[0.5]",
                  "grid.J_at_sigma=3", "grid.J=[3]", "grid.sigma_at_J=0.5", "fusion.n_iter=2",
                  "model.n_init=1"],
    "uncertainty": ["trials=1"],
}


def _run(name, out, overrides):
    cfg = reproduce.compose_config(name, "quick", out, ["quiet=true", "n_jobs=2", *overrides])
    run_experiment(cfg, load(name))
    return (out / "metrics.csv").read_bytes()


@pytest.mark.parametrize("name", sorted(TINY))
def test_dask_gives_the_numbers_loky_gives(tmp_path, name, capfd):
    """simulated and uncertainty name the backend per call (the joblib 1.6 + distributed
    2026.8 path that failed with "unexpected keyword argument 'nesting_level'")."""
    loky = _run(name, tmp_path / "loky", TINY[name])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        dask = _run(name, tmp_path / "dask", [*TINY[name], "parallel.backend=dask",
                                              f"parallel.address={cluster.scheduler_address}"])
    assert dask == loky
    assert "[INFO]" not in capfd.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_runs_on_a_cluster_the_run_starts(tmp_path, name, capfd):
    overrides = TINY.get(name, ["trials=1"])
    _run(name, tmp_path / "run", [*overrides, "parallel.backend=dask"])
    assert "distributed.scheduler" not in capfd.readouterr().err

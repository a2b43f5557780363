"""The networks experiment: config, partition, one tiny run end to end, redraw."""
import math

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

import experiments.networks as networks
from conftest import compose
from experiments._runner import ConfigError, Trial, run_experiment


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_config_composes_and_validates(profile):
    cfg = compose(["experiment=networks", f"profile={profile}"])
    networks.validate(cfg)
    assert cfg.name == "networks" and cfg.fusion.sigma == 0.7
    points = networks.settings(cfg)
    assert {"J": int(cfg.grid.J_at_alpha), "alpha": math.inf} in points
    assert len(points) == len({(p["J"], p["alpha"]) for p in points})


@pytest.mark.parametrize("override,key", [("data.test_fraction=1.0", "data.test_fraction"),
                                          ("model.hidden=[]", "model.hidden"),
                                          ("model.activation=softmax", "model.activation"),
                                          ("grid.alpha=[0.5,-1]", "grid.alpha"),
                                          ("grid.J=[0]", "grid.J"),
                                          ("methods=[spahm,nope]", "methods"),
                                          ("fusion.sigma=0", "fusion.sigma")])
def test_config_errors_name_the_key(override, key):
    cfg = compose(["experiment=networks", "profile=quick", override])
    with pytest.raises(ConfigError, match=key):
        networks.validate(cfg)


def test_partition_homogeneous_and_label_skewed():
    y = np.repeat(np.arange(10), 50)
    rng = np.random.default_rng(0)
    even = networks.partition(y, 5, math.inf, rng)
    assert sorted(np.concatenate(even)) == list(range(len(y)))
    assert {len(p) for p in even} == {100}
    skewed = networks.partition(y, 5, 0.1, rng, min_size=10)
    assert sorted(np.concatenate(skewed)) == list(range(len(y)))
    assert min(len(p) for p in skewed) >= 10
    # strong skew: most silos see few classes, unlike the homogeneous split
    classes = [len(np.unique(y[p])) for p in skewed]
    assert np.mean(classes) < 8 and all(len(np.unique(y[p])) == 10 for p in even)
    with pytest.raises(ConfigError, match="min_silo_size"):
        networks.partition(y, 5, 0.01, rng, min_size=99, max_redraws=3)


TINY = ["experiment=networks", "profile=quick", "trials=2", "grid.alpha=[0.3]", "grid.J=[2, 3]",
        "grid.alpha_at_J=[0.3]", "grid.J_at_alpha=3", "grid.sigma_sweep=[1.0]",
        "model.hidden=[16]", "model.epochs=15", "n_jobs=1", "quiet=true"]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_tiny_run_end_to_end_and_redraw(tmp_path):
    cfg = compose(TINY + [f"output_dir={tmp_path}"])
    df = run_experiment(cfg, networks)
    assert {"local", "averaging", "ensemble", "spahm", "spahm_sigma1", "pooled"} <= set(df.method)
    acc = df[df.metric == "accuracy"]
    assert acc.value.between(0, 1).all()
    spahm_size = df[(df.method == "spahm") & (df.metric == "n_hidden")]
    assert (spahm_size.value >= 16).all()
    assert (tmp_path / "report.md").read_text().startswith("# Neural-network fusion")
    # the figures and the report come back from the CSV and the saved config alone
    from experiments._runner import load_results

    saved = OmegaConf.load(tmp_path / "config.yaml")
    paths = networks.plot(load_results(tmp_path), tmp_path / "redrawn", saved)
    assert paths and all(p.exists() for p in paths)
    assert "margin" in networks.report(load_results(tmp_path), None)


def test_same_trial_same_numbers():
    cfg = compose(TINY)
    prepared = networks.prepare(cfg)
    setting = {"J": 2, "alpha": 0.3}
    rows = [pd.DataFrame(networks.trial(cfg, setting, Trial(0, 7), prepared)) for _ in range(2)]
    values = [r[~r.metric.str.endswith("time_s")].reset_index(drop=True) for r in rows]
    pd.testing.assert_frame_equal(values[0], values[1])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sigma_validation_never_scores_on_test():
    from experiments.networks.validation import sigma_scores

    cfg = compose(TINY)
    table = sigma_scores(cfg, [0.7, 1.0], points=((2, 0.5),), fraction=0.25)
    assert list(table.sigma) == [0.7, 1.0]
    assert table.accuracy.between(0, 1).all() and (table.n_hidden >= 16).all()
    # a larger sigma matches more units together: never a larger network
    assert table.n_hidden.iloc[1] <= table.n_hidden.iloc[0]

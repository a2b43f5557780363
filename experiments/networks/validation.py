"""How ``fusion.sigma`` of the networks experiment was set: on a validation split, never on test.

Each point splits off the test set exactly as a trial does (and never touches it), carves a
stratified validation split (``--fraction``) out of the remaining training data, shares the
rest among the silos, fits the local networks and scores SPAHM's fused network for every
candidate sigma on the validation split. Prints one row per point and sigma.

Run: ``python -m experiments.networks.validation [--sigmas 0.5 0.6 0.7 0.8 1.0]``
(five points by default: the grid of conf/experiment/networks.yaml's comment).
"""
from __future__ import annotations

import argparse
from functools import partial

import numpy as np
import pandas as pd
from omegaconf import OmegaConf
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split

from experiments import register_configs
from experiments._runner import ROOT, Trial, fit_per_silo
from spahm.models.mlp import fuse_networks

from . import fit_network, partition, prepare

#: (J, alpha) of the points compared; alpha = inf is the homogeneous split.
POINTS = ((10, 0.5), (10, 0.1), (10, float("inf")), (20, 0.5), (5, 0.5))


def sigma_scores(cfg, sigmas, points=POINTS, fraction=0.25, seed=12345):
    """Validation accuracy, log loss and size of SPAHM's fused network for each sigma.

    ``seed`` roots the points' random streams; it differs from the runs' (``seed=0``), so the
    splits and local networks are not those the committed results are computed on.
    """
    X, y = prepare(cfg)
    model = OmegaConf.to_container(cfg.model, resolve=True)
    rows = []
    for index, (J, alpha) in enumerate(points):
        trial = Trial(index, seed)
        Xtr, _, ytr, _ = train_test_split(X, y, test_size=cfg.data.test_fraction, stratify=y,
                                          random_state=trial.seed_for("split"))
        Xfit, Xval, yfit, yval = train_test_split(Xtr, ytr, test_size=fraction, stratify=ytr,
                                                  random_state=trial.seed_for("validation"))
        parts = partition(yfit, J, alpha, trial.rng("partition"), cfg.data.min_silo_size,
                          cfg.data.max_redraws)
        classes = np.unique(y)
        fits = fit_per_silo(partial(fit_network, model=model, classes=classes),
                            [(Xfit[i], yfit[i]) for i in parts], trial, n_jobs=cfg.n_jobs)
        kwargs = OmegaConf.to_container(cfg.fusion, resolve=True)
        for sigma in sigmas:
            kwargs["sigma"] = float(sigma)
            fused = fuse_networks(fits.models, random_state=trial.seed_for("fusion"), **kwargs)
            proba = fused.predict_proba(Xval)
            rows.append({"J": J, "alpha": alpha, "sigma": float(sigma),
                         "accuracy": accuracy_score(yval, classes[proba.argmax(axis=1)]),
                         "log_loss": log_loss(yval, proba, labels=classes),
                         "n_hidden": sum(fused.hidden_layer_sizes)})
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8, 1.0])
    parser.add_argument("--fraction", type=float, default=0.25)
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. model.epochs=50")
    args = parser.parse_args(argv)
    from hydra import compose, initialize_config_dir

    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["experiment=networks", "profile=paper",
                                           *args.overrides])
    table = sigma_scores(cfg, args.sigmas, fraction=args.fraction)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

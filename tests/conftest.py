import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings as _hypothesis_settings

# Property tests draw random examples; under CI they draw the same ones every run.
_hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    _hypothesis_settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = str(ROOT / "conf")
SHARED_DATA = ROOT.parent / "shared" / "data"


def planted_problem(seed=0, J=6, L=5, D=3, noise=0.01, spread=20.0, keep=0.7):
    """Well-separated global atoms, each silo keeps a random subset with tiny noise.

    Returns (truth, silos, labels) where labels[j][l] is the true global index of silo j's atom l.
    """
    rng = np.random.default_rng(seed)
    truth = rng.normal(0.0, spread, size=(L, D))
    silos, labels = [], []
    for _ in range(J):
        idx = np.flatnonzero(rng.random(L) < keep)
        if idx.size == 0:
            idx = np.array([rng.integers(L)])
        idx = rng.permutation(idx)
        silos.append(truth[idx] + rng.normal(0.0, noise, size=(idx.size, D)))
        labels.append(idx)
    return truth, silos, labels


@pytest.fixture
def planted():
    return planted_problem()


def compose(overrides):
    """Compose the project's Hydra config with overrides (no run directory, no job)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from experiments import register_configs

    register_configs()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))

"""One entry point for every experiment: ``spahm-experiment experiment=<name> [overrides]``.

``python -m experiments.cli`` is the same; ``-m`` (multirun) sweeps with the joblib launcher.
"""
from __future__ import annotations

import importlib
import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from experiments import EXPERIMENTS, register_configs
from experiments._runner import run_experiment

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")
log = logging.getLogger("spahm")


def load(name):
    """The experiment module for a config ``name``."""
    if name not in EXPERIMENTS:
        raise ValueError(f"config key 'name' = {name!r}: expected one of {list(EXPERIMENTS)}")
    return importlib.import_module(f"experiments.{name}")


def run(cfg: DictConfig):
    """Run the experiment that ``cfg.name`` selects; returns its tidy DataFrame."""
    module = load(cfg.name)
    if not hasattr(module, "prepare"):  # TRANSITION: removed once every experiment is migrated
        return module.run(cfg)
    return run_experiment(cfg, module)


register_configs()


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> None:
    df = run(cfg)
    log.info("%s (%s profile): %d rows written", cfg.name, cfg.profile, len(df))


if __name__ == "__main__":
    main()

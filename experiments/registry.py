"""The experiment registry: which experiments exist, their structured configs, their modules.

The bottom of the suite's import graph: it imports only :mod:`experiments.errors`
at load time (:mod:`experiments._schema` and the experiment packages only when called), so the
command-line tools (``cli``, ``report``, ``reproduce``, ``verdicts``) all import from here and
never from each other, and importing it has no Hydra side effect.
"""
from __future__ import annotations

import importlib

from experiments.errors import ConfigError

#: Experiment name (config ``name``) -> package under ``experiments``.
EXPERIMENTS = ("simulated", "topics", "mocap", "temperature", "uncertainty", "networks")


def register_configs():
    """Register every experiment's structured configs (``experiments/<name>/config.py``, where
    present) and the shared ones (:mod:`experiments._schema`) in Hydra's ConfigStore; call
    before composing a config."""
    from experiments import _schema

    _schema.store()
    for name in EXPERIMENTS:
        try:
            importlib.import_module(f"experiments.{name}.config")
        except ModuleNotFoundError as exc:
            if exc.name != f"experiments.{name}.config":
                raise


def load(name):
    """The experiment module for a config ``name``
    (:class:`experiments.contract.Experiment`)."""
    if name not in EXPERIMENTS:
        raise ConfigError(f"config key 'name' = {name!r}: expected one of {list(EXPERIMENTS)}")
    return importlib.import_module(f"experiments.{name}")

"""The paper's experiments: one package per application, driven by Hydra configs in ``conf/``.

Every experiment follows :class:`experiments.contract.Experiment`; the shared runner
(:func:`experiments._runner.run_experiment`) drives it.
"""
import importlib

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

"""The paper's experiments: one package per application, driven by Hydra configs in ``conf/``.

Every experiment follows :class:`experiments.contract.Experiment`; the shared runner
(:func:`experiments._runner.run_experiment`) drives it. The registry
(:mod:`experiments.registry`) lists them.
"""
from experiments.registry import EXPERIMENTS, register_configs

__all__ = ["EXPERIMENTS", "register_configs"]

"""Structured configs shared by every experiment: the runner's root keys and SPAHM's ``fusion``.

Hydra checks types and unknown keys against these dataclasses while it composes the config,
so ``seed=abc`` or ``fusion.gama0=2`` fail before anything runs or is written.

- :class:`FusionCfg` is the schema of ``conf/fusion/gaussian.yaml`` (stored as
  ``fusion/gaussian_schema``), the keyword arguments of :class:`spahm.SPAHM`.
- :class:`RunnerCfg` types the root keys the runner reads (stored as ``runner_schema`` and
  merged last in ``conf/config.yaml``'s defaults). Its fields are all ``MISSING`` so the merge
  changes no value: it only types the keys, and a key no config sets stays missing (an error
  when read). Experiment-specific root keys (``data``, ``model``, ``grid``...) are left to each
  experiment's own schemas (``experiments/<app>/config.py``).

Ranges Hydra cannot express (a non-negative seed, a known backend) are checked by
:func:`experiments._runner.check_runner_config` before anything is written.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

#: joblib backends ``parallel.backend`` may name (``dask`` needs the ``dask`` extra).
BACKENDS = ("loky", "threading", "multiprocessing", "sequential", "dask")
DIRECTIONS = ("minimize", "maximize")


@dataclass
class FusionCfg:
    """Keyword arguments of :class:`spahm.SPAHM` (Gaussian family), as the experiments pass them."""

    sigma: float = 1.0
    sigma0: float = 1.0
    mu0: Optional[float] = None
    gamma0: float = 1.0
    n_iter: int = 10
    optimize_hyperparameters: bool = True
    popularity_cap: Optional[int] = 10
    max_global_atoms: Optional[int] = None
    n_init: int = 1
    #: Shrinkage of the empirical-Bayes sigma^2; null: the library's robust default, 0: the
    #: plain moment estimator of METHOD.md and the authors' released code.
    sigma_prior_dof: Optional[float] = None


@dataclass
class ParallelCfg:
    """Where ``fit_per_silo`` fits the silos' local models (a joblib backend)."""

    backend: str = MISSING
    #: Scheduler address for ``backend=dask`` (``tcp://host:8786``); null starts a local cluster.
    address: Optional[str] = MISSING


@dataclass
class ObjectiveCfg:
    """The run's scalar objective: mean of ``metric`` of ``method`` over every trial and setting."""

    metric: Optional[str] = MISSING
    method: Optional[str] = MISSING
    direction: str = MISSING


@dataclass
class RunnerCfg:
    """Root keys every experiment's config has and the runner reads."""

    name: str = MISSING
    profile: str = MISSING
    trials: int = MISSING
    seed: int = MISSING
    resume: bool = MISSING
    quiet: bool = MISSING
    n_jobs: int = MISSING
    threads: Optional[int] = MISSING
    output_dir: Optional[str] = MISSING
    parallel: ParallelCfg = field(default_factory=ParallelCfg)
    objective: ObjectiveCfg = field(default_factory=ObjectiveCfg)


def store():
    """Put the schemas in Hydra's ConfigStore (called by :func:`experiments.register_configs`)."""
    cs = ConfigStore.instance()
    cs.store(group="fusion", name="gaussian_schema", node=FusionCfg)
    cs.store(name="runner_schema", node=RunnerCfg)

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
:func:`experiments._settings.check_runner_config` before anything is written.

What a root key does to the numbers is metadata on its field (``role``), the one list the
runner, resume and ``spahm-report`` read (:data:`KEY_ROLES`):

- ``identity`` (``name``, ``profile``): which run this is; never an override or a sweep key;
- ``execution``: how or where the run goes, not what it computes (``resume``, ``n_jobs``,
  ``threads``, ``parallel``...): a resumed run may change it, titles and sweeps ignore it;
- ``extent`` (``trials``; and each experiment's ``grid``, :data:`GRID_KEYS`): adds rows keyed
  by trial or setting without changing the others, so a resumed run may change it;
- ``numbers`` (``seed`` and every key not listed): changes what the run computes.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
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
    #: plain moment estimator of docs/method.md and the authors' released code.
    sigma_prior_dof: Optional[float] = None


def _key(role):
    """A root key that is typed but set by the configs (MISSING), with its role."""
    return field(default=MISSING, metadata={"role": role})


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

    name: str = _key("identity")
    profile: str = _key("identity")
    trials: int = _key("extent")
    seed: int = _key("numbers")
    resume: bool = _key("execution")
    #: Replace a directory whose files git tracks (committed results), once the run completes.
    overwrite: bool = _key("execution")
    quiet: bool = _key("execution")
    n_jobs: int = _key("execution")
    #: BLAS/OpenMP threads; pinned because the last digits (~1e-9) of some results depend on
    #: it, but not part of what the experiment is (resume may change it, titles omit it).
    threads: Optional[int] = _key("execution")
    output_dir: Optional[str] = _key("execution")
    parallel: ParallelCfg = field(default_factory=ParallelCfg, metadata={"role": "execution"})
    #: Which scalar the run returns to a sweeper; the rows do not depend on it.
    objective: ObjectiveCfg = field(default_factory=ObjectiveCfg, metadata={"role": "execution"})


#: Root keys of the experiments' own schemas that only add grid points (each setting keys its
#: own rows in metrics.csv).
GRID_KEYS = ("grid",)
#: Root key -> role (see the module's docstring): read from :class:`RunnerCfg`'s fields.
KEY_ROLES = {**{f.name: f.metadata["role"] for f in fields(RunnerCfg)},
             **{key: "extent" for key in GRID_KEYS}}


def keys_with_role(*roles) -> tuple:
    """The root keys whose role is one of ``roles``."""
    return tuple(key for key, role in KEY_ROLES.items() if role in roles)


def store():
    """Put the schemas in Hydra's ConfigStore (called by :func:`experiments.register_configs`)."""
    cs = ConfigStore.instance()
    cs.store(group="fusion", name="gaussian_schema", node=FusionCfg)
    cs.store(name="runner_schema", node=RunnerCfg)

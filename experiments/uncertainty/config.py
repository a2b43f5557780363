"""Structured configs of the uncertainty experiment, registered in Hydra's ConfigStore.

The global and local atoms are the simulated experiment's (:class:`AtomsCfg`, written once
in :mod:`experiments.simulated.config`); this adds the silos' unequal sizes and noise.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

from hydra.core.config_store import ConfigStore

from experiments.simulated.config import AtomsCfg, KMeansCfg


@dataclass
class DataCfg(AtomsCfg):
    sigma_local: float = 1.0           # sd of a silo's local atoms around the global atoms
    J: int = 20                        # silos
    noisy_fraction: float = 0.5        # share of silos that are small and noisy, in [0, 1]
    M_clean: int = 5000                # data points of a large, clean silo
    noise_clean: float = 1.0           # sd of its data around its local atoms
    M_noisy: int = 250                 # data points of a small, noisy silo


@dataclass
class GridCfg:
    # sd of the small silos' data around their local atoms
    noise_noisy: List[float] = field(default_factory=lambda: [1.0, 2.0, 5.0, 10.0])


@dataclass
class ModelCfg(KMeansCfg):
    # The local k-means that finds every cluster (the simulated experiment's harder setting
    # shows k-means++ missing small clusters of wide data).
    init: str = "maximin"


ConfigStore.instance().store(group="schema/uncertainty", name="data", node=DataCfg)
ConfigStore.instance().store(group="schema/uncertainty", name="grid", node=GridCfg)
ConfigStore.instance().store(group="schema/uncertainty", name="model", node=ModelCfg)

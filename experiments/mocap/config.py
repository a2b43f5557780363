"""Structured configs of the motion-capture experiment, registered in Hydra's ConfigStore.

``conf/experiment/mocap.yaml`` lists them in its defaults, so Hydra checks the type of every
value and refuses unknown keys when the config is composed. Ranges Hydra cannot express
("positive", "an integer below n_iter") are checked in :func:`experiments.mocap.validate`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

#: Silos: one per subject (the paper's two) or one per sequence.
SILOS = ("subject", "sequence")


@dataclass
class DataCfg:
    root: str = MISSING                # folder with the mocap6 files (data_scripts/mocap.py)
    standardize: bool = False          # z-score features with the pooled mean / sd


@dataclass
class ModelCfg:
    """Sticky HDP-HMM (spahm.models.hdp_hmm.StickyHDPHMM), for the local and the full models."""

    n_states: int = 25                 # weak-limit truncation K (upper bound on used states)
    n_spare_states: Optional[int] = 5  # adaptive truncation: used states + this many unused
                                       # ones per sweep; null: all K every sweep
    gamma: float = 5.0                 # top-level concentration (paper; start value)
    alpha: float = 0.5                 # transition concentration, eta in the paper (start value)
    kappa: float = 10.0                # sticky self-transition weight (paper; start value)
    resample_hyperparameters: bool = True  # alpha + kappa, rho, gamma every sweep (Fox et al.)
    alpha_kappa_prior: List[float] = field(default_factory=lambda: [1.0, 0.01])  # Gamma(a, b)
    rho_prior: List[float] = field(default_factory=lambda: [10.0, 1.0])          # Beta(c, d)
    gamma_prior: List[float] = field(default_factory=lambda: [1.0, 0.01])        # Gamma(a, b)
    n0: float = 1.0                    # pseudo-count of the emission mean prior (paper)
    prior_covariance: str = "empirical"  # inverse-Wishart scale S: empirical covariance | identity
    prior_scale: float = 10.0          # S = prior_scale * (empirical covariance or I), chosen
                                       # without labels (experiments/mocap/prior_scale.py)
    prior_dof: Optional[float] = None  # null: D + 2, so that E[Sigma] = S a priori
    n_iter: int = 400                  # Gibbs sweeps per chain, at most
    n_burnin: Optional[int] = 50       # null: n_iter // 2 sweeps not eligible as the kept sample
    tol: Optional[float] = 0.01        # stop when the kept sample's log joint has not risen by
    patience: int = 30                 # tol nats per frame for patience sweeps (null: never)
    n_restarts: int = 4                # chains (run as one batch); the best sample is kept
    init: str = "kmeans"               # first state sequence: kmeans | random blocks
    n_init_states: int = 10            # states in the first state sequence
    split_merge: bool = True           # split and merge moves besides the Gibbs sweeps


@dataclass
class KMeansMatchingCfg:
    """Baseline: k-means on the local state means."""

    k: int = 12                        # the true number of behaviours, as the paper
    n_init: int = 10


store = ConfigStore.instance()
store.store(group="schema/mocap", name="data", node=DataCfg)
store.store(group="schema/mocap", name="model", node=ModelCfg)
store.store(group="schema/mocap", name="kmeans_matching", node=KMeansMatchingCfg)

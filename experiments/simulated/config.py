"""Structured configs of the simulated experiment (and the synthetic data it shares with
:mod:`experiments.uncertainty`), registered in Hydra's ConfigStore.

``conf/experiment/simulated.yaml`` lists them in its defaults, so Hydra checks the type of
every value and refuses unknown keys when the config is composed. The values below are the
paper's setting as the authors' released code ran it (IBM/SPAHM ``simulation/main.py``);
ranges Hydra cannot express ("positive") are checked in :func:`experiments.simulated.validate`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from hydra.core.config_store import ConfigStore

#: Local k-means seedings (``model.init``): scikit-learn's k-means++, or farthest-first
#: (maximin) seeding that starts every cluster at the point farthest from those chosen so far.
INITS = ("k-means++", "maximin")
#: scikit-learn's k-means algorithms (``model.pooled_algorithm``).
ALGORITHMS = ("lloyd", "elkan")
#: How many clusters the "k-means on pooled local centroids" baseline asks for
#: (``model.centroids_k``): ``L`` = data.L as the released code, ``true`` = the atoms in use.
CENTROIDS_K = ("L", "true")


@dataclass
class AtomsCfg:
    """Global and local atoms as in the paper (section 4.1); shared by simulated and uncertainty."""

    L: int = 50                        # global atoms
    D: int = 50                        # dimension
    mu0: float = 2.0                   # mean of the global atoms
    sigma0: Optional[float] = None     # sd of the global atoms; null: sqrt(L), as the paper
    popularity_a: float = 1.0          # popularities p_i ~ Beta(a, b)
    popularity_b: float = 1.0
    dirichlet_alpha: float = 1.0       # mixture weights inside a silo ~ Dirichlet(alpha)


@dataclass
class DataCfg(AtomsCfg):
    M: int = 5000                      # data points per silo
    # sd of a silo's points around its local atoms: 0.1 at every noise level, as the authors'
    # released code; null = sigma_local, the paper's text (the "harder setting").
    data_sd: Optional[float] = 0.1


@dataclass
class GridCfg:
    # Fig. 2 left: these noise levels at J = J_at_sigma; right: these J at sigma = sigma_at_J.
    sigma_local: List[float] = field(default_factory=lambda: [0.1, 0.5, 1.0, 2.0, 5.0, 10.0])
    J_at_sigma: int = 20
    J: List[int] = field(default_factory=lambda: [10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    sigma_at_J: float = 1.0


@dataclass
class KMeansCfg:
    """Local k-means (scikit-learn's Lloyd iterations), one per silo with its true L_j."""

    init: str = "k-means++"            # one of INITS
    n_init: int = 8                    # restarts, best inertia kept (released code: 8)
    max_iter: int = 300                # Lloyd iterations per restart (scikit-learn's default)


@dataclass
class ModelCfg(KMeansCfg):
    pooled_max_iter: int = 1000        # the two pooled baselines (released code: 1000)
    # scikit-learn algorithm of the pooled baselines: elkan, the released code's (its
    # scikit-learn <= 0.24 chose elkan for dense data); the same centres as lloyd, faster there.
    pooled_algorithm: str = "elkan"    # one of ALGORITHMS
    # Their n_init restarts run as this many (at most n_init) scikit-learn fits, in parallel
    # over n_jobs, each sharing its preprocessing of the pooled data; a batch has its own seed.
    pooled_batches: int = 2
    centroids_k: str = "L"             # one of CENTROIDS_K


ConfigStore.instance().store(group="schema/simulated", name="data", node=DataCfg)
ConfigStore.instance().store(group="schema/simulated", name="grid", node=GridCfg)
ConfigStore.instance().store(group="schema/simulated", name="model", node=ModelCfg)

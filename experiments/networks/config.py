"""Structured configs of the networks experiment (beyond the paper), registered in
Hydra's ConfigStore; ``conf/experiment/networks.yaml`` lists them in its defaults, so Hydra
checks types and unknown keys. Ranges ("positive") are checked in
:func:`experiments.networks.validate`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

from hydra.core.config_store import ConfigStore

#: Hidden activations of scikit-learn's MLPs that the experiment accepts (``model.activation``).
ACTIVATIONS = ("relu", "tanh", "logistic", "identity")


@dataclass
class DataCfg:
    """scikit-learn's digits (1,797 8x8 images, 10 classes; bundled with scikit-learn)."""

    test_fraction: float = 0.3         # stratified global test split, drawn per trial
    min_silo_size: int = 10            # a partition leaving a silo fewer points is redrawn
    max_redraws: int = 1000            # ... at most this often (then a ConfigError)


@dataclass
class GridCfg:
    # Label skew: for every class, its training points are shared among the J silos in
    # proportions ~ Dirichlet(alpha) (PFNM's partition). alpha = .inf is the homogeneous split.
    alpha: List[float] = field(default_factory=lambda: [0.1, 0.2, 0.5, 1.0, 5.0, float("inf")])
    J_at_alpha: int = 10               # J of the alpha sweep
    J: List[int] = field(default_factory=lambda: [2, 5, 10, 20, 30])
    # the J sweep is run at each of these alphas (heterogeneous and homogeneous)
    alpha_at_J: List[float] = field(default_factory=lambda: [0.5, float("inf")])
    # SPAHM's sigma (in units of the weights' root mean square) for the sensitivity method
    # ``spahm_sigma_sweep``; the main ``spahm`` method uses fusion.sigma.
    sigma_sweep: List[float] = field(default_factory=lambda: [0.6, 1.0])


@dataclass
class ModelCfg:
    """One scikit-learn MLPClassifier per silo (and the pooled oracle), trained with Adam by
    ``partial_fit`` for a fixed number of epochs, so every network has all ten outputs even
    when its silo lacks some classes."""

    hidden: List[int] = field(default_factory=lambda: [100])   # PFNM: one layer of 100 units
    activation: str = "relu"           # one of ACTIVATIONS
    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 0.001       # Adam's step size (scikit-learn's default)
    l2: float = 0.0001                 # MLPClassifier's alpha (scikit-learn's default)


ConfigStore.instance().store(group="schema/networks", name="data", node=DataCfg)
ConfigStore.instance().store(group="schema/networks", name="grid", node=GridCfg)
ConfigStore.instance().store(group="schema/networks", name="model", node=ModelCfg)

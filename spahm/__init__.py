"""SPAHM: Statistical Model Aggregation via Parameter Matching (Yurochkin et al., NeurIPS 2019).

Public API:

- :class:`SPAHM` - scikit-learn style estimator, ``SPAHM(...).fit(local_atoms)``; new silos
  join a fitted model with ``partial_fit(new_silos)``;
- :func:`match` - the same as a function returning a frozen :class:`MatchResult`;
- :mod:`spahm.families` - conjugate exponential families (``SPAHM(family=...)``);
- :func:`fuse_models` - fuse fitted scikit-learn / GPy / HDP-HMM models into a global model
  of the same kind (:mod:`spahm.adapters`; each model type's adapter lives in :mod:`spahm.models`);
- :mod:`spahm.metrics` - Hausdorff distance, Hungarian relabelling, Hamming, ARI.
"""
from . import families
from .adapters import fuse_models, register_adapter
from .estimator import SPAHM, MatchResult, match
from .models import hdp_hmm, mixture, mlp, sparse_gp, topics  # noqa: F401  (register their adapters)

__all__ = ["SPAHM", "MatchResult", "match", "families", "fuse_models", "register_adapter"]
__version__ = "0.1.0"

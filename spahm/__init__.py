"""SPAHM: Statistical Model Aggregation via Parameter Matching (Yurochkin et al., NeurIPS 2019).

Public API:

- :class:`SPAHM` - scikit-learn style estimator, ``SPAHM(...).fit(local_atoms)``;
- :func:`match` - the same as a function returning a frozen :class:`MatchResult`;
- :mod:`spahm.metrics` - Hausdorff distance, Hungarian relabelling, Hamming, ARI.
"""
from .estimator import SPAHM, MatchResult, match

__all__ = ["SPAHM", "MatchResult", "match"]
__version__ = "0.1.0"

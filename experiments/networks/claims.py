"""The claim this application (beyond the paper) tests, PFNM's behaviour under label skew,
judged from a run's tidy rows (rules: :mod:`experiments.claims`)."""
from __future__ import annotations

import numpy as np

from experiments.claims import AppClaims, Claim, Judgement, absent, compare, overall, stats

BASELINES = ("averaging", "local")


def _beats_baselines(df):
    if not {"J", "alpha"} <= set(df.columns):
        return absent()
    outcomes, points = [], 0
    for _, sub in df[np.isfinite(df.alpha.astype(float))].groupby(["J", "alpha"]):
        points += 1
        s = stats(sub, "spahm", "accuracy")
        outcomes += [compare(s, stats(sub, base, "accuracy"), True) for base in BASELINES]
    if not outcomes:
        return absent("no label-skewed points in this run")
    return Judgement(f"{outcomes.count('ok')} of {len(outcomes)} comparisons at {points} "
                     "label-skewed points", overall(outcomes))


CLAIMS = AppClaims("networks", title="networks (beyond the paper)", runs=(("paper", ""),),
                   claims=(
    Claim("Under label skew the fused network beats one-shot weight averaging and the mean "
          "local network (PFNM's behaviour)", "PFNM: yes, by a wide margin", _beats_baselines),
))

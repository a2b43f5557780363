"""The claim this application (beyond the paper) tests, judged from a run's tidy rows (rules:
:mod:`experiments.claims`)."""
from __future__ import annotations

import math

from experiments.claims import AppClaims, Claim, Judgement, absent, compare, fmt, overall, stats


def _beats_plain(df):
    if "noise_noisy" not in df:
        return absent()
    noisiest = float(df.noise_noisy.max())
    plain = stats(df, "spahm_plain", "hausdorff", noise_noisy=noisiest)
    aware = stats(df, "spahm_uncertainty", "hausdorff", noise_noisy=noisiest)
    if math.isnan(plain[0]) or math.isnan(aware[0]):
        return absent("plain or uncertainty-aware SPAHM not run")
    return Judgement(f"Hausdorff {fmt(aware)} vs {fmt(plain)} at data sd {noisiest:g}",
                     overall([compare(aware, plain, False)]))


CLAIMS = AppClaims("uncertainty", title="uncertainty (beyond the paper)", runs=(("quick", ""),),
                   claims=(
    Claim("Uncertainty-aware fusion beats plain SPAHM when half the silos are small and noisy "
          "(noisiest setting)", "-", _beats_plain),
))

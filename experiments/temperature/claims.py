"""The paper's numbers for temperature forecasting (section 4.4, Table 1) and its claims,
judged from a run's tidy rows (rules: :mod:`experiments.claims`)."""
from __future__ import annotations

import math

from experiments.claims import (FAILS, HOLDS, AppClaims, Claim, Judgement, absent, compare,
                                fmt, overall, stats)

# Table 1: RMSE self / across USA, mean over 10 repetitions (no sd given).
PAPER_RMSE = {
    "sgp50": {"rmse_self": 5.509, "rmse_across": 14.565},
    "spahm": {"rmse_self": 5.860, "rmse_across": 8.917},
    "sgp300": {"rmse_self": 5.267, "rmse_across": 15.848},
}
PAPER_GLOBAL_ATOMS = (289, 9.8)    # mean +- sd of the global inducing points
PAPER_LOCAL_ATOMS = 50 * 50        # 50 states x 50 inducing points
#: Compression the claim asks for: fewer than half the local points kept.
COMPRESSES = 0.5


def _rmse(metric):
    def judge(df):
        s, local = stats(df, "spahm", metric), stats(df, "sgp50", metric)
        if math.isnan(s[0]) or math.isnan(local[0]):
            return absent("SPAHM or the 50-point SGP not run")
        if metric == "rmse_across":
            verdict = overall([compare(s, local, False)])
        else:  # the paper: local a little better at home
            verdict = overall([compare(local, s, False)])
        return Judgement(f"{fmt(s)} vs {fmt(local)} deg F", verdict)
    return judge


def _compression(df):
    comp = stats(df, "spahm", "compression")
    if math.isnan(comp[0]):
        return absent("no compression rows in this run")
    return Judgement(f"{comp[0]:.3f} of the local points kept (sigma chosen on validation days)",
                     HOLDS if comp[0] < COMPRESSES else FAILS)


def _paper(metric):
    return f"{PAPER_RMSE['spahm'][metric]:.3f} vs {PAPER_RMSE['sgp50'][metric]:.3f}"


CLAIMS = AppClaims("temperature", runs=(("quick", "5 city silos"),
                                        ("city_year", "10 city-year silos")), claims=(
    Claim("Fused inducing points forecast every silo far better than a silo's own 50-point SGP "
          "(RMSE across)", _paper("rmse_across"), _rmse("rmse_across")),
    Claim("Fusion costs a little at home (RMSE self: SPAHM slightly above the local SGP)",
          _paper("rmse_self"), _rmse("rmse_self")),
    Claim(f"SPAHM compresses the local inducing points ({PAPER_LOCAL_ATOMS:,} -> "
          f"{PAPER_GLOBAL_ATOMS[0]})",
          f"{PAPER_GLOBAL_ATOMS[0] / PAPER_LOCAL_ATOMS:.3f} of the local points", _compression),
))

"""The paper's numbers for motion capture (section 4.3, Fig. 4) and its claims, judged from a
run's tidy rows (rules: :mod:`experiments.claims`)."""
from __future__ import annotations

import math

from experiments.claims import (FAILS, HOLDS, AppClaims, Claim, Judgement, absent, close,
                                compare, fmt, overall, stats)

# Fig. 4 / section 4.3: (1 - normalised Hamming, ARI); states: 9 + 13 local, 14 global for
# SPAHM, k = 12 for k-means; SPAHM "at under half the compute" of the full model.
PAPER = {
    "accuracy": {"local": 0.28, "kmeans": 0.45, "spahm": 0.48, "full": 0.50},
    "ari": {"local": 0.16, "kmeans": 0.25, "spahm": 0.30, "full": 0.40},
    "n_states": {"local": 22, "kmeans": 12, "spahm": 14},
}
PAPER_LOCAL_STATES = (9, 13)
#: SPAHM's compute relative to the full model's, "under half".
PAPER_COMPUTE = 0.5
ORDER = ("local", "kmeans", "spahm", "full")


def _ordering(metric):
    def judge(df):
        values = [stats(df, m, metric) for m in ORDER]
        if any(math.isnan(v[0]) for v in values):
            return absent("not every method run")
        return Judgement(" / ".join(fmt(v) for v in values),
                         overall([compare(b, a, True) for a, b in zip(values, values[1:])]))
    return judge


def _compute(df):
    cpu = df[df.metric == "cpu_time_s"].pivot_table(index="trial", columns="method",
                                                    values="value")
    if not {"spahm", "full"} <= set(cpu.columns):
        return absent("no CPU times of SPAHM and the full model")
    ratio = (cpu["spahm"] / cpu["full"]).to_numpy()
    sd = ratio.std(ddof=1) if len(ratio) > 1 else 0.0
    return Judgement(f"CPU {ratio.mean():.2f} +- {sd:.2f} x the full model's",
                     HOLDS if ratio.mean() + sd < PAPER_COMPUTE else FAILS)


def _states(df):
    local, fused = stats(df, "local", "n_states"), stats(df, "spahm", "n_states")
    if math.isnan(fused[0]):
        return absent("SPAHM not run")
    return Judgement(f"{local[0]:.1f} local states in all -> {fused[0]:.1f} +- {fused[1]:.1f}",
                     close(fused[0], PAPER["n_states"]["spahm"]))


def _paper(metric):
    return " / ".join(f"{PAPER[metric][m]:.2f}" for m in ORDER)


CLAIMS = AppClaims("mocap", runs=(("paper", ""),), claims=(
    Claim("1 - Hamming: local < k-means matching < SPAHM < full HDP-HMM", _paper("accuracy"),
          _ordering("accuracy")),
    Claim("ARI: the same ordering", _paper("ari"), _ordering("ari")),
    Claim("SPAHM needs under half the full model's compute", "under half", _compute),
    Claim(f"Local models with {PAPER_LOCAL_STATES[0]} and {PAPER_LOCAL_STATES[1]} states fused "
          f"into {PAPER['n_states']['spahm']} global states",
          f"{' + '.join(map(str, PAPER_LOCAL_STATES))} -> {PAPER['n_states']['spahm']}", _states),
))

"""The paper's numbers for the topic models (section 4.2 and the authors' notebook) and its
claims, judged from a run's tidy rows (rules: :mod:`experiments.claims`)."""
from __future__ import annotations

import math

from experiments.claims import (NOT_REPRODUCIBLE, AppClaims, Claim, Judgement, absent, close,
                                compare, fmt, overall, stats)

#: The authors' numbers. "trainvocab": the 40 books as the reference (their notebook; the
#: only reference that can be rerun offline); "intervocab": Lahiri's corpus, the paper's
#: headline (section 4.2), top words restricted to words both corpora share.
PAPER = {
    "trainvocab": {"spahm": {"uci": -6.82, "umass": -5.32, "n_topics": 155},
                   "gaussian_lda": {"uci": -7.35, "umass": -7.75, "n_topics": 150,
                                    "distinct": 37, "uci_distinct": -7.21}},
    "intervocab": {"spahm": {"uci": -2.10}, "gaussian_lda": {"uci": -4.53}},
    "headline": {"spahm": {"uci": -2.10, "time_s": 40.0},
                 "gaussian_lda": {"uci": -4.60, "time_s": 16 * 3600.0}},
}
_TRAIN, _HEAD = PAPER["trainvocab"], PAPER["headline"]


def _coherence(metric):
    def judge(df):
        s, g = stats(df, "spahm", f"{metric}_10"), stats(df, "gaussian_lda", f"{metric}_10")
        if math.isnan(s[0]):
            return absent("SPAHM not run")
        if math.isnan(g[0]):
            return absent(f"{fmt(s)} vs Gaussian LDA not run")
        return Judgement(f"{fmt(s)} vs {fmt(g)} (top 10 words)",
                         overall([compare(s, g, True)]))
    return judge


def _n_topics(df):
    n = stats(df, "spahm", "n_topics")
    return absent("SPAHM not run") if math.isnan(n[0]) else Judgement(
        f"{n[0]:.0f}", close(n[0], _TRAIN["spahm"]["n_topics"]))


def _time(df):
    # Gaussian LDA may be run over several invocations (its chains resume from checkpoints),
    # so its time is the per-sweep cost times the sweeps of every chain.
    st = stats(df, "spahm", "time_s")
    sweep, done = stats(df, "gaussian_lda", "sweep_time_s"), stats(df, "gaussian_lda",
                                                                   "sweeps_done")
    if math.isnan(st[0]) or math.isnan(sweep[0]) or math.isnan(done[0]):
        return absent("SPAHM or Gaussian LDA not run")
    chains = max(df[(df.method == "gaussian_lda")
                    & df.metric.str.startswith("sweeps_done_chain")].metric.nunique(), 1)
    total = sweep[0] * done[0] * chains
    return Judgement(f"{st[0]:.1f} s vs {total / 60:.0f} min ({chains} chains x "
                     f"{done[0]:.0f} sweeps x {sweep[0]:.1f} s)",
                     overall([compare(st, (total, 0.0), False)]))


CLAIMS = AppClaims("topics", runs=(("paper", ""),), claims=(
    Claim("Fused topics are more coherent than Gaussian LDA's: UCI, the 40 books as reference "
          "(\"trainvocab\")", f"{_TRAIN['spahm']['uci']:.2f} vs {_TRAIN['gaussian_lda']['uci']:.2f}",
          _coherence("uci")),
    Claim("Same on UMass", f"{_TRAIN['spahm']['umass']:.2f} vs {_TRAIN['gaussian_lda']['umass']:.2f}",
          _coherence("umass")),
    Claim(f"SPAHM finds about {_TRAIN['spahm']['n_topics']} global topics from 40 x 25 local ones",
          f"{_TRAIN['spahm']['n_topics']}", _n_topics),
    Claim("SPAHM takes a fraction of Gaussian LDA's time",
          f"{_HEAD['spahm']['time_s']:g} s vs {_HEAD['gaussian_lda']['time_s'] / 3600:g} h", _time),
    Claim("Headline UCI coherence on Lahiri's 3,036-book Gutenberg corpus (\"intervocab\")",
          f"{_HEAD['spahm']['uci']:.2f} vs {_HEAD['gaussian_lda']['uci']:.2f}",
          lambda df: Judgement("that corpus cannot be had offline", NOT_REPRODUCIBLE)),
))

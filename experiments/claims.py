"""The paper's claims: declared once per application, judged from a run's tidy rows.

Each application declares its claims in ``experiments/<application>/claims.py`` as ``CLAIMS``
(an :class:`AppClaims`), beside the paper's numbers (the only place they are written). The
same objects render

- the claims section of every run's ``report.md`` (``CLAIMS.section(df)``, called by the
  application's ``report``: the claims judged on that run's rows),
- the README's verdict table and the one ``results/REPORT*.md`` opens with
  (:mod:`experiments.verdicts`: the claims judged on the committed runs named in
  ``CLAIMS.runs``),

so they cannot disagree; ``tests/test_verdicts.py`` checks that they do not.

How a comparison is judged (means over trials, "spread" = the larger of the two sds over
trials):

- ``holds``: every ordering the claim states goes the paper's way by more than the spread;
- ``holds, with ties``: the others are within the spread (a tie is not a failure);
- ``tie``: every one of them is within the spread;
- ``does not hold``: at least one goes the other way by more than the spread;
- a number the paper states (e.g. a count) ``holds`` within 15 % of the paper's value;
- ``not run here``: the run has no rows for it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

#: A number the paper states is reproduced when ours is this close, relatively.
CLOSE = 0.15
HOLDS, WITH_TIES, TIE, FAILS = "holds", "holds, with ties", "tie", "does not hold"
NOT_RUN, NOT_REPRODUCIBLE = "not run here", "not reproducible here"
RULE = ("Judged by `experiments/claims.py` from this run's rows: means over trials; a "
        "difference within the spread of the trials (the larger sd) is a tie, not a failure.")


@dataclass(frozen=True)
class Judgement:
    ours: str
    verdict: str


@dataclass(frozen=True)
class Claim:
    """One claim: its words, the paper's number as shown, and how ours is judged from a run's
    tidy rows (``judge(df) -> Judgement``)."""
    text: str
    paper: str
    judge: Callable[[pd.DataFrame], Judgement]


@dataclass(frozen=True)
class AppClaims:
    """An application's claims. ``runs``: the committed runs (``results/<name>/<run>``) the
    README's table judges them on, each with a label added to the claim when there are
    several; ``title``: the application as the README's table names it."""
    name: str
    claims: tuple[Claim, ...]
    runs: tuple[tuple[str, str], ...]
    title: str = ""
    why: str = field(default="")

    def __post_init__(self):
        if not self.title:
            object.__setattr__(self, "title", self.name)
        if not self.why:
            object.__setattr__(self, "why", f"results/{self.name}/README.md")

    def judge(self, df):
        """``[(claim, judgement)]`` on the tidy rows ``df`` of one run."""
        return [(c, c.judge(df)) for c in self.claims]

    def section(self, df, heading="###"):
        """Markdown: the claims judged on this run, for the run's ``report.md``."""
        lines = [f"{heading} The paper's claims, judged on this run", "", RULE, "",
                 "| the paper's claim | paper | ours | verdict |", "|---|---|---|---|"]
        lines += [f"| {c.text} | {c.paper} | {j.ours} | {j.verdict} |" for c, j in self.judge(df)]
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- the rules
def stats(df, method, metric, **where):
    """(mean, sd) over the rows of ``method`` x ``metric`` (sd 0 for one row, nan if none)."""
    sub = df[(df.method == method) & (df.metric == metric)]
    for key, value in where.items():
        if key not in sub:
            return math.nan, math.nan
        sub = sub[np.isclose(sub[key].astype(float), value)]
    values = sub["value"].to_numpy(dtype=float)
    if len(values) == 0:
        return math.nan, math.nan
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def compare(better, worse, higher_is_better):
    """'ok', 'tie' or 'fails' for "better beats worse" given (mean, sd) pairs ('missing' if
    the run has no such rows)."""
    if math.isnan(better[0]) or math.isnan(worse[0]):
        return "missing"
    gap = (better[0] - worse[0]) * (1 if higher_is_better else -1)
    if abs(gap) <= max(better[1], worse[1]):
        return "tie"
    return "ok" if gap > 0 else "fails"


def overall(outcomes):
    """The verdict of several comparisons (see the module's docstring)."""
    if not outcomes or "missing" in outcomes:
        return NOT_RUN
    if "fails" in outcomes:
        return FAILS
    if all(o == "tie" for o in outcomes):
        return TIE
    return WITH_TIES if "tie" in outcomes else HOLDS


def close(ours, paper):
    """Whether a number the paper states is reproduced (within :data:`CLOSE`)."""
    if math.isnan(ours):
        return NOT_RUN
    return HOLDS if abs(ours - paper) <= CLOSE * abs(paper) else FAILS


def fmt(ms, digits=2):
    return f"{ms[0]:.{digits}f}"


def fmt_sd(ms, digits=2):
    return f"{ms[0]:.{digits}f} +- {ms[1]:.{digits}f}"


def absent(what="no such rows in this run"):
    return Judgement(what, NOT_RUN)

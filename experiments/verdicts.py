"""The paper's claims, one row each: whether they hold in the committed runs, with the numbers.

    python -m experiments.verdicts            # print the table from results/
    python -m experiments.verdicts --readme   # also rewrite the table in README.md

Each application declares its claims once (``experiments/<application>/claims.py``, rules in
:mod:`experiments.claims`); this table judges them on the committed runs each declaration
names, so every row is computed, never typed, and is the same row the claims section of that
run's ``report.md`` shows. ``tests/test_verdicts.py`` checks that the README, ``results/
REPORT*.md`` and every committed run's ``report.md`` agree. A claim whose run is missing says
"not run here"; a claim that needs data not available offline says "not reproducible here".
"""
from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from experiments.registry import EXPERIMENTS
from experiments._runner import atomic_write_text, load_results
from experiments.claims import NOT_REPRODUCIBLE, NOT_RUN, FAILS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
START, END = "<!-- verdicts:start -->", "<!-- verdicts:end -->"
#: The order of the applications in the table: the paper's four, then the two beyond it.
#: A run with no rows: what a claim whose run is missing is judged on.
NO_ROWS = pd.DataFrame(columns=["trial", "seed", "method", "metric", "value"])
ORDER = ("simulated", "topics", "mocap", "temperature", "networks", "uncertainty")


@dataclass(frozen=True)
class Verdict:
    application: str
    claim: str
    paper: str
    ours: str
    verdict: str
    why: str  # link (relative to the repository root) to the explanation


def declared(name):
    """The :class:`experiments.claims.AppClaims` of experiment ``name``."""
    return importlib.import_module(f"experiments.{name}.claims").CLAIMS


def applications():
    return [declared(n) for n in sorted(EXPERIMENTS, key=lambda n: (ORDER + (n,)).index(n))]


def verdicts(results=RESULTS):
    """Every claim's :class:`Verdict`, judged on the committed runs under ``results``."""
    out = []
    for app in applications():
        for run, label in app.runs:
            path = Path(results) / app.name / run
            claim_text = (lambda c: f"{c.text}, {label}") if label else (lambda c: c.text)
            found = (path / "metrics.csv").is_file()
            for c, j in app.judge(load_results(path) if found else NO_ROWS):
                ours = j.ours if found or j.verdict != NOT_RUN else (
                    f"no committed run `results/{app.name}/{run}/`")
                out.append(Verdict(app.title, claim_text(c), c.paper, ours, j.verdict, app.why))
    return out


def table(rows, link_prefix=""):
    """Markdown table of ``rows``; links are relative to the file the table goes into."""
    lines = ["| application | the paper's claim | paper | ours | verdict |",
             "|---|---|---|---|---|"]
    for v in rows:
        verdict = v.verdict
        if verdict in (FAILS, NOT_REPRODUCIBLE, NOT_RUN):
            verdict = f"**{verdict}** ([why]({link_prefix}{v.why}))"
        else:
            verdict = f"{verdict} ([details]({link_prefix}{v.why}))"
        lines.append(f"| {v.application} | {v.claim} | {v.paper} | {v.ours} | {verdict} |")
    return "\n".join(lines) + "\n"


def readme_table(results=RESULTS):
    return table(verdicts(results))


def replace_block(text, block):
    """``text`` with the part between the verdict markers replaced by ``block``."""
    if START not in text or END not in text:
        raise ValueError(f"no {START} ... {END} block to replace")
    head, rest = text.split(START, 1)
    return f"{head}{START}\n{block}{END}{rest.split(END, 1)[1]}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="rewrite the table in README.md")
    args = parser.parse_args(argv)
    block = readme_table()
    print(block)
    if args.readme:
        readme = ROOT / "README.md"
        atomic_write_text(readme, replace_block(readme.read_text(), block))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The paper's claims: judged by one rule, declared once, and the same in every run's report.md,
the README and results/REPORT*.md."""
import re

import pandas as pd
import pytest
from omegaconf import OmegaConf

from conftest import ROOT
from experiments import EXPERIMENTS, claims, report, verdicts
from experiments._runner import load_results

RESULTS = ROOT / "results"
RUNS = report.find_runs(RESULTS)
SECTION = "The paper's claims, judged on this run"


def write_run(root, app, name, rows):
    run = root / app / name
    run.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(run / "metrics.csv", index=False)
    return run


def mocap_rows(values, spread=0.01):
    """Two trials per method of 'accuracy' around the given means."""
    rows = []
    for method, mean in values.items():
        for trial, shift in enumerate((-spread, spread)):
            for metric in ("accuracy", "ari"):
                rows.append({"trial": trial, "seed": trial, "method": method, "metric": metric,
                             "value": mean + shift})
    for method in ("local", "spahm"):
        for trial in (0, 1):
            rows.append({"trial": trial, "seed": trial, "method": method, "metric": "n_states",
                         "value": 14.0})
    for trial in (0, 1):
        for j, states in enumerate((9.0, 13.0)):  # the paper's local states per subject
            rows.append({"trial": trial, "seed": trial, "method": "local",
                         "metric": f"n_states:silo{j}", "value": states})
    for method, metric, cpu in (("spahm", "critical_path_cpu_time_s", 1.0),
                                ("spahm", "cpu_time_s", 1.8), ("full", "cpu_time_s", 4.0)):
        for trial in (0, 1):
            rows.append({"trial": trial, "seed": trial, "method": method,
                         "metric": metric, "value": cpu + 0.1 * trial})
    return rows


@pytest.mark.parametrize("means,expected", [
    ({"local": 0.2, "kmeans": 0.4, "spahm": 0.5, "full": 0.6}, "holds"),
    ({"local": 0.2, "kmeans": 0.4, "spahm": 0.405, "full": 0.6}, "holds, with ties"),
    ({"local": 0.2, "kmeans": 0.5, "spahm": 0.4, "full": 0.6}, "does not hold"),
    ({"local": 0.4, "kmeans": 0.4, "spahm": 0.4, "full": 0.4}, "tie"),
])
def test_orderings_are_judged_against_the_spread_of_trials(means, expected):
    judged = {c.text: j for c, j in verdicts.declared("mocap").judge(pd.DataFrame(mocap_rows(means)))}
    hamming = next(j for text, j in judged.items() if text.startswith("1 - Hamming"))
    assert hamming.verdict == expected
    compute = next(j for text, j in judged.items() if "compute" in text)
    assert compute.verdict == "holds"  # critical path 1.05 / 4.05: a quarter
    states = next(j for text, j in judged.items() if "states" in text)
    assert states.verdict == "holds"  # 14 global states, as the paper


def test_a_number_the_paper_states_holds_only_close_to_it():
    assert claims.close(14.0 * 1.14, 14) == "holds"
    assert claims.close(14.0 * 1.16, 14) == "does not hold"
    assert claims.close(float("nan"), 14) == "not run here"


def test_a_run_without_the_rows_is_not_run_here():
    empty = pd.DataFrame(columns=["trial", "seed", "method", "metric", "value"])
    for name in EXPERIMENTS:
        judged = verdicts.declared(name).judge(empty)
        assert judged and {j.verdict for _, j in judged} <= {"not run here",
                                                              "not reproducible here"}, name


def test_a_missing_run_is_not_run_here(tmp_path):
    rows = verdicts.verdicts(tmp_path)
    assert rows and {v.verdict for v in rows} == {"not run here"}
    table = verdicts.table(rows)
    assert table.count("**not run here**") == len(rows)


def test_every_application_declares_claims_with_the_paper_number():
    for name in EXPERIMENTS:
        declared = verdicts.declared(name)
        assert declared.name == name and declared.claims and declared.runs
        assert all(c.text and c.paper for c in declared.claims)


# ---------------------------------------------------------------- the committed files agree
def table_rows(text, header):
    """Cells of the markdown table whose header line starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def without_link(verdict):
    return re.sub(r"\s*\(\[(details|why)\]\([^)]*\)\)$", "", verdict).strip("*")


def claims_in_report(run):
    """{claim: (paper, ours, verdict)} of the claims section of a committed run's report.md."""
    text = (run / "report.md").read_text()
    assert SECTION in text, f"{run}/report.md has no claims section"
    section = text[text.index(SECTION):]
    return {r[0]: tuple(r[1:]) for r in table_rows(section, "| the paper's claim |")}


@pytest.mark.parametrize("run", RUNS, ids=[str(r.relative_to(RESULTS)) for r in RUNS])
def test_every_committed_report_shows_the_declared_claims_judged_on_its_rows(run):
    name = OmegaConf.load(run / "config.yaml").name
    judged = verdicts.declared(name).judge(load_results(run))
    assert claims_in_report(run) == {c.text: (c.paper, j.ours, j.verdict) for c, j in judged}, (
        f"{run}/report.md is stale: redraw it from the run's rows")


def test_readme_and_reports_hold_the_rows_of_the_runs_they_name():
    readme = table_rows((ROOT / "README.md").read_text(), "| application |")
    expected = []
    for app in verdicts.applications():
        for run, label in app.runs:
            in_run = claims_in_report(RESULTS / app.name / run)
            for c in app.claims:
                paper, ours, verdict = in_run[c.text]
                expected.append([app.title, f"{c.text}, {label}" if label else c.text, paper,
                                 ours, verdict])
    assert [r[:4] + [without_link(r[4])] for r in readme] == expected, (
        "README's verdict table differs from the committed runs' report.md: run "
        "`python -m experiments.verdicts --readme` (or `make report`)")
    for path in sorted(RESULTS.glob("REPORT*.md")):
        rows = table_rows(path.read_text(), "| application |")
        assert [r[:4] + [without_link(r[4])] for r in rows] == expected, (
            f"{path.name}'s claims table differs from the README's: `make report`")


def test_readme_holds_the_table_computed_from_the_committed_runs():
    text = (ROOT / "README.md").read_text()
    expected = verdicts.replace_block(text, verdicts.readme_table())
    assert text == expected, ("README's verdict table is stale: run "
                              "`python -m experiments.verdicts --readme` (or `make report`)")

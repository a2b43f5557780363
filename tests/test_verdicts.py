"""The verdict table: judged from the committed runs, and the README holds exactly that table."""
import pandas as pd
import pytest

from conftest import ROOT
from experiments import verdicts


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
            rows.append({"trial": trial, "seed": trial, "method": method, "metric": "accuracy",
                         "value": mean + shift})
            rows.append({"trial": trial, "seed": trial, "method": method, "metric": "ari",
                         "value": mean + shift})
    for method in ("local", "spahm"):
        for trial in (0, 1):
            rows.append({"trial": trial, "seed": trial, "method": method, "metric": "n_states",
                         "value": 14.0})
    for method, cpu in (("spahm", 1.0), ("full", 4.0)):
        for trial in (0, 1):
            rows.append({"trial": trial, "seed": trial, "method": method,
                         "metric": "cpu_time_s", "value": cpu + 0.1 * trial})
    return rows


@pytest.mark.parametrize("means,expected", [
    ({"local": 0.2, "kmeans": 0.4, "spahm": 0.5, "full": 0.6}, "holds"),
    ({"local": 0.2, "kmeans": 0.4, "spahm": 0.405, "full": 0.6}, "holds, with ties"),
    ({"local": 0.2, "kmeans": 0.5, "spahm": 0.4, "full": 0.6}, "does not hold"),
    ({"local": 0.4, "kmeans": 0.4, "spahm": 0.4, "full": 0.4}, "tie"),
])
def test_orderings_are_judged_against_the_spread_of_trials(tmp_path, means, expected):
    write_run(tmp_path, "mocap", "paper", mocap_rows(means))
    rows = {v.claim: v for v in verdicts.mocap(tmp_path)}
    hamming = next(v for claim, v in rows.items() if claim.startswith("1 - Hamming"))
    assert hamming.verdict == expected
    compute = next(v for claim, v in rows.items() if "compute" in claim)
    assert compute.verdict == "holds"  # 1.05 / 4.05: a quarter
    states = next(v for claim, v in rows.items() if "states" in claim)
    assert states.verdict == "holds"  # 14 global states, as the paper


def test_a_missing_run_is_not_run_here_and_the_lahiri_row_is_not_reproducible(tmp_path):
    rows = verdicts.verdicts(tmp_path)
    assert rows and {v.verdict for v in rows} == {"not run here", "not reproducible here"}
    table = verdicts.table(rows)
    assert table.count("**not run here**") == len(rows) - 1
    assert "**not reproducible here**" in table


def test_readme_holds_the_table_computed_from_the_committed_runs():
    text = (ROOT / "README.md").read_text()
    expected = verdicts.replace_block(text, verdicts.readme_table())
    assert text == expected, ("README's verdict table is stale: run "
                              "`python -m experiments.verdicts --readme` (or `make report`)")

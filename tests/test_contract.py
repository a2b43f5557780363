"""Every registered experiment follows the contract (experiments/contract.py), and every
committed run under results/ can be redrawn and reported by `spahm-report`, from its own
directory alone."""
import importlib
import inspect
import shutil

import pytest

from conftest import ROOT
from experiments import EXPERIMENTS, report
from experiments.contract import Experiment

#: Parameters of each contract function, in order (the runner passes them by position).
SIGNATURES = {
    "validate": ["cfg"],
    "prepare": ["cfg"],
    "settings": ["cfg"],
    "trial": ["cfg", "setting", "trial", "prepared"],
    "plot": ["df", "out_dir", "cfg"],
    "report": ["df", "cfg"],
}

COMMITTED_RUNS = sorted({p.parent.relative_to(ROOT) for p in (ROOT / "results").rglob("metrics.csv")})


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_follows_the_contract(name):
    module = importlib.import_module(f"experiments.{name}")
    assert isinstance(module, Experiment), (
        f"experiments.{name} lacks {[f for f in ['LABELS', *SIGNATURES] if not hasattr(module, f)]}")
    assert not hasattr(module, "run"), f"experiments.{name}.run: the runner runs experiments"
    assert isinstance(module.LABELS, dict) and module.LABELS
    for function, params in SIGNATURES.items():
        signature = inspect.signature(getattr(module, function))
        try:
            signature.bind(*params)  # called with exactly the contract's arguments, by position
        except TypeError as exc:
            pytest.fail(f"experiments.{name}.{function}{signature} cannot be called as "
                        f"{function}({', '.join(params)}): {exc}")


def test_there_are_committed_runs():
    assert len(COMMITTED_RUNS) >= len(EXPERIMENTS) - 1


#: What spahm-report may write into a run: its figures and its own report.md.
def _may_change(path):
    return path.suffix == ".png" or path.name == "report.md"


@pytest.mark.parametrize("run", COMMITTED_RUNS, ids=[str(r) for r in COMMITTED_RUNS])
def test_spahm_report_redraws_every_committed_run(tmp_path, run, capsys, monkeypatch):
    """Redrawn with no data installed: the report is a pure function of the run directory, and
    every file but the figures and report.md stays byte for byte what the run wrote."""
    copy = tmp_path / run.name
    shutil.copytree(ROOT / run, copy)
    before = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    monkeypatch.setenv("SPAHM_DATA", str(tmp_path / "no-data"))
    assert report.main([str(copy)]) == 0, capsys.readouterr().err
    after = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    assert set(after) == set(before), f"new files: {set(after) - set(before)}"
    changed = [str(p) for p in before if before[p] != after[p] and not _may_change(p)]
    assert changed == [], f"spahm-report rewrote {changed}"
    assert (copy / "report.md").read_text().strip()


@pytest.mark.parametrize("run", COMMITTED_RUNS, ids=[str(r) for r in COMMITTED_RUNS])
def test_committed_runs_record_no_absolute_path(run):
    for name in ("config.yaml", "provenance.json", "report.md"):
        path = ROOT / run / name
        if path.is_file():
            assert str(ROOT) not in path.read_text(), f"{run / name} names {ROOT}"
    output_dir = report.run_config(ROOT / run).get("output_dir")
    assert output_dir is None or not output_dir.startswith("/"), f"{run}: output_dir {output_dir}"

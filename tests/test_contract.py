"""Every registered experiment follows the contract (experiments/contract.py), and every
committed run under results/ can be redrawn and reported by `spahm-report`, from its own
directory alone."""
import importlib
import inspect
import shutil

import pytest
from omegaconf import OmegaConf

from conftest import ROOT
from experiments import EXPERIMENTS, report, reproduce
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

COMMITTED_RUNS = [p.relative_to(ROOT) for p in report.find_runs(ROOT / "results")]


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
    config = OmegaConf.to_container(report.run_config(ROOT / run))
    absolute = [f"{key}: {value}" for key, value in _leaves(config, lists=True)
                if isinstance(value, str) and value.startswith("/")]
    assert absolute == [], f"{run}/config.yaml records absolute paths: {absolute}"


@pytest.mark.parametrize("run", COMMITTED_RUNS, ids=[str(r) for r in COMMITTED_RUNS])
def test_committed_runs_were_written_by_the_current_config_schema(run):
    """A committed config has exactly the keys the current code composes for its experiment
    and profile: a missing or a stale key means the run predates the code."""
    saved = OmegaConf.to_container(report.run_config(ROOT / run))
    current = OmegaConf.to_container(reproduce.compose_config(saved["name"], saved["profile"],
                                                              "unused"))
    saved_keys, current_keys = ({k for k, _ in _leaves(c)} for c in (saved, current))
    assert (sorted(current_keys - saved_keys), sorted(saved_keys - current_keys)) == ([], []), \
        f"{run}/config.yaml: (keys missing, keys the code no longer has)"


def _leaves(node, prefix="", lists=False):
    """(dotted key, value) of every leaf of a nested config; an empty mapping is a leaf, and
    lists are leaves unless ``lists`` (then their items are, keyed by index)."""
    items = (node.items() if isinstance(node, dict) and node
             else enumerate(node) if lists and isinstance(node, list) else None)
    if items is None:
        yield prefix.rstrip("."), node
        return
    for k, v in items:
        yield from _leaves(v, f"{prefix}{k}.", lists)

"""The line a run ends with reads as the paper reports it: an experiment's own ``headline``
when it has one (mocap: 1 - Hamming and ARI; simulated: Hausdorff per noise sd and J)."""
import pandas as pd
from omegaconf import OmegaConf

from experiments import cli, mocap


def _mocap_rows():
    rows = []
    for trial, (acc, ari) in enumerate([(0.6, 0.5), (0.8, 0.3)]):
        rows += [{"trial": trial, "seed": 0, "method": "spahm", "metric": "accuracy", "value": acc},
                 {"trial": trial, "seed": 0, "method": "spahm", "metric": "ari", "value": ari},
                 {"trial": trial, "seed": 0, "method": "spahm", "metric": "hamming",
                  "value": 1 - acc}]
    return pd.DataFrame(rows)


def test_mocap_headline_shows_one_minus_hamming_and_ari_beside_the_paper():
    text = mocap.headline(_mocap_rows())
    assert "1 - Hamming" in text and "ARI" in text and "hamming" not in text.lower().replace(
        "1 - hamming", "")
    line = next(l for l in text.splitlines() if l.strip().startswith("SPAHM"))
    assert "0.70 +- 0.14 (0.48)" in line and "0.40 +- 0.14 (0.30)" in line


def test_the_cli_prints_the_experiments_own_headline(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "run", lambda cfg: _mocap_rows())
    cfg = OmegaConf.create({"name": "mocap", "output_dir": str(tmp_path / "run"),
                            "objective": {"metric": "accuracy", "method": "spahm",
                                          "direction": "maximize"}})
    cli._task(cfg)
    out = capsys.readouterr().out
    assert "1 - Hamming" in out and "0.70 +- 0.14 (0.48)" in out

"""Motion-capture experiment: metrics on hand-made labels, silos, config, data script, smoke run."""
import hashlib
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from data_scripts import mocap as mocap_data
from experiments import mocap
from experiments import register_configs
from experiments.mocap.config import ModelCfg
from experiments._runner import ConfigError, DataMissingError, load_results, run_experiment
from spahm.metrics import ari, hamming, relabel

CONF = str(Path(__file__).resolve().parents[1] / "conf")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap6"


register_configs()


def _compose(overrides=()):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="config", overrides=["experiment=mocap", *overrides])


# ---------------------------------------------------------------------------- metrics
def test_hamming_and_ari_on_hand_made_labels():
    truth = np.array([1, 1, 1, 2, 2, 2, 3, 3])
    # a perfect segmentation under other names
    perfect = np.array([7, 7, 7, 0, 0, 0, 4, 4])
    assert hamming(perfect, truth) == 0.0
    assert ari(perfect, truth) == pytest.approx(1.0)
    np.testing.assert_array_equal(relabel(perfect, truth), truth)
    # one frame wrong: 7->1, 0->2, 4->3, frame 2 says 0
    one_off = np.array([7, 7, 0, 0, 0, 0, 4, 4])
    assert hamming(one_off, truth) == pytest.approx(1 / 8)
    # two states merged: best one-to-one matching leaves one true behaviour unmatched
    merged = np.array([5, 5, 5, 5, 5, 5, 6, 6])
    assert hamming(merged, truth) == pytest.approx(3 / 8)
    # a state split in two: the extra state matches nothing
    split = np.array([1, 1, 9, 2, 2, 2, 3, 3])
    assert hamming(split, truth) == pytest.approx(1 / 8)
    assert ari(np.zeros(8, dtype=int), truth) == pytest.approx(0.0)


def test_segmentation_metrics_overall_and_per_sequence():
    truth = [np.array([1, 1, 2, 2]), np.array([2, 2, 3, 3])]
    # labels consistent within each sequence but swapped across them
    pred = [np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1])]
    rows = dict(mocap.segmentation_metrics(pred, truth, ["a", "b"]))
    assert rows["hamming:a"] == 0.0 and rows["hamming:b"] == 0.0
    assert rows["ari:a"] == pytest.approx(1.0)
    assert rows["hamming"] == pytest.approx(0.5)  # over all frames one relabelling
    assert rows["accuracy"] == pytest.approx(1 - rows["hamming"])
    assert rows["ari"] < 1.0


def test_partition_by_subject_and_sequence():
    names = ["13_29", "13_30", "14_06", "13_31", "14_14"]
    assert mocap.partition(names, "subject") == [[0, 1, 3], [2, 4]]
    assert mocap.partition(names, "sequence") == [[i] for i in range(5)]


# ---------------------------------------------------------------------------- config
def test_config_composition_quick_and_paper():
    quick = _compose(["profile=quick"])
    assert quick.name == "mocap" and quick.profile == "quick"
    assert quick.trials == 3 and quick.model.n_iter == 150 and quick.model.n_restarts == 2
    assert (quick.model.kappa, quick.model.gamma, quick.model.alpha, quick.model.n0) == (
        10.0, 5.0, 0.5, 1.0)
    assert quick.model.prior_covariance == "empirical" and quick.model.split_merge
    assert quick.kmeans_matching.k == 12 and quick.silos == "subject"
    assert quick.fusion.n_init >= 1  # the shared Gaussian fusion group is composed in
    paper = _compose(["profile=paper"])
    assert paper.trials == 10 and paper.model.n_iter == 400 and paper.model.n_restarts == 4
    # the yaml spells out the schema's defaults (the prior-scale study uses the schema's)
    assert OmegaConf.to_container(paper.model) == asdict(ModelCfg())
    assert paper.model.resample_hyperparameters and paper.model.tol > 0
    assert paper.n_jobs == 2  # the two subjects' local models fit at once
    mocap.validate(quick)
    mocap.validate(paper)


@pytest.mark.parametrize("override, key", [
    ("model.kappa=-1", "model.kappa"),
    ("silos=per_frame", "silos"),
    ("methods=[local,magic]", "methods"),
    ("trials=0", "trials"),
    ("model.n_burnin=150", "model.n_burnin"),
    ("model.prior_covariance=diagonal", "model.prior_covariance"),
    ("model.prior_scale=0", "model.prior_scale"),
    ("model.gamma=0", "model.gamma"),
    ("model.n_spare_states=0", "model.n_spare_states"),
    ("model.rho_prior=[1.0,-2.0]", "model.rho_prior"),
    ("kmeans_matching.k=0", "kmeans_matching.k"),
    ("+model.kapa=3", "model"),  # appended on purpose with +: still not a model parameter
])
def test_bad_config_is_named(override, key):
    cfg = _compose(["profile=quick", override])
    with pytest.raises(ConfigError, match=f"'{key}'"):
        mocap.validate(cfg)


@pytest.mark.parametrize("override", ["model.kapa=3", "model.n_iter=many", "data.extra=1"])
def test_unknown_keys_and_wrong_types_fail_at_composition(override):
    with pytest.raises(Exception, match=override.lstrip("+").split("=")[0].split(".")[-1]):
        _compose(["profile=quick", override])


def test_missing_data_names_the_install_script(tmp_path):
    with pytest.raises(DataMissingError, match=r"python -m data_scripts.mocap --from DIR"):
        mocap.load_mocap(tmp_path / "nowhere")


# ---------------------------------------------------------------------------- data script
def _fake_files():
    return {name: f"content of {name}\n".encode() for name in mocap_data.SHA256}


def test_data_script_checks_sha256_and_writes_nothing_on_error(tmp_path, monkeypatch):
    files = _fake_files()
    monkeypatch.setattr(mocap_data, "SHA256",
                        {n: hashlib.sha256(b).hexdigest() for n, b in files.items()})
    src = tmp_path / "src"
    src.mkdir()
    for n, b in files.items():
        (src / n).write_bytes(b)
    assert mocap_data.main(["--from", str(src), "--target", str(tmp_path / "ok")]) == 0
    installed = sorted(p.name for p in (tmp_path / "ok").iterdir() if not p.name.startswith("."))
    assert installed == sorted(files)  # beside the runner's install record (a dot file)
    (src / "zTrue.dat").write_bytes(b"tampered\n")
    with pytest.raises(mocap_data.InstallError, match="zTrue.dat: sha256"):
        mocap_data.install(mocap_data.read_local(src), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    assert mocap_data.main(["--from", str(src), "--target", str(tmp_path / "bad")]) == 1
    (src / "13_30.dat").unlink()
    with pytest.raises(mocap_data.InstallError, match="missing 13_30.dat"):
        mocap_data.read_local(src)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared mocap6 copy not available")
def test_data_script_installs_the_shared_copy(tmp_path):
    assert mocap_data.main(["--from", str(SHARED), "--target", str(tmp_path)]) == 0
    data = mocap.load_mocap(tmp_path)
    assert data["names"] == ["13_29", "13_30", "13_31", "14_06", "14_14", "14_20"]
    assert [len(z) for z in data["labels"]] == [383, 206, 252, 447, 388, 388]
    assert all(x.shape[1] == 12 for x in data["sequences"])
    assert len(data["behaviours"]) == 12


# ---------------------------------------------------------------------------- smoke run
def _tiny_mocap(folder, T=40, seed=0):
    """Four sequences of two 'subjects', 12 features, three planted behaviours in blocks."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    centres = rng.normal(0, 8, size=(3, 12))
    names = ["1_01", "1_02", "2_01", "2_02"]
    lines = []
    for k, name in enumerate(names):
        z = np.repeat(rng.permutation(3), [T // 3, T // 3, T - 2 * (T // 3)])
        x = centres[z] + rng.normal(size=(T, 12))
        np.savetxt(folder / f"{name}.dat", x, fmt="%.6f")
        lines.append(" ".join(str(v + 1) for v in z))
    (folder / "SeqNames.txt").write_text("\n".join(names) + "\n")
    (folder / "zTrue.dat").write_text("\n".join(lines) + "\n")
    (folder / "BehaviorNames.txt").write_text("A\nB\nC\n")


def test_end_to_end_smoke(tmp_path):
    _tiny_mocap(tmp_path / "data", T=90)
    out = tmp_path / "run"
    cfg = _compose(["profile=quick", "trials=2", f"data.root={tmp_path / 'data'}",
                    f"output_dir={out}", "quiet=true", "n_jobs=1", "model.n_states=6",
                    "model.n_iter=6", "model.n_burnin=2", "model.n_restarts=1",
                    "model.n_init_states=3",
                    "kmeans_matching.k=3", "kmeans_matching.n_init=2", "fusion.n_init=1",
                    "model.prior_scale=1"])  # well-specified planted Gaussians: Fox et al.'s S
    df = run_experiment(cfg, mocap)
    assert set(df.method) == set(mocap.LABELS)
    assert sorted(df.trial.unique()) == [0, 1]
    acc = df[df.metric == "accuracy"].groupby("method").value.mean()
    assert acc["full"] > 0.9 and acc["spahm"] > 0.9  # planted, well-separated behaviours
    assert {"hamming:1_01", "ari:2_02", "n_states", "n_states:silo0", "n_states:silo1",
            "cpu_time_s"} <= set(df.metric)
    for f in ("metrics.csv", "timings.csv", "config.yaml", "provenance.json", "report.md",
              "accuracy.png", "ari.png", "states.png", "metrics_per_sequence.png",
              "segmentations.png", "segmentations/trial_000.csv", "segmentations/trial_001.csv"):
        assert (out / f).is_file(), f
    seg = pd.read_csv(out / "segmentations/trial_000.csv", dtype={"sequence": str})
    assert list(seg.columns) == ["sequence", "frame", "truth", "local", "kmeans", "spahm", "full"]
    assert len(seg) == 4 * 90
    text = mocap.report(df, cfg)
    assert "| SPAHM |" in text and "(0.48)" in text and "States per local model" in text
    # figures redraw from the saved files alone, with the saved config
    (out / "segmentations.png").unlink()
    saved = OmegaConf.load(out / "config.yaml")
    written = mocap.plot(load_results(out), out, saved)
    assert (out / "segmentations.png") in written and (out / "segmentations.png").is_file()
    # resume skips finished trials: the same rows come back (timings in timings.csv)
    again = run_experiment(cfg, mocap)
    key = ["trial", "method", "metric"]
    pd.testing.assert_frame_equal(again.sort_values(key).reset_index(drop=True)[key + ["value"]],
                                  df.sort_values(key).reset_index(drop=True)[key + ["value"]],
                                  atol=1e-9)
    assert set(pd.read_csv(out / "timings.csv").metric) == {
        "time_s", "sequential_time_s", "cpu_time_s", "critical_path_cpu_time_s", "fusion_time_s"}
    assert {"hyper_alpha:silo0", "hyper_kappa:silo1", "hyper_gamma", "sweeps",
            "compute_ratio_ideal_critical_path"} <= set(df.metric)
    # same config and seed: byte-identical metrics.csv, also with the silos fitted in parallel
    cfg2 = cfg.copy()
    cfg2.output_dir = str(tmp_path / "run2")
    cfg2.n_jobs = 2
    run_experiment(cfg2, mocap)
    assert (out / "metrics.csv").read_bytes() == (tmp_path / "run2" / "metrics.csv").read_bytes()
    for t in ("trial_000.csv", "trial_001.csv"):  # states in canonical order: same bytes
        assert ((out / "segmentations" / t).read_bytes()
                == (tmp_path / "run2" / "segmentations" / t).read_bytes())
    # ratios to the full model are derived in the report
    rel = mocap.relative_times(again)
    assert np.allclose(rel[rel.method == "full"].value, 1.0)
    assert "CPU / full" in mocap.report(again, cfg)
    ratios = mocap.compute_ratios(again)
    assert set(ratios.metric) == {"compute_ratio_cpu", "compute_ratio_critical_path"}
    spahm_r = ratios[ratios.method == "spahm"].pivot(index="trial", columns="metric",
                                                     values="value")
    assert np.all(spahm_r.compute_ratio_critical_path < spahm_r.compute_ratio_cpu)
    assert "judged on the critical path" in mocap.report(again, cfg)


def test_canonical_states_number_states_by_first_appearance():
    seg = [np.array([7, 7, 3, 9]), np.array([3, 12, 7])]
    got = mocap.canonical_states(seg)
    assert [z.tolist() for z in got] == [[0, 0, 1, 2], [1, 3, 0]]
    # any renaming of the states gives the same canonical labels
    rename = {7: 1, 3: 0, 9: 5, 12: 2}
    renamed = [np.array([rename[v] for v in z]) for z in seg]
    assert [z.tolist() for z in mocap.canonical_states(renamed)] == [z.tolist() for z in got]


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason="shared mocap6 copy not available")
def test_real_data_one_trial(tmp_path):
    cfg = _compose(["profile=quick", "trials=1", f"data.root={SHARED}",
                    f"output_dir={tmp_path}", "quiet=true"])
    df = run_experiment(cfg, mocap)
    acc = df[df.metric == "accuracy"].set_index("method").value
    assert acc["full"] > max(acc["local"], acc["kmeans"]) and acc["spahm"] >= acc["local"]
    states = df[df.metric.str.startswith("n_states:silo")].value
    assert states.min() >= 2 and states.max() < cfg.model.n_states  # inferred, not truncated

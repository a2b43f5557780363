"""Topic-model application: Gaussian topics per silo (weighting), nearest words, config
composition and validation, missing data, and an end-to-end smoke run on tiny data."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from experiments import register_configs, topics
from experiments._runner import ConfigError, DataMissingError, load_results, run_experiment
from experiments.topics.analysis import nearest_words, silo_usage
from spahm.models.topics import fit_local_topics, word_counts

CONF = str(Path(__file__).resolve().parents[1] / "conf")
NLTK_DATA = Path(__file__).resolve().parents[1] / "data" / "nltk_data"


register_configs()


def _run(cfg):
    # as Hydra does before the task: the run directory exists (trials write artifacts into it)
    if cfg.output_dir is not None:
        Path(cfg.output_dir).mkdir(parents=True, exist_ok=True)
    return run_experiment(cfg, topics)


def _compose(overrides=()):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="config", overrides=["experiment=topics", *overrides])


# ---------------------------------------------------------------------------- local topics
def test_word_counts_and_weighting_by_counts():
    ids, counts = word_counts([2, 0, 2, 2], 4)
    assert ids.tolist() == [0, 2] and counts.tolist() == [1, 3]
    emb = np.array([[0.0, 0.0], [9.0, 9.0], [4.0, 0.0], [50.0, 50.0]])
    # one topic: its atom is the count-weighted mean of the words, (1*0 + 3*4) / 4 = 3
    t = fit_local_topics([2, 0, 2, 2], emb, n_topics=1, random_state=0)
    np.testing.assert_allclose(t.means, [[3.0, 0.0]])
    np.testing.assert_allclose(t.weights, [1.0])


def test_weighted_kmeans_equals_kmeans_on_repeated_tokens():
    rng = np.random.default_rng(0)
    emb = np.vstack([rng.normal(0, 1, (15, 3)), rng.normal(10, 1, (15, 3))])
    tokens = rng.integers(0, 30, 400)
    t = fit_local_topics(tokens, emb, n_topics=2, random_state=0)
    order = np.argsort(t.means[:, 0])
    for k, mine in zip(order, (tokens[tokens < 15], tokens[tokens >= 15])):
        np.testing.assert_allclose(t.means[k], emb[mine].mean(axis=0))   # mean over tokens
    np.testing.assert_allclose(t.weights[order], [np.mean(tokens < 15), np.mean(tokens >= 15)])
    assert t.labels.shape == t.word_ids.shape


def test_fewer_words_than_topics_and_empty_silo():
    emb = np.eye(3)
    assert fit_local_topics([0, 1], emb, n_topics=25, random_state=0).means.shape == (2, 3)
    with pytest.raises(ValueError, match="no tokens"):
        fit_local_topics([], emb)


def test_nearest_words_and_candidates():
    emb = np.array([[0.0], [1.0], [2.0], [10.0]])
    assert nearest_words([[1.9], [9.0]], emb, topn=2).tolist() == [[2, 1], [3, 2]]
    mask = np.array([True, True, False, True])
    assert nearest_words([[1.9]], emb, topn=2, candidates=mask).tolist() == [[1, 0]]


def test_silo_usage():
    usage = silo_usage([np.array([1, 0]), np.array([2])], [np.array([0.25, 0.75]), np.array([1.0])], 3)
    assert usage.tolist() == [[0.75, 0.25, 0.0], [0.0, 0.0, 1.0]]


# ---------------------------------------------------------------------------- config
def test_both_profiles_and_both_variants_compose_and_validate():
    for overrides in (["profile=quick"], ["profile=paper"], ["profile=paper", "topics_variant=authors"],
                      ["profile=quick", "topics_variant=authors"]):
        topics.validate(_compose(overrides))
    with pytest.raises(Exception, match="topics_variant"):
        _compose(["profile=paper", "topics_variant=bogus"])


@pytest.mark.parametrize("override, key", [
    ("gaussian_lda.n_iter=-1", "gaussian_lda.n_iter"),
    ("local.n_topics=0", "local.n_topics"),
    ("methods=[spahm,bogus]", "methods"),
    ("embedding.source=word2vec", "embedding.source"),
    ("data.silos=gutenberg", "data.silos"),
    ("coherence.topn=[1]", "coherence.topn"),
    ("gaussian_lda.sampler=metropolis", "gaussian_lda.sampler"),
    ("gaussian_lda.n_chains=0", "gaussian_lda.n_chains"),
    ("coherence.measures=[c_v]", "coherence.measures"),
    ("gaussian_lda.rank_words_by=alphabet", "gaussian_lda.rank_words_by"),
])
def test_validation_names_the_key(override, key):
    cfg = _compose(["profile=quick", override])
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        topics.validate(cfg)


def test_structured_config_rejects_unknown_keys_and_wrong_types():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException):
        _compose(["profile=quick", "coherence.window=5"])      # gensim's windows, not a key
    with pytest.raises(ConfigCompositionException):
        _compose(["profile=quick", "local.n_topics=many"])
    with pytest.raises(ConfigCompositionException):
        _compose(["profile=quick", "gaussian_lda.checkpoint=sometimes"])


def test_missing_data_names_the_data_script(tmp_path):
    cfg = _compose(["profile=paper", f"data.root={tmp_path}", f"output_dir={tmp_path / 'out'}"])
    with pytest.raises(DataMissingError, match="nltk_corpora"):
        _run(cfg)
    cfg = _compose(["profile=paper", f"data.root={tmp_path}", "data.nltk_stopwords=false",
                    f"output_dir={tmp_path / 'out'}"])
    with pytest.raises(DataMissingError, match="data_scripts.gutenberg"):
        _run(cfg)
    books = tmp_path / "gutenberg" / "books"
    books.mkdir(parents=True)
    for i in range(2):
        (books / f"{i}.txt").write_text("stars planets moon " * 50)
    with pytest.raises(DataMissingError, match="data_scripts.gutenberg reference"):
        _run(_compose(["profile=paper", f"data.root={tmp_path}", "data.nltk_stopwords=false",
                       f"data.reference_dir={tmp_path / 'gutenberg' / 'reference'}",
                       f"output_dir={tmp_path / 'out'}"]))
    (tmp_path / "gutenberg" / "reference").mkdir()
    (tmp_path / "gutenberg" / "reference" / "r.txt").write_text("stars moon " * 20)
    with pytest.raises(DataMissingError, match="data_scripts.glove"):
        _run(cfg)


# ---------------------------------------------------------------------------- smoke run
THEMES = {
    "sky": "star planet moon comet orbit telescope galaxy nebula eclipse astronomer meteor "
           "saturn jupiter sun solar".split(),
    "war": "army soldier trench battle artillery general cannon infantry regiment rifle "
           "front enemy attack siege navy".split(),
    "farm": "wheat cattle harvest barn plough farmer orchard field seed tractor cow sheep "
            "pasture grain hay".split(),
}


def _write_corpus(folder, n_docs, n_tokens, seed):
    rng = np.random.default_rng(seed)
    names = list(THEMES)
    folder.mkdir(parents=True)
    for d in range(n_docs):
        pair = [names[d % 3], names[(d + 1) % 3]]
        words = []
        for _ in range(n_tokens // 8):                      # sentences of 8 words on one theme
            theme = THEMES[pair[rng.integers(2)]]
            words += [theme[i] for i in rng.integers(0, len(theme), 8)] + ["."]
        (folder / f"doc{d:02d}.txt").write_text("The " + " ".join(words))


TINY = [
    "profile=quick", "trials=2", "quiet=true", "data.nltk_stopwords=false", "data.min_count=1",
    "data.reference=[]", "embedding.dim=5", "embedding.window=3", "local.n_topics=3",
    "fusion.n_iter=3", "gaussian_lda.n_topics=4", "gaussian_lda.n_iter=2",
    "gaussian_lda.max_tokens=600", "lda.max_iter=3", "coherence.topn=[5]",
]


def _tiny_cfg(tmp_path, out, extra=()):
    return _compose(TINY + [f"data.corpus_dir={tmp_path / 'silos'}",
                            f"gaussian_lda.checkpoint_dir={tmp_path / 'ckpt'}",
                            f"data.reference_dir={tmp_path / 'ref'}", f"output_dir={out}", *extra])


@pytest.fixture
def tiny_corpus(tmp_path):
    _write_corpus(tmp_path / "silos", 6, 400, seed=0)
    _write_corpus(tmp_path / "ref", 12, 300, seed=1)
    return tmp_path


def test_end_to_end_on_tiny_corpus(tiny_corpus):
    tmp_path = tiny_corpus
    out = tmp_path / "run"
    df = _run(_tiny_cfg(tmp_path, out))
    assert set(df.method) == set(topics.METHODS) | {"corpus"}
    assert set(df.trial) == {0, 1}
    for m in topics.METHODS:
        got = set(df[df.method == m].metric)
        assert {"uci_5", "npmi_5", "umass_5", "diversity_5", "distinct_5", "uci_distinct_5",
                "n_topics", "time_s", "cpu_time_s"} <= got, m
    assert set(df[df.method == "spahm"].metric) >= {"sequential_time_s", "fusion_time_s"}
    assert np.isfinite(df[df.metric == "uci_5"].value).all()
    glda = df[df.method == "gaussian_lda"].set_index(["trial", "metric"]).value
    assert {"log_joint_chain0", "log_joint_chain1", "chain_used"} <= set(glda.loc[0].index)
    n_spahm = df[(df.method == "spahm") & (df.metric == "n_topics")].value.to_numpy()
    n_pooled = df[(df.method == "kmeans_pooled") & (df.metric == "n_topics")].value.to_numpy()
    np.testing.assert_array_equal(n_spahm, n_pooled)
    for name in ("metrics.csv", "config.yaml", "provenance.json", "topics.md", "report.md",
                 "coherence_uci.png", "coherence_umass.png", "time_by_method.png",
                 "silo_topic_heatmap.png", "fig3_topic_pair.png", "gaussian_lda_mixing.png",
                 "artifacts/trial_0.json", "artifacts/gaussian_lda_sweeps_trial_0.csv"):
        assert (out / name).is_file(), name
    assert not list((tmp_path / "ckpt").glob("*.npz"))  # removed once a trial's rows are saved
    sweeps = pd.read_csv(out / "artifacts" / "gaussian_lda_sweeps_trial_0.csv")
    assert sorted(sweeps.chain.unique()) == [0, 1] and sweeps.sweep.max() == 2
    md = (out / "topics.md").read_text()
    assert "doc00" in md and "| # |" in md
    report = (out / "report.md").read_text()
    assert "claims, judged on this run" in report and "data_scripts.lahiri" in report  # not scored
    # figures are redrawn from the saved files alone, with the saved config
    from omegaconf import OmegaConf

    for png in out.glob("*.png"):
        png.unlink()
    (out / "topics.md").unlink()
    paths = topics.plot(load_results(out), out, OmegaConf.load(out / "config.yaml"))
    assert (out / "fig3_topic_pair.png") in paths and (out / "topics.md").is_file()
    assert topics.report(load_results(out), None) == report


def test_same_seed_same_numbers_and_resume(tiny_corpus):
    tmp_path = tiny_corpus
    extra = ["trials=1", "methods=[spahm,gaussian_lda,lda]"]
    a = _run(_tiny_cfg(tmp_path, tmp_path / "a", extra))
    b = _run(_tiny_cfg(tmp_path, tmp_path / "b", extra))
    assert (tmp_path / "a" / "metrics.csv").read_bytes() == (tmp_path / "b" / "metrics.csv").read_bytes()
    assert not a.metric.str.contains("time").any() or (tmp_path / "a" / "timings.csv").is_file()
    metrics = pd.read_csv(tmp_path / "a" / "metrics.csv")
    assert not metrics.metric.str.endswith("time_s").any()          # timings kept apart
    again = _run(_tiny_cfg(tmp_path, tmp_path / "a", extra))     # resumes: nothing re-run
    key = ["trial", "method", "metric"]
    pd.testing.assert_frame_equal(a.sort_values(key).reset_index(drop=True),
                                  again.sort_values(key).reset_index(drop=True), check_exact=False)


@pytest.mark.slow
@pytest.mark.skipif(not (NLTK_DATA / "corpora" / "state_union.zip").is_file(),
                    reason="needs data/nltk_data (python -m data_scripts.nltk_corpora)")
def test_offline_profile_on_real_corpora(tmp_path):
    cfg = _compose(["profile=quick", "trials=1", "quiet=true", f"output_dir={tmp_path}",
                    f"data.root={NLTK_DATA.parent}"])
    df = _run(cfg)
    n = df[(df.method == "spahm") & (df.metric == "n_topics")].value.iloc[0]
    assert 20 < n < 1625
    assert np.isfinite(df[df.metric == "uci_10"].value).all()


def _install_lahiri_stand_in(folder, target):
    """Install a folder of texts with data_scripts.lahiri against a manifest made for them."""
    import hashlib

    from data_scripts import lahiri

    rows = ["file\tbytes\tsha256"] + [f"{p.name}\t{p.stat().st_size}\t"
                                     f"{hashlib.sha256(p.read_bytes()).hexdigest()}"
                                     for p in sorted(folder.glob("*.txt"))]
    manifest = folder.parent / "manifest.tsv"
    manifest.write_text("\n".join(rows) + "\n")
    assert lahiri.main(["--from", str(folder), "--target", str(target),
                        "--manifest", str(manifest)]) == 0


def test_paper_profile_code_path_with_glove_file(tiny_corpus):
    """The paper profile's route (books folder, GloVe text file, a Lahiri-like intervocab
    corpus installed by its data script) on tiny stand-ins laid out as the scripts install them."""
    tmp_path = tiny_corpus
    root = tmp_path / "root"
    (root / "gutenberg").mkdir(parents=True)
    (tmp_path / "silos").rename(root / "gutenberg" / "books")
    (root / "glove").mkdir()
    rng = np.random.default_rng(0)
    words = sorted({w for ws in THEMES.values() for w in ws}) + ["unused", "the"]
    lines = [w + " " + " ".join(f"{v:.4f}" for v in rng.normal(size=5)) for w in words]
    (root / "glove" / "glove.6B.50d.txt").write_text("\n".join(lines) + "\n")
    overrides = [o for o in TINY if not o.startswith(("profile=", "data.reference=", "embedding."))]
    paper = ["profile=paper", *overrides, f"data.root={root}", "embedding.dim=5", "trials=1"]
    with pytest.raises(DataMissingError, match="data_scripts.lahiri"):
        _run(_compose(paper + [f"output_dir={tmp_path / 'none'}"]))
    _install_lahiri_stand_in(tmp_path / "ref", root / "lahiri")
    cfg = _compose(paper + [f"output_dir={tmp_path / 'out'}"])
    df = _run(cfg)
    assert cfg.embedding.source == "glove"
    corpus = df[df.method == "corpus"].set_index("metric").value
    assert corpus["vocabulary"] == len(words) - 1   # 'unused' occurs in no book: not in the vocabulary
    assert corpus["reference_books"] == 12 and 0 < corpus["shared_vocabulary"] <= corpus["vocabulary"]
    for m in topics.METHODS:
        got = set(df[df.method == m].metric)
        assert {"uci_inter_5", "umass_inter_5", "uci_inter_distinct_5", "distinct_inter_5"} <= got, m
    assert "Intervocab" in (tmp_path / "out" / "report.md").read_text()
    assert (tmp_path / "out" / "coherence_uci_inter.png").is_file()
    assert len(list((root / "cache" / "topics_reference").iterdir())) == 1   # cached once
    with pytest.raises(ConfigError, match="embedding.dim"):
        _run(_compose(["profile=paper", *overrides, f"data.root={root}",
                       f"output_dir={tmp_path / 'out2'}"]))

"""Gaussian topic models for text summarisation (paper section 4.2, Fig. 3).

Each silo is one text (one of the paper's 40 Gutenberg books; offline, a State of the Union
address, an inaugural address or a Brown category). A silo's local model is 25 Gaussian
topics: k-means on the embeddings of its words weighted by their counts; its local atoms are
the topic means. SPAHM fuses the silos' atoms into global topics, each read through its
nearest words in embedding space.

Methods (config ``methods``; :data:`METHODS` maps each to a small function of the trial):

- ``spahm``: local k-means topics (``fit_per_silo``) + :func:`spahm.match`;
- ``local_kmeans``: the local topics themselves (every silo's 25), for reference;
- ``gaussian_lda``: Gaussian LDA (Das et al. 2015, :mod:`experiments.topics.gaussian_lda`) on
  the pooled silos' tokens, the paper's baseline, with several chains and a per-sweep mixing
  diagnostic;
- ``kmeans_pooled``: k-means on all words pooled, as many topics as SPAHM found;
- ``lda``: scikit-learn's LatentDirichletAllocation on the pooled bag of words.

Scoring as the authors did (their coherence notebook): gensim's ``CoherenceModel`` (c_uci,
u_mass, c_npmi) of the top 10 and top 20 words of every topic, on a reference corpus tokenised
by ``\\b[a-zA-Z]+\\b`` (one text per document, a gensim Dictionary of those texts). The
paper profile's reference is the 40 books themselves (the authors' "trainvocab"); their
headline "intervocab" numbers used S. Lahiri's 3,036-book corpus, which is not available here.
Also topic diversity, distinct topics (identical top-word sets counted once) and wall time.

Run: ``spahm-experiment experiment=topics profile=quick`` (offline, NLTK corpora and PPMI+SVD
embeddings) or ``profile=paper`` (40 Gutenberg books + GloVe; see conf/experiment/topics.yaml
for the data scripts).
"""
from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from experiments._runner import (ConfigError, DataMissingError, atomic_write_csv,
                                 atomic_write_text, fit_per_silo, mean_sd, run_methods,
                                 stopwatch, summarise)
from experiments.topics import text
from experiments.topics.analysis import nearest_words, silo_usage
from experiments.topics.claims import CLAIMS, PAPER
from experiments.topics.config import EMBEDDINGS, NLTK_CORPORA, SILO_SOURCES
from experiments.topics.gaussian_lda import SAMPLERS, GaussianLDA
from spahm import match
from spahm.models.topics import fit_local_topics

LABELS = {
    "spahm": "SPAHM (fused k-means topics)",
    "local_kmeans": "local k-means topics",
    "gaussian_lda": "Gaussian LDA (pooled)",
    "kmeans_pooled": "k-means (pooled words)",
    "lda": "LDA (pooled bag of words)",
}
ARTIFACTS = "artifacts"
#: Files in a corpus folder that are not texts (what the data scripts write beside them).
NOT_TEXTS = ("MANIFEST.json", "MANIFEST.tsv", "SHA256SUMS")


# ---------------------------------------------------------------------------- config
def validate(cfg):
    """Ranges the structured configs (experiments/topics/config.py) cannot express."""
    def need(key, ok, expected):
        value = OmegaConf.select(cfg, key)
        if not ok(value):
            raise ConfigError(f"config key '{key}' = {value!r}: expected {expected}")

    positive = lambda v: v is not None and v > 0  # noqa: E731
    optional_positive = lambda v: v is None or v > 0  # noqa: E731
    need("trials", positive, "a positive integer")
    need("methods", lambda v: len(v) > 0 and set(v) <= set(METHODS),
         f"a non-empty subset of {list(METHODS)}")
    if cfg.data.corpus_dir is None:
        need("data.silos", lambda v: v in SILO_SOURCES,
             f"one of {list(SILO_SOURCES)} (or set data.corpus_dir)")
    need("data.reference", lambda v: all(r in NLTK_CORPORA for r in v),
         f"a list of NLTK corpora from {list(NLTK_CORPORA)} (may be empty)")
    need("data.max_silos", lambda v: v is None or v >= 2, "an integer >= 2 or null")
    need("embedding.source", lambda v: v in EMBEDDINGS, f"one of {list(EMBEDDINGS)}")
    need("embedding.context_alpha", lambda v: 0 < v <= 1, "a number in (0, 1]")
    for key in ("data.min_count", "embedding.dim", "embedding.window", "local.n_topics",
                "local.n_init", "local.max_iter", "gaussian_lda.n_topics",
                "gaussian_lda.n_chains", "gaussian_lda.kappa0", "gaussian_lda.psi0_scale",
                "lda.max_iter", "coherence.window", "fusion.sigma", "fusion.sigma0",
                "fusion.gamma0"):
        need(key, positive, "a positive number")
    for key in ("gaussian_lda.max_tokens", "gaussian_lda.alpha", "gaussian_lda.max_seconds", "lda.n_topics",
                "pooled.document_length"):
        need(key, optional_positive, "a positive number or null")
    need("gaussian_lda.n_iter", lambda v: v >= 0, "an integer >= 0")
    need("gaussian_lda.sampler", lambda v: v in SAMPLERS, f"one of {list(SAMPLERS)}")
    need("gaussian_lda.init", lambda v: v in ("random", "kmeans"), "'random' or 'kmeans'")
    need("gaussian_lda.rank_words_by", lambda v: v in ("density", "count"), "'density' or 'count'")
    need("coherence.topn", lambda v: len(v) > 0 and all(n >= 2 for n in v),
         "a non-empty list of integers >= 2")
    need("coherence.measures", lambda v: len(v) > 0 and set(v) <= set(text.MEASURES),
         f"a non-empty subset of {list(text.MEASURES)}")
    need("fusion.n_iter", lambda v: v >= 0, "an integer >= 0")


# ---------------------------------------------------------------------------- data
@dataclass
class Corpus:
    """Everything the methods share, built once per run (independent of the trial seed)."""

    silo_names: list
    silo_ids: list            # token ids per silo
    vocabulary: list
    embeddings: np.ndarray    # (V, D)
    candidates: np.ndarray    # words allowed as top words (in the reference's dictionary)
    reference: text.ReferenceCorpus
    prep_time_s: float


def _missing(what, script):
    """``script``: the data script's module name, optionally followed by its arguments."""
    module = script.split()[0]
    return DataMissingError(f"{what} not found; install it with `python -m data_scripts.{script}` "
                            f"(see data_scripts/{module}.py; --from DIR installs from a local folder)")


def _read_nltk(cfg, name):
    root = Path(cfg.data.nltk_root)
    if not text.nltk_corpus_available(root, name):
        raise _missing(f"NLTK corpus '{name}' under {root}", "nltk_corpora")
    return text.read_nltk_corpus(root, name)


def _read_folder(folder, script, what):
    folder = Path(folder)
    files = {n: t for n, t in text.iter_text_dir(folder) if n not in NOT_TEXTS} \
        if folder.is_dir() else {}
    if not files:
        raise _missing(f"{what} {folder} (one text file per silo)", script)
    return files


def load_texts(cfg):
    """(silo names, silo texts, reference texts, reference name) as configured."""
    d = cfg.data
    if d.corpus_dir is not None:
        silos = _read_folder(d.corpus_dir, d.corpus_script, "corpus folder")
    elif d.silos == "brown_categories":
        docs = _read_nltk(cfg, "brown")
        cats = text.brown_categories(Path(d.nltk_root))
        silos = {}
        for fid, body in docs.items():
            silos.setdefault(cats.get(fid, "unknown"), []).append(body)
        silos = {k: "\n".join(v) for k, v in sorted(silos.items())}
    else:
        silos = _read_nltk(cfg, d.silos)
    names = list(silos)[: d.max_silos]
    if len(names) < 2:
        raise ConfigError(f"config key 'data.corpus_dir'/'data.silos': found {len(names)} silo(s), "
                          "need at least 2 text files")
    if d.reference_dir is not None:
        reference = list(_read_folder(d.reference_dir, d.reference_script,
                                      "reference corpus folder").values())
        ref_name = str(Path(d.reference_dir).name)
    elif len(d.reference):
        reference = [body for name in d.reference for body in _read_nltk(cfg, name).values()]
        ref_name = "+".join(d.reference)
    else:
        reference = [silos[n] for n in names]
        ref_name = "the silos themselves (trainvocab)"
    return names, [silos[n] for n in names], reference, ref_name


def _stopwords(cfg):
    if not cfg.data.nltk_stopwords:
        return text.EXTRA_STOPWORDS
    root = Path(cfg.data.nltk_root)
    if not text.nltk_corpus_available(root, "stopwords"):
        raise _missing(f"NLTK stop words under {root}", "nltk_corpora")
    return text.load_stopwords(root)


def _embeddings(cfg, vocab, silo_tokens):
    """(vocabulary, vectors) of the words that have an embedding, most frequent first."""
    emb_cfg = cfg.embedding
    if emb_cfg.source == "glove":
        path = Path(emb_cfg.glove_path)
        if not path.is_file():
            raise _missing(f"GloVe vectors {path}", "glove")
        words, vectors = text.load_glove(path, vocab)
        if vectors.shape[1] != int(emb_cfg.dim):
            raise ConfigError(f"config key 'embedding.dim' = {emb_cfg.dim}: {path} has "
                              f"{vectors.shape[1]}-d vectors")
        rank = {w: i for i, w in enumerate(vocab)}
        order = np.argsort([rank[w] for w in words], kind="stable")
        return [words[i] for i in order], vectors[order]
    index = {w: i for i, w in enumerate(vocab)}
    ids = [text.to_ids(t, index) for t in silo_tokens]
    vectors = text.ppmi_svd_embeddings(
        ids, len(vocab), dim=int(emb_cfg.dim), window=int(emb_cfg.window),
        context_alpha=float(emb_cfg.context_alpha), eig_power=float(emb_cfg.eig_power),
        normalize=bool(emb_cfg.normalize), random_state=int(cfg.seed))
    keep = np.linalg.norm(vectors, axis=1) > 0      # words without an embedding
    return [w for w, k in zip(vocab, keep) if k], vectors[keep]


def prepare(cfg) -> Corpus:
    """Tokenise the silos, build vocabulary and embeddings, and the coherence reference."""
    start = time.perf_counter()
    stop = _stopwords(cfg)
    names, silo_texts, reference_texts, ref_name = load_texts(cfg)
    silo_tokens = [text.tokenize(t, stop) for t in silo_texts]
    vocab, embeddings = _embeddings(cfg, text.build_vocabulary(silo_tokens, int(cfg.data.min_count)),
                                    silo_tokens)
    if len(vocab) < int(cfg.local.n_topics):
        raise ConfigError(f"only {len(vocab)} words with an embedding: lower 'data.min_count' "
                          "or 'local.n_topics', or use a larger corpus")
    index = {w: i for i, w in enumerate(vocab)}
    silo_ids = [text.to_ids(t, index) for t in silo_tokens]
    for name, ids in zip(names, silo_ids):
        if not len(ids):
            raise ConfigError(f"silo {name!r} has no word with an embedding (data.min_count = "
                              f"{cfg.data.min_count})")
    reference = text.ReferenceCorpus(reference_texts, ref_name)
    candidates = reference.knows(vocab)
    if candidates.sum() < max(cfg.coherence.topn):
        raise ConfigError("fewer words shared by the silos and the reference corpus than "
                          f"'coherence.topn' = {max(cfg.coherence.topn)}")
    return Corpus(names, silo_ids, vocab, embeddings, candidates, reference,
                  time.perf_counter() - start)


def settings(cfg):
    return [{}]


# ---------------------------------------------------------------------------- one trial
def _fit_local(ids, seed, embeddings, n_topics, n_init, max_iter):
    return fit_local_topics(ids, embeddings, n_topics=n_topics, n_init=n_init,
                            max_iter=max_iter, random_state=seed)


def _documents(cfg, corpus):
    """Pooled documents for the pooled baselines: silos, or chunks of ``document_length``."""
    length = cfg.pooled.document_length
    if length is None:
        return [ids for ids in corpus.silo_ids if len(ids)]
    return [ids[i:i + length] for ids in corpus.silo_ids for i in range(0, len(ids), length)]


def _subsample(docs, max_tokens, rng):
    """At most ``max_tokens`` tokens drawn uniformly without replacement, order kept."""
    total = sum(len(d) for d in docs)
    if max_tokens is None or total <= max_tokens:
        return docs, total
    keep = np.zeros(total, dtype=bool)
    keep[rng.choice(total, size=int(max_tokens), replace=False)] = True
    bounds = np.cumsum([0] + [len(d) for d in docs])
    out = [d[keep[bounds[i]:bounds[i + 1]]] for i, d in enumerate(docs)]
    return [d for d in out if len(d)], total


class _Trial:
    """What one trial's methods share, computed on first use: the local fits and SPAHM."""

    def __init__(self, cfg, corpus, trial):
        self.cfg, self.corpus, self.trial = cfg, corpus, trial
        self.topn = max(cfg.coherence.topn)
        self.topics = {}          # method -> top words of every topic
        self.saved = {}           # what topics.md and the figures need

    def words(self, atoms):
        c = self.corpus
        return [[c.vocabulary[i] for i in row]
                for row in nearest_words(atoms, c.embeddings, self.topn, c.candidates)]

    @cached_property
    def local(self):
        c, loc = self.corpus, self.cfg.local
        fit = functools.partial(_fit_local, embeddings=c.embeddings, n_topics=int(loc.n_topics),
                                n_init=int(loc.n_init), max_iter=int(loc.max_iter))
        return fit_per_silo(fit, c.silo_ids, self.trial, name="local_kmeans",
                            n_jobs=int(OmegaConf.select(self.cfg, "n_jobs", default=1)),
                            backend=OmegaConf.select(self.cfg, "parallel.backend", default=None))

    @cached_property
    def spahm(self):
        """(SPAHM's result, fusion wall time)."""
        kwargs = OmegaConf.to_container(self.cfg.fusion, resolve=True)
        with stopwatch() as elapsed:
            result = match([t.means for t in self.local.models], **kwargs,
                           random_state=self.trial.seed_for("spahm"))
        return result, elapsed()


def _spahm(tr):
    result, fusion_s = tr.spahm
    tr.topics["spahm"] = tr.words(result.global_atoms)
    usage = silo_usage(result.assignments, [t.weights for t in tr.local.models],
                       result.n_global_atoms)
    tr.saved.update(popularity=result.popularity.tolist(), usage=np.round(usage, 6).tolist(),
                    global_atoms=result.global_atoms)
    return [("time_s", tr.local.parallel_wall_s + fusion_s),
            ("sequential_time_s", tr.local.sequential_wall_s + fusion_s),
            ("cpu_time_s", tr.local.total_cpu_s + fusion_s),
            ("fusion_time_s", fusion_s),
            ("hyper_sigma", float(np.mean(result.hyperparameters["sigma"]))),
            ("hyper_sigma0", float(np.mean(result.hyperparameters["sigma0"])))]


def _local_kmeans(tr):
    tr.topics["local_kmeans"] = tr.words(np.vstack([t.means for t in tr.local.models]))
    return [("time_s", tr.local.parallel_wall_s),
            ("sequential_time_s", tr.local.sequential_wall_s),
            ("cpu_time_s", tr.local.total_cpu_s)]


def _n_like_spahm(tr):
    return tr.spahm[0].n_global_atoms


def _kmeans_pooled(tr):
    from sklearn.cluster import KMeans

    c = tr.corpus
    n_topics = _n_like_spahm(tr)                     # outside the timer: SPAHM's own cost
    counts = np.bincount(np.concatenate(c.silo_ids), minlength=len(c.vocabulary))
    present = np.flatnonzero(counts)
    with stopwatch() as elapsed:
        km = KMeans(n_clusters=min(n_topics, len(present)), n_init=int(tr.cfg.local.n_init),
                    max_iter=int(tr.cfg.local.max_iter),
                    random_state=tr.trial.seed_for("kmeans_pooled"))
        km.fit(c.embeddings[present], sample_weight=counts[present].astype(float))
    tr.topics["kmeans_pooled"] = tr.words(km.cluster_centers_)
    return [("time_s", elapsed())]


def _lda(tr):
    from sklearn.decomposition import LatentDirichletAllocation

    c, cfg = tr.corpus, tr.cfg
    k = int(cfg.lda.n_topics) if cfg.lda.n_topics is not None else _n_like_spahm(tr)
    bow = text.count_matrix(_documents(cfg, c), len(c.vocabulary))
    with stopwatch() as elapsed:
        lda = LatentDirichletAllocation(n_components=k, max_iter=int(cfg.lda.max_iter),
                                        learning_method=str(cfg.lda.learning_method),
                                        random_state=tr.trial.seed_for("lda"), n_jobs=1).fit(bow)
    scores = np.where(c.candidates[None, :], lda.components_, -np.inf)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :tr.topn]
    tr.topics["lda"] = [[c.vocabulary[i] for i in row] for row in order]
    return [("time_s", elapsed())]




def _gaussian_lda(tr):
    """Every chain in turn; topics from the chain with the highest final log p(words, z)."""
    c, g = tr.corpus, tr.cfg.gaussian_lda
    sample, total = _subsample(_documents(tr.cfg, c), g.max_tokens, tr.trial.rng("gaussian_lda_tokens"))
    used = sum(len(d) for d in sample)
    chains, diagnostics, rows = [], [], []
    start = time.perf_counter()
    for chain in range(int(g.n_chains)):
        budget = None if g.max_seconds is None else max(
            0.0, (g.max_seconds - (time.perf_counter() - start)) / (int(g.n_chains) - chain))
        model = GaussianLDA(n_topics=int(g.n_topics), alpha=g.alpha, kappa0=float(g.kappa0),
                            nu0=g.nu0, psi0_scale=float(g.psi0_scale), n_iter=int(g.n_iter),
                            init=str(g.init), sampler=str(g.sampler),
                            checkpoint=g.checkpoint_dir if g.checkpoint else None, max_seconds=budget,
                            random_state=tr.trial.seed_for("gaussian_lda", chain))
        model.fit(sample, c.embeddings)
        chains.append(model)
        n = len(model.changed_)
        rows.append((f"sweeps_done_chain{chain}", n))
        diagnostics.append(pd.DataFrame({
            "chain": chain, "sweep": np.arange(n + 1), "log_joint": model.log_joint_,
            "moved": np.r_[np.nan, model.changed_], "expected_moved": np.r_[np.nan, model.expected_changed_],
            "sweep_time_s": np.r_[np.nan, model.sweep_times_]}))
        rows += [(f"log_joint_chain{chain}", model.log_joint_[-1]),
                 (f"moved_last_sweep_chain{chain}", model.changed_[-1] if n else np.nan)]
    best = int(np.argmax([m.log_joint_[-1] for m in chains]))
    model = chains[best]
    tr.topics["gaussian_lda"] = model.top_words(c.embeddings, c.vocabulary, tr.topn, c.candidates,
                                                by=str(g.rank_words_by))
    tr.saved.update(glda_means=model.topic_means_, glda_tokens=model.topic_counts_.tolist())
    tr.saved["glda_diagnostics"] = pd.concat(diagnostics, ignore_index=True)
    tr.saved["glda_complete"] = all(m.n_iter_ == int(g.n_iter) for m in chains)
    tr.saved["glda_checkpoints"] = [m.checkpoint_path_ for m in chains if m.checkpoint_path_]
    sweeps = np.concatenate([m.sweep_times_ for m in chains])
    resumed = sum(m.resumed_sweeps_ for m in chains)
    sweep_s = float(np.mean(sweeps)) if len(sweeps) else np.nan
    return rows + [
        ("chain_used", best), ("tokens_used", used), ("tokens_total", total),
        ("sweeps", int(g.n_iter)), ("sweeps_done", min(m.n_iter_ for m in chains)),
        ("sweeps_run_now", len(sweeps) - resumed), ("sweeps_resumed", resumed),
        ("sweep_time_s", sweep_s),
        # one chain of the paper's sweeps over all tokens at the measured per-token cost
        ("chain_time_s", sweep_s * (total / used) * int(g.n_iter)),
        ("moved_last_sweep", model.changed_[-1] if len(model.changed_) else np.nan),
        ("expected_moved_last_sweep",
         model.expected_changed_[-1] if len(model.expected_changed_) else np.nan),
        ("nonempty_topics", int((model.topic_counts_ > 0).sum()))]


#: The methods of a trial: name -> function of the trial's shared state.
METHODS = {"spahm": _spahm, "local_kmeans": _local_kmeans, "gaussian_lda": _gaussian_lda,
           "kmeans_pooled": _kmeans_pooled, "lda": _lda}


def _scores(tr):
    """Coherence, diversity and distinct topics of every method's topics, one gensim pass."""
    cfg = tr.cfg
    methods = [m for m in METHODS if m in tr.topics]
    all_topics = [t for m in methods for t in tr.topics[m]]
    per = tr.corpus.reference.score(all_topics, topn=list(cfg.coherence.topn),
                                    measures=list(cfg.coherence.measures),
                                    window=int(cfg.coherence.window))
    bounds = np.cumsum([0] + [len(tr.topics[m]) for m in methods])
    rows, per_topic = [], {}
    for i, method in enumerate(methods):
        topics = tr.topics[method]
        rows.append((method, "n_topics", len(topics)))
        per_topic[method] = {}
        for n in cfg.coherence.topn:
            top = [t[:n] for t in topics]
            distinct = text.distinct_topics(top)
            rows += [(method, f"diversity_{n}", text.topic_diversity(top)),
                     (method, f"distinct_{n}", len(distinct))]
            for measure in cfg.coherence.measures:
                name = text.MEASURES[measure]
                values = per[(name, n)][bounds[i]:bounds[i + 1]]
                per_topic[method][f"{name}_{n}"] = np.round(values, 6).tolist()
                rows += [(method, f"{name}_{n}", float(np.mean(values))),
                         (method, f"{name}_distinct_{n}", float(np.mean(values[distinct])))]
    return rows, per_topic


def trial(cfg, setting, trial, corpus):
    """Every configured method once (:data:`METHODS`), then one scoring pass; tidy rows."""
    tr = _Trial(cfg, corpus, trial)
    rows = [{"method": "corpus", "metric": k, "value": float(v)} for k, v in (
        ("n_silos", len(corpus.silo_ids)), ("vocabulary", len(corpus.vocabulary)),
        ("tokens", sum(len(i) for i in corpus.silo_ids)),
        ("reference_documents", len(corpus.reference.texts)),
        ("reference_tokens", corpus.reference.n_tokens),
        ("candidate_words", int(corpus.candidates.sum())),
        ("prep_time_s", corpus.prep_time_s))]
    rows += run_methods(METHODS, list(cfg.methods), tr)
    with stopwatch() as elapsed:
        scores, per_topic = _scores(tr)
    rows += [{"method": m, "metric": k, "value": float(v)} for m, k, v in scores]
    rows.append({"method": "corpus", "metric": "scoring_time_s", "value": elapsed()})
    if trial.out_dir is not None:
        _save_artifacts(Path(trial.out_dir), trial.index, tr, per_topic)
    return rows


def _save_artifacts(out_dir, index, tr, per_topic):
    """This trial's topics (every method's words and per-topic scores), the fused topics'
    silo usage, and the Gaussian LDA chains' per-sweep diagnostics."""
    payload = {"silo_names": tr.corpus.silo_names, "reference": tr.corpus.reference.name,
               "vocabulary_size": len(tr.corpus.vocabulary),
               "topics": {m: {"words": w, **per_topic.get(m, {})} for m, w in tr.topics.items()}}
    for key in ("popularity", "usage", "glda_tokens"):
        if key in tr.saved:
            payload[key] = tr.saved[key]
    if "global_atoms" in tr.saved and "glda_means" in tr.saved:
        # nearest Gaussian LDA topic (Euclidean distance of the means) to every fused topic
        a, b = tr.saved["global_atoms"], tr.saved["glda_means"]
        payload["closest_gaussian_lda"] = (((a[:, None] - b[None]) ** 2).sum(-1)).argmin(1).tolist()
    atomic_write_text(out_dir / ARTIFACTS / f"trial_{index}.json", json.dumps(payload) + "\n")
    if "glda_diagnostics" in tr.saved:
        atomic_write_csv(tr.saved["glda_diagnostics"],
                         out_dir / ARTIFACTS / f"gaussian_lda_sweeps_trial_{index}.csv")
        if tr.saved["glda_complete"]:        # else kept: resume=false continues the chains
            for path in tr.saved["glda_checkpoints"]:
                path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- figures
def load_artifacts(out_dir):
    """The saved artifacts of the lowest-numbered trial, or None."""
    files = sorted(Path(out_dir, ARTIFACTS).glob("trial_*.json"),
                   key=lambda p: int(p.stem.split("_")[1]))
    return json.loads(files[0].read_text()) if files else None


def _short(name):
    return name.rsplit(".", 1)[0] if name.endswith(".txt") else name


def topics_markdown(art, titles=None) -> str:
    """Every fused topic (most popular first): silos, UCI, top words, and the silos using it."""
    names = art["silo_names"]
    titles = titles or {}
    usage = np.asarray(art["usage"])
    pop = np.asarray(art["popularity"])
    spahm = art["topics"]["spahm"]
    uci_key = _uci_key(spahm)
    lines = ["# Fused global topics (SPAHM)", "",
             f"{len(pop)} global topics from {len(names)} silos; coherence reference: "
             f"{art['reference']}. A topic is shown by its nearest words in embedding space "
             f"(top {len(spahm['words'][0])}); 'used by' lists every silo whose local topic was "
             "matched to it (share of that silo's tokens in brackets).", ""]
    if titles:
        lines += ["Silos: " + "; ".join(f"{_short(n)} = {titles[_short(n)]}" for n in names
                                        if _short(n) in titles), ""]
    lines += [f"| # | silos | UCI ({'top ' + uci_key[4:] if uci_key else '-'}) | top words | used by |",
              "|---|---|---|---|---|"]
    for i in np.argsort(-pop, kind="stable"):
        users = np.flatnonzero(usage[:, i] > 0)
        users = users[np.argsort(-usage[users, i], kind="stable")]
        who = ", ".join(f"{_short(names[j])} ({usage[j, i]:.0%})" for j in users)
        uci = f"{spahm[uci_key][i]:.2f}" if uci_key else "-"
        lines.append(f"| {i} | {pop[i]} | {uci} | {' '.join(spahm['words'][i])} | {who} |")
    return "\n".join(lines) + "\n"


def _uci_key(scores):
    """``uci_<n>`` with the smallest ``n`` among a method's per-topic scores, or None."""
    keys = [k for k in scores if k.startswith("uci_") and k[4:].isdigit()]
    return min(keys, key=lambda k: int(k[4:])) if keys else None


def _titles(cfg):
    """Book titles from the data script's MANIFEST.json beside the silos, if there is one."""
    folder = OmegaConf.select(cfg, "data.corpus_dir", default=None) if cfg is not None else None
    path = Path(folder) / "MANIFEST.json" if folder else None
    if path is None or not path.is_file():
        return {}
    manifest = json.loads(path.read_text())
    return {_short(k): v["title"] for k, v in manifest.items() if v.get("title")}


def _present(df):
    return [m for m in METHODS if m in set(df.method)]


def _topn(df):
    """The numbers of top words the run scored (from the ``uci_<n>`` metrics)."""
    return sorted({int(m[4:]) for m in df.metric.unique() if m.startswith("uci_") and m[4:].isdigit()})


def plot(df, out_dir, cfg=None):
    """Figures (and topics.md) from metrics.csv and the saved artifacts alone."""
    from experiments import _plots

    plt = _plots.plt
    out_dir = Path(out_dir)
    methods = _present(df)
    paths = []
    paper = PAPER["trainvocab"]
    n = (_topn(df) or [10])[0]
    for metric, name in (("uci", "UCI (c_uci)"), ("umass", "UMass (u_mass)"), ("npmi", "NPMI (c_npmi)")):
        if not (df.metric == f"{metric}_{n}").any():
            continue
        table = summarise(df, f"{metric}_{n}").set_index("method").reindex(methods)
        table.index = [LABELS[m] for m in methods]
        path = out_dir / f"coherence_{metric}.png"
        _plots.bars_with_paper(table, f"{name}, top {n} words (higher is better)", path,
                               paper={LABELS[m]: paper.get(m, {}).get(metric) for m in methods
                                      if metric in paper.get(m, {})},
                               title=_plots.title(cfg, f"{name} on the reference; paper: trainvocab"))
        paths.append(path)

    times = summarise(df, "time_s").set_index("method").reindex(methods)
    if len(times):
        times.index = [LABELS[m] for m in methods]
        path = out_dir / "time_by_method.png"
        _plots.bars_with_paper(times, "wall time (s)", path,
                               paper={LABELS[m]: PAPER["headline"][m]["time_s"] for m in methods
                                      if m in PAPER["headline"]},
                               title=_plots.title(cfg, "wall time (SPAHM: silos in parallel + fusion)"))
        paths.append(path)

    sweeps = sorted(Path(out_dir, ARTIFACTS).glob("gaussian_lda_sweeps_trial_*.csv"))
    if sweeps:
        diag = pd.read_csv(sweeps[0])
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        for chain, sub in diag.groupby("chain"):
            axes[0].plot(sub.sweep, sub.log_joint, label=f"chain {chain}")
            axes[1].plot(sub.sweep, sub.moved, label=f"chain {chain}: moved")
            axes[1].plot(sub.sweep, sub.expected_moved, ls="--",
                         label=f"chain {chain}: expected by the conditionals")
        axes[0].set(xlabel="sweep", ylabel="log p(words, z)", title="collapsed log joint")
        axes[1].set(xlabel="sweep", ylabel="share of tokens", yscale="log",
                    title="tokens moved per sweep")
        for ax in axes:
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
        fig.suptitle(_plots.title(cfg, "Gaussian LDA mixing"), y=1.02)
        path = out_dir / "gaussian_lda_mixing.png"
        _plots.save_figure(fig, path)
        paths.append(path)

    art = load_artifacts(out_dir)
    if art is None or "usage" not in art:
        return paths
    atomic_write_text(out_dir / "topics.md", topics_markdown(art, _titles(cfg)))
    usage = np.asarray(art["usage"])
    order = np.argsort(-np.asarray(art["popularity"]), kind="stable")
    fig, ax = plt.subplots(figsize=(min(16, 3 + 0.06 * usage.shape[1]),
                                    min(14, 2 + 0.16 * usage.shape[0])))
    im = ax.imshow(usage[:, order], aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_yticks(np.arange(len(art["silo_names"])),
                  [_short(n) for n in art["silo_names"]], fontsize=5)
    ax.set_xlabel("global topic (most popular first)")
    ax.set_title(_plots.title(cfg, "share of each silo's tokens in local topics matched to each "
                              "global topic"), fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03)
    path = out_dir / "silo_topic_heatmap.png"
    _plots.save_figure(fig, path)
    paths.append(path)
    if "closest_gaussian_lda" in art:
        paths.append(_fig3(art, order, out_dir, plt))
    return paths


FIG3_PAIRS = 3   # the most popular fused topics shown beside their closest Gaussian LDA topic


def _fig3(art, order, out_dir, plt):
    """Fig. 3 idea: fused topics' words beside the nearest (by mean) Gaussian LDA topic's."""
    from experiments import _plots

    pop = np.asarray(art["popularity"])
    spahm, glda = art["topics"]["spahm"], art["topics"]["gaussian_lda"]
    chosen = [int(i) for i in order[:FIG3_PAIRS]]
    key = _uci_key(spahm)
    fig, axes = plt.subplots(1, len(chosen), figsize=(4.2 * len(chosen), 3.0), squeeze=False)
    for ax, i in zip(axes[0], chosen):
        k = int(art["closest_gaussian_lda"][i])
        ax.axis("off")
        cols = [(0.0, f"SPAHM topic {i}\n{pop[i]} silos\nUCI {spahm[key][i]:.2f}",
                 spahm["words"][i][:10]),
                (0.5, f"Gaussian LDA {k}\n{art['glda_tokens'][k]} tokens\n"
                      f"UCI {glda[key][k]:.2f}", glda["words"][k][:10])]
        for x, title, words in cols:
            ax.text(x, 1.0, title, fontsize=8, weight="bold", va="top", transform=ax.transAxes)
            ax.text(x, 0.78, "\n".join(words), fontsize=8, va="top", transform=ax.transAxes,
                    family="monospace")
    fig.suptitle("The most popular fused topics (left of each pair) beside the closest Gaussian "
                 "LDA topic (cf. the paper's Fig. 3)", fontsize=9)
    path = out_dir / "fig3_topic_pair.png"
    _plots.save_figure(fig, path)
    return path


# ---------------------------------------------------------------------------- report
def _stat(df, method, metric):
    s = summarise(df[df.method == method], metric)
    return (np.nan, np.nan, 0) if s.empty else tuple(s.iloc[0][["mean", "std", "count"]])


def _cell(df, method, metric, digits=2):
    mean, sd, count = _stat(df, method, metric)
    return "-" if not np.isfinite(mean) else mean_sd(mean, sd, int(count), digits)


def _mean(df, method, metric):
    return _stat(df, method, metric)[0]


def report(df, cfg=None) -> str:
    """Markdown: coherence (top 10 and 20), diversity, distinct topics and time beside the
    authors' trainvocab numbers, and the paper's ordering checked."""
    methods = _present(df)
    topn = _topn(df)
    paper = PAPER["trainvocab"]
    corpus = lambda k, d=0: f"{_mean(df, 'corpus', k):,.{d}f}"  # noqa: E731
    lines = [f"Corpus: {corpus('n_silos')} silos, {corpus('vocabulary')} words with an embedding, "
             f"{corpus('tokens')} tokens. Coherence reference: {corpus('reference_documents')} "
             f"documents, {corpus('reference_tokens')} tokens (gensim CoherenceModel, texts "
             "tokenised by \\b[a-zA-Z]+\\b as the authors' notebook); top words drawn from the "
             f"{corpus('candidate_words')} words in its dictionary. Preparing took "
             f"{corpus('prep_time_s', 1)} s and scoring {corpus('scoring_time_s', 1)} s per trial "
             "(neither counted in any method's time). Cells: mean +- sd over trials; "
             "(paper, trainvocab) in brackets.", ""]
    for n in topn:
        lines += [f"### Top {n} words per topic", "",
                  "| method | UCI | UMass | NPMI | UCI, distinct topics | topics | distinct | "
                  "diversity |", "|---|---|---|---|---|---|---|---|"]
        for m in methods:
            p = paper.get(m, {})
            br = lambda key, v=None: f" ({p[key]:.2f})" if key in p else ""  # noqa: E731
            lines.append(
                f"| {LABELS[m]} | {_cell(df, m, f'uci_{n}')}{br('uci')} | "
                f"{_cell(df, m, f'umass_{n}')}{br('umass')} | {_cell(df, m, f'npmi_{n}', 3)} | "
                f"{_cell(df, m, f'uci_distinct_{n}')}{br('uci_distinct')} | "
                f"{_cell(df, m, 'n_topics', 1)}{' (%d)' % p['n_topics'] if 'n_topics' in p else ''} | "
                f"{_cell(df, m, f'distinct_{n}', 1)}{' (%d)' % p['distinct'] if 'distinct' in p else ''} | "
                f"{_cell(df, m, f'diversity_{n}')} |")
        lines.append("")
    lines += ["### Time", "", "Wall time depends on what else the machine runs; CPU time (one "
              "thread, the silos' local fits summed) is the fairer figure on a shared machine.", "",
              "| method | wall (s) | silos in sequence (s) | CPU (s) |",
              "|---|---|---|---|"]
    for m in methods:
        lines.append(f"| {LABELS[m]} | {_cell(df, m, 'time_s', 1)} | "
                     f"{_cell(df, m, 'sequential_time_s', 1)} | {_cell(df, m, 'cpu_time_s', 1)} |")
    if "gaussian_lda" in methods:
        g = lambda k, d=2: _cell(df, "gaussian_lda", k, d)  # noqa: E731
        done, wanted = _mean(df, "gaussian_lda", "sweeps_done"), _mean(df, "gaussian_lda", "sweeps")
        if np.isfinite(done) and done < wanted:
            lines += ["", f"**Gaussian LDA is incomplete: {done:.0f} of {wanted:.0f} sweeps** "
                      "(the run's gaussian_lda.max_seconds budget); its topics and scores are "
                      "those of the last sweep done. Its chains are checkpointed: rerun the same "
                      "command with resume=false to continue them."]
        plain = lambda k, d=0: f"{_mean(df, 'gaussian_lda', k):,.{d}f}"  # noqa: E731
        sci = lambda k: f"{_mean(df, 'gaussian_lda', k):.1e}"  # noqa: E731
        lines += ["", f"Gaussian LDA: {plain('tokens_used')} of {plain('tokens_total')} tokens, "
                  f"{g('sweep_time_s')} s wall per sweep ({plain('sweeps_run_now')} sweeps run "
                  f"now, {plain('sweeps_resumed')} resumed from checkpoints, per trial); one chain "
                  f"of {plain('sweeps')} sweeps over all tokens at this cost: "
                  f"{g('chain_time_s', 0)} s (paper: 16 h). Share of tokens moved in the last "
                  f"sweep: {sci('moved_last_sweep')} (the sampler's conditionals expected "
                  f"{sci('expected_moved_last_sweep')}); non-empty topics: "
                  f"{plain('nonempty_topics')}. Per-sweep diagnostics of every chain: "
                  "artifacts/gaussian_lda_sweeps_trial_*.csv and gaussian_lda_mixing.png."]
    lines += ["", CLAIMS.section(df).rstrip(), "",
              "To score against Lahiri's corpus (the paper's headline), set "
              "data.reference_dir to a copy of it."]
    return "\n".join(lines) + "\n"

"""Gaussian topic models for text summarisation (paper section 4.2, Fig. 3).

Each silo is one text (a Gutenberg book in the paper; a State of the Union address, an
inaugural address or a Brown category offline). A silo's local model is 25 Gaussian topics:
k-means on the embeddings of its words weighted by their counts; its local atoms are the
topic means. SPAHM fuses the silos' atoms into global topics, each read through its nearest
words in embedding space.

Methods (config ``methods``):

- ``spahm``: local k-means topics + :func:`spahm.match`;
- ``local_kmeans``: the local topics themselves (every silo's 25), for reference;
- ``gaussian_lda``: Gaussian LDA (Das et al. 2015, :mod:`experiments.topics.gaussian_lda`) on the
  pooled silos' tokens, the paper's baseline;
- ``kmeans_pooled``: k-means on all words pooled, as many topics as SPAHM found;
- ``lda``: scikit-learn's LatentDirichletAllocation on the pooled bag of words.

Metrics per method: UCI (PMI), NPMI and UMass coherence of the top words on a separate
reference corpus, topic diversity, number of topics and wall time (local fits: the sum and,
as if the silos ran in parallel, the maximum over silos).

Run: ``spahm-experiment experiment=topics profile=quick`` (offline, NLTK corpora and PPMI+SVD
embeddings) or ``profile=paper`` (40 Gutenberg books + GloVe; needs the data scripts).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from omegaconf import OmegaConf

from experiments._runner import (
    DataMissingError,
    atomic_write_text,
    output_dir,
    require,
    run_grid,
    stopwatch,
)
from experiments.topics import text
from spahm import match
from experiments.topics.gaussian_lda import GaussianLDA
from experiments.topics.analysis import nearest_words, silo_usage
from spahm.models.topics import fit_local_topics

METHODS = ("spahm", "local_kmeans", "gaussian_lda", "kmeans_pooled", "lda")
LABELS = {
    "spahm": "SPAHM (fused k-means topics)",
    "local_kmeans": "local k-means topics",
    "gaussian_lda": "Gaussian LDA (pooled)",
    "kmeans_pooled": "k-means (pooled words)",
    "lda": "LDA (pooled bag of words)",
}
QUALITY = ("uci", "npmi", "umass", "diversity", "n_topics")
# Paper, section 4.2: UCI coherence, number of topics and wall time.
PAPER = {
    "spahm": {"uci": -2.10, "n_topics": 155, "time_s": 40.0},
    "gaussian_lda": {"uci": -4.60, "n_topics": 150, "time_s": 16 * 3600.0},
}
NLTK_CORPORA = ("state_union", "inaugural", "webtext", "brown")
ARTIFACTS = "artifacts"


# ---------------------------------------------------------------------------- config
def validate(cfg):
    pos_int = lambda v: isinstance(v, int) and v > 0  # noqa: E731
    require(cfg, "trials", pos_int, "a positive integer")
    require(cfg, "methods", lambda v: len(v) > 0 and set(v) <= set(METHODS),
            f"a non-empty subset of {list(METHODS)}")
    if cfg.data.corpus_dir is None:
        require(cfg, "data.silos", lambda v: v in NLTK_CORPORA + ("brown_categories",),
                f"one of {list(NLTK_CORPORA) + ['brown_categories']} (or set data.corpus_dir)")
    require(cfg, "data.reference", lambda v: all(r in NLTK_CORPORA for r in v),
            f"a list of NLTK corpora from {list(NLTK_CORPORA)} (may be empty)")
    if cfg.data.max_silos is not None:
        require(cfg, "data.max_silos", lambda v: isinstance(v, int) and v >= 2, "an integer >= 2 or null")
    require(cfg, "data.min_count", pos_int, "a positive integer")
    require(cfg, "embedding.source", lambda v: v in ("ppmi_svd", "glove"), "'ppmi_svd' or 'glove'")
    require(cfg, "embedding.dim", pos_int, "a positive integer")
    require(cfg, "embedding.window", pos_int, "a positive integer")
    require(cfg, "embedding.context_alpha", lambda v: 0 < v <= 1, "a number in (0, 1]")
    require(cfg, "local.n_topics", pos_int, "a positive integer")
    require(cfg, "local.n_init", pos_int, "a positive integer")
    require(cfg, "gaussian_lda.n_topics", pos_int, "a positive integer")
    require(cfg, "gaussian_lda.n_iter", lambda v: isinstance(v, int) and v >= 0, "an integer >= 0")
    require(cfg, "gaussian_lda.paper_n_iter", pos_int, "a positive integer")
    require(cfg, "gaussian_lda.kappa0", lambda v: v > 0, "a positive number")
    require(cfg, "gaussian_lda.psi0_scale", lambda v: v > 0, "a positive number")
    require(cfg, "gaussian_lda.init", lambda v: v in ("random", "kmeans"), "'random' or 'kmeans'")
    require(cfg, "gaussian_lda.rank_words_by", lambda v: v in ("density", "count"),
            "'density' or 'count'")
    if cfg.gaussian_lda.max_tokens is not None:
        require(cfg, "gaussian_lda.max_tokens", pos_int, "a positive integer or null (all tokens)")
    if cfg.lda.n_topics is not None:
        require(cfg, "lda.n_topics", pos_int, "a positive integer or null (as SPAHM)")
    require(cfg, "lda.max_iter", pos_int, "a positive integer")
    if cfg.pooled.document_length is not None:
        require(cfg, "pooled.document_length", pos_int, "a positive integer or null (one document per silo)")
    require(cfg, "coherence.topn", lambda v: isinstance(v, int) and v >= 2, "an integer >= 2")
    if cfg.coherence.window is not None:
        require(cfg, "coherence.window", lambda v: isinstance(v, int) and v >= 2,
                "an integer >= 2 or null (whole documents)")
    require(cfg, "coherence.epsilon", lambda v: v > 0, "a positive number")
    for key in ("fusion.sigma", "fusion.sigma0", "fusion.gamma0"):
        require(cfg, key, lambda v: v > 0, "a positive number")
    require(cfg, "fusion.n_iter", lambda v: isinstance(v, int) and v >= 0, "an integer >= 0")


# ---------------------------------------------------------------------------- data
@dataclass
class Corpus:
    """Everything the methods share, built once per run (independent of the trial seed)."""

    silo_names: list
    silo_ids: list            # token ids per silo
    vocabulary: list
    embeddings: np.ndarray    # (V, D)
    candidates: np.ndarray    # words allowed as top words (present in the reference corpus)
    reference_ids: list       # reference documents as vocabulary ids (-1: other words)
    reference_windows: int
    reference_name: str
    prep_time_s: float


def _missing(what, script):
    """``script``: the data script's module name, optionally followed by its arguments."""
    module = script.split()[0]
    return DataMissingError(f"{what} not found; install it with `python -m data_scripts.{script}` "
                            f"(see data_scripts/{module}.py; --from DIR installs from a local folder)")


def _nltk_root(cfg):
    return Path(cfg.data.nltk_root)


def _read_nltk(cfg, name):
    root = _nltk_root(cfg)
    if not text.nltk_corpus_available(root, name):
        raise _missing(f"NLTK corpus '{name}' under {root}", "nltk_corpora")
    return text.read_nltk_corpus(root, name)


def load_texts(cfg):
    """(silo names, silo texts, reference texts (an iterable), reference name) as configured."""
    d = cfg.data
    if d.corpus_dir is not None:
        folder = Path(d.corpus_dir)
        if not folder.is_dir() or not any(p.is_file() for p in folder.iterdir()):
            raise _missing(f"corpus folder {folder} (one text file per silo)", d.corpus_script)
        silos = text.read_text_dir(folder)
    elif d.silos == "brown_categories":
        docs = _read_nltk(cfg, "brown")
        cats = text.brown_categories(_nltk_root(cfg))
        silos = {}
        for fid, body in docs.items():
            silos.setdefault(cats.get(fid, "unknown"), []).append(body)
        silos = {k: "\n".join(v) for k, v in sorted(silos.items())}
    else:
        silos = _read_nltk(cfg, d.silos)
    names = list(silos)
    if d.max_silos is not None:
        names = names[: int(d.max_silos)]
    if len(names) < 2:
        raise ValueError(f"config key 'data.corpus_dir'/'data.silos': found {len(names)} silo(s), "
                         "need at least 2 text files")
    if d.reference_dir is not None:
        folder = Path(d.reference_dir)
        if not folder.is_dir() or not any(p.is_file() for p in folder.iterdir()):
            raise _missing(f"reference corpus folder {folder}", d.reference_script)
        reference = (body for _, body in text.iter_text_dir(folder))   # read lazily
        ref_name = str(folder.name)
    elif len(d.reference):
        reference = [body for name in d.reference for body in _read_nltk(cfg, name).values()]
        ref_name = "+".join(d.reference)
    else:
        reference = [silos[n] for n in names]
        ref_name = "the silos themselves (no separate reference corpus configured)"
    return names, [silos[n] for n in names], reference, ref_name


def _stopwords(cfg):
    if not cfg.data.nltk_stopwords:
        return text.EXTRA_STOPWORDS
    root = _nltk_root(cfg)
    if not text.nltk_corpus_available(root, "stopwords"):
        raise _missing(f"NLTK stop words under {root}", "nltk_corpora")
    return text.load_stopwords(root)


def prepare(cfg) -> Corpus:
    """Tokenise silos and reference, build vocabulary, embeddings and reference counts."""
    start = time.perf_counter()
    stop = _stopwords(cfg)
    names, silo_texts, reference_texts, ref_name = load_texts(cfg)
    silo_tokens = [text.tokenize(t, stop) for t in silo_texts]
    vocab = text.build_vocabulary(silo_tokens, int(cfg.data.min_count))
    emb_cfg = cfg.embedding
    if emb_cfg.source == "glove":
        path = Path(emb_cfg.glove_path)
        if not path.is_file():
            raise _missing(f"GloVe vectors {path}", "glove")
        words, vectors = text.load_glove(path, vocab)
        if vectors.shape[1] != int(emb_cfg.dim):
            raise ValueError(f"config key 'embedding.dim' = {emb_cfg.dim}: {path} has "
                             f"{vectors.shape[1]}-d vectors")
        rank = {w: i for i, w in enumerate(vocab)}
        order = np.argsort([rank[w] for w in words], kind="stable")
        vocab = [words[i] for i in order]
        embeddings = vectors[order]
    else:
        index = {w: i for i, w in enumerate(vocab)}
        ids = [text.to_ids(t, index) for t in silo_tokens]
        embeddings = text.ppmi_svd_embeddings(
            ids, len(vocab), dim=int(emb_cfg.dim), window=int(emb_cfg.window),
            context_alpha=float(emb_cfg.context_alpha), eig_power=float(emb_cfg.eig_power),
            normalize=bool(emb_cfg.normalize), random_state=int(cfg.seed))
        keep = np.linalg.norm(embeddings, axis=1) > 0      # words without an embedding
        vocab = [w for w, k in zip(vocab, keep) if k]
        embeddings = embeddings[keep]
    if len(vocab) < int(cfg.local.n_topics):
        raise ValueError(f"only {len(vocab)} words with an embedding: lower 'data.min_count' or "
                         "'local.n_topics', or use a larger corpus")
    index = {w: i for i, w in enumerate(vocab)}
    silo_ids = [text.to_ids(t, index) for t in silo_tokens]
    reference_ids = text.encode((text.tokenize(t, stop) for t in reference_texts), index)
    window = cfg.coherence.window
    n_ref_windows = sum((1 if len(d) else 0) if window is None or len(d) <= window
                        else len(d) - window + 1 for d in reference_ids)
    if cfg.coherence.restrict_to_reference:
        seen = np.concatenate([d[d >= 0] for d in reference_ids] or [np.zeros(0, np.int32)])
        candidates = np.bincount(seen, minlength=len(vocab)) > 0
    else:
        candidates = np.ones(len(vocab), dtype=bool)
    if candidates.sum() < int(cfg.coherence.topn):
        raise ValueError("fewer words shared by the silos and the reference corpus than "
                         f"'coherence.topn' = {cfg.coherence.topn}")
    return Corpus(names, silo_ids, vocab, embeddings, candidates, reference_ids, n_ref_windows,
                  ref_name, time.perf_counter() - start)


# ---------------------------------------------------------------------------- methods
def _timed_local(ids, embeddings, n_topics, n_init, max_iter, seed):
    start = time.perf_counter()
    topics = fit_local_topics(ids, embeddings, n_topics=n_topics, n_init=n_init,
                              max_iter=max_iter, random_state=seed)
    return topics, time.perf_counter() - start


def fit_local(cfg, corpus, seed):
    """Every silo's k-means topics (in parallel with ``n_jobs``) and each fit's wall time."""
    n_jobs = int(OmegaConf.select(cfg, "n_jobs", default=1))
    jobs = (delayed(_timed_local)(ids, corpus.embeddings, int(cfg.local.n_topics),
                                  int(cfg.local.n_init), int(cfg.local.max_iter), seed + j)
            for j, ids in enumerate(corpus.silo_ids))
    out = Parallel(n_jobs=n_jobs)(jobs)
    return [o[0] for o in out], np.array([o[1] for o in out])


def _documents(cfg, corpus):
    """Pooled documents for the pooled baselines: silos, or chunks of ``document_length``."""
    length = cfg.pooled.document_length
    if length is None:
        return [ids for ids in corpus.silo_ids if len(ids)]
    docs = []
    for ids in corpus.silo_ids:
        docs += [ids[i:i + length] for i in range(0, len(ids), length)]
    return [d for d in docs if len(d)]


def _subsample(docs, max_tokens, rng):
    """At most ``max_tokens`` tokens drawn uniformly without replacement, order kept."""
    total = sum(len(d) for d in docs)
    if max_tokens is None or total <= max_tokens:
        return docs, total
    keep = np.zeros(total, dtype=bool)
    keep[rng.choice(total, size=int(max_tokens), replace=False)] = True
    out, start = [], 0
    for d in docs:
        out.append(d[keep[start:start + len(d)]])
        start += len(d)
    return [d for d in out if len(d)], total


def _quality(words, counts, cfg):
    coh = text.coherence(words, counts, float(cfg.coherence.epsilon))
    return {"uci": coh["uci"], "npmi": coh["npmi"], "umass": coh["umass"],
            "diversity": text.topic_diversity(words), "n_topics": len(words),
            "_uci_per_topic": coh["uci_per_topic"]}


def _words(index_rows, corpus):
    return [[corpus.vocabulary[i] for i in row] for row in index_rows]


def trial(cfg, corpus, seed, trial_index, out_dir):
    """All methods once; tidy rows. Saves what topics.md and the figures need."""
    methods = list(cfg.methods)
    topn = int(cfg.coherence.topn)
    rows, topics_out = [], {}
    # what the methods ran on (the same in every trial; prep_time_s is spent once per run)
    rows += [("corpus", "n_silos", len(corpus.silo_ids)),
             ("corpus", "vocabulary", len(corpus.vocabulary)),
             ("corpus", "tokens", sum(len(i) for i in corpus.silo_ids)),
             ("corpus", "reference_windows", corpus.reference_windows),
             ("corpus", "prep_time_s", corpus.prep_time_s)]
    need_spahm = bool({"spahm", "kmeans_pooled"} & set(methods)) or (
        "lda" in methods and cfg.lda.n_topics is None)      # pooled baselines take SPAHM's count
    need_local = need_spahm or "local_kmeans" in methods
    local, local_times = (fit_local(cfg, corpus, seed) if need_local else (None, None))

    found = {}          # method -> (top words, extra metrics); coherence once all are known

    def add(method, words, extra):
        found[method] = (words, extra)

    spahm_result, n_spahm = None, None
    if need_spahm:
        kwargs = OmegaConf.to_container(cfg.fusion, resolve=True)
        kwargs["random_state"] = seed
        with stopwatch() as fusion_time:
            spahm_result = match([t.means for t in local], **kwargs)
        n_spahm = spahm_result.n_global_atoms
        words = _words(nearest_words(spahm_result.global_atoms, corpus.embeddings, topn,
                                     corpus.candidates), corpus)
        topics_out["spahm"] = {"words": words}
        if "spahm" in methods:
            add("spahm", words, {
                "time_s": float(local_times.max() + fusion_time()),
                "sequential_time_s": float(local_times.sum() + fusion_time()),
                "fusion_time_s": fusion_time(),
                "hyper_sigma": float(np.mean(spahm_result.hyperparameters["sigma"])),
                "hyper_sigma0": float(np.mean(spahm_result.hyperparameters["sigma0"])),
            })

    if "local_kmeans" in methods:
        atoms = np.vstack([t.means for t in local])
        words = _words(nearest_words(atoms, corpus.embeddings, topn, corpus.candidates), corpus)
        add("local_kmeans", words,
            {"time_s": float(local_times.max()), "sequential_time_s": float(local_times.sum())})

    if "kmeans_pooled" in methods:
        from sklearn.cluster import KMeans

        counts = np.bincount(np.concatenate(corpus.silo_ids), minlength=len(corpus.vocabulary))
        present = np.flatnonzero(counts)
        with stopwatch() as elapsed:
            km = KMeans(n_clusters=min(n_spahm, len(present)), n_init=int(cfg.local.n_init),
                        max_iter=int(cfg.local.max_iter), random_state=seed)
            km.fit(corpus.embeddings[present], sample_weight=counts[present].astype(float))
        words = _words(nearest_words(km.cluster_centers_, corpus.embeddings, topn,
                                     corpus.candidates), corpus)
        add("kmeans_pooled", words, {"time_s": elapsed()})

    docs = _documents(cfg, corpus)
    glda = None
    if "gaussian_lda" in methods:
        g = cfg.gaussian_lda
        rng = np.random.default_rng(seed)
        sample, total = _subsample(docs, g.max_tokens, rng)
        used = sum(len(d) for d in sample)
        glda = GaussianLDA(n_topics=int(g.n_topics), alpha=g.alpha, kappa0=float(g.kappa0),
                           nu0=g.nu0, psi0_scale=float(g.psi0_scale), n_iter=int(g.n_iter),
                           init=str(g.init), random_state=seed)
        with stopwatch() as elapsed:
            glda.fit(sample, corpus.embeddings)
        words = glda.top_words(corpus.embeddings, corpus.vocabulary, topn, corpus.candidates,
                               by=str(g.rank_words_by))
        topics_out["gaussian_lda"] = {"words": words}
        per_sweep = float(np.mean(glda.sweep_times_)) if len(glda.sweep_times_) else math.nan
        add("gaussian_lda", words, {
            "time_s": elapsed(),
            "sweep_time_s": per_sweep,
            # the paper's sweeps over all tokens at our measured per-token cost
            "extrapolated_time_s": per_sweep * (total / used) * int(g.paper_n_iter),
            "tokens_used": used, "tokens_total": total,
            "moved_last_sweep": float(glda.changed_[-1]) if len(glda.changed_) else math.nan,
        })

    if "lda" in methods:
        from sklearn.decomposition import LatentDirichletAllocation

        bow = text.count_matrix(docs, len(corpus.vocabulary))
        k = int(cfg.lda.n_topics) if cfg.lda.n_topics is not None else n_spahm
        with stopwatch() as elapsed:
            lda = LatentDirichletAllocation(n_components=k, max_iter=int(cfg.lda.max_iter),
                                            learning_method=str(cfg.lda.learning_method),
                                            random_state=seed, n_jobs=1).fit(bow)
        scores = np.where(corpus.candidates[None, :], lda.components_, -np.inf)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :topn]
        add("lda", _words(order, corpus), {"time_s": elapsed()})

    # coherence on the reference corpus, counting only the top words of this trial
    index = {w: i for i, w in enumerate(corpus.vocabulary)}
    needed = {index[w] for words, _ in found.values() for t in words for w in t}
    needed |= {index[w] for v in topics_out.values() for t in v["words"] for w in t}
    counts = text.reference_counts_from_ids(corpus.reference_ids, corpus.vocabulary,
                                            sorted(needed), window=cfg.coherence.window)
    for method in [m for m in METHODS if m in found]:
        words, extra = found[method]
        quality = _quality(words, counts, cfg)
        rows.extend((method, k, quality[k]) for k in QUALITY)
        rows.extend((method, k, v) for k, v in extra.items())
    for v in topics_out.values():
        v["uci"] = _quality(v["words"], counts, cfg)["_uci_per_topic"].tolist()

    if spahm_result is not None:
        _save_artifacts(out_dir, trial_index, corpus, spahm_result, local, topics_out, glda)
    return [{"method": m, "metric": k, "value": float(v)} for m, k, v in rows]


def _save_artifacts(out_dir, trial_index, corpus, result, local, topics_out, glda):
    """JSON with the fused topics, their silo usage and the Fig. 3 pairing of this trial."""
    usage = silo_usage(result.assignments, [t.weights for t in local], result.n_global_atoms)
    payload = {
        "silo_names": corpus.silo_names,
        "reference": corpus.reference_name,
        "vocabulary_size": len(corpus.vocabulary),
        "popularity": result.popularity.tolist(),
        "usage": np.round(usage, 6).tolist(),
        "spahm": topics_out["spahm"],
    }
    if glda is not None:
        # nearest Gaussian LDA topic (Euclidean distance of the means) to every fused topic
        d2 = ((result.global_atoms[:, None, :] - glda.topic_means_[None, :, :]) ** 2).sum(-1)
        payload["gaussian_lda"] = topics_out["gaussian_lda"]
        payload["gaussian_lda"]["tokens"] = glda.topic_counts_.tolist()
        payload["closest_gaussian_lda"] = d2.argmin(axis=1).tolist()
    atomic_write_text(Path(out_dir) / ARTIFACTS / f"trial_{trial_index}.json",
                      json.dumps(payload) + "\n")


# ---------------------------------------------------------------------------- entry points
def run(cfg) -> pd.DataFrame:
    """Prepare the corpus once, run all trials, write CSV, topics.md, figures and report."""
    validate(cfg)
    out = output_dir(cfg)
    corpus = prepare(cfg)
    df = run_grid(cfg, [{}], lambda s, tr: trial(cfg, corpus, tr.seed, tr.index, out), out,
                  desc="topics")
    plot(df, out)
    atomic_write_text(out / "report.md", report(df))
    return df


def load_artifacts(out_dir):
    """The saved artifacts of the lowest-numbered trial, or None."""
    files = sorted(Path(out_dir, ARTIFACTS).glob("trial_*.json"),
                   key=lambda p: int(p.stem.split("_")[1]))
    return json.loads(files[0].read_text()) if files else None


def topics_markdown(art) -> str:
    """Every global topic (most popular first): popularity, UCI, top words, silos using it."""
    names = art["silo_names"]
    usage = np.asarray(art["usage"])
    pop = np.asarray(art["popularity"])
    lines = ["# Fused global topics (SPAHM)", "",
             f"{len(pop)} global topics from {len(names)} silos; reference corpus for UCI: "
             f"{art['reference']}. A topic is shown by its nearest words in embedding space; "
             "'silos' lists every silo whose local topic was matched to it (share of that "
             "silo's tokens in brackets).", "",
             "| # | silos | UCI | top words | used by |", "|---|---|---|---|---|"]
    for i in np.argsort(-pop, kind="stable"):
        users = np.flatnonzero(usage[:, i] > 0)
        users = users[np.argsort(-usage[users, i], kind="stable")]
        who = ", ".join(f"{_short(names[j])} ({usage[j, i]:.0%})" for j in users)
        uci = art["spahm"]["uci"][i]
        lines.append(f"| {i} | {pop[i]} | {uci:.2f} | {' '.join(art['spahm']['words'][i])} | {who} |")
    return "\n".join(lines) + "\n"


def _short(name):
    return name.rsplit(".", 1)[0] if name.endswith(".txt") else name


def summarise(df):
    return df.groupby(["method", "metric"])["value"].agg(["mean", "std", "count"]).reset_index()


def plot(df, out_dir):
    """Figures and topics.md from metrics.csv and the saved artifacts alone."""
    from experiments import _plots

    plt = _plots.plt
    out_dir = Path(out_dir)
    stats = summarise(df)
    methods = [m for m in METHODS if m in set(stats.method)]

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, metric, name in zip(axes, ("uci", "npmi", "umass"), ("UCI (PMI)", "NPMI", "UMass")):
        s = stats[stats.metric == metric].set_index("method").reindex(methods)
        pos = np.arange(len(methods))
        ax.bar(pos, s["mean"], yerr=np.nan_to_num(s["std"]), capsize=3, color=_plots.COLOURS[0],
               label="ours")
        if metric == "uci":
            paper = [PAPER.get(m, {}).get("uci", np.nan) for m in methods]
            ax.scatter(pos, paper, marker="D", color="black", zorder=3, label="paper")
            ax.legend(fontsize=7)
        ax.set_xticks(pos, [LABELS[m] for m in methods], rotation=30, ha="right", fontsize=7)
        ax.set_title(f"{name} coherence (higher is better)", fontsize=9)
        ax.axhline(0, color="grey", lw=0.5)
        ax.grid(axis="y", alpha=0.3)
    _plots.save_figure(fig, out_dir / "coherence_by_method.png")

    fig, ax = plt.subplots(figsize=(6.8, 4.0))
    t = stats[stats.metric == "time_s"].set_index("method").reindex(methods)
    pos = np.arange(len(methods))
    ax.bar(pos, t["mean"], color=_plots.COLOURS[1], label="ours, measured (parallel silos: max)")
    ts = stats[stats.metric == "sequential_time_s"].set_index("method").reindex(methods)
    ax.scatter(pos, ts["mean"], marker="_", s=300, color="black", label="ours, silos in sequence (sum)")
    te = stats[stats.metric == "extrapolated_time_s"].set_index("method").reindex(methods)
    ax.scatter(pos, te["mean"], marker="^", color=_plots.COLOURS[3],
               label="Gaussian LDA extrapolated to all tokens, paper's sweeps")
    paper = [PAPER.get(m, {}).get("time_s", np.nan) for m in methods]
    ax.scatter(pos, paper, marker="D", color="black", label="paper")
    ax.set_yscale("log")
    top = np.nanmax(np.concatenate([t["mean"].to_numpy(float), ts["mean"].to_numpy(float),
                                    te["mean"].to_numpy(float), np.asarray(paper, float)]))
    ax.set_ylim(top=top * 1e3)                  # room for the legend above the bars
    ax.set_ylabel("wall time (s)")
    ax.set_xticks(pos, [LABELS[m] for m in methods], rotation=25, ha="right", fontsize=8)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    _plots.save_figure(fig, out_dir / "time_by_method.png")

    art = load_artifacts(out_dir)
    if art is None:
        return
    atomic_write_text(out_dir / "topics.md", topics_markdown(art))
    usage = np.asarray(art["usage"])
    order = np.argsort(-np.asarray(art["popularity"]), kind="stable")
    fig, ax = plt.subplots(figsize=(min(16, 3 + 0.06 * usage.shape[1]),
                                    min(14, 2 + 0.16 * usage.shape[0])))
    im = ax.imshow(usage[:, order], aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_yticks(np.arange(len(art["silo_names"])),
                  [_short(n) for n in art["silo_names"]], fontsize=5)
    ax.set_xlabel("global topic (most popular first)")
    ax.set_title("share of each silo's tokens in local topics matched to each global topic",
                 fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03)
    _plots.save_figure(fig, out_dir / "silo_topic_heatmap.png")

    if "gaussian_lda" in art:
        _fig3(art, order, out_dir, plt)


FIG3_PAIRS = 3   # the most popular fused topics shown beside their closest Gaussian LDA topic


def _fig3(art, order, out_dir, plt):
    """Fig. 3 idea: fused topics' words beside the nearest (by mean) Gaussian LDA topic's."""
    from experiments import _plots

    pop = np.asarray(art["popularity"])
    chosen = [int(i) for i in order[:FIG3_PAIRS]]
    fig, axes = plt.subplots(1, len(chosen), figsize=(4.2 * len(chosen), 3.0), squeeze=False)
    for ax, i in zip(axes[0], chosen):
        k = int(art["closest_gaussian_lda"][i])
        ax.axis("off")
        cols = [(0.0, f"SPAHM topic {i}\n{pop[i]} silos\nUCI {art['spahm']['uci'][i]:.2f}",
                 art["spahm"]["words"][i]),
                (0.5, f"Gaussian LDA {k}\n{art['gaussian_lda']['tokens'][k]} tokens\n"
                      f"UCI {art['gaussian_lda']['uci'][k]:.2f}", art["gaussian_lda"]["words"][k])]
        for x, title, words in cols:
            ax.text(x, 1.0, title, fontsize=8, weight="bold", va="top", transform=ax.transAxes)
            ax.text(x, 0.78, "\n".join(words), fontsize=8, va="top", transform=ax.transAxes,
                    family="monospace")
    fig.suptitle("The most popular fused topics (left of each pair) beside the closest Gaussian "
                 "LDA topic (cf. the paper's Fig. 3)", fontsize=9)
    _plots.save_figure(fig, out_dir / "fig3_topic_pair.png")


def _cell(stats, method, metric, digits=2):
    r = stats[(stats.method == method) & (stats.metric == metric)]
    if r.empty or not np.isfinite(r["mean"].iloc[0]):
        return "-"
    sd = r["std"].iloc[0]
    sd = "" if not np.isfinite(sd) else f" +- {sd:.{digits}f}"
    return f"{r['mean'].iloc[0]:.{digits}f}{sd}"


def _plain(stats, method, metric, digits=2):
    v = _mean(stats, method, metric)
    return "-" if not np.isfinite(v) else f"{v:.{digits}f}"


def _mean(stats, method, metric):
    r = stats[(stats.method == method) & (stats.metric == metric)]
    return r["mean"].iloc[0] if len(r) else np.nan


def report(df, cfg=None) -> str:
    """Markdown: our metrics (mean +- sd over trials) beside the paper's, and the ordering."""
    stats = summarise(df)
    methods = [m for m in METHODS if m in set(stats.method)]
    n_trials = df["trial"].nunique() if "trial" in df else 1
    lines = [f"### Topic coherence, diversity and time; ours mean +- sd over {n_trials} trial(s) "
             "(paper)", "",
             f"Corpus: {_plain(stats, 'corpus', 'n_silos', 0)} silos, "
             f"{_plain(stats, 'corpus', 'vocabulary', 0)} words with an embedding, "
             f"{_plain(stats, 'corpus', 'tokens', 0)} tokens; reference corpus: "
             f"{_plain(stats, 'corpus', 'reference_windows', 0)} windows of the coherence window "
             f"length; tokenising and embeddings took {_plain(stats, 'corpus', 'prep_time_s', 1)} s "
             "once per run (not counted in any method's time).", "",
             "| method | UCI | NPMI | UMass | diversity | topics | time (s) | time, silos in sequence (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for m in methods:
        p = PAPER.get(m, {})
        uci = _cell(stats, m, "uci") + (f" ({p['uci']:.2f})" if "uci" in p else "")
        nt = _cell(stats, m, "n_topics", 1) + (f" ({p['n_topics']})" if "n_topics" in p else "")
        tm = _cell(stats, m, "time_s", 1) + (f" ({p['time_s']:.0f})" if "time_s" in p else "")
        lines.append(f"| {LABELS[m]} | {uci} | {_cell(stats, m, 'npmi', 3)} | "
                     f"{_cell(stats, m, 'umass')} | {_cell(stats, m, 'diversity')} | {nt} | {tm} | "
                     f"{_cell(stats, m, 'sequential_time_s', 1)} |")
    if "gaussian_lda" in methods:
        lines += ["", f"Gaussian LDA: {_cell(stats, 'gaussian_lda', 'tokens_used', 0)} of "
                  f"{_cell(stats, 'gaussian_lda', 'tokens_total', 0)} tokens sampled; "
                  f"{_cell(stats, 'gaussian_lda', 'sweep_time_s', 2)} s per sweep; "
                  f"extrapolated to all tokens and the paper's sweeps: "
                  f"{_cell(stats, 'gaussian_lda', 'extrapolated_time_s', 0)} s; share of tokens "
                  f"that moved in the last sweep: {_cell(stats, 'gaussian_lda', 'moved_last_sweep', 3)}."]
    lines += ["", "### Expected ordering (paper): SPAHM more coherent (UCI) and much faster than "
              "Gaussian LDA", ""]
    if {"spahm", "gaussian_lda"} <= set(methods):
        su, gu = _mean(stats, "spahm", "uci"), _mean(stats, "gaussian_lda", "uci")
        st, gt = _mean(stats, "spahm", "time_s"), _mean(stats, "gaussian_lda", "time_s")
        lines.append(f"- UCI: SPAHM {su:.2f} vs Gaussian LDA {gu:.2f}: "
                     + ("holds." if su > gu else "does NOT hold."))
        lines.append(f"- time: SPAHM {st:.1f} s vs Gaussian LDA {gt:.1f} s: "
                     + ("holds." if st < gt else "does NOT hold."))
        for metric in ("npmi", "umass"):
            a, b = _mean(stats, "spahm", metric), _mean(stats, "gaussian_lda", metric)
            lines.append(f"- {metric.upper()} (not in the paper): SPAHM {a:.3f} vs Gaussian LDA "
                         f"{b:.3f}: SPAHM " + ("higher." if a > b else "NOT higher."))
    else:
        lines.append("- not checked: run both `spahm` and `gaussian_lda`.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    from experiments.cli import main

    sys.argv[1:1] = ["experiment=topics"]
    main()

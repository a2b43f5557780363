"""One trial of the topic-model application: every method's topics, then their scores.

Each method (:data:`METHODS`) fits its model and leaves a *ranker*: a function of the allowed
words (a boolean mask over the vocabulary) and ``n`` that returns every topic's top ``n``
words. Every reference (:class:`experiments.topics.data.Reference`) then ranks each method's
topics among the words it holds (the authors' "intervocab": top words restricted to the words
both corpora share) and scores them.

Top words: SPAHM's, the local topics' and pooled k-means' are the words nearest (Euclidean) to
the topic mean, the authors' rule; Gaussian LDA's by ``gaussian_lda.rank_words_by``
(``euclidean``, the authors' rule; ``density``, the posterior predictive density of the word's
vector; ``count``); scikit-learn LDA's by topic-word weight.
"""
from __future__ import annotations

import functools
import json
import time
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf
from sklearn.cluster import KMeans

from experiments._runner import atomic_write_csv, atomic_write_text, fit_per_silo, run_methods, stopwatch
from experiments.topics import text
from experiments.topics.analysis import nearest_words, silo_usage
from experiments.topics.coherence import MEASURES
from experiments.topics.gaussian_lda import GaussianLDA
from spahm import match
from spahm.adapters import get_adapter
from spahm.models.topics import fit_local_topics

ARTIFACTS = "artifacts"


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
        self.rankers = {}         # method -> ranker(candidates, n) -> top words of every topic
        self.saved = {}           # what topics.md and the figures need

    def nearest(self, atoms):
        """A ranker: the words nearest (Euclidean) to each atom, the authors' rule."""
        vocab, emb = self.corpus.vocabulary, self.corpus.embeddings

        def rank(candidates, n):
            return [[vocab[i] for i in row] for row in nearest_words(atoms, emb, n, candidates)]
        return rank

    @cached_property
    def local(self):
        c, loc = self.corpus, self.cfg.local
        fit = functools.partial(_fit_local, embeddings=c.embeddings, n_topics=int(loc.n_topics),
                                n_init=int(loc.n_init), max_iter=int(loc.max_iter))
        return fit_per_silo(fit, c.silo_ids, self.trial, name="local_kmeans",
                            n_jobs=int(OmegaConf.select(self.cfg, "n_jobs", default=1)),
                            backend=OmegaConf.select(self.cfg, "parallel.backend", default=None))

    @cached_property
    def atoms(self):
        """Every silo's local atoms, read through the library's adapter."""
        return [get_adapter(t).extract(t).atoms for t in self.local.models]

    @cached_property
    def spahm(self):
        """(SPAHM's result, fusion wall time)."""
        kwargs = OmegaConf.to_container(self.cfg.fusion, resolve=True)
        with stopwatch() as elapsed:
            result = match(self.atoms, **kwargs, random_state=self.trial.seed_for("spahm"))
        return result, elapsed()


def _spahm(tr):
    result, fusion_s = tr.spahm
    tr.rankers["spahm"] = tr.nearest(result.global_atoms)
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
    tr.rankers["local_kmeans"] = tr.nearest(np.vstack(tr.atoms))
    return [("time_s", tr.local.parallel_wall_s),
            ("sequential_time_s", tr.local.sequential_wall_s),
            ("cpu_time_s", tr.local.total_cpu_s)]


def _kmeans_pooled(tr):
    c = tr.corpus
    n_topics = tr.spahm[0].n_global_atoms            # outside the timer: SPAHM's own cost
    counts = np.bincount(np.concatenate(c.silo_ids), minlength=len(c.vocabulary))
    present = np.flatnonzero(counts)
    with stopwatch() as elapsed:
        km = KMeans(n_clusters=min(n_topics, len(present)), n_init=int(tr.cfg.local.n_init),
                    max_iter=int(tr.cfg.local.max_iter),
                    random_state=tr.trial.seed_for("kmeans_pooled"))
        km.fit(c.embeddings[present], sample_weight=counts[present].astype(float))
    tr.rankers["kmeans_pooled"] = tr.nearest(get_adapter(km).extract(km).atoms)
    return [("time_s", elapsed())]


def _lda(tr):
    from sklearn.decomposition import LatentDirichletAllocation

    c, cfg = tr.corpus, tr.cfg
    k = int(cfg.lda.n_topics) if cfg.lda.n_topics is not None else tr.spahm[0].n_global_atoms
    bow = text.count_matrix(_documents(cfg, c), len(c.vocabulary))
    with stopwatch() as elapsed:
        lda = LatentDirichletAllocation(n_components=k, max_iter=int(cfg.lda.max_iter),
                                        learning_method=str(cfg.lda.learning_method),
                                        random_state=tr.trial.seed_for("lda"), n_jobs=1).fit(bow)
    weights = lda.components_

    def rank(candidates, n):
        scores = np.where(candidates[None, :], weights, -np.inf)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :n]
        return [[c.vocabulary[i] for i in row] for row in order]
    tr.rankers["lda"] = rank
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
    if g.rank_words_by == "euclidean":
        tr.rankers["gaussian_lda"] = tr.nearest(model.topic_means_)
    else:
        def rank(candidates, n):
            return model.top_words(c.embeddings, c.vocabulary, n, candidates, by=str(g.rank_words_by))
        tr.rankers["gaussian_lda"] = rank
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


def metric_name(measure, reference_key, n, distinct=False):
    """``uci_10``, ``uci_distinct_10``, ``uci_inter_20``, ``uci_inter_distinct_20``, ..."""
    return "_".join(p for p in (measure, reference_key, "distinct" if distinct else "", str(n)) if p)


def _scores(tr, reference):
    """Every method's topics ranked among the reference's words, and scored on it in one pass
    (gensim's counts of a word or pair do not depend on the other topics scored with it)."""
    cfg = tr.cfg
    topn = sorted(int(n) for n in cfg.coherence.topn)
    methods = [m for m in METHODS if m in tr.rankers]
    words = {m: tr.rankers[m](reference.candidates, topn[-1]) for m in methods}
    per = reference.stats.score([t for m in methods for t in words[m]], topn=topn,
                                measures=list(cfg.coherence.measures))
    bounds = np.cumsum([0] + [len(words[m]) for m in methods])
    key = reference.key
    rows, per_topic = [], {}
    for i, method in enumerate(methods):
        topics = words[method]
        rows.append((method, "n_topics", len(topics)))
        per_topic[method] = {"words": topics}
        for n in topn:
            top = [t[:n] for t in topics]
            distinct = text.distinct_topics(top)
            rows += [(method, metric_name("diversity", key, n), text.topic_diversity(top)),
                     (method, metric_name("distinct", key, n), len(distinct))]
            for measure in cfg.coherence.measures:
                name = MEASURES[measure]
                values = per[(name, n)][bounds[i]:bounds[i + 1]]
                per_topic[method][metric_name(name, key, n)] = np.round(values, 6).tolist()
                rows += [(method, metric_name(name, key, n), float(np.mean(values))),
                         (method, metric_name(name, key, n, True), float(np.mean(values[distinct])))]
    return rows, per_topic


def trial(cfg, setting, trial, corpus):
    """Every configured method once (:data:`METHODS`), then one scoring per reference."""
    tr = _Trial(cfg, corpus, trial)
    main = corpus.references[0]
    rows = [{"method": "corpus", "metric": k, "value": float(v)} for k, v in (
        ("n_silos", len(corpus.silo_ids)), ("vocabulary", len(corpus.vocabulary)),
        ("tokens", sum(len(i) for i in corpus.silo_ids)),
        ("reference_documents", main.stats.n_books), ("reference_tokens", main.stats.n_tokens),
        ("candidate_words", int(main.candidates.sum())), ("prep_time_s", corpus.prep_time_s))]
    for ref in corpus.references[1:]:
        rows += [{"method": "corpus", "metric": k, "value": float(v)} for k, v in (
            ("reference_books", ref.stats.n_books), (f"{ref.key}_tokens", ref.stats.n_tokens),
            ("shared_vocabulary", int(ref.candidates.sum())),
            (f"{ref.key}_prep_time_s", ref.prep_time_s))]
    rows += run_methods(METHODS, list(cfg.methods), tr)
    per_topic = {}
    for ref in corpus.references:
        with stopwatch() as elapsed:
            scores, per = _scores(tr, ref)
        if ref.key:
            scores = [s for s in scores if s[1] != "n_topics"]
        rows += [{"method": m, "metric": k, "value": float(v)} for m, k, v in scores]
        rows.append({"method": "corpus", "metric": f"{ref.key or 'reference'}_scoring_time_s"
                     if ref.key else "scoring_time_s", "value": elapsed()})
        if ref.key:
            print(f"{ref.key} scoring of {len(per)} methods' topics: {elapsed():.1f} s", flush=True)
        for m, values in per.items():
            per_topic.setdefault(m, {}).update(
                {(f"words_{ref.key}" if k == "words" and ref.key else k): v for k, v in values.items()})
    if trial.out_dir is not None:
        _save_artifacts(Path(trial.out_dir), trial.index, tr, per_topic)
    return rows


def _save_artifacts(out_dir, index, tr, per_topic):
    """This trial's topics (every method's words and per-topic scores, per reference), the
    fused topics' silo usage, and the Gaussian LDA chains' per-sweep diagnostics."""
    corpus = tr.corpus
    payload = {"silo_names": corpus.silo_names, "reference": corpus.references[0].name,
               "references": {r.key: r.name for r in corpus.references},
               "vocabulary_size": len(corpus.vocabulary), "topics": per_topic}
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

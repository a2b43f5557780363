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

Scoring as the authors did (their coherence notebook; docs/method.md): gensim's coherence
measures (c_uci, u_mass, c_npmi) of the top 10 and top 20 words of every topic, on reference
texts tokenised by ``\\b[a-zA-Z]+\\b`` (one text per document), every topic's words drawn from
the words the reference holds (:mod:`experiments.topics.coherence`). The main reference of
the paper profile is the 40 books themselves (the authors' "trainvocab"); the second,
``data.intervocab_dir``, is S. Lahiri's 3,036-book corpus, the paper's headline ("intervocab",
metrics ``uci_inter_20``, ...). Also topic diversity, distinct topics (identical top-word sets
counted once) and wall time.

Two sets of choices (``topics_variant=``, conf/topics_variant/): ``ours`` (the default: words
seen at least 5 times, Gaussian LDA's top words by predictive density, top 10 first) and
``authors`` (the authors' notebook: no minimum count, every method's top words nearest to the
topic mean, top 20 first).

Modules: :mod:`.data` (corpus, embeddings, references), :mod:`.methods` (one trial),
:mod:`.tables` (report), :mod:`.figures`, :mod:`.coherence`, :mod:`.text`,
:mod:`.gaussian_lda`, :mod:`.analysis`, :mod:`.config`.

Run: ``spahm-experiment experiment=topics profile=quick`` (offline, NLTK corpora and PPMI+SVD
embeddings) or ``profile=paper`` (40 Gutenberg books + GloVe; see conf/experiment/topics.yaml
for the data scripts).
"""
from __future__ import annotations

from omegaconf import OmegaConf

from experiments._runner import ConfigError
from experiments.topics.coherence import MEASURES
from experiments.topics.config import EMBEDDINGS, NLTK_CORPORA, SILO_SOURCES
from experiments.topics.data import prepare
from experiments.topics.figures import plot
from experiments.topics.gaussian_lda import SAMPLERS
from experiments.topics.methods import METHODS, trial
from experiments.topics.claims import CLAIMS, NOTEBOOK, PAPER
from experiments.topics.tables import LABELS, report

__all__ = ["LABELS", "PAPER", "NOTEBOOK", "CLAIMS", "METHODS", "validate", "prepare", "settings", "trial",
           "plot", "report"]
RANKINGS = ("euclidean", "density", "count")


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
                "lda.max_iter", "fusion.sigma", "fusion.sigma0", "fusion.gamma0"):
        need(key, positive, "a positive number")
    for key in ("gaussian_lda.max_tokens", "gaussian_lda.alpha", "gaussian_lda.max_seconds",
                "lda.n_topics", "pooled.document_length"):
        need(key, optional_positive, "a positive number or null")
    need("gaussian_lda.n_iter", lambda v: v >= 0, "an integer >= 0")
    need("gaussian_lda.sampler", lambda v: v in SAMPLERS, f"one of {list(SAMPLERS)}")
    need("gaussian_lda.init", lambda v: v in ("random", "kmeans"), "'random' or 'kmeans'")
    need("gaussian_lda.rank_words_by", lambda v: v in RANKINGS, f"one of {list(RANKINGS)}")
    need("coherence.topn", lambda v: len(v) > 0 and all(n >= 2 for n in v),
         "a non-empty list of integers >= 2")
    need("coherence.measures", lambda v: len(v) > 0 and set(v) <= set(MEASURES),
         f"a non-empty subset of {list(MEASURES)}")
    need("fusion.n_iter", lambda v: v >= 0, "an integer >= 0")


def settings(cfg):
    return [{}]

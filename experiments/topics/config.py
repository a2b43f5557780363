"""Structured configs of the topic-model experiment (types and unknown keys checked by Hydra).

Registered in Hydra's ConfigStore at import under ``schema/topics``;
``conf/experiment/topics.yaml`` lists them in its defaults and documents every value. Ranges
Hydra cannot express ("positive", "one of these corpora") are checked by
:func:`experiments.topics.validate`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from hydra.core.config_store import ConfigStore

NLTK_CORPORA = ("state_union", "inaugural", "webtext", "brown")
SILO_SOURCES = NLTK_CORPORA + ("brown_categories",)
EMBEDDINGS = ("ppmi_svd", "glove")


@dataclass
class DataCfg:
    root: str = "data"
    nltk_root: str = "data/nltk_data"
    nltk_stopwords: bool = True
    corpus_dir: Optional[str] = None          # one text file per silo; null: data.silos
    corpus_script: str = "gutenberg"          # data script named when corpus_dir is missing
    silos: str = "state_union"                # NLTK corpus when corpus_dir is null
    reference_dir: Optional[str] = None       # coherence reference, one file per document
    reference_script: str = "gutenberg reference"
    reference: List[str] = field(default_factory=list)   # NLTK corpora as reference
    intervocab_dir: Optional[str] = None      # S. Lahiri's corpus (data_scripts/lahiri.py)
    max_silos: Optional[int] = None
    min_count: int = 5


@dataclass
class EmbeddingCfg:
    source: str = "glove"
    glove_path: str = "data/glove/glove.6B.50d.txt"
    dim: int = 50
    window: int = 5
    context_alpha: float = 0.75
    eig_power: float = 0.5
    normalize: bool = True


@dataclass
class LocalCfg:
    n_topics: int = 25
    n_init: int = 1
    max_iter: int = 300


@dataclass
class PooledCfg:
    document_length: Optional[int] = None


@dataclass
class GaussianLDACfg:
    n_topics: int = 150
    n_iter: int = 100
    n_chains: int = 2
    sampler: str = "blocked"                  # blocked | collapsed (experiments.topics.gaussian_lda)
    checkpoint: bool = True                   # save every sweep under checkpoint_dir, resume
    checkpoint_dir: str = "data/checkpoints/topics"
    max_seconds: Optional[float] = None       # wall-time budget of all chains together
    max_tokens: Optional[int] = None
    alpha: Optional[float] = None
    kappa0: float = 0.1
    nu0: Optional[float] = None
    psi0_scale: float = 0.5
    init: str = "random"
    rank_words_by: str = "density"          # density | euclidean | count


@dataclass
class LDACfg:
    n_topics: Optional[int] = None
    max_iter: int = 20
    learning_method: str = "batch"


@dataclass
class CoherenceCfg:
    topn: List[int] = field(default_factory=lambda: [10, 20])
    cache_dir: str = "data/cache/topics_reference"   # the intervocab reference's counts
    measures: List[str] = field(default_factory=lambda: ["c_uci", "u_mass", "c_npmi"])


_STORE = ConfigStore.instance()
for _name, _node in (("data", DataCfg), ("embedding", EmbeddingCfg), ("local", LocalCfg),
                     ("pooled", PooledCfg), ("gaussian_lda", GaussianLDACfg), ("lda", LDACfg),
                     ("coherence", CoherenceCfg)):
    _STORE.store(group="schema/topics", name=_name, node=_node)

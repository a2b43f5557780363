"""The topic-model application's data: silos, vocabulary, embeddings and coherence references.

Built once per run (independent of the trial seed) by :func:`prepare`:

- the silos' texts (one text file per silo, or an NLTK corpus), tokenised by
  :func:`experiments.topics.text.tokenize`; the vocabulary (words with at least
  ``data.min_count`` tokens and an embedding) and its embeddings;
- the main coherence reference (``data.reference_dir``, NLTK corpora ``data.reference``, or
  the silos themselves: the authors' "trainvocab"), held in memory;
- with ``data.intervocab_dir``, S. Lahiri's corpus (the paper's headline "intervocab"): only
  the files its installed ``MANIFEST.tsv`` lists (``python -m data_scripts.lahiri``), reduced
  once to the counts coherence needs and cached on disk (:mod:`experiments.topics.coherence`).

A reference's statistics are kept for every word type of the silos (any ``min_count``), so
one cache serves every variant; the candidate top words of a run are its vocabulary words
that the reference holds.
"""
from __future__ import annotations

import csv
import hashlib
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments._runner import ConfigError, DataMissingError
from experiments.topics import text
from experiments.topics.coherence import ReferenceStats

#: Files in a corpus folder that are not texts (what the data scripts write beside them).
NOT_TEXTS = ("MANIFEST.json", "MANIFEST.tsv", "SHA256SUMS")


@dataclass
class Reference:
    """One coherence reference: its counts and the run's candidate top words in it."""

    key: str                  # metric infix: "" (uci_10) or "inter" (uci_inter_10)
    name: str
    stats: ReferenceStats
    candidates: np.ndarray    # boolean over the run's vocabulary: words the reference holds
    prep_time_s: float
    built: bool = True        # False: loaded from the disk cache


@dataclass
class Corpus:
    """Everything the methods share, built once per run (independent of the trial seed)."""

    silo_names: list
    silo_ids: list            # token ids per silo
    vocabulary: list
    embeddings: np.ndarray    # (V, D)
    references: list          # Reference, the main one first
    prep_time_s: float

    @property
    def candidates(self) -> np.ndarray:
        """Words allowed as top words in every reference."""
        return np.logical_and.reduce([r.candidates for r in self.references])


def missing(what, script):
    """``script``: the data script's module name, optionally followed by its arguments."""
    module = script.split()[0]
    return DataMissingError(f"{what} not found; install it with `python -m data_scripts.{script}` "
                            f"(see data_scripts/{module}.py; --from DIR installs from a local folder)")


def _read_nltk(cfg, name):
    root = Path(cfg.data.nltk_root)
    if not text.nltk_corpus_available(root, name):
        raise missing(f"NLTK corpus '{name}' under {root}", "nltk_corpora")
    return text.read_nltk_corpus(root, name)


def _read_folder(folder, script, what):
    folder = Path(folder)
    files = {n: t for n, t in text.iter_text_dir(folder) if n not in NOT_TEXTS} \
        if folder.is_dir() else {}
    if not files:
        raise missing(f"{what} {folder} (one text file per silo)", script)
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
        raise missing(f"NLTK stop words under {root}", "nltk_corpora")
    return text.load_stopwords(root)


def _embeddings(cfg, vocab, silo_tokens):
    """(vocabulary, vectors) of the words that have an embedding, most frequent first."""
    emb_cfg = cfg.embedding
    if emb_cfg.source == "glove":
        path = Path(emb_cfg.glove_path)
        if not path.is_file():
            raise missing(f"GloVe vectors {path}", "glove")
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


def _candidates(stats, vocabulary):
    index = {w: i for i, w in enumerate(stats.vocabulary)}
    known = stats.known
    return np.array([w in index and known[index[w]] for w in vocabulary], dtype=bool)


def lahiri_files(folder):
    """``[(file name, bytes, sha256)]`` of the installed corpus' ``MANIFEST.tsv``, and its sha256."""
    path = Path(folder) / "MANIFEST.tsv"
    if not path.is_file():
        raise missing(f"S. Lahiri's Gutenberg corpus (the intervocab reference) in {folder} "
                      "(with its checked MANIFEST.tsv)", "lahiri")
    raw = path.read_bytes()
    rows = list(csv.DictReader(raw.decode("utf-8").splitlines(), delimiter="\t"))
    return [(r["file"], int(r["bytes"]), r["sha256"]) for r in rows], hashlib.sha256(raw).hexdigest()


def _lahiri_books(folder, files):
    """Every listed file, sha256 checked as it is read (the cache is built from checked bytes)."""
    for name, size, digest in files:
        raw = (Path(folder) / name).read_bytes()
        if len(raw) != size or hashlib.sha256(raw).hexdigest() != digest:
            raise DataMissingError(f"{Path(folder) / name}: size or sha256 differs from "
                                   f"{Path(folder) / 'MANIFEST.tsv'}; reinstall with "
                                   "`python -m data_scripts.lahiri`")
        yield name, text.decode(raw)


def intervocab(cfg, word_types, vocabulary):
    """S. Lahiri's corpus as a :class:`Reference` (its counts cached on disk)."""
    folder = Path(cfg.data.intervocab_dir)
    files, manifest_sha = lahiri_files(folder)
    absent = [name for name, size, _ in files if not (folder / name).is_file()
              or (folder / name).stat().st_size != size]
    if absent:
        raise missing(f"{len(absent)} file(s) of {folder / 'MANIFEST.tsv'} ({absent[0]}, ...)",
                      "lahiri")
    start = time.perf_counter()
    stats, built = ReferenceStats.cached(
        cfg.coherence.cache_dir, {"corpus": "lahiri", "manifest_sha256": manifest_sha},
        lambda: _lahiri_books(folder, files), word_types)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    print(f"intervocab reference: {stats.n_books} books, {stats.n_tokens:,} tokens, "
          f"{'read and cached' if built else 'loaded from the cache'} in {elapsed:.1f} s "
          f"(peak memory of the run so far {peak:.2f} GiB)", flush=True)
    return Reference("inter", f"S. Lahiri's Gutenberg corpus ({stats.n_books} books)", stats,
                     _candidates(stats, vocabulary), elapsed, built)


def prepare(cfg) -> Corpus:
    """Tokenise the silos, build vocabulary and embeddings, and the coherence references."""
    start = time.perf_counter()
    stop = _stopwords(cfg)
    names, silo_texts, reference_texts, ref_name = load_texts(cfg)
    silo_tokens = [text.tokenize(t, stop) for t in silo_texts]
    word_types = text.build_vocabulary(silo_tokens, 1)
    counts = text.build_vocabulary(silo_tokens, int(cfg.data.min_count))
    vocab, embeddings = _embeddings(cfg, counts, silo_tokens)
    if len(vocab) < int(cfg.local.n_topics):
        raise ConfigError(f"only {len(vocab)} words with an embedding: lower 'data.min_count' "
                          "or 'local.n_topics', or use a larger corpus")
    index = {w: i for i, w in enumerate(vocab)}
    silo_ids = [text.to_ids(t, index) for t in silo_tokens]
    for name, ids in zip(names, silo_ids):
        if not len(ids):
            raise ConfigError(f"silo {name!r} has no word with an embedding (data.min_count = "
                              f"{cfg.data.min_count})")
    ref_start = time.perf_counter()
    main = ReferenceStats.from_texts(reference_texts, word_types)
    if main.n_tokens == 0:
        raise ConfigError(f"reference corpus {ref_name!r}: no text with a word in it")
    references = [Reference("", ref_name, main, _candidates(main, vocab),
                            time.perf_counter() - ref_start)]
    if cfg.data.intervocab_dir is not None:
        references.append(intervocab(cfg, word_types, vocab))
    n = max(cfg.coherence.topn)
    for ref in references:
        if ref.candidates.sum() < n:
            raise ConfigError(f"fewer words shared by the silos and the reference {ref.name!r} "
                              f"than 'coherence.topn' = {n}")
    return Corpus(names, silo_ids, vocab, embeddings, references,
                  time.perf_counter() - start - sum(r.prep_time_s for r in references[1:]))

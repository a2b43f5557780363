"""Text processing for the topic-model application: corpora, tokens, embeddings, topic sets.

- Corpora: plain-text folders (one file per silo) and NLTK data packages, read straight from
  the installed zips (or unpacked folders); ``nltk.download`` is never called.
- Tokens: lower-case alphabetic tokens longer than two letters, minus NLTK's English stop
  words and the archaic / filler words of the paper (:data:`EXTRA_STOPWORDS`).
- Embeddings: positive PMI of word-context counts in a symmetric window, context
  distribution smoothed (Levy, Goldberg and Dagan 2015), reduced by truncated SVD; or GloVe.
- Topic sets: topic diversity (share of unique top words; Dieng, Ruiz and Blei 2020) and
  distinct topics. Coherence: :mod:`experiments.topics.coherence`.
"""
from __future__ import annotations

import re
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import scipy.sparse as sp

#: Words removed on top of NLTK's English stop words (the paper's archaic and filler words).
EXTRA_STOPWORDS = frozenset(
    "thou thee thy one two sir would could should shall may upon also said mrs miss".split()
)
#: Shortest token kept is ``MIN_TOKEN_LENGTH + 1`` letters ("length > 2").
MIN_TOKEN_LENGTH = 2
_WORD = re.compile(r"[a-z]+")


# ---------------------------------------------------------------------------- reading corpora
def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_text_dir(folder, pattern="*") -> dict:
    """Read every regular file of ``folder`` (sorted by name) as one document.

    Returns
    -------
    dict mapping the file's name (without the folder) to its text.
    """
    return dict(iter_text_dir(folder, pattern))


def iter_text_dir(folder, pattern="*"):
    """``(file name, text)`` of every regular file of ``folder``, sorted by name, read lazily."""
    folder = Path(folder)
    files = sorted(p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith("."))
    for p in files:
        yield p.name, decode(p.read_bytes())


def _nltk_members(root, name):
    """(member name, bytes) of an NLTK corpus package, from ``corpora/<name>.zip`` or the folder."""
    root = Path(root)
    folder = root / "corpora" / name
    if folder.is_dir():
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                yield p.relative_to(folder).as_posix(), p.read_bytes()
        return
    archive = root / "corpora" / f"{name}.zip"
    if not archive.is_file():
        raise FileNotFoundError(f"NLTK corpus '{name}' not found under {root}/corpora "
                                f"(neither {name}.zip nor {name}/)")
    with zipfile.ZipFile(archive) as zf:
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            if info.is_dir():
                continue
            member = info.filename.split("/", 1)[1] if "/" in info.filename else info.filename
            yield member, zf.read(info)


def nltk_corpus_available(root, name) -> bool:
    root = Path(root)
    return (root / "corpora" / f"{name}.zip").is_file() or (root / "corpora" / name).is_dir()


_NLTK_SKIP = {"README", "LICENSE", "CONTENTS", "cats.txt", "cats.csv"}


def read_nltk_corpus(root, name) -> dict:
    """Documents of an NLTK corpus package as ``{file id: text}``.

    Brown's ``word/tag`` format is reduced to the words. README, licence and category files
    are skipped.
    """
    docs = {}
    for member, raw in _nltk_members(root, name):
        base = member.rsplit("/", 1)[-1]
        if base in _NLTK_SKIP or base.startswith("."):
            continue
        text = decode(raw)
        if name == "brown":
            text = " ".join(tok.rsplit("/", 1)[0] for tok in text.split())
        docs[member] = text
    return docs


def brown_categories(root) -> dict:
    """Map each Brown file id to its category, from the package's ``cats.txt``."""
    for member, raw in _nltk_members(root, "brown"):
        if member.rsplit("/", 1)[-1] == "cats.txt":
            cats = {}
            for line in decode(raw).splitlines():
                parts = line.split()
                if len(parts) >= 2:
                    cats[parts[0]] = parts[1]
            return cats
    raise FileNotFoundError("brown: cats.txt not found in the NLTK package")


def load_stopwords(root=None) -> frozenset:
    """NLTK's English stop words (from ``stopwords.zip`` under ``root``) plus :data:`EXTRA_STOPWORDS`."""
    words = set()
    if root is not None:
        for member, raw in _nltk_members(root, "stopwords"):
            if member.rsplit("/", 1)[-1] == "english":
                words.update(w.strip() for w in decode(raw).split() if w.strip())
                break
        else:
            raise FileNotFoundError(f"stopwords/english not found under {root}")
    return frozenset(words) | EXTRA_STOPWORDS


# ---------------------------------------------------------------------------- tokens
def tokenize(text, stopwords=EXTRA_STOPWORDS) -> list:
    """Lower-case alphabetic tokens longer than two letters, stop words removed.

    Examples
    --------
    >>> tokenize("Thou art the Moon's pale light, 2 stars AND one sun!",
    ...          EXTRA_STOPWORDS | {"the", "and"})
    ['art', 'moon', 'pale', 'light', 'stars', 'sun']
    """
    return [w for w in _WORD.findall(text.lower())
            if len(w) > MIN_TOKEN_LENGTH and w not in stopwords]


def build_vocabulary(token_lists, min_count=1) -> list:
    """Words with at least ``min_count`` occurrences, most frequent first (ties alphabetical)."""
    counts = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    kept = [(w, c) for w, c in counts.items() if c >= min_count]
    kept.sort(key=lambda wc: (-wc[1], wc[0]))
    return [w for w, _ in kept]


def to_ids(tokens, index) -> np.ndarray:
    """Word ids of ``tokens`` (``index``: word -> id); words not in ``index`` are dropped."""
    return np.fromiter((index[w] for w in tokens if w in index), dtype=np.int64)


def count_matrix(id_lists, n_words) -> sp.csr_matrix:
    """Bag of words: (documents x words) counts from lists of word ids."""
    rows = np.concatenate([np.full(len(ids), i) for i, ids in enumerate(id_lists)] or [[]])
    cols = np.concatenate([np.asarray(ids) for ids in id_lists] or [[]])
    data = np.ones(len(cols), dtype=np.float64)
    m = sp.csr_matrix((data, (rows.astype(np.int64), cols.astype(np.int64))),
                      shape=(len(id_lists), n_words))
    m.sum_duplicates()
    return m


# ---------------------------------------------------------------------------- embeddings
def cooccurrence(id_lists, n_words, window=5) -> sp.csr_matrix:
    """Symmetric word-context counts within ``window`` tokens (never across documents)."""
    rows, cols = [], []
    for ids in id_lists:
        ids = np.asarray(ids)
        for offset in range(1, window + 1):
            if len(ids) <= offset:
                break
            rows += [ids[:-offset], ids[offset:]]
            cols += [ids[offset:], ids[:-offset]]
    if not rows:
        return sp.csr_matrix((n_words, n_words))
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    m = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n_words, n_words))
    m.sum_duplicates()
    return m


def ppmi(cooc, context_alpha=0.75) -> sp.csr_matrix:
    """Positive PMI of a word-context count matrix, contexts smoothed by ``count ** alpha``."""
    cooc = sp.csr_matrix(cooc, dtype=np.float64)
    total = cooc.sum()
    word = np.asarray(cooc.sum(axis=1)).ravel()
    context = np.asarray(cooc.sum(axis=0)).ravel() ** context_alpha
    p_context = context / context.sum()
    coo = cooc.tocoo()
    pmi = np.log(coo.data / total) - np.log(word[coo.row] / total) - np.log(p_context[coo.col])
    keep = pmi > 0
    out = sp.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=cooc.shape)
    return out


def ppmi_svd_embeddings(id_lists, n_words, dim=50, window=5, context_alpha=0.75,
                        eig_power=0.5, normalize=True, random_state=0) -> np.ndarray:
    """Word vectors from PPMI + truncated SVD: rows ``U * S ** eig_power`` (unit length if ``normalize``).

    Words that never co-occur with anything get a zero row; callers drop them ("words
    without an embedding are dropped").
    """
    from sklearn.utils.extmath import randomized_svd

    m = ppmi(cooccurrence(id_lists, n_words, window), context_alpha)
    k = min(dim, min(m.shape) - 1)
    if k < 1:
        raise ValueError(f"too few words ({n_words}) for {dim}-d embeddings")
    u, s, _ = randomized_svd(m, k, n_iter=7, random_state=random_state)
    vectors = u * s ** eig_power
    if k < dim:
        vectors = np.hstack([vectors, np.zeros((n_words, dim - k))])
    if normalize:
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return vectors


def load_glove(path, vocabulary=None) -> tuple:
    """Read a GloVe text file; keep only ``vocabulary`` words if given.

    Returns
    -------
    words : list of str, vectors : ndarray (n, D)
    """
    wanted = None if vocabulary is None else set(vocabulary)
    words, rows = [], []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            word, _, rest = line.rstrip("\n").partition(" ")
            if wanted is not None and word not in wanted:
                continue
            words.append(word)
            rows.append(np.array(rest.split(), dtype=np.float64))
    if not rows:
        raise ValueError(f"{path}: no vectors for the requested vocabulary")
    return words, np.vstack(rows)


# ---------------------------------------------------------------------------- topic sets
def topic_diversity(topics) -> float:
    """Share of unique words among all topics' top words (1 = no word repeated)."""
    all_words = [w for t in topics for w in t]
    if not all_words:
        return np.nan
    return len(set(all_words)) / len(all_words)


def distinct_topics(topics) -> np.ndarray:
    """Index of the first topic of every distinct top-word set (order ignored): the paper's
    "150 topics, only 37 of them distinct" counts these."""
    seen, keep = set(), []
    for i, t in enumerate(topics):
        key = frozenset(t)
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)

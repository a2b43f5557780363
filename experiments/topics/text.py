"""Text processing for the topic-model application: corpora, tokens, embeddings, coherence.

- Corpora: plain-text folders (one file per silo) and NLTK data packages, read straight from
  the installed zips (or unpacked folders); ``nltk.download`` is never called.
- Tokens: lower-case alphabetic tokens longer than two letters, minus NLTK's English stop
  words and the archaic / filler words of the paper (:data:`EXTRA_STOPWORDS`).
- Embeddings: positive PMI of word-context counts in a symmetric window, context
  distribution smoothed (Levy, Goldberg and Dagan 2015), reduced by truncated SVD; or GloVe.
- Quality of a topic's top words on a reference corpus: UCI / PMI (Newman et al. 2010),
  NPMI (Bouma 2009; Aletras and Stevenson 2013), UMass (Mimno et al. 2011), and topic
  diversity (share of unique top words; Dieng, Ruiz and Blei 2020).
"""
from __future__ import annotations

import re
import zipfile
from collections import Counter
from dataclasses import dataclass
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
def _decode(raw: bytes) -> str:
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
        yield p.name, _decode(p.read_bytes())


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
        text = _decode(raw)
        if name == "brown":
            text = " ".join(tok.rsplit("/", 1)[0] for tok in text.split())
        docs[member] = text
    return docs


def brown_categories(root) -> dict:
    """Map each Brown file id to its category, from the package's ``cats.txt``."""
    for member, raw in _nltk_members(root, "brown"):
        if member.rsplit("/", 1)[-1] == "cats.txt":
            cats = {}
            for line in _decode(raw).splitlines():
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
                words.update(w.strip() for w in _decode(raw).split() if w.strip())
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


# ---------------------------------------------------------------------------- coherence
@dataclass(frozen=True)
class CooccurrenceCounts:
    """Counts of a fixed word list in a reference corpus.

    Attributes
    ----------
    words : list of str
    index : dict word -> row
    n_windows : int          number of sliding windows (UCI / NPMI)
    window_counts : ndarray  windows containing each word
    window_joint : csr       windows containing both words (diagonal = window_counts)
    n_documents : int        number of documents (UMass)
    doc_counts, doc_joint    the same per document
    """

    words: list
    index: dict
    n_windows: int
    window_counts: np.ndarray
    window_joint: sp.csr_matrix
    n_documents: int
    doc_counts: np.ndarray
    doc_joint: sp.csr_matrix


def _binary_incidence(unit_rows, n_units, n_words):
    rows, cols = unit_rows
    m = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_units, n_words))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def encode(tokens_list, index, dtype=np.int32):
    """Token lists as id arrays over ``index`` (word -> id), ``-1`` for other words.

    Unlike :func:`to_ids` the positions are kept, so sliding windows stay what they were.
    """
    return [np.fromiter((index.get(w, -1) for w in tokens), dtype=dtype, count=len(tokens))
            for tokens in tokens_list]


def reference_counts(reference_tokens, words, window=10, batch_windows=2_000_000
                     ) -> CooccurrenceCounts:
    """Count ``words`` and their pairs in a tokenised reference corpus.

    Parameters
    ----------
    reference_tokens : list of list of str
        Reference documents, already tokenised the same way as the models' text.
    words : iterable of str
        The words whose counts are needed (e.g. all topics' top words).
    window : int or None, default 10
        Sliding window length for UCI and NPMI (Newman et al. 2010 used 10); a document
        shorter than the window is one window. ``None``: whole documents as windows.
        UMass always counts documents (Mimno et al. 2011).
    batch_windows : int
        Windows counted per batch (bounds memory on large reference corpora).
    """
    words = list(dict.fromkeys(words))
    index = {w: i for i, w in enumerate(words)}
    return reference_counts_from_ids(encode(reference_tokens, index), words,
                                     np.arange(len(words)), window, batch_windows)


def reference_counts_from_ids(reference_ids, vocabulary, word_ids, window=10,
                              batch_windows=2_000_000) -> CooccurrenceCounts:
    """:func:`reference_counts` on documents encoded by :func:`encode` over ``vocabulary``.

    Only the words ``word_ids`` (ids into ``vocabulary``) are counted.
    """
    word_ids = np.asarray(list(dict.fromkeys(int(i) for i in word_ids)), dtype=np.int64)
    words = [vocabulary[i] for i in word_ids]
    n_words = len(words)
    lookup = np.full(len(vocabulary) + 1, -1, dtype=np.int64)   # last slot: id -1 -> -1
    lookup[word_ids] = np.arange(n_words)
    win_counts, doc_counts = np.zeros(n_words), np.zeros(n_words)
    win_joint = sp.csr_matrix((n_words, n_words))
    doc_joint = sp.csr_matrix((n_words, n_words))
    n_windows = 0
    batch = {"win_rows": [], "win_cols": [], "doc_rows": [], "doc_cols": [], "n_win": 0, "n_doc": 0}

    def flush():
        nonlocal win_counts, doc_counts, win_joint, doc_joint
        cat = lambda k: np.concatenate(batch[k]) if batch[k] else np.zeros(0, np.int64)  # noqa: E731
        win = _binary_incidence((cat("win_rows"), cat("win_cols")), batch["n_win"], n_words)
        doc = _binary_incidence((cat("doc_rows"), cat("doc_cols")), batch["n_doc"], n_words)
        win_counts = win_counts + np.asarray(win.sum(axis=0)).ravel()
        doc_counts = doc_counts + np.asarray(doc.sum(axis=0)).ravel()
        win_joint = win_joint + (win.T @ win).tocsr()
        doc_joint = doc_joint + (doc.T @ doc).tocsr()
        for k in ("win_rows", "win_cols", "doc_rows", "doc_cols"):
            batch[k] = []
        batch["n_win"] = batch["n_doc"] = 0

    for raw in reference_ids:
        ids = lookup[np.asarray(raw, dtype=np.int64)]
        present = ids[ids >= 0]
        batch["doc_rows"].append(np.full(len(present), batch["n_doc"]))
        batch["doc_cols"].append(present)
        batch["n_doc"] += 1
        start = batch["n_win"]
        if window is None or len(ids) <= window:
            n_here = 1 if len(ids) else 0
            batch["win_rows"].append(np.full(len(present), start))
            batch["win_cols"].append(present)
        else:
            n_here = len(ids) - window + 1
            ids_w = ids[np.arange(n_here)[:, None] + np.arange(window)[None, :]]
            r = np.broadcast_to(np.arange(n_here)[:, None], ids_w.shape)
            keep = ids_w >= 0
            batch["win_rows"].append(r[keep] + start)
            batch["win_cols"].append(ids_w[keep])
        batch["n_win"] += n_here
        n_windows += n_here
        if batch["n_win"] >= batch_windows:
            flush()
    flush()
    return CooccurrenceCounts(
        words=words, index={w: i for i, w in enumerate(words)},
        n_windows=n_windows, window_counts=win_counts, window_joint=win_joint.tocsr(),
        n_documents=len(reference_ids), doc_counts=doc_counts, doc_joint=doc_joint.tocsr(),
    )


#: Added to the joint probability inside UCI / NPMI so that pairs never seen together give a
#: finite (very negative) PMI, as in Roeder, Both and Hinneburg (2015) / gensim's ``c_uci``.
PMI_EPSILON = 1e-12


def topic_coherence(top_words, counts: CooccurrenceCounts, epsilon=PMI_EPSILON) -> dict:
    """UCI, NPMI and UMass coherence of one topic, averaged over its word pairs.

    With ``N`` windows, ``N_i`` windows holding word i and ``N_ij`` holding both,
    ``p = N_i / N``, ``p_ij = N_ij / N``:

    - UCI  = mean over pairs i < j of ``log((p_ij + eps) / (p_i p_j))``;
    - NPMI = mean over pairs of ``log((p_ij + eps) / (p_i p_j)) / -log(p_ij + eps)``;
    - UMass = mean over pairs, word j ranked above word i, of ``log((D_ij + 1) / D_j)`` with
      document counts ``D`` (Mimno et al. 2011 sum these; the mean puts topics of different
      lengths on one scale).

    Words absent from the reference corpus are skipped (their pairs have no defined PMI);
    a topic left with fewer than two words scores NaN.
    """
    ids = [counts.index[w] for w in top_words
           if w in counts.index and counts.window_counts[counts.index[w]] > 0]
    nan = {"uci": np.nan, "npmi": np.nan, "umass": np.nan}
    if len(ids) < 2:
        return nan
    ids = np.asarray(ids)
    i, j = np.triu_indices(len(ids), k=1)      # i ranked above j
    a, b = ids[i], ids[j]
    n = counts.n_windows
    p_i = counts.window_counts[a] / n
    p_j = counts.window_counts[b] / n
    p_ij = np.asarray(counts.window_joint[a, b]).ravel() / n
    pmi = np.log(p_ij + epsilon) - np.log(p_i * p_j)
    npmi = pmi / -np.log(p_ij + epsilon)
    d_top = counts.doc_counts[a]
    d_joint = np.asarray(counts.doc_joint[a, b]).ravel()
    umass = np.log((d_joint + 1.0) / d_top)
    return {"uci": float(pmi.mean()), "npmi": float(npmi.mean()), "umass": float(umass.mean())}


def coherence(topics, counts: CooccurrenceCounts, epsilon=PMI_EPSILON) -> dict:
    """Mean UCI, NPMI and UMass over topics (NaN topics ignored), plus per-topic arrays."""
    per = [topic_coherence(t, counts, epsilon) for t in topics]
    out = {}
    for key in ("uci", "npmi", "umass"):
        values = np.array([p[key] for p in per], dtype=float)
        out[key] = float(np.nanmean(values)) if np.isfinite(values).any() else np.nan
        out[f"{key}_per_topic"] = values
    return out


def topic_diversity(topics) -> float:
    """Share of unique words among all topics' top words (1 = no word repeated)."""
    all_words = [w for t in topics for w in t]
    if not all_words:
        return np.nan
    return len(set(all_words)) / len(all_words)

"""Coherence of topics' top words on a reference corpus, exactly as gensim's ``CoherenceModel``
computes it, from counts kept on disk.

The authors scored their topics with gensim's ``CoherenceModel`` (``c_uci`` and ``u_mass``;
we add ``c_npmi``) on reference texts lowercased and tokenised by scikit-learn's
``CountVectorizer(token_pattern=r'\\b[a-zA-Z]+\\b').build_tokenizer()``, one text per book
(docs/method.md, the topic-model application). Their headline reference, S. Lahiri's corpus,
is about 230 million tokens: as Python token lists (what ``CoherenceModel(texts=...)`` needs)
that is more than these machines' memory. So the reference is read once, book by book, into
what the counts need (:class:`ReferenceStats`):

- one id per token of the *candidate vocabulary* (the words that can be top words), every
  other token a placeholder id that still takes its place in the sliding windows, all books
  concatenated, with the books' boundaries;
- the set of candidate words of every book (for ``u_mass``, which counts books).

From these, :meth:`ReferenceStats.accumulator` computes gensim's accumulator statistics for
any set of words with vectorised numpy, and :meth:`ReferenceStats.score` feeds them to
gensim's own segmentation and confirmation measures. The statistics are gensim's to the count
(``gensim/topic_coherence/text_analysis.py``, gensim 4.x):

- ``c_uci`` / ``c_npmi`` (``WordOccurrenceAccumulator``, window 10): every text gives
  ``max(n - 10 + 1, 1)`` windows (a text shorter than the window is one window, an empty text
  too), all counted in ``num_docs``; no text is skipped. A window's word set is kept by
  sliding: the token leaving on the left is *unmarked even if another copy of it is still in
  the window*, the token entering on the right is marked. So a word is counted in window
  ``s`` iff the last occurrence ``q`` at or before ``s + 9`` is ``>= s`` and no occurrence
  lies in ``[max(0, q - 9), s - 1]`` (gensim's rule, reproduced here, not corrected);
- ``u_mass`` (``CorpusAccumulator``): books containing the word(s), ``num_docs`` = books.

Tests compare every score with ``CoherenceModel(texts=...)`` run directly and with a hand
computation (``tests/test_coherence.py``).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

#: The authors' tokeniser for the coherence reference (lowercased text, then this pattern).
AUTHORS_TOKEN_PATTERN = r"\b[a-zA-Z]+\b"
#: gensim's names of the measures, and ours in the CSV.
MEASURES = {"c_uci": "uci", "u_mass": "umass", "c_npmi": "npmi"}
#: gensim's default sliding window of each windowed measure.
WINDOWS = {"c_uci": 10, "c_npmi": 10}
#: Bumped whenever the cache's content or layout changes.
CACHE_FORMAT = 1


def authors_tokenizer():
    """``text -> tokens`` as the authors: lowercased, then scikit-learn's tokenizer."""
    from sklearn.feature_extraction.text import CountVectorizer

    tokenize = CountVectorizer(token_pattern=AUTHORS_TOKEN_PATTERN).build_tokenizer()
    return lambda text: tokenize(text.lower())


def tokenizer_id() -> str:
    """What the cache key records of the tokeniser (its rule and scikit-learn's version)."""
    import sklearn

    return f"lower + sklearn {sklearn.__version__} CountVectorizer({AUTHORS_TOKEN_PATTERN!r})"


def authors_tokenize(texts) -> list:
    """Every text tokenised by :func:`authors_tokenizer` (stop words kept)."""
    tokenize = authors_tokenizer()
    return [tokenize(t) for t in texts]


# ---------------------------------------------------------------------------- the statistics
@dataclass
class ReferenceStats:
    """A reference corpus reduced to what gensim's counts of ``vocabulary`` words need.

    Attributes
    ----------
    vocabulary : list of str      the candidate words; word ``i`` has id ``i``
    ids : ndarray (tokens,)       every token's id, ``len(vocabulary)`` for all other words
    bounds : ndarray (books + 1,) book ``b`` is ``ids[bounds[b]:bounds[b + 1]]``
    present : csr_matrix (books, V) bool, which candidate words each book holds
    names : list of str           the books (file names)
    """

    vocabulary: list
    ids: np.ndarray
    bounds: np.ndarray
    present: sp.csr_matrix
    names: list

    @property
    def n_books(self):
        return len(self.bounds) - 1

    @property
    def n_tokens(self):
        return int(self.bounds[-1])

    @property
    def known(self) -> np.ndarray:
        """Boolean mask over the vocabulary: words the reference holds (the shared vocabulary)."""
        return np.asarray(self.present.sum(axis=0)).ravel() > 0

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, books, vocabulary, ids_path=None):
        """Read ``books`` (an iterable of ``(name, text)``) once, one book at a time.

        ``ids_path``: write the token ids there as they come (a raw file, then memory-mapped)
        instead of holding them in memory.
        """
        vocabulary = list(vocabulary)
        index = {w: i for i, w in enumerate(vocabulary)}
        other = len(vocabulary)
        dtype = np.uint16 if other < np.iinfo(np.uint16).max else np.uint32
        tokenize = authors_tokenizer()
        names, lengths, chunks, indptr, indices = [], [], [], [0], []
        sink = open(ids_path, "wb") if ids_path is not None else None
        try:
            for name, text in books:
                tokens = tokenize(text)
                ids = np.array([index.get(w, other) for w in tokens], dtype=dtype)
                words = np.unique(ids)
                words = words[words != other]
                names.append(name)
                lengths.append(len(ids))
                indices.append(words.astype(np.int32))
                indptr.append(indptr[-1] + len(words))
                if sink is not None:
                    sink.write(ids.tobytes())
                else:
                    chunks.append(ids)
        finally:
            if sink is not None:
                sink.close()
        if not names:
            raise ValueError("the reference corpus has no text")
        ids = (np.memmap(ids_path, dtype=dtype, mode="r") if ids_path is not None and sum(lengths)
               else np.concatenate(chunks or [np.zeros(0, dtype)]).astype(dtype))
        present = sp.csr_matrix((np.ones(indptr[-1], dtype=bool),
                                 np.concatenate(indices or [np.zeros(0, np.int32)]),
                                 np.asarray(indptr, dtype=np.int64)),
                                shape=(len(names), len(vocabulary)))
        return cls(vocabulary, ids, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                   present, names)

    @classmethod
    def from_texts(cls, texts, vocabulary, names=None):
        """In memory, from a list of texts (small references: the silos, NLTK corpora)."""
        names = names or [str(i) for i in range(len(texts))]
        return cls.build(zip(names, texts), vocabulary)

    # ------------------------------------------------------------------ disk cache
    @classmethod
    def load(cls, folder):
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text())
        bounds = np.load(folder / "bounds.npy")
        ids = (np.memmap(folder / "ids.bin", dtype=meta["dtype"], mode="r") if bounds[-1]
               else np.zeros(0, dtype=meta["dtype"]))
        if len(ids) != bounds[-1]:
            raise ValueError(f"{folder}: ids.bin has {len(ids)} tokens, bounds say {bounds[-1]}")
        present = sp.csr_matrix(
            (np.ones(len(np.load(folder / "present_indices.npy")), dtype=bool),
             np.load(folder / "present_indices.npy"), np.load(folder / "present_indptr.npy")),
            shape=(len(meta["names"]), len(meta["vocabulary"])))
        return cls(meta["vocabulary"], ids, bounds, present, meta["names"])

    @classmethod
    def cached(cls, cache_dir, inputs: dict, books, vocabulary):
        """Load the statistics cached under a key of ``inputs`` (anything that decides them:
        the corpus' manifest, ...) and ``vocabulary``; else build them from ``books`` (a
        callable returning the iterable) and cache them. Returns ``(stats, built)``."""
        key = hashlib.sha256(json.dumps(
            {"inputs": inputs, "vocabulary": list(vocabulary), "tokenizer": tokenizer_id(),
             "format": CACHE_FORMAT}, sort_keys=True).encode()).hexdigest()[:20]
        folder = Path(cache_dir) / key
        if (folder / "meta.json").is_file():
            return cls.load(folder), False
        folder.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{key}.build."))
        try:
            _finish(cls.build(books(), vocabulary, ids_path=work / "ids.bin"), work, folder)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return cls.load(folder), True

    # ------------------------------------------------------------------ counts
    def windows(self, window) -> int:
        """gensim's ``num_docs`` for a sliding window: ``max(n - window + 1, 1)`` per book."""
        n = np.diff(self.bounds)
        return int(np.maximum(n - window + 1, 1).sum())

    def accumulator(self, pairs, window=None, batch=5_000_000):
        """gensim's accumulator statistics for the word pairs ``pairs`` ((P, 2) vocabulary ids).

        ``window=None``: books (``u_mass``); else sliding windows of that size (``c_uci``,
        ``c_npmi``). Returns a :class:`Counts` usable by gensim's confirmation measures: the
        occurrences of every word of ``pairs`` and the co-occurrences of every pair.
        """
        pairs = np.sort(np.asarray(pairs, dtype=np.int64).reshape(-1, 2), axis=1)
        words = np.unique(pairs)
        R = len(words)
        local = np.searchsorted(words, pairs)
        need = np.unique(local[:, 0] * R + local[:, 1])        # unordered pairs, sorted codes
        if window is None:
            present = self.present[:, words].toarray()
            occ = present.sum(axis=0)
            a, b = need // R, need % R
            co = np.concatenate([(present[:, a[i:i + 4096]] & present[:, b[i:i + 4096]]).sum(axis=0)
                                 for i in range(0, len(need), 4096)] or [np.zeros(0, int)])
            return Counts(words, occ, need, co, self.n_books)
        lookup = np.full(len(self.vocabulary) + 1, -1, dtype=np.int64)
        lookup[words] = np.arange(R)
        occ = np.zeros(R, dtype=np.int64)
        co = np.zeros(len(need), dtype=np.int64)
        parts, offset, size = [], 0, 0
        for b in range(self.n_books):
            lo, hi = self.bounds[b], self.bounds[b + 1]
            start, end, word = _intervals(lookup[np.asarray(self.ids[lo:hi])], window)
            parts.append((start + offset, end + offset, word))
            offset += max(int(hi - lo) - window + 1, 1)         # books never share a window
            size += len(word)
            if size >= batch or b == self.n_books - 1:
                start, end, word = (np.concatenate(x) for x in zip(*parts))
                occ += np.bincount(word, weights=end - start + 1, minlength=R).astype(np.int64)
                co += _overlaps(start, end, word, R, need)
                parts, size = [], 0
        return Counts(words, occ, need, co, self.windows(window))

    def score(self, topics, topn=(10, 20), measures=tuple(MEASURES)) -> dict:
        """Per-topic coherence ``{(name, n): array}`` of the top ``n`` words of each topic, by
        gensim's segmentation and confirmation measure of each ``measure``.

        Every topic word must be in the vocabulary and occur in the reference (else a
        ``ValueError`` names it: gensim would drop or fail on it).
        """
        from gensim.models.coherencemodel import COHERENCE_MEASURES

        index = {w: i for i, w in enumerate(self.vocabulary)}
        known = self.known
        n_max = max(topn)
        bad = sorted({w for t in topics for w in t[:n_max] if w not in index or not known[index[w]]})
        if bad:
            raise ValueError(f"topic words not in the reference: {bad[:10]}")
        short = [i for i, t in enumerate(topics) if len(t) < n_max]
        if short:
            raise ValueError(f"topics {short[:5]} have fewer than {n_max} words")
        ids = [np.array([index[w] for w in t[:n_max]]) for t in topics]
        out, counts = {}, {}
        for measure in measures:
            pipeline = COHERENCE_MEASURES[measure]
            window = WINDOWS.get(measure)
            if window not in counts:
                pairs = [pair for topic in pipeline.seg(ids) for pair in topic]
                counts[window] = self.accumulator(pairs, window)
            kwargs = {} if measure == "u_mass" else {"normalize": measure == "c_npmi"}
            for n in sorted(topn):
                segmented = pipeline.seg([t[:n] for t in ids])
                out[(MEASURES[measure], n)] = np.asarray(
                    pipeline.conf(segmented, counts[window], **kwargs), dtype=float)
        return out


def _finish(stats, work, folder):
    """Write everything but the ids (already in ``work/ids.bin``) and rename into place."""
    np.save(work / "bounds.npy", stats.bounds)
    np.save(work / "present_indptr.npy", stats.present.indptr)
    np.save(work / "present_indices.npy", stats.present.indices)
    dtype = "uint16" if len(stats.vocabulary) < np.iinfo(np.uint16).max else "uint32"
    (work / "meta.json").write_text(json.dumps(
        {"vocabulary": stats.vocabulary, "names": stats.names, "dtype": dtype}) + "\n")
    os.chmod(work, 0o755)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(work, folder)


def _intervals(rel, window):
    """The windows in which gensim's sliding accumulator counts each word, in one text, as
    disjoint intervals ``[start, end]`` per word: ``(start, end, word)`` arrays.

    ``rel``: the text's tokens as relevant-word indices, -1 for every other token.
    """
    n = len(rel)
    pos = np.flatnonzero(rel >= 0)
    word = rel[pos]
    order = np.argsort(word, kind="stable")                  # by word, then position
    w, p = word[order], pos[order]
    start = np.maximum(p - window + 1, 0)                    # first window holding position p
    key = w * (n + 1)
    # gensim unmarks a word when *any* copy of it leaves the window: the mark set by the copy at
    # p lasts until the first copy at or after ``start`` leaves, i.e. up to that copy's window
    first = np.searchsorted(key + p, key + start, side="left")
    end = np.minimum(p[first], max(n - window + 1, 1) - 1)
    same = np.r_[False, w[1:] == w[:-1]]
    prev_end = np.r_[-1, end[:-1]]
    start = np.where(same, np.maximum(start, prev_end + 1), start)   # one word: no overlap
    keep = end >= start
    return start[keep], end[keep], w[keep]


def _overlaps(start, end, word, R, need):
    """Windows shared by every pair of intervals of different words, summed per word pair
    (unordered, code ``a * R + b`` with ``a < b``) for the sorted codes ``need``."""
    order = np.argsort(start, kind="stable")
    start, end, word = start[order], end[order], word[order]
    counts = np.zeros(len(need), dtype=np.float64)
    d = 1
    while d < len(start):
        shared = np.minimum(end[:-d], end[d:]) - start[d:] + 1      # start[d:] >= start[:-d]
        hit = shared > 0
        if not hit.any():
            break              # starts are sorted: no interval further on reaches back either
        a, b = word[:-d][hit], word[d:][hit]
        codes = np.minimum(a, b) * R + np.maximum(a, b)
        slot = np.minimum(np.searchsorted(need, codes), len(need) - 1)
        found = (need[slot] == codes) if len(need) else np.zeros(len(codes), bool)
        counts += np.bincount(slot[found], weights=shared[hit][found], minlength=len(need))
        d += 1
    return counts.astype(np.int64)


class Counts:
    """gensim accumulator statistics for gensim's confirmation measures (``accumulator[w]``,
    ``accumulator[w1, w2]``, ``accumulator.num_docs``, by vocabulary id)."""

    def __init__(self, words, occurrences, pair_codes, co_occurrences, num_docs):
        self.R = len(words)
        self.index = {int(w): i for i, w in enumerate(words)}
        self.occurrences = np.asarray(occurrences)
        self.co = dict(zip(np.asarray(pair_codes).tolist(), np.asarray(co_occurrences).tolist()))
        self.num_docs = int(num_docs)

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            return self.occurrences[self.index[int(key)]]
        a, b = self.index[int(key[0])], self.index[int(key[1])]
        if a > b:
            a, b = b, a
        return self.occurrences[a] if a == b else self.co[a * self.R + b]

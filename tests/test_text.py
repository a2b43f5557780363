"""Text processing (experiments.topics.text): tokens, corpora readers, PPMI embeddings and coherence on a
toy corpus whose counts are worked out by hand in the comments."""
import math
import zipfile

import numpy as np
import pytest

from experiments.topics import text


# ---------------------------------------------------------------------------- tokens
def test_tokenize_lowercase_alphabetic_longer_than_two_and_stop_words():
    stop = text.EXTRA_STOPWORDS | {"the", "and", "was"}
    got = text.tokenize("The WAR was over; thou art 2 ok-ish SHALL Mars' moons, and one sir.", stop)
    # 'the','was','and' stop words; 'thou','shall','one','sir' extra; 'ok','ish'? 'ish' kept (3 letters)
    assert got == ["war", "over", "art", "ish", "mars", "moons"]


def test_extra_stop_words_are_the_papers():
    assert text.EXTRA_STOPWORDS == frozenset(
        "thou thee thy one two sir would could should shall may upon also said mrs miss".split())
    assert text.tokenize("upon the thee also miss mrs said would") == ["the"]


def _nltk_root(tmp_path):
    """A miniature NLTK data folder: stopwords, a tagged Brown-like corpus, a plain corpus."""
    corpora = tmp_path / "corpora"
    corpora.mkdir()
    with zipfile.ZipFile(corpora / "stopwords.zip", "w") as zf:
        zf.writestr("stopwords/", "")
        zf.writestr("stopwords/english", "the\nand\nof\n")
        zf.writestr("stopwords/french", "le\n")
    with zipfile.ZipFile(corpora / "brown.zip", "w") as zf:
        zf.writestr("brown/", "")
        zf.writestr("brown/ca01", "\n\tThe/at Fulton/np-tl County/nn-tl jury/nn said/vbd ./.\n")
        zf.writestr("brown/cb01", "\n\tStars/nns shine/vb ./.\n")
        zf.writestr("brown/cats.txt", "ca01 news\ncb01 editorial\n")
        zf.writestr("brown/README", "about brown")
    with zipfile.ZipFile(corpora / "state_union.zip", "w") as zf:
        zf.writestr("state_union/", "")
        zf.writestr("state_union/1945-Truman.txt", "Peace and war.")
        zf.writestr("state_union/1946-Truman.txt", "Taxes and budget.".encode("latin-1"))
    return tmp_path


def test_nltk_readers_strip_tags_skip_meta_files_and_read_stop_words(tmp_path):
    root = _nltk_root(tmp_path)
    assert text.nltk_corpus_available(root, "brown")
    assert not text.nltk_corpus_available(root, "webtext")
    brown = text.read_nltk_corpus(root, "brown")
    assert sorted(brown) == ["ca01", "cb01"]
    assert brown["ca01"] == "The Fulton County jury said ."
    assert text.brown_categories(root) == {"ca01": "news", "cb01": "editorial"}
    assert list(text.read_nltk_corpus(root, "state_union")) == ["1945-Truman.txt", "1946-Truman.txt"]
    stop = text.load_stopwords(root)
    assert {"the", "and", "of", "thou", "miss"} <= stop and "le" not in stop
    with pytest.raises(FileNotFoundError, match="webtext"):
        text.read_nltk_corpus(root, "webtext")


def test_read_text_dir_sorted_and_skips_hidden(tmp_path):
    (tmp_path / "b.txt").write_text("beta")
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / ".hidden").write_text("x")
    assert text.read_text_dir(tmp_path) == {"a.txt": "alpha", "b.txt": "beta"}


def test_vocabulary_order_min_count_and_bag_of_words():
    docs = [["b", "a", "b"], ["c", "a", "b"]]
    assert text.build_vocabulary(docs) == ["b", "a", "c"]          # 3, 2, 1
    assert text.build_vocabulary(docs, min_count=2) == ["b", "a"]
    index = {"b": 0, "a": 1}
    ids = [text.to_ids(d, index) for d in docs]
    assert [i.tolist() for i in ids] == [[0, 1, 0], [1, 0]]          # 'c' dropped
    assert text.count_matrix(ids, 2).toarray().tolist() == [[2, 1], [1, 1]]


# ---------------------------------------------------------------------------- embeddings
def test_cooccurrence_window_counts_by_hand():
    # doc 0 = w0 w1 w2, window 1: pairs (0,1), (1,2) both ways; doc 1 = w0 w0
    m = text.cooccurrence([np.array([0, 1, 2]), np.array([0, 0])], 3, window=1).toarray()
    assert m.tolist() == [[2, 1, 0], [1, 0, 1], [0, 1, 0]]
    m2 = text.cooccurrence([np.array([0, 1, 2])], 3, window=2).toarray()
    assert m2[0, 2] == 1 and m2[2, 0] == 1


def test_ppmi_by_hand():
    # counts [[0, 2], [2, 1]]: total 5, word sums (2, 3), contexts (2, 3) with alpha = 1
    cooc = np.array([[0.0, 2.0], [2.0, 1.0]])
    got = text.ppmi(cooc, context_alpha=1.0).toarray()
    pmi_01 = math.log((2 / 5) / ((2 / 5) * (3 / 5)))                # log(5/3) > 0
    pmi_10 = math.log((2 / 5) / ((3 / 5) * (2 / 5)))
    pmi_11 = math.log((1 / 5) / ((3 / 5) * (3 / 5)))                # < 0 -> clipped to 0
    assert pmi_11 < 0
    np.testing.assert_allclose(got, [[0.0, pmi_01], [pmi_10, 0.0]])


def test_ppmi_svd_embeddings_shape_unit_norm_and_deterministic():
    rng = np.random.default_rng(0)
    ids = [rng.integers(0, 30, 200) for _ in range(5)]
    e1 = text.ppmi_svd_embeddings(ids, 30, dim=8, random_state=1)
    e2 = text.ppmi_svd_embeddings(ids, 30, dim=8, random_state=1)
    assert e1.shape == (30, 8)
    np.testing.assert_allclose(np.linalg.norm(e1, axis=1), 1.0)
    np.testing.assert_array_equal(e1, e2)


def test_ppmi_svd_embeddings_put_related_words_close():
    # two planted groups of words that only co-occur within their group
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, 10, 300) for _ in range(10)] + [rng.integers(10, 20, 300) for _ in range(10)]
    e = text.ppmi_svd_embeddings(docs, 20, dim=5, random_state=0)
    sim = e @ e.T
    within = (sim[:10, :10].mean() + sim[10:, 10:].mean()) / 2
    assert within > sim[:10, 10:].mean() + 0.5


def test_load_glove_keeps_requested_words(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("the 0.1 0.2\nstar 1 2\nwar -1 0.5\n")
    words, vecs = text.load_glove(path, ["war", "star", "moon"])
    assert words == ["star", "war"]
    np.testing.assert_allclose(vecs, [[1, 2], [-1, 0.5]])


# ---------------------------------------------------------------------------- topic sets
def test_diversity_and_distinct_topics():
    topics = [["a", "b"], ["b", "a"], ["c", "d"], ["a", "b"]]
    assert text.topic_diversity(topics) == pytest.approx(4 / 8)
    assert text.distinct_topics(topics).tolist() == [0, 2]

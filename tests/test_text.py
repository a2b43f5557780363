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


# ---------------------------------------------------------------------------- coherence
# Toy reference corpus, each document one "window" (window=None):
#   d1 = a b c,  d2 = a b,  d3 = c d,  d4 = a
# N = 4 documents; N_a = 3, N_b = 2, N_c = 2, N_d = 1; N_ab = 2, N_ac = 1, N_bc = 1, N_cd = 1, N_ad = 0.
TOY = [["a", "b", "c"], ["a", "b"], ["c", "d"], ["a"]]


def test_reference_counts_by_hand():
    c = text.reference_counts(TOY, ["a", "b", "c", "d"], window=None)
    assert c.n_windows == 4 and c.n_documents == 4
    assert c.window_counts.tolist() == [3, 2, 2, 1]
    joint = c.window_joint.toarray()
    assert joint[0, 1] == 2 and joint[0, 2] == 1 and joint[1, 2] == 1 and joint[2, 3] == 1
    assert joint[0, 3] == 0


def test_uci_npmi_umass_by_hand():
    c = text.reference_counts(TOY, ["a", "b", "c", "d"], window=None)
    got = text.topic_coherence(["a", "b", "c"], c, epsilon=0.0)
    # UCI: log((2/4)/((3/4)(2/4))) = log(4/3); log((1/4)/((3/4)(2/4))) = log(2/3);
    #      log((1/4)/((2/4)(2/4))) = 0
    uci = (math.log(4 / 3) + math.log(2 / 3) + 0.0) / 3
    # NPMI: each PMI over -log p_ab: log(4/3)/log 2, log(2/3)/log 4, 0
    npmi = (math.log(4 / 3) / math.log(2) + math.log(2 / 3) / math.log(4) + 0.0) / 3
    # UMass with a ranked above b above c: log((2+1)/3) = 0, log((1+1)/3), log((1+1)/2) = 0
    umass = (0.0 + math.log(2 / 3) + 0.0) / 3
    assert got["uci"] == pytest.approx(uci)
    assert got["npmi"] == pytest.approx(npmi)
    assert got["umass"] == pytest.approx(umass)


def test_zero_cooccurrence_uses_epsilon_and_unknown_words_are_skipped():
    c = text.reference_counts(TOY, ["a", "b", "c", "d"], window=None)
    got = text.topic_coherence(["a", "d", "zzz"], c, epsilon=1e-12)
    assert got["uci"] == pytest.approx(math.log(1e-12 / ((3 / 4) * (1 / 4))))
    assert got["npmi"] == pytest.approx(math.log(1e-12 / (3 / 16)) / -math.log(1e-12))
    assert got["umass"] == pytest.approx(math.log(1 / 3))
    assert np.isnan(text.topic_coherence(["a", "zzz"], c)["uci"])


def test_sliding_windows_by_hand():
    # doc 1 = a b c d, window 2 -> [a b], [b c], [c d]; doc 2 = a e (no longer than 2) -> [a e]
    c = text.reference_counts([["a", "b", "c", "d"], ["a", "e"]], ["a", "b", "c", "d"], window=2)
    assert c.n_windows == 4
    assert c.window_counts.tolist() == [2, 2, 2, 1]
    assert c.doc_counts.tolist() == [2, 1, 1, 1]
    got = text.topic_coherence(["c", "d"], c, epsilon=0.0)
    assert got["uci"] == pytest.approx(math.log((1 / 4) / ((2 / 4) * (1 / 4))))  # log 2


def test_model_coherence_averages_topics_and_diversity():
    c = text.reference_counts(TOY, ["a", "b", "c", "d"], window=None)
    out = text.coherence([["a", "b"], ["b", "c"], ["zzz", "a"]], c, epsilon=0.0)
    assert out["uci"] == pytest.approx((math.log(4 / 3) + 0.0) / 2)
    assert np.isnan(out["uci_per_topic"][2])
    assert text.topic_diversity([["a", "b"], ["b", "c"]]) == 0.75
    assert text.topic_diversity([["a", "b"], ["c", "d"]]) == 1.0


def test_counting_in_batches_and_from_ids_gives_the_same_counts():
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(12)]
    docs = [[vocab[i] for i in rng.integers(0, 12, n)] + ["oov"] for n in (3, 30, 50, 7)]
    whole = text.reference_counts(docs, vocab[:8], window=4)
    small = text.reference_counts(docs, vocab[:8], window=4, batch_windows=5)
    ids = text.encode(docs, {w: i for i, w in enumerate(vocab)})
    assert ids[0][-1] == -1
    by_id = text.reference_counts_from_ids(ids, vocab, np.arange(8), window=4)
    for other in (small, by_id):
        assert other.words == whole.words and other.n_windows == whole.n_windows
        np.testing.assert_array_equal(other.window_counts, whole.window_counts)
        np.testing.assert_array_equal(other.window_joint.toarray(), whole.window_joint.toarray())
        np.testing.assert_array_equal(other.doc_joint.toarray(), whole.doc_joint.toarray())

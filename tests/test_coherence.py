"""Coherence from cached counts equals gensim's CoherenceModel run directly, and a hand count."""
import math

import numpy as np
import pytest

from experiments.topics.coherence import ReferenceStats, authors_tokenize

gensim = pytest.importorskip("gensim")


def _gensim_scores(texts, topics, measure, topn):
    from gensim.corpora import Dictionary
    from gensim.models.coherencemodel import CoherenceModel

    dictionary = Dictionary(texts)
    cm = CoherenceModel(topics=topics, texts=texts, dictionary=dictionary,
                        corpus=[dictionary.doc2bow(t) for t in texts], coherence=measure,
                        topn=topn, processes=1)
    return np.asarray(cm.get_coherence_per_topic())


def _random_texts(seed, n_texts=25, words=12):
    rng = np.random.default_rng(seed)
    vocab = ["w" + "abcdefghijklmnop"[i] for i in range(words)]
    texts = []
    for _ in range(n_texts):
        n = int(rng.choice([0, 1, 3, 9, 10, 11, 25, 60]))
        # a few words very often, so copies of one word share windows (gensim's sliding rule)
        texts.append([vocab[i] for i in rng.choice(words, n, p=np.r_[[0.3, 0.2], [0.5 / (words - 2)] * (words - 2)])])
    return vocab, texts


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("measure", ["c_uci", "u_mass", "c_npmi"])
def test_cached_counts_equal_gensim(seed, measure):
    vocab, texts = _random_texts(seed)
    seen = sorted({w for t in texts for w in t})
    rng = np.random.default_rng(100 + seed)
    topics = [list(rng.choice(seen, 4, replace=False)) for _ in range(5)]
    # the candidate vocabulary holds more words than the topics; 'zz' occurs nowhere
    stats = ReferenceStats.from_texts([" ".join(t) for t in texts], vocab + ["zz"])
    ours = stats.score(topics, topn=[3, 4], measures=[measure])
    for n in (3, 4):
        expected = _gensim_scores(texts, [t[:n] for t in topics], measure, n)
        np.testing.assert_array_equal(ours[({"c_uci": "uci", "u_mass": "umass", "c_npmi": "npmi"}[measure], n)],
                                      expected)


def test_hand_computation_and_gensims_sliding_rule():
    # one text of 12 tokens, window 10 -> 3 windows: [0..9], [1..10], [2..11]
    text = "a x a b x x x x x x c a"
    stats = ReferenceStats.from_texts([text, "b c"], ["a", "b", "c"])
    counts = stats.accumulator([(0, 1), (1, 2), (0, 2)], window=10)
    assert counts.num_docs == 3 + 1                     # the short text is one window
    # 'a' at 0 and 2: window 1 loses the copy at 0 and gensim unmarks 'a' although 'a' at 2
    # is still inside; window 2 lets in the 'a' at 11 -> marked in windows 0 and 2, plus none
    # in the short text
    assert counts[0] == 2
    assert counts[1] == 3 + 1                           # 'b' at 3: windows 0, 1, 2; and 'b c'
    assert counts[2] == 2 + 1                           # 'c' at 10: windows 1, 2; and 'b c'
    assert counts[0, 1] == 2 and counts[1, 2] == 3 and counts[0, 2] == 1
    uci = stats.score([["a", "b"], ["b", "c"]], topn=[2], measures=["c_uci"])[("uci", 2)]
    eps = 1e-12
    expected_ab = np.log((2 / 4 + eps) / ((2 / 4) * (4 / 4)))   # both orders: the same value
    expected_bc = np.log((3 / 4 + eps) / ((4 / 4) * (3 / 4)))
    np.testing.assert_allclose(uci, [expected_ab, expected_bc], rtol=1e-12)
    umass = stats.score([["a", "b"]], topn=[2], measures=["u_mass"])[("umass", 2)]
    # books: 'a' in 1 of 2, 'b' in 2; s_one_pre scores (b, a): log((1/2 + eps) / (1/2))
    np.testing.assert_allclose(umass, [np.log((1 / 2 + eps) / (1 / 2))], rtol=1e-12)


# Toy reference corpus; every text is shorter than gensim's window (10), so each is one window
# and the sliding-window probabilities are document frequencies:
#   d1 = a b c,  d2 = a b,  d3 = c d,  d4 = a
# N = 4; N_a = 3, N_b = 2, N_c = 2, N_d = 1; N_ab = 2, N_ac = 1, N_bc = 1, N_cd = 1, N_ad = 0.
TOY = ["A b, c.", "a B", "c d!", "a"]
EPS = 1e-12  # gensim's epsilon inside the logarithms


def test_authors_tokenizer_is_countvectorizers_on_lowercased_text():
    from sklearn.feature_extraction.text import CountVectorizer

    raw = "Don't PANIC: 42 stars, x-ray Moon's a b"
    assert authors_tokenize([raw]) == [["don", "t", "panic", "stars", "x", "ray", "moon",
                                             "s", "a", "b"]]
    tok = CountVectorizer(token_pattern=r"\b[a-zA-Z]+\b").build_tokenizer()
    assert authors_tokenize([raw])[0] == tok(raw.lower())


def test_gensim_uci_npmi_umass_by_hand():
    ref = ReferenceStats.from_texts(TOY, ["a", "b", "c", "d"])
    got = ref.score([["a", "b", "c"]], topn=[3, 2])
    p = {"a": 3 / 4, "b": 2 / 4, "c": 2 / 4}
    joint = {("a", "b"): 2 / 4, ("a", "c"): 1 / 4, ("b", "c"): 1 / 4}
    pmi = {k: math.log((v + EPS) / (p[k[0]] * p[k[1]])) for k, v in joint.items()}
    npmi = {k: pmi[k] / -math.log(joint[k] + EPS) for k in joint}
    # UCI / NPMI: mean over the unordered pairs (gensim scores both orders, same value)
    assert got[("uci", 3)][0] == pytest.approx(np.mean(list(pmi.values())))
    assert got[("npmi", 3)][0] == pytest.approx(np.mean(list(npmi.values())))
    assert got[("uci", 2)][0] == pytest.approx(pmi[("a", "b")])
    # UMass: pairs (later word, earlier word), log((D(w_i, w_j) / N + eps) / (D(w_j) / N))
    umass = [math.log((2 / 4 + EPS) / (3 / 4)),      # b | a
             math.log((1 / 4 + EPS) / (3 / 4)),      # c | a
             math.log((1 / 4 + EPS) / (2 / 4))]      # c | b
    assert got[("umass", 3)][0] == pytest.approx(np.mean(umass))
    assert got[("umass", 2)][0] == pytest.approx(umass[0])


def test_words_outside_the_reference_are_refused():
    stats = ReferenceStats.from_texts(["a b c"], ["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="not in the reference.*'d'"):
        stats.score([["a", "d"]], topn=[2])
    with pytest.raises(ValueError, match="fewer than 3"):
        stats.score([["a", "b"]], topn=[3])


def test_disk_cache_is_reused_and_keyed_by_its_inputs(tmp_path):
    texts = {"one.txt": "a b a c " * 5, "two.txt": "c c b"}
    calls = []

    def books():
        calls.append(1)
        return iter(texts.items())

    first, built = ReferenceStats.cached(tmp_path, {"manifest": "x"}, books, ["a", "b", "c"])
    again, built_again = ReferenceStats.cached(tmp_path, {"manifest": "x"}, books, ["a", "b", "c"])
    assert built and not built_again and len(calls) == 1
    np.testing.assert_array_equal(np.asarray(first.ids), np.asarray(again.ids))
    assert again.names == ["one.txt", "two.txt"] and again.n_tokens == 23
    topics = [["a", "b", "c"]]
    in_memory = ReferenceStats.from_texts(list(texts.values()), ["a", "b", "c"]).score(topics, [3])
    for key, value in again.score(topics, [3]).items():
        np.testing.assert_array_equal(value, in_memory[key])
    _, rebuilt = ReferenceStats.cached(tmp_path, {"manifest": "y"}, books, ["a", "b", "c"])
    assert rebuilt and len(calls) == 2                  # another manifest: another key
    assert not list(tmp_path.glob(".*"))                # no temporary folder left behind

"""Gaussian LDA (experiments.topics.gaussian_lda): the rank-one Cholesky updates and the collapsed
conditional against slow, obviously-correct versions, and the sampler on planted topics."""
import numpy as np
import pytest
from scipy.stats import multivariate_t
from sklearn.metrics import adjusted_rand_score

from spahm.metrics import relabel
from experiments.topics.gaussian_lda import GaussianLDA, _TopicState


def _state(rng, K=3, D=4, T=30):
    X = rng.normal(size=(T, D))
    z = rng.integers(0, K, T)
    st = _TopicState(K, D, kappa0=0.1, nu0=D + 2.0, mu0=rng.normal(size=D), psi0=0.5 * np.eye(D))
    st.set_statistics(X, z)
    return st, X, z


def _niw_predictive(points, kappa0, nu0, mu0, psi0):
    """The textbook NIW posterior predictive (Murphy 2007, eq. 258) from the raw points."""
    n, D = points.shape
    xbar = points.mean(axis=0) if n else np.zeros(D)
    scatter = (points - xbar).T @ (points - xbar) if n else np.zeros((D, D))
    kappa, nu = kappa0 + n, nu0 + n
    mu = (kappa0 * mu0 + n * xbar) / kappa
    psi = psi0 + scatter + kappa0 * n / kappa * np.outer(xbar - mu0, xbar - mu0)
    df = nu - D + 1
    return multivariate_t(mu, psi * (kappa + 1) / (kappa * df), df=df)


@pytest.mark.parametrize("sign", [+1, -1])
def test_rank_one_update_equals_refactorisation(sign):
    rng = np.random.default_rng(0)
    st, X, z = _state(rng)
    k = 1
    x = X[z == k][0] if sign < 0 else rng.normal(size=4)
    st.move(k, x, sign)
    W, logdet, b, a = st.W[k].copy(), st.logdet[k], st.b[k].copy(), st.a[k]
    st.refactor(np.array([k]))
    np.testing.assert_allclose(W, st.W[k], atol=1e-12)
    np.testing.assert_allclose(np.triu(W, 1), 0.0)
    assert logdet == pytest.approx(st.logdet[k])
    np.testing.assert_allclose(b, st.b[k], atol=1e-12)
    assert a == pytest.approx(st.a[k])


def test_many_updates_keep_the_factor_exact():
    rng = np.random.default_rng(1)
    st, X, z = _state(rng, T=60)
    for t in range(60):                 # move every point to another topic, one at a time
        new = (z[t] + 1) % 3
        st.move(z[t], X[t], -1)
        st.move(new, X[t], +1)
        z[t] = new
    W = st.W.copy()
    st.set_statistics(X, z)
    np.testing.assert_allclose(W, st.W, atol=1e-9)


def test_log_predictive_is_the_niw_student_t():
    rng = np.random.default_rng(2)
    st, X, z = _state(rng)
    model = GaussianLDA(n_topics=3)
    model._state = st
    x = rng.normal(size=(2, 4))
    got = model.log_predictive(x)
    for k in range(3):
        ref = _niw_predictive(X[z == k], st.kappa0, st.nu0, st.mu0, st.psi0)
        np.testing.assert_allclose(got[:, k], ref.logpdf(x), rtol=1e-10)


def test_conditional_without_the_token_matches_brute_force():
    rng = np.random.default_rng(3)
    st, X, z = _state(rng)
    for t in (0, 5, 11):
        k = z[t]
        rest = np.delete(np.arange(len(X)), t)
        ref = _niw_predictive(X[rest][z[rest] == k], st.kappa0, st.nu0, st.mu0, st.psi0)
        assert st.log_density_without(k, X[t]) == pytest.approx(ref.logpdf(X[t]), rel=1e-10)


def test_float32_mirror_gives_the_same_densities():
    rng = np.random.default_rng(4)
    st, X, z = _state(rng)
    model = GaussianLDA(n_topics=3)
    model._state = st
    x = rng.normal(size=4)
    y = (x.astype(np.float32) @ st.WT32 - st.b32).reshape(3, 4)
    fast = st.a - st.e * np.log1p(st.s * (y.astype(float) ** 2).sum(1))
    np.testing.assert_allclose(fast, model.log_predictive(x)[0], rtol=1e-5)


def _planted(seed, K=4, D=5, n_docs=20, n_tokens=100, words_per_topic=50):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 6.0, size=(K, D))
    word_topic = np.repeat(np.arange(K), words_per_topic)
    emb = centres[word_topic] + rng.normal(0.0, 1.0, size=(len(word_topic), D))
    docs, truth = [], []
    for _ in range(n_docs):
        theta = rng.dirichlet(np.full(K, 0.5))
        zz = rng.choice(K, n_tokens, p=theta)
        docs.append(np.array([rng.choice(np.flatnonzero(word_topic == k)) for k in zz]))
        truth.append(zz)
    return docs, emb, np.concatenate(truth), centres


def test_sampler_recovers_planted_topics():
    # Collapsed Gibbs can stop in a local mode (two planted topics merged, one split); with
    # this seed it does not, and every planted topic is recovered exactly.
    docs, emb, truth, centres = _planted(0)
    model = GaussianLDA(n_topics=4, n_iter=15, random_state=1).fit(docs, emb)
    z = np.concatenate(model.assignments_)
    assert adjusted_rand_score(truth, z) > 0.95
    assert np.mean(relabel(z, truth) == truth) > 0.98
    d = np.linalg.norm(model.topic_means_[:, None] - centres[None], axis=-1)
    assert d.min(axis=0).max() < 1.0
    assert model.topic_counts_.sum() == len(z)
    assert model.doc_topic_counts_.sum(axis=1).tolist() == [len(x) for x in docs]
    assert model.changed_[-1] < 0.01


def test_sampler_is_deterministic_and_top_words_follow_topics():
    docs, emb, truth, centres = _planted(1, K=3, n_docs=6, n_tokens=60)
    a = GaussianLDA(n_topics=3, n_iter=6, random_state=2).fit(docs, emb)
    b = GaussianLDA(n_topics=3, n_iter=6, random_state=2).fit(docs, emb)
    assert adjusted_rand_score(truth, np.concatenate(a.assignments_)) > 0.95
    for x, y in zip(a.assignments_, b.assignments_):
        np.testing.assert_array_equal(x, y)
    vocab = [f"w{i}" for i in range(len(emb))]
    top = a.top_words(emb, vocab, topn=5)
    for k, words in enumerate(top):
        ids = [int(w[1:]) for w in words]
        nearest_centre = np.linalg.norm(emb[ids].mean(0) - centres, axis=1).argmin()
        assert np.linalg.norm(a.topic_means_[k] - centres[nearest_centre]) < 1.5
    mask = np.zeros(len(emb), dtype=bool)
    mask[:10] = True
    assert all(int(w[1:]) < 10 for t in a.top_words(emb, vocab, 3, candidates=mask) for w in t)


def test_validation_names_the_problem():
    emb = np.zeros((5, 2))
    with pytest.raises(ValueError, match="document 0"):
        GaussianLDA(n_topics=2).fit([np.array([0, 7])], emb)
    with pytest.raises(ValueError, match="nu0"):
        GaussianLDA(n_topics=2, nu0=0.5).fit([np.array([0, 1])], emb)
    with pytest.raises(ValueError, match="embeddings"):
        GaussianLDA(n_topics=2).fit([np.array([0])], np.array([np.nan, 1.0]))
    with pytest.raises(ValueError, match="token"):
        GaussianLDA(n_topics=2).fit([np.array([], dtype=int)], emb)


def test_top_words_by_count_are_the_most_assigned_words():
    docs, emb, _, _ = _planted(1, K=3, n_docs=6, n_tokens=60)
    m = GaussianLDA(n_topics=3, n_iter=3, random_state=2).fit(docs, emb)
    vocab = [f"w{i}" for i in range(len(emb))]
    top = m.top_words(emb, vocab, topn=2, by="count")
    for k, words in enumerate(top):
        assert int(words[0][1:]) == int(np.argmax(m.word_topic_counts_[:, k]))
    assert m.word_topic_counts_.sum() == sum(len(d) for d in docs)
    with pytest.raises(ValueError, match="by"):
        m.top_words(emb, vocab, by="nope")


def test_kmeans_initialisation_starts_from_word_clusters():
    docs, emb, truth, _ = _planted(0)
    m = GaussianLDA(n_topics=4, n_iter=0, init="kmeans", random_state=0).fit(docs, emb)
    assert adjusted_rand_score(truth, np.concatenate(m.assignments_)) > 0.95
    with pytest.raises(ValueError, match="init"):
        GaussianLDA(n_topics=2, init="bogus").fit(docs, emb)


def test_gibbs_sweeps_sample_the_exact_posterior_on_a_tiny_problem():
    """Enumerate all 2^4 topic assignments of 4 tokens, compute the exact collapsed posterior
    (Dirichlet-multinomial x NIW marginal likelihood, the latter as a product of sequential
    predictives), and compare with the frequencies of 6000 sweeps."""
    import itertools
    from math import lgamma

    from experiments.topics.gaussian_lda import _sweep

    rng = np.random.default_rng(0)
    K, D, alpha = 2, 2, 0.7
    X = np.array([[0.0, 0.2], [0.3, -0.1], [1.5, 1.2], [1.1, 1.6]])
    doc_of = np.array([0, 0, 1, 1])
    kappa0, nu0, mu0, psi0 = 0.5, D + 1.0, np.array([0.5, 0.5]), 0.3 * np.eye(D)

    def log_joint(z):
        lp = 0.0
        for d in (0, 1):
            n = np.bincount(z[doc_of == d], minlength=K)
            lp += sum(lgamma(c + alpha) - lgamma(alpha) for c in n) - lgamma(n.sum() + K * alpha)
        for k in range(K):
            pts = X[z == k]
            for i in range(len(pts)):
                lp += _niw_predictive(pts[:i], kappa0, nu0, mu0, psi0).logpdf(pts[i])
        return lp

    states = [np.array(s) for s in itertools.product(range(K), repeat=len(X))]
    logp = np.array([log_joint(s) for s in states])
    exact = np.exp(logp - logp.max())
    exact /= exact.sum()

    st = _TopicState(K, D, kappa0, nu0, mu0, psi0)
    z = np.zeros(len(X), dtype=np.int64)
    ndk = np.zeros((2, K))
    np.add.at(ndk, (doc_of, z), 1.0)
    st.set_statistics(X, z)
    counts = np.zeros(len(states))
    n_sweeps = 6000
    for _ in range(n_sweeps):
        _sweep(X, doc_of, z, ndk, st, alpha, rng.random(len(X)))
        counts[int("".join(map(str, z)), 2)] += 1
    empirical = counts / n_sweeps
    tv = 0.5 * np.abs(empirical - exact).sum()
    assert tv < 0.04


def _tiny_problem():
    K, D, alpha = 2, 2, 0.7
    X = np.array([[0.0, 0.2], [0.3, -0.1], [1.5, 1.2], [1.1, 1.6]])
    doc_of = np.array([0, 0, 1, 1])
    return K, D, alpha, X, doc_of, 0.5, D + 1.0, np.array([0.5, 0.5]), 0.3 * np.eye(D)


def _exact_log_joint(z, K, alpha, X, doc_of, kappa0, nu0, mu0, psi0):
    from math import lgamma

    lp = 0.0
    for d in np.unique(doc_of):
        n = np.bincount(z[doc_of == d], minlength=K)
        lp += (sum(lgamma(c + alpha) - lgamma(alpha) for c in n) - lgamma(n.sum() + K * alpha)
               + lgamma(K * alpha))
    for k in range(K):
        pts = X[z == k]
        for i in range(len(pts)):
            lp += _niw_predictive(pts[:i], kappa0, nu0, mu0, psi0).logpdf(pts[i])
    return lp


def test_log_joint_is_the_collapsed_marginal_likelihood():
    K, D, alpha, X, doc_of, kappa0, nu0, mu0, psi0 = _tiny_problem()
    for z in (np.array([0, 0, 1, 1]), np.array([1, 0, 1, 0]), np.array([1, 1, 1, 1])):
        st = _TopicState(K, D, kappa0, nu0, mu0, psi0)
        st.set_statistics(X, z)
        ndk = np.zeros((2, K))
        np.add.at(ndk, (doc_of, z), 1.0)
        assert st.log_joint(ndk, alpha) == pytest.approx(
            _exact_log_joint(z, K, alpha, X, doc_of, kappa0, nu0, mu0, psi0), rel=1e-10)


def test_blocked_sampler_samples_the_same_exact_posterior():
    """The uncollapsed blocked sampler's z-marginal is the collapsed posterior: enumerate it
    (4 tokens of 3 word types, one repeated in a document) and compare frequencies."""
    import itertools

    from experiments.topics.gaussian_lda import _blocked_sweep, _Groups

    K, D, alpha, _, _, kappa0, nu0, mu0, psi0 = _tiny_problem()
    emb = np.array([[0.0, 0.2], [0.3, -0.1], [1.5, 1.2]])
    words = np.array([0, 1, 2, 2])
    doc_of = np.array([0, 0, 1, 1])
    X = emb[words]
    states = [np.array(s) for s in itertools.product(range(K), repeat=len(X))]
    logp = np.array([_exact_log_joint(s, K, alpha, X, doc_of, kappa0, nu0, mu0, psi0)
                     for s in states])
    exact = np.exp(logp - logp.max())
    exact /= exact.sum()
    # tokens 2 and 3 are exchangeable, and so are the two labels (the blocked chain switches
    # labels slowly): compare on (z0, z1, sorted(z2, z3)) with token 0 labelled 0
    def key(s):
        t = s if s[0] == 0 else 1 - s
        return (t[0], t[1], min(t[2], t[3]), max(t[2], t[3]))
    keys = sorted({key(s) for s in states})
    exact_m = np.zeros(len(keys))
    for s, p in zip(states, exact):
        exact_m[keys.index(key(s))] += p

    rng = np.random.default_rng(0)
    groups = _Groups(words, doc_of, 2, len(emb))
    st = _TopicState(K, D, kappa0, nu0, mu0, psi0)
    z = np.zeros(len(X), dtype=np.int64)
    st.set_statistics(X, z)
    counts = np.zeros(len(keys))
    n_sweeps = 6000
    for _ in range(n_sweeps):
        z, _, expected = _blocked_sweep(emb, groups, z, st, alpha, rng)
        st.set_statistics(X, z)
        counts[keys.index(key(z))] += 1
        assert 0.0 <= expected <= len(z)
    tv = 0.5 * np.abs(counts / n_sweeps - exact_m).sum()
    assert tv < 0.03


def test_blocked_sampler_recovers_planted_topics_and_reports_diagnostics():
    docs, emb, truth, _ = _planted(0)
    model = GaussianLDA(n_topics=4, n_iter=15, sampler="blocked", random_state=1).fit(docs, emb)
    z = np.concatenate(model.assignments_)
    assert adjusted_rand_score(truth, z) > 0.95
    assert model.log_joint_.shape == (16,) and model.changed_.shape == (15,)
    assert model.log_joint_[-1] > model.log_joint_[0]
    assert model.doc_topic_counts_.sum(axis=1).tolist() == [len(x) for x in docs]
    with pytest.raises(ValueError, match="sampler"):
        GaussianLDA(n_topics=2, sampler="nope").fit(docs, emb)


@pytest.mark.parametrize("sampler", ["collapsed", "blocked"])
def test_checkpoint_resume_gives_the_uninterrupted_chain(tmp_path, sampler):
    docs, emb, _, _ = _planted(1, K=3, n_docs=6, n_tokens=60)
    full = GaussianLDA(n_topics=3, n_iter=6, sampler=sampler, random_state=4).fit(docs, emb)
    ckpt = tmp_path / "ckpt"
    cut = GaussianLDA(n_topics=3, n_iter=2, sampler=sampler, random_state=4,
                      checkpoint=ckpt).fit(docs, emb)                 # "interrupted" after 2
    assert cut.checkpoint_path_.parent == ckpt and cut.checkpoint_path_.is_file()
    resumed = GaussianLDA(n_topics=3, n_iter=6, sampler=sampler, random_state=4,
                          checkpoint=ckpt).fit(docs, emb)
    assert resumed.resumed_sweeps_ == 2
    for x, y in zip(full.assignments_, resumed.assignments_):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_allclose(full.log_joint_, resumed.log_joint_)
    np.testing.assert_allclose(full.changed_, resumed.changed_)
    # another seed (or data, or setting) is another chain: its own file, never this one's state
    other = GaussianLDA(n_topics=3, n_iter=1, sampler=sampler, random_state=5,
                        checkpoint=ckpt).fit(docs, emb)
    assert other.resumed_sweeps_ == 0 and other.checkpoint_path_ != cut.checkpoint_path_


def test_time_budget_stops_after_a_sweep_and_the_checkpoint_continues(tmp_path):
    docs, emb, _, _ = _planted(1, K=3, n_docs=6, n_tokens=60)
    full = GaussianLDA(n_topics=3, n_iter=4, sampler="blocked", random_state=4).fit(docs, emb)
    ckpt = tmp_path / "ckpt"
    cut = GaussianLDA(n_topics=3, n_iter=4, sampler="blocked", random_state=4, checkpoint=ckpt,
                      max_seconds=0.0).fit(docs, emb)
    assert cut.n_iter_ == 1 and len(cut.log_joint_) == 2
    rest = GaussianLDA(n_topics=3, n_iter=4, sampler="blocked", random_state=4,
                       checkpoint=ckpt).fit(docs, emb)
    assert rest.n_iter_ == 4 and rest.resumed_sweeps_ == 1
    np.testing.assert_allclose(rest.log_joint_, full.log_joint_)

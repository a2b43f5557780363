"""Gaussian LDA (Das, Zaheer and Dyer, ACL 2015): topics are Gaussians over word embeddings.

Generative model: topic k has ``(mu_k, Sigma_k) ~ NIW(mu0, kappa0, Psi0, nu0)``; document d has
topic proportions ``theta_d ~ Dirichlet(alpha)``; each token draws ``z ~ theta_d`` and its
word vector ``v ~ N(mu_z, Sigma_z)``.

Inference is collapsed Gibbs sampling: ``theta`` and the topic parameters are integrated out,
and each token's topic is resampled from

    p(z = k | rest) ∝ (n_dk + alpha) * t_{nu_k - D + 1}(v | mu_k, (kappa_k + 1) / (kappa_k (nu_k - D + 1)) Psi_k)

with the usual NIW posterior ``kappa_k = kappa0 + N_k``, ``nu_k = nu0 + N_k``,
``mu_k = (kappa0 mu0 + sum_k) / kappa_k``. Moving one vector ``v`` into topic k changes
``Psi_k`` by a rank-one term, ``Psi_k += kappa_k / (kappa_k + 1) (v - mu_k)(v - mu_k)^T`` (old
``kappa_k, mu_k``); moving it out subtracts ``kappa_k / (kappa_k - 1) (v - mu_k)(v - mu_k)^T``.
So, as Das et al., we keep a Cholesky factorisation per topic and update it in O(D^2) per move.

Implementation notes (ours):

- Per topic we keep the *inverse* Cholesky factor ``W_k = L_k^{-1}`` (``Psi_k = L_k L_k^T``)
  and ``log det Psi_k``. The Mahalanobis term of every topic is then ``|W_k v - W_k mu_k|^2``:
  one matrix-vector product with all K factors stacked as a (K D, D) matrix, so the density of
  a token under all topics is vectorised over topics.
- The rank-one update ``Psi + c u u^T = L (I + c p p^T) L^T`` with ``p = W u`` uses the closed
  form of the Cholesky factor of ``I + c p p^T`` (cumulative sums ``s_i = 1 + c sum_{j<i} p_j^2``)
  and of its inverse, so ``W' = diag(sqrt(s_i / s_{i+1})) W - diag(c p_i / sqrt(s_i s_{i+1})) C``,
  ``C`` the exclusive cumulative sum of the rows ``p_j W_j``: no loop over dimensions.
  ``log det`` changes by ``log s_D``.
- The densities are evaluated in float32 on a mirror of the factors laid out for one
  matrix-vector product (2.5 times faster; the relative error of a log density is ~1e-7);
  the factors themselves and all updates stay in float64.
- After each sweep every topic is refactorised from its sufficient statistics (count, sum,
  sum of outer products) so rounding in the rank-one updates cannot accumulate.

Two samplers of the same posterior (``sampler``):

- ``"collapsed"`` (Das et al.): the token-by-token collapsed Gibbs sampler above; exact, but a
  Python loop over tokens (about 50 microseconds per token at K = 150, D = 50).
- ``"blocked"``: the *uncollapsed blocked* Gibbs sampler of the same model. Given all topic
  assignments ``z`` it draws every topic's ``(mu_k, Sigma_k)`` from its NIW posterior and every
  document's ``theta_d`` from its Dirichlet posterior; given those, the tokens are independent,
  and all tokens of one word type share one vector, so the log density of every word type
  under every topic is one (V, K) matrix per sweep (V K D^2 flops in BLAS), and every token's
  topic is drawn from ``theta_d[k] N(v_w | mu_k, Sigma_k)`` at once. Each step samples an exact
  conditional, so the chain targets the same joint posterior (its z-marginal is the collapsed
  sampler's target, checked by enumeration in the tests); it is not an approximation of the
  collapsed sampler (no stale counts), only a different, vectorised, Markov chain.

Mixing diagnostics per sweep: tokens whose topic changed, the number of moves the sampler's
own conditionals expected (sum over tokens of one minus the probability of staying), and the
collapsed log joint ``log p(words, z)`` (theta and the topic Gaussians integrated out), the
same quantity for both samplers. With ``checkpoint`` the state after every sweep is saved, and
a later ``fit`` with the same arguments continues from it with the same random stream, so an
interrupted run resumed gives exactly the numbers of an uninterrupted one.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
from scipy.special import gammaln

from spahm._progress import progress
from spahm.models._niw import niw_log_marginal_from_logdet, sample_bartlett

#: A downdate whose new determinant ratio ``s_D`` falls below this is recomputed from the
#: sufficient statistics instead (guards the rank-one downdate against rounding).
_DOWNDATE_FLOOR = 1e-10
SAMPLERS = ("collapsed", "blocked")
#: Word types whose densities are computed in one BLAS product (bounds memory at V x 8 K D).
_TYPE_BLOCK = 4096


class GaussianLDA:
    """Gaussian LDA by collapsed Gibbs sampling.

    Parameters
    ----------
    n_topics : int, default 150
    alpha : float or None, default None
        Symmetric Dirichlet parameter of the document-topic proportions; ``None``:
        ``50 / n_topics`` capped at 1 (Griffiths and Steyvers' rule of thumb).
    kappa0 : float, default 0.1
        Prior pseudo-count of the topic means (Das et al. use 0.1).
    nu0 : float or None, default None
        Prior degrees of freedom of the topic covariances; ``None``: ``D + 2``, so that the
        prior mean covariance is ``Psi0``. Must exceed ``D - 1``.
    psi0_scale : float, default 0.5
        ``Psi0 = psi0_scale * v * I`` with ``v`` the mean per-dimension variance of the token
        vectors: a topic is a priori tighter than the whole vocabulary.
    mu0 : array (D,) or None, default None
        Prior mean; ``None``: mean of the token vectors.
    n_iter : int, default 100
        Gibbs sweeps over all tokens (Das et al. and the SPAHM paper: 100).
    init : {"random", "kmeans"}, default "random"
        Initial topic of every token: uniformly at random (the usual start of collapsed
        Gibbs), or the cluster of its word under k-means (k = n_topics) on the distinct words
        weighted by their token counts.
    sampler : {"collapsed", "blocked"}, default "collapsed"
        Token-by-token collapsed Gibbs (Das et al.) or the vectorised uncollapsed blocked
        Gibbs sampler of the same posterior (see the module docstring).
    checkpoint : path or None
        Folder of checkpoints: the state after every sweep is saved there in a file named by
        a hash of the data, the model's arguments and the seed (``checkpoint_path_``), and an
        existing one is resumed, so only the same chain ever continues.
    max_seconds : float or None
        Stop after the sweep that takes the fit past this wall time (``n_iter_`` tells how
        many sweeps were done; with a checkpoint a later fit continues).
    random_state : int or None

    Attributes
    ----------
    topic_means_ : ndarray (K, D)        posterior means ``mu_k``
    topic_covariances_ : ndarray (K, D, D) posterior mean covariances ``Psi_k / (nu_k - D - 1)``
    topic_counts_ : ndarray (K,)          tokens per topic
    doc_topic_counts_ : ndarray (n_docs, K)
    word_topic_counts_ : ndarray (V, K)    tokens of each word in each topic
    assignments_ : list of int arrays      topic of every token, per document
    changed_ : ndarray (n_iter,)           share of tokens that moved in each sweep
    expected_changed_ : ndarray (n_iter,)  share the sampler's conditionals expected to move
    log_joint_ : ndarray (n_iter + 1,)     collapsed log p(words, z), at the start and after
                                           each sweep
    sweep_times_ : ndarray (n_iter,)       wall time of each sweep in seconds
    resumed_sweeps_ : int                  sweeps taken from the checkpoint
    n_iter_ : int                          sweeps done (fewer than n_iter if max_seconds hit)

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> emb = np.vstack([rng.normal(-5, 1, (20, 2)), rng.normal(5, 1, (20, 2))])
    >>> docs = [rng.integers(0, 40, 50) for _ in range(4)]
    >>> model = GaussianLDA(n_topics=2, n_iter=5, random_state=0).fit(docs, emb)
    >>> np.sort(np.round(model.topic_means_[:, 0])).tolist()
    [-5.0, 5.0]
    """

    def __init__(self, n_topics=150, alpha=None, kappa0=0.1, nu0=None, psi0_scale=0.5,
                 mu0=None, n_iter=100, init="random", sampler="collapsed", checkpoint=None,
                 max_seconds=None, random_state=None):
        self.n_topics = n_topics
        self.alpha = alpha
        self.kappa0 = kappa0
        self.nu0 = nu0
        self.psi0_scale = psi0_scale
        self.mu0 = mu0
        self.n_iter = n_iter
        self.init = init
        self.sampler = sampler
        self.checkpoint = checkpoint
        self.max_seconds = max_seconds
        self.random_state = random_state

    # ------------------------------------------------------------------ validation
    def _validate(self, documents, embeddings):
        emb = np.asarray(embeddings, dtype=np.float64)
        if emb.ndim != 2 or emb.shape[0] == 0 or not np.isfinite(emb).all():
            raise ValueError(f"embeddings must be a finite 2-D array (V, D), got shape {emb.shape}")
        docs = [np.asarray(d, dtype=np.int64).ravel() for d in documents]
        if not docs or sum(len(d) for d in docs) == 0:
            raise ValueError("documents: expected at least one token")
        for i, d in enumerate(docs):
            if len(d) and (d.min() < 0 or d.max() >= emb.shape[0]):
                raise ValueError(f"document {i}: word ids must lie in [0, {emb.shape[0]})")
        if int(self.n_topics) < 1:
            raise ValueError(f"n_topics must be a positive integer, got {self.n_topics!r}")
        if int(self.n_iter) < 0:
            raise ValueError(f"n_iter must be >= 0, got {self.n_iter!r}")
        if self.kappa0 <= 0:
            raise ValueError(f"kappa0 must be positive, got {self.kappa0!r}")
        if self.psi0_scale <= 0:
            raise ValueError(f"psi0_scale must be positive, got {self.psi0_scale!r}")
        dim = emb.shape[1]
        nu0 = dim + 2.0 if self.nu0 is None else float(self.nu0)
        if nu0 <= dim - 1:
            raise ValueError(f"nu0 must exceed D - 1 = {dim - 1}, got {nu0}")
        if self.init not in ("random", "kmeans"):
            raise ValueError(f"init must be 'random' or 'kmeans', got {self.init!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {list(SAMPLERS)}, got {self.sampler!r}")
        if self.random_state is not None and not isinstance(self.random_state, (int, np.integer)):
            raise ValueError("random_state must be an int or None (a checkpoint stores the "
                             f"generator's state), got {type(self.random_state).__name__}")
        if self.alpha is not None and self.alpha <= 0:
            raise ValueError(f"alpha must be positive, got {self.alpha!r}")
        return docs, emb, nu0

    # ------------------------------------------------------------------ fitting
    def fit(self, documents, embeddings):
        """Sample topic assignments for the tokens of ``documents``.

        Parameters
        ----------
        documents : list of int arrays
            Word ids of each document's tokens.
        embeddings : ndarray (V, D)
            Word vectors; token ``w`` is the vector ``embeddings[w]``.

        Returns
        -------
        self
        """
        started = time.perf_counter()
        docs, emb, nu0 = self._validate(documents, embeddings)
        K = int(self.n_topics)
        rng = np.random.default_rng(self.random_state)
        words = np.concatenate(docs)
        doc_of = np.concatenate([np.full(len(d), i) for i, d in enumerate(docs)])
        X = emb[words]
        T, D = X.shape
        alpha = min(1.0, 50.0 / K) if self.alpha is None else float(self.alpha)
        mu0 = X.mean(axis=0) if self.mu0 is None else np.asarray(self.mu0, dtype=float)
        if mu0.shape != (D,):
            raise ValueError(f"mu0 must have shape ({D},), got {mu0.shape}")
        psi0 = float(self.psi0_scale) * float(X.var(axis=0).mean()) * np.eye(D)
        state = _TopicState(K, D, float(self.kappa0), nu0, mu0, psi0)
        groups = _Groups(words, doc_of, len(docs), emb.shape[0])

        fingerprint = self._fingerprint(words, doc_of, emb, K, alpha, nu0)
        self.checkpoint_path_ = (None if self.checkpoint is None or self.random_state is None
                                 else Path(self.checkpoint) / f"gaussian_lda_{fingerprint[:20]}.npz")
        saved = self._load_checkpoint(fingerprint)
        if saved is None:
            z = self._initial_topics(words, emb, K, rng)
            history = {"changed": [], "expected": [], "times": [], "log_joint": []}
            done = 0
        else:
            z, history, done, rng_state = saved
            rng.bit_generator.state = rng_state
        ndk = np.zeros((len(docs), K))
        np.add.at(ndk, (doc_of, z), 1.0)
        state.set_statistics(X, z)
        if not history["log_joint"]:
            history["log_joint"].append(state.log_joint(ndk, alpha))

        for sweep in progress(range(done, int(self.n_iter)), "Gaussian LDA sweeps"):
            start = time.perf_counter()
            z_old = z.copy()
            if self.sampler == "collapsed":
                _, expected = _sweep(X, doc_of, z, ndk, state, alpha, rng.random(T))
            else:
                z, ndk, expected = _blocked_sweep(emb, groups, z, state, alpha, rng)
            state.set_statistics(X, z)          # refactorise from the sufficient statistics
            history["times"].append(time.perf_counter() - start)
            history["changed"].append(np.count_nonzero(z_old != z) / T)
            history["expected"].append(expected / T)
            history["log_joint"].append(state.log_joint(ndk, alpha))
            self._save_checkpoint(fingerprint, z, history, sweep + 1, rng)
            if self.max_seconds is not None and time.perf_counter() - started > self.max_seconds:
                break

        self._state = state
        self.alpha_ = alpha
        self.topic_means_ = state.mu.copy()
        self.topic_counts_ = state.n.astype(int)
        self.topic_covariances_ = state.covariances()
        self.doc_topic_counts_ = ndk.astype(int)
        self.word_topic_counts_ = np.zeros((emb.shape[0], K), dtype=np.int64)
        np.add.at(self.word_topic_counts_, (words, z), 1)
        bounds = np.cumsum([0] + [len(d) for d in docs])
        self.assignments_ = [z[bounds[i]:bounds[i + 1]].copy() for i in range(len(docs))]
        self.changed_ = np.asarray(history["changed"])
        self.expected_changed_ = np.asarray(history["expected"])
        self.log_joint_ = np.asarray(history["log_joint"])
        self.sweep_times_ = np.asarray(history["times"])
        self.resumed_sweeps_ = done
        self.n_iter_ = len(history["changed"])
        return self

    # ------------------------------------------------------------------ checkpoints
    def _fingerprint(self, words, doc_of, emb, K, alpha, nu0):
        """What a checkpoint must match to be resumed: data, arguments and seed."""
        import hashlib

        h = hashlib.sha256()
        for a in (words, doc_of, emb):
            h.update(np.ascontiguousarray(a).tobytes())
        args = [K, alpha, float(self.kappa0), nu0, float(self.psi0_scale), self.init,
                self.sampler, None if self.random_state is None else int(self.random_state),
                None if self.mu0 is None else np.asarray(self.mu0, float).tolist()]
        h.update(json.dumps(args).encode())
        return h.hexdigest()

    def _load_checkpoint(self, fingerprint):
        path = self.checkpoint_path_
        if path is None or not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as f:
            if str(f["fingerprint"]) != fingerprint:
                raise ValueError(f"checkpoint {path} was written for other data or arguments; "
                                 "delete it or point 'checkpoint' elsewhere")
            done = int(f["sweeps"])
            if done > int(self.n_iter):
                raise ValueError(f"checkpoint {path} holds {done} sweeps, more than n_iter = "
                                 f"{self.n_iter}")
            history = {k: f[k].tolist() for k in ("changed", "expected", "times", "log_joint")}
            return (f["z"].astype(np.int64), history, done,
                    json.loads(str(f["rng_state"])))

    def _save_checkpoint(self, fingerprint, z, history, sweeps, rng):
        if self.checkpoint_path_ is None:
            return
        from experiments._runner import _atomic_write

        def write(tmp):
            with open(tmp, "wb") as fh:
                np.savez(fh, fingerprint=fingerprint, z=z.astype(np.int32), sweeps=sweeps,
                         rng_state=json.dumps(rng.bit_generator.state),
                         **{k: np.asarray(v, dtype=float) for k, v in history.items()})

        _atomic_write(self.checkpoint_path_, write)

    def _initial_topics(self, words, emb, K, rng):
        if self.init == "random":
            return rng.integers(0, K, size=len(words))
        from sklearn.cluster import KMeans

        present, inverse, counts = np.unique(words, return_inverse=True, return_counts=True)
        k = min(K, len(present))
        km = KMeans(n_clusters=k, n_init=1, random_state=int(rng.integers(2**31 - 1)))
        labels = km.fit_predict(emb[present], sample_weight=counts.astype(float))
        return labels[inverse].astype(np.int64)

    # ------------------------------------------------------------------ using the topics
    def log_predictive(self, vectors):
        """Log posterior-predictive (multivariate t) density of each vector under each topic.

        Returns
        -------
        ndarray (n, K)
        """
        st = self._state
        V = np.atleast_2d(np.asarray(vectors, dtype=float))
        out = np.empty((V.shape[0], st.K))
        for k in range(st.K):
            y = V @ st.W[k].T - st.b[k]
            out[:, k] = st.a[k] - st.e[k] * np.log1p(st.s[k] * np.einsum("nd,nd->n", y, y))
        return out

    def top_words(self, embeddings, vocabulary, topn=10, candidates=None, by="density"):
        """The ``topn`` top words of each topic.

        ``by="density"``: highest posterior-predictive density of the word's vector under the
        topic (the topic as a Gaussian in embedding space); ``by="count"``: most tokens of the
        word assigned to the topic (as for ordinary LDA). ``candidates`` (boolean mask over the
        vocabulary) restricts the words considered.
        """
        if by == "density":
            score = self.log_predictive(embeddings)
        elif by == "count":
            score = self.word_topic_counts_.astype(float)
        else:
            raise ValueError(f"by must be 'density' or 'count', got {by!r}")
        if candidates is not None:
            score = np.where(np.asarray(candidates)[:, None], score, -np.inf)
        order = np.argsort(-score, axis=0, kind="stable")[:topn].T
        return [[vocabulary[i] for i in row] for row in order]


class _TopicState:
    """NIW posterior of every topic: counts, sums, scatter, inverse Cholesky factors."""

    def __init__(self, K, D, kappa0, nu0, mu0, psi0):
        self.K, self.D = K, D
        self.kappa0, self.nu0, self.mu0, self.psi0 = kappa0, nu0, mu0, psi0
        self.n = np.zeros(K)
        self.sums = np.zeros((K, D))
        self.scatter = np.zeros((K, D, D))      # sum of v v^T
        self.mu = np.tile(mu0, (K, 1))
        self.W = np.zeros((K, D, D))            # inverse Cholesky factors of Psi_k
        self.b = np.zeros((K, D))               # W_k mu_k
        self.logdet = np.zeros(K)               # log det Psi_k
        self.a = np.zeros(K)                    # log-normaliser of the t density
        self.s = np.zeros(K)                    # kappa / (kappa + 1)
        self.e = np.zeros(K)                    # (df + D) / 2
        self.WT32 = np.zeros((D, K * D), dtype=np.float32)   # [W_1^T ... W_K^T], float32
        self.b32 = np.zeros(K * D, dtype=np.float32)         # [b_1 ... b_K], float32

    def _mirror(self, k):
        D = self.D
        self.WT32[:, k * D:(k + 1) * D] = self.W[k].T
        self.b32[k * D:(k + 1) * D] = self.b[k]

    def _t_scalars(self, n, logdet):
        """(log-normaliser, kappa / (kappa + 1), (df + D) / 2) of the t predictive."""
        D = self.D
        kappa = self.kappa0 + n
        df = self.nu0 + n - D + 1.0
        a = (math.lgamma(0.5 * (df + D)) - math.lgamma(0.5 * df)
             - 0.5 * D * math.log(df * math.pi)
             - 0.5 * (D * math.log((kappa + 1.0) / (kappa * df)) + logdet))
        return a, kappa / (kappa + 1.0), 0.5 * (df + D)

    def _scalars(self, k):
        self.a[k], self.s[k], self.e[k] = self._t_scalars(self.n[k], self.logdet[k])

    def log_density_without(self, k, x):
        """Log t predictive of ``x`` under topic ``k`` with ``x`` itself removed from it.

        Removing ``x`` gives ``Psi' = Psi - c u u^T`` with ``u = x - mu``,
        ``c = kappa / (kappa - 1)`` and ``x - mu' = c u``; with ``r = u^T Psi^{-1} u``,
        ``u^T Psi'^{-1} u = r / (1 - c r)`` and ``log det Psi' = log det Psi + log(1 - c r)``.
        """
        kappa = self.kappa0 + self.n[k]
        c = kappa / (kappa - 1.0)
        p = self.W[k] @ (x - self.mu[k])
        r = float(p @ p)
        shrink = 1.0 - c * r
        if shrink < _DOWNDATE_FLOOR:            # rounding: take the exact route
            saved = self._snapshot(k)
            self.move(k, x, -1)
            out = float(self.a[k] - self.e[k] * np.log1p(self.s[k] * (
                (self.W[k] @ (x - self.mu[k])) ** 2).sum()))
            self.move(k, x, +1)
            self._restore(k, saved)
            return out
        a, s, e = self._t_scalars(self.n[k] - 1.0, self.logdet[k] + math.log(shrink))
        q = c * c * r / shrink
        return a - e * math.log1p(s * q)

    def _snapshot(self, k):
        return (self.W[k].copy(), self.b[k].copy(), self.mu[k].copy(), self.logdet[k])

    def _restore(self, k, saved):
        self.W[k], self.b[k], self.mu[k], self.logdet[k] = saved
        self._scalars(k)
        self._mirror(k)

    def psi(self, k=None):
        ks = np.arange(self.K) if k is None else np.atleast_1d(k)
        kappa = self.kappa0 + self.n[ks]
        mu = (self.kappa0 * self.mu0 + self.sums[ks]) / kappa[:, None]
        outer_mu0 = self.kappa0 * np.outer(self.mu0, self.mu0)
        return (self.psi0 + self.scatter[ks] + outer_mu0
                - kappa[:, None, None] * mu[:, :, None] * mu[:, None, :]), mu

    def refactor(self, ks):
        psi, mu = self.psi(ks)
        psi = 0.5 * (psi + np.transpose(psi, (0, 2, 1)))
        L = np.linalg.cholesky(psi)
        W = np.tril(np.linalg.inv(L))
        self.W[ks] = W
        self.mu[ks] = mu
        self.b[ks] = np.einsum("kij,kj->ki", W, mu)
        self.logdet[ks] = 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
        for k in np.atleast_1d(ks):
            self._scalars(k)
            self._mirror(k)

    def set_statistics(self, X, z):
        self.n = np.bincount(z, minlength=self.K).astype(float)
        self.sums = np.zeros((self.K, self.D))
        np.add.at(self.sums, z, X)
        order = np.argsort(z, kind="stable")
        bounds = np.searchsorted(z[order], np.arange(self.K + 1))
        for k in range(self.K):
            Xk = X[order[bounds[k]:bounds[k + 1]]]
            self.scatter[k] = Xk.T @ Xk
        self.refactor(np.arange(self.K))

    def move(self, k, x, sign):
        """Add (``sign=+1``) or remove (``-1``) vector ``x`` from topic ``k``: rank-one update."""
        kappa = self.kappa0 + self.n[k]
        u = x - self.mu[k]
        c = kappa / (kappa + 1.0) if sign > 0 else -kappa / (kappa - 1.0)
        Wk = self.W[k]
        p = Wk @ u
        s_next = 1.0 + c * np.cumsum(p * p)     # s_1 .. s_D
        self.n[k] += sign
        self.sums[k] += sign * x
        self.scatter[k] += sign * np.outer(x, x)
        if s_next[-1] < _DOWNDATE_FLOOR:        # rounding: refactorise this topic exactly
            self.refactor(np.array([k]))
            return
        s_prev = np.empty_like(s_next)
        s_prev[0] = 1.0
        s_prev[1:] = s_next[:-1]
        C = np.cumsum(p[:, None] * Wk, axis=0)
        Wnew = Wk * np.sqrt(s_prev / s_next)[:, None]
        h = -c * p / np.sqrt(s_prev * s_next)
        Wnew[1:] += h[1:, None] * C[:-1]
        Wk[...] = Wnew
        self.logdet[k] += math.log(s_next[-1])
        self.mu[k] = (self.kappa0 * self.mu0 + self.sums[k]) / (self.kappa0 + self.n[k])
        self.b[k] = Wk @ self.mu[k]
        self._scalars(k)
        self._mirror(k)

    def log_joint(self, ndk, alpha):
        """Collapsed ``log p(words, z)``: Dirichlet-multinomial of every document's topic
        counts times every topic's NIW marginal likelihood of its vectors (Murphy 2007, eq. 266),
        from the current sufficient statistics (call after :meth:`set_statistics`)."""
        K, D = self.K, self.D
        n_doc = ndk.sum(axis=1)
        log_doc = (gammaln(K * alpha) - gammaln(n_doc + K * alpha)
                   + (gammaln(ndk + alpha) - gammaln(alpha)).sum(axis=1)).sum()
        log_topic = niw_log_marginal_from_logdet(self.n, D, self.kappa0, self.nu0,
                                                 np.linalg.slogdet(self.psi0)[1], self.logdet)
        return float(log_doc + log_topic.sum())

    def sample_gaussians(self, rng):
        """One draw of every topic's ``(mu_k, Sigma_k)`` from its NIW posterior, returned as
        ``(R, mu, logdet_precision)`` with ``Sigma_k^{-1} = R_k^T R_k``.

        Bartlett: ``Sigma^{-1} ~ Wishart(nu, Psi^{-1})`` is ``W^T A A^T W`` with ``W = L^{-1}``
        (``Psi = L L^T``) and ``A`` lower triangular, ``A_ii^2 ~ chi^2(nu - i + 1)``, ``A_ij ~
        N(0, 1)`` below the diagonal; then ``mu ~ N(m, Sigma / kappa)``, i.e.
        ``R (mu - m) = eps / sqrt(kappa)``.
        """
        K, D = self.K, self.D
        nu = self.nu0 + self.n
        A, diag = sample_bartlett(rng, nu, D)
        R = np.transpose(A, (0, 2, 1)) @ self.W                       # (K, D, D)
        eps = rng.standard_normal((K, D)) / np.sqrt(self.kappa0 + self.n)[:, None]
        mu = self.mu + np.linalg.solve(R, eps[:, :, None])[:, :, 0]
        logdet = 2.0 * (np.log(diag).sum(axis=1)
                        + np.log(np.abs(np.diagonal(self.W, axis1=1, axis2=2))).sum(axis=1))
        return R, mu, logdet

    def covariances(self):
        psi, _ = self.psi()
        dof = self.nu0 + self.n - self.D - 1.0
        return psi / np.maximum(dof, 1.0)[:, None, None]


def _sweep(X, doc_of, z, ndk, st, alpha, uniforms):
    """One collapsed Gibbs sweep over all tokens in order.

    Returns ``(moved, expected)``: tokens that changed topic, and the sum over tokens of the
    probability their conditional gave to leaving their topic.

    The token's own topic is evaluated *without* the token by the rank-one identities
    (Sherman-Morrison and the matrix determinant lemma) on scalars; the factors are only
    updated when the token actually moves.
    """
    K, D = st.K, st.D
    X32 = X.astype(np.float32)
    log_alpha_doc = None
    current_doc = -1
    moved = 0
    expected = 0.0
    for t in range(X.shape[0]):
        x = X[t]
        k_old = z[t]
        d = doc_of[t]
        if d != current_doc:
            current_doc = d
            log_alpha_doc = np.log(ndk[d] + alpha)
        ndk[d, k_old] -= 1.0
        log_alpha_doc[k_old] = math.log(ndk[d, k_old] + alpha)
        y = X32[t] @ st.WT32 - st.b32            # all topics at once: (K D,)
        y = y.reshape(K, D)
        q = np.einsum("kd,kd->k", y, y).astype(np.float64)
        logp = log_alpha_doc + st.a - st.e * np.log1p(st.s * q)
        logp[k_old] = log_alpha_doc[k_old] + st.log_density_without(k_old, x)
        prob = np.exp(logp - logp.max())
        cum = np.cumsum(prob)
        k_new = int(np.searchsorted(cum, uniforms[t] * cum[-1], side="right"))
        k_new = min(k_new, K - 1)
        expected += 1.0 - prob[k_old] / cum[-1]
        if k_new != k_old:
            st.move(k_old, x, -1)
            st.move(k_new, x, +1)
            z[t] = k_new
            moved += 1
        ndk[d, k_new] += 1.0
        log_alpha_doc[k_new] = math.log(ndk[d, k_new] + alpha)
    return moved, expected


class _Groups:
    """Tokens grouped by (document, word type): the unit the blocked sampler draws for."""

    def __init__(self, words, doc_of, n_docs, n_words):
        code = doc_of.astype(np.int64) * n_words + words
        self.pairs, self.of_token, self.sizes = np.unique(code, return_inverse=True,
                                                          return_counts=True)
        self.of_token = self.of_token.ravel()
        self.doc = self.pairs // n_words
        self.word = self.pairs % n_words
        self.doc_of = doc_of
        self.n_docs = n_docs
        # tokens ordered by group, so that a run of groups is a run of tokens
        self.order = np.argsort(self.of_token, kind="stable")
        self.bounds = np.concatenate([[0], np.cumsum(self.sizes)])


def word_log_densities(emb, R, mu, logdet):
    """``log N(v_w | mu_k, Sigma_k)`` of every row of ``emb`` under every topic, (V, K), with
    ``Sigma_k^{-1} = R_k^T R_k`` and ``logdet`` its log determinant: one BLAS product per
    block of word types."""
    K, D = mu.shape
    RT = np.transpose(R, (2, 0, 1)).reshape(D, K * D)               # [R_1^T ... R_K^T]
    Rmu = np.einsum("kij,kj->ki", R, mu).reshape(K * D)
    out = np.empty((emb.shape[0], K))
    const = 0.5 * logdet - 0.5 * D * math.log(2.0 * math.pi)
    for start in range(0, emb.shape[0], _TYPE_BLOCK):
        y = (emb[start:start + _TYPE_BLOCK] @ RT - Rmu).reshape(-1, K, D)
        out[start:start + _TYPE_BLOCK] = const - 0.5 * np.einsum("nkd,nkd->nk", y, y)
    return out


def _blocked_sweep(emb, groups, z, st, alpha, rng):
    """One uncollapsed blocked Gibbs sweep; ``st`` holds the statistics of ``z``.

    Draws every topic's Gaussian and every document's proportions from their posteriors, then
    every token's topic from ``theta_d[k] N(v | mu_k, Sigma_k)``. Returns the new ``z``, its
    document-topic counts and the expected number of moves.
    """
    K = st.K
    R, mu, logdet = st.sample_gaussians(rng)
    used, inverse = np.unique(groups.word, return_inverse=True)
    loglik = word_log_densities(emb[used], R, mu, logdet)           # word types in use only
    ndk = np.zeros((groups.n_docs, K))
    np.add.at(ndk, (groups.doc_of, z), 1.0)
    gam = rng.standard_gamma(ndk + alpha)                              # theta_d ~ Dirichlet
    with np.errstate(divide="ignore"):                                 # a gamma draw can be 0
        log_theta = np.log(gam) - np.log(gam.sum(axis=1, keepdims=True))
    u = rng.random(len(z))
    z_new = np.empty_like(z)
    expected = 0.0
    n_groups = len(groups.pairs)
    for g0 in range(0, n_groups, _TYPE_BLOCK):
        g1 = min(g0 + _TYPE_BLOCK, n_groups)
        logp = log_theta[groups.doc[g0:g1]] + loglik[inverse[g0:g1]]   # (groups, K)
        logp -= logp.max(axis=1, keepdims=True)
        prob = np.exp(logp)
        prob /= prob.sum(axis=1, keepdims=True)
        cum = np.cumsum(prob, axis=1)
        tokens = groups.order[groups.bounds[g0]:groups.bounds[g1]]
        local = groups.of_token[tokens] - g0
        k = (cum[local] <= (u[tokens] * cum[local, -1])[:, None]).sum(axis=1)
        z_new[tokens] = np.minimum(k, K - 1)
        expected += float((1.0 - prob[local, z[tokens]]).sum())
    ndk = np.zeros((groups.n_docs, K))
    np.add.at(ndk, (groups.doc_of, z_new), 1.0)
    return z_new, ndk, expected

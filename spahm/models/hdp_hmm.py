"""Sticky HDP-HMM with Gaussian emissions: the local model of the motion-capture application.

The model (Fox, Sudderth, Jordan & Willsky, "A sticky HDP-HMM with application to speaker
diarization", AoAS 2011), under the weak-limit approximation with ``K`` states:

    beta            ~ Dirichlet(gamma / K, ..., gamma / K)        global state weights
    pi_j            ~ Dirichlet(alpha * beta + kappa * e_j)      transition row j (sticky)
    pi_0            ~ Dirichlet(alpha * beta)                    initial state distribution
    (mu_k, Sigma_k) ~ Normal-inverse-Wishart(m0, n0, nu0, S)     emission of state k
    z_1 ~ pi_0,  z_t | z_{t-1} ~ pi_{z_{t-1}},  x_t | z_t ~ N(mu_{z_t}, Sigma_{z_t})

Several sequences share all parameters. Inference is the blocked Gibbs sampler of the weak
limit: (1) emissions, auxiliary table counts, ``beta`` and the transition rows given the
state sequences, all from their conjugate conditionals; (2) every state sequence jointly
given the parameters, by scaled forward filtering and backward sampling. Several restarts;
the sample with the highest data log likelihood ``log p(x | parameters)`` is kept.

The local atoms handed to SPAHM are the posterior means of the emission means of the states
that the kept sample uses (:func:`state_atoms`).

Vectorisation: every step is array algebra over states (and over sequences, which are padded
to a common length); only the forward filter and the backward sampler loop over time steps.
"""
from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans

from .._progress import progress
from .._validation import check_int
from scipy.special import logsumexp

from ..adapters import (Adapter, LocalAtoms, _jittered, _precision_cholesky, group_average,
                        register_adapter)

# Transition and initial probabilities are floored at this value before filtering, so the
# predictive probability of every state stays > 0 and the scaled forward recursion never
# divides by zero when a likelihood underflows; the effect on the log likelihood is < 1e-290.
_PROB_FLOOR = 1e-300
# Dirichlet draws use log-Gamma variates: a Gamma(a) draw with a << 1 underflows to 0 in
# double precision, its log does not. Shapes below this threshold use the boosting identity.
_SMALL_SHAPE = 1.0
_LOG_2PI = np.log(2.0 * np.pi)


# ----------------------------------------------------------------------------- pure pieces
def gaussian_log_likelihood(X, means, prec_chol):
    """Log density of every frame under every Gaussian state.

    Parameters
    ----------
    X : ndarray (T, D)
    means : ndarray (K, D)
    prec_chol : ndarray (K, D, D)
        Lower-triangular ``C_k`` with precision ``Sigma_k^{-1} = C_k C_k^T``.

    Returns
    -------
    ndarray (T, K)
    """
    X = np.asarray(X, dtype=float)
    # rows of (x_t - mu_k)^T C_k, as batched matrix products (K, T, D)
    y = X[None, :, :] @ prec_chol - (means[:, None, :] @ prec_chol)
    half_logdet = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
    quad = np.square(y).sum(axis=2).T
    return -0.5 * X.shape[1] * _LOG_2PI + half_logdet[None, :] - 0.5 * quad


def forward_filter(log_lik, log_pi0, trans, lengths):
    """Scaled forward filtering for a batch of padded sequences.

    Parameters
    ----------
    log_lik : ndarray (S, T, K)
        Log emission likelihoods; entries at ``t >= lengths[s]`` are ignored.
    log_pi0 : ndarray (K,)
        Log initial state distribution.
    trans : ndarray (K, K)
        Transition matrix, rows sum to one.
    lengths : ndarray (S,) of int

    Returns
    -------
    alpha : ndarray (S, T, K)
        Filtered distributions ``p(z_t | x_1..t)``.
    log_likelihood : ndarray (S,)
        ``log p(x_1..T_s)`` of every sequence.
    """
    log_lik = np.asarray(log_lik, dtype=float)
    S, T, K = log_lik.shape
    lengths = np.asarray(lengths)
    valid = np.arange(T)[None, :] < lengths[:, None]
    log_lik = np.where(valid[:, :, None], log_lik, 0.0)
    shift = log_lik.max(axis=2)
    lik = np.exp(log_lik - shift[:, :, None])
    trans = np.maximum(trans, _PROB_FLOOR)
    pred = np.broadcast_to(np.maximum(np.exp(log_pi0), _PROB_FLOOR), (S, K))
    alpha = np.empty((S, T, K))
    log_norm = np.empty((S, T))
    for t in range(T):
        a = pred * lik[:, t]
        c = a.sum(axis=1)
        alpha[:, t] = a / c[:, None]
        log_norm[:, t] = np.log(c)
        pred = alpha[:, t] @ trans
    return alpha, np.where(valid, log_norm + shift, 0.0).sum(axis=1)


def backward_sample(alpha, trans, lengths, rng):
    """Draw state sequences from ``p(z | x)`` given the filtered distributions.

    ``z_T ~ alpha_T`` and ``z_t | z_{t+1} ~ alpha_t * trans[:, z_{t+1}]``.

    Returns
    -------
    ndarray (S, T) of int, ``-1`` beyond each sequence's length.
    """
    S, T, K = alpha.shape
    lengths = np.asarray(lengths)
    trans = np.maximum(trans, _PROB_FLOOR)
    last = lengths - 1
    z = np.full((S, T), -1, dtype=np.int64)
    u = rng.random((S, T))
    rows = np.arange(S)
    for t in range(T - 1, -1, -1):
        active = t <= last
        p = alpha[:, t].copy()
        inner = t < last
        if inner.any():
            p[inner] *= trans[:, z[inner, t + 1]].T
        cdf = np.cumsum(p, axis=1)
        draw = (u[:, t, None] * cdf[:, -1:] > cdf).sum(axis=1)
        z[rows, t] = np.where(active, np.minimum(draw, K - 1), -1)
    return z


def sample_log_dirichlet(rng, concentration):
    """Log of Dirichlet draws, one per row of ``concentration`` (any shape, last axis = simplex).

    Uses ``log G = log G' + log(U) / a`` with ``G' ~ Gamma(a + 1)`` for small shapes ``a``, so
    components with tiny concentration get a very negative log, never ``-inf``.
    """
    a = np.asarray(concentration, dtype=float)
    small = a < _SMALL_SHAPE
    log_g = np.log(rng.gamma(np.where(small, a + 1.0, a)))
    log_u = np.log(rng.random(a.shape))
    log_g = np.where(small, log_g + log_u / a, log_g)
    top = log_g.max(axis=-1, keepdims=True)
    return log_g - top - np.log(np.exp(log_g - top).sum(axis=-1, keepdims=True))


def sample_table_counts(rng, counts, concentration):
    """Auxiliary table counts of the Chinese restaurant franchise, vectorised over cells.

    ``m = sum_{i=0}^{n-1} Bernoulli(c / (i + c))`` for every cell with ``n`` customers and
    concentration ``c`` (the number of tables ``n`` customers occupy in a CRP with parameter c).
    """
    n = np.asarray(counts, dtype=np.int64).ravel()
    c = np.asarray(concentration, dtype=float).ravel()
    cell = np.repeat(np.arange(n.size), n)
    seat = np.arange(cell.size) - np.repeat(np.cumsum(n) - n, n)
    opens = rng.random(cell.size) < c[cell] / (seat + c[cell])
    tables = np.bincount(cell, weights=opens, minlength=n.size).astype(np.int64)
    return tables.reshape(np.shape(counts))


def niw_posterior(prior, n, sum_x, sum_xx):
    """Normal-inverse-Wishart posterior parameters of every state, from sufficient statistics.

    ``prior`` is ``(m0, n0, nu0, S0)``; ``n`` (K,), ``sum_x`` (K, D), ``sum_xx`` (K, D, D).
    Returns ``(m_n, n_n, nu_n, S_n)`` with leading axis K.
    """
    m0, n0, nu0, S0 = prior
    n_n = n0 + n
    nu_n = nu0 + n
    m_n = (n0 * m0[None, :] + sum_x) / n_n[:, None]
    S_n = (S0[None] + sum_xx + n0 * np.outer(m0, m0)[None]
           - n_n[:, None, None] * m_n[:, :, None] * m_n[:, None, :])
    return m_n, n_n, nu_n, 0.5 * (S_n + np.swapaxes(S_n, 1, 2))


def sample_niw(rng, m_n, n_n, nu_n, S_n):
    """Draw ``(mu_k, C_k)`` from NIW posteriors; ``C_k C_k^T = Sigma_k^{-1}`` (Bartlett)."""
    K, D = m_n.shape
    L = np.linalg.cholesky(np.linalg.inv(S_n))  # Wishart scale of the precision
    A = np.tril(rng.standard_normal((K, D, D)), k=-1)
    diag = np.sqrt(rng.chisquare(nu_n[:, None] - np.arange(D)[None, :]))
    A[:, np.arange(D), np.arange(D)] = diag
    C = L @ A
    eps = rng.standard_normal((K, D, 1))
    mu = m_n + np.linalg.solve(np.swapaxes(C, 1, 2), eps)[..., 0] / np.sqrt(n_n)[:, None]
    return mu, C


def sufficient_statistics(X, z, K):
    """Counts, sums and sums of outer products of the frames of every state."""
    onehot = np.zeros((X.shape[0], K))
    onehot[np.arange(X.shape[0]), z] = 1.0
    masked = onehot.T[:, :, None] * X[None, :, :]  # (K, T, D): frames of state k, others 0
    return onehot.sum(axis=0), onehot.T @ X, np.swapaxes(masked, 1, 2) @ X


# ----------------------------------------------------------------------------- the sampler
class StickyHDPHMM:
    """Sticky HDP-HMM with Gaussian emissions, fitted by weak-limit blocked Gibbs sampling.

    Parameters
    ----------
    n_states : int, default 25
        Truncation ``K`` of the weak-limit approximation.
    gamma : float, default 5.0
        Concentration of the top-level Dirichlet over states.
    alpha : float, default 0.5
        Transition concentration (``eta`` in the SPAHM paper).
    kappa : float, default 10.0
        Sticky self-transition weight.
    n0 : float, default 1.0
        Pseudo-count of the emission mean prior (prior mean: the mean of the data).
    prior_scale : float, default 1.0
        ``S = prior_scale * I``, scale matrix of the inverse-Wishart prior.
    prior_dof : float or None, default None
        Degrees of freedom ``nu0`` of the inverse-Wishart; ``None`` uses ``D + 2``
        (prior mean of ``Sigma`` equal to ``S``).
    n_iter : int, default 100
        Gibbs sweeps per restart.
    n_burnin : int or None, default None
        Sweeps ignored when choosing the kept sample; ``None`` uses ``n_iter // 2``.
    n_restarts : int, default 3
        Independent chains; the sample with the best log likelihood over all chains is kept.
    init : {"kmeans", "random"}, default "kmeans"
        First state sequence: k-means on the frames, or random blocks of frames.
    n_init_states : int, default 10
        Number of states in the first state sequence (at most ``n_states``).
    random_state : int, numpy Generator or None

    Attributes
    ----------
    state_sequences_ : list of int ndarray
        Kept state sequence of every input sequence, states relabelled ``0..n_states_-1`` by
        decreasing number of frames.
    means_ : ndarray (n_states_, D)
        Posterior means of the emission means of the used states (the local atoms).
    covariances_ : ndarray (n_states_, D, D)
        Posterior means of the emission covariances.
    state_counts_ : ndarray (n_states_,)
    transmat_ : ndarray (n_states_, n_states_)
        Kept transition matrix restricted to the used states, rows renormalised.
    log_likelihood_ : float
        ``log p(x | parameters)`` of the kept sample.
    log_likelihood_trace_ : ndarray (n_restarts, n_iter)
    best_restart_ : int
    n_states_ : int

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-5, 1, (40, 2)), rng.normal(5, 1, (40, 2))])
    >>> StickyHDPHMM(n_iter=20, n_restarts=1, random_state=0).fit([X]).n_states_
    2
    """

    def __init__(self, n_states=25, gamma=5.0, alpha=0.5, kappa=10.0, n0=1.0, prior_scale=1.0,
                 prior_dof=None, n_iter=100, n_burnin=None, n_restarts=3, init="kmeans",
                 n_init_states=10, random_state=None):
        self.n_states = n_states
        self.gamma = gamma
        self.alpha = alpha
        self.kappa = kappa
        self.n0 = n0
        self.prior_scale = prior_scale
        self.prior_dof = prior_dof
        self.n_iter = n_iter
        self.n_burnin = n_burnin
        self.n_restarts = n_restarts
        self.init = init
        self.n_init_states = n_init_states
        self.random_state = random_state

    # -- validation
    def _check(self, sequences):
        if isinstance(sequences, np.ndarray) and sequences.ndim == 2:
            sequences = [sequences]
        seqs = [np.asarray(x, dtype=float) for x in sequences]
        if not seqs:
            raise ValueError("sequences is empty: expected a list of arrays of shape (T_s, D)")
        for s, x in enumerate(seqs):
            if x.ndim != 2 or x.shape[0] < 2:
                raise ValueError(f"sequence {s}: expected shape (T_s >= 2, D), got {x.shape}")
            if x.shape[1] != seqs[0].shape[1]:
                raise ValueError(
                    f"sequence {s} has D={x.shape[1]}, sequence 0 has D={seqs[0].shape[1]}")
            if not np.all(np.isfinite(x)):
                raise ValueError(f"sequence {s} holds NaN or inf")
        K = check_int(self.n_states, "n_states", 2)
        for name in ("gamma", "alpha", "n0", "prior_scale"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be positive and finite, got {v!r}")
        if not (np.isfinite(self.kappa) and self.kappa >= 0):
            raise ValueError(f"kappa must be >= 0, got {self.kappa!r}")
        D = seqs[0].shape[1]
        nu0 = D + 2.0 if self.prior_dof is None else float(self.prior_dof)
        if not nu0 > D - 1:
            raise ValueError(f"prior_dof must exceed D - 1 = {D - 1}, got {self.prior_dof!r}")
        n_iter = check_int(self.n_iter, "n_iter", 1)
        burn = n_iter // 2 if self.n_burnin is None else check_int(self.n_burnin, "n_burnin", 0)
        if burn >= n_iter:
            raise ValueError(f"n_burnin must be < n_iter={n_iter}, got {burn}")
        check_int(self.n_restarts, "n_restarts", 1)
        if self.init not in ("kmeans", "random"):
            raise ValueError(f"init must be 'kmeans' or 'random', got {self.init!r}")
        check_int(self.n_init_states, "n_init_states", 1)
        return seqs, K, nu0, burn

    # -- fitting
    def fit(self, sequences, y=None):
        """Fit on a list of sequences, each an array of shape (T_s, D). Returns ``self``."""
        seqs, K, nu0, burn = self._check(sequences)
        X = np.concatenate(seqs)
        D = X.shape[1]
        lengths = np.array([x.shape[0] for x in seqs])
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        prior = (X.mean(axis=0), float(self.n0), nu0, float(self.prior_scale) * np.eye(D))
        # padded view for the batched filter: frame index of (s, t), -1 beyond the end
        T = lengths.max()
        pad_index = np.where(np.arange(T)[None, :] < lengths[:, None],
                             starts[:, None] + np.arange(T)[None, :], -1)
        valid = pad_index >= 0
        rng = np.random.default_rng(self.random_state)
        best = None
        traces = np.empty((self.n_restarts, self.n_iter))
        for r in range(self.n_restarts):
            z = self._initial_states(rng, seqs, K)
            log_beta = np.full(K, -np.log(K))
            for it in progress(range(self.n_iter), f"HDP-HMM restart {r + 1}/{self.n_restarts}"):
                mu, C, log_beta, log_pi0, trans = self._sample_parameters(
                    rng, X, z, starts, lengths, prior, log_beta)
                log_lik = gaussian_log_likelihood(X, mu, C)[np.maximum(pad_index, 0)]
                alpha, ll = forward_filter(log_lik, log_pi0, trans, lengths)
                z = backward_sample(alpha, trans, lengths, rng)[valid]
                traces[r, it] = ll.sum()
                if it >= burn and (best is None or traces[r, it] > best[0]):
                    best = (traces[r, it], z.copy(), trans, r)
        self.log_likelihood_trace_ = traces
        self._store(best, X, lengths, prior, K)
        return self

    def _initial_states(self, rng, seqs, K):
        k0 = min(self.n_init_states, K)
        X = np.concatenate(seqs)
        if self.init == "kmeans":
            km = KMeans(n_clusters=min(k0, X.shape[0]), n_init=1,
                        random_state=int(rng.integers(2**31 - 1))).fit(X)
            return km.labels_.astype(np.int64)
        # random blocks: segment lengths ~ 1 + Poisson(20), labels uniform over k0 states
        sizes = 1 + rng.poisson(20, size=X.shape[0])
        labels = rng.integers(k0, size=X.shape[0])
        return np.repeat(labels, sizes)[: X.shape[0]].astype(np.int64)

    def _sample_parameters(self, rng, X, z, starts, lengths, prior, log_beta):
        """One Gibbs half-sweep: everything but the state sequences, given ``z`` (concatenated)
        and the previous ``beta`` (which sets the concentrations of the table counts)."""
        K = log_beta.shape[0]
        n, sx, sxx = sufficient_statistics(X, z, K)
        mu, C = sample_niw(rng, *niw_posterior(prior, n, sx, sxx))
        # transitions inside sequences (not across their boundaries) and first states
        ends = np.cumsum(lengths)
        inside = np.ones(X.shape[0] - 1, dtype=bool)
        inside[ends[:-1] - 1] = False
        prev, nxt = z[:-1][inside], z[1:][inside]
        counts = np.zeros((K + 1, K), dtype=np.int64)
        counts[:K] = np.bincount(prev * K + nxt, minlength=K * K).reshape(K, K)
        counts[K] = np.bincount(z[starts], minlength=K)
        beta = np.exp(log_beta)
        sticky = np.vstack([self.kappa * np.eye(K), np.zeros((1, K))])
        conc = self.alpha * beta[None, :] + sticky
        m = sample_table_counts(rng, counts, conc)
        # sticky override: tables of a self-transition that came from kappa, not from beta
        rho = self.kappa / (self.alpha + self.kappa)
        diag = np.arange(K)
        w = rng.binomial(m[diag, diag], rho / (rho + beta * (1.0 - rho)))
        m_bar = m.copy()
        m_bar[diag, diag] -= w
        log_beta = sample_log_dirichlet(rng, self.gamma / K + m_bar.sum(axis=0))
        beta = np.exp(log_beta)
        log_rows = sample_log_dirichlet(rng, self.alpha * beta[None, :] + sticky + counts)
        return mu, C, log_beta, log_rows[K], np.exp(log_rows[:K])

    def _store(self, best, X, lengths, prior, K):
        ll, z, trans, r = best
        n, sx, sxx = sufficient_statistics(X, z, K)
        used = np.flatnonzero(n > 0)
        used = used[np.argsort(-n[used], kind="stable")]
        new_label = np.full(K, -1)
        new_label[used] = np.arange(used.size)
        m_n, n_n, nu_n, S_n = niw_posterior(prior, n[used], sx[used], sxx[used])
        D = X.shape[1]
        self.means_ = m_n
        # inverse-Wishart mean S / (nu - D - 1) exists for nu > D + 1; else the mode-like S / nu
        denom = np.where(nu_n > D + 1, nu_n - D - 1.0, nu_n)
        self.covariances_ = S_n / denom[:, None, None]
        self.state_counts_ = n[used].astype(np.int64)
        sub = trans[np.ix_(used, used)]
        self.transmat_ = sub / sub.sum(axis=1, keepdims=True)
        relabelled = new_label[z]
        self.state_sequences_ = np.split(relabelled, np.cumsum(lengths)[:-1])
        self.log_likelihood_ = float(ll)
        self.best_restart_ = int(r)
        self.n_states_ = int(used.size)


def state_atoms(model):
    """Local atoms of a fitted :class:`StickyHDPHMM`: posterior emission means of used states."""
    return np.asarray(model.means_)


def map_states(state_sequences, mapping):
    """Relabel local state sequences through ``mapping`` (local state -> global state)."""
    mapping = np.asarray(mapping)
    return [mapping[np.asarray(z)] for z in state_sequences]


# ---------------------------------------------------------------------------- HDP-HMM
class FusedGaussianHMM:
    """Global HMM from fused HDP-HMM states: Gaussian emissions, fused transition matrix.

    ``transmat_`` adds up every silo's transitions between its states, mapped to global states
    and weighted by the states' frame counts; ``predict`` is the Viterbi path.

    Attributes
    ----------
    means_ : ndarray (L, D)
    covariances_ : ndarray (L, D, D)
        Frame-weighted average of the matched local covariances.
    transmat_ : ndarray (L, L)
    startprob_ : ndarray (L,)
        Proportional to the states' total frame counts.
    popularity_ : ndarray (L,)
    """

    def __init__(self, means, covariances, transmat, startprob, popularity):
        self.means_ = np.asarray(means, dtype=float)
        self.covariances_ = np.asarray(covariances, dtype=float)
        self.transmat_ = np.asarray(transmat, dtype=float)
        self.startprob_ = np.asarray(startprob, dtype=float)
        self.popularity_ = np.asarray(popularity)
        self.n_states_ = len(self.means_)
        self._prec_chol = _precision_cholesky(self.covariances_)

    def score_samples(self, X):
        """Emission log density of every frame under every global state, (T, L)."""
        X = np.asarray(X, dtype=float)
        y = X[None] @ self._prec_chol - (self.means_[:, None, :] @ self._prec_chol)
        half_logdet = np.log(np.diagonal(self._prec_chol, axis1=1, axis2=2)).sum(axis=1)
        D = X.shape[1]
        return (-0.5 * (y**2).sum(axis=2) + half_logdet[:, None] - 0.5 * D * np.log(2 * np.pi)).T

    def predict(self, X):
        """Most likely global state sequence of one sequence X (T, D) (Viterbi)."""
        with np.errstate(divide="ignore"):
            log_a, log_pi = np.log(self.transmat_), np.log(self.startprob_)
        emit = self.score_samples(X)
        T = len(emit)
        back = np.zeros((T, self.n_states_), dtype=np.intp)
        delta = log_pi + emit[0]
        for t in range(1, T):  # the recursion is sequential in time; states are vectorised
            scores = delta[:, None] + log_a
            back[t] = scores.argmax(axis=0)
            delta = scores[back[t], np.arange(self.n_states_)] + emit[t]
        path = np.empty(T, dtype=np.intp)
        path[-1] = int(delta.argmax())
        for t in range(T - 1, 0, -1):
            path[t - 1] = back[t, path[t]]
        return path

    def log_likelihood(self, X):
        """``log p(X)`` of one sequence under the fused HMM (forward algorithm)."""
        with np.errstate(divide="ignore"):
            log_a, log_pi = np.log(self.transmat_), np.log(self.startprob_)
        emit = self.score_samples(X)
        alpha = log_pi + emit[0]
        for t in range(1, len(emit)):
            alpha = logsumexp(alpha[:, None] + log_a, axis=0) + emit[t]
        return float(logsumexp(alpha))


class HDPHMMAdapter(Adapter):
    name = "spahm StickyHDPHMM"

    def matches(self, model):
        return isinstance(model, StickyHDPHMM)

    def extract(self, model, data=None):
        means = np.asarray(model.means_, dtype=float)
        cov = np.asarray(model.covariances_, dtype=float)
        counts = np.asarray(model.state_counts_, dtype=float)
        variances = np.diagonal(cov, axis1=1, axis2=2) / np.maximum(counts, 1.0)[:, None]
        return LocalAtoms(means, variances, {"covariances": cov, "counts": counts,
                                             "transmat": np.asarray(model.transmat_, dtype=float)})

    def build(self, result, locals_, models):
        L = result.n_global_atoms
        counts = [x.extra["counts"] for x in locals_]
        cov = _jittered(group_average([x.extra["covariances"] for x in locals_],
                                      result.assignments, L, counts))
        trans = np.zeros((L, L))
        frames = np.zeros(L)
        for x, a in zip(locals_, result.assignments):
            np.add.at(trans, (a[:, None], a[None, :]), x.extra["counts"][:, None] * x.extra["transmat"])
            np.add.at(frames, a, x.extra["counts"])
        empty = trans.sum(axis=1) == 0
        trans[empty] = 1.0
        trans /= trans.sum(axis=1, keepdims=True)
        return FusedGaussianHMM(result.global_atoms, cov, trans, frames / frames.sum(),
                                result.popularity)


register_adapter(HDPHMMAdapter(), first=False)

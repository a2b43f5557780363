"""Sticky HDP-HMM with Gaussian emissions: the local model of the motion-capture application.

The model (Fox, Sudderth, Jordan & Willsky, "A sticky HDP-HMM with application to speaker
diarization", AoAS 2011), under the weak-limit approximation with ``K`` states:

    beta            ~ Dirichlet(gamma / K, ..., gamma / K)        global state weights
    pi_j            ~ Dirichlet(alpha * beta + kappa * e_j)      transition row j (sticky)
    pi_0            ~ Dirichlet(alpha * beta)                    initial state distribution
    (mu_k, Sigma_k) ~ Normal-inverse-Wishart(m0, n0, nu0, S)     emission of state k
    z_1 ~ pi_0,  z_t | z_{t-1} ~ pi_{z_{t-1}},  x_t | z_t ~ N(mu_{z_t}, Sigma_{z_t})

Several sequences share all parameters. The emission prior is on the data's scale
(:func:`emission_prior`): ``m0`` the mean of the frames, ``nu0 = D + 2`` and ``S`` a multiple
of the frames' empirical covariance (Fox et al.'s choice), so ``E[Sigma] = S``.

Inference, per sweep:

1. the blocked Gibbs step of the weak limit: emissions, auxiliary table counts, ``beta`` and
   the transition rows given the state sequences, all from their conjugate conditionals
   (unused states get emissions drawn from the prior), then every state sequence jointly
   given the parameters, by scaled forward filtering and backward sampling;
2. a merge move and a split move (``StickyHDPHMM._merge``, ``StickyHDPHMM._split``) scored
   by the collapsed ``log p(x, z | beta)`` (emission parameters and transition rows
   integrated out, :func:`merge_gains`). New states also open in step 1 when a prior draw
   explains frames better than the used states; states close when a merge is accepted. The
   merge and split proposals are not matched by their exact reverse proposals, so the chain
   is a stochastic search around the posterior's modes rather than an exactly reversible
   sampler.

Several chains run as one batch; the sample with the highest collapsed ``log p(x, z | beta)``
after burn-in over all chains is kept. The local atoms handed to SPAHM are the posterior
means of the emission means of the states the kept sample uses, read by
:class:`HDPHMMAdapter` (the one extraction path).

Vectorisation: every step is array algebra over states, sequences and chains (sequences
padded to a common length, chains stacked); only the forward filter and the backward sampler
loop over time steps, one batched step for all sequences of all chains.
"""
from __future__ import annotations

import numpy as np
from scipy.special import gammaln, logsumexp, multigammaln
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.utils.validation import check_array, check_is_fitted

from .._progress import progress
from .._validation import check_int

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
# The empirical-covariance prior scale gets this fraction of every feature's variance added to
# its diagonal, so collinear features do not make it singular.
_COV_JITTER = 1e-6
# Smallest value used where a log of zero would appear (unused states' weights).
# Split moves consider states with at least this many frames, cut by this many Lloyd steps.
_MIN_SPLIT_FRAMES = 4
# Merge moves screen every pair of used states on the emission term and score this many in full.
_MERGE_CANDIDATES = 5
_SPLIT_LLOYD_STEPS = 5
_TINY = 1e-300


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
    K, D = means.shape
    # (x_t - mu_k)^T C_k for all k at once: one (T, D) x (D, K*D) product
    y = (X @ np.swapaxes(prec_chol, 0, 1).reshape(D, K * D)).reshape(X.shape[0], K, D)
    y -= np.einsum("kd,kde->ke", means, prec_chol)[None]
    half_logdet = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
    quad = np.square(y, out=y).sum(axis=2)
    return -0.5 * D * _LOG_2PI + half_logdet[None, :] - 0.5 * quad


def forward_filter(log_lik, log_pi0, trans, lengths):
    """Scaled forward filtering for a batch of padded sequences.

    Parameters
    ----------
    log_lik : ndarray (S, T, K)
        Log emission likelihoods; entries at ``t >= lengths[s]`` are ignored.
    log_pi0 : ndarray (K,) or (S, K)
        Log initial state distribution, shared or one per sequence.
    trans : ndarray (K, K) or (S, K, K)
        Transition matrix (rows sum to one), shared or one per sequence (for example one
        per Gibbs chain when several chains are filtered as one batch).
    lengths : ndarray (S,) of int

    Returns
    -------
    alpha : ndarray (S, T, K)
        Filtered distributions ``p(z_t | x_1..t)``. Beyond a sequence's end the frames count as
        observed with likelihood one, so ``alpha`` there is the predictive distribution of the
        chain; :func:`backward_sample` relies on this.
    log_likelihood : ndarray (S,)
        ``log p(x_1..T_s)`` of every sequence.
    """
    log_lik = np.asarray(log_lik, dtype=float)
    S, T, K = log_lik.shape
    lengths = np.asarray(lengths)
    valid = np.arange(T)[None, :] < lengths[:, None]
    log_lik = np.where(valid[:, :, None], log_lik, 0.0)
    shift = log_lik.max(axis=2)
    # time-major, so every step reads and writes contiguous (S, K) blocks
    lik = np.exp(np.swapaxes(log_lik, 0, 1) - shift.T[:, :, None])
    trans = np.maximum(trans, _PROB_FLOOR)
    per_sequence = trans.ndim == 3
    pred = np.array(np.broadcast_to(np.maximum(np.exp(log_pi0), _PROB_FLOOR), (S, K)))
    alpha = np.empty((T, S, K))
    norm = np.empty((T, S, 1))
    multiply, reduce, divide, matmul = np.multiply, np.add.reduce, np.divide, np.matmul
    if per_sequence:
        pred = pred[:, None, :]  # (S, 1, K) rows for the batched product with (S, K, K)
        lik = lik[:, :, None, :]
        alpha = alpha[:, :, None, :]
        norm = norm[:, :, :, None]
    for t in range(T):  # ufunc methods directly: call overhead dominates this loop
        a = multiply(pred, lik[t], out=alpha[t])
        c = reduce(a, axis=-1, keepdims=True, out=norm[t])
        divide(a, c, out=a)
        pred = matmul(a, trans)
    alpha = alpha.reshape(T, S, K)
    norm = norm.reshape(T, S)
    log_norm = np.log(norm).T + shift
    return np.swapaxes(alpha, 0, 1), np.where(valid, log_norm, 0.0).sum(axis=1)


def backward_sample(alpha, trans, lengths, rng):
    """Draw state sequences from ``p(z | x)`` given the filtered distributions.

    ``z_T ~ alpha_T`` and ``z_t | z_{t+1} ~ alpha_t * trans[:, z_{t+1}]``. All sequences are
    sampled from the padded end: ``alpha`` beyond a sequence's end must be the chain's
    predictive distribution (as :func:`forward_filter` returns it), so the frames after the
    end are draws from the prior continuation and the frames before it exact posterior draws.

    Parameters
    ----------
    alpha : ndarray (S, T, K)
    trans : ndarray (K, K) or (S, K, K)
    lengths : ndarray (S,) of int
    rng : numpy Generator

    Returns
    -------
    ndarray (S, T) of int, ``-1`` beyond each sequence's length.
    """
    S, T, K = alpha.shape
    lengths = np.asarray(lengths)
    steps = np.swapaxes(alpha, 0, 1)  # (T, S, K); contiguous when it comes from forward_filter
    # column j of the transition matrix as a row: trans_t[..., j, :] = trans[..., :, j]
    trans_t = np.ascontiguousarray(np.swapaxes(np.maximum(trans, _PROB_FLOOR), -1, -2))
    per_sequence = trans_t.ndim == 3
    rows = np.arange(S)
    u = rng.random((T, S, 1))
    # inverse-CDF draws: the number of cumulative sums below u * total is < K since u < 1
    z = np.empty((T, S), dtype=np.int64)
    # (ufunc methods directly: this loop runs T times per sweep, call overhead dominates)
    accumulate, reduce, greater = np.add.accumulate, np.add.reduce, np.greater
    cdf = accumulate(steps[T - 1], axis=1)
    z[T - 1] = reduce(greater(u[T - 1] * cdf[:, -1:], cdf), axis=1)
    for t in range(T - 2, -1, -1):
        column = trans_t[rows, z[t + 1]] if per_sequence else trans_t[z[t + 1]]
        cdf = accumulate(steps[t] * column, axis=1)
        z[t] = reduce(greater(u[t] * cdf[:, -1:], cdf), axis=1)
    z = z.T
    z[np.arange(T)[None, :] >= lengths[:, None]] = -1
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


def sufficient_statistics(X, z, K, XX=None):
    """Counts, sums and sums of outer products of the frames of every state.

    Parameters
    ----------
    X : ndarray (N, D)
    z : int ndarray (N,)
    K : int
    XX : ndarray (N, D * D), optional
        Flattened outer products ``x_t x_t^T`` of the frames, if already computed (the sampler
        computes them once per fit).

    Returns
    -------
    n : ndarray (K,)
    sum_x : ndarray (K, D)
    sum_xx : ndarray (K, D, D)
    """
    N, D = X.shape
    if XX is None:
        XX = (X[:, :, None] * X[:, None, :]).reshape(N, D * D)
    z = np.asarray(z)
    n = np.bincount(z, minlength=K).astype(float)
    order = np.argsort(z, kind="stable")
    used = np.flatnonzero(n)
    first = np.concatenate([[0], np.cumsum(n[used])[:-1]]).astype(np.int64)
    sum_x, sum_xx = np.zeros((K, D)), np.zeros((K, D * D))
    # frames sorted by state, summed per run of one state
    sum_x[used] = np.add.reduceat(X[order], first, axis=0)
    sum_xx[used] = np.add.reduceat(XX[order], first, axis=0)
    return n, sum_x, sum_xx.reshape(K, D, D)


def emission_prior(X, n0=1.0, prior_dof=None, prior_covariance="empirical", prior_scale=1.0):
    """Normal-inverse-Wishart prior ``(m0, n0, nu0, S)`` of the emissions, on the data's scale.

    ``m0`` is the mean of the frames; ``nu0`` is ``D + 2`` unless given, so the prior mean of
    every state's covariance is ``E[Sigma] = S / (nu0 - D - 1) = S``; ``S`` is
    ``prior_scale`` times the empirical covariance of the frames (Fox et al.'s choice, so a
    state drawn from the prior has the spread of the data and can take over frames that the
    used states explain badly: the births of new states) or, with
    ``prior_covariance="identity"``, ``prior_scale * I`` (only sensible for standardised
    features).
    """
    N, D = X.shape
    nu0 = D + 2.0 if prior_dof is None else float(prior_dof)
    if prior_covariance == "empirical":
        S = np.atleast_2d(np.cov(X, rowvar=False))
        # relative ridge so S stays positive definite; a constant feature borrows the mean
        # variance (or 1 if every feature is constant)
        var = np.diagonal(S).copy()
        var[var <= 0] = var.mean() if var.mean() > 0 else 1.0
        S = S + _COV_JITTER * np.diag(var)
    else:
        S = np.eye(D)
    return X.mean(axis=0), float(n0), nu0, float(prior_scale) * S


def transition_counts(z, starts, inside, K):
    """Transition counts between states inside sequences, rows ``0..K-1``, and the first
    states of the sequences, row ``K``: an int array (K + 1, K)."""
    counts = np.zeros((K + 1, K), dtype=np.int64)
    prev, nxt = z[:-1][inside], z[1:][inside]
    counts[:K] = np.bincount(prev * K + nxt, minlength=K * K).reshape(K, K)
    counts[K] = np.bincount(z[starts], minlength=K)
    return counts


def niw_log_marginal(prior, n, sum_x, sum_xx):
    """``log p(frames of state k)`` with the state's mean and covariance integrated out over
    the Normal-inverse-Wishart prior, for every state (0 for a state without frames).

    ``prior`` is ``(m0, n0, nu0, S0)``; ``n`` (K,), ``sum_x`` (K, D), ``sum_xx`` (K, D, D).
    """
    m0, n0, nu0, S0 = prior
    D = m0.shape[0]
    _, n_n, nu_n, S_n = niw_posterior(prior, n, sum_x, sum_xx)
    logdet_n = np.linalg.slogdet(S_n)[1]
    logdet_0 = np.linalg.slogdet(S0)[1]
    return (-0.5 * n * D * np.log(np.pi) + multigammaln(0.5 * nu_n, D)
            - multigammaln(0.5 * nu0, D) + 0.5 * nu0 * logdet_0 - 0.5 * nu_n * logdet_n
            + 0.5 * D * (np.log(n0) - np.log(n_n)))


def _log_rising(a, n):
    """``log Gamma(a + n) - log Gamma(a)``, 0 where ``n == 0`` (also for ``a`` = 0)."""
    a = np.maximum(a, _TINY)
    return np.where(n > 0, gammaln(a + n) - gammaln(a), 0.0)


def transition_log_marginal(counts, beta, alpha, kappa):
    """``log p(z | beta)`` with the transition rows and the initial distribution integrated
    out: a Dirichlet-multinomial per row, row ``j < K`` with concentration
    ``alpha * beta + kappa * e_j``, the first-state row ``K`` with ``alpha * beta``.
    Returns one value per row, (K + 1,)."""
    K = beta.shape[0]
    conc = np.vstack([alpha * beta[None, :] + kappa * np.eye(K), alpha * beta[None, :]])
    total = conc.sum(axis=1)
    return (gammaln(total) - gammaln(total + counts.sum(axis=1))
            + _log_rising(conc, counts).sum(axis=1))


def merge_gains(n, sum_x, sum_xx, counts, beta, prior, alpha, kappa, pairs=None):
    """Change of the collapsed ``log p(x, z | beta)`` if state ``j`` were merged into ``i``,
    for every pair of used states ``i < j`` (or the given ``pairs``, a tuple of two int
    arrays).

    Merging relabels ``j``'s frames as ``i``, adds ``beta_j`` to ``beta_i``, and merges rows
    and columns ``i`` and ``j`` of the transition counts (``i -> j``, ``j -> i`` and
    ``j -> j`` become self-transitions of ``i``). Only the terms that change are computed.

    Returns
    -------
    i, j : int arrays (P,)
    gain : ndarray (P,)
    """
    K = beta.shape[0]
    if pairs is None:
        used = np.flatnonzero(n > 0)
        i, j = (used[idx] for idx in np.triu_indices(used.size, k=1))
    else:
        i, j = (np.atleast_1d(np.asarray(p, dtype=np.int64)) for p in pairs)
    if i.size == 0:
        return i, j, np.zeros(0)
    # emissions: the merged state's marginal against the two separate ones
    emit = niw_log_marginal(prior, n, sum_x, sum_xx)
    merged = niw_log_marginal(prior, n[i] + n[j], sum_x[i] + sum_x[j], sum_xx[i] + sum_xx[j])
    gain = merged - emit[i] - emit[j]
    # transitions, rows other than i and j (and the first-state row K): columns i, j merge
    rows = transition_log_marginal(counts, beta, alpha, kappa)
    conc = np.vstack([alpha * beta[None, :] + kappa * np.eye(K), alpha * beta[None, :]])
    cell = _log_rising(conc, counts)  # (K + 1, K)
    other = (_log_rising(conc[:, i] + conc[:, j], counts[:, i] + counts[:, j])
             - cell[:, i] - cell[:, j]).T  # (P, K + 1)
    pair = np.arange(i.size)
    other[pair, i] = 0.0
    other[pair, j] = 0.0
    gain += other.sum(axis=1)
    # rows i and j become one row with concentration alpha * beta' + kappa * e_i
    row = counts[i] + counts[j]  # (P, K)
    self_count = row[pair, i] + row[pair, j]
    row_conc = np.broadcast_to(alpha * beta, row.shape).copy()
    keep = np.ones(row.shape, dtype=bool)
    keep[pair, i] = False
    keep[pair, j] = False
    total = alpha * beta.sum() + kappa
    merged_row = (gammaln(total) - gammaln(total + row.sum(axis=1))
                  + np.where(keep, _log_rising(row_conc, row), 0.0).sum(axis=1)
                  + _log_rising(alpha * (beta[i] + beta[j]) + kappa, self_count))
    gain += merged_row - rows[i] - rows[j]
    return i, j, gain


# ----------------------------------------------------------------------------- the sampler
class StickyHDPHMM(BaseEstimator):
    """Sticky HDP-HMM with Gaussian emissions, fitted by weak-limit blocked Gibbs sampling.

    The number of used states is inferred: every sweep draws the emissions of unused states
    from the prior (:func:`emission_prior`, on the data's scale), so a state can open when it
    explains frames better than the used ones, and a state that loses all its frames closes.
    Independent chains run as one batch (their forward filters and backward samplers are
    vectorised over chains and sequences together).

    Parameters
    ----------
    n_states : int, default 25
        Truncation ``K`` of the weak-limit approximation (an upper bound on used states).
    gamma : float, default 5.0
        Concentration of the top-level Dirichlet over states.
    alpha : float, default 0.5
        Transition concentration (``eta`` in the SPAHM paper).
    kappa : float, default 10.0
        Sticky self-transition weight.
    n0 : float, default 1.0
        Pseudo-count of the emission mean prior (prior mean: the mean of the data).
    prior_covariance : {"empirical", "identity"}, default "empirical"
        Inverse-Wishart scale ``S``: ``prior_scale`` times the empirical covariance of the
        frames, or ``prior_scale * I``.
    prior_scale : float, default 1.0
        Multiplier of ``S``.
    prior_dof : float or None, default None
        Degrees of freedom ``nu0`` of the inverse-Wishart; ``None`` uses ``D + 2``
        (prior mean of ``Sigma`` equal to ``S``).
    n_iter : int, default 100
        Gibbs sweeps per chain.
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
    n_states_trace_ : ndarray (n_restarts, n_iter)
        Number of used states after every sweep of every chain.
    best_restart_ : int
    n_states_ : int
    n_features_in_ : int

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-5, 1, (40, 2)), rng.normal(5, 1, (40, 2))])
    >>> StickyHDPHMM(n_iter=20, n_restarts=1, random_state=0).fit([X]).n_states_
    2
    """

    def __init__(self, n_states=25, gamma=5.0, alpha=0.5, kappa=10.0, n0=1.0,
                 prior_covariance="empirical", prior_scale=1.0, prior_dof=None, n_iter=100,
                 n_burnin=None, n_restarts=3, init="kmeans", n_init_states=10,
                 split_merge=True, random_state=None):
        self.n_states = n_states
        self.gamma = gamma
        self.alpha = alpha
        self.kappa = kappa
        self.n0 = n0
        self.prior_covariance = prior_covariance
        self.prior_scale = prior_scale
        self.prior_dof = prior_dof
        self.n_iter = n_iter
        self.n_burnin = n_burnin
        self.n_restarts = n_restarts
        self.init = init
        self.n_init_states = n_init_states
        self.split_merge = split_merge
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
        if self.prior_covariance not in ("empirical", "identity"):
            raise ValueError("prior_covariance must be 'empirical' or 'identity', got "
                             f"{self.prior_covariance!r}")
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
        return seqs, K, burn

    # -- fitting
    def fit(self, sequences, y=None):
        """Fit on a list of sequences, each an array of shape (T_s, D). Returns ``self``."""
        seqs, K, burn = self._check(sequences)
        X = np.concatenate(seqs)
        N, D = X.shape
        R = int(self.n_restarts)
        lengths = np.array([x.shape[0] for x in seqs])
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        inside = np.ones(N - 1, dtype=bool)  # frame t -> t + 1 inside one sequence
        inside[np.cumsum(lengths)[:-1] - 1] = False
        prior = emission_prior(X, self.n0, self.prior_dof, self.prior_covariance,
                               self.prior_scale)
        XX = (X[:, :, None] * X[:, None, :]).reshape(N, D * D)
        # padded view for the batched filter: frame index of (s, t), -1 beyond the end; the
        # R chains' sequences form one batch of R * S padded sequences
        S, T = len(seqs), lengths.max()
        pad_index = np.where(np.arange(T)[None, :] < lengths[:, None],
                             starts[:, None] + np.arange(T)[None, :], -1)
        valid = pad_index >= 0
        gather = np.maximum(pad_index, 0)
        batch_lengths = np.tile(lengths, R)
        rng = np.random.default_rng(self.random_state)
        z = np.stack([self._initial_states(rng, X, K) for _ in range(R)])
        log_beta = np.full((R, K), -np.log(K))
        summaries = [self._summarise(X, XX, zr, starts, inside, K) for zr in z]
        traces = np.empty((R, self.n_iter))
        joints = np.empty((R, self.n_iter))
        used = np.empty((R, self.n_iter), dtype=np.int64)
        n_merges = np.zeros(R, dtype=np.int64)
        n_splits = np.zeros(R, dtype=np.int64)
        best = None
        for it in progress(range(self.n_iter), f"HDP-HMM ({R} chains)"):
            log_lik = np.empty((R, S, T, K))
            log_pi0 = np.empty((R, K))
            trans = np.empty((R, K, K))
            for r in range(R):
                mu, C, log_beta[r], log_pi0[r], trans[r] = self._sample_parameters(
                    rng, *summaries[r], prior, log_beta[r])
                log_lik[r] = gaussian_log_likelihood(X, mu, C)[gather]
            batch_trans = np.repeat(trans, S, axis=0)
            alpha, ll = forward_filter(log_lik.reshape(R * S, T, K),
                                       np.repeat(log_pi0, S, axis=0), batch_trans,
                                       batch_lengths)
            z = backward_sample(alpha, batch_trans, batch_lengths, rng).reshape(R, S, T)[:, valid]
            traces[:, it] = ll.reshape(R, S).sum(axis=1)
            for r in range(R):
                summaries[r] = self._summarise(X, XX, z[r], starts, inside, K)
                if self.split_merge:
                    if self._merge(rng, z[r], summaries[r], log_beta[r], prior):
                        n_merges[r] += 1
                        summaries[r] = self._summarise(X, XX, z[r], starts, inside, K)
                    split = self._split(rng, X, XX, z[r], summaries[r], log_beta[r], prior,
                                        starts, inside)
                    if split is not None:
                        n_splits[r] += 1
                        summaries[r] = split
                stats, counts = summaries[r][:3], summaries[r][3]
                joints[r, it] = (niw_log_marginal(prior, *stats).sum()
                                 + transition_log_marginal(counts, np.exp(log_beta[r]),
                                                           self.alpha, self.kappa).sum())
                used[r, it] = np.count_nonzero(stats[0])
            if it >= burn:
                r = int(np.argmax(joints[:, it]))
                if best is None or joints[r, it] > best[0]:
                    best = (joints[r, it], traces[r, it], z[r].copy(), log_beta[r].copy(), r)
        self.log_likelihood_trace_ = traces
        self.log_joint_trace_ = joints
        self.n_states_trace_ = used
        self.n_merges_ = n_merges
        self.n_splits_ = n_splits
        self.n_features_in_ = D
        self._store(best, X, XX, lengths, starts, inside, prior, K)
        return self

    def _initial_states(self, rng, X, K):
        k0 = min(self.n_init_states, K, X.shape[0])
        if self.init == "kmeans":
            km = KMeans(n_clusters=k0, n_init=1,
                        random_state=int(rng.integers(2**31 - 1))).fit(X)
            return km.labels_.astype(np.int64)
        # random blocks: segment lengths ~ 1 + Poisson(20), labels uniform over k0 states
        sizes = 1 + rng.poisson(20, size=X.shape[0])
        labels = rng.integers(k0, size=X.shape[0])
        return np.repeat(labels, sizes)[: X.shape[0]].astype(np.int64)

    @staticmethod
    def _summarise(X, XX, z, starts, inside, K):
        """What the conditionals need from a state sequence: emission statistics of every
        state and the transition counts."""
        return (*sufficient_statistics(X, z, K, XX), transition_counts(z, starts, inside, K))

    def _merge(self, rng, z, summary, log_beta, prior):
        """Merge move: the pair of used states whose merging raises the collapsed
        ``log p(x, z | beta)`` most is merged with probability ``min(1, exp(gain))``.

        Edits ``z`` and ``log_beta`` in place; returns whether a merge happened. States open
        through the Gibbs step (unused states drawn from the prior), so this is the move that
        closes redundant ones (two states sharing one behaviour keep their frames under
        single-site updates for a very long time).
        """
        n, sx, sxx, counts = summary
        used = np.flatnonzero(n > 0)
        i, j = (used[idx] for idx in np.triu_indices(used.size, k=1))
        if i.size == 0:
            return False
        # screen all pairs on the emission term alone, then score the best few in full
        emit = niw_log_marginal(prior, n[used], sx[used], sxx[used])
        emit_full = np.zeros(n.shape[0])
        emit_full[used] = emit
        screen = (niw_log_marginal(prior, n[i] + n[j], sx[i] + sx[j], sxx[i] + sxx[j])
                  - emit_full[i] - emit_full[j])
        top = np.argsort(-screen)[:_MERGE_CANDIDATES]
        i, j, gain = merge_gains(n, sx, sxx, counts, np.exp(log_beta), prior, self.alpha,
                                 self.kappa, pairs=(i[top], j[top]))
        best = int(np.argmax(gain))
        if np.log(rng.random()) >= min(gain[best], 0.0):
            return False
        keep, gone = i[best], j[best]
        z[z == gone] = keep
        log_beta[keep] = np.logaddexp(log_beta[keep], log_beta[gone])
        log_beta[gone] = np.log(_TINY)
        return True

    def _split(self, rng, X, XX, z, summary, log_beta, prior, starts, inside):
        """Split move: a used state, drawn in proportion to its frames, is cut in two by a
        two-means clustering of its frames (seeded at two random frames); the second half
        takes an unused state, and the split is kept with probability ``min(1, exp(gain))``
        of the collapsed ``log p(x, z | beta)`` (``beta_i`` shared equally by the halves).

        Edits ``z`` and ``log_beta`` in place; returns the new summary, or None if nothing
        changed.
        """
        n = summary[0]
        K = n.shape[0]
        free = np.flatnonzero(n == 0)
        big = np.flatnonzero(n >= _MIN_SPLIT_FRAMES)
        if free.size == 0 or big.size == 0:
            return None
        i = int(rng.choice(big, p=n[big] / n[big].sum()))
        frames = np.flatnonzero(z == i)
        x = X[frames]
        centres = x[rng.choice(frames.size, size=2, replace=False)]
        for _ in range(_SPLIT_LLOYD_STEPS):
            half = (np.square(x[:, None, :] - centres[None]).sum(axis=2).argmin(axis=1))
            if half.min() == half.max():
                return None
            centres = np.stack([x[half == 0].mean(axis=0), x[half == 1].mean(axis=0)])
        new = int(free[0])
        z_split = z.copy()
        z_split[frames[half == 1]] = new
        proposal = self._summarise(X, XX, z_split, starts, inside, K)
        beta = np.exp(log_beta)
        beta_split = beta.copy()
        beta_split[[i, new]] = 0.5 * (beta[i] + beta[new])
        _, _, back = merge_gains(*proposal[:3], proposal[3], beta_split, prior, self.alpha,
                                 self.kappa, pairs=([i], [new]))
        if np.log(rng.random()) >= min(-back[0], 0.0):
            return None
        z[:] = z_split
        log_beta[:] = np.log(np.maximum(beta_split, _TINY))
        return proposal

    def _sample_parameters(self, rng, n, sx, sxx, counts, prior, log_beta):
        """One Gibbs half-sweep: everything but the state sequences, given the state
        sequence's statistics and transition counts, and the previous ``beta`` (which sets
        the concentrations of the table counts).

        Unused states (no frames) get emissions drawn from the prior and transition weights
        from the Dirichlet conditionals, so they stay available for the next state sequences.
        """
        K = log_beta.shape[0]
        mu, C = sample_niw(rng, *niw_posterior(prior, n, sx, sxx))
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

    def _store(self, best, X, XX, lengths, starts, inside, prior, K):
        joint, ll, z, log_beta, r = best
        n, sx, sxx, counts = self._summarise(X, XX, z, starts, inside, K)
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
        # posterior mean of the transition rows given the kept state sequence and beta
        rows = counts[:K] + self.alpha * np.exp(log_beta)[None, :] + self.kappa * np.eye(K)
        sub = rows[np.ix_(used, used)]
        self.transmat_ = sub / sub.sum(axis=1, keepdims=True)
        relabelled = new_label[z]
        self.state_sequences_ = np.split(relabelled, np.cumsum(lengths)[:-1])
        self.log_likelihood_ = float(ll)
        self.log_joint_ = float(joint)
        self.best_restart_ = int(r)
        self.n_states_ = int(used.size)


def map_states(state_sequences, mapping):
    """Relabel local state sequences through ``mapping`` (local state -> global state)."""
    mapping = np.asarray(mapping)
    return [mapping[np.asarray(z)] for z in state_sequences]


# ---------------------------------------------------------------------------- global model
class FusedGaussianHMM(BaseEstimator):
    """Global HMM from fused HDP-HMM states: Gaussian emissions, fused transition matrix.

    A scikit-learn estimator whose parameters are the fused model itself (as
    :func:`spahm.fuse_models` builds it): ``fit`` checks them and sets the fitted attributes,
    so ``clone``, ``get_params``, pickling and use in a ``Pipeline`` work as usual.

    Parameters
    ----------
    means : array-like (L, D)
    covariances : array-like (L, D, D)
        For fused models: the frame-weighted average of the matched local covariances.
    transmat : array-like (L, L)
        Rows sum to one. For fused models: every silo's transitions between its states, mapped
        to global states and weighted by the states' frame counts.
    startprob : array-like (L,)
    popularity : array-like (L,) or None
        Number of silos whose states were fused into each global state.

    Attributes
    ----------
    means_, covariances_, transmat_, startprob_, popularity_ : ndarray
    n_states_ : int
    n_features_in_ : int

    Examples
    --------
    >>> hmm = FusedGaussianHMM(means=[[0.0], [5.0]], covariances=[[[1.0]], [[1.0]]],
    ...                        transmat=[[0.9, 0.1], [0.1, 0.9]], startprob=[0.5, 0.5]).fit()
    >>> hmm.predict([[0.1], [0.2], [4.9], [5.2]]).tolist()
    [0, 0, 1, 1]
    """

    def __init__(self, means=None, covariances=None, transmat=None, startprob=None,
                 popularity=None):
        self.means = means
        self.covariances = covariances
        self.transmat = transmat
        self.startprob = startprob
        self.popularity = popularity

    def fit(self, X=None, y=None):
        """Check the parameters and set the fitted attributes (``X`` and ``y`` are ignored)."""
        if self.means is None:
            raise ValueError("FusedGaussianHMM needs means, covariances, transmat and startprob "
                             "(spahm.fuse_models builds it from fitted StickyHDPHMMs)")
        means = check_array(self.means, dtype=float, input_name="means")
        L, D = means.shape
        cov = np.asarray(self.covariances, dtype=float)
        trans = np.asarray(self.transmat, dtype=float)
        start = np.asarray(self.startprob, dtype=float)
        for name, value, shape in (("covariances", cov, (L, D, D)), ("transmat", trans, (L, L)),
                                   ("startprob", start, (L,))):
            if value.shape != shape or not np.all(np.isfinite(value)):
                raise ValueError(f"{name} must be a finite array of shape {shape} for {L} states "
                                 f"of dimension {D}, got shape {value.shape}")
        if np.any(trans < 0) or not np.allclose(trans.sum(axis=1), 1.0):
            raise ValueError("transmat rows must be probabilities summing to one")
        if np.any(start < 0) or not np.isclose(start.sum(), 1.0):
            raise ValueError("startprob must be probabilities summing to one")
        self.means_, self.covariances_, self.transmat_, self.startprob_ = means, cov, trans, start
        self.popularity_ = (np.ones(L, dtype=np.int64) if self.popularity is None
                            else np.asarray(self.popularity))
        self.n_states_ = L
        self.n_features_in_ = D
        self._prec_chol = _precision_cholesky(cov)
        return self

    def _frames(self, X):
        """One sequence as a finite (T >= 1, D) float array, as scikit-learn validates input."""
        check_is_fitted(self, "means_")
        X = check_array(X, dtype=float, ensure_min_samples=1)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but FusedGaussianHMM was built "
                             f"with {self.n_features_in_}")
        return X

    def score_samples(self, X):
        """Emission log density of every frame under every global state, (T, L)."""
        return gaussian_log_likelihood(self._frames(X), self.means_, self._prec_chol)

    def predict(self, X):
        """Most likely global state sequence of one sequence X (T, D) (Viterbi)."""
        emit = self.score_samples(X)
        with np.errstate(divide="ignore"):
            log_a, log_pi = np.log(self.transmat_), np.log(self.startprob_)
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
        emit = self.score_samples(X)
        with np.errstate(divide="ignore"):
            log_pi = np.log(self.startprob_)
        _, ll = forward_filter(emit[None], log_pi, self.transmat_, np.array([len(emit)]))
        return float(ll[0])

    def score(self, X, y=None):
        """Log likelihood of one sequence (scikit-learn's ``score``: higher is better)."""
        return self.log_likelihood(X)


class HDPHMMAdapter(Adapter):
    """Fusion of :class:`StickyHDPHMM` states: the one place their atoms are read.

    Atoms are the posterior means of the used states' emission means; their variances are
    the emission variances divided by the states' frame counts (the posterior variance of a
    mean). The global model is a :class:`FusedGaussianHMM`.
    """

    name = "spahm StickyHDPHMM"

    def matches(self, model):
        return isinstance(model, StickyHDPHMM)

    def extract(self, model, data=None):
        check_is_fitted(model, "means_")
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
        return FusedGaussianHMM(means=result.global_atoms, covariances=cov, transmat=trans,
                                startprob=frames / frames.sum(),
                                popularity=result.popularity).fit()


register_adapter(HDPHMMAdapter(), first=False)

"""Hidden Markov model primitives: Gaussian emission likelihoods, scaled forward filtering,
backward sampling of state paths and the Viterbi path.

Shared by the sticky HDP-HMM sampler (:mod:`spahm.models.hdp_hmm`) and the fused HMM
(:mod:`spahm.models.fused_hmm`). Every function works on log likelihoods of frames under
states; the time loops are the only sequential parts, each step one batched call over states
(and sequences).
"""
from __future__ import annotations

import numpy as np

# Transition and initial probabilities are floored at this value before filtering, so the
# predictive probability of every state stays > 0 and the scaled forward recursion never
# divides by zero when a likelihood underflows; the effect on the log likelihood is < 1e-290.
_PROB_FLOOR = 1e-300
_LOG_2PI = np.log(2.0 * np.pi)


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



def viterbi(log_lik, log_pi0, log_trans):
    """Most likely state path of one sequence: ``argmax_z log p(z, x)``.

    Parameters
    ----------
    log_lik : ndarray (T, K)
        Log emission likelihoods.
    log_pi0 : ndarray (K,)
        Log initial state distribution (``-inf`` allowed).
    log_trans : ndarray (K, K)
        Log transition matrix (``-inf`` allowed).

    Returns
    -------
    ndarray (T,) of int; ties go to the lowest state index.
    """
    T, K = log_lik.shape
    back = np.zeros((T, K), dtype=np.intp)
    delta = log_pi0 + log_lik[0]
    for t in range(1, T):  # the recursion is sequential in time; states are vectorised
        scores = delta[:, None] + log_trans
        back[t] = scores.argmax(axis=0)
        delta = scores[back[t], np.arange(K)] + log_lik[t]
    path = np.empty(T, dtype=np.intp)
    path[-1] = int(delta.argmax())
    for t in range(T - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path

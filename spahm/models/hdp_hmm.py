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
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._progress import progress
from ..adapters import Adapter, LocalAtoms, _jittered, group_average, register_adapter
from ._hdp import (
    _TINY,
    merge_gains,
    resample_hyperparameters,
    sample_log_dirichlet,
    sample_table_counts,
    transition_counts,
    transition_log_marginal,
)
from ._hmm import backward_sample, forward_filter, gaussian_log_likelihood, viterbi
from ._niw import niw_log_marginal, niw_posterior, sample_niw, sufficient_statistics
from .fused_hmm import FusedGaussianHMM

__all__ = ["StickyHDPHMM", "HDPHMMAdapter", "FusedGaussianHMM", "emission_prior", "map_states",
           # the primitives, re-exported from the modules that hold them
           "backward_sample", "forward_filter", "gaussian_log_likelihood", "viterbi",
           "merge_gains", "niw_log_marginal", "niw_posterior", "resample_hyperparameters",
           "sample_log_dirichlet", "sample_niw", "sample_table_counts", "sufficient_statistics",
           "transition_counts", "transition_log_marginal"]

# The empirical-covariance prior scale gets this fraction of every feature's variance added to
# its diagonal, so collinear features do not make it singular.
_COV_JITTER = 1e-6
# Split moves consider states with at least this many frames, cut by this many Lloyd steps.
_MIN_SPLIT_FRAMES = 4
# Merge moves screen every pair of used states on the emission term and score this many in full.
_MERGE_CANDIDATES = 5
_SPLIT_LLOYD_STEPS = 5


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



# ----------------------------------------------------------------------------- the sampler
class StickyHDPHMM(BaseEstimator):
    """Sticky HDP-HMM with Gaussian emissions, fitted by weak-limit blocked Gibbs sampling.

    The number of used states is inferred: every sweep draws the emissions of unused states
    from the prior (:func:`emission_prior`, on the data's scale), so a state can open when it
    explains frames better than the used ones, and a state that loses all its frames closes.
    Independent chains run as one batch (their forward filters and backward samplers are
    vectorised over chains and sequences together).

    Frames that are rows of NaN are missing (for example held out for scoring): their states
    are sampled like the others, their likelihood is one, and they add nothing to the emission
    statistics.

    Parameters
    ----------
    n_states : int, default 25
        Truncation ``K`` of the weak-limit approximation (an upper bound on used states).
    gamma : float, default 5.0
        Concentration of the top-level Dirichlet over states (the start value when
        ``resample_hyperparameters``).
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
        Gibbs sweeps per chain (at most, with a stopping rule).
    n_burnin : int or None, default None
        Sweeps ignored when choosing the kept sample; ``None`` uses ``n_iter // 2``.
    n_restarts : int, default 3
        Independent chains; the sample with the best collapsed ``log p(x, z | beta)`` over all
        chains is kept.
    init : {"kmeans", "random"}, default "kmeans"
        First state sequence: k-means on the frames, or random blocks of frames.
    n_init_states : int, default 10
        Number of states in the first state sequence (at most ``n_states``).
    split_merge : bool, default True
        Split and merge moves besides the Gibbs sweeps.
    n_spare_states : int or None, default None
        Adaptive truncation: every sweep works on the used states plus this many unused ones
        (emission draws, likelihoods, filter and sampler); the other unused states are left
        out of the state paths for that sweep (at most this many states can open per sweep).
        ``None``: all ``n_states`` states every sweep.
    resample_hyperparameters : bool, default False
        Resample ``alpha + kappa``, ``rho = kappa / (alpha + kappa)`` and ``gamma`` every sweep
        (Fox et al. 2011's auxiliary-variable updates, :mod:`spahm.models._hdp`), starting from
        ``alpha``, ``kappa`` and ``gamma``.
    alpha_kappa_prior, gamma_prior : (shape, rate), default (1.0, 0.01)
        Gamma priors of ``alpha + kappa`` and ``gamma`` (Fox et al.'s vague choice).
    rho_prior : (c, d), default (10.0, 1.0)
        Beta prior of ``rho`` (Fox et al.'s: self-transitions favoured).
    tol : float or None, default None
        Stopping rule: stop when, after burn-in, the kept sample's collapsed log joint has not
        improved by ``tol`` nats per observed frame for ``patience`` sweeps. ``None``: run all
        ``n_iter`` sweeps.
    patience : int, default 20
        Sweeps without such an improvement before stopping.
    random_state : int, RandomState instance, numpy Generator or None

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
    startprob_ : ndarray (n_states_,)
        Posterior mean of the initial distribution given the kept sample.
    alpha_, kappa_, gamma_ : float
        Hyperparameters of the kept sample (the constructor's values unless resampled).
    log_likelihood_ : float
        ``log p(x | parameters)`` of the kept sample.
    log_joint_ : float
        Collapsed ``log p(x, z | beta)`` of the kept sample.
    n_iter_ : int
        Sweeps run (fewer than ``n_iter`` when the stopping rule fired).
    log_likelihood_trace_, log_joint_trace_ : ndarray (n_restarts, n_iter_)
    n_states_trace_ : ndarray (n_restarts, n_iter_)
        Number of used states after every sweep of every chain.
    n_active_trace_ : ndarray (n_iter_,)
        States every chain worked on in every sweep (``n_states`` without adaptive truncation).
    hyper_trace_ : ndarray (n_restarts, n_iter_, 3)
        ``(alpha, kappa, gamma)`` after every sweep.
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

    _parameter_constraints: dict = {
        "n_states": [Interval(Integral, 2, None, closed="left")],
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "kappa": [Interval(Real, 0, None, closed="left")],
        "n0": [Interval(Real, 0, None, closed="neither")],
        "prior_covariance": [StrOptions({"empirical", "identity"})],
        "prior_scale": [Interval(Real, 0, None, closed="neither")],
        "prior_dof": [Interval(Real, 0, None, closed="neither"), None],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "n_burnin": [Interval(Integral, 0, None, closed="left"), None],
        "n_restarts": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"kmeans", "random"})],
        "n_init_states": [Interval(Integral, 1, None, closed="left")],
        "split_merge": ["boolean"],
        "n_spare_states": [Interval(Integral, 1, None, closed="left"), None],
        "resample_hyperparameters": ["boolean"],
        "alpha_kappa_prior": [tuple, list],
        "rho_prior": [tuple, list],
        "gamma_prior": [tuple, list],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state", np.random.Generator],
    }

    def __init__(self, *, n_states=25, gamma=5.0, alpha=0.5, kappa=10.0, n0=1.0,
                 prior_covariance="empirical", prior_scale=1.0, prior_dof=None, n_iter=100,
                 n_burnin=None, n_restarts=3, init="kmeans", n_init_states=10,
                 split_merge=True, n_spare_states=None, resample_hyperparameters=False,
                 alpha_kappa_prior=(1.0, 0.01), rho_prior=(10.0, 1.0), gamma_prior=(1.0, 0.01),
                 tol=None, patience=20, random_state=None):
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
        self.n_spare_states = n_spare_states
        self.resample_hyperparameters = resample_hyperparameters
        self.alpha_kappa_prior = alpha_kappa_prior
        self.rho_prior = rho_prior
        self.gamma_prior = gamma_prior
        self.tol = tol
        self.patience = patience
        self.random_state = random_state

    # -- validation
    def _check(self, sequences):
        self._validate_params()
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
            nan = np.isnan(x)
            if np.isinf(x).any() or (nan.any(axis=1) & ~nan.all(axis=1)).any():
                raise ValueError(f"sequence {s} holds inf or a frame with some NaN values "
                                 "(a missing frame must be a whole row of NaN)")
        if sum(int((~np.isnan(x[:, 0])).sum()) for x in seqs) < 2:
            raise ValueError("sequences have fewer than 2 observed (non-NaN) frames")
        K = int(self.n_states)
        D = seqs[0].shape[1]
        nu0 = D + 2.0 if self.prior_dof is None else float(self.prior_dof)
        if not nu0 > D - 1:
            raise ValueError(f"prior_dof must exceed D - 1 = {D - 1}, got {self.prior_dof!r}")
        n_iter = int(self.n_iter)
        burn = n_iter // 2 if self.n_burnin is None else int(self.n_burnin)
        if burn >= n_iter:
            raise ValueError(f"n_burnin must be < n_iter={n_iter}, got {burn}")
        priors = {}
        for name in ("alpha_kappa_prior", "rho_prior", "gamma_prior"):
            value = getattr(self, name)
            if (len(value) != 2 or not all(isinstance(v, Real) for v in value)
                    or not all(np.isfinite(v) and v > 0 for v in value)):
                raise ValueError(f"{name} must be two positive numbers, got {value!r}")
            priors[name[:-6]] = tuple(float(v) for v in value)
        return seqs, K, burn, priors

    def _rng(self):
        """A numpy Generator from ``random_state`` (an int, None, a Generator, or a
        RandomState, which gives the seed of a new Generator)."""
        state = self.random_state
        if isinstance(state, np.random.RandomState):
            state = int(state.randint(np.iinfo(np.int32).max))
        return np.random.default_rng(state)

    # -- fitting
    def fit(self, sequences, y=None):
        """Fit on a list of sequences, each an array of shape (T_s, D). Returns ``self``."""
        seqs, K, burn, priors = self._check(sequences)
        X = np.concatenate(seqs)
        N, D = X.shape
        R = int(self.n_restarts)
        obs = ~np.isnan(X[:, 0])
        X = np.where(obs[:, None], X, 0.0)
        X_obs = X[obs]
        lengths = np.array([x.shape[0] for x in seqs])
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        inside = np.ones(N - 1, dtype=bool)  # frame t -> t + 1 inside one sequence
        inside[np.cumsum(lengths)[:-1] - 1] = False
        prior = emission_prior(X_obs, self.n0, self.prior_dof, self.prior_covariance,
                               self.prior_scale)
        XX = (X_obs[:, :, None] * X_obs[:, None, :]).reshape(-1, D * D)
        data = (X_obs, XX, obs, starts, inside)
        # padded view for the batched filter: frame index of (s, t), -1 beyond the end; the
        # R chains' sequences form one batch of R * S padded sequences
        S, T = len(seqs), lengths.max()
        pad_index = np.where(np.arange(T)[None, :] < lengths[:, None],
                             starts[:, None] + np.arange(T)[None, :], -1)
        valid = pad_index >= 0
        gather = np.maximum(pad_index, 0)
        missing = ~obs[gather]  # (S, T): missing frames have likelihood one
        batch_lengths = np.tile(lengths, R)
        rng = self._rng()
        z = np.stack([self._initial_states(rng, X, obs, K) for _ in range(R)])
        log_beta = np.full((R, K), -np.log(K))
        hyper = np.tile([float(self.alpha), float(self.kappa), float(self.gamma)], (R, 1))
        summaries = [self._summarise(data, zr, K) for zr in z]
        n_iter = int(self.n_iter)
        traces = np.empty((R, n_iter))
        joints = np.empty((R, n_iter))
        used = np.empty((R, n_iter), dtype=np.int64)
        active_trace = np.empty(n_iter, dtype=np.int64)
        hyper_trace = np.empty((R, n_iter, 3))
        n_merges = np.zeros(R, dtype=np.int64)
        n_splits = np.zeros(R, dtype=np.int64)
        best = None
        stop = _StoppingRule(self.tol, int(self.patience), X_obs.shape[0])
        it = -1
        for it in progress(range(n_iter), f"HDP-HMM ({R} chains)"):
            active = self._active_states(summaries, K)
            Ka = active.shape[1]
            active_trace[it] = Ka
            log_lik = np.empty((R, S, T, Ka))
            log_pi0 = np.empty((R, Ka))
            trans = np.empty((R, Ka, Ka))
            for r in range(R):
                mu, C, log_beta[r], log_pi0[r], trans[r], hyper[r] = self._sample_parameters(
                    rng, *summaries[r], prior, log_beta[r], hyper[r], active[r], priors)
                lik = np.zeros((N, Ka))
                lik[obs] = gaussian_log_likelihood(X_obs, mu, C)
                log_lik[r] = lik[gather]
            log_lik[:, missing] = 0.0
            batch_trans = np.repeat(trans, S, axis=0)
            alpha, ll = forward_filter(log_lik.reshape(R * S, T, Ka),
                                       np.repeat(log_pi0, S, axis=0), batch_trans,
                                       batch_lengths)
            local = backward_sample(alpha, batch_trans, batch_lengths, rng).reshape(R, S, T)
            z = np.take_along_axis(active, local[:, valid], axis=1)
            traces[:, it] = ll.reshape(R, S).sum(axis=1)
            for r in range(R):
                a, k, _ = hyper[r]
                summaries[r] = self._summarise(data, z[r], K)
                if self.split_merge:
                    if self._merge(rng, z[r], summaries[r], log_beta[r], prior, a, k):
                        n_merges[r] += 1
                        summaries[r] = self._summarise(data, z[r], K)
                    split = self._split(rng, data, z[r], summaries[r], log_beta[r], prior, a, k)
                    if split is not None:
                        n_splits[r] += 1
                        summaries[r] = split
                _, small, beta, beta_sum = _compact(summaries[r], log_beta[r])
                joints[r, it] = (niw_log_marginal(prior, *small[:3]).sum()
                                 + transition_log_marginal(small[3], beta, a, k, beta_sum).sum())
                used[r, it] = np.count_nonzero(summaries[r][0])
            hyper_trace[:, it] = hyper
            if it >= burn:
                r = int(np.argmax(joints[:, it]))
                if best is None or joints[r, it] > best[0]:
                    best = (joints[r, it], traces[r, it], z[r].copy(), log_beta[r].copy(), r,
                            hyper[r].copy())
                if stop.done(it, best[0]):
                    break
        n_run = it + 1
        self.n_iter_ = n_run
        self.log_likelihood_trace_ = traces[:, :n_run]
        self.log_joint_trace_ = joints[:, :n_run]
        self.n_states_trace_ = used[:, :n_run]
        self.n_active_trace_ = active_trace[:n_run]
        self.hyper_trace_ = hyper_trace[:, :n_run]
        self.n_merges_ = n_merges
        self.n_splits_ = n_splits
        self.n_features_in_ = D
        self._store(best, data, lengths, prior, K)
        return self

    def _active_states(self, summaries, K):
        """The states every chain works on this sweep, (R, K_a) sorted per chain: all K, or
        (adaptive truncation) the used states plus unused ones up to the largest number of
        used states over the chains plus ``n_spare_states``."""
        R = len(summaries)
        if self.n_spare_states is None:
            return np.tile(np.arange(K), (R, 1))
        # states holding a frame (observed or missing): the frames entering them
        in_use = [np.flatnonzero(s[3].sum(axis=0) > 0) for s in summaries]
        Ka = min(K, max(u.size for u in in_use) + int(self.n_spare_states))
        rows = []
        for u in in_use:
            spare = np.setdiff1d(np.arange(K), u)[: Ka - u.size]
            rows.append(np.sort(np.concatenate([u, spare])))
        return np.array(rows)

    def _initial_states(self, rng, X, obs, K):
        k0 = min(self.n_init_states, K, int(obs.sum()))
        if self.init == "kmeans":
            km = KMeans(n_clusters=k0, n_init=1,
                        random_state=int(rng.integers(2**31 - 1))).fit(X[obs])
            if obs.all():
                return km.labels_.astype(np.int64)
            # missing frames take the state of the last observed frame before them
            labels = np.zeros(X.shape[0], dtype=np.int64)
            labels[obs] = km.labels_
            last = np.maximum.accumulate(np.where(obs, np.arange(X.shape[0]), 0))
            first = np.flatnonzero(obs)[0]
            return np.where(np.arange(X.shape[0]) < first, labels[first], labels[last])
        # random blocks: segment lengths ~ 1 + Poisson(20), labels uniform over k0 states
        sizes = 1 + rng.poisson(20, size=X.shape[0])
        labels = rng.integers(k0, size=X.shape[0])
        return np.repeat(labels, sizes)[: X.shape[0]].astype(np.int64)

    @staticmethod
    def _summarise(data, z, K):
        """What the conditionals need from a state sequence: emission statistics of every
        state (observed frames only) and the transition counts (all frames)."""
        X_obs, XX, obs, starts, inside = data
        return (*sufficient_statistics(X_obs, z[obs], K, XX),
                transition_counts(z, starts, inside, K))

    def _merge(self, rng, z, summary, log_beta, prior, alpha, kappa):
        """Merge move: the pair of used states whose merging raises the collapsed
        ``log p(x, z | beta)`` most is merged with probability ``min(1, exp(gain))``.

        Edits ``z`` and ``log_beta`` in place; returns whether a merge happened. States open
        through the Gibbs step (unused states drawn from the prior), so this is the move that
        closes redundant ones (two states sharing one behaviour keep their frames under
        single-site updates for a very long time).
        """
        keep, (n, sx, sxx, counts), beta, beta_sum = _compact(summary, log_beta)
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
        i, j, gain = merge_gains(n, sx, sxx, counts, beta, prior, alpha, kappa,
                                 pairs=(i[top], j[top]), beta_sum=beta_sum)
        best = int(np.argmax(gain))
        if np.log(rng.random()) >= min(gain[best], 0.0):
            return False
        keep, gone = keep[i[best]], keep[j[best]]
        z[z == gone] = keep
        log_beta[keep] = np.logaddexp(log_beta[keep], log_beta[gone])
        log_beta[gone] = np.log(_TINY)
        return True

    def _split(self, rng, data, z, summary, log_beta, prior, alpha, kappa):
        """Split move: a used state, drawn in proportion to its frames, is cut in two by a
        two-means clustering of its observed frames (seeded at two random frames); the second
        half takes an unused state, and the split is kept with probability
        ``min(1, exp(gain))`` of the collapsed ``log p(x, z | beta)`` (``beta_i`` shared
        equally by the halves). Missing frames stay in the state they were in.

        Edits ``z`` and ``log_beta`` in place; returns the new summary, or None if nothing
        changed.
        """
        X_obs, _, obs, _, _ = data
        n = summary[0]
        K = n.shape[0]
        counts = summary[3]
        # a free state: no frame, and no transition into it (a missing frame's state)
        free = np.flatnonzero((n == 0) & (counts.sum(axis=0) == 0))
        big = np.flatnonzero(n >= _MIN_SPLIT_FRAMES)
        if free.size == 0 or big.size == 0:
            return None
        i = int(rng.choice(big, p=n[big] / n[big].sum()))
        observed = np.flatnonzero(obs)
        frames = observed[z[obs] == i]
        x = X_obs[z[obs] == i]
        centres = x[rng.choice(frames.size, size=2, replace=False)]
        for _ in range(_SPLIT_LLOYD_STEPS):
            half = (np.square(x[:, None, :] - centres[None]).sum(axis=2).argmin(axis=1))
            if half.min() == half.max():
                return None
            centres = np.stack([x[half == 0].mean(axis=0), x[half == 1].mean(axis=0)])
        new = int(free[0])
        z_split = z.copy()
        z_split[frames[half == 1]] = new
        proposal = self._summarise(data, z_split, K)
        beta = np.exp(log_beta)
        beta_split = beta.copy()
        beta_split[[i, new]] = 0.5 * (beta[i] + beta[new])
        keep, small, beta_keep, beta_sum = _compact(proposal, np.log(beta_split))
        _, _, back = merge_gains(*small, beta_keep, prior, alpha, kappa,
                                 pairs=(np.searchsorted(keep, [i]), np.searchsorted(keep, [new])),
                                 beta_sum=beta_sum)
        if np.log(rng.random()) >= min(-back[0], 0.0):
            return None
        z[:] = z_split
        log_beta[:] = np.log(np.maximum(beta_split, _TINY))
        return proposal

    def _sample_parameters(self, rng, n, sx, sxx, counts, prior, log_beta, hyper, active,
                           priors):
        """One Gibbs half-sweep: everything but the state sequences, given the state
        sequence's statistics and transition counts, and the previous ``beta`` and
        hyperparameters (which set the concentrations of the table counts).

        Emissions and transition rows are drawn for the ``active`` states only (all ``K``
        without adaptive truncation); unused active states get emissions drawn from the prior
        and transition weights from the Dirichlet conditionals, so they stay available for the
        next state sequences. A transition row's mass on the inactive states is dropped (the
        state paths of this sweep stay among the active states). ``beta`` is drawn over all
        ``K`` states (inactive states have no tables).

        Returns ``mu, C`` (K_a states), ``log_beta`` (K), the log initial distribution and the
        transition matrix over the active states, and ``(alpha, kappa, gamma)``.
        """
        K = log_beta.shape[0]
        Ka = active.shape[0]
        alpha, kappa, gamma = hyper
        mu, C = sample_niw(rng, *niw_posterior(prior, n[active], sx[active], sxx[active]))
        beta = np.exp(log_beta)
        sub = counts[np.append(active, K)][:, active]  # (K_a + 1, K_a): other cells are zero
        diag = np.arange(Ka)
        sticky = np.zeros((Ka + 1, Ka))
        sticky[diag, diag] = kappa
        m = sample_table_counts(rng, sub, alpha * beta[active][None, :] + sticky)
        # sticky override: tables of a self-transition that came from kappa, not from beta
        rho = kappa / (alpha + kappa)
        w = rng.binomial(m[diag, diag], rho / (rho + beta[active] * (1.0 - rho)))
        m_bar = m.copy()
        m_bar[diag, diag] -= w
        if self.resample_hyperparameters:
            alpha, kappa, gamma = resample_hyperparameters(
                rng, (alpha, kappa, gamma), sub[:Ka], m[:Ka], w, m_bar, priors)
            sticky[diag, diag] = kappa
        tables = np.zeros(K)
        tables[active] = m_bar.sum(axis=0)
        log_beta = sample_log_dirichlet(rng, gamma / K + tables)
        beta = np.exp(log_beta)
        conc = alpha * beta[active][None, :] + sticky + sub
        if Ka < K:  # one more column: the mass of the inactive states
            rest = np.full((Ka + 1, 1), alpha * (1.0 - beta[active].sum()))
            conc = np.hstack([conc, np.maximum(rest, alpha * _TINY)])
        log_rows = sample_log_dirichlet(rng, conc)[:, :Ka]
        return mu, C, log_beta, log_rows[Ka], np.exp(log_rows[:Ka]), (alpha, kappa, gamma)

    def _store(self, best, data, lengths, prior, K):
        joint, ll, z, log_beta, r, hyper = best
        alpha, kappa, gamma = (float(v) for v in hyper)
        n, sx, sxx, counts = self._summarise(data, z, K)
        used = np.flatnonzero(n > 0)
        used = used[np.argsort(-n[used], kind="stable")]
        D = prior[0].shape[0]
        # a state holding only missing frames has no emission estimate: its frames are
        # labelled -1 in state_sequences_
        new_label = np.full(K, -1)
        new_label[used] = np.arange(used.size)
        m_n, n_n, nu_n, S_n = niw_posterior(prior, n[used], sx[used], sxx[used])
        self.means_ = m_n
        # inverse-Wishart mean S / (nu - D - 1) exists for nu > D + 1; else the mode-like S / nu
        denom = np.where(nu_n > D + 1, nu_n - D - 1.0, nu_n)
        self.covariances_ = S_n / denom[:, None, None]
        self.state_counts_ = n[used].astype(np.int64)
        # posterior mean of the transition rows given the kept state sequence and beta
        beta = np.exp(log_beta)
        rows = counts[:K] + alpha * beta[None, :] + kappa * np.eye(K)
        sub = rows[np.ix_(used, used)]
        self.transmat_ = sub / sub.sum(axis=1, keepdims=True)
        start = counts[K][used] + alpha * beta[used]
        self.startprob_ = start / start.sum()
        relabelled = new_label[z]
        self.state_sequences_ = np.split(relabelled, np.cumsum(lengths)[:-1])
        self.log_likelihood_ = float(ll)
        self.log_joint_ = float(joint)
        self.best_restart_ = int(r)
        self.n_states_ = int(used.size)
        self.alpha_, self.kappa_, self.gamma_ = alpha, kappa, gamma


def _compact(summary, log_beta):
    """A summary restricted to the states holding frames (observed or missing), with their
    weights and the sum of all weights: every collapsed term over the other states is zero, so
    merge gains and log joints computed on it are exact and cost what the used states cost.
    Returns ``(states, (n, sum_x, sum_xx, counts), beta, beta_sum)``."""
    n, sx, sxx, counts = summary
    K = n.shape[0]
    keep = np.flatnonzero(counts.sum(axis=0) > 0)
    beta = np.exp(log_beta)
    return (keep, (n[keep], sx[keep], sxx[keep], counts[np.append(keep, K)][:, keep]),
            beta[keep], beta.sum())


class _StoppingRule:
    """Label-free stop: after burn-in, stop when the best collapsed log joint has not risen by
    ``tol`` nats per observed frame over ``patience`` sweeps (never, with ``tol=None``)."""

    def __init__(self, tol, patience, n_frames):
        self.step = None if tol is None else float(tol) * n_frames
        self.patience = patience
        self.reference = None
        self.since = None

    def done(self, it, best):
        if self.step is None:
            return False
        if self.reference is None or best > self.reference + self.step:
            self.reference, self.since = best, it
            return False
        return it - self.since >= self.patience


def map_states(state_sequences, mapping):
    """Relabel local state sequences through ``mapping`` (local state -> global state)."""
    mapping = np.asarray(mapping)
    return [mapping[np.asarray(z)] for z in state_sequences]



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

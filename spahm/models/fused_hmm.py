"""The global HMM built from fused sticky HDP-HMM states (:class:`FusedGaussianHMM`)."""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_array, check_is_fitted

from .._validation import ParamValidationMixin
from ..adapters import _precision_cholesky
from ._hmm import forward_filter, gaussian_log_likelihood, viterbi


class FusedGaussianHMM(ParamValidationMixin, BaseEstimator):
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

    _parameter_constraints: dict = {
        "means": ["array-like", None],
        "covariances": ["array-like", None],
        "transmat": ["array-like", None],
        "startprob": ["array-like", None],
        "popularity": ["array-like", None],
    }

    def __init__(self, *, means=None, covariances=None, transmat=None, startprob=None,
                 popularity=None):
        self.means = means
        self.covariances = covariances
        self.transmat = transmat
        self.startprob = startprob
        self.popularity = popularity

    def fit(self, X=None, y=None):
        """Check the parameters and set the fitted attributes (``X`` and ``y`` are ignored)."""
        self._validate_params()
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
        """Emission log density of every frame under every global state, (T, L).

        Raises ``ValueError`` when a density cannot be represented (frames so far from every
        state that the squared distance overflows): a score is a number or an error, never
        NaN or infinite."""
        X = self._frames(X)
        with np.errstate(over="ignore", invalid="ignore"):
            emit = gaussian_log_likelihood(X, self.means_, self._prec_chol)
        if not np.all(np.isfinite(emit)):
            bad = int(np.flatnonzero(~np.isfinite(emit).all(axis=1))[0])
            raise ValueError(f"X: frame {bad} (largest |value| {np.abs(X[bad]).max():.3g}) is too "
                             "far from every state for its log density to be represented")
        return emit

    def predict(self, X):
        """Most likely global state sequence of one sequence X (T, D) (Viterbi)."""
        emit = self.score_samples(X)
        with np.errstate(divide="ignore"):
            log_a, log_pi = np.log(self.transmat_), np.log(self.startprob_)
        return viterbi(emit, log_pi, log_a)

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



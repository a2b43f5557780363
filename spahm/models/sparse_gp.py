"""Sparse Gaussian processes as local models: fit, atom extraction, the fused global model.

The paper's fourth application (temperature forecasting): every silo fits a sparse GP
(GPy ``SparseGPRegression``, variational DTC, RBF kernel with one lengthscale per input)
with ``M`` inducing points; SPAHM fuses the inducing points of all silos; the global inducing
points are sent back to every silo, which predicts with them.

Shared scale (:class:`Standardizer`)
    Atoms of different silos can only be matched if they live in one coordinate system, so
    inputs and target are standardised with one global mean and standard deviation per
    column. These are computed from per-silo summaries only (count, sum, sum of squares per
    column: :func:`silo_summary`, :meth:`Standardizer.from_summaries`), which gives exactly
    the pooled mean and standard deviation without any silo sharing a data point. All GP
    work below happens in standardised units; predictions are mapped back at the end.

Local atoms (:func:`extract_atoms`, the one extraction path; :class:`SparseGPAdapter` uses it)
    One atom per inducing point: ``[z_1, ..., z_d, w * u]`` where ``z`` is the inducing input
    (standardised inputs) and ``u = E[f(z) | silo data]`` is the posterior mean of the latent
    function at ``z`` under the silo's fitted sparse GP (standardised target units). Both
    parts are unit-free and of unit spread over the pooled data, so with ``w = 1`` (the
    default ``output_weight``) one standard deviation of temperature weighs as much as one
    standard deviation of any one input; ``w > 1`` makes the matching care more about
    agreeing outputs, ``w < 1`` about agreeing locations.

Global model (:class:`FusedSparseGP`, the paper's: the fused inducing points sent back to every silo)
    A global atom ``i`` gives an inducing input ``z_i`` and an output ``u_i`` (its second part
    divided by ``w``). Silo ``j`` treats the ``L`` global pairs as pseudo-observations of its
    latent function, ``u_i = f(z_i) + e_i`` with ``e_i ~ N(0, s_i^2)``, under a zero-mean GP
    prior with **its own** fitted kernel (signal variance ``v_j``, lengthscales ``l_j``) and
    predicts a new target with its own noise variance ``n_j``::

        K_zz  = k_j(Z, Z) + diag(s^2) + jitter I
        mean  = k_j(x, Z) K_zz^{-1} u
        var_f = v_j - k_j(x, Z) K_zz^{-1} k_j(Z, x)
        var_y = var_f + n_j

    This is the exact GP posterior given the pseudo-observations (so the variance is the
    full conditional one, not the degenerate subset-of-regressors variance). With ``s = 0``
    its mean is the SoR / DTC predictive mean given the function's values at the inducing
    inputs: fed a single silo's own atoms it returns that silo's sparse-GP mean
    (``k(x,Z) Kzz^{-1} Kzz w = k(x,Z) w``, exact up to the jitter; tested). The
    pseudo-noise ``s_i^2`` is the SPAHM posterior variance of the global atom's output
    coordinate, ``sigma^2 sigma0^2 / (m_i sigma0^2 + sigma^2) / w^2``: a global output
    backed by many silos is trusted more than one seen in a single silo. The kernel
    hyperparameters are not re-fitted: they are the silo's own, learnt on its own data.
    :class:`FusedInducingPredictor` is one silo's predictor; :class:`FusedSparseGP` holds the
    fused points with every silo's kernel (``predict(X, silo=j)``).

GPy is an optional dependency (the ``gp`` extra): it is imported inside the functions that
fit a local model, never by ``import spahm``.

"""
from __future__ import annotations

import numbers
import sys
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_solve, solve_triangular
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from ..adapters import Adapter, LocalAtoms, register_adapter

# Added to the diagonal of a kernel matrix before its Cholesky factorisation (in units of
# the signal variance): inducing inputs that nearly coincide make K_zz singular otherwise.
_JITTER = 1e-6
# Smallest variance returned by a predictor: keeps log densities finite when a prediction
# sits exactly on a noise-free point.
_VARIANCE_FLOOR = 1e-10
# Smallest standard deviation of a column in a Standardizer: a column constant over the
# pooled data (one station only) is centred but not divided by zero.
_SCALE_FLOOR = 1e-8


def _check_inputs(X, n_features, what="X"):
    """``X`` as a finite real float array of shape (n, n_features); ValueError naming it."""
    X = check_array(X, dtype=np.float64, input_name=what)
    if X.shape[1] != n_features:
        raise ValueError(f"{what} has {X.shape[1]} features, but the model was fitted on "
                         f"{n_features}: expected shape (n, {n_features})")
    return X


# ---------------------------------------------------------------------- standardisation
def silo_summary(values):
    """Per-column count, sum and sum of squares of one silo's data (all a silo shares).

    Parameters
    ----------
    values : array-like of shape (n,) or (n, d)

    Returns
    -------
    tuple (n, sum, sum_of_squares), the latter two of shape (d,)
    """
    arr = np.asarray(values, dtype=np.float64)
    arr = arr.reshape(len(arr), -1)
    return len(arr), arr.sum(axis=0), (arr**2).sum(axis=0)


@dataclass(frozen=True)
class Standardizer:
    """Column-wise ``(x - mean) / scale`` with one global mean and scale.

    Examples
    --------
    >>> import numpy as np
    >>> silos = [np.array([[0.0], [2.0]]), np.array([[4.0]])]
    >>> s = Standardizer.from_summaries([silo_summary(x) for x in silos])
    >>> s.mean.tolist(), round(float(s.scale[0]), 4)
    ([2.0], 1.633)
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def from_summaries(cls, summaries):
        """Pooled mean and standard deviation from :func:`silo_summary` outputs."""
        n = sum(s[0] for s in summaries)
        if n == 0:
            raise ValueError("cannot standardise: all silos are empty")
        total = sum(s[1] for s in summaries)
        total_sq = sum(s[2] for s in summaries)
        mean = total / n
        var = np.maximum(total_sq / n - mean**2, 0.0)
        return cls(mean=mean, scale=np.maximum(np.sqrt(var), _SCALE_FLOOR))

    def transform(self, values):
        arr = np.asarray(values, dtype=np.float64)
        return (arr.reshape(len(arr), -1) - self.mean) / self.scale

    def inverse_mean(self, values):
        """Map standardised values (means) back to original units; 1-D in, 1-D out."""
        return np.asarray(values) * self.scale[0] + self.mean[0]

    def inverse_variance(self, variances):
        """Map standardised variances back to original units (first column's scale)."""
        return np.asarray(variances) * self.scale[0] ** 2


# ---------------------------------------------------------------------- kernel
def rbf_kernel(a, b, variance, lengthscale):
    """RBF kernel with one lengthscale per input: ``v exp(-|(a - b) / l|^2 / 2)`` (as GPy's RBF)."""
    a = np.asarray(a, dtype=np.float64) / lengthscale
    b = np.asarray(b, dtype=np.float64) / lengthscale
    sq = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T
    return variance * np.exp(-0.5 * np.maximum(sq, 0.0))


# ---------------------------------------------------------------------- local model
class LocalSparseGP(RegressorMixin, BaseEstimator):
    """One silo's sparse GP (GPy ``SparseGPRegression``, RBF kernel with ARD).

    Parameters
    ----------
    num_inducing : int, default 50
        Number of inducing points ``M`` (capped at the number of training points).
    max_iters : int, default 200
        L-BFGS-B iterations of the evidence lower bound.
    optimize_inducing : bool, default True
        Optimise the inducing inputs with the hyperparameters (else keep their start).
    init_lengthscale, init_variance, init_noise_variance : float
        Starting kernel lengthscale (every input), signal variance and noise variance, in
        standardised units. An input that is constant in the silo (a single station's
        coordinates) has no gradient, so its lengthscale stays at ``init_lengthscale``.
    random_state : int or None
        Seeds the choice of the starting inducing inputs (a random subset of the training
        inputs) and numpy's global RNG, which GPy uses.

    Attributes
    ----------
    model_ : GPy.models.SparseGPRegression
    inducing_inputs_ : ndarray (M, d)
    variance_, lengthscale_, noise_variance_ : fitted kernel and likelihood parameters
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(-3, 3, 60)[:, None]
    >>> gp = LocalSparseGP(num_inducing=8, max_iters=50, random_state=0).fit(x, np.sin(x))
    >>> extract_atoms(gp).shape
    (8, 2)
    """

    def __init__(
        self,
        num_inducing=50,
        max_iters=200,
        optimize_inducing=True,
        init_lengthscale=1.0,
        init_variance=1.0,
        init_noise_variance=0.1,
        random_state=None,
    ):
        self.num_inducing = num_inducing
        self.max_iters = max_iters
        self.optimize_inducing = optimize_inducing
        self.init_lengthscale = init_lengthscale
        self.init_variance = init_variance
        self.init_noise_variance = init_noise_variance
        self.random_state = random_state

    def fit(self, X, y):
        """Fit on standardised inputs ``X`` (n, d) and target ``y`` (n,) or (n, 1)."""
        import GPy  # the optional dependency, imported only when a model is fitted

        X = check_array(X, dtype=np.float64, input_name="X")
        y = np.asarray(y, dtype=np.float64).reshape(-1, 1)
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)} values")
        if not np.isfinite(y).all():
            raise ValueError("y must be finite")
        if int(self.num_inducing) < 1:
            raise ValueError(f"num_inducing must be a positive integer, got {self.num_inducing!r}")
        rng = np.random.default_rng(self.random_state)
        if self.random_state is not None:
            np.random.seed(int(self.random_state) % 2**32)  # GPy draws from the global RNG
        m = min(int(self.num_inducing), len(X))
        Z = X[rng.choice(len(X), size=m, replace=False)].copy()
        kernel = GPy.kern.RBF(
            X.shape[1], variance=self.init_variance, lengthscale=self.init_lengthscale, ARD=True
        )
        model = GPy.models.SparseGPRegression(X, y, kernel=kernel, Z=Z)
        model.likelihood.variance = self.init_noise_variance
        if not self.optimize_inducing:
            model.inducing_inputs.fix()
        if self.max_iters > 0:
            # One BLAS thread: GPy's matrices here are small, so threads cost more than they
            # give (4x slower on 2 cores), and the L-BFGS path - hence the fitted model - would
            # otherwise depend on the machine's thread count through rounding. Silos are fitted
            # in parallel instead (``n_jobs``).
            with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
                # A trial step of L-BFGS-B can reach extreme parameter values where GPy's
                # kernel gradients overflow or become NaN; GPy then reports an infinite
                # objective and the optimiser backs off. Only these numpy RuntimeWarnings,
                # and only from GPy's and paramz's own modules, are silenced.
                for text in ("overflow encountered", "invalid value encountered"):
                    warnings.filterwarnings("ignore", text, RuntimeWarning, r"(GPy|paramz)(\.|$)")
                model.optimize("lbfgsb", max_iters=int(self.max_iters), messages=False)
        self.model_ = model
        self.n_features_in_ = X.shape[1]
        self.inducing_inputs_ = np.array(model.inducing_inputs.values)
        self.variance_ = float(model.kern.variance.values[0])
        self.lengthscale_ = np.array(model.kern.lengthscale.values, dtype=np.float64)
        self.noise_variance_ = float(model.likelihood.variance.values[0])
        return self

    def predict(self, X, return_var=False):
        """Latent mean at ``X`` (standardised units); with ``return_var`` also its variance
        (add ``noise_variance_`` for the variance of a new target)."""
        check_is_fitted(self, "model_")
        X = _check_inputs(X, self.n_features_in_)
        mean, var = self.model_.predict_noiseless(X)
        mean = mean[:, 0]
        return (mean, np.maximum(var[:, 0], _VARIANCE_FLOOR)) if return_var else mean


# ---------------------------------------------------------------------- atoms
def _local_parts(model):
    """Inducing inputs, latent mean and variance there, and the RBF kernel of a fitted sparse
    GP (a :class:`LocalSparseGP` or a GPy ``SparseGP`` with an RBF kernel)."""
    if isinstance(model, LocalSparseGP):
        check_is_fitted(model, "model_")
        Z = model.inducing_inputs_
        u, var = model.predict(Z, return_var=True)
        return Z, u, var, (model.variance_, model.lengthscale_, model.noise_variance_)
    gp = _gpy_sparse_gp(model)
    if gp is None:
        raise ValueError(f"expected a fitted LocalSparseGP or GPy SparseGP, got "
                         f"{type(model).__name__}")
    import GPy

    if not isinstance(gp.kern, GPy.kern.RBF):
        raise ValueError(f"the fused sparse GP predicts with an RBF kernel; this model has a "
                         f"{type(gp.kern).__name__} kernel")
    Z = np.asarray(gp.Z.values, dtype=np.float64)
    mean, var = gp.predict_noiseless(Z)
    lengthscale = np.broadcast_to(np.asarray(gp.kern.lengthscale.values, dtype=np.float64),
                                  (Z.shape[1],)).copy()
    kernel = (float(gp.kern.variance.values[0]), lengthscale,
              float(gp.likelihood.variance.values[0]))
    return Z, mean[:, 0], np.maximum(var[:, 0], 0.0), kernel


def extract_atoms(model, output_weight=1.0):
    """A fitted sparse GP's local atoms ``[Z, output_weight * u]``, shape (M, d + 1).

    ``model`` is a :class:`LocalSparseGP` or a GPy ``SparseGP`` with an RBF kernel. The same
    as ``SparseGPAdapter(output_weight).extract(model).atoms``.
    """
    return SparseGPAdapter(output_weight).extract(model).atoms


def split_atoms(atoms, output_weight=1.0):
    """Inverse of :func:`extract_atoms`: ``(inducing_inputs, inducing_outputs)``."""
    atoms = np.asarray(atoms, dtype=np.float64)
    return atoms[:, :-1], atoms[:, -1] / output_weight


def global_output_variance(popularity, hyperparameters, output_weight=1.0):
    """SPAHM posterior variance of each global atom's output coordinate (standardised units).

    ``sigma^2 sigma0^2 / (m_i sigma0^2 + sigma^2) / w^2`` with ``sigma``, ``sigma0`` the
    fitted standard deviations of the output coordinate (last entry if per dimension).
    """
    sigma = float(np.ravel(hyperparameters["sigma"])[-1])
    sigma0 = float(np.ravel(hyperparameters["sigma0"])[-1])
    m = np.asarray(popularity, dtype=np.float64)
    return sigma**2 * sigma0**2 / (m * sigma0**2 + sigma**2) / output_weight**2


# ---------------------------------------------------------------------- global model
class FusedInducingPredictor(RegressorMixin, BaseEstimator):
    """One silo's predictor from inducing inputs with known (noisy) outputs (module docstring).

    Parameters
    ----------
    inducing_inputs : array (L, d)
    inducing_outputs : array (L,)
    output_variance : float or array (L,)
        Variance ``s_i^2`` of each output around the latent function (0: exact values).
    variance, lengthscale, noise_variance : kernel and likelihood of the predicting silo.

    Examples
    --------
    >>> p = FusedInducingPredictor([[0.0]], [1.0], 0.0, 1.0, 1.0, 0.1)
    >>> round(float(p.predict([[1.0]])[0]), 4)   # exp(-1/2)
    0.6065
    """

    def __init__(self, inducing_inputs, inducing_outputs, output_variance, variance, lengthscale,
                 noise_variance):
        self.inducing_inputs = inducing_inputs
        self.inducing_outputs = inducing_outputs
        self.output_variance = output_variance
        self.variance = variance
        self.lengthscale = lengthscale
        self.noise_variance = noise_variance

    def _factor(self):
        """Cholesky factor of ``K_zz + diag(s^2)`` and ``K^{-1} u``, computed once."""
        if getattr(self, "_cache", None) is None:
            Z = check_array(self.inducing_inputs, dtype=np.float64, input_name="inducing_inputs")
            u = np.asarray(self.inducing_outputs, dtype=np.float64).ravel()
            if len(Z) != len(u):
                raise ValueError(f"inducing_inputs must be (L, d) and inducing_outputs (L,), "
                                 f"got {Z.shape} and {u.shape}")
            s2 = np.broadcast_to(np.asarray(self.output_variance, dtype=np.float64), u.shape)
            if (s2 < 0).any():
                raise ValueError("output_variance must be non-negative")
            variance = float(self.variance)
            lengthscale = np.asarray(self.lengthscale, dtype=np.float64)
            K = rbf_kernel(Z, Z, variance, lengthscale)
            K[np.diag_indices_from(K)] += s2 + _JITTER * variance
            chol = np.linalg.cholesky(K)
            alpha = cho_solve((chol, True), u)
            self._cache = (Z, variance, lengthscale, chol, alpha)
        return self._cache

    @property
    def n_features_in_(self):
        return self._factor()[0].shape[1]

    def predict(self, X, return_var=False):
        """Latent mean at ``X``; with ``return_var`` also its variance (add
        ``noise_variance`` for the variance of a new target)."""
        Z, variance, lengthscale, chol, alpha = self._factor()
        X = _check_inputs(X, Z.shape[1])
        Kx = rbf_kernel(X, Z, variance, lengthscale)
        mean = Kx @ alpha
        if not return_var:
            return mean
        half = solve_triangular(chol, Kx.T, lower=True)  # L^{-1} K_zx
        return mean, np.maximum(variance - (half**2).sum(0), _VARIANCE_FLOOR)


class FusedSparseGP(RegressorMixin, BaseEstimator):
    """The global sparse GP: the fused inducing points, sent back to every silo.

    Silo ``j`` predicts with the global inducing inputs and outputs under its own kernel
    (:class:`FusedInducingPredictor`); ``predict(X, silo=j)``.

    Parameters
    ----------
    inducing_inputs : array (L, d)
    inducing_outputs : array (L,)
    output_variance : float or array (L,)
        Variance of each fused output (the SPAHM posterior variance, see
        :func:`global_output_variance`).
    kernels : list of (variance, lengthscale, noise_variance)
        Each silo's fitted RBF kernel and noise variance.
    popularity : array (L,) or None
        Number of silos behind each global inducing point.
    """

    def __init__(self, inducing_inputs, inducing_outputs, output_variance, kernels,
                 popularity=None):
        self.inducing_inputs = inducing_inputs
        self.inducing_outputs = inducing_outputs
        self.output_variance = output_variance
        self.kernels = kernels
        self.popularity = popularity

    @property
    def n_silos(self):
        return len(self.kernels)

    def predictor(self, silo=0):
        """Silo ``silo``'s :class:`FusedInducingPredictor` (built once, then cached)."""
        if not 0 <= int(silo) < len(self.kernels):
            raise ValueError(f"silo must be in 0..{len(self.kernels) - 1}, got {silo!r}")
        cache = self.__dict__.setdefault("_predictors", {})
        if silo not in cache:
            variance, lengthscale, noise = self.kernels[silo]
            cache[silo] = FusedInducingPredictor(self.inducing_inputs, self.inducing_outputs,
                                                 self.output_variance, variance, lengthscale,
                                                 noise)
        return cache[silo]

    @property
    def n_features_in_(self):
        return self.predictor(0).n_features_in_

    def predict(self, X, silo=0, return_var=False):
        """Silo ``silo``'s latent mean at ``X`` (and variance with ``return_var``)."""
        return self.predictor(silo).predict(X, return_var=return_var)


# ---------------------------------------------------------------------------- adapter
def _gpy_sparse_gp(model):
    """The GPy sparse GP ``model`` is, or None (never imports GPy: a GPy model exists only if
    GPy was imported already)."""
    if "GPy" not in sys.modules:
        return None
    import GPy

    return model if isinstance(model, GPy.core.SparseGP) else None


class SparseGPAdapter(Adapter):
    """Atoms ``[Z, w f(Z)]``: inducing inputs with the posterior mean of the latent function.

    Variances: 0 for the input coordinates, ``w^2`` times the latent posterior variance for
    the output. The global model is a :class:`FusedSparseGP`.

    Parameters
    ----------
    output_weight : float, default 1.0
        ``w``: weight of the output coordinate against the inputs in the matching.
    output_variance : "posterior" or float, default "posterior"
        Variance of the fused outputs in the global model: the SPAHM posterior variance of
        each global atom's output, or one fixed number (standardised units).
    """

    name = "sparse GP (LocalSparseGP or GPy SparseGPRegression)"

    def __init__(self, output_weight=1.0, output_variance="posterior"):
        if not output_weight > 0:
            raise ValueError(f"output_weight must be positive, got {output_weight!r}")
        numeric = (isinstance(output_variance, numbers.Real)
                   and not isinstance(output_variance, bool))
        if not (output_variance == "posterior" or (numeric and output_variance >= 0)):
            raise ValueError(f"output_variance must be 'posterior' or a number >= 0, got "
                             f"{output_variance!r}")
        self.output_weight = float(output_weight)
        self.output_variance = output_variance

    def matches(self, model):
        return isinstance(model, LocalSparseGP) or _gpy_sparse_gp(model) is not None

    def extract(self, model, data=None):
        Z, u, var, kernel = _local_parts(model)
        w = self.output_weight
        variances = np.zeros((len(Z), Z.shape[1] + 1))
        variances[:, -1] = w**2 * var
        return LocalAtoms(np.hstack([Z, w * u[:, None]]), variances, {"kernel": kernel})

    def build(self, result, locals_, models):
        Z, u = split_atoms(result.global_atoms, self.output_weight)
        if self.output_variance == "posterior":
            s2 = global_output_variance(result.popularity, result.hyperparameters,
                                        self.output_weight)
        else:
            s2 = float(self.output_variance)
        return FusedSparseGP(Z, u, s2, [x.extra["kernel"] for x in locals_],
                             popularity=result.popularity)


register_adapter(SparseGPAdapter(), first=False)

"""Sparse Gaussian processes as local models: fit, atom extraction, the fused global model.

The paper's fourth application (temperature forecasting, section 4.4): every silo fits a
sparse GP (GPy ``SparseGPRegression``, variational DTC, RBF kernel with one lengthscale per
input) with ``M`` inducing points; SPAHM fuses the inducing points of all silos; the global
inducing points are sent back to every silo, which predicts with them.

Shared scale (:class:`Standardizer`)
    Atoms of different silos can only be matched if they live in one coordinate system, so
    inputs and target are standardised with one global mean and standard deviation per
    column, computed from per-silo summaries only (count, sum, sum of squares per column:
    :func:`silo_summary`, :meth:`Standardizer.from_summaries`): exactly the pooled mean and
    standard deviation, without any silo sharing a data point.

Local atoms (:class:`SparseGPAdapter`; :func:`extract_atoms`)
    One atom per *live* inducing point: ``[z_1 / l_1, ..., z_d / l_d, w * u]`` where ``z`` is
    the inducing input, ``u = E[f(z) | silo data]`` the posterior mean of the latent function
    there under the silo's fitted sparse GP, ``w`` the ``output_weight`` and ``l`` the
    *input scale*. With ``input_scale="kernels"`` (the default of :func:`spahm.fuse_models`
    and of :meth:`SparseGPAdapter.for_models`) ``l_d`` is the geometric mean over silos of the
    fitted ARD lengthscales of input ``d``: the matching's one ``sigma`` is then measured in
    lengthscales, so an input along which the functions vary slowly counts less than one
    along which they vary fast. ``input_scale=None`` keeps the input units.

    An inducing point is *dead* when the optimiser moved it out of the silo's data: some
    coordinate lies more than ``dead_margin`` of the silo's own lengthscales beyond the range
    of the silo's training inputs (a rule on training inputs only; the kernel correlation
    between such a point and any training input is below ``exp(-dead_margin^2 / 2)``, so its
    output is the prior's, not the data's). Dead points are not sent as atoms; the global
    model records both counts (``n_inducing_points_``, ``n_local_atoms_``), and compression
    should be counted against the live atoms.

Global model (:class:`FusedSparseGP`)
    The paper's construction: the global atoms SPAHM infers are the new inducing points,
    sent back to every silo. Ours differs in what a global point *is*. SPAHM's global atoms
    are posterior means under its N(mu0, sigma0^2) prior: every point is shrunk towards mu0
    by a factor that grows with sigma, which drags unmatched points (and points matched in
    few silos) away from the data. Here global point ``i`` is instead the group of local
    atoms SPAHM matched to it: its inducing input is the plain mean of the group's inputs,
    its output ``u_i`` the precision-weighted mean of the group's outputs with weights the
    local posterior variances ``v_k`` of those outputs (the posterior under a flat prior,
    which cannot move a point), and its noise ``s_i^2 = 1 / sum_k (1 / v_k)``. A point that
    nothing matched is returned unchanged, with its own local posterior variance. Silo ``j``
    treats the ``L`` global pairs as pseudo-observations of its latent function,
    ``u_i = f(z_i) + e_i`` with ``e_i ~ N(0, s_i^2)``, under a zero-mean GP prior with **its
    own** fitted kernel (signal variance ``v_j``, lengthscales ``l_j``)::

        K_zz  = k_j(Z, Z) + diag(s^2) + jitter I
        mean  = k_j(x, Z) K_zz^{-1} u
        var_f = v_j - k_j(x, Z) K_zz^{-1} k_j(Z, x)
        var_y = var_f + n_j

    the exact GP posterior given the pseudo-observations. With ``s = 0`` its mean is the
    DTC predictive mean given the function's values at the inducing inputs: fed a single
    silo's own atoms it returns that silo's sparse-GP mean (exact up to the jitter; tested).
    The kernel hyperparameters are not re-fitted: they are the silo's own.
    ``output_variance`` may instead be one fixed number (the same noise for every point).

Both estimators follow scikit-learn's conventions: keyword-only constructor parameters,
checked with scikit-learn's own parameter validation when ``fit`` is called.

GPy is an optional dependency (the ``gp`` extra): it is imported inside the functions that
fit a local model, never by ``import spahm``.

"""
from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from scipy.linalg import cho_solve, solve_triangular
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from ..adapters import (Adapter, LocalAtoms, _fuse_by_matching, group_average,
                        register_adapter)

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

    Parameters (keyword-only; checked at ``fit``)
    ----------
    num_inducing : int >= 1, default 50
        Number of inducing points ``M`` (capped at the number of training points).
    max_iters : int >= 0, default 200
        L-BFGS-B iterations of the evidence lower bound (0: keep the starting values).
    optimize_inducing : bool, default True
        Optimise the inducing inputs with the hyperparameters (else keep their start).
    init_lengthscale, init_variance, init_noise_variance : float > 0
        Starting kernel lengthscale (every input), signal variance and noise variance, in
        the units of the data. An input that is constant in the silo has no gradient, so its
        lengthscale stays at ``init_lengthscale``.
    random_state : int or None
        Seeds the choice of the starting inducing inputs (a random subset of the training
        inputs) and numpy's global RNG, which GPy uses.

    Attributes
    ----------
    model_ : GPy.models.SparseGPRegression
    inducing_inputs_ : ndarray (M, d)
    variance_, lengthscale_, noise_variance_ : fitted kernel and likelihood parameters
    input_min_, input_max_ : ndarray (d,), the range of the training inputs (which inducing
        points left the data is judged against it)
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(-3, 3, 60)[:, None]
    >>> gp = LocalSparseGP(num_inducing=8, max_iters=50, random_state=0).fit(x, np.sin(x))
    >>> extract_atoms(gp).shape
    (8, 2)
    """

    _parameter_constraints = {
        "num_inducing": [Interval(Integral, 1, None, closed="left")],
        "max_iters": [Interval(Integral, 0, None, closed="left")],
        "optimize_inducing": ["boolean"],
        "init_lengthscale": [Interval(Real, 0, None, closed="neither")],
        "init_variance": [Interval(Real, 0, None, closed="neither")],
        "init_noise_variance": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
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
        """Fit on inputs ``X`` (n, d) and target ``y`` (n,) or (n, 1)."""
        self._validate_params()
        import GPy  # the optional dependency, imported only when a model is fitted

        X = check_array(X, dtype=np.float64, input_name="X")
        y = np.asarray(y, dtype=np.float64).reshape(-1, 1)
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)} values")
        if not np.isfinite(y).all():
            raise ValueError("y must be finite")
        if self.random_state is not None and not isinstance(self.random_state, Integral):
            raise ValueError("random_state must be an int or None (GPy's global RNG is seeded "
                             f"with it), got {self.random_state!r}")
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
        self.input_min_, self.input_max_ = X.min(axis=0), X.max(axis=0)
        self.inducing_inputs_ = np.array(model.inducing_inputs.values)
        self.variance_ = float(model.kern.variance.values[0])
        self.lengthscale_ = np.array(model.kern.lengthscale.values, dtype=np.float64)
        self.noise_variance_ = float(model.likelihood.variance.values[0])
        return self

    def predict(self, X, return_var=False):
        """Latent mean at ``X``; with ``return_var`` also its variance (add
        ``noise_variance_`` for the variance of a new target)."""
        check_is_fitted(self, "model_")
        X = _check_inputs(X, self.n_features_in_)
        mean, var = self.model_.predict_noiseless(X)
        mean = mean[:, 0]
        return (mean, np.maximum(var[:, 0], _VARIANCE_FLOOR)) if return_var else mean


# ---------------------------------------------------------------------- atoms
@dataclass(frozen=True)
class _Parts:
    """What a fitted sparse GP gives the fusion: inducing inputs, latent mean and variance
    there, its kernel, and the range of its training inputs."""

    Z: np.ndarray
    u: np.ndarray
    var: np.ndarray
    kernel: tuple            # (signal variance, lengthscales (d,), noise variance)
    low: np.ndarray
    high: np.ndarray


def _local_parts(model):
    """The :class:`_Parts` of a fitted :class:`LocalSparseGP` or GPy ``SparseGP`` (RBF)."""
    if isinstance(model, LocalSparseGP):
        check_is_fitted(model, "model_")
        Z = model.inducing_inputs_
        u, var = model.predict(Z, return_var=True)
        return _Parts(Z, u, var, (model.variance_, model.lengthscale_, model.noise_variance_),
                      model.input_min_, model.input_max_)
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
    X = np.asarray(gp.X.values, dtype=np.float64)
    return _Parts(Z, mean[:, 0], np.maximum(var[:, 0], _VARIANCE_FLOOR), kernel,
                  X.min(axis=0), X.max(axis=0))


def live_inducing_points(model, margin=2.0):
    """Boolean mask (M,): which inducing points stayed in the silo's data.

    A point is dead when some coordinate lies more than ``margin`` of the silo's own
    lengthscales beyond the range of its training inputs (module docstring). If every point
    is dead, the one nearest the data is kept (a silo always sends something).
    """
    parts = _local_parts(model) if not isinstance(model, _Parts) else model
    return _live(parts, margin)


def _live(parts, margin):
    if margin is None:
        return np.ones(len(parts.Z), dtype=bool)
    lengthscale = parts.kernel[1]
    beyond = np.maximum(parts.low - parts.Z, parts.Z - parts.high) / lengthscale
    excess = beyond.max(axis=1)
    alive = excess <= margin
    if not alive.any():
        alive[np.argmin(excess)] = True
    return alive


def shared_lengthscale(models):
    """Per input, the geometric mean over silos of the fitted ARD lengthscales, shape (d,):
    the input scale of the atoms with ``input_scale="kernels"``."""
    scales = np.array([_local_parts(m).kernel[1] for m in models])
    return np.exp(np.log(scales).mean(axis=0))


def extract_atoms(model, output_weight=1.0):
    """A fitted sparse GP's atoms ``[Z, output_weight * u]`` in input units, every inducing
    point (live or dead), shape (M, d + 1); the adapter's atoms are the live ones, scaled."""
    return SparseGPAdapter(output_weight=output_weight, input_scale=None,
                           dead_margin=None).extract(model).atoms


def split_atoms(atoms, output_weight=1.0, input_scale=None):
    """Inverse of the atom construction: ``(inducing_inputs, inducing_outputs)``."""
    atoms = np.asarray(atoms, dtype=np.float64)
    scale = 1.0 if input_scale is None else np.asarray(input_scale, dtype=np.float64)
    return atoms[:, :-1] * scale, atoms[:, -1] / output_weight


def group_outputs(outputs, variances, assignments, n_global):
    """Per global point, the precision-weighted mean of the matched local outputs and its
    variance ``1 / sum(1 / v)`` (the flat-prior posterior; a lone point is unchanged).

    ``outputs``, ``variances``: per silo, arrays (L_j,); ``assignments``: per silo, the
    global index of each local atom.
    """
    outputs = [np.asarray(u, dtype=np.float64) for u in outputs]
    variances = [np.maximum(np.asarray(v, dtype=np.float64), _VARIANCE_FLOOR) for v in variances]
    precision, weighted, count = np.zeros(n_global), np.zeros(n_global), np.zeros(n_global, int)
    for u, v, a in zip(outputs, variances, assignments):
        np.add.at(precision, a, 1.0 / v)
        np.add.at(weighted, a, u / v)
        np.add.at(count, a, 1)
    if (count == 0).any():
        raise ValueError("a global point has no local atom: the matching's assignments do not "
                         "cover every global atom")
    mean, var = weighted / precision, 1.0 / precision
    for u, v, a in zip(outputs, variances, assignments):  # a lone point: exactly its own
        lone = count[a] == 1
        mean[a[lone]], var[a[lone]] = u[lone], v[lone]
    return mean, var


# ---------------------------------------------------------------------- global model
class FusedInducingPredictor(RegressorMixin, BaseEstimator):
    """One silo's predictor from inducing inputs with known (noisy) outputs (module docstring).

    Parameters (keyword-only; checked at ``fit``)
    ----------
    inducing_inputs : array (L, d)
    inducing_outputs : array (L,)
    output_variance : float >= 0 or array (L,)
        Variance ``s_i^2`` of each output around the latent function (0: exact values).
    variance : float > 0, lengthscale : array (d,) of floats > 0, noise_variance : float >= 0
        Kernel and likelihood of the predicting silo.

    ``fit()`` takes no data (the model is given, not learnt): it checks the parameters and
    factorises ``K_zz``; ``predict`` fits first if needed.

    Examples
    --------
    >>> p = FusedInducingPredictor(inducing_inputs=[[0.0]], inducing_outputs=[1.0],
    ...                            output_variance=0.0, variance=1.0, lengthscale=1.0,
    ...                            noise_variance=0.1).fit()
    >>> round(float(p.predict([[1.0]])[0]), 4)   # exp(-1/2)
    0.6065
    """

    _parameter_constraints = {
        "inducing_inputs": ["array-like"],
        "inducing_outputs": ["array-like"],
        "output_variance": [Interval(Real, 0, None, closed="left"), "array-like"],
        "variance": [Interval(Real, 0, None, closed="neither")],
        "lengthscale": [Interval(Real, 0, None, closed="neither"), "array-like"],
        "noise_variance": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, *, inducing_inputs, inducing_outputs, output_variance, variance,
                 lengthscale, noise_variance):
        self.inducing_inputs = inducing_inputs
        self.inducing_outputs = inducing_outputs
        self.output_variance = output_variance
        self.variance = variance
        self.lengthscale = lengthscale
        self.noise_variance = noise_variance

    def fit(self, X=None, y=None):
        """Check the parameters and factorise ``K_zz + diag(s^2)`` (no data is used)."""
        self._validate_params()
        Z = check_array(self.inducing_inputs, dtype=np.float64, input_name="inducing_inputs")
        u = np.asarray(self.inducing_outputs, dtype=np.float64).ravel()
        if len(Z) != len(u):
            raise ValueError(f"inducing_inputs must be (L, d) and inducing_outputs (L,), "
                             f"got {Z.shape} and {u.shape}")
        s2 = np.asarray(self.output_variance, dtype=np.float64)
        if s2.ndim > 1 or (s2.ndim == 1 and len(s2) != len(u)) or not np.isfinite(s2).all() \
                or (s2 < 0).any():
            raise ValueError(f"output_variance must be a number >= 0 or {len(u)} of them, got "
                             f"shape {s2.shape}")
        lengthscale = np.broadcast_to(np.asarray(self.lengthscale, dtype=np.float64),
                                      (Z.shape[1],))
        if not (np.isfinite(lengthscale) & (lengthscale > 0)).all():
            raise ValueError(f"lengthscale must be {Z.shape[1]} positive numbers")
        variance = float(self.variance)
        K = rbf_kernel(Z, Z, variance, lengthscale)
        K[np.diag_indices_from(K)] += np.broadcast_to(s2, u.shape) + _JITTER * variance
        self.chol_ = np.linalg.cholesky(K)
        self.alpha_ = cho_solve((self.chol_, True), u)
        self.inducing_inputs_, self.lengthscale_ = Z, lengthscale
        self.n_features_in_ = Z.shape[1]
        return self

    def predict(self, X, return_var=False):
        """Latent mean at ``X``; with ``return_var`` also its variance (add
        ``noise_variance`` for the variance of a new target)."""
        if not hasattr(self, "chol_"):
            self.fit()
        Z, variance = self.inducing_inputs_, float(self.variance)
        X = _check_inputs(X, Z.shape[1])
        Kx = rbf_kernel(X, Z, variance, self.lengthscale_)
        mean = Kx @ self.alpha_
        if not return_var:
            return mean
        half = solve_triangular(self.chol_, Kx.T, lower=True)  # L^{-1} K_zx
        return mean, np.maximum(variance - (half**2).sum(0), _VARIANCE_FLOOR)


class FusedSparseGP(RegressorMixin, BaseEstimator):
    """The global sparse GP: the fused inducing points, sent back to every silo.

    Silo ``j`` predicts with the global inducing inputs and outputs under its own kernel
    (:class:`FusedInducingPredictor`); ``predict(X, silo=j)``.

    Parameters (keyword-only; checked at ``fit``, which takes no data)
    ----------
    inducing_inputs : array (L, d)
    inducing_outputs : array (L,)
    output_variance : float >= 0 or array (L,)
        Variance of each fused output (:func:`group_outputs`, or a fixed number).
    kernels : list of (variance, lengthscale, noise_variance)
        Each silo's fitted RBF kernel and noise variance.
    popularity : array (L,) or None
        Number of silos behind each global inducing point.

    Attributes set by :meth:`SparseGPAdapter.build`: ``n_inducing_points_`` (all local
    inducing points) and ``n_local_atoms_`` (the live ones, sent as atoms).
    """

    _parameter_constraints = {
        "inducing_inputs": ["array-like"],
        "inducing_outputs": ["array-like"],
        "output_variance": [Interval(Real, 0, None, closed="left"), "array-like"],
        "kernels": [list],
        "popularity": ["array-like", None],
    }

    def __init__(self, *, inducing_inputs, inducing_outputs, output_variance, kernels,
                 popularity=None):
        self.inducing_inputs = inducing_inputs
        self.inducing_outputs = inducing_outputs
        self.output_variance = output_variance
        self.kernels = kernels
        self.popularity = popularity

    def fit(self, X=None, y=None):
        """Check the parameters and build every silo's predictor (no data is used)."""
        self._validate_params()
        if not self.kernels:
            raise ValueError("kernels must list at least one silo's (variance, lengthscale, "
                             "noise_variance)")
        self.predictors_ = [
            FusedInducingPredictor(inducing_inputs=self.inducing_inputs,
                                   inducing_outputs=self.inducing_outputs,
                                   output_variance=self.output_variance, variance=v,
                                   lengthscale=l, noise_variance=n).fit()
            for v, l, n in self.kernels]
        self.n_features_in_ = self.predictors_[0].n_features_in_
        return self

    @property
    def n_silos(self):
        return len(self.kernels)

    def predictor(self, silo=0):
        """Silo ``silo``'s :class:`FusedInducingPredictor`."""
        if not hasattr(self, "predictors_"):
            self.fit()
        if not 0 <= int(silo) < len(self.kernels):
            raise ValueError(f"silo must be in 0..{len(self.kernels) - 1}, got {silo!r}")
        return self.predictors_[int(silo)]

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
    """Atoms ``[Z / l, w f(Z)]`` of the live inducing points (module docstring).

    Variances: 0 for the input coordinates, ``w^2`` times the latent posterior variance for
    the output. The global model is a :class:`FusedSparseGP`.

    Parameters
    ----------
    output_weight : float > 0, default 1.0
        ``w``: weight of the output coordinate against the inputs in the matching.
    output_variance : "local" or float >= 0, default "local"
        Noise of the fused outputs: from the local posterior variances of the matched
        outputs (:func:`group_outputs`), or one fixed number.
    input_scale : "kernels", None or array (d,), default "kernels"
        Units of the atoms' inputs: the silos' shared lengthscales (resolved from all models
        by :meth:`for_models`, which :func:`spahm.fuse_models` calls; a lone ``extract``
        without it uses input units), the input units (None), or given scales.
    dead_margin : float > 0 or None, default 2.0
        Inducing points more than this many lengthscales outside the silo's training-input
        range are not sent (None: send every point).
    """

    name = "sparse GP (LocalSparseGP or GPy SparseGPRegression)"

    def __init__(self, output_weight=1.0, output_variance="local", input_scale="kernels",
                 dead_margin=2.0):
        if not output_weight > 0:
            raise ValueError(f"output_weight must be positive, got {output_weight!r}")
        numeric = isinstance(output_variance, Real) and not isinstance(output_variance, bool)
        if not (output_variance == "local" or (numeric and output_variance >= 0)):
            raise ValueError(f"output_variance must be 'local' or a number >= 0, got "
                             f"{output_variance!r}")
        if dead_margin is not None and not dead_margin > 0:
            raise ValueError(f"dead_margin must be positive or None, got {dead_margin!r}")
        if not (input_scale is None or (isinstance(input_scale, str) and input_scale == "kernels")):
            input_scale = np.asarray(input_scale, dtype=np.float64)
            if input_scale.ndim != 1 or not (np.isfinite(input_scale) & (input_scale > 0)).all():
                raise ValueError("input_scale must be 'kernels', None or positive numbers, one "
                                 "per input")
        self.output_weight = float(output_weight)
        self.output_variance = output_variance
        self.input_scale = input_scale
        self.dead_margin = dead_margin

    def for_models(self, models):
        """This adapter with ``input_scale="kernels"`` resolved from every silo's model."""
        if not (isinstance(self.input_scale, str) and self.input_scale == "kernels"):
            return self
        return SparseGPAdapter(self.output_weight, self.output_variance,
                               shared_lengthscale(models), self.dead_margin)

    def _scale(self, d):
        if self.input_scale is None or isinstance(self.input_scale, str):
            return np.ones(d)
        if len(self.input_scale) != d:
            raise ValueError(f"input_scale has {len(self.input_scale)} entries; the models "
                             f"have {d} inputs")
        return self.input_scale

    def matches(self, model):
        return isinstance(model, LocalSparseGP) or _gpy_sparse_gp(model) is not None

    def extract(self, model, data=None):
        parts = _local_parts(model)
        alive = _live(parts, self.dead_margin)
        Z, u, var = parts.Z[alive], parts.u[alive], parts.var[alive]
        w = self.output_weight
        variances = np.zeros((len(Z), Z.shape[1] + 1))
        variances[:, -1] = w**2 * var
        atoms = np.hstack([Z / self._scale(Z.shape[1]), w * u[:, None]])
        return LocalAtoms(atoms, variances, {"kernel": parts.kernel, "inputs": Z, "outputs": u,
                                             "output_variances": var,
                                             "n_inducing": len(parts.Z)})

    def build(self, result, locals_, models):
        L = result.n_global_atoms
        Z = group_average([x.extra["inputs"] for x in locals_], result.assignments, L)
        u, s2 = group_outputs([x.extra["outputs"] for x in locals_],
                              [x.extra["output_variances"] for x in locals_],
                              result.assignments, L)
        if self.output_variance != "local":
            s2 = float(self.output_variance)
        model = FusedSparseGP(inducing_inputs=Z, inducing_outputs=u, output_variance=s2,
                              kernels=[x.extra["kernel"] for x in locals_],
                              popularity=result.popularity).fit()
        model.n_inducing_points_ = sum(x.extra["n_inducing"] for x in locals_)
        model.n_local_atoms_ = sum(len(x.atoms) for x in locals_)
        return model

    def fuse(self, models, data=None, *, weights=None, use_variances=True, family=None,
             **kwargs):
        """:func:`spahm.fuse_models`' path: the input scale resolved from every model
        (:meth:`for_models`), then extract, match once, build."""
        return _fuse_by_matching(self.for_models(models), models, data, weights=weights,
                                 use_variances=use_variances, family=family, **kwargs)


register_adapter(SparseGPAdapter(), first=False)

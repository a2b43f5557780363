"""Temperature baselines that are never fused: products of experts over the silos' sparse GPs,
and the application's metrics (RMSE, NLPD)."""
from __future__ import annotations

import numpy as np

# Smallest variance used by a product of experts or a log density: keeps precisions and
# log densities finite when a prediction sits exactly on a noise-free point.
_VARIANCE_FLOOR = 1e-10


# ---------------------------------------------------------------------- combining experts
def gpoe(means, variances):
    """Generalised product of experts with equal weights ``beta_j = 1/J``.

    ``1/var = sum_j beta_j / var_j``, ``mean = var * sum_j beta_j mean_j / var_j``;
    arrays of shape (J, n) in, two arrays of shape (n,) out.
    """
    means, variances = np.asarray(means), np.maximum(np.asarray(variances), _VARIANCE_FLOOR)
    beta = 1.0 / len(means)
    precision = (beta / variances).sum(0)
    return (beta * means / variances).sum(0) / precision, 1.0 / precision


def rbcm(means, variances, prior_variance):
    """Robust Bayesian committee machine (Deisenroth and Ng, 2015).

    ``beta_j = (log prior_var - log var_j) / 2`` (the entropy drop of expert ``j``),
    ``1/var = sum_j beta_j / var_j + (1 - sum_j beta_j) / prior_var``,
    ``mean = var * sum_j beta_j mean_j / var_j``. ``prior_variance`` is the latent prior
    variance (scalar; the experts' mean signal variance when they differ).
    """
    means, variances = np.asarray(means), np.maximum(np.asarray(variances), _VARIANCE_FLOOR)
    beta = 0.5 * (np.log(prior_variance) - np.log(variances))
    precision = (beta / variances).sum(0) + (1.0 - beta.sum(0)) / prior_variance
    precision = np.maximum(precision, 1.0 / prior_variance * _VARIANCE_FLOOR)
    return (beta * means / variances).sum(0) / precision, 1.0 / precision


def mixture_average(means, variances):
    """Equal-weight average of the experts' predictions: the mean of the means and the
    variance of the equal mixture of their Gaussians (``E[var] + Var[mean]``)."""
    means, variances = np.asarray(means), np.asarray(variances)
    mean = means.mean(0)
    return mean, variances.mean(0) + means.var(0)


# ---------------------------------------------------------------------- metrics
def rmse(y, mean):
    """Root mean squared error."""
    return float(np.sqrt(np.mean((np.asarray(y) - np.asarray(mean)) ** 2)))


def nlpd(y, mean, variance):
    """Mean negative log predictive density of ``y`` under ``N(mean, variance)``."""
    variance = np.maximum(np.asarray(variance, dtype=np.float64), _VARIANCE_FLOOR)
    resid = np.asarray(y) - np.asarray(mean)
    return float(np.mean(0.5 * np.log(2 * np.pi * variance) + 0.5 * resid**2 / variance))

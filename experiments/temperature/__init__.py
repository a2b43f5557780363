"""Sparse Gaussian processes for temperature forecasting (paper section 4.4, Table 1).

Each silo (a US state in the paper and states profiles; a city, or a city's year, offline)
fits a sparse GP that forecasts the day's (or week's) mean temperature from the configured
inputs (the paper's seven: day of month, month, year, station latitude, longitude and
elevation, previous day's mean temperature; the states profile uses the day of year and the
previous week's temperature). SPAHM fuses the silos' live inducing points (inducing input in
the silos' shared lengthscale units + posterior mean of the function there,
:mod:`spahm.models.sparse_gp`); each global point (the mean of the group SPAHM matched, noise
from the local posterior variances) is sent back to every silo, which predicts with them
under its own kernel (:class:`FusedSparseGP`).

SPAHM's sigma and gamma0 are chosen per trial on training data only: each silo's training
days are split again into fit and validation days, local GPs are fitted on the fit days,
and the grid ``selection.sigma`` x ``selection.gamma0_per_silo * J`` is scored on the
validation days (criterion ``selection.criterion``; equal scores go to gamma0 / J = 1, then
the larger sigma). A sigma or gamma0 chosen on its grid's edge extends that grid on that
side (``selection.max_extensions``). The test days are used once, by the models refitted on all
training days with the chosen values.

Methods (column ``method``; ``LABELS``):

- ``sgp50`` / ``sgp300``: each silo's own sparse GP with 50 / 300 inducing points;
- ``spahm``: each silo's fused predictor, sigma and gamma0 chosen on validation days;
- ``spahm_eb``: the same, starting from the chosen values with empirical Bayes per dimension;
- ``pooled``: one sparse GP on all silos' training data (not private: a reference);
- ``average`` / ``gpoe`` / ``rbcm``: equal mixture, generalised product of experts, robust
  Bayesian committee machine of the ``sgp50`` models.

Rows kept apart from the methods (extra columns ``sigma`` and ``gamma0``):
``spahm_validation`` (the validation scores and compression that chose the values) and, with
``sensitivity: true``, ``spahm_grid`` (every grid point on the test days: a labelled
sensitivity table, never used for choosing); ``per_silo`` (extra columns model, silo,
latitude, longitude): each silo's RMSE self and across under its local SGP and SPAHM.

Metrics: ``rmse_self`` / ``nlpd_self`` (silo j's model on silo j's test days, averaged over
silos), ``rmse_across`` / ``nlpd_across`` (silo j's model on the test days of every silo,
averaged over silos); a method that is one model for everybody is "silo j's model" for every
j. RMSE in degrees Fahrenheit, NLPD in nats of degrees F. SPAHM rows also give
``n_global_atoms``, ``n_local_atoms`` (live local points sent), ``n_inducing_points`` (all),
``compression`` (global / live local) and ``compression_all`` (global / all), the values used
(``sigma``, ``gamma0``; ``sigma_min`` / ``sigma_max`` over dimensions after empirical Bayes).

Run: ``spahm-experiment experiment=temperature profile=quick`` (weather5, offline; add
``data.silos=city_year`` for ten silos), ``profile=states`` (CORGIS weekly weather of 2016,
45 states; ``python -m data_scripts.us_weather`` first) or ``profile=paper`` (GSOD; needs
``python -m data_scripts.gsod`` with internet first).
"""
from __future__ import annotations

import functools
import logging
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from experiments._runner import (ConfigError, atomic_write_csv, fit_per_silo, require,
                                 run_methods)
from experiments.temperature.baselines import gpoe, mixture_average, nlpd, rbcm, rmse
from experiments.temperature.config import INPUT_NAMES
from experiments.temperature.data import SILOS, TARGET, load_data, split_silos
from experiments.temperature.figures import plot
from experiments.temperature.tables import GRID, KIND, LABELS, SILO, VALIDATION, report
from spahm import match
from spahm.models.sparse_gp import LocalSparseGP, SparseGPAdapter, Standardizer, silo_summary

__all__ = ["LABELS", "KIND", "SILO", "validate", "prepare", "settings", "trial", "plot", "report"]

# GPy announces every model it builds at INFO level; Hydra shows INFO. Keep its warnings.
for _name in ("GP", "sparse gp"):
    logging.getLogger(_name).setLevel(logging.WARNING)

CRITERIA = ("self", "across", "mean")
#: Validation scores this close (relative) are equal: a tie, broken towards gamma0 / J = 1.
_TIE = 1e-9


# ---------------------------------------------------------------------------- contract
def validate(cfg):
    """Ranges Hydra's schema cannot check; ConfigError names the key."""
    d = cfg.data
    positive, fraction = (lambda v: v > 0), (lambda v: 0 < v < 1)
    grid = lambda v: len(v) > 0 and all(x > 0 for x in v)  # noqa: E731
    checks = [
        ("trials", lambda v: isinstance(v, int) and v > 0, "a positive integer"),
        ("data.source", lambda v: v in SILOS, f"one of {list(SILOS)}"),
        ("data.silos", lambda v: v in SILOS.get(d.source, ()),
         f"one of {list(SILOS.get(d.source, ()))} for data.source={d.source}"),
        ("data.inputs",
         lambda v: len(v) > 0 and set(v) <= set(INPUT_NAMES) and len(set(v)) == len(v),
         f"distinct names from {list(INPUT_NAMES)}"),
        ("data.test_fraction", fraction, "a number in (0, 1)"),
        ("data.validation_fraction", fraction, "a number in (0, 1)"),
        *[(f"data.{k}", lambda v: v is None or v >= 2, "an integer >= 2 or null (no cap)")
          for k in ("max_train_per_silo", "max_test_per_silo", "max_pooled_train")
          if d[k] is not None],
        ("data.min_rows_per_silo", positive, "a positive integer"),
        *[(f"model.{k}", positive, "a positive integer")
          for k in ("num_inducing", "num_inducing_large", "pooled_num_inducing")],
        ("model.max_iters", lambda v: v >= 0, "an integer >= 0"),
        *[(f"model.{k}", positive, "a positive number")
          for k in ("init_lengthscale", "init_variance", "init_noise_variance", "output_weight")],
        ("model.pseudo_noise", lambda v: v == "local" or (
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0),
         "'local' or a number >= 0 (variance, standardised units)"),
        ("model.input_scale", lambda v: v in ("kernels", "none"), "'kernels' or 'none'"),
        ("model.dead_margin", lambda v: v is None or v > 0, "a positive number or null"),
        ("selection.max_extensions", lambda v: isinstance(v, int) and v >= 0, "an integer >= 0"),
        ("selection.sigma", grid, "a non-empty list of positive numbers"),
        ("selection.gamma0_per_silo", grid, "a non-empty list of positive numbers"),
        ("selection.criterion", lambda v: v in CRITERIA, f"one of {list(CRITERIA)}"),
        ("fusion.sigma0", positive, "a positive number"),
        ("fusion.n_iter", lambda v: isinstance(v, int) and v >= 0, "an integer >= 0"),
        ("methods", lambda v: len(v) > 0 and set(v) <= set(LABELS),
         f"a non-empty subset of {list(LABELS)}"),
        ("sensitivity", lambda v: isinstance(v, bool), "true or false"),
    ]
    if d.source == "weather5":
        checks.append(("data.stations", lambda v: len(v) > 0,
                       "a mapping city -> {latitude, longitude, elevation}"))
        checks += [(f"data.stations.{city}.{k}", math.isfinite, "a finite number")
                   for city in d.stations for k in ("latitude", "longitude", "elevation")]
    for key, check, expected in checks:
        require(cfg, key, check, expected)


def prepare(cfg) -> pd.DataFrame:
    """The tidy table of the configured source, one ``silo`` per configured unit."""
    frame = load_data(cfg)
    silos = sorted(set(frame.silo))
    if len(silos) < 2:
        raise ConfigError(f"config key 'data.source' = {cfg.data.source!r}: {len(silos)} silo(s) "
                          "in the data; fusion needs at least 2")
    for key in ("plot.silo", "plot.from_silo"):
        if OmegaConf.select(cfg, key) not in silos:
            raise ConfigError(f"config key '{key}' = {OmegaConf.select(cfg, key)!r}: not a silo "
                              f"of the data (silos: {silos[:12]})")
    return frame


def settings(cfg) -> list[dict]:
    return [{}]


def trial(cfg, setting, trial, prepared) -> list[dict]:
    """Every configured method on one random split (``trial``: the runner's Trial)."""
    ctx = TrialContext(cfg, trial, prepared)
    rows = run_methods(METHODS, list(cfg.methods), ctx)
    rows += ctx.silo_rows
    if "selection" in ctx.__dict__:
        rows += ctx.selection.rows
    if cfg.sensitivity:
        rows += sensitivity_rows(ctx)
    if trial.index == 0 and trial.out_dir is not None:
        save_predictions(ctx, trial.out_dir / "predictions.csv")
    return rows


# ---------------------------------------------------------------------------- one split
@dataclass
class Problem:
    """One split in standardised units: each silo's training arrays and every silo's
    evaluation points (test or validation days), with the scale to map predictions back."""

    silos: list
    X: list
    y: list
    X_eval: np.ndarray
    y_eval: np.ndarray                 # original units (deg F)
    eval_silo: np.ndarray              # silo index of each evaluation point
    eval_dates: np.ndarray
    y_scale: Standardizer

    @classmethod
    def from_split(cls, train, evaluation, inputs):
        """Scales from per-silo summaries of ``train`` only (what silos may share)."""
        silos = list(train)
        evaluated = pd.concat([evaluation[s] for s in silos])
        x_scale = Standardizer.from_summaries([silo_summary(train[s][inputs]) for s in silos])
        y_scale = Standardizer.from_summaries([silo_summary(train[s][TARGET]) for s in silos])
        return cls(silos=silos,
                   X=[x_scale.transform(train[s][inputs]) for s in silos],
                   y=[y_scale.transform(train[s][TARGET])[:, 0] for s in silos],
                   X_eval=x_scale.transform(evaluated[inputs]),
                   y_eval=evaluated[TARGET].to_numpy(float),
                   eval_silo=np.concatenate([np.full(len(evaluation[s]), j)
                                             for j, s in enumerate(silos)]),
                   eval_dates=evaluated["date"].dt.strftime("%Y-%m-%d").to_numpy(),
                   y_scale=y_scale)

    def to_original(self, mean, var_f, noise):
        """Latent mean and variance (standardised) -> predictive mean and variance in deg F."""
        return self.y_scale.inverse_mean(mean), self.y_scale.inverse_variance(var_f + noise)

    def scores(self, preds, per_silo=False) -> dict:
        """RMSE and NLPD self / across of ``preds[j] = (mean, var)`` (silo j's model on every
        evaluation point), each averaged over silos; RMSE only where ``var`` is None.
        ``per_silo``: the lists (one value per silo) instead of their means."""
        out = {"rmse_self": [], "rmse_across": [], "nlpd_self": [], "nlpd_across": []}
        for j, (mean, var) in enumerate(preds):
            own = self.eval_silo == j
            out["rmse_self"].append(rmse(self.y_eval[own], mean[own]))
            out["rmse_across"].append(rmse(self.y_eval, mean))
            if var is not None:
                out["nlpd_self"].append(nlpd(self.y_eval[own], mean[own], var[own]))
                out["nlpd_across"].append(nlpd(self.y_eval, mean, var))
        if per_silo:
            return {k: v for k, v in out.items() if v}
        return {k: float(np.mean(v)) for k, v in out.items() if v}


@dataclass
class Selection:
    """sigma and gamma0 chosen on the validation days, with the scores of every grid point
    and both grids as extended (``selection.max_extensions``): ``sigmas`` and ``ratios``
    (gamma0 / J)."""

    sigma: float
    gamma0: float
    rows: list
    sigmas: list
    ratios: list


class _Grid:
    """One axis of the selection grid (sorted), extended x0.5 below or x2 above when the
    chosen value is its edge, at most ``limit`` times per side."""

    def __init__(self, values, limit):
        self.values = sorted(float(v) for v in values)
        self.low, self.high, self.limit = self.values[0], self.values[-1], limit

    def extend(self, chosen):
        """Add a value beyond the edge ``chosen`` lies on; False when it is inside (or its
        side has no extension left)."""
        below = sum(v < self.low for v in self.values)
        above = sum(v > self.high for v in self.values)
        if chosen == self.values[0] and below < self.limit:
            self.values.insert(0, chosen / 2)
            return True
        if chosen == self.values[-1] and above < self.limit:
            self.values.append(chosen * 2)
            return True
        return False


class TrialContext:
    """One trial's splits, with the pieces several methods share computed once, on demand
    (``cost`` records each piece's wall and CPU seconds)."""

    def __init__(self, cfg, trial, frame):
        self.cfg, self.trial = cfg, trial
        d = cfg.data
        inputs = list(d.inputs)
        train, test = split_silos(frame, trial.rng("split"), d.test_fraction,
                                  d.max_train_per_silo, d.max_test_per_silo)
        fit_days, val_days = split_silos(pd.concat(train.values()), trial.rng("validation"),
                                         d.validation_fraction)
        self.test = Problem.from_split(train, test, inputs)
        self.validation = Problem.from_split(fit_days, val_days, inputs)
        self.cost = {}            # shared piece -> (wall s, CPU s)
        self.worker_cpu = 0.0     # CPU seconds of the silos' worker processes so far
        self.series = {}          # method -> per-silo test predictions (for the figure)
        self.silo_rows = []       # per-silo RMSE of the models in SILO_MODELS (for the map)
        self.centroids = frame.groupby("silo")[["latitude", "longitude"]].mean()
        self.n_jobs = int(OmegaConf.select(cfg, "n_jobs", default=1))
        self.backend = OmegaConf.select(cfg, "parallel.backend", default=None)
        self.fusion = {k: v for k, v in OmegaConf.to_container(cfg.fusion, resolve=True).items()
                       if k not in ("sigma", "gamma0", "optimize_hyperparameters")}

    def fit(self, problem, num_inducing, name, X=None, y=None):
        """One local sparse GP per silo (``fit_per_silo``: own seed and timer per silo)."""
        m = self.cfg.model
        params = dict(num_inducing=int(num_inducing), max_iters=int(m.max_iters),
                      optimize_inducing=bool(m.optimize_inducing),
                      init_lengthscale=float(m.init_lengthscale),
                      init_variance=float(m.init_variance),
                      init_noise_variance=float(m.init_noise_variance))
        data = list(zip(problem.X, problem.y)) if X is None else [(X, y)]
        fits = fit_per_silo(functools.partial(_fit_local, params), data, self.trial, name=name,
                            n_jobs=self.n_jobs, backend=self.backend)
        if self.n_jobs != 1:  # fitted in worker processes: their CPU is not this process's
            self.worker_cpu += fits.total_cpu_s
        return fits

    @contextmanager
    def clock(self):
        """``with ctx.clock() as spent: ...; spent()`` -> (wall s, CPU s incl. workers')."""
        wall, cpu, workers = time.perf_counter(), time.process_time(), self.worker_cpu
        end = []
        yield lambda: end[0]
        end.append((time.perf_counter() - wall,
                    time.process_time() - cpu + self.worker_cpu - workers))

    def _costed(self, name, compute):
        with self.clock() as spent:
            out = compute()
        self.cost[name] = spent()
        return out

    @cached_property
    def small(self):
        """The ``model.num_inducing`` local GPs on all training days."""
        return self._costed("small", lambda: self.fit(self.test, self.cfg.model.num_inducing,
                                                      "sgp50"))

    @cached_property
    def small_latent(self):
        """Each small GP's latent mean and variance at every test point."""
        return self._costed("small_latent", lambda: [g.predict(self.test.X_eval, return_var=True)
                                                     for g in self.small.models])

    @cached_property
    def selection(self) -> Selection:
        return self._costed("selection", self._select)

    def _select(self):
        """Fit on the fit days, score the grid on the validation days, keep the best.

        Equal scores (within ``_TIE``; e.g. every sigma small enough that nothing is matched)
        are broken towards the paper's gamma0 / J = 1, then the larger sigma (fewer points
        sent for the same accuracy). When the best sigma or gamma0 / J is the smallest or the
        largest of its grid, that grid is extended on that side (x0.5 / x2; a new value is
        scored with every value of the other grid) up to ``selection.max_extensions`` times
        per side, so the chosen point lies inside both grids; if it is still on an edge, the
        validation rows show the scores that put it there.
        """
        models = self.fit(self.validation, self.cfg.model.num_inducing, "sgp50_validation").models
        s = self.cfg.selection
        limit = int(s.max_extensions)
        grids = {"sigma": _Grid(s.sigma, limit), "ratio": _Grid(s.gamma0_per_silo, limit)}
        J, rows, scored = len(models), [], {}
        while True:
            for sigma in grids["sigma"].values:
                for ratio in grids["ratio"].values:
                    if (sigma, ratio) not in scored:
                        scored[sigma, ratio] = self._validate(models, sigma, ratio * J,
                                                              s.criterion, rows)
            best = min(scored.values())
            ties = [key for key, v in scored.items() if v <= best + _TIE * max(best, 1.0)]
            sigma, ratio = min(ties, key=lambda k: (abs(math.log(k[1])), -k[0]))
            extended = [grids["sigma"].extend(sigma), grids["ratio"].extend(ratio)]
            if not any(extended):
                break
        return Selection(sigma=sigma, gamma0=ratio * J, rows=rows,
                         sigmas=grids["sigma"].values, ratios=grids["ratio"].values)

    def _validate(self, models, sigma, gamma0, criterion, rows):
        """The validation score of one grid point (rows: its RMSEs, score and compression)."""
        result, preds, fused = self.fuse(models, self.validation, sigma, gamma0,
                                         with_variance=False)
        sc = self.validation.scores(preds)
        score = {"self": sc["rmse_self"], "across": sc["rmse_across"],
                 "mean": 0.5 * (sc["rmse_self"] + sc["rmse_across"])}[criterion]
        for metric, value in (("rmse_self", sc["rmse_self"]),
                              ("rmse_across", sc["rmse_across"]), ("score", score),
                              ("n_global_atoms", result.n_global_atoms),
                              ("compression", result.n_global_atoms / fused.n_local_atoms_)):
            rows.append({"method": VALIDATION, "metric": metric, "value": float(value),
                         "sigma": sigma, "gamma0": gamma0})
        return score

    def fuse(self, models, problem, sigma, gamma0, empirical_bayes=False, with_variance=True):
        """SPAHM on the models' atoms; every silo's predictions with the fused inducing points
        (returns the match result, the predictions and the :class:`FusedSparseGP`).

        ``empirical_bayes``: re-estimate mu0, sigma and sigma0 per dimension after each pass,
        starting from ``sigma`` and ``fusion.sigma0`` (gamma0 is never estimated).
        ``with_variance=False``: predictive means only (variance None), for RMSE: the
        variance costs ``O(L^2)`` per point, which dominates with thousands of global points.
        """
        m = self.cfg.model
        adapter = SparseGPAdapter(float(m.output_weight), m.pseudo_noise,
                                  input_scale=None if m.input_scale == "none" else "kernels",
                                  dead_margin=m.dead_margin).for_models(models)
        locals_ = [adapter.extract(g) for g in models]
        kwargs = dict(self.fusion, sigma=sigma, gamma0=gamma0,
                      optimize_hyperparameters=empirical_bayes,
                      random_state=self.trial.seed_for("fusion"))
        if empirical_bayes:
            dim = locals_[0].atoms.shape[1]
            kwargs["sigma"] = np.full(dim, sigma)
            kwargs["sigma0"] = np.full(dim, float(kwargs["sigma0"]))
        result = match([x.atoms for x in locals_], **kwargs)
        fused = adapter.build(result, locals_, models)
        if not with_variance:
            return result, [(problem.y_scale.inverse_mean(fused.predict(problem.X_eval, silo=j)),
                             None) for j in range(fused.n_silos)], fused
        preds = [problem.to_original(*fused.predict(problem.X_eval, silo=j, return_var=True),
                                     kernel[2])
                 for j, kernel in enumerate(fused.kernels)]
        return result, preds, fused


def _fit_local(params, data, seed):
    X, y = data
    return LocalSparseGP(random_state=seed, **params).fit(X, y)


# ---------------------------------------------------------------------------- methods
def _method(*needs):
    """A method of ``METHODS``: the shared pieces it ``needs`` are computed first (once per
    trial), and its ``time_s`` / ``cpu_time_s`` are its own plus theirs (its full cost)."""

    def decorate(fn):
        @functools.wraps(fn)
        def run(ctx):
            for name in needs:
                getattr(ctx, name)
            with ctx.clock() as spent:
                pairs = list(fn(ctx))
            wall, cpu = spent()
            for name in needs:
                wall, cpu = wall + ctx.cost[name][0], cpu + ctx.cost[name][1]
            return pairs + [("time_s", wall), ("cpu_time_s", cpu)]

        return run

    return decorate


def _scored(ctx, name, preds, shared=False):
    """Score per-silo predictions on the test days (a shared model is every silo's model)."""
    preds = [preds] * len(ctx.test.silos) if shared else preds
    if not shared:
        ctx.series[name] = preds
    if name in SILO_MODELS:
        for metric, values in ctx.test.scores(preds, per_silo=True).items():
            if metric.startswith("rmse"):
                ctx.silo_rows += [
                    {"method": SILO, "metric": metric, "value": float(v), "model": name,
                     "silo": silo, "latitude": float(ctx.centroids.latitude[silo]),
                     "longitude": float(ctx.centroids.longitude[silo])}
                    for silo, v in zip(ctx.test.silos, values)]
    return list(ctx.test.scores(preds).items())


#: Models whose RMSE is also kept per silo (rows ``SILO`` with columns model, silo and the
#: silo's mean station latitude and longitude: the map figure).
SILO_MODELS = ("sgp50", "spahm")


def _fused_rows(ctx, name, result, preds, fused):
    """Scores and counts of a fused model: compression against the live local atoms sent
    (``compression``) and against every local inducing point (``compression_all``)."""
    return _scored(ctx, name, preds) + [
        ("n_global_atoms", result.n_global_atoms), ("n_local_atoms", fused.n_local_atoms_),
        ("n_inducing_points", fused.n_inducing_points_), ("n_silos", len(preds)),
        ("compression", result.n_global_atoms / fused.n_local_atoms_),
        ("compression_all", result.n_global_atoms / fused.n_inducing_points_)]


@_method("small", "small_latent")
def _sgp50(ctx):
    return _scored(ctx, "sgp50", [ctx.test.to_original(mu, v, g.noise_variance_)
                                  for g, (mu, v) in zip(ctx.small.models, ctx.small_latent)])


@_method()
def _sgp300(ctx):
    fits = ctx.fit(ctx.test, ctx.cfg.model.num_inducing_large, "sgp300")
    return _scored(ctx, "sgp300", [ctx.test.to_original(*g.predict(ctx.test.X_eval, True),
                                                        g.noise_variance_) for g in fits.models])


@_method("small", "selection")
def _spahm(ctx):
    sel = ctx.selection
    result, preds, fused = ctx.fuse(ctx.small.models, ctx.test, sel.sigma, sel.gamma0)
    return _fused_rows(ctx, "spahm", result, preds, fused) + [("sigma", sel.sigma),
                                                              ("gamma0", sel.gamma0)]


@_method("small", "selection")
def _spahm_eb(ctx):
    sel = ctx.selection
    result, preds, fused = ctx.fuse(ctx.small.models, ctx.test, sel.sigma, sel.gamma0,
                                    empirical_bayes=True)
    sigma = np.ravel(result.hyperparameters["sigma"])
    return _fused_rows(ctx, "spahm_eb", result, preds, fused) + [("sigma_min", sigma.min()),
                                                          ("sigma_max", sigma.max())]


@_method()
def _pooled(ctx):
    X, y = np.vstack(ctx.test.X), np.concatenate(ctx.test.y)
    cap = ctx.cfg.data.max_pooled_train
    if cap is not None and len(X) > cap:
        keep = np.sort(ctx.trial.rng("pooled_subsample").choice(len(X), size=cap, replace=False))
        X, y = X[keep], y[keep]
    g = ctx.fit(ctx.test, ctx.cfg.model.pooled_num_inducing, "pooled", X, y).models[0]
    pred = ctx.test.to_original(*g.predict(ctx.test.X_eval, True), g.noise_variance_)
    return _scored(ctx, "pooled", pred, shared=True)


def _experts(combine, predictive=False):
    """A combination of the small GPs' predictions: of the latent function (then the mean
    noise is added), or, with ``predictive``, of each expert's predictive distribution of y."""

    @_method("small", "small_latent")
    def method(ctx):
        means = np.array([mu for mu, _ in ctx.small_latent])
        noise = np.array([g.noise_variance_ for g in ctx.small.models])
        variances = np.array([v for _, v in ctx.small_latent])
        if predictive:
            mean, var = combine(means, variances + noise[:, None], ctx.small.models)
            pred = ctx.test.to_original(mean, var, 0.0)
        else:
            mean, var = combine(means, variances, ctx.small.models)
            pred = ctx.test.to_original(mean, var, float(noise.mean()))
        return _scored(ctx, None, pred, shared=True)

    return method


METHODS = {
    "sgp50": _sgp50,
    "sgp300": _sgp300,
    "spahm": _spahm,
    "spahm_eb": _spahm_eb,
    "pooled": _pooled,
    "average": _experts(lambda mu, v, models: mixture_average(mu, v), predictive=True),
    "gpoe": _experts(lambda mu, v, models: gpoe(mu, v)),
    "rbcm": _experts(lambda mu, v, models: rbcm(mu, v, float(np.mean([g.variance_
                                                                         for g in models])))),
}


def sensitivity_rows(ctx):
    """Every grid point of the selection (as extended in this trial) on the test days: a
    sensitivity table, never used for choosing (rows ``spahm_grid`` with columns ``sigma``
    and ``gamma0``; RMSE, global points and compression)."""
    s = ctx.cfg.selection
    J = len(ctx.test.silos)
    rows = []
    chosen = "selection" in ctx.__dict__
    sigmas = ctx.selection.sigmas if chosen else s.sigma
    ratios = ctx.selection.ratios if chosen else s.gamma0_per_silo
    for sigma in sigmas:
        for ratio in ratios:
            gamma0 = float(ratio) * J
            result, preds, fused = ctx.fuse(ctx.small.models, ctx.test, float(sigma), gamma0,
                                            with_variance=False)
            metrics = {**ctx.test.scores(preds), "n_global_atoms": result.n_global_atoms,
                       "compression": result.n_global_atoms / fused.n_local_atoms_}
            rows += [{"method": GRID, "metric": k, "value": float(v), "sigma": float(sigma),
                      "gamma0": gamma0} for k, v in metrics.items()]
    return rows


def save_predictions(ctx, path):
    """``plot.silo``'s test days with the per-silo methods' means and sds: ``<m>_mean`` from
    the silo's own model, ``<m>_from_mean`` from ``plot.from_silo``'s (the across view)."""
    silos = ctx.test.silos
    silo, other = ctx.cfg.plot.silo, ctx.cfg.plot.from_silo
    j, k = silos.index(silo), silos.index(other)
    own = ctx.test.eval_silo == j
    table = pd.DataFrame({"silo": silo, "from_silo": other, "date": ctx.test.eval_dates[own],
                          "truth": ctx.test.y_eval[own]})
    for name, preds in ctx.series.items():
        table[f"{name}_mean"] = preds[j][0][own]
        table[f"{name}_sd"] = np.sqrt(preds[j][1][own])
        table[f"{name}_from_mean"] = preds[k][0][own]
        table[f"{name}_from_sd"] = np.sqrt(preds[k][1][own])
    atomic_write_csv(table, path)

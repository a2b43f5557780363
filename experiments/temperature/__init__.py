"""Sparse Gaussian processes for temperature forecasting (paper section 4.4, Table 1).

Each silo (a US state in the paper profile, a city in the offline profile) fits a sparse GP
that forecasts the day's mean temperature from seven inputs: day of month, month, year,
station latitude, longitude and elevation, and the previous day's mean temperature. SPAHM
fuses the silos' inducing points (inducing input + posterior mean of the function there,
see :mod:`spahm.models.sparse_gp`); the global inducing points are sent back to every silo,
which predicts with them using its own kernel.

Methods (rows of the CSV, column ``method``):

- ``sgp50``   each silo's own sparse GP with ``model.num_inducing`` (50) inducing points;
- ``sgp300``  each silo's own sparse GP with ``model.num_inducing_large`` (300);
- ``spahm``   each silo's fused predictor (global inducing points, its own kernel);
- ``pooled``  one sparse GP on all silos' training data pooled (not private: an upper bound);
- ``average`` the equal-weight average (mixture) of all silos' ``sgp50`` predictions;
- ``gpoe``    generalised product of experts of the ``sgp50`` models (beta = 1/J);
- ``rbcm``    robust Bayesian committee machine of the ``sgp50`` models;
- ``spahm_*`` SPAHM with other fusion settings on the same local models (config
  ``sensitivity``: method name -> overrides of ``fusion``).

Metrics: ``rmse_self`` / ``nlpd_self`` (silo j's model on silo j's test points, averaged
over silos), ``rmse_across`` / ``nlpd_across`` (silo j's model on the test points of all
silos, averaged over silos); a method that is one model for everybody (pooled, average,
gpoe, rbcm) is "silo j's model" for every j. RMSE in degrees Fahrenheit; NLPD is the mean
negative log density of the observed temperature in degrees Fahrenheit. Also ``time_s`` and,
for SPAHM, ``n_global_atoms``.

Run: ``spahm-experiment experiment=temperature profile=quick`` (weather5, offline) or
``profile=paper`` (GSOD, needs ``python -m data_scripts.gsod`` with internet first).
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from omegaconf import OmegaConf

from experiments._runner import (
    ConfigError,
    DataMissingError,
    atomic_write_csv,
    output_dir,
    require,
    run_grid,
    save_figure,
    stopwatch,
)
from spahm import match
from spahm._progress import progress
from experiments.temperature.baselines import gpoe, mixture_average, nlpd, rbcm, rmse
from spahm.models.sparse_gp import (
    FusedInducingPredictor,
    LocalSparseGP,
    Standardizer,
    extract_atoms,
    global_output_variance,
    silo_summary,
    split_atoms,
)

# GPy announces every model it builds at INFO level; Hydra shows INFO. Keep its warnings.
for _name in ("GP", "sparse gp"):
    logging.getLogger(_name).setLevel(logging.WARNING)

INPUTS = ("day", "month", "year", "latitude", "longitude", "elevation", "prev_temp")
TARGET = "temp"
METHODS = ("sgp50", "sgp300", "spahm", "pooled", "average", "gpoe", "rbcm")
LABELS = {
    "sgp50": "local SGPs (50)",
    "sgp300": "local SGPs (300)",
    "spahm": "SPAHM (fused)",
    "pooled": "SGP on pooled data",
    "average": "average of local SGPs",
    "gpoe": "gPoE of local SGPs",
    "rbcm": "rBCM of local SGPs",
}
# SPAHM variants of the configs' ``sensitivity`` (same local models, other fusion settings)
VARIANT_LABELS = {
    "spahm_eb": "SPAHM, empirical Bayes",
    "spahm_fixed": "SPAHM, fixed hyperparameters",
    "spahm_sigma03": "SPAHM, sigma=0.3",
    "spahm_sigma1": "SPAHM, sigma=1",
}
# Paper Table 1: RMSE self / across USA, mean over 10 repetitions (no sd given).
PAPER_RMSE = {
    "sgp50": {"rmse_self": 5.509, "rmse_across": 14.565},
    "spahm": {"rmse_self": 5.860, "rmse_across": 8.917},
    "sgp300": {"rmse_self": 5.267, "rmse_across": 15.848},
}
PAPER_GLOBAL_ATOMS = (289, 9.8)
SOURCES = ("weather5", "gsod")
DATA_SCRIPTS = {"weather5": "python -m data_scripts.weather5 [--from ../shared/data/weather5]",
                "gsod": "python -m data_scripts.gsod (needs internet) [--from DIR]"}


# ---------------------------------------------------------------------------- config
def validate(cfg):
    """Check every key ``run`` uses before any work starts (ConfigError names the key)."""
    pos_int = lambda v: isinstance(v, int) and v > 0  # noqa: E731
    positive = lambda v: isinstance(v, (int, float)) and v > 0  # noqa: E731
    require(cfg, "trials", pos_int, "a positive integer")
    require(cfg, "data.source", lambda v: v in SOURCES, f"one of {list(SOURCES)}")
    require(cfg, "data.root", lambda v: isinstance(v, str) and v != "", "a folder path")
    require(cfg, "data.test_fraction", lambda v: 0 < v < 1, "a number in (0, 1)")
    for key in ("data.max_train_per_silo", "data.max_test_per_silo", "data.max_pooled_train"):
        if OmegaConf.select(cfg, key) is not None:
            require(cfg, key, pos_int, "a positive integer or null (no cap)")
    if cfg.data.source == "weather5":
        require(cfg, "data.stations", lambda v: len(v) > 0, "a mapping city -> "
                "{latitude, longitude, elevation}")
        for city, facts in cfg.data.stations.items():
            for field in ("latitude", "longitude", "elevation"):
                require(cfg, f"data.stations.{city}.{field}", lambda v: math.isfinite(v),
                        "a finite number")
    else:
        require(cfg, "data.min_rows_per_silo", pos_int, "a positive integer")
    for key in ("model.num_inducing", "model.num_inducing_large", "model.pooled_num_inducing"):
        require(cfg, key, pos_int, "a positive integer")
    require(cfg, "model.max_iters", lambda v: isinstance(v, int) and v >= 0, "an integer >= 0")
    require(cfg, "model.optimize_inducing", lambda v: isinstance(v, bool), "true or false")
    for key in ("model.init_lengthscale", "model.init_variance", "model.init_noise_variance",
                "atoms.output_weight", "fusion.gamma0", "fusion.sigma", "fusion.sigma0"):
        require(cfg, key, positive, "a positive number")
    require(cfg, "fusion.n_iter", lambda v: isinstance(v, int) and v >= 0, "an integer >= 0")
    require(cfg, "fused.pseudo_noise",
            lambda v: v == "posterior" or (isinstance(v, (int, float)) and v >= 0),
            "'posterior' or a non-negative number (variance, standardised units)")
    require(cfg, "methods", lambda v: len(v) > 0 and set(v) <= set(METHODS),
            f"a non-empty subset of {list(METHODS)}")
    require(cfg, "sensitivity", lambda v: all(
        str(k).startswith("spahm_") and (o is None or set(o) <= set(cfg.fusion))
        for k, o in v.items()),
        "a mapping spahm_<name> -> fusion overrides (keys of 'fusion') or null")
    require(cfg, "plot.silo", lambda v: isinstance(v, str), "the name of a silo to plot")
    require(cfg, "plot.from_silo", lambda v: isinstance(v, str),
            "the name of the silo whose models predict plot.silo in the across view")


# ---------------------------------------------------------------------------- data
def load_weather5(root, stations) -> pd.DataFrame:
    """weather5 as a tidy table: one row per city-day with the seven inputs and the target.

    ``stations`` maps each city to its station's ``latitude``, ``longitude`` and
    ``elevation`` (metres). A day enters only if the previous calendar day is in the file;
    the target is ``avg_temp`` (degrees F). Accepts the file with a leading ``rownames``
    column (the Rdatasets copy).
    """
    path = Path(root) / "Weather.csv"
    if not path.is_file():
        raise DataMissingError(f"{path} not found: run `{DATA_SCRIPTS['weather5']}` "
                               "(or set SPAHM_DATA to the folder holding weather5/)")
    raw = pd.read_csv(path)
    if raw.columns[0] in ("rownames", "Unnamed: 0"):
        raw = raw.drop(columns=raw.columns[0])
    unknown = sorted(set(raw.city) - set(stations))
    if unknown:
        raise ValueError(f"config data.stations lacks coordinates for {unknown}")
    raw = raw[["city", "date", "avg_temp"]].dropna()
    raw = raw.assign(date=pd.to_datetime(raw["date"])).sort_values(["city", "date"])
    facts = pd.DataFrame.from_dict({k: dict(v) for k, v in stations.items()}, orient="index")
    frame = _with_previous_day(raw.rename(columns={"city": "silo", "avg_temp": TARGET}),
                               by="silo")
    for field in ("latitude", "longitude", "elevation"):
        frame[field] = frame["silo"].map(facts[field]).astype(float)
    return frame[["silo", "date", *INPUTS, TARGET]].reset_index(drop=True)


def load_gsod(root, min_rows_per_silo=1, years=None) -> pd.DataFrame:
    """The tidy GSOD table of ``data_scripts/gsod.py`` as one row per station-day, silo = state.

    The previous day's temperature is the same station's mean temperature of the previous
    calendar day (days without it are dropped). States with fewer than ``min_rows_per_silo``
    rows are dropped.
    """
    path = Path(root) / "gsod.csv"
    if not path.is_file():
        raise DataMissingError(f"{path} not found: run `{DATA_SCRIPTS['gsod']}` "
                               "(or set SPAHM_DATA to the folder holding gsod/)")
    raw = pd.read_csv(path, dtype={"station": str, "state": str})
    raw = raw.assign(date=pd.to_datetime(raw["date"])).dropna(subset=[TARGET])
    if years:
        raw = raw[raw.date.dt.year.isin(list(years))]
    raw = raw.sort_values(["station", "date"])
    frame = _with_previous_day(raw.rename(columns={"state": "silo"}), by="station")
    sizes = frame.groupby("silo")["silo"].transform("size")
    frame = frame[sizes >= min_rows_per_silo]
    return frame[["silo", "date", *INPUTS, TARGET]].reset_index(drop=True)


def _with_previous_day(frame, by):
    """Add day/month/year and ``prev_temp`` (same ``by`` group, previous calendar day)."""
    frame = frame.copy()
    prev = frame.groupby(by)[TARGET].shift(1)
    gap = frame.groupby(by)["date"].diff()
    frame["prev_temp"] = prev.where(gap == pd.Timedelta(days=1))
    frame["day"] = frame.date.dt.day
    frame["month"] = frame.date.dt.month
    frame["year"] = frame.date.dt.year
    return frame.dropna(subset=["prev_temp", TARGET])


def load_data(cfg) -> pd.DataFrame:
    d = cfg.data
    if d.source == "weather5":
        return load_weather5(d.root, d.stations)
    return load_gsod(d.root, d.min_rows_per_silo, OmegaConf.select(cfg, "data.years"))


def split_silos(frame, rng, test_fraction, max_train=None, max_test=None):
    """Random train/test split inside every silo (sorted names); two dicts silo -> frame."""
    train, test = {}, {}
    for silo, rows in frame.groupby("silo", sort=True):
        order = rng.permutation(len(rows))
        n_test = max(1, int(round(test_fraction * len(rows))))
        test_idx, train_idx = order[:n_test], order[n_test:]
        if max_test is not None:
            test_idx = test_idx[:max_test]
        if max_train is not None:
            train_idx = train_idx[:max_train]
        train[silo] = rows.iloc[np.sort(train_idx)]
        test[silo] = rows.iloc[np.sort(test_idx)]
    return train, test


# ---------------------------------------------------------------------------- one trial
def _fit_local(X, y, num_inducing, seed, m):
    return LocalSparseGP(num_inducing=num_inducing, max_iters=m["max_iters"],
                         optimize_inducing=m["optimize_inducing"],
                         init_lengthscale=m["init_lengthscale"], init_variance=m["init_variance"],
                         init_noise_variance=m["init_noise_variance"],
                         random_state=seed).fit(X, y)


def _silo_seed(seed, j, salt):
    return int(np.random.default_rng([seed, j, salt]).integers(2**31 - 1))


def _fit_all(Xs, ys, num_inducing, seed, salt, m, n_jobs):
    jobs = (delayed(_fit_local)(X, y, num_inducing, _silo_seed(seed, j, salt), m)
            for j, (X, y) in enumerate(progress(list(zip(Xs, ys)),
                                                f"sparse GPs ({num_inducing} inducing points)")))
    return Parallel(n_jobs=n_jobs)(jobs)


def _metric_rows(method, preds, test_sets, silo_index):
    """RMSE and NLPD self / across for ``preds[j] = (mean, var_y)`` of silo j's model on all
    test points (original units); ``silo_index`` marks each test point's silo."""
    rows = []
    self_rmse, self_nlpd, across_rmse, across_nlpd = [], [], [], []
    y_all = np.concatenate(test_sets)
    for j, (mean, var) in enumerate(preds):
        own = silo_index == j
        self_rmse.append(rmse(y_all[own], mean[own]))
        self_nlpd.append(nlpd(y_all[own], mean[own], var[own]))
        across_rmse.append(rmse(y_all, mean))
        across_nlpd.append(nlpd(y_all, mean, var))
    for name, values in (("rmse_self", self_rmse), ("rmse_across", across_rmse),
                         ("nlpd_self", self_nlpd), ("nlpd_across", across_nlpd)):
        rows.append({"method": method, "metric": name, "value": float(np.mean(values))})
    return rows


def _spahm_predictions(cfg, local_models, fusion, seed, X_test, to_original):
    """Fuse the local models' atoms; every silo predicts with the global inducing points and
    its own kernel (see :class:`spahm.models.sparse_gp.FusedInducingPredictor`)."""
    w = float(cfg.atoms.output_weight)
    result = match([extract_atoms(g, w) for g in local_models], random_state=seed, **fusion)
    Z, u = split_atoms(result.global_atoms, w)
    if cfg.fused.pseudo_noise == "posterior":
        s2 = global_output_variance(result.popularity, result.hyperparameters, w)
    else:
        s2 = float(cfg.fused.pseudo_noise)
    preds = []
    for g in local_models:
        fused = FusedInducingPredictor(Z, u, s2, g.variance_, g.lengthscale_, g.noise_variance_)
        preds.append(to_original(*fused.predict(X_test), g.noise_variance_))
    return result, preds


def trial(cfg, frame, seed, save_predictions_to=None):
    """Fit every method on one random split; returns tidy rows (and saves the plot series)."""
    np.random.seed(seed % 2**32)  # GPy draws from numpy's global RNG
    rng = np.random.default_rng(seed)
    d = cfg.data
    train, test = split_silos(frame, rng, d.test_fraction, d.max_train_per_silo,
                              d.max_test_per_silo)
    silos = list(train)
    methods = list(cfg.methods)
    m = OmegaConf.to_container(cfg.model, resolve=True)
    n_jobs = int(OmegaConf.select(cfg, "n_jobs", default=1))

    # one global scale from per-silo summaries (see spahm.models.sparse_gp)
    x_scale = Standardizer.from_summaries([silo_summary(train[s][list(INPUTS)]) for s in silos])
    y_scale = Standardizer.from_summaries([silo_summary(train[s][TARGET]) for s in silos])
    Xs = [x_scale.transform(train[s][list(INPUTS)]) for s in silos]
    ys = [y_scale.transform(train[s][TARGET])[:, 0] for s in silos]
    X_test = x_scale.transform(pd.concat([test[s] for s in silos])[list(INPUTS)])
    y_tests = [test[s][TARGET].to_numpy(dtype=float) for s in silos]
    silo_index = np.concatenate([np.full(len(test[s]), j) for j, s in enumerate(silos)])

    def to_original(mean, var_f, noise):
        return y_scale.inverse_mean(mean), y_scale.inverse_variance(var_f + noise)

    rows, series = [], {}
    need_small = {"sgp50", "spahm", "average", "gpoe", "rbcm"} & set(methods)
    small, small_time = None, 0.0
    if need_small:
        with stopwatch() as elapsed:
            small = _fit_all(Xs, ys, m["num_inducing"], seed, 0, m, n_jobs)
            small_latent = [g.predict(X_test) for g in small]
        small_time = elapsed()
    if "sgp50" in methods:
        preds = [to_original(mu, v, g.noise_variance_) for g, (mu, v) in zip(small, small_latent)]
        rows += _metric_rows("sgp50", preds, y_tests, silo_index)
        rows.append({"method": "sgp50", "metric": "time_s", "value": small_time})
        series["sgp50"] = preds
    if "sgp300" in methods:
        with stopwatch() as elapsed:
            large = _fit_all(Xs, ys, m["num_inducing_large"], seed, 1, m, n_jobs)
            preds = [to_original(*g.predict(X_test), g.noise_variance_) for g in large]
        rows += _metric_rows("sgp300", preds, y_tests, silo_index)
        rows.append({"method": "sgp300", "metric": "time_s", "value": elapsed()})
        series["sgp300"] = preds
    if "spahm" in methods:
        fusion = OmegaConf.to_container(cfg.fusion, resolve=True)
        variants = [("spahm", fusion)]
        extra = OmegaConf.to_container(cfg.sensitivity, resolve=True) if cfg.sensitivity else {}
        for name, overrides in extra.items():
            if overrides is not None:
                variants.append((name, {**fusion, **overrides}))
        for name, kwargs in variants:
            with stopwatch() as elapsed:
                result, preds = _spahm_predictions(cfg, small, kwargs, seed, X_test, to_original)
            rows += _metric_rows(name, preds, y_tests, silo_index)
            rows.append({"method": name, "metric": "time_s", "value": elapsed() + small_time})
            rows.append({"method": name, "metric": "n_global_atoms",
                         "value": float(result.n_global_atoms)})
            if name == "spahm":
                series["spahm"] = preds
    if "pooled" in methods:
        with stopwatch() as elapsed:
            X_pool, y_pool = np.vstack(Xs), np.concatenate(ys)
            cap = d.max_pooled_train
            if cap is not None and len(X_pool) > cap:
                keep = np.sort(rng.choice(len(X_pool), size=cap, replace=False))
                X_pool, y_pool = X_pool[keep], y_pool[keep]
            pooled = _fit_local(X_pool, y_pool, m["pooled_num_inducing"],
                                _silo_seed(seed, 0, 2), m)
            pred = to_original(*pooled.predict(X_test), pooled.noise_variance_)
        rows += _metric_rows("pooled", [pred] * len(silos), y_tests, silo_index)
        rows.append({"method": "pooled", "metric": "time_s", "value": elapsed()})
        series["pooled"] = [pred] * len(silos)
    combiners = {
        "average": lambda mu, v: mixture_average(mu, v),
        "gpoe": lambda mu, v: gpoe(mu, v),
        "rbcm": lambda mu, v: rbcm(mu, v, float(np.mean([g.variance_ for g in small]))),
    }
    for name, combine in combiners.items():
        if name not in methods:
            continue
        with stopwatch() as elapsed:
            mus = np.array([p[0] for p in small_latent])
            vs = np.array([p[1] for p in small_latent])
            noise = float(np.mean([g.noise_variance_ for g in small]))
            if name == "average":  # mixture of the experts' predictive distributions of y
                vs = vs + np.array([g.noise_variance_ for g in small])[:, None]
                noise = 0.0
            mean, var = combine(mus, vs)
            pred = to_original(mean, var, noise)
        rows += _metric_rows(name, [pred] * len(silos), y_tests, silo_index)
        rows.append({"method": name, "metric": "time_s", "value": elapsed() + small_time})
        series[name] = [pred] * len(silos)

    if save_predictions_to is not None and cfg.plot.silo in silos:
        save_predictions(save_predictions_to, series, silos, cfg.plot.silo, cfg.plot.from_silo,
                         test, y_tests, silo_index)
    return rows


def save_predictions(path, series, silos, silo, from_silo, test, y_tests, silo_index):
    """The test days of ``silo`` with every method's mean and sd: ``<method>_mean`` from
    ``silo``'s own model, ``<method>_from_mean`` from ``from_silo``'s model (the across view)."""
    j = silos.index(silo)
    k = silos.index(from_silo) if from_silo in silos else j
    own = silo_index == j
    table = pd.DataFrame({"silo": silo, "from_silo": silos[k],
                          "date": test[silo]["date"].dt.date, "truth": y_tests[j]})
    for name, preds in series.items():
        table[f"{name}_mean"] = preds[j][0][own]
        table[f"{name}_sd"] = np.sqrt(preds[j][1][own])
        table[f"{name}_from_mean"] = preds[k][0][own]
        table[f"{name}_from_sd"] = np.sqrt(preds[k][1][own])
    atomic_write_csv(table, path)


# ---------------------------------------------------------------------------- entry points
def run(cfg) -> pd.DataFrame:
    """Run ``cfg.trials`` random splits; writes metrics.csv, predictions.csv, figures."""
    validate(cfg)
    out = output_dir(cfg)
    frame = load_data(cfg)
    for key in ("plot.silo", "plot.from_silo"):
        if OmegaConf.select(cfg, key) not in set(frame.silo):
            raise ConfigError(f"config key '{key}' = {OmegaConf.select(cfg, key)!r}: not a silo "
                              f"of the data (e.g. {sorted(set(frame.silo))[:10]})")

    def trial_fn(setting, tr):
        target = Path(out) / "predictions.csv" if tr.index == 0 else None
        return trial(cfg, frame, tr.seed, save_predictions_to=target)

    df = run_grid(cfg, [{}], trial_fn, out, desc="temperature")
    plot(df, out)
    return df


def _label(method):
    return LABELS.get(method, VARIANT_LABELS.get(method, method))


def _methods(stats):
    """Methods present, in the order of METHODS, then SPAHM sensitivity variants."""
    present = set(stats.method)
    extra = sorted(m for m in present if m.startswith("spahm_"))
    return [m for m in METHODS if m in present] + extra


def summarise(df):
    """Mean, sd and count over trials per (method, metric)."""
    return (df.groupby(["method", "metric"])["value"].agg(["mean", "std", "count"])
            .reset_index())


def plot(df, out_dir, cfg=None):
    """Figures from saved files alone: ``rmse.png`` (self / across with paper Table 1 beside),
    ``nlpd.png`` and, if ``predictions.csv`` is in ``out_dir``, ``predictions.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    stats = summarise(df)
    methods = _methods(stats)
    for kind in ("rmse", "nlpd"):
        with_table = kind == "rmse"
        n_panels = 3 if with_table else 2
        fig, axes = plt.subplots(1, n_panels, figsize=(13 if with_table else 9, 4.2),
                                 gridspec_kw={"width_ratios": [1, 1, 0.9][:n_panels]})
        for ax, where in zip(axes, ("self", "across")):
            metric = f"{kind}_{where}"
            s = stats[stats.metric == metric].set_index("method").reindex(methods)
            pos = np.arange(len(methods))
            ax.bar(pos, s["mean"], yerr=np.nan_to_num(s["std"]), capsize=3, color="tab:blue",
                   label="ours (mean +- sd)")
            if kind == "rmse":
                paper = [PAPER_RMSE.get(m, {}).get(metric, np.nan) for m in methods]
                ax.scatter(pos, paper, marker="D", color="black", zorder=3, label="paper Table 1")
            ax.set_xticks(pos, [_label(m) for m in methods], rotation=30, ha="right", fontsize=8)
            ax.set_ylabel("RMSE (deg F)" if kind == "rmse" else "NLPD (nats, deg F)")
            ax.set_title(f"{kind.upper()} {where}")
            ax.grid(axis="y", alpha=0.3)
            ax.legend(fontsize=7)
        if kind == "rmse":
            ax = axes[2]
            ax.axis("off")
            cells = [[LABELS[m], f"{v['rmse_self']:.3f}", f"{v['rmse_across']:.3f}"]
                     for m, v in PAPER_RMSE.items()]
            table = ax.table(cellText=cells, colLabels=["RMSE, paper", "self", "across"],
                             loc="center", cellLoc="center", colWidths=[0.5, 0.25, 0.25])
            table.auto_set_font_size(False)
            table.set_fontsize(8)
            table.scale(1.0, 1.6)
            ax.set_title(f"Paper Table 1: GSOD, 50 US states\n(SPAHM: {PAPER_GLOBAL_ATOMS[0]}"
                         f" +- {PAPER_GLOBAL_ATOMS[1]} global inducing points)", fontsize=9)
        fig.tight_layout()
        save_figure(fig, out_dir / f"{kind}.png")

    pred_path = out_dir / "predictions.csv"
    if pred_path.exists():
        pred = pd.read_csv(pred_path, parse_dates=["date"]).sort_values("date")
        silo, other = pred.silo.iloc[0], pred.from_silo.iloc[0]
        fig, axes = plt.subplots(2, 1, figsize=(11, 7.5), sharex=True)
        styles = {"spahm": "tab:red", "pooled": "tab:green", "sgp50": "tab:blue",
                  "average": "tab:orange"}
        views = (("", f"{silo}'s models on {silo}'s test days (self)"),
                 ("_from", f"{other}'s models on {silo}'s test days (across); pooled and "
                           "average are shared models"))
        for ax, (suffix, title) in zip(axes, views):
            ax.plot(pred.date, pred.truth, color="black", lw=1.2, marker=".", ms=4, label="truth")
            for name, colour in styles.items():
                if f"{name}{suffix}_mean" in pred:
                    ax.plot(pred.date, pred[f"{name}{suffix}_mean"], color=colour, lw=0.9,
                            alpha=0.85, label=LABELS[name])
            ax.set_ylabel("daily mean temperature (deg F)")
            ax.set_title(title, fontsize=10)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8, ncol=5, loc="lower center", bbox_to_anchor=(0.5, 1.08))
        fig.suptitle("One-day-ahead forecasts, test days of trial 0", y=1.0)
        fig.tight_layout()
        save_figure(fig, out_dir / "predictions.png")


def _cell(stats, method, metric, digits=3):
    r = stats[(stats.method == method) & (stats.metric == metric)]
    if r.empty:
        return "-"
    return f"{r['mean'].iloc[0]:.{digits}f} +- {np.nan_to_num(r['std'].iloc[0]):.{digits}f}"


def report(df, cfg=None) -> str:
    """Markdown: ours (mean +- sd over trials) beside paper Table 1 and the expected ordering."""
    stats = summarise(df)
    methods = _methods(stats)
    n = int(stats["count"].max()) if len(stats) else 0
    lines = [f"### Temperature forecasting: RMSE (deg F) and NLPD, mean +- sd over {n} trials",
             "", "| method | RMSE self | paper | RMSE across | paper | NLPD self | NLPD across |",
             "|---|---|---|---|---|---|---|"]
    for m in methods:
        p = PAPER_RMSE.get(m, {})
        paper = {k: f"{v:.3f}" for k, v in p.items()}
        lines.append(f"| {_label(m)} | {_cell(stats, m, 'rmse_self')} | "
                     f"{paper.get('rmse_self', '-')} | {_cell(stats, m, 'rmse_across')} | "
                     f"{paper.get('rmse_across', '-')} | {_cell(stats, m, 'nlpd_self')} | "
                     f"{_cell(stats, m, 'nlpd_across')} |")
    atoms = _cell(stats, "spahm", "n_global_atoms", 1)
    lines += ["", f"Global inducing points found by SPAHM: {atoms}"
              f" (paper: {PAPER_GLOBAL_ATOMS[0]} +- {PAPER_GLOBAL_ATOMS[1]})", "",
              "### Expected ordering (paper Table 1)", ""]
    lines += check_ordering(df)
    return "\n".join(lines) + "\n"


def check_ordering(df):
    """The paper's two claims: fusion costs a little at home (self: SGP300 <= SGP50 <= SPAHM)
    and gains much everywhere else (across: SPAHM < SGP50 and SPAHM < SGP300). Each claim is
    also judged on the per-trial differences (paired over the same splits)."""
    wide = df.pivot_table(index="trial", columns=["method", "metric"], values="value")
    out = []
    claims = [
        ("across: SPAHM below local SGPs (50)", ("spahm", "sgp50"), "rmse_across"),
        ("across: SPAHM below local SGPs (300)", ("spahm", "sgp300"), "rmse_across"),
        ("self: local SGPs (50) below SPAHM", ("sgp50", "spahm"), "rmse_self"),
        ("self: local SGPs (300) below local SGPs (50)", ("sgp300", "sgp50"), "rmse_self"),
    ]
    for text, (low, high), metric in claims:
        if (low, metric) not in wide or (high, metric) not in wide:
            out.append(f"- {text}: not run")
            continue
        a, b = wide[(low, metric)], wide[(high, metric)]
        diff = (b - a).dropna()
        verdict = "holds" if a.mean() < b.mean() else "does NOT hold"
        wins = f"{int((diff > 0).sum())} of {len(diff)} trials"
        out.append(f"- {text}: {verdict} ({a.mean():.3f} vs {b.mean():.3f}; "
                   f"difference {diff.mean():.3f} +- {np.nan_to_num(diff.std()):.3f}, "
                   f"in {wins})")
    return out


if __name__ == "__main__":
    import sys

    from experiments.cli import main

    sys.argv[1:1] = ["experiment=temperature"]
    main()

"""Neural-network fusion (beyond the paper): PFNM with SPAHM's core.

Data: scikit-learn's digits (1,797 8x8 images, 10 classes, bundled with scikit-learn; pixels
divided by 16). Per trial, a stratified test split (``data.test_fraction``) is held out; the
rest is shared among J silos. Homogeneous (``alpha = inf``): a random split into J near-equal
parts. Heterogeneous (label skew, PFNM's partition): for every class k, proportions
``p_k ~ Dirichlet_J(alpha)`` and silo j gets that share of class k's points; a partition
leaving a silo fewer than ``data.min_silo_size`` points is redrawn.

Each silo trains one ``MLPClassifier`` (``model``: one hidden layer of 100 ReLU units, Adam,
``model.epochs`` epochs of ``partial_fit`` with all ten classes, so every network has ten
outputs) through :func:`experiments._runner.fit_per_silo`. Methods:

- ``local``: the silos' networks on the global test set, mean and best (``accuracy_best``);
- ``averaging``: one-shot weight averaging, units aligned by index (FedAvg's single round);
- ``ensemble``: the local networks' predicted probabilities averaged (needs all J networks at
  prediction time; size = all their hidden units);
- ``spahm``: hidden units matched and fused by :func:`spahm.models.mlp.fuse_networks` with
  ``fusion`` (fixed values, see conf/experiment/networks.yaml); size = global hidden units;
- ``spahm_sigma_sweep``: the same at every ``grid.sigma_sweep`` (rows ``spahm_sigma<s>``), to
  show the size / accuracy trade-off that sigma sets;
- ``pooled``: one network of the same architecture trained on all silos' data (oracle).

Metrics: test accuracy, log loss, hidden units (``n_hidden``), and each method's time
(``time_s``: for SPAHM and averaging the fusion alone; for ``local`` the silos fitting at once).

Run: ``spahm-experiment experiment=networks profile=quick`` (or ``profile=paper``).
"""
from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from experiments import _plots
from experiments._runner import ConfigError, fit_per_silo, mean_sd, run_methods, summarise
from spahm.models.mlp import average_networks, fuse_networks

from .claims import CLAIMS
from .config import ACTIVATIONS

LABELS = {
    "local": "local networks (mean)",
    "averaging": "weight averaging (one shot)",
    "ensemble": "ensemble of local networks",
    "spahm": "SPAHM fusion (PFNM)",
    "pooled": "network on pooled data (oracle)",
}
METHODS_ALLOWED = ("local", "averaging", "ensemble", "spahm", "spahm_sigma_sweep", "pooled")
#: Digits pixels are integers 0..16; dividing by this puts them in [0, 1] (no data needed).
PIXEL_MAX = 16.0
HOMOGENEOUS = math.inf


# ---------------------------------------------------------------------------- config
def _positive(cfg, keys, what="a positive number"):
    for key in keys:
        value = OmegaConf.select(cfg, key)
        values = list(value) if OmegaConf.is_list(value) else [value]
        if not values or not all(v is not None and v > 0 for v in values):
            raise ConfigError(f"config key '{key}' = {value!r}: expected {what}")


def validate(cfg):
    _positive(cfg, ["trials", "data.min_silo_size", "data.max_redraws", "model.epochs",
                    "model.batch_size", "model.learning_rate", "grid.J_at_alpha",
                    "fusion.sigma", "fusion.sigma0", "fusion.gamma0"])
    _positive(cfg, ["model.hidden"], "a non-empty list of positive layer widths")
    _positive(cfg, ["grid.alpha", "grid.alpha_at_J"],
              "a non-empty list of positive Dirichlet alphas (.inf: homogeneous)")
    _positive(cfg, ["grid.J"], "a non-empty list of silo counts >= 1")
    if cfg.methods and "spahm_sigma_sweep" in cfg.methods:
        _positive(cfg, ["grid.sigma_sweep"], "a non-empty list of positive sigmas")
    if not 0.0 < cfg.data.test_fraction < 1.0:
        raise ConfigError(f"config key 'data.test_fraction' = {cfg.data.test_fraction}: "
                          "expected a number in (0, 1)")
    if cfg.model.l2 < 0:
        raise ConfigError(f"config key 'model.l2' = {cfg.model.l2}: expected >= 0")
    if cfg.model.activation not in ACTIVATIONS:
        raise ConfigError(f"config key 'model.activation' = {cfg.model.activation!r}: "
                          f"expected one of {list(ACTIVATIONS)}")
    methods = list(cfg.methods)
    if not methods or not set(methods) <= set(METHODS_ALLOWED):
        raise ConfigError(f"config key 'methods' = {methods}: expected a non-empty subset of "
                          f"{list(METHODS_ALLOWED)}")


def prepare(cfg):
    """scikit-learn's bundled digits: ``(X in [0, 1], y)``."""
    X, y = load_digits(return_X_y=True)
    return X / PIXEL_MAX, y


def settings(cfg):
    """The alpha sweep at ``J_at_alpha``, then the J sweep at each ``alpha_at_J``."""
    points = [(int(cfg.grid.J_at_alpha), float(a)) for a in cfg.grid.alpha]
    points += [(int(j), float(a)) for a in cfg.grid.alpha_at_J for j in cfg.grid.J]
    return [{"J": j, "alpha": a} for j, a in dict.fromkeys(points)]


# ---------------------------------------------------------------------------- data
def partition(y, J, alpha, rng, min_size=1, max_redraws=1000):
    """Indices of each silo's points: homogeneous (``alpha = inf``) or label-skewed.

    Label skew as PFNM: for every class, its points (in random order) are cut among the J
    silos in proportions drawn from ``Dirichlet_J(alpha)``. Redrawn until every silo has at
    least ``min_size`` points.

    Raises
    ------
    ConfigError
        No partition within ``max_redraws`` draws gives every silo ``min_size`` points.
    """
    y = np.asarray(y)
    if len(y) < J * min_size:
        raise ConfigError(f"J = {J} silos of at least data.min_silo_size = {min_size} points "
                          f"need {J * min_size} training points; there are {len(y)}")
    if math.isinf(alpha):
        return [np.sort(part) for part in np.array_split(rng.permutation(len(y)), J)]
    for _ in range(max_redraws):
        silos = [[] for _ in range(J)]
        for k in np.unique(y):
            members = rng.permutation(np.flatnonzero(y == k))
            cuts = np.floor(np.cumsum(rng.dirichlet(np.full(J, alpha)))[:-1] * len(members))
            for j, part in enumerate(np.split(members, cuts.astype(int))):
                silos[j].append(part)
        silos = [np.sort(np.concatenate(parts)) for parts in silos]
        if min(len(s) for s in silos) >= min_size:
            return silos
    raise ConfigError(f"no Dirichlet(alpha={alpha}) partition into J={J} silos gave every silo "
                      f"data.min_silo_size = {min_size} points in data.max_redraws = "
                      f"{max_redraws} draws: lower J or min_silo_size, or raise alpha")


def fit_network(data, seed, model, classes):
    """One silo's ``MLPClassifier``: ``model['epochs']`` epochs of ``partial_fit`` (Adam) with
    every class in ``classes``, so its output layer has them all."""
    X, y = data
    net = MLPClassifier(hidden_layer_sizes=tuple(model["hidden"]), activation=model["activation"],
                        alpha=model["l2"], batch_size=min(int(model["batch_size"]), len(X)),
                        learning_rate_init=model["learning_rate"], random_state=seed)
    for _ in range(int(model["epochs"])):
        net.partial_fit(X, y, classes=classes)
    return net


# ---------------------------------------------------------------------------- one trial
class _Trial:
    """One trial's split, partition and local networks, shared by its methods."""

    def __init__(self, cfg, setting, trial, prepared):
        X, y = prepared
        self.cfg, self.trial = cfg, trial
        self.classes = np.unique(y)
        Xtr, self.X_test, ytr, self.y_test = train_test_split(
            X, y, test_size=cfg.data.test_fraction, stratify=y,
            random_state=trial.seed_for("split"))
        parts = partition(ytr, setting["J"], setting["alpha"], trial.rng("partition"),
                          cfg.data.min_silo_size, cfg.data.max_redraws)
        self.silos = [(Xtr[i], ytr[i]) for i in parts]
        self.fit = partial(fit_network, model=OmegaConf.to_container(cfg.model, resolve=True),
                           classes=self.classes)
        self.local = fit_per_silo(self.fit, self.silos, trial, name="local",
                                  n_jobs=int(OmegaConf.select(cfg, "n_jobs", default=1)))

    def scores(self, proba, n_hidden):
        """Accuracy and log loss on the global test set of predicted probabilities."""
        return [("accuracy", accuracy_score(self.y_test, self.classes[proba.argmax(axis=1)])),
                ("log_loss", log_loss(self.y_test, proba, labels=self.classes)),
                ("n_hidden", n_hidden)]

    def spahm(self, **overrides):
        kwargs = OmegaConf.to_container(self.cfg.fusion, resolve=True)
        kwargs.update(overrides)
        fused = fuse_networks(self.local.models, random_state=self.trial.seed_for("fusion"),
                              **kwargs)
        return fused, self.scores(fused.predict_proba(self.X_test),
                                  sum(fused.hidden_layer_sizes))


def _local(t):
    per_silo = np.array([[score for _, score in t.scores(m.predict_proba(t.X_test),
                                                         sum(m.hidden_layer_sizes))]
                         for m in t.local.models])
    return [("accuracy", per_silo[:, 0].mean()), ("accuracy_best", per_silo[:, 0].max()),
            ("log_loss", per_silo[:, 1].mean()), ("n_hidden", per_silo[:, 2].mean()),
            ("silo_size_min", min(len(y) for _, y in t.silos)),
            ("silo_classes_mean", np.mean([len(np.unique(y)) for _, y in t.silos])),
            ("time_s", t.local.parallel_wall_s), ("cpu_time_s", t.local.total_cpu_s)]


def _averaging(t):
    net = average_networks(t.local.models)
    return t.scores(net.predict_proba(t.X_test), sum(net.hidden_layer_sizes))


def _ensemble(t):
    proba = np.mean([m.predict_proba(t.X_test) for m in t.local.models], axis=0)
    return t.scores(proba, sum(sum(m.hidden_layer_sizes) for m in t.local.models))


def _spahm(t):
    fused, rows = t.spahm()
    hp = fused.fusion_[-1].hyperparameters
    return rows + [("est_sigma", float(np.mean(hp["sigma"]))),
                   ("est_sigma0", float(np.mean(hp["sigma0"])))]


def _spahm_sigma_sweep(t):
    rows = []
    for sigma in t.cfg.grid.sigma_sweep:
        _, scores = t.spahm(sigma=float(sigma))
        rows += [(f"spahm_sigma{float(sigma):g}", metric, value) for metric, value in scores]
    return rows


def _pooled(t):
    X = np.vstack([x for x, _ in t.silos])
    y = np.concatenate([y for _, y in t.silos])
    net = t.fit((X, y), t.trial.seed_for("pooled"))
    return t.scores(net.predict_proba(t.X_test), sum(net.hidden_layer_sizes))


METHODS = {"local": _local, "averaging": _averaging, "ensemble": _ensemble, "spahm": _spahm,
           "spahm_sigma_sweep": _spahm_sigma_sweep, "pooled": _pooled}


def trial(cfg, setting, trial, prepared):
    """Every configured method on one split and partition; returns tidy rows."""
    t = _Trial(cfg, setting, trial, prepared)
    return run_methods(METHODS, cfg.methods, t)


# ---------------------------------------------------------------------------- summaries
def _methods_in(df):
    present = set(df.method)
    sweep = sorted((m for m in present if m.startswith("spahm_sigma") and m != "spahm_sigma_sweep"),
                   key=lambda m: float(m[len("spahm_sigma"):]))
    return [m for m in LABELS if m in present] + sweep


def _label(method):
    if method.startswith("spahm_sigma"):
        return f"SPAHM, sigma = {method[len('spahm_sigma'):]}"
    return LABELS.get(method, method)


def _alpha_text(alpha):
    return "homogeneous" if math.isinf(alpha) else f"alpha = {alpha:g}"


def _sweeps(df, cfg):
    """``(J of the alpha sweep, alphas of the J sweeps)``, from the config or the CSV."""
    if cfg is not None and OmegaConf.select(cfg, "grid.J_at_alpha") is not None:
        return int(cfg.grid.J_at_alpha), [float(a) for a in cfg.grid.alpha_at_J]
    j = int(df.groupby("J")["alpha"].nunique().idxmax())
    counts = df.groupby("alpha")["J"].nunique()
    return j, [float(a) for a in counts[counts > 1].index] or [float(counts.idxmax())]


def _plot_alpha(stats):
    """``alpha`` with the homogeneous split drawn one decade right of the largest alpha."""
    finite = stats.alpha[np.isfinite(stats.alpha)]
    right = 10.0 * (finite.max() if len(finite) else 1.0)
    return stats.assign(alpha_plot=np.where(np.isinf(stats.alpha), right, stats.alpha))


METRIC_LABELS = {"accuracy": "test accuracy", "log_loss": "test log loss",
                 "n_hidden": "hidden units (model size)"}


def plot(df, out_dir, cfg=None):
    """Accuracy, log loss and size against alpha (at J_at_alpha) and against J (per alpha)."""
    out_dir = Path(out_dir)
    j_alpha, alphas_j = _sweeps(df, cfg)
    methods = _methods_in(df)
    labels = {m: _label(m) for m in methods}
    caption = " ".join(filter(None, [
        "Local networks: the mean over silos of each silo's own network.",
        _plots.overrides(cfg)]))
    paths = []
    for metric, ylabel in METRIC_LABELS.items():
        shown = methods if metric != "n_hidden" else [m for m in methods if m != "pooled"]
        stats = summarise(df, metric, ["J", "alpha", "method"])
        sub = _plot_alpha(stats[stats.J == j_alpha])
        if sub.alpha.nunique() > 1:
            path = out_dir / f"{metric}_vs_alpha.png"
            ticks = sorted(sub.alpha_plot.unique())
            names = ["homogeneous" if math.isinf(a) else f"{a:g}"
                     for a in sorted(sub.alpha.unique())]
            _plots.lines_with_paper(
                sub, "alpha_plot", shown, labels, None,
                "Dirichlet alpha of the label skew (smaller: more skewed)", ylabel,
                f"digits, J = {j_alpha} silos", path, logx=True, logy=metric == "n_hidden",
                xticks=(ticks, names), caption="The homogeneous split is drawn right of the "
                f"largest alpha. {caption}")
            paths.append(path)
        for alpha in alphas_j:
            sub = stats[stats.alpha == alpha]
            if sub.J.nunique() < 2:
                continue
            tag = "homogeneous" if math.isinf(alpha) else f"alpha{alpha:g}"
            path = out_dir / f"{metric}_vs_J_{tag}.png"
            _plots.lines_with_paper(sub, "J", shown, labels, None, "silos J", ylabel,
                                    f"digits, {_alpha_text(alpha)}", path,
                                    logy=metric == "n_hidden", caption=caption,
                                    xticks=sorted(sub.J.unique()))
            paths.append(path)
    return paths


def _table(df, metric, methods, digits=3):
    stats = summarise(df, metric, ["J", "alpha", "method"])
    lines = ["| J | split | " + " | ".join(_label(m) for m in methods) + " |",
             "|---|---|" + "---|" * len(methods)]
    for (j, alpha), group in stats.groupby(["J", "alpha"], sort=False):
        cells = []
        for m in methods:
            row = group[group.method == m]
            cells.append("" if row.empty else mean_sd(row["mean"].iloc[0], row["std"].iloc[0],
                                                      int(row["count"].iloc[0]), digits))
        lines.append(f"| {j} | {_alpha_text(alpha)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def margins(df, better="spahm", others=("averaging", "local"), metric="accuracy"):
    """Per grid point: the mean over trials of ``better - other`` in ``metric`` (paired by
    trial), its sd, and the larger of the two methods' sds over trials (the spread)."""
    sub = df[df.metric == metric].pivot_table(index=["J", "alpha", "trial"], columns="method",
                                              values="value")
    rows = []
    for other in others:
        if better not in sub or other not in sub:
            continue
        diff = (sub[better] - sub[other]).groupby(level=["J", "alpha"], sort=False)
        spread = sub[[better, other]].groupby(level=["J", "alpha"], sort=False).std().max(axis=1)
        frame = pd.DataFrame({"margin": diff.mean(), "margin_sd": diff.std(), "spread": spread})
        frame["other"] = other
        rows.append(frame.reset_index())
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def report(df, cfg=None):
    methods = _methods_in(df)
    main = [m for m in methods if not m.startswith("spahm_sigma")]
    n_trials = int(df.trial.nunique())
    out = ["# Neural-network fusion (PFNM with SPAHM's core) on scikit-learn's digits", "",
           f"{n_trials} trials per grid point; mean +- sd over trials. Local networks: mean "
           "over silos; `accuracy_best` is the best silo's.", "",
           "## Test accuracy", "", _table(df, "accuracy", main), "",
           "## Test log loss", "", _table(df, "log_loss", main), "",
           "## Hidden units (ensemble: all silos' units; SPAHM: global units)", "",
           _table(df, "n_hidden", [m for m in main if m != "pooled"], 1), "",
           "## Time (s): local = silos fitting at once; averaging and SPAHM = fusion alone", "",
           _table(df, "time_s", main, 3), ""]
    if "local" in main:
        out += ["## Best local network's test accuracy", "",
                _table(df, "accuracy_best", ["local"]), ""]
    m = margins(df)
    if not m.empty:
        out += ["## SPAHM's accuracy margin over the baselines (paired by trial)", "",
                "| J | split | over | margin | sd of margin | spread (larger sd) | margin > spread |",
                "|---|---|---|---|---|---|---|"]
        for r in m.itertuples():
            out.append(f"| {r.J} | {_alpha_text(r.alpha)} | {_label(r.other)} | "
                       f"{r.margin:+.3f} | {r.margin_sd:.3f} | {r.spread:.3f} | "
                       f"{'yes' if r.margin > r.spread else 'no'} |")
        out.append("")
    sweep = [m for m in methods if m.startswith("spahm_sigma")]
    if sweep:
        rows = ["spahm"] + sweep
        out += ["## Sensitivity: SPAHM's sigma (accuracy, then hidden units)", "",
                _table(df, "accuracy", rows), "", _table(df, "n_hidden", rows, 1), ""]
    out.append(CLAIMS.section(df, heading="##"))
    return "\n".join(out)

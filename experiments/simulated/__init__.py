"""Simulated data (paper section 4.1, Fig. 2, and the supplement's hyperparameter figure).

Global atoms theta_i ~ N(mu0, sigma0^2) per dimension with Beta popularities; silo j keeps
atom i with probability p_i and observes it with Gaussian noise of sd ``sigma_local``; its
data are M points from a Gaussian mixture around its local atoms (Dirichlet weights, sd
``data.data_sd``: 0.1 as the authors' released code, or ``sigma_local`` as the paper's text).
Methods: SPAHM on the true local atoms, SPAHM on k-means local atoms (``model.init`` seeding,
or always farthest-first for ``spahm_kmeans_maximin``), k-means on the pooled data, k-means on
the pooled local centroids. Metric: Hausdorff distance to the true global atoms (those some
silo uses), plus the number of atoms, wall time and, for SPAHM, the relative error of its
estimated hyperparameters.

Run: ``spahm-experiment experiment=simulated profile=quick`` (or ``profile=paper``; the
paper text's harder setting: ``variant=paper_text``, conf/variant/).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from experiments import _plots
from experiments._runner import ConfigError, mean_sd, run_methods, stopwatch, summarise
from spahm import match
from spahm.metrics import hausdorff

from .claims import (CLAIMS, PAPER_HYPER, PAPER_HYPER_RANGE, PAPER_HYPER_SIGMAS, PAPER_J,
                     PAPER_J0, PAPER_J_BASELINE_RANGE, PAPER_SIGMA)
from .config import ALGORITHMS, CENTROIDS_K, INITS
from .kmeans import local_atoms, local_kmeans, pooled_kmeans

LABELS = {
    "spahm_true": "SPAHM (true local atoms)",
    "spahm_kmeans": "SPAHM (k-means local atoms)",
    "spahm_kmeans_maximin": "SPAHM (k-means atoms, farthest-first seeding)",
    "kmeans_pooled": "k-means, pooled data",
    "kmeans_centroids": "k-means, pooled local centroids",
}
SPAHM_METHODS = ("spahm_true", "spahm_kmeans", "spahm_kmeans_maximin")

# ---------------------------------------------------------------------------- config
def check_positive(cfg, keys, what="a positive number"):
    for key in keys:
        value = OmegaConf.select(cfg, key)
        values = value if OmegaConf.is_list(value) else [value]
        if value is None or len(values) == 0 or not all(v is not None and v > 0 for v in values):
            raise ConfigError(f"config key '{key}' = {value!r}: expected {what}")


def check_one_of(cfg, key, allowed):
    value = OmegaConf.select(cfg, key)
    if value not in allowed:
        raise ConfigError(f"config key '{key}' = {value!r}: expected one of {list(allowed)}")


def check_methods(cfg, allowed):
    methods = list(cfg.methods)
    if not methods or not set(methods) <= set(allowed):
        raise ConfigError(f"config key 'methods' = {methods}: expected a non-empty subset of "
                          f"{list(allowed)}")


def validate_atoms(cfg):
    """Ranges of the synthetic atoms' settings (:class:`config.AtomsCfg`), shared with
    :mod:`experiments.uncertainty`; Hydra has checked their types."""
    check_positive(cfg, ["data.L", "data.D", "data.popularity_a", "data.popularity_b",
                    "data.dirichlet_alpha", "trials", "model.n_init", "model.max_iter"])
    if not math.isfinite(cfg.data.mu0):
        raise ConfigError(f"config key 'data.mu0' = {cfg.data.mu0!r}: expected a finite number")
    if cfg.data.sigma0 is not None:
        check_positive(cfg, ["data.sigma0"], "a positive number or null (sqrt(L))")
    check_one_of(cfg, "model.init", INITS)
    check_positive(cfg, ["fusion.gamma0", "fusion.sigma", "fusion.sigma0"])
    if cfg.fusion.n_iter < 0:
        raise ConfigError(f"config key 'fusion.n_iter' = {cfg.fusion.n_iter}: expected >= 0")


def validate(cfg):
    validate_atoms(cfg)
    check_positive(cfg, ["data.M", "grid.J_at_sigma", "grid.sigma_at_J", "model.pooled_max_iter",
                         "model.pooled_batches"])
    check_one_of(cfg, "model.pooled_algorithm", ALGORITHMS)
    check_positive(cfg, ["grid.sigma_local"], "a non-empty list of positive noise levels")
    check_positive(cfg, ["grid.J"], "a non-empty list of positive silo counts")
    if cfg.data.data_sd is not None:
        check_positive(cfg, ["data.data_sd"], "a positive number or null (sigma_local)")
    check_one_of(cfg, "model.centroids_k", CENTROIDS_K)
    check_methods(cfg, METHODS)
    if cfg.data.M < cfg.data.L:
        raise ConfigError(f"config key 'data.M' = {cfg.data.M}: expected at least data.L = "
                          f"{cfg.data.L} (each silo fits up to L clusters)")


def prepare(cfg):
    return None


def settings(cfg):
    """Grid points (sigma_local, J): the sigma sweep at fixed J, then the J sweep at fixed sigma."""
    points = [(float(s), int(cfg.grid.J_at_sigma)) for s in cfg.grid.sigma_local]
    points += [(float(cfg.grid.sigma_at_J), int(j)) for j in cfg.grid.J]
    return [{"sigma_local": s, "J": j} for s, j in dict.fromkeys(points)]


# ---------------------------------------------------------------------------- data
def sample_mixture(rng, atoms, M, sd, alpha):
    """M points of a Gaussian mixture around ``atoms`` (weights ~ Dirichlet(alpha), sd ``sd``).

    Returns ``(points (M, D), labels (M,))``.
    """
    weights = rng.dirichlet(np.full(len(atoms), alpha))
    labels = rng.choice(len(atoms), size=M, p=weights)
    return atoms[labels] + rng.normal(0.0, sd, size=(M, atoms.shape[1])), labels


def sample_atoms(rng, J, sigma_local, atoms_cfg):
    """Global atoms, popularities and each silo's noisy local atoms, as in the paper.

    ``atoms_cfg`` holds the :class:`config.AtomsCfg` keys. A silo that happens to select no
    global atom redraws its selection (a silo must hold data).

    Returns
    -------
    dict with ``truth`` (the global atoms some silo uses), ``local_atoms`` (list of (L_j, D)),
    ``truth_index`` (per silo, the row of ``truth`` each local atom copies) and ``sigma0``.
    """
    a = atoms_cfg
    sigma0 = math.sqrt(a.L) if a.sigma0 is None else a.sigma0
    theta = rng.normal(a.mu0, sigma0, size=(a.L, a.D))
    p = rng.beta(a.popularity_a, a.popularity_b, size=a.L)
    masks = rng.random((J, a.L)) < p
    for j in np.flatnonzero(~masks.any(axis=1)):
        while not masks[j].any():
            masks[j] = rng.random(a.L) < p
    local_atoms = [theta[m] + rng.normal(0.0, sigma_local, size=(m.sum(), a.D)) for m in masks]
    used = np.flatnonzero(masks.any(axis=0))
    return {"truth": theta[used], "local_atoms": local_atoms, "sigma0": sigma0,
            "truth_index": [np.searchsorted(used, np.flatnonzero(m)) for m in masks]}


def sample_problem(rng, J, sigma_local, data_cfg, with_data=True):
    """:func:`sample_atoms`, then each silo's M points around its local atoms with sd
    ``data_cfg.data_sd`` (None: ``sigma_local``); ``data`` is None without data.

    The atoms are drawn before the data, so they do not depend on M or data_sd."""
    problem = sample_atoms(rng, J, sigma_local, data_cfg)
    sd = sigma_local if data_cfg.data_sd is None else data_cfg.data_sd
    problem["data"] = [sample_mixture(rng, atoms, data_cfg.M, sd, data_cfg.dirichlet_alpha)[0]
                       for atoms in problem["local_atoms"]] if with_data else None
    return problem


# ---------------------------------------------------------------------------- one trial
class _Trial:
    """One sampled problem and the local fits its methods share (fitted once, when first used)."""

    def __init__(self, cfg, setting, trial):
        self.cfg, self.trial = cfg, trial
        self.sigma_local, self.J = setting["sigma_local"], setting["J"]
        self.n_jobs = int(OmegaConf.select(cfg, "n_jobs", default=1))
        self.backend = OmegaConf.select(cfg, "parallel.backend", default=None)
        self.diagnostics = []
        needs_data = any(m != "spahm_true" for m in cfg.methods)
        # One stream per trial: every setting of a trial shares its global atoms, as the
        # released code (np.random.seed(trial)) does.
        self.problem = sample_problem(trial.rng("problem"), self.J, self.sigma_local, cfg.data,
                                      with_data=needs_data)
        self._local = {}

    @property
    def truth(self):
        return self.problem["truth"]

    def local(self, init):
        """Each silo's k-means (``init`` seeding), fitted on first use: ``SiloFits``."""
        if init not in self._local:
            model = OmegaConf.merge(self.cfg.model, {"init": init})
            fits = local_kmeans(self.problem["data"], [len(a) for a in self.problem["local_atoms"]],
                                self.trial, model, n_jobs=self.n_jobs, backend=self.backend)
            self._local[init] = fits
            # How well the local k-means recovered each silo's own atoms (SPAHM's input).
            self.diagnostics.append((f"local_kmeans_{init}", "hausdorff_to_local_atoms", np.mean(
                [hausdorff(found.atoms, a)
                 for found, a in zip(local_atoms(fits), self.problem["local_atoms"])])))
        return self._local[init]

    def spahm(self, atoms, fits=None):
        """SPAHM on ``atoms``: Hausdorff, atom count, times and its hyperparameter estimates.

        ``time_s`` adds the local fits' wall time with every silo fitting at once (the
        federated setting); ``cpu_time_s`` their total CPU time."""
        kwargs = OmegaConf.to_container(self.cfg.fusion, resolve=True)
        cpu = time.process_time()
        with stopwatch() as elapsed:
            result = match(atoms, random_state=self.trial.seed_for("fusion"), **kwargs)
        cpu = time.process_time() - cpu
        hp = result.hyperparameters
        true = {"mu0": self.cfg.data.mu0, "sigma": self.sigma_local,
                "sigma0": self.problem["sigma0"], "n_atoms": len(self.truth)}
        est = {"mu0": np.mean(hp["mu0"]), "sigma": np.mean(hp["sigma"]),
               "sigma0": np.mean(hp["sigma0"]), "n_atoms": result.n_global_atoms}
        rows = [("hausdorff", hausdorff(result.global_atoms, self.truth)),
                ("n_atoms", result.n_global_atoms), ("fusion_time_s", elapsed())]
        if fits is not None:
            rows += [("local_time_s", fits.parallel_wall_s),
                     ("local_sequential_time_s", fits.sequential_wall_s)]
        rows += [("time_s", elapsed() + (fits.parallel_wall_s if fits else 0.0)),
                 ("cpu_time_s", cpu + (fits.total_cpu_s if fits else 0.0))]
        for name, value in est.items():
            error = 100.0 * abs(float(value) - true[name]) / abs(true[name])
            rows += [(f"est_{name}", float(value)), (f"relerr_{name}_pct", error)]
        return rows

    def pooled(self, points, k, name):
        """k-means++ on pooled ``points``: Hausdorff, cluster count and the restarts' CPU time."""
        m = self.cfg.model
        model, fits = pooled_kmeans(points, k, self.trial, name, m.n_init, m.pooled_max_iter,
                                    m.pooled_batches, m.pooled_algorithm, self.n_jobs,
                                    self.backend)
        return [("hausdorff", hausdorff(model.cluster_centers_, self.truth)),
                ("n_atoms", len(model.cluster_centers_))], fits


def _spahm_true(t):
    return t.spahm(t.problem["local_atoms"])


def _spahm_kmeans(t, init=None):
    fits = t.local(init or t.cfg.model.init)
    return t.spahm([found.atoms for found in local_atoms(fits)], fits)


def _kmeans_pooled(t):
    """k-means on all silos' data with the true number of atoms (as the released code)."""
    rows, fits = t.pooled(np.vstack(t.problem["data"]), len(t.truth), "pooled")
    return rows + [("cpu_time_s", fits.total_cpu_s)]


def _kmeans_centroids(t):
    """k-means on the pooled local centroids ("k-means matching"), with data.L clusters as the
    released code, or the true number of atoms (``model.centroids_k``). Its time counts the
    local fits with every silo at once, as SPAHM's does."""
    local = t.local(t.cfg.model.init)
    k = t.cfg.data.L if t.cfg.model.centroids_k == "L" else len(t.truth)
    with stopwatch() as elapsed:
        rows, fits = t.pooled(np.vstack([found.atoms for found in local_atoms(local)]), k,
                              "centroids")
    return rows + [("time_s", elapsed() + local.parallel_wall_s),
                   ("cpu_time_s", fits.total_cpu_s + local.total_cpu_s)]


METHODS = {
    "spahm_true": _spahm_true,
    "spahm_kmeans": _spahm_kmeans,
    "spahm_kmeans_maximin": lambda t: _spahm_kmeans(t, "maximin"),
    "kmeans_pooled": _kmeans_pooled,
    "kmeans_centroids": _kmeans_centroids,
}


def trial(cfg, setting, trial, prepared=None):
    """Every configured method on one sampled problem; returns tidy rows."""
    t = _Trial(cfg, setting, trial)
    rows = run_methods(METHODS, cfg.methods, t)
    rows += [{"method": m, "metric": k, "value": float(v)}
             for m, k, v in [("truth", "n_atoms", len(t.truth)), *t.diagnostics]]
    return rows


# ---------------------------------------------------------------------------- summaries
def _fixed(cfg, df):
    """The J of the sigma sweep and the sigma of the J sweep (from config, else the CSV)."""
    if cfg is not None and OmegaConf.select(cfg, "grid.J_at_sigma") is not None:
        return int(cfg.grid.J_at_sigma), float(cfg.grid.sigma_at_J)
    j = df.groupby("J")["sigma_local"].nunique().idxmax()
    s = df.groupby("sigma_local")["J"].nunique().idxmax()
    return int(j), float(s)


def trial_stats(df, metric, by=("sigma_local", "J", "method")):
    """Mean, sd, count and the range over trials (``lo``, ``hi``: the figures' band) of one
    metric per ``by`` group."""
    by = list(by)
    spread = df[df.metric == metric].groupby(by, sort=False)["value"].agg(lo="min", hi="max")
    return summarise(df, metric, by).merge(spread.reset_index(), on=by)


def _methods_in(stats):
    return [m for m in LABELS if m in set(stats.method)]


# ---------------------------------------------------------------------------- figures
def plot(df, out_dir, cfg=None):
    """Fig. 2 (Hausdorff vs sigma and vs J) and the hyperparameter-error figure, from the CSV.

    Lines are means over trials; the shaded band is the range over trials (always positive,
    so it stays on the log axis); hollow markers are the paper's values."""
    out_dir = Path(out_dir)
    J0, s0 = _fixed(cfg, df)
    stats = trial_stats(df, "hausdorff")
    methods = _methods_in(stats)
    ylabel = "Hausdorff distance to true global atoms"
    setting = f"{_setting_name(cfg).capitalize()}. {_plots.overrides(cfg)}".strip()
    written = [out_dir / "hausdorff_vs_sigma.png"]
    by_sigma = stats[stats.J == J0]
    _plots.lines_with_paper(
        by_sigma, "sigma_local", methods, LABELS, PAPER_SIGMA,
        xlabel="local noise sd $\\sigma$", ylabel=ylabel,
        title=f"Simulated data, J = {J0} (paper's Fig. 2, left)", path=written[-1],
        logx=True, logy=True, caption=setting, xticks=sorted(by_sigma.sigma_local.unique()))
    by_J = stats[stats.sigma_local == s0]
    if by_J.J.nunique() > 1:
        def paper_j(ax):
            st = _plots.style("spahm_true")
            ax.plot(PAPER_J["J"], PAPER_J["spahm_true"], linestyle="none", marker=st["marker"],
                    mfc="none", ms=7, mew=1.3, color=st["color"],
                    label=f"{LABELS['spahm_true']} (paper, its two read points)")
            ax.axhspan(*PAPER_J_BASELINE_RANGE, color="grey", alpha=0.08,
                       label="k-means baselines (paper: within this range)")

        written.append(out_dir / "hausdorff_vs_J.png")
        _plots.lines_with_paper(
            by_J, "J", methods, LABELS, None, xlabel="number of silos J", ylabel=ylabel,
            title=f"Simulated data, $\\sigma$ = {s0:g} (paper's Fig. 2, right)",
            path=written[-1], decorate=paper_j, caption=setting)
    hyper = hyperparameter_errors(df, J0)
    if set(hyper.method) & {f"spahm_kmeans:{n}" for n in PAPER_HYPER}:
        written.append(out_dir / "hyperparameter_error.png")
        _hyperparameter_figure(hyper, J0, setting, written[-1])
    return written


def _hyperparameter_figure(hyper, J0, setting, path):
    """The supplement's figure, one panel per estimate: SPAHM on k-means atoms (and with
    farthest-first seeding, dashed) beside the supplement's range, hatched over its sigmas."""
    names = [n for n in PAPER_HYPER if any(m.endswith(f":{n}") for m in set(hyper.method))]
    fig, axes = _plots.plt.subplots(2, 2, figsize=(8.4, 6.0), sharex=True,
                                    layout="constrained")
    labels = {"spahm_kmeans": LABELS["spahm_kmeans"],
              "spahm_kmeans_maximin": LABELS["spahm_kmeans_maximin"]}
    for ax, name in zip(axes.flat, names):
        sub = hyper[hyper.method.str.endswith(f":{name}")]
        sub = sub.assign(method=sub.method.str.split(":").str[0])
        _plots.draw_lines(ax, sub, "sigma_local", list(labels), labels)
        lo, hi = PAPER_HYPER_RANGE[name]
        ax.fill_between(PAPER_HYPER_SIGMAS, max(lo, 0.05), hi, facecolor="none",
                        edgecolor="grey", hatch="///", linewidth=0,
                        label="the supplement's range (over its sigmas)")
        _plots.axes_style(ax, "local noise sd $\\sigma$" if ax in list(axes[1]) else "",
                          "relative error (%)", f"{name} (supplement: {PAPER_HYPER[name]}%)",
                          logx=True, logy=True)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    fig.suptitle(f"SPAHM's estimated hyperparameters on k-means atoms, J = {J0}")
    _plots.finish(fig, path, " ".join(filter(None, [
        _plots.spread_caption(hyper, band=True), setting])), axes=axes.flat[:len(names)])


def _setting_name(cfg):
    data_sd = OmegaConf.select(cfg, "data.data_sd") if cfg is not None else None
    if cfg is not None and data_sd is None:
        return "harder setting, variant=paper_text: silo data sd = sigma"
    return f"silo data sd {data_sd:g}" if data_sd is not None else "from CSV"


# ---------------------------------------------------------------------------- report
def _table(stats, rows, row_label, methods, paper=None):
    lines = [f"| {row_label} | " + " | ".join(LABELS[m] for m in methods) + " |",
             "|---" * (len(methods) + 1) + "|"]
    cells = stats.set_index(["key", "method"])
    for key in rows:
        out = []
        for m in methods:
            if (key, m) not in cells.index:
                out.append("-")
                continue
            r = cells.loc[(key, m)]
            cell = mean_sd(r["mean"], r["std"], r["count"])
            value = (paper or {}).get(m, {}).get(key)
            out.append(cell + (f" ({value})" if value is not None else ""))
        lines.append(f"| {key:g} | " + " | ".join(out) + " |")
    return lines


def report(df, cfg=None) -> str:
    """Markdown: our Hausdorff beside the paper's, and where SPAHM beats both baselines."""
    J0, s0 = _fixed(cfg, df)
    stats = trial_stats(df, "hausdorff")
    methods = _methods_in(stats)
    counts = stats["count"]
    n_trials = (f"{counts.min()}" if counts.min() == counts.max()
                else f"{counts.min()}-{counts.max()}")
    by_sigma = stats[stats.J == J0].assign(key=lambda s: s.sigma_local)
    by_J = stats[stats.sigma_local == s0].assign(key=lambda s: s.J)
    paper = {m: dict(zip(PAPER_SIGMA["sigma_local"], PAPER_SIGMA[m])) for m in PAPER_SIGMA}
    lines = [f"{n_trials} trials per grid point ({_setting_name(cfg)}).", "",
             f"### Hausdorff distance vs noise sd (J = {J0}); ours mean +- sd (paper)", "",
             *_table(by_sigma, sorted(by_sigma.key.unique()), "sigma", methods, paper),
             "", f"### Hausdorff distance vs J (sigma = {s0:g}); ours mean +- sd", "",
             *_table(by_J, sorted(by_J.key.unique()), "J", methods),
             "", f"Paper (Fig. 2 right): SPAHM on true atoms falls from about "
             f"{PAPER_J['spahm_true'][0]:g} at J={PAPER_J['J'][0]} to {PAPER_J['spahm_true'][-1]:g} "
             f"at J={PAPER_J['J'][-1]}; both k-means baselines stay between "
             f"{PAPER_J_BASELINE_RANGE[0]:g} and {PAPER_J_BASELINE_RANGE[1]:g}.",
             "", CLAIMS.section(df).rstrip(),
             "", *_hyperparameter_table(df, J0, cfg), "", *_local_kmeans_table(df)]
    return "\n".join(lines) + "\n"


#: Short method names for the text headline.
SHORT = {"spahm_true": "SPAHM, true atoms", "spahm_kmeans": "SPAHM, k-means atoms",
         "spahm_kmeans_maximin": "SPAHM, farthest-first", "kmeans_pooled": "k-means, pooled",
         "kmeans_centroids": "k-means, centroids"}


def headline(df, cfg=None) -> str:
    """The run's headline as the paper's Fig. 2 reads: Hausdorff distance per noise sd and J,
    every method's mean +- sd over trials, the paper's value (J = 20) in parentheses."""
    stats = trial_stats(df, "hausdorff")
    methods = _methods_in(stats)
    if not methods:
        return ""
    cells = stats.set_index(["sigma_local", "J", "method"])
    paper = {(s, m): PAPER_SIGMA[m][i] for i, s in enumerate(PAPER_SIGMA["sigma_local"])
             for m in PAPER_SIGMA if m != "sigma_local"}
    rows = []
    for s, J in sorted({(s, J) for s, J, _ in cells.index}):
        row = [f"{s:g}", f"{J}"]
        for m in methods:
            if (s, J, m) not in cells.index:
                row.append("-")
                continue
            r = cells.loc[(s, J, m)]
            value = paper.get((s, m)) if J == PAPER_J0 else None
            row.append(mean_sd(r["mean"], r["std"], int(r["count"]))
                       + (f" ({value:g})" if value is not None else ""))
        rows.append(row)
    header = ["sd", "J"] + [SHORT.get(m, m) for m in methods]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    counts = stats["count"]
    n = f"{counts.min()}" if counts.min() == counts.max() else f"{counts.min()}-{counts.max()}"
    lines = [f"Hausdorff distance to the true global atoms, mean +- sd over {n} trials "
             f"(paper's Fig. 2 at J = {PAPER_J0} in parentheses):", "  " + fmt.format(*header)]
    return "\n".join(lines + ["  " + fmt.format(*row) for row in rows])


def hyperparameter_errors(df, J0):
    """Mean, sd and range over trials of the relative error (%) of SPAHM's estimates at J = J0,
    one row per sigma and ``method`` = ``"<spahm method>:<estimate>"`` (the supplement's figure)."""
    frames = []
    for name in PAPER_HYPER:
        s = trial_stats(df[df.J == J0], f"relerr_{name}_pct")
        frames.append(s.assign(method=s["method"] + ":" + name))
    return pd.concat(frames, ignore_index=True)


def _hyperparameter_table(df, J0, cfg=None):
    """The supplement's figure as a table: relative error (%) of SPAHM's estimates at J0."""
    hyper = hyperparameter_errors(df, J0)
    if hyper.empty:
        return []
    paper = ", ".join(f"{k} {v}" for k, v in PAPER_HYPER.items())
    sigmas = sorted(hyper.sigma_local.unique())
    lines = [f"### Relative error (%) of SPAHM's estimates at J = {J0}, mean over trials "
             f"(supplement, on k-means atoms: {paper})", "",
             "| method | estimate | " + " | ".join(f"sigma={s:g}" for s in sigmas) + " |",
             "|---|---" + "|---" * len(sigmas) + "|"]
    means = hyper.set_index(["method", "sigma_local"])["mean"]
    for m in SPAHM_METHODS:
        for name in PAPER_HYPER:
            key = f"{m}:{name}"
            if key not in set(hyper.method):
                continue
            cells = [f"{means[(key, s)]:.1f}" if (key, s) in means.index else "-" for s in sigmas]
            lines.append(f"| {LABELS[m]} | {name} | " + " | ".join(cells) + " |")
    if cfg is not None and OmegaConf.select(cfg, "data.L") is not None:
        offsets = truth_mean_offset_pct(cfg, sorted(df[df.J == J0].trial.unique()), J0)
        lines += ["", "The floor under mu0's error is the sampling of the truth: the true global "
                  "atoms' own mean is " + f"{np.mean(offsets):.1f}% away from mu0 = "
                  f"{cfg.data.mu0:g} on average over these trials (per trial: "
                  + ", ".join(f"{o:.1f}" for o in offsets) + ")."]
    return lines


def truth_mean_offset_pct(cfg, trials, J):
    """Per trial, how far (%) the mean of the sampled true global atoms lies from mu0.

    Every setting of a trial samples its problem from the same stream, and the truth is drawn
    first, so sampling the atoms alone gives the trial's truth.
    """
    from experiments._runner import Trial

    mu0 = cfg.data.mu0
    truths = (sample_atoms(Trial(int(t), int(cfg.seed)).rng("problem"), J, 1.0, cfg.data)["truth"]
              for t in trials)
    return [100.0 * abs(truth.mean() - mu0) / abs(mu0) for truth in truths]


def _local_kmeans_table(df):
    """Hausdorff distance of each silo's k-means centroids to its own true atoms."""
    sub = df[df.metric == "hausdorff_to_local_atoms"]
    if sub.empty:
        return []
    means = sub.groupby(["method", "sigma_local", "J"])["value"].mean()
    keys = sorted({(s, J) for _, s, J in means.index})
    lines = ["### Local k-means quality: Hausdorff distance of a silo's centroids to its own true "
             "atoms (mean over silos and trials)", "",
             "| seeding | " + " | ".join(f"{s:g}, {J}" for s, J in keys) + " |",
             "|---" * (len(keys) + 1) + "|"]
    for method in dict.fromkeys(m for m, _, _ in means.index):
        lines.append(f"| {method.removeprefix('local_kmeans_')} | " + " | ".join(
            f"{means[(method, *k)]:.1f}" if (method, *k) in means.index else "-" for k in keys)
            + " |")
    return lines

"""Uncertainty-aware fusion on simulated data (beyond the paper, issue 7).

Global and local atoms are sampled as in :mod:`experiments.simulated` (its ``sample_problem``,
unchanged). The silos then differ in size and noise: a share ``noisy_fraction`` of them are
small (``M_noisy`` points) with data of sd ``noise_noisy`` around their local atoms, the rest
large (``M_clean`` points) and clean (sd ``noise_clean``). Each silo fits k-means with the
true number of its atoms; a centroid's variance is its cluster's within-cluster variance per
dimension divided by the cluster size. Methods:

- ``spahm_plain``: SPAHM on the centroids (every atom equally trusted);
- ``spahm_uncertainty``: SPAHM on the centroids with those variances
  (``match(..., local_variances=...)``: precision-weighted costs and global atoms).

Metric: Hausdorff distance to the true global atoms (those some silo uses), number of global
atoms, fusion time.

Run: ``spahm-experiment experiment=uncertainty profile=quick`` (or ``profile=paper``).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from experiments import _plots
from experiments._runner import output_dir, require, run_grid, stopwatch
from experiments.simulated import sample_problem
from spahm import match
from spahm.models.mixture import centroid_variances
from spahm.metrics import hausdorff
from spahm.models.mixture import fit_kmeans

METHODS = ("spahm_plain", "spahm_uncertainty")
LABELS = {"spahm_plain": "SPAHM (plain)",
          "spahm_uncertainty": "SPAHM (uncertainty-aware)"}


# ---------------------------------------------------------------------------- config
def validate(cfg):
    positive = lambda v: v > 0  # noqa: E731
    for key in ("data.L", "data.D", "data.J", "data.M_clean", "data.M_noisy", "trials"):
        require(cfg, key, lambda v: isinstance(v, int) and v > 0, "a positive integer")
    for key in ("data.popularity_a", "data.popularity_b", "data.dirichlet_alpha",
                "data.sigma_local", "data.noise_clean"):
        require(cfg, key, positive, "a positive number")
    require(cfg, "data.mu0", math.isfinite, "a finite number")
    if cfg.data.sigma0 is not None:
        require(cfg, "data.sigma0", positive, "a positive number or null (sqrt(L))")
    require(cfg, "data.noisy_fraction", lambda v: 0 <= v <= 1, "a number in [0, 1]")
    for key in ("data.M_clean", "data.M_noisy"):
        require(cfg, key, lambda v: v >= cfg.data.L,
                f"at least data.L={cfg.data.L} (k-means fits up to L clusters per silo)")
    require(cfg, "grid.noise_noisy", lambda v: len(v) > 0 and all(x > 0 for x in v),
            "a non-empty list of positive noise levels")
    require(cfg, "methods", lambda v: len(v) > 0 and set(v) <= set(METHODS),
            f"a non-empty subset of {list(METHODS)}")
    require(cfg, "model.n_init", lambda v: isinstance(v, int) and v > 0, "a positive integer")
    require(cfg, "model.max_iter", lambda v: isinstance(v, int) and v > 0, "a positive integer")
    require(cfg, "fusion.n_iter", lambda v: isinstance(v, int) and v >= 0, "an integer >= 0")


def settings(cfg):
    return [{"noise_noisy": float(s)} for s in dict.fromkeys(cfg.grid.noise_noisy)]


# ---------------------------------------------------------------------------- data
def sample_silos(rng, cfg, noise_noisy):
    """The simulated problem plus per-silo data of different sizes and noise.

    Returns ``(problem, data, noisy)``: ``problem`` from ``sample_problem`` (``M=0``), the data
    of each silo and a boolean per silo (small and noisy or not).
    """
    d = cfg.data
    problem = sample_problem(rng, d.J, d.sigma_local, L=d.L, D=d.D, mu0=d.mu0, sigma0=d.sigma0,
                             popularity=(d.popularity_a, d.popularity_b), M=0,
                             dirichlet_alpha=d.dirichlet_alpha)
    n_noisy = int(round(d.noisy_fraction * d.J))
    noisy = np.zeros(d.J, dtype=bool)
    noisy[rng.permutation(d.J)[:n_noisy]] = True
    data = []
    for atoms, is_noisy in zip(problem["local_atoms"], noisy):
        M, sd = (d.M_noisy, noise_noisy) if is_noisy else (d.M_clean, d.noise_clean)
        weights = rng.dirichlet(np.full(len(atoms), d.dirichlet_alpha))
        labels = rng.choice(len(atoms), size=M, p=weights)
        data.append(atoms[labels] + rng.normal(0.0, sd, size=(M, atoms.shape[1])))
    return problem, data, noisy


def local_models(data, sizes, cfg, seed):
    """k-means per silo: centroids and their variances."""
    centres, variances = [], []
    for j, (x, k) in enumerate(zip(data, sizes)):
        model = fit_kmeans(x, k, random_state=seed + j, n_init=cfg.model.n_init,
                           max_iter=cfg.model.max_iter)
        centres.append(model.cluster_centers_)
        variances.append(centroid_variances(x, model.labels_, model.cluster_centers_))
    return centres, variances


# ---------------------------------------------------------------------------- one trial
def trial(cfg, setting, seed):
    rng = np.random.default_rng(seed)
    problem, data, noisy = sample_silos(rng, cfg, setting["noise_noisy"])
    truth = problem["truth"]
    centres, variances = local_models(data, [len(a) for a in problem["local_atoms"]], cfg, seed)
    kwargs = OmegaConf.to_container(cfg.fusion, resolve=True)
    kwargs["random_state"] = seed
    rows = [("truth", "n_atoms", len(truth)),
            ("local_kmeans", "mean_centroid_sd_noisy",
             float(np.mean([np.sqrt(v).mean() for v, n in zip(variances, noisy) if n]))
             if noisy.any() else float("nan"))]
    for method in cfg.methods:
        extra = {"local_variances": variances} if method == "spahm_uncertainty" else {}
        with stopwatch() as elapsed:
            result = match(centres, **extra, **kwargs)
        rows += [(method, "hausdorff", hausdorff(result.global_atoms, truth)),
                 (method, "n_atoms", result.n_global_atoms),
                 (method, "fusion_time_s", elapsed()),
                 (method, "est_sigma", float(np.mean(result.hyperparameters["sigma"])))]
    return [{"method": m, "metric": k, "value": float(v)} for m, k, v in rows]


# ---------------------------------------------------------------------------- entry points
def run(cfg) -> pd.DataFrame:
    """Run the configured grid; writes metrics.csv, the figure, config and provenance."""
    validate(cfg)
    out = output_dir(cfg)
    df = run_grid(cfg, settings(cfg), lambda s, tr: trial(cfg, s, tr.seed), out,
                  desc="uncertainty")
    plot(df, out, cfg)
    return df


def summarise(df, metric):
    sub = df[df.metric == metric]
    return (sub.groupby(["noise_noisy", "method"])["value"]
            .agg(["mean", "std", "count"]).reset_index())


def plot(df, out_dir, cfg=None):
    """Hausdorff distance against the noise of the small silos, plain vs uncertainty-aware."""
    stats = summarise(df, "hausdorff")
    methods = [m for m in METHODS if m in set(stats.method)]
    _plots.lines_with_paper(
        stats, "noise_noisy", methods, LABELS, None,
        xlabel="data noise sd in the small silos",
        ylabel="Hausdorff distance to true global atoms",
        title="Silos of different size and noise: plain vs uncertainty-aware SPAHM",
        path=Path(out_dir) / "uncertainty_vs_plain.png", logx=True)


def report(df, cfg=None) -> str:
    """Markdown table of mean +- sd Hausdorff and atom counts per noise level."""
    h = summarise(df, "hausdorff")
    n = summarise(df, "n_atoms")
    truth = n[n.method == "truth"].set_index("noise_noisy")["mean"]
    methods = [m for m in METHODS if m in set(h.method)]
    lines = ["### Hausdorff distance (mean +- sd over trials) and number of global atoms", "",
             "| noise sd (small silos) | " + " | ".join(LABELS[m] for m in methods)
             + " | true atoms |", "|---" * (len(methods) + 2) + "|"]
    for s in sorted(h.noise_noisy.unique()):
        cells = []
        for m in methods:
            r = h[(h.noise_noisy == s) & (h.method == m)]
            k = n[(n.noise_noisy == s) & (n.method == m)]
            cells.append(f"{r['mean'].iloc[0]:.2f} +- {np.nan_to_num(r['std'].iloc[0]):.2f} "
                         f"({k['mean'].iloc[0]:.1f} atoms)")
        lines.append(f"| {s:g} | " + " | ".join(cells) + f" | {truth.get(s, np.nan):.1f} |")
    if set(METHODS) <= set(methods):
        wide = h.pivot_table(index="noise_noisy", columns="method", values="mean")
        better = (wide["spahm_uncertainty"] < wide["spahm_plain"]).sum()
        lines += ["", f"Uncertainty-aware SPAHM has the lower mean Hausdorff distance at "
                      f"{better} of {len(wide)} noise levels.", "",
                  "Paired by trial (same data): mean difference plain - uncertainty-aware, "
                  "and the trials where uncertainty-aware is lower:", ""]
        sub = df[(df.metric == "hausdorff") & df.method.isin(METHODS)]
        paired = sub.pivot_table(index=["noise_noisy", "trial"], columns="method", values="value")
        for s, g in paired.groupby(level="noise_noisy"):
            diff = g["spahm_plain"] - g["spahm_uncertainty"]
            lines.append(f"- noise sd {s:g}: {diff.mean():+.2f} (lower in "
                         f"{int((diff > 1e-9).sum())}, equal in {int((diff.abs() <= 1e-9).sum())}"
                         f" of {len(diff)} trials)")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    from experiments.cli import main

    sys.argv[1:1] = ["experiment=uncertainty"]
    main()

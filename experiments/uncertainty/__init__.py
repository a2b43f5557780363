"""Uncertainty-aware fusion on simulated data (beyond the paper).

Global and local atoms are sampled as in :mod:`experiments.simulated` (its ``sample_atoms``,
same settings). The silos then differ in size and noise: a share ``noisy_fraction`` of them
are small (``M_noisy`` points) with data of sd ``noise_noisy`` around their local atoms, the
rest large (``M_clean`` points) and clean (sd ``noise_clean``). Each silo fits k-means with
the true number of its atoms (``model.init`` seeding, farthest-first by default: it finds
small clusters); a centroid's variance is its cluster's within-cluster variance per dimension
divided by the cluster size. Methods:

- ``spahm_plain``: SPAHM on the centroids (every atom equally trusted);
- ``spahm_uncertainty``: SPAHM on the centroids with those variances
  (``match(..., local_variances=...)``: precision-weighted costs and global atoms);
- ``oracle``: the best the uncertainty-aware fusion could get from the data: each silo's
  cluster means under the TRUE cluster labels, with their true variances (data sd^2 / cluster
  size), fused with ``local_variances``;
- ``spahm_true``: SPAHM on the true local atoms themselves (no estimation error at all).

Metric: Hausdorff distance to the true global atoms (those some silo uses), number of global
atoms, fusion time.

Run: ``spahm-experiment experiment=uncertainty profile=quick`` (or ``profile=paper``).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from experiments import _plots
from experiments._runner import ConfigError, mean_sd, run_methods, stopwatch, summarise
from experiments.simulated import (check_methods, check_positive, sample_atoms, sample_mixture,
                                   trial_stats, validate_atoms)
from experiments.simulated.kmeans import local_atoms, local_kmeans
from experiments.uncertainty.claims import CLAIMS
from spahm import match
from spahm.metrics import hausdorff

LABELS = {"spahm_plain": "SPAHM (plain)",
          "spahm_uncertainty": "SPAHM (uncertainty-aware)",
          "oracle": "oracle: true-label cluster means + true variances",
          "spahm_true": "SPAHM (true local atoms)"}


# ---------------------------------------------------------------------------- config
def validate(cfg):
    validate_atoms(cfg)
    check_positive(cfg, ["data.J", "data.M_clean", "data.M_noisy", "data.sigma_local",
                    "data.noise_clean"])
    check_positive(cfg, ["grid.noise_noisy"], "a non-empty list of positive noise levels")
    if not 0 <= cfg.data.noisy_fraction <= 1:
        raise ConfigError(f"config key 'data.noisy_fraction' = {cfg.data.noisy_fraction}: "
                          "expected a number in [0, 1]")
    for key in ("M_clean", "M_noisy"):
        if cfg.data[key] < cfg.data.L:
            raise ConfigError(f"config key 'data.{key}' = {cfg.data[key]}: expected at least "
                              f"data.L = {cfg.data.L} (k-means fits up to L clusters per silo)")
    check_methods(cfg, METHODS)


def prepare(cfg):
    return None


def settings(cfg):
    return [{"noise_noisy": float(s)} for s in dict.fromkeys(cfg.grid.noise_noisy)]


# ---------------------------------------------------------------------------- data
def sample_silos(rng, cfg, noise_noisy):
    """The simulated atoms plus per-silo data of different sizes and noise.

    Returns ``(problem, data, labels, noisy)``: ``problem`` from ``sample_atoms``, each silo's
    points and their true cluster labels, and a boolean per silo (small and noisy or not).
    """
    d = cfg.data
    problem = sample_atoms(rng, d.J, d.sigma_local, d)
    noisy = np.zeros(d.J, dtype=bool)
    noisy[rng.permutation(d.J)[:int(round(d.noisy_fraction * d.J))]] = True
    data, labels = [], []
    for atoms, is_noisy in zip(problem["local_atoms"], noisy):
        M, sd = (d.M_noisy, noise_noisy) if is_noisy else (d.M_clean, d.noise_clean)
        x, z = sample_mixture(rng, atoms, M, sd, d.dirichlet_alpha)
        data.append(x)
        labels.append(z)
    return problem, data, labels, noisy


# ---------------------------------------------------------------------------- one trial
class _Trial:
    """One sampled problem and the local k-means its methods share (fitted on first use)."""

    def __init__(self, cfg, setting, trial):
        self.cfg, self.trial, self.noise_noisy = cfg, trial, setting["noise_noisy"]
        self.problem, self.data, self.labels, self.noisy = sample_silos(
            trial.rng("problem"), cfg, self.noise_noisy)
        self._fits = None

    @property
    def truth(self):
        return self.problem["truth"]

    @property
    def fits(self):
        if self._fits is None:
            self._fits = local_kmeans(
                self.data, [len(a) for a in self.problem["local_atoms"]], self.trial,
                self.cfg.model, n_jobs=int(OmegaConf.select(self.cfg, "n_jobs", default=1)),
                backend=OmegaConf.select(self.cfg, "parallel.backend", default=None))
        return self._fits

    def centroids(self):
        """Each silo's centroids and their variances, through spahm's KMeans adapter."""
        found = local_atoms(self.fits, self.data)
        return [f.atoms for f in found], [f.variances for f in found]

    def fuse(self, atoms, variances=None, local_time=0.0, local_cpu=0.0):
        kwargs = OmegaConf.to_container(self.cfg.fusion, resolve=True)
        cpu = time.process_time()
        with stopwatch() as elapsed:
            result = match(atoms, local_variances=variances,
                           random_state=self.trial.seed_for("fusion"), **kwargs)
        cpu = time.process_time() - cpu
        return [("hausdorff", hausdorff(result.global_atoms, self.truth)),
                ("n_atoms", result.n_global_atoms), ("fusion_time_s", elapsed()),
                ("time_s", elapsed() + local_time), ("cpu_time_s", cpu + local_cpu),
                ("est_sigma", float(np.mean(result.hyperparameters["sigma"])))]

    def oracle_locals(self):
        """Each silo's cluster means under the true labels, with their true variances
        (sd^2 / cluster size per dimension); a cluster that got no point is not reported."""
        atoms, variances = [], []
        for x, z, is_noisy, local in zip(self.data, self.labels, self.noisy,
                                         self.problem["local_atoms"]):
            sd = self.noise_noisy if is_noisy else self.cfg.data.noise_clean
            n = np.bincount(z, minlength=len(local))
            sums = np.zeros_like(local)
            np.add.at(sums, z, x)
            kept = n > 0
            atoms.append(sums[kept] / n[kept, None])
            variances.append(np.repeat((sd**2 / n[kept])[:, None], local.shape[1], axis=1))
        return atoms, variances


def _plain(t):
    centres, _ = t.centroids()
    return t.fuse(centres, None, t.fits.parallel_wall_s, t.fits.total_cpu_s)


def _uncertainty(t):
    centres, variances = t.centroids()
    return t.fuse(centres, variances, t.fits.parallel_wall_s, t.fits.total_cpu_s)


def _oracle(t):
    return t.fuse(*t.oracle_locals())


def _true(t):
    return t.fuse(t.problem["local_atoms"])


METHODS = {"spahm_plain": _plain, "spahm_uncertainty": _uncertainty, "oracle": _oracle,
           "spahm_true": _true}


def trial(cfg, setting, trial, prepared=None):
    t = _Trial(cfg, setting, trial)
    rows = run_methods(METHODS, cfg.methods, t)
    # Global atoms of which some silo holds at least one point: no local model can find more.
    seen = np.unique(np.concatenate([index[np.unique(z)] for index, z
                                     in zip(t.problem["truth_index"], t.labels)]))
    extra = [("truth", "n_atoms", len(t.truth)), ("truth", "n_atoms_with_data", len(seen))]
    if t._fits is not None:
        _, variances = t.centroids()
        extra.append(("local_kmeans", "mean_centroid_sd_noisy",
                      float(np.mean([np.sqrt(v).mean() for v, n in zip(variances, t.noisy) if n]))
                      if t.noisy.any() else float("nan")))
        extra.append(("local_kmeans", "hausdorff_to_local_atoms", float(np.mean(
            [hausdorff(f.atoms, a) for f, a in zip(local_atoms(t.fits), t.problem["local_atoms"])]))))
    return rows + [{"method": m, "metric": k, "value": float(v)} for m, k, v in extra]


# ---------------------------------------------------------------------------- figure, report
def plot(df, out_dir, cfg=None):
    """Hausdorff distance against the noise of the small silos (mean; band: range over trials)."""
    stats = trial_stats(df, "hausdorff", ["noise_noisy", "method"])
    methods = [m for m in LABELS if m in set(stats.method)]
    path = Path(out_dir) / "uncertainty_vs_plain.png"
    _plots.lines_with_paper(
        stats, "noise_noisy", methods, LABELS, None,
        xlabel="data noise sd in the small silos",
        ylabel="Hausdorff distance to true global atoms",
        title="Unequal silos: plain vs uncertainty-aware SPAHM", path=path, logx=True,
        xticks=sorted(stats.noise_noisy.unique()), caption=_plots.overrides(cfg))
    return [path]


def report(df, cfg=None) -> str:
    """Markdown table of mean +- sd Hausdorff and atom counts per noise level, and the paired
    comparison of plain and uncertainty-aware SPAHM."""
    by = ["noise_noisy", "method"]
    h = trial_stats(df, "hausdorff", by).set_index(by)
    n = summarise(df, "n_atoms", ["noise_noisy", "method"]).set_index(["noise_noisy", "method"])
    methods = [m for m in LABELS if m in set(h.index.get_level_values("method"))]
    with_data = summarise(df, "n_atoms_with_data", ["noise_noisy"]).set_index("noise_noisy")
    seen = {s: f" ({r['mean']:.1f} with data)" for s, r in with_data.iterrows()}
    lines = ["### Hausdorff distance (mean +- sd over trials) and number of global atoms", "",
             "| noise sd (small silos) | " + " | ".join(LABELS[m] for m in methods)
             + " | true atoms |", "|---" * (len(methods) + 2) + "|"]
    for s in sorted(set(h.index.get_level_values("noise_noisy"))):
        cells = [f"{mean_sd(*h.loc[(s, m), ['mean', 'std', 'count']])} "
                 f"({n.loc[(s, m), 'mean']:.1f} atoms)" for m in methods]
        truth = n.loc[(s, "truth"), "mean"] if (s, "truth") in n.index else np.nan
        lines.append(f"| {s:g} | " + " | ".join(cells) + f" | {truth:.1f}{seen.get(s, '')} |")
    if {"spahm_plain", "spahm_uncertainty"} <= set(methods):
        sub = df[(df.metric == "hausdorff") & df.method.isin(["spahm_plain", "spahm_uncertainty"])]
        paired = sub.pivot_table(index=["noise_noisy", "trial"], columns="method", values="value")
        means = paired.groupby(level="noise_noisy").mean()
        better = int((means["spahm_uncertainty"] < means["spahm_plain"]).sum())
        lines += ["", f"Uncertainty-aware SPAHM has the lower mean Hausdorff distance at "
                      f"{better} of {len(means)} noise levels.", "",
                  "Paired by trial (same data): mean difference plain - uncertainty-aware, "
                  "and the trials where uncertainty-aware is lower:", ""]
        for s, g in paired.groupby(level="noise_noisy"):
            diff = g["spahm_plain"] - g["spahm_uncertainty"]
            lines.append(f"- noise sd {s:g}: {diff.mean():+.2f} (lower in "
                         f"{int((diff > 1e-9).sum())}, equal in {int((diff.abs() <= 1e-9).sum())}"
                         f" of {len(diff)} trials)")
    local = df[df.metric == "hausdorff_to_local_atoms"]
    if len(local):
        per = local.groupby("noise_noisy")["value"].mean()
        lines += ["", "Local k-means quality (Hausdorff distance of a silo's centroids to its own "
                  "true atoms, mean over silos and trials): "
                  + ", ".join(f"{v:.1f} at noise sd {s:g}" for s, v in per.items()) + "."]
    lines += ["", CLAIMS.section(df).rstrip()]
    return "\n".join(lines) + "\n"

"""Motion capture (paper section 4.3): sticky HDP-HMMs per subject, fused behaviours.

Six CMU exercise sequences of two subjects (12 joint-angle features per frame, hand labels of
12 behaviours). Silos: one per subject (three sequences each) or one per sequence. Each silo
fits a sticky HDP-HMM (:class:`spahm.models.hdp_hmm.StickyHDPHMM`, blocked Gibbs sampler under
the weak-limit approximation); its local atoms are the posterior emission means of its used
states. Methods:

- ``local``: the local HDP-HMMs alone; states are not shared across silos;
- ``kmeans``: k-means (k = 12, the true number of behaviours) on all local atoms; a frame
  takes the cluster of its local state;
- ``spahm``: SPAHM fuses the local atoms into global behaviours; a frame takes the global
  state of its local state;
- ``full``: one sticky HDP-HMM on all six sequences.

Metrics: normalised Hamming distance to the hand labels after the optimal one-to-one
relabelling (and ``accuracy`` = 1 - Hamming, the paper's axis), adjusted Rand index, over all
frames and per sequence (each sequence relabelled on its own); number of states; compute time
(sum over silos + fusion) and parallel wall time (slowest silo + fusion), each also relative to
the full model.

Run: ``spahm-experiment experiment=mocap profile=quick`` (or ``profile=paper``).
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from omegaconf import OmegaConf
from sklearn.cluster import KMeans

from experiments._runner import (
    ConfigError,
    DataMissingError,
    output_dir,
    require,
    atomic_write_text,
    run_grid,
)
from spahm import match
from spahm.metrics import ari, hamming, relabel
from spahm.models.hdp_hmm import StickyHDPHMM, state_atoms

METHODS = ("local", "kmeans", "spahm", "full")
LABELS = {
    "local": "local HDP-HMMs",
    "kmeans": "k-means matching",
    "spahm": "SPAHM",
    "full": "full HDP-HMM",
}
# The paper's Fig. 4 / section 4.3: (1 - normalised Hamming, ARI); states: 9 + 13 local,
# 14 global for SPAHM, k = 12 for k-means; SPAHM "at under half the compute" of the full model.
PAPER = {
    "accuracy": {"local": 0.28, "kmeans": 0.45, "spahm": 0.48, "full": 0.50},
    "ari": {"local": 0.16, "kmeans": 0.25, "spahm": 0.30, "full": 0.40},
    "n_states": {"local": 22, "kmeans": 12, "spahm": 14},
}
SEGMENTATIONS_DIR = "segmentations"
MODEL_KEYS = ("n_states", "gamma", "alpha", "kappa", "n0", "prior_scale", "prior_dof", "n_iter",
              "n_burnin", "n_restarts", "init", "n_init_states")


# ---------------------------------------------------------------------------- config
def validate(cfg):
    """Check every key the experiment reads; :class:`ConfigError` (a ValueError) names it."""
    pos_int = lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0  # noqa: E731
    positive = lambda v: v > 0  # noqa: E731
    require(cfg, "trials", pos_int, "a positive integer")
    require(cfg, "data.root", lambda v: isinstance(v, str) and v, "a folder path")
    require(cfg, "data.standardize", lambda v: isinstance(v, bool), "true or false")
    require(cfg, "silos", lambda v: v in ("subject", "sequence"), "'subject' or 'sequence'")
    require(cfg, "methods", lambda v: len(v) > 0 and set(v) <= set(METHODS),
            f"a non-empty subset of {list(METHODS)}")
    for key in ("model.n_states", "model.n_iter", "model.n_restarts", "model.n_init_states",
                "kmeans_matching.k", "kmeans_matching.n_init"):
        require(cfg, key, pos_int, "a positive integer")
    require(cfg, "model.n_states", lambda v: v >= 2, "an integer >= 2")
    for key in ("model.gamma", "model.alpha", "model.n0", "model.prior_scale"):
        require(cfg, key, positive, "a positive number")
    require(cfg, "model.kappa", lambda v: v >= 0, "a number >= 0")
    require(cfg, "model.init", lambda v: v in ("kmeans", "random"), "'kmeans' or 'random'")
    burn = OmegaConf.select(cfg, "model.n_burnin")
    if burn is not None:
        require(cfg, "model.n_burnin",
                lambda v: isinstance(v, int) and 0 <= v < cfg.model.n_iter,
                "an integer in [0, n_iter)")
    if OmegaConf.select(cfg, "model.prior_dof") is not None:
        require(cfg, "model.prior_dof", lambda v: v > 11, "null or a number > D - 1 = 11")
    unknown = set(cfg.model) - set(MODEL_KEYS)
    if unknown:
        raise ConfigError(f"config key 'model' has unknown entries {sorted(unknown)}: "
                          f"expected only {list(MODEL_KEYS)}")
    for key in ("fusion.gamma0", "fusion.sigma", "fusion.sigma0"):
        require(cfg, key, positive, "a positive number")
    require(cfg, "fusion.n_iter", lambda v: isinstance(v, int) and v >= 0, "an integer >= 0")


# ---------------------------------------------------------------------------- data
def load_mocap(root):
    """Read the six sequences, their hand labels and the behaviour names.

    Returns
    -------
    dict with ``names`` (list of str), ``sequences`` (list of (T_s, 12) arrays), ``labels``
    (list of int arrays, behaviours 1..12) and ``behaviours`` (list of 12 names).

    Raises
    ------
    DataMissingError
        A file is missing; the message names the install script.
    """
    root = Path(root)
    needed = ["SeqNames.txt", "zTrue.dat", "BehaviorNames.txt"]
    names = None
    if (root / "SeqNames.txt").is_file():
        names = (root / "SeqNames.txt").read_text().split()
        needed += [f"{n}.dat" for n in names]
    missing = [f for f in needed if not (root / f).is_file()]
    if missing:
        raise DataMissingError(
            f"mocap6 data not found in {root} (missing {', '.join(missing)}); install it with "
            "`python -m data_scripts.mocap --from DIR` (DIR: a folder with the mocap6 files, "
            "e.g. ../shared/data/mocap6) or without --from to download it, or point "
            "SPAHM_DATA / data.root at an installed copy")
    sequences = [np.loadtxt(root / f"{n}.dat", ndmin=2) for n in names]
    label_lines = [ln for ln in (root / "zTrue.dat").read_text().splitlines() if ln.strip()]
    labels = [np.array(ln.split(), dtype=np.int64) for ln in label_lines]
    if len(labels) != len(names):
        raise ValueError(
            f"{root}/zTrue.dat has {len(labels)} lines, SeqNames.txt {len(names)} names")
    for n, x, z in zip(names, sequences, labels):
        if x.shape[0] != z.shape[0]:
            raise ValueError(
                f"{root}: sequence {n} has {x.shape[0]} frames but {z.shape[0]} labels")
    behaviours = (root / "BehaviorNames.txt").read_text().split()
    return {"names": names, "sequences": sequences, "labels": labels, "behaviours": behaviours}


def partition(names, how):
    """Silos as lists of sequence indices: one per subject (name prefix) or one per sequence."""
    if how == "sequence":
        return [[i] for i in range(len(names))]
    subjects = list(dict.fromkeys(n.split("_")[0] for n in names))
    return [[i for i, n in enumerate(names) if n.split("_")[0] == s] for s in subjects]


def standardise(sequences):
    """Z-score every feature with the mean and sd pooled over all frames."""
    pooled = np.vstack(sequences)
    mean, sd = pooled.mean(axis=0), pooled.std(axis=0)
    return [(x - mean) / sd for x in sequences]


# ---------------------------------------------------------------------------- metrics
def segmentation_metrics(predicted, truth, names):
    """Hamming (after Hungarian relabelling), 1 - Hamming and ARI, over all frames and per sequence.

    Parameters
    ----------
    predicted, truth : list of int arrays, one per sequence
    names : list of str

    Returns
    -------
    list of (metric, value); per-sequence metrics are named ``<metric>:<sequence>``.
    """
    p_all, t_all = np.concatenate(predicted), np.concatenate(truth)
    h = hamming(p_all, t_all)
    rows = [("hamming", h), ("accuracy", 1.0 - h), ("ari", ari(p_all, t_all))]
    for name, p, t in zip(names, predicted, truth):
        hs = hamming(p, t)
        rows += [(f"hamming:{name}", hs), (f"accuracy:{name}", 1.0 - hs),
                 (f"ari:{name}", ari(p, t))]
    return rows


# ---------------------------------------------------------------------------- one trial
class _Clock:
    """Wall time (``time.perf_counter``) and CPU time of this process (``time.process_time``)
    of a block. CPU time is what the compute comparison uses: on a shared machine wall time
    also counts the time other jobs held the cores."""

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
        return False


def _fit_hmm(sequences, model_cfg, rng):
    with _Clock() as clock:
        model = StickyHDPHMM(**model_cfg, random_state=rng).fit(sequences)
    return model, clock.wall, clock.cpu


def _save_segmentations(out_dir, trial, names, truth, segs, behaviours):
    """``segmentations/trial_<t>.npz``: true and estimated state of every frame (written to a
    temporary file and renamed), so figures can be redrawn without refitting."""
    arrays = {f"truth__{n}": z for n, z in zip(names, truth)}
    for method, seqs in segs.items():
        arrays.update({f"{method}__{n}": np.asarray(z) for n, z in zip(names, seqs)})
    arrays["behaviours"] = np.array(behaviours, dtype=str)
    folder = Path(out_dir) / SEGMENTATIONS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".trial.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, folder / f"trial_{trial:03d}.npz")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def trial(cfg, data, seed, out_dir=None, trial_index=0):
    """All methods on the mocap sequences with one seed; returns tidy rows."""
    names, truth = data["names"], data["labels"]
    sequences = standardise(data["sequences"]) if cfg.data.standardize else data["sequences"]
    silos = partition(names, cfg.silos)
    methods = list(cfg.methods)
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    n_jobs = int(OmegaConf.select(cfg, "n_jobs", default=1))
    streams = np.random.SeedSequence(seed).spawn(len(silos) + 2)
    rows, segs, times = [], {}, {}

    if set(methods) - {"full"}:
        fitted = Parallel(n_jobs=n_jobs)(
            delayed(_fit_hmm)([sequences[i] for i in silo], model_cfg, np.random.default_rng(s))
            for silo, s in zip(silos, streams))
        locals_ = [m for m, _, _ in fitted]
        local_wall = np.array([w for _, w, _ in fitted])
        local_cpu = np.array([c for _, _, c in fitted])

        def timing(method, extra=None):
            """Sequential wall time, wall time with silos in parallel, CPU time (+ fusion)."""
            w, c = (extra.wall, extra.cpu) if extra is not None else (0.0, 0.0)
            times[method] = {"time_s": local_wall.sum() + w,
                             "parallel_time_s": local_wall.max() + w,
                             "cpu_time_s": local_cpu.sum() + c}
        # local state sequence of every sequence, as (silo, local state)
        local_state = [None] * len(names)
        silo_of = [None] * len(names)
        for j, (silo, model) in enumerate(zip(silos, locals_)):
            for i, z in zip(silo, model.state_sequences_):
                local_state[i], silo_of[i] = z, j

        def through(mappings):
            return [mappings[silo_of[i]][local_state[i]] for i in range(len(names))]

        atoms = [state_atoms(m) for m in locals_]
        offsets = np.concatenate([[0], np.cumsum([len(a) for a in atoms])])
        if "local" in methods:
            segs["local"] = through([offsets[j] + np.arange(len(a)) for j, a in enumerate(atoms)])
            rows += [("local", "n_states", offsets[-1])]
            timing("local")
            rows += [("local", f"n_states:silo{j}", len(a)) for j, a in enumerate(atoms)]
            rows += [("local", f"log_likelihood:silo{j}", m.log_likelihood_)
                     for j, m in enumerate(locals_)]
        if "kmeans" in methods:
            stacked = np.vstack(atoms)
            k = min(int(cfg.kmeans_matching.k), len(stacked))
            with _Clock() as clock:
                km = KMeans(n_clusters=k, n_init=int(cfg.kmeans_matching.n_init),
                            random_state=int(streams[-2].generate_state(1)[0])).fit(stacked)
            segs["kmeans"] = through([km.labels_[offsets[j]:offsets[j + 1]]
                                      for j in range(len(atoms))])
            rows += [("kmeans", "n_states", len(np.unique(km.labels_)))]
            timing("kmeans", clock)
        if "spahm" in methods:
            kwargs = OmegaConf.to_container(cfg.fusion, resolve=True)
            with _Clock() as clock:
                result = match(atoms, **kwargs, random_state=seed)
            segs["spahm"] = through([np.asarray(a) for a in result.assignments])
            rows += [("spahm", "n_states", result.n_global_atoms),
                     ("spahm", "fusion_time_s", clock.wall)]
            timing("spahm", clock)

    if "full" in methods:
        full, full_wall, full_cpu = _fit_hmm(sequences, model_cfg,
                                             np.random.default_rng(streams[-1]))
        segs["full"] = full.state_sequences_
        rows += [("full", "n_states", full.n_states_),
                 ("full", "log_likelihood", full.log_likelihood_)]
        times["full"] = {"time_s": full_wall, "parallel_time_s": full_wall, "cpu_time_s": full_cpu}
    # timings end in "time_s" so the runner files them in timings.csv (metrics.csv stays
    # byte-identical across reruns); ratios to the full model are computed in the report
    for method, t in times.items():
        rows += [(method, key, value) for key, value in t.items()]

    for method in methods:
        rows += [(method, k, v) for k, v in segmentation_metrics(segs[method], truth, names)]
    if out_dir is not None:
        _save_segmentations(out_dir, trial_index, names, truth, segs, data["behaviours"])
    order = {m: i for i, m in enumerate(methods)}
    rows.sort(key=lambda r: order[r[0]])
    return [{"method": m, "metric": k, "value": float(v)} for m, k, v in rows]


# ---------------------------------------------------------------------------- entry points
def run(cfg) -> pd.DataFrame:
    """Run all trials; writes metrics.csv, segmentations/, figures, config and provenance."""
    validate(cfg)
    data = load_mocap(cfg.data.root)
    out = output_dir(cfg)
    df = run_grid(cfg, [{}], lambda s, tr: trial(cfg, data, tr.seed, out, tr.index), out, desc="mocap")
    plot(df, out)
    atomic_write_text(Path(out) / "report.md", report(df))
    return df


TIMINGS = ("time_s", "parallel_time_s", "cpu_time_s")


def relative_times(df):
    """Each method's timings divided by the full model's in the same trial, as rows
    ``<timing>`` -> ``<timing without _s>_rel_full`` (e.g. ``cpu_time_rel_full``)."""
    sub = df[df.metric.isin(TIMINGS)]
    if sub.empty or "full" not in set(sub.method):
        return df.iloc[0:0]
    full = sub[sub.method == "full"].set_index(["trial", "metric"])["value"]
    rel = sub.copy()
    rel["value"] = rel["value"].to_numpy() / full.reindex(
        pd.MultiIndex.from_frame(rel[["trial", "metric"]])).to_numpy()
    rel["metric"] = rel["metric"].str[:-2] + "_rel_full"
    return rel


def summarise(df, metrics=None):
    """Mean, sd and count over trials per (method, metric)."""
    sub = df if metrics is None else df[df.metric.isin(metrics)]
    return sub.groupby(["method", "metric"])["value"].agg(["mean", "std", "count"]).reset_index()


def _methods(df):
    return [m for m in METHODS if m in set(df.method)]


def plot(df, out_dir, cfg=None):
    """Metrics per method beside the paper's (from the CSV), and per-sequence segmentation
    strips of the first saved trial (from ``segmentations/``)."""
    out_dir = Path(out_dir)
    _plot_metrics(df, out_dir)
    _plot_per_sequence(df, out_dir)
    seg_files = sorted((out_dir / SEGMENTATIONS_DIR).glob("trial_*.npz"))
    if seg_files:
        _plot_segmentations(seg_files[0], out_dir / "segmentations.png")


def _plot_metrics(df, out_dir):
    from experiments import _plots

    plt = _plots.plt
    stats = summarise(df, ["accuracy", "ari"])
    methods = _methods(df)
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.8))
    pos = np.arange(len(methods))
    for ax, metric, label in zip(axes, ("accuracy", "ari"),
                                 ("1 - normalised Hamming", "adjusted Rand index")):
        s = stats[stats.metric == metric].set_index("method").reindex(methods)
        ax.bar(pos, s["mean"], yerr=np.nan_to_num(s["std"]), capsize=3, color=_plots.COLOURS[0],
               label="ours (mean +- sd)")
        ax.scatter(pos, [PAPER[metric].get(m, np.nan) for m in methods], marker="D",
                   color="black", zorder=3, label="paper")
        ax.set_xticks(pos, [LABELS[m] for m in methods], rotation=20, ha="right")
        ax.set_ylabel(label)
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    n = int(df.trial.nunique())
    fig.suptitle(f"Motion capture: segmentation quality over all frames ({n} trials)")
    _plots.save_figure(fig, out_dir / "metrics.png")


def _plot_per_sequence(df, out_dir):
    from experiments import _plots

    plt = _plots.plt
    per = df[df.metric.str.startswith("accuracy:") | df.metric.str.startswith("ari:")].copy()
    if per.empty:
        return
    per["kind"] = per.metric.str.split(":").str[0]
    per["sequence"] = per.metric.str.split(":").str[1]
    seqs = list(dict.fromkeys(per.sequence))
    methods = _methods(df)
    fig, axes = plt.subplots(1, 2, figsize=(11.0, 3.8), sharey=True)
    width = 0.8 / len(methods)
    for ax, kind, label in zip(axes, ("accuracy", "ari"),
                               ("1 - normalised Hamming", "adjusted Rand index")):
        s = per[per.kind == kind].groupby(["method", "sequence"])["value"].agg(["mean", "std"])
        for i, m in enumerate(methods):
            vals = s.loc[m].reindex(seqs) if m in s.index.get_level_values(0) else None
            if vals is None:
                continue
            ax.bar(np.arange(len(seqs)) + (i - (len(methods) - 1) / 2) * width, vals["mean"],
                   width, yerr=np.nan_to_num(vals["std"]), capsize=2,
                   color=_plots.COLOURS[i % len(_plots.COLOURS)], label=LABELS[m])
        ax.set_xticks(np.arange(len(seqs)), seqs)
        ax.set_ylabel(label + " (per sequence)")
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("Motion capture: per-sequence segmentation quality (each sequence relabelled "
                 "on its own)")
    _plots.save_figure(fig, out_dir / "metrics_per_sequence.png")


def _plot_segmentations(npz_path, path):
    """Per sequence: true behaviours above each method's segmentation.

    Each method's states are mapped to behaviours by the one-to-one matching over all frames
    of all sequences (as for its Hamming distance), so a state keeps one colour across all
    sequences and matched states take their behaviour's colour; unmatched states get the
    extra colours after the twelve behaviours.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from experiments import _plots

    plt = _plots.plt
    with np.load(npz_path) as f:
        arrays = {k: f[k] for k in f.files}
    behaviours = arrays.pop("behaviours", None)
    names = [k.split("__", 1)[1] for k in arrays if k.startswith("truth__")]
    methods = [m for m in METHODS if f"{m}__{names[0]}" in arrays]
    truth = [arrays[f"truth__{n}"] for n in names]
    t_all = np.concatenate(truth)
    mapped = {}
    for m in methods:
        seqs = [arrays[f"{m}__{n}"] for n in names]
        flat = relabel(np.concatenate(seqs), t_all).astype(np.int64)
        mapped[m] = np.split(flat, np.cumsum([len(s) for s in seqs])[:-1])
    n_true = int(t_all.max())
    top = max([n_true] + [int(np.concatenate(v).max()) for v in mapped.values()])
    palette = list(plt.get_cmap("tab20").colors[:n_true])
    # unmatched states: a ramp of greys, so they never look like a behaviour
    extra = [plt.get_cmap("Greys")(v) for v in np.linspace(0.25, 0.9, max(top - n_true, 1))]
    palette += extra[: top - n_true]
    cmap = ListedColormap(palette)
    rows = ["truth"] + methods
    fig, axes = plt.subplots(len(names), 1, figsize=(10.0, 1.0 + 0.32 * len(rows) * len(names)))
    axes = np.atleast_1d(axes)
    for ax, i, name in zip(axes, range(len(names)), names):
        strip = np.vstack([truth[i]] + [mapped[m][i] for m in methods]) - 1
        ax.imshow(strip, aspect="auto", interpolation="nearest", cmap=cmap, vmin=-0.5,
                  vmax=top - 0.5)
        ax.set_yticks(np.arange(len(rows)), ["true"] + [LABELS[m] for m in methods], fontsize=7)
        ax.set_title(f"sequence {name}", fontsize=8, loc="left")
        ax.tick_params(axis="x", labelsize=7)
    axes[-1].set_xlabel("frame")
    names_b = (list(behaviours) if behaviours is not None and len(behaviours) >= n_true
               else [f"behaviour {k}" for k in range(1, n_true + 1)])
    handles = [Patch(color=palette[k], label=names_b[k]) for k in range(n_true)]
    handles.append(Patch(color=extra[len(extra) // 2], label="unmatched states (greys)"))
    fig.tight_layout()
    fig.legend(handles=handles, loc="upper center", ncol=7, fontsize=7, bbox_to_anchor=(0.5, 0.0))
    _plots.save_figure(fig, path)


def report(df, cfg=None) -> str:
    """Markdown: our metrics (mean +- sd over trials) beside the paper's, and the ordering."""
    methods = _methods(df)
    df = pd.concat([df, relative_times(df)], ignore_index=True)
    stats = summarise(df).set_index(["method", "metric"])
    n = int(df.trial.nunique())

    def cell(m, metric, digits=2):
        if (m, metric) not in stats.index:
            return "-"
        r = stats.loc[(m, metric)]
        return f"{r['mean']:.{digits}f} +- {np.nan_to_num(r['std']):.{digits}f}"

    def paper(metric, m):
        v = PAPER[metric].get(m)
        return "-" if v is None else f"{v:g}"

    lines = [f"### Motion capture: segmentation of all frames, ours mean +- sd over {n} trials "
             "(paper)", "",
             "| method | 1 - Hamming | ARI | states | CPU time / full | parallel wall / full |",
             "|---|---|---|---|---|---|"]
    for m in methods:
        lines.append(
            f"| {LABELS[m]} | {cell(m, 'accuracy')} ({paper('accuracy', m)}) | "
            f"{cell(m, 'ari')} ({paper('ari', m)}) | {cell(m, 'n_states', 1)} "
            f"({paper('n_states', m)}) | {cell(m, 'cpu_time_rel_full')} | "
            f"{cell(m, 'parallel_time_rel_full')} |")
    means = stats["mean"]
    cpu = {m: means[(m, "cpu_time_s")] for m in methods if (m, "cpu_time_s") in means.index}
    if cpu:
        fusion = means.get(("spahm", "fusion_time_s"), np.nan)
        lines += ["", "Mean CPU time: "
                  + ", ".join(f"{LABELS[m]} {v:.1f} s" for m, v in cpu.items())
                  + f"; SPAHM's fusion step alone {fusion:.3f} s (wall). Local models and "
                  "k-means / SPAHM include the local fits (sum over silos)."]
    local_states = sorted(k for (mm, k) in stats.index
                          if mm == "local" and k.startswith("n_states:"))
    if local_states:
        lines += ["", "States per local model (paper: 9 and 13): "
                  + ", ".join(f"{k.split(':')[1]} {cell('local', k, 1)}" for k in local_states)]
    seqs = list(dict.fromkeys(k.split(":")[1] for (_, k) in stats.index
                              if k.startswith("accuracy:")))
    if seqs:
        lines += ["", "### Per sequence (each relabelled on its own): 1 - Hamming / ARI", "",
                  "| method | " + " | ".join(seqs) + " |", "|---" * (len(seqs) + 1) + "|"]
        for m in methods:
            lines.append(f"| {LABELS[m]} | " + " | ".join(
                f"{cell(m, 'accuracy:' + s)} / {cell(m, 'ari:' + s)}" for s in seqs) + " |")
    lines += ["", "### Expected ordering (paper): local < k-means < SPAHM < full on both "
              "metrics; SPAHM under half the full model's compute", ""]
    lines += check_ordering(df)
    return "\n".join(lines) + "\n"


def check_ordering(df):
    """One line per claim of the paper: holds / does not hold, with our means."""
    means = df.groupby(["method", "metric"])["value"].mean()
    order = [m for m in ("local", "kmeans", "spahm", "full") if m in set(df.method)]
    out = []
    for metric, label in (("accuracy", "1 - Hamming"), ("ari", "ARI")):
        vals = [means.get((m, metric), np.nan) for m in order]
        holds = all(a < b for a, b in zip(vals, vals[1:]))
        chain = ", ".join(f"{LABELS[m]} {v:.3f}" for m, v in zip(order, vals))
        out.append(f"- {label}: {'holds' if holds else 'does NOT hold'} ({chain})")
    for key, label in (("cpu_time_rel_full", "compute (CPU time, sum over silos + fusion)"),
                       ("parallel_time_rel_full", "wall time with silos in parallel")):
        v = means.get(("spahm", key))
        if v is not None and not np.isnan(v):
            out.append(f"- SPAHM {label} under half the full model's: "
                       f"{'holds' if v < 0.5 else 'does NOT hold'} ({v:.2f} x full)")
    return out


if __name__ == "__main__":
    import sys

    from experiments.cli import main

    sys.argv[1:1] = ["experiment=mocap"]
    main()

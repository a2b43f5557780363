"""Motion capture (paper section 4.3): sticky HDP-HMMs per subject, fused behaviours.

Six CMU exercise sequences of two subjects (12 joint-angle features per frame, hand labels of
12 behaviours). Silos: one per subject (three sequences each) or one per sequence. Each silo
fits a sticky HDP-HMM (:class:`spahm.models.hdp_hmm.StickyHDPHMM`: weak-limit blocked Gibbs
sampler with split and merge moves, emission prior on the data's scale), which infers its
number of states; its local atoms are the posterior emission means of its used states
(:class:`spahm.models.hdp_hmm.HDPHMMAdapter`). Methods (:data:`METHODS`):

- ``local``: the local HDP-HMMs alone; states are not shared across silos;
- ``kmeans``: k-means (k = 12, the true number of behaviours) on all local atoms; a frame
  takes the cluster of its local state;
- ``spahm``: SPAHM fuses the local atoms into global behaviours; a frame takes the global
  state of its local state;
- ``full``: one sticky HDP-HMM on all six sequences, with the same sampler settings.

Metrics: normalised Hamming distance to the hand labels after the optimal one-to-one
relabelling (and ``accuracy`` = 1 - Hamming, the paper's axis), adjusted Rand index, over all
frames and per sequence (each sequence relabelled on its own); number of states (per silo for
the local models). Compute as a user meets it: the local fits run at once, one per silo
(``n_jobs``), so a method built on them costs the slowest silo's wall time plus its own step
(``time_s``), the silos' summed CPU time plus its own (``cpu_time_s``) and, on the critical path
of silos fitting in parallel, the slowest silo's process CPU plus its own
(``critical_path_cpu_time_s``); the full model costs its own fit, with the same sampler, priors,
stopping rule and kept-sample rule. The report divides them by the full model's
(:func:`compute_ratios`); ``compute_ratio_ideal_*`` are the ratios if cost were proportional to
frames.

Run: ``spahm-experiment experiment=mocap profile=quick`` (or ``profile=paper``).
"""
from __future__ import annotations

import re
import time
from dataclasses import fields
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf
from sklearn.cluster import KMeans
from sklearn.utils._param_validation import InvalidParameterError

from experiments._runner import (
    ConfigError,
    DataMissingError,
    atomic_write_csv,
    atomic_write_text,
    fit_per_silo,
    mean_sd,
    run_methods,
    summarise,
)
from experiments.mocap.claims import CLAIMS, PAPER, PAPER_LOCAL_STATES
from experiments.mocap.config import SILOS, ModelCfg
from spahm import match
from spahm.adapters import get_adapter
from spahm._validation import check_params
from spahm.metrics import ari, hamming, relabel
from spahm.models.hdp_hmm import StickyHDPHMM

__all__ = ["LABELS", "validate", "prepare", "settings", "trial", "plot", "report",
           "headline"]

LABELS = {
    "local": "local HDP-HMMs",
    "kmeans": "k-means matching",
    "spahm": "SPAHM",
    "full": "full HDP-HMM",
}
SEGMENTATIONS_DIR = "segmentations"
BEHAVIOURS_FILE = "behaviours.txt"  # beside the segmentations: the names of behaviours 1..12


# ---------------------------------------------------------------------------- config

def headline(df, cfg=None) -> str:
    """The run's headline as the paper reports it: 1 - normalised Hamming and ARI per method,
    mean +- sd over trials, the paper's value in parentheses."""
    rows = []
    for method in [m for m in LABELS if m in set(df.method)]:
        cells = []
        for metric in ("accuracy", "ari"):
            values = df[(df.method == method) & (df.metric == metric)]["value"].astype(float)
            if values.empty:
                cells.append("-")
                continue
            paper = PAPER[metric].get(method)
            cells.append(mean_sd(values.mean(), values.std(ddof=1) if len(values) > 1 else 0.0,
                                 len(values)) + (f" ({paper:.2f})" if paper is not None else ""))
        rows.append([LABELS[method], *cells])
    if not rows:
        return ""
    header = ["method", "1 - Hamming", "ARI"]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(["Segmentation of all six sequences, mean +- sd over trials (paper's value "
                      "in parentheses):", "  " + fmt.format(*header)]
                     + ["  " + fmt.format(*row) for row in rows])


def validate(cfg):
    """Ranges Hydra's schema cannot check (:mod:`experiments.mocap.config` types the rest);
    :class:`ConfigError` names the key."""

    def fail(key, expected):
        raise ConfigError(f"config key '{key}' = {OmegaConf.select(cfg, key)!r}: "
                          f"expected {expected}")

    m = cfg.model
    unknown = sorted(set(m) - {f.name for f in fields(ModelCfg)})
    if unknown:
        raise ConfigError(f"config key 'model' has unknown entries {unknown}: expected only "
                          f"{[f.name for f in fields(ModelCfg)]}")
    if not (isinstance(cfg.trials, int) and cfg.trials > 0):
        fail("trials", "a positive integer")
    if cfg.silos not in SILOS:
        fail("silos", f"one of {list(SILOS)}")
    if not cfg.methods or not set(cfg.methods) <= set(LABELS):
        fail("methods", f"a non-empty subset of {list(LABELS)}")
    # the model's own constraints (scikit-learn's parameter validation), named as config keys
    params = OmegaConf.to_container(m, resolve=True)
    try:
        check_params(params, StickyHDPHMM, prefix="model.")
    except InvalidParameterError as exc:
        key = re.search(r"model\.\w+", str(exc)).group(0)
        raise ConfigError(f"config key '{key}' = {OmegaConf.select(cfg, key)!r}: {exc}") from None
    if m.n_burnin is not None and not m.n_burnin < m.n_iter:
        fail("model.n_burnin", "null or an integer in [0, n_iter)")
    if m.prior_dof is not None and not m.prior_dof > 11:
        fail("model.prior_dof", "null or a number > D - 1 = 11")
    for key in ("alpha_kappa_prior", "rho_prior", "gamma_prior"):
        if len(m[key]) != 2 or not all(v > 0 for v in m[key]):
            fail(f"model.{key}", "two positive numbers")
    for key in ("k", "n_init"):
        if cfg.kmeans_matching[key] < 1:
            fail(f"kmeans_matching.{key}", "a positive integer")
    for key in ("gamma0", "sigma", "sigma0"):
        if not cfg.fusion[key] > 0:
            fail(f"fusion.{key}", "a positive number")
    if cfg.fusion.n_iter < 0:
        fail("fusion.n_iter", "an integer >= 0")


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


def prepare(cfg):
    """The sequences (standardised if configured), their labels and the silos."""
    data = load_mocap(cfg.data.root)
    if cfg.data.standardize:
        data["sequences"] = standardise(data["sequences"])
    data["silos"] = partition(data["names"], cfg.silos)
    return data


def settings(cfg) -> list[dict]:
    return [{}]


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
def _fit_hmm(params, sequences, seed):
    """One sticky HDP-HMM on a list of sequences (the fit that ``fit_per_silo`` times)."""
    return StickyHDPHMM(**params, random_state=seed).fit(sequences)


class TrialContext:
    """What the methods of one trial share: the local fits (run once, on first use), their
    atoms, and every method's segmentation (saved beside the CSV)."""

    def __init__(self, cfg, trial, data):
        self.cfg, self.trial, self.data = cfg, trial, data
        self.params = OmegaConf.to_container(cfg.model, resolve=True)
        self.n_jobs = int(OmegaConf.select(cfg, "n_jobs", default=1))
        self.segmentations = {}

    @cached_property
    def local(self):
        """Local HDP-HMMs, one per silo, fitted at once (:func:`fit_per_silo`)."""
        seqs = self.data["sequences"]
        silo_data = [[seqs[i] for i in silo] for silo in self.data["silos"]]
        params = self.params
        return fit_per_silo(lambda d, seed: _fit_hmm(params, d, seed), silo_data, self.trial,
                            name="local", n_jobs=self.n_jobs)

    @cached_property
    def atoms(self):
        """Each silo's local atoms, through the model type's adapter (the one extraction path)."""
        return [get_adapter(m).extract(m).atoms for m in self.local.models]

    def through(self, mappings):
        """Every sequence's frames mapped through its silo's local state -> label mapping."""
        out = [None] * len(self.data["names"])
        for silo, model, mapping in zip(self.data["silos"], self.local.models, mappings):
            for i, z in zip(silo, model.state_sequences_):
                out[i] = np.asarray(mapping)[z]
        return out

    def scored(self, method, segmentation, own_wall=0.0, own_cpu=0.0, uses_local=True):
        """Segmentation metrics plus the method's compute as a user meets it."""
        self.segmentations[method] = segmentation
        rows = segmentation_metrics(segmentation, self.data["labels"], self.data["names"])
        if uses_local:
            rows += [("time_s", self.local.parallel_wall_s + own_wall),
                     ("sequential_time_s", self.local.sequential_wall_s + own_wall),
                     ("cpu_time_s", self.local.total_cpu_s + own_cpu),
                     ("critical_path_cpu_time_s", float(self.local.cpu_s.max()) + own_cpu)]
        return rows


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _local(ctx):
    offsets = np.concatenate([[0], np.cumsum([len(a) for a in ctx.atoms])])
    rows = ctx.scored("local", ctx.through([offsets[j] + np.arange(len(a))
                                            for j, a in enumerate(ctx.atoms)]))
    rows += [("n_states", offsets[-1])]
    for j, m in enumerate(ctx.local.models):
        rows += [(f"n_states:silo{j}", m.n_states_), (f"log_joint:silo{j}", m.log_joint_),
                 (f"merges:silo{j}", m.n_merges_.sum()), (f"splits:silo{j}", m.n_splits_.sum())]
        rows += [(f"{name}:silo{j}", value) for name, value in _fit_summary(m)]
    return rows


def _fit_summary(model):
    """The kept sample's hyperparameters and the sweeps the fit ran (its stopping rule)."""
    return [("hyper_alpha", model.alpha_), ("hyper_kappa", model.kappa_),
            ("hyper_gamma", model.gamma_), ("sweeps", model.n_iter_)]


def _kmeans(ctx):
    stacked = np.vstack(ctx.atoms)
    k = min(int(ctx.cfg.kmeans_matching.k), len(stacked))
    km, wall, cpu = _timed(lambda: KMeans(
        n_clusters=k, n_init=int(ctx.cfg.kmeans_matching.n_init),
        random_state=ctx.trial.seed_for("kmeans")).fit(stacked))
    offsets = np.concatenate([[0], np.cumsum([len(a) for a in ctx.atoms])])
    labels = [km.labels_[offsets[j]:offsets[j + 1]] for j in range(len(ctx.atoms))]
    return ctx.scored("kmeans", ctx.through(labels), wall, cpu) + [
        ("n_states", len(np.unique(km.labels_)))]


def _spahm(ctx):
    kwargs = OmegaConf.to_container(ctx.cfg.fusion, resolve=True)
    result, wall, cpu = _timed(lambda: match(ctx.atoms, **kwargs,
                                             random_state=ctx.trial.seed_for("spahm")))
    rows = ctx.scored("spahm", ctx.through([np.asarray(a) for a in result.assignments]),
                      wall, cpu)
    frames = [sum(len(ctx.data["sequences"][i]) for i in silo) for silo in ctx.data["silos"]]
    return rows + [("n_states", result.n_global_atoms), ("fusion_time_s", wall),
                   # the compute ratios if cost were proportional to frames (deterministic)
                   ("compute_ratio_ideal_cpu", sum(frames) / sum(frames)),
                   ("compute_ratio_ideal_critical_path", max(frames) / sum(frames))]


def _full(ctx):
    fits = fit_per_silo(lambda d, seed: _fit_hmm(ctx.params, d, seed), [ctx.data["sequences"]],
                        ctx.trial, name="full", n_jobs=1)
    model = fits.models[0]
    rows = ctx.scored("full", model.state_sequences_, uses_local=False)
    return rows + [("n_states", model.n_states_), ("log_joint", model.log_joint_),
                   ("merges", model.n_merges_.sum()), ("splits", model.n_splits_.sum()),
                   *_fit_summary(model),
                   ("time_s", fits.parallel_wall_s), ("sequential_time_s", fits.parallel_wall_s),
                   ("cpu_time_s", fits.total_cpu_s), ("critical_path_cpu_time_s", fits.total_cpu_s)]


#: Method name -> function of the trial's context returning (metric, value) pairs.
METHODS = {"local": _local, "kmeans": _kmeans, "spahm": _spahm, "full": _full}


def trial(cfg, setting, trial, prepared) -> list[dict]:
    """Every configured method on the mocap sequences with one trial's seeds; tidy rows."""
    ctx = TrialContext(cfg, trial, prepared)
    rows = run_methods(METHODS, list(cfg.methods), ctx)
    if trial.out_dir is not None:
        save_segmentations(Path(trial.out_dir) / SEGMENTATIONS_DIR / f"trial_{trial.index:03d}.csv",
                           prepared, ctx.segmentations)
    return rows


def canonical_states(segmentation):
    """Relabel a segmentation (one int array per sequence) so states are numbered 0, 1, ...
    in the order they first appear over the sequences: the same partition of the frames always
    gets the same ids, whatever ids the method gave its states."""
    flat = np.concatenate([np.asarray(z) for z in segmentation])
    _, first = np.unique(flat, return_index=True)
    order = np.unique(flat)[np.argsort(first)]
    lookup = dict(zip(order.tolist(), range(order.size)))
    return [np.array([lookup[v] for v in np.asarray(z).tolist()], dtype=np.int64)
            for z in segmentation]


def save_segmentations(path, data, segmentations):
    """Every frame's true behaviour and each method's state, one row per frame (a CSV written
    atomically), so the segmentation figure can be redrawn without refitting. States are
    numbered in the order they first appear (:func:`canonical_states`), so a rerun with the
    same config and seed writes the same bytes."""
    frames = []
    canonical = {m: canonical_states(seg) for m, seg in segmentations.items()}
    for i, name in enumerate(data["names"]):
        cols = {"sequence": name, "frame": np.arange(len(data["labels"][i])),
                "truth": data["labels"][i]}
        cols.update({m: seg[i] for m, seg in canonical.items()})
        frames.append(pd.DataFrame(cols))
    atomic_write_csv(pd.concat(frames, ignore_index=True), path)
    atomic_write_text(Path(path).parent / BEHAVIOURS_FILE, "\n".join(data["behaviours"]) + "\n")


# ---------------------------------------------------------------------------- figures
def _methods(df):
    return [m for m in LABELS if m in set(df.method)]


def _table(df, metric, methods):
    t = summarise(df, metric).set_index("method").reindex(methods)
    t.index = [LABELS[m] for m in methods]
    return t


def plot(df, out_dir, cfg=None) -> list[Path]:
    """Metrics per method beside the paper's, inferred state counts, per-sequence metrics
    (from the CSV) and per-sequence segmentation strips of the first trial (from
    ``segmentations/``), in the experiments' one look (:mod:`experiments._plots`)."""
    from experiments import _plots

    out_dir = Path(out_dir)
    methods = _methods(df)
    written = []
    for metric, label in (("accuracy", "1 - normalised Hamming"),
                          ("ari", "adjusted Rand index")):
        path = out_dir / f"{metric}.png"
        _plots.bars_with_paper(_table(df, metric, methods), label, path,
                               paper={LABELS[m]: v for m, v in PAPER[metric].items()},
                               title=f"Motion capture: {label}, all frames", methods=methods,
                               label="_ours", caption=_caption(
                                   f"They are from {PAPER_SOURCE} (no spread given).", cfg))
        written.append(path)
    written += [p for p in (_plot_states(df, out_dir, cfg),
                            _plot_per_sequence(df, out_dir, cfg)) if p is not None]
    seg_files = sorted((out_dir / SEGMENTATIONS_DIR).glob("trial_*.csv"))
    if seg_files:
        written.append(_plot_segmentations(seg_files[0], out_dir / "segmentations.png", cfg))
    return written


#: Where the paper's numbers come from (:mod:`experiments.mocap.claims`).
PAPER_SOURCE = "its Fig. 4 and section 4.3"


def _caption(text, cfg):
    from experiments import _plots

    return " ".join(filter(None, [text, _plots.overrides(cfg)]))


def _silo_names(df, out_dir, cfg):
    """Display names of the local models' silos: ``subject 13`` when the silos are subjects
    (named from the saved segmentations' sequences), else ``silo 0``, ``silo 1``..."""
    silos = sorted((m.split("silo")[1] for m in set(df.metric) if m.startswith("n_states:silo")),
                   key=int)
    names = {s: f"silo {s}" for s in silos}
    how = OmegaConf.select(cfg, "silos", default=None) if cfg is not None else None
    seg = sorted((Path(out_dir) / SEGMENTATIONS_DIR).glob("trial_*.csv"))
    if how == "subject" and seg:
        sequences = pd.read_csv(seg[0], usecols=["sequence"], dtype=str).sequence
        subjects = list(dict.fromkeys(n.split("_")[0] for n in sequences))
        if len(subjects) == len(silos):
            names = {s: f"subject {subject}" for s, subject in zip(silos, subjects)}
    return names, how


def _plot_states(df, out_dir, cfg):
    """Inferred number of states: every local model (per silo), SPAHM's global states and the
    full model, one dot per trial, beside the paper's 9 / 13 / 14."""
    from matplotlib.ticker import MaxNLocator

    from experiments import _plots

    names, how = _silo_names(df, out_dir, cfg)
    groups = [(f"local, {name}", "local", f"n_states:silo{s}") for s, name in names.items()]
    groups += [("SPAHM (global)", "spahm", "n_states"), ("full HDP-HMM", "full", "n_states")]
    groups = [g for g in groups if not df[(df.method == g[1]) & (df.metric == g[2])].empty]
    if not groups:
        return None
    paper = {"n_states": PAPER["n_states"]["spahm"]}
    if how in ("subject", None) and len(names) == len(PAPER_LOCAL_STATES):  # the paper's silos
        paper.update({f"n_states:silo{s}": v for s, v in zip(names, PAPER_LOCAL_STATES)})
    fig, ax = _plots.plt.subplots(figsize=(6.4, 4.0))
    n_trials = int(df.trial.nunique())
    for x, (label, method, metric) in enumerate(groups):
        vals = df[(df.method == method) & (df.metric == metric)].value.to_numpy()
        jitter = np.linspace(-0.15, 0.15, len(vals)) if len(vals) > 1 else np.zeros(1)
        ax.scatter(x + jitter, vals, color=_plots.colour(method), alpha=0.75,
                   marker=_plots.style(method)["marker"], label=LABELS[method])
        if method != "full" and metric in paper:
            ax.scatter([x], [paper[metric]], marker="D", color="black", zorder=3,
                       label="the paper")
    truncation = OmegaConf.select(cfg, "model.n_states", default=None) if cfg is not None else None
    if truncation:
        ax.axhline(truncation, color="grey", ls=":", label=f"truncation K = {truncation}")
    ax.set_xticks(np.arange(len(groups)), [g[0] for g in groups], rotation=20, ha="right")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("number of states used")
    ax.set_title("Motion capture: inferred number of states")
    ax.grid(axis="y", alpha=0.3)
    path = out_dir / "states.png"
    _plots.finish(fig, path, _caption(
        f"Dots: one per trial ({n_trials} trials, spread sideways); no error bars. Black "
        f"diamonds: the paper's numbers of states, from {PAPER_SOURCE}.", cfg), axes=ax)
    return path


def _plot_per_sequence(df, out_dir, cfg):
    from experiments import _plots

    per = df[df.metric.str.startswith("accuracy:") | df.metric.str.startswith("ari:")].copy()
    if per.empty:
        return None
    per["kind"] = per.metric.str.split(":").str[0]
    per["sequence"] = per.metric.str.split(":").str[1]
    seqs = list(dict.fromkeys(per.sequence))
    methods = _methods(df)
    fig, axes = _plots.plt.subplots(1, 2, figsize=(10.0, 3.8), sharey=True)
    width = 0.8 / len(methods)
    for ax, kind, label in zip(axes, ("accuracy", "ari"),
                               ("1 - normalised Hamming", "adjusted Rand index")):
        s = summarise(per[per.kind == kind], None, ["method", "sequence"]).set_index(
            ["method", "sequence"])
        for i, m in enumerate(methods):
            if m not in s.index.get_level_values(0):
                continue
            vals = s.loc[m].reindex(seqs)
            ax.bar(np.arange(len(seqs)) + (i - (len(methods) - 1) / 2) * width, vals["mean"],
                   width, yerr=np.nan_to_num(vals["std"]), capsize=2, ecolor="#555555",
                   color=_plots.colour(m), label=LABELS[m])
        ax.set_xticks(np.arange(len(seqs)), seqs)
        ax.set_xlabel("sequence (subject_trial)")
        ax.tick_params(labelleft=True)  # both panels keep their y tick labels
        ax.set_ylabel(label + " (per sequence)")
        ax.set_title(label, fontsize=10)
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Motion capture: segmentation quality per sequence (each relabelled on its "
                 "own)", fontsize=11)
    fig.tight_layout()
    stats = summarise(per, None, ["method", "metric"])
    path = out_dir / "metrics_per_sequence.png"
    _plots.finish(fig, path, _caption(
        _plots.bars_caption(stats) + " The paper gives no per-sequence values.", cfg),
        axes=axes, width=150)
    return path


def _plot_segmentations(csv_path, path, cfg=None):
    """Per sequence: true behaviours above each method's segmentation.

    Each method's states are mapped to behaviours by the one-to-one matching over all frames
    of all sequences (as for its Hamming distance), so a state keeps one colour across all
    sequences and matched states take their behaviour's colour; unmatched states are grey.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from experiments import _plots

    plt = _plots.plt
    frame = pd.read_csv(csv_path, dtype={"sequence": str})
    names = list(dict.fromkeys(frame.sequence))
    methods = [m for m in LABELS if m in frame.columns]
    t_all = frame.truth.to_numpy()
    mapped = {m: relabel(frame[m].to_numpy(), t_all).astype(np.int64) for m in methods}
    n_true = int(t_all.max())
    top = max([n_true] + [int(v.max()) for v in mapped.values()])
    palette = list(plt.get_cmap("tab20").colors[:n_true])
    # unmatched states: a ramp of greys, so they never look like a behaviour
    extra = [plt.get_cmap("Greys")(v) for v in np.linspace(0.25, 0.9, max(top - n_true, 1))]
    palette += extra[: top - n_true]
    cmap = ListedColormap(palette)
    rows = ["truth"] + methods
    fig, axes = plt.subplots(len(names), 1, figsize=(10.0, 1.0 + 0.32 * len(rows) * len(names)))
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, names):
        sel = (frame.sequence == name).to_numpy()
        strip = np.vstack([t_all[sel]] + [mapped[m][sel] for m in methods]) - 1
        ax.imshow(strip, aspect="auto", interpolation="nearest", cmap=cmap, vmin=-0.5,
                  vmax=top - 0.5)
        ax.set_yticks(np.arange(len(rows)), ["true"] + [LABELS[m] for m in methods], fontsize=7)
        ax.set_title(f"sequence {name}", fontsize=8, loc="left")
        ax.tick_params(axis="x", labelsize=7)
    axes[-1].set_xlabel("frame")
    trial = Path(csv_path).stem.split("_")[-1].lstrip("0") or "0"
    fig.suptitle(f"Motion capture: segmentations of trial {trial}", fontsize=10)
    names_file = Path(csv_path).parent / BEHAVIOURS_FILE
    behaviours = names_file.read_text().split() if names_file.is_file() else []
    if len(behaviours) < n_true:
        behaviours = [f"behaviour {k}" for k in range(1, n_true + 1)]
    handles = [Patch(color=palette[k], label=behaviours[k]) for k in range(n_true)]
    handles.append(Patch(color=extra[len(extra) // 2], label="unmatched states"))
    fig.tight_layout()
    fig.legend(handles=handles, loc="upper left", fontsize=8, bbox_to_anchor=(1.0, 0.97),
               frameon=False, title="behaviour", title_fontsize=8)
    _plots.finish(fig, path, _caption(
        "Each method's states are mapped to the behaviours by the one-to-one matching over all "
        "frames (as for its Hamming distance): matched states take their behaviour's colour in "
        "every sequence, unmatched states are greys. One trial: no spread.", cfg),
        axes=axes, legend=False, width=150)
    return path


# ---------------------------------------------------------------------------- report
def relative_times(df):
    """Each method's timings divided by the full model's in the same trial, as rows
    ``<timing>`` -> ``<timing without _s>_rel_full`` (e.g. ``cpu_time_rel_full``)."""
    timings = ("time_s", "sequential_time_s", "cpu_time_s", "critical_path_cpu_time_s")
    sub = df[df.metric.isin(timings)]
    if sub.empty or "full" not in set(sub.method):
        return df.iloc[0:0]
    full = sub[sub.method == "full"].set_index(["trial", "metric"])["value"]
    rel = sub.copy()
    rel["value"] = rel["value"].to_numpy() / full.reindex(
        pd.MultiIndex.from_frame(rel[["trial", "metric"]])).to_numpy()
    rel["metric"] = rel["metric"].str[:-2] + "_rel_full"
    return rel


#: Compute relative to the full model (derived from timings.csv, so metrics.csv stays
#: byte-identical): both silos' CPU + the method's own step, and the critical path (the
#: slowest silo's process CPU + the method's own step: the paper's setting, silos in
#: parallel, robust to a loaded machine), each over the full model's CPU in the same trial.
COMPUTE_RATIOS = {"cpu_time_rel_full": "compute_ratio_cpu",
                  "critical_path_cpu_time_rel_full": "compute_ratio_critical_path"}


def compute_ratios(df):
    """Rows ``compute_ratio_cpu`` and ``compute_ratio_critical_path`` of every method built on
    the local models, per trial (from the timings in ``df``)."""
    rel = relative_times(df)
    rel = rel[rel.metric.isin(list(COMPUTE_RATIOS)) & (rel.method != "full")].copy()
    rel["metric"] = rel["metric"].map(COMPUTE_RATIOS)
    return rel


def report(df, cfg=None) -> str:
    """Markdown: our metrics (mean +- sd over trials) beside the paper's, states per silo,
    compute relative to the full model, and the paper's claims checked."""
    methods = _methods(df)
    df = pd.concat([df, relative_times(df), compute_ratios(df)], ignore_index=True)
    stats = summarise(df, None, ["method", "metric"]).set_index(["method", "metric"]).sort_index()
    n = int(df.trial.nunique())

    def cell(m, metric, digits=2):
        if (m, metric) not in stats.index:
            return "-"
        r = stats.loc[(m, metric)]
        return mean_sd(r["mean"], r["std"], int(r["count"]), digits)

    def paper(metric, m):
        v = PAPER[metric].get(m)
        return "-" if v is None else f"{v:g}"

    lines = [f"### Motion capture: segmentation of all frames, ours over {n} trials (paper)", "",
             "| method | 1 - Hamming | ARI | states | CPU / full | critical-path CPU / full | "
             "wall / full (silos in parallel) |", "|---|---|---|---|---|---|---|"]
    for m in methods:
        lines.append(
            f"| {LABELS[m]} | {cell(m, 'accuracy')} ({paper('accuracy', m)}) | "
            f"{cell(m, 'ari')} ({paper('ari', m)}) | {cell(m, 'n_states', 1)} "
            f"({paper('n_states', m)}) | {cell(m, 'cpu_time_rel_full')} | "
            f"{cell(m, 'critical_path_cpu_time_rel_full')} | {cell(m, 'time_rel_full')} |")
    ideal = [(k, means_of(stats, ("spahm", k))) for k in
             ("compute_ratio_ideal_cpu", "compute_ratio_ideal_critical_path")]
    if not np.isnan(ideal[0][1]):
        lines += ["", f"Compute if cost were proportional to frames: CPU {ideal[0][1]:.2f} x, "
                      f"critical path {ideal[1][1]:.2f} x the full model's."]
    hyper = [k for k in ("hyper_alpha", "hyper_kappa", "hyper_gamma", "sweeps")
             if ("full", k) in stats.index]
    if hyper:
        silos = sorted({k.split(":")[1] for (mm, k) in stats.index
                        if mm == "local" and k.startswith("hyper_alpha:")})
        lines += ["", "Kept samples' hyperparameters and sweeps run (mean +- sd over trials): "
                  + "; ".join(f"{who} " + ", ".join(f"{k.replace('hyper_', '')} "
                                                    f"{cell(m, k + sfx, 2)}" for k in hyper)
                              for who, m, sfx in [(f"local {s}", "local", f":{s}") for s in silos]
                              + [("full", "full", "")]) + "."]
    local_states = sorted(k for (mm, k) in stats.index if mm == "local" and k.startswith("n_states:"))
    if local_states:
        per_trial = df[(df.method == "local") & df.metric.isin(local_states)]
        table = per_trial.pivot_table(index="trial", columns="metric", values="value")
        lines += ["", "States per local model (paper: "
                  + " and ".join(map(str, PAPER_LOCAL_STATES)) + "): "
                  + ", ".join(f"{k.split(':')[1]} {cell('local', k, 1)} "
                              f"(range {table[k].min():.0f}-{table[k].max():.0f})"
                              for k in local_states)
                  + f"; SPAHM's global states {cell('spahm', 'n_states', 1)} "
                  f"(paper {PAPER['n_states']['spahm']}); "
                  f"full model {cell('full', 'n_states', 1)}."]
    means = stats["mean"]
    cpu = {m: means[(m, "cpu_time_s")] for m in methods if (m, "cpu_time_s") in means.index}
    if cpu:
        lines += ["", "Compute: `cpu_time_s` sums the silos' process CPU and the method's own "
                  "step; the critical path takes the slowest silo's instead (silos fit in "
                  "parallel, the paper's setting); wall times depend on the machine's load."]
    if cpu:
        fusion = means.get(("spahm", "fusion_time_s"), np.nan)
        lines += ["", "Mean compute: " + ", ".join(
            f"{LABELS[m]} {v:.1f} s CPU / {means.get((m, 'time_s'), np.nan):.1f} s wall"
            for m, v in cpu.items())
            + f"; SPAHM's fusion step alone {fusion:.3f} s. Methods built on the local models "
            "include their fits (CPU summed over silos; wall = slowest silo, the silos fitting "
            "at once)."]
    seqs = list(dict.fromkeys(k.split(":")[1] for (_, k) in stats.index
                              if k.startswith("accuracy:")))
    if seqs:
        lines += ["", "### Per sequence (each relabelled on its own): 1 - Hamming / ARI", "",
                  "| method | " + " | ".join(seqs) + " |", "|---" * (len(seqs) + 1) + "|"]
        for m in methods:
            lines.append(f"| {LABELS[m]} | " + " | ".join(
                f"{cell(m, 'accuracy:' + s)} / {cell(m, 'ari:' + s)}" for s in seqs) + " |")
    lines += ["", CLAIMS.section(df).rstrip()]
    return "\n".join(lines) + "\n"


def means_of(stats, key):
    return stats["mean"].get(key, np.nan)

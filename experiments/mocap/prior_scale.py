"""Label-free choice of the emission prior's scale: held-out time blocks inside every sequence.

For every seed, blocks of frames inside every sequence are hidden (rows of NaN: the sampler
imputes their states and does not count them in the emission statistics). For every
``prior_scale`` of a grid, each silo (subject) fits the experiment's sticky HDP-HMM (its
settings, :class:`experiments.mocap.config.ModelCfg`, only the scale changes) on its frames
with the blocks hidden, and scores the hidden frames given the visible ones:
``log p(x_hidden | x_visible) = log p(x) - log p(x_visible)`` under the fitted HMM
(posterior-mean emissions, transitions and initial distribution of the kept sample), by the
forward algorithm. The hidden frames sit between frames of the same behaviour the model has
seen, so the criterion rewards emissions and dynamics that describe the behaviours, not
breadth for behaviours seen in no training sequence. The behaviour labels are never read.

The scales are compared paired: for every seed, each scale's held-out log likelihood per
frame (both silos) minus the best scale's, with the mean, sd and sign count over seeds.

Run::

    python -m experiments.mocap.prior_scale [--scales 3,5,10,20,30] [--seeds 0,1,2,3,4]
        [--out results/mocap/prior_scale] [--n-jobs 2]
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from experiments._runner import atomic_write_csv, atomic_write_text
from experiments.mocap import load_mocap, partition
from experiments.mocap.config import ModelCfg
from spahm.adapters import _precision_cholesky
from spahm.models._hmm import forward_filter, gaussian_log_likelihood
from spahm.models.hdp_hmm import StickyHDPHMM

#: Hidden blocks: this many frames each, covering about this fraction of every sequence.
BLOCK = 20
FRACTION = 0.1


def hidden_mask(length, seed, index):
    """Boolean mask of the hidden frames of one sequence: ``round(FRACTION * T / BLOCK)``
    (at least one) blocks of ``BLOCK`` frames on a grid of ``BLOCK``-frame cells, never the
    first or last cell, drawn from ``(seed, index)``."""
    rng = np.random.default_rng([seed, index])
    cells = np.arange(1, length // BLOCK - 1)
    n = min(max(1, round(FRACTION * length / BLOCK)), cells.size)
    mask = np.zeros(length, dtype=bool)
    for c in rng.choice(cells, size=n, replace=False):
        mask[c * BLOCK:(c + 1) * BLOCK] = True
    return mask


def held_out_log_likelihood(model, sequences, masks):
    """``sum_s log p(x_hidden | x_visible)`` of the hidden frames under the fitted HMM."""
    prec = _precision_cholesky(model.covariances_)
    log_start, trans = np.log(model.startprob_), model.transmat_
    total = 0.0
    for x, hide in zip(sequences, masks):
        ll = gaussian_log_likelihood(x, model.means_, prec)
        visible = np.where(hide[:, None], 0.0, ll)
        both = forward_filter(np.stack([ll, visible]), log_start, trans,
                              np.array([len(x), len(x)]))[1]
        total += both[0] - both[1]
    return float(total)


def _fit_and_score(params, seqs, masks, seed):
    cpu = time.process_time()
    holed = [np.where(m[:, None], np.nan, x) for x, m in zip(seqs, masks)]
    model = StickyHDPHMM(**params, random_state=seed).fit(holed)
    score = held_out_log_likelihood(model, seqs, masks)
    return model, score, time.process_time() - cpu


def held_out_rows(data, scales, seeds, n_jobs=1, **model_overrides):
    """One row per (seed, scale, silo): held-out log likelihood per hidden frame, states,
    sweeps run and the kept sample's hyperparameters; and the CPU seconds of every fit."""
    seqs, names = data["sequences"], data["names"]
    silos = partition(names, "subject")
    masks = {seed: [hidden_mask(len(x), seed, i) for i, x in enumerate(seqs)] for seed in seeds}
    jobs, keys = [], []
    for seed in seeds:
        for scale in scales:
            params = {**asdict(ModelCfg()), **model_overrides, "prior_scale": float(scale)}
            for j, silo in enumerate(silos):
                keys.append((seed, scale, j, silo))
                jobs.append(delayed(_fit_and_score)(
                    params, [seqs[i] for i in silo], [masks[seed][i] for i in silo],
                    int(np.random.SeedSequence([seed, j]).generate_state(1)[0])))
    out = Parallel(n_jobs=n_jobs)(jobs)
    rows, cpu = [], []
    for (seed, scale, j, silo), (model, score, seconds) in zip(keys, out):
        hidden = int(sum(masks[seed][i].sum() for i in silo))
        rows.append({"seed": seed, "prior_scale": float(scale), "silo": j,
                     "hidden_frames": hidden, "log_lik_per_frame": score / hidden,
                     "log_lik": score, "n_states": model.n_states_, "sweeps": model.n_iter_,
                     "hyper_alpha": model.alpha_, "hyper_kappa": model.kappa_,
                     "hyper_gamma": model.gamma_})
        cpu.append(seconds)
    return pd.DataFrame(rows), float(np.sum(cpu))


def per_seed(df):
    """Held-out log likelihood per hidden frame over both silos, (seed x scale)."""
    g = df.groupby(["seed", "prior_scale"])[["log_lik", "hidden_frames"]].sum()
    return (g.log_lik / g.hidden_frames).unstack("prior_scale")


def summary(df):
    """Markdown table (per scale: mean and sd over seeds, paired difference to the best scale
    with its sd and the seeds where the best scale wins, states per silo) and the best scale."""
    table = per_seed(df)
    best = float(table.mean().idxmax())
    diff = table.sub(table[best], axis=0)
    states = df.groupby(["prior_scale", "silo"]).n_states.agg(["mean", "min", "max"])
    n = len(table)
    lines = [f"| prior_scale | held-out log lik / frame (mean +- sd, {n} seeds) | "
             f"paired difference to {best:g} (mean +- sd) | seeds where {best:g} is better | "
             "states subject 13 / 14 (mean, range) |", "|---|---|---|---|---|"]
    for scale in table.columns:
        d = diff[scale]
        mark = " **(chosen)**" if scale == best else ""
        wins = "-" if scale == best else f"{int((d < 0).sum())} of {n}"
        st = " / ".join(f"{states.loc[(scale, j), 'mean']:.1f} "
                        f"({states.loc[(scale, j), 'min']:.0f}-{states.loc[(scale, j), 'max']:.0f})"
                        for j in sorted(df.silo.unique()))
        lines.append(f"| {scale:g}{mark} | {table[scale].mean():.3f} +- {table[scale].std():.3f}"
                     f" | {d.mean():+.3f} +- {d.std():.3f} | {wins} | {st} |")
    return "\n".join(lines) + "\n", best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="data/mocap6")
    parser.add_argument("--scales", default="3,5,10,20,30")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--out", default="results/mocap/prior_scale")
    parser.add_argument("--n-jobs", type=int, default=1)
    args = parser.parse_args(argv)
    scales = [float(s) for s in args.scales.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    wall = time.perf_counter()
    df, cpu = held_out_rows(load_mocap(args.root), scales, seeds, n_jobs=args.n_jobs)
    out = Path(args.out)
    atomic_write_csv(df, out / "heldout.csv")
    config = {"model": {k: v for k, v in asdict(ModelCfg()).items() if k != "prior_scale"},
              "scales": scales, "seeds": seeds, "block_frames": BLOCK,
              "hidden_fraction": FRACTION, "silos": "subject",
              "command": "python -m experiments.mocap.prior_scale --scales "
                         f"{args.scales} --seeds {args.seeds}"}
    atomic_write_text(out / "config.json", json.dumps(config, indent=2) + "\n")
    table, best = summary(df)
    atomic_write_text(out / "summary.md", table)
    print(table + f"\nchosen prior_scale: {best:g}; {cpu:.0f} s CPU in the fits, "
          f"{time.perf_counter() - wall:.0f} s wall")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

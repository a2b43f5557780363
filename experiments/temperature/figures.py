"""Temperature figures, drawn from the tidy rows (and ``predictions.csv``) alone.

- ``rmse.png`` / ``nlpd.png``: self and across per method, bars coloured by the method's kind,
  the paper's Table 1 as black diamonds;
- ``sensitivity.png`` (runs with ``sensitivity: true``): SPAHM at every fixed grid point on the
  test days, apart from the methods, with the validation score that chose the values;
- ``predictions.png``: the named silo's test days with its own models (top) and another
  silo's models (bottom): per-silo models only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments import _plots
from experiments._runner import save_figure, summarise
from experiments.temperature.tables import (GRID, KIND, LABELS, PAPER_RMSE, VALIDATION,
                                            grid_table, methods_in, predictions_frame)

#: One colour per kind of method (the legend says which).
KIND_COLOURS = {"local": "tab:blue", "fused": "tab:red", "pooled": "tab:green",
                "experts": "tab:orange"}
KIND_LABELS = {"local": "a silo's own model", "fused": "fused, sent back to each silo",
               "pooled": "one model on pooled data", "experts": "combined local predictions"}


def plot(df, out_dir, cfg=None) -> list[Path]:
    """Draw every figure the rows allow into ``out_dir``; returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    out_dir = Path(out_dir)
    paths = [_bars(df, out_dir, kind, cfg) for kind in ("rmse", "nlpd")]
    if GRID in set(df.method):
        paths.append(_sensitivity(df, out_dir, cfg))
    if (out_dir / "predictions.csv").is_file():
        paths.append(_predictions(out_dir, cfg))
    return paths


def _bars(df, out_dir, kind, cfg):
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    methods = methods_in(df)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    pos = np.arange(len(methods))
    colours = [KIND_COLOURS[KIND[m]] for m in methods]
    for ax, where in zip(axes, ("self", "across")):
        metric = f"{kind}_{where}"
        s = summarise(df[df.method.isin(methods)], metric).set_index("method").reindex(methods)
        ax.bar(pos, s["mean"], yerr=np.nan_to_num(s["std"]), capsize=3, color=colours)
        if kind == "rmse":
            paper = [PAPER_RMSE.get(m, {}).get(metric, np.nan) for m in methods]
            ax.scatter(pos, paper, marker="D", color="black", zorder=3)
        ax.set_xticks(pos, [LABELS[m] for m in methods], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("RMSE (deg F)" if kind == "rmse" else "NLPD (nats, deg F)")
        ax.set_title(f"{kind.upper()} {where} (mean +- sd over splits)")
        ax.grid(axis="y", alpha=0.3)
    handles = [Patch(color=KIND_COLOURS[k], label=KIND_LABELS[k])
               for k in dict.fromkeys(KIND[m] for m in methods)]
    if kind == "rmse":
        handles.append(axes[0].scatter([], [], marker="D", color="black",
                                       label="paper Table 1 (GSOD, 50 states)"))
    axes[1].legend(handles=handles, fontsize=7, loc="upper right")
    fig.suptitle(_plots.title(cfg, f"Temperature forecasting: {kind.upper()}"), y=1.02)
    fig.tight_layout()
    path = out_dir / f"{kind}.png"
    save_figure(fig, path)
    return path


def _sensitivity(df, out_dir, cfg):
    import matplotlib.pyplot as plt

    test, val = grid_table(df, GRID), grid_table(df, VALIDATION)
    gammas = sorted({k[1] for k in test.index})
    chosen = df[(df.method == "spahm") & (df.metric == "sigma")].value
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=False)
    cmap = plt.get_cmap("plasma")
    for ax, where in zip(axes, ("self", "across")):
        metric = f"rmse_{where}"
        for i, g in enumerate(gammas):
            colour = cmap(0.75 * i / max(len(gammas) - 1, 1))
            t = test.xs((g, metric), level=("gamma0", "metric"))
            ax.errorbar(t.index, t["mean"], yerr=np.nan_to_num(t["std"]), marker="o", ms=4,
                        capsize=3, color=colour, label=f"test days, gamma0 = {g:g}")
            if (g, metric) in {(k[1], k[2]) for k in val.index}:
                v = val.xs((g, metric), level=("gamma0", "metric"))
                ax.plot(v.index, v["mean"], ls="--", marker="s", ms=3, mfc="none",
                        color=colour, label=f"validation days, gamma0 = {g:g}")
        for s in sorted(set(chosen)):
            ax.axvline(s, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_xlabel("sigma (standardised units); dotted: chosen on validation days")
        ax.set_ylabel("RMSE (deg F)")
        ax.set_title(f"SPAHM with fixed hyperparameters: RMSE {where}")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.suptitle(_plots.title(cfg, "Sensitivity (not used for choosing): every grid point"),
                 y=1.02)
    fig.tight_layout()
    path = out_dir / "sensitivity.png"
    save_figure(fig, path)
    return path


def _predictions(out_dir, cfg):
    import matplotlib.pyplot as plt

    pred = predictions_frame(out_dir / "predictions.csv")
    silo, other = pred.silo.iloc[0], pred.from_silo.iloc[0]
    methods = [m for m in LABELS if f"{m}_mean" in pred]
    fig, axes = plt.subplots(2, 1, figsize=(11, 7.5), sharex=True)
    views = (("", f"{silo}'s own models on {silo}'s test days (self)"),
             ("_from", f"{other}'s models on {silo}'s test days (across)"))
    styles = {"sgp50": ("-", 1.0), "sgp300": (":", 1.0), "spahm": ("-", 1.0),
              "spahm_eb": ("--", 0.8)}
    for ax, (suffix, title) in zip(axes, views):
        ax.plot(pred.date, pred.truth, color="black", lw=1.2, marker=".", ms=4, label="truth")
        for m in methods:
            ls, lw = styles.get(m, ("-", 1.0))
            ax.plot(pred.date, pred[f"{m}{suffix}_mean"], color=KIND_COLOURS[KIND[m]], ls=ls,
                    lw=lw, alpha=0.85, label=LABELS[m])
        ax.set_ylabel("daily mean temperature (deg F)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.08))
    fig.suptitle(_plots.title(cfg, "One-day-ahead forecasts, test days of split 0"), y=1.0)
    fig.tight_layout()
    path = out_dir / "predictions.png"
    save_figure(fig, path)
    return path

"""Temperature figures, drawn from the tidy rows (and ``predictions.csv``) alone.

- ``rmse.png`` / ``nlpd.png``: self and across per method, bars coloured by the method, the
  paper's Table 1 as black diamonds, the legend below the panels;
- ``sensitivity.png`` (runs with ``sensitivity: true``): SPAHM at every fixed grid point on the
  test days, apart from the methods, with the validation score that chose the values and the
  chosen point marked;
- ``budget.png``: the validation score against the compression each sigma gives (a
  deployment that must send fewer points chooses here), the paper's 0.116 marked;
- ``predictions.png``: the named silo's test days with its own models (top) and another
  silo's models (bottom), with +- 2 sd predictive bands: per-silo models only;
- ``map.png`` (runs with per-silo rows): each silo at its stations' mean longitude and
  latitude, coloured by how much lower SPAHM's RMSE across is than the local SGP's.

Titles say what is shown; a run's overrides are in its README and ``config.yaml``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments._runner import save_figure, summarise
from experiments.temperature.claims import PAPER_GLOBAL_ATOMS, PAPER_LOCAL_ATOMS
from experiments.temperature.tables import (GRID, LABELS, PAPER_RMSE, SILO, VALIDATION,
                                            grid_table, methods_in, predictions_frame)

#: One fixed colour per method (the same in every figure): blues a silo's own model, red
#: fused, green pooled, oranges / browns combined local predictions.
COLOURS = {"sgp50": "tab:blue", "sgp300": "navy", "spahm": "tab:red", "spahm_eb": "salmon",
           "pooled": "tab:green", "average": "tab:brown", "gpoe": "tab:orange",
           "rbcm": "goldenrod"}
PAPER_COMPRESSION = PAPER_GLOBAL_ATOMS[0] / PAPER_LOCAL_ATOMS


def plot(df, out_dir, cfg=None) -> list[Path]:
    """Draw every figure the rows allow into ``out_dir``; returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    out_dir = Path(out_dir)
    paths = [_bars(df, out_dir, kind, cfg) for kind in ("rmse", "nlpd")]
    if GRID in set(df.method):
        paths.append(_sensitivity(df, out_dir, cfg))
    if VALIDATION in set(df.method) and "compression" in set(df[df.method == VALIDATION].metric):
        paths.append(_budget(df, out_dir))
    if (out_dir / "predictions.csv").is_file():
        paths.append(_predictions(out_dir, cfg))
    if SILO in set(df.method):
        paths.append(_map(df, out_dir))
    return [p for p in paths if p is not None]


def _bars(df, out_dir, kind, cfg):
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    methods = methods_in(df)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    pos = np.arange(len(methods))
    for ax, where in zip(axes, ("self", "across")):
        metric = f"{kind}_{where}"
        s = summarise(df[df.method.isin(methods)], metric).set_index("method").reindex(methods)
        ax.bar(pos, s["mean"], yerr=np.nan_to_num(s["std"]), capsize=3,
               color=[COLOURS[m] for m in methods])
        if kind == "rmse":
            paper = [PAPER_RMSE.get(m, {}).get(metric, np.nan) for m in methods]
            ax.scatter(pos, paper, marker="D", color="black", zorder=3)
        ax.set_xticks(pos, [LABELS[m] for m in methods], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("RMSE (deg F)" if kind == "rmse" else "NLPD (nats, deg F)")
        ax.set_title(f"{kind.upper()} {where} (mean +- sd over splits)", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    handles = [Patch(color=COLOURS[m], label=LABELS[m]) for m in methods]
    if kind == "rmse":
        handles.append(axes[0].scatter([], [], marker="D", color="black",
                                       label="paper Table 1 (GSOD, 50 states)"))
    fig.suptitle(f"Temperature forecasting: {kind.upper()} per method ({_run_name(cfg)})")
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.legend(handles=handles, fontsize=8, loc="lower center", ncol=min(len(handles), 5),
               frameon=False)
    path = out_dir / f"{kind}.png"
    save_figure(fig, path)
    return path


def _run_name(cfg):
    """``weather5, one silo per city`` from a run's config (or "temperature")."""
    from omegaconf import OmegaConf

    if cfg is None:
        return "temperature"
    source = OmegaConf.select(cfg, "data.source", default=None)
    silos = OmegaConf.select(cfg, "data.silos", default=None)
    return f"{source}, one silo per {silos}" if source else "temperature"


def _sigma_units(cfg):
    from omegaconf import OmegaConf

    scale = OmegaConf.select(cfg, "model.input_scale", default=None) if cfg is not None else None
    return ("standardised units" if scale in (None, "none")
            else "inputs in the silos' shared lengthscales")


def _chosen(df):
    """sigma values chosen on validation days, with the number of splits each."""
    chosen = df[(df.method == "spahm") & (df.metric == "sigma")].value
    return chosen.value_counts().sort_index()


def _sensitivity(df, out_dir, cfg):
    import matplotlib.pyplot as plt

    test, val = grid_table(df, GRID), grid_table(df, VALIDATION)
    gammas = sorted({k[1] for k in test.index})
    chosen = _chosen(df)
    n_splits = int(df.trial.nunique())
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), sharey=False)
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
        for k, (sigma, count) in enumerate(chosen.items()):
            t = test.xs(metric, level="metric")
            at = t[np.isclose(t.index.get_level_values("sigma"), sigma)]
            if len(at):
                y = at["mean"].min()
                ax.scatter([sigma], [y], marker="*", s=260, color="gold", edgecolor="black",
                           zorder=5, label="chosen on validation days" if k == 0 else None)
                ax.annotate(f"chosen: sigma {sigma:g}\n({count} of {n_splits} splits)",
                            (sigma, y), textcoords="offset points", xytext=(8, 14), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel(f"sigma ({_sigma_units(cfg)})")
        ax.set_ylabel("RMSE (deg F)")
        ax.set_title(f"SPAHM at fixed sigma: RMSE {where}", fontsize=10)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.suptitle(f"Sensitivity, not used for choosing ({_run_name(cfg)})")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=min(len(labels), 4),
               frameon=False)
    path = out_dir / "sensitivity.png"
    save_figure(fig, path)
    return path


def _budget(df, out_dir):
    """Validation score against compression: what each sigma costs, judged on validation
    days only; the chosen point and the paper's compression marked."""
    import matplotlib.pyplot as plt

    val = grid_table(df, VALIDATION)
    chosen = _chosen(df)
    fig, ax = plt.subplots(figsize=(7.2, 4.8))
    cmap = plt.get_cmap("plasma")
    gammas = sorted({k[1] for k in val.index})
    for i, g in enumerate(gammas):
        sub = val.xs(g, level="gamma0")
        have = {k[1] for k in sub.index}
        if not {"compression", "score"} <= have:
            continue
        comp = sub.xs("compression", level="metric")["mean"]
        score = sub.xs("score", level="metric")
        colour = cmap(0.75 * i / max(len(gammas) - 1, 1))
        ax.errorbar(comp, score["mean"], yerr=np.nan_to_num(score["std"]), marker="o", ms=4,
                    capsize=3, color=colour, label=f"gamma0 = {g:g}")
        for sigma, x, y in zip(comp.index, comp, score["mean"]):
            ax.annotate(f"{sigma:g}", (x, y), textcoords="offset points", xytext=(4, -10),
                        fontsize=7, color=colour)
            if any(np.isclose(sigma, c) for c in chosen.index):
                ax.scatter([x], [y], marker="*", s=260, color="gold", edgecolor="black",
                           zorder=5, label="chosen on validation days")
    ax.axvline(PAPER_COMPRESSION, color="black", ls=":", lw=1)
    ax.annotate(f"paper: {PAPER_COMPRESSION:.3f}\n(289 of 2,500)", (PAPER_COMPRESSION, 0.98),
                xycoords=("data", "axes fraction"), xytext=(4, -4), textcoords="offset points",
                fontsize=8, va="top")
    ax.set_xscale("log")
    ax.set_xlabel("compression: global points / local atoms (points labelled with sigma)")
    ax.set_ylabel("validation score: mean of RMSE self and across (deg F)")
    ax.set_title("Budget view: accuracy on validation days against points sent", fontsize=10)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    keep = dict(zip(labels, handles))
    ax.legend(keep.values(), keep.keys(), fontsize=8, loc="upper right")
    fig.tight_layout()
    path = out_dir / "budget.png"
    save_figure(fig, path)
    return path


def _map(df, out_dir):
    """Each silo at its stations' mean position, coloured by RMSE across gained by SPAHM
    over the silo's own 50-point SGP (mean over splits)."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    rows = df[(df.method == SILO) & (df.metric == "rmse_across")]
    table = rows.pivot_table(index=["silo", "latitude", "longitude"], columns="model",
                             values="value", aggfunc="mean").reset_index()
    if not {"sgp50", "spahm"} <= set(table.columns):
        return None
    gain = table["sgp50"] - table["spahm"]
    fig, ax = plt.subplots(figsize=(10, 5.6))
    lo, hi = min(gain.min(), -1e-6), max(gain.max(), 1e-6)
    sc = ax.scatter(table.longitude, table.latitude, c=gain, s=260, cmap="RdBu",
                    norm=TwoSlopeNorm(0.0, lo, hi), edgecolor="black", linewidth=0.5)
    for _, r in table.iterrows():
        ax.annotate(r.silo, (r.longitude, r.latitude), ha="center", va="center", fontsize=6)
    fig.colorbar(sc, ax=ax, label="RMSE across: local SGP (50) minus SPAHM (deg F)")
    ax.set_xlabel("longitude (mean of the silo's stations)")
    ax.set_ylabel("latitude")
    ax.set_title(f"Where fusion helps: RMSE across gained by SPAHM over each silo's own SGP "
                 f"({len(table)} silos; mean over splits)", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = out_dir / "map.png"
    save_figure(fig, path)
    return path


def _predictions(out_dir, cfg):
    import matplotlib.pyplot as plt

    pred = predictions_frame(out_dir / "predictions.csv")
    silo, other = pred.silo.iloc[0], pred.from_silo.iloc[0]
    methods = [m for m in LABELS if f"{m}_mean" in pred]
    fig, axes = plt.subplots(2, 1, figsize=(11, 8), sharex=True)
    views = (("", f"{silo}'s own models on {silo}'s test days (self)"),
             ("_from", f"{other}'s models on {silo}'s test days (across)"))
    # both local SGPs stay visible where they coincide: 300 points drawn thick and pale
    # underneath, 50 points thin on top
    styles = {"sgp300": dict(ls="-", lw=3.5, alpha=0.45, zorder=2),
              "sgp50": dict(ls="-", lw=1.2, alpha=1.0, zorder=3),
              "spahm": dict(ls="-", lw=1.4, alpha=0.95, zorder=4),
              "spahm_eb": dict(ls="--", lw=1.0, alpha=0.9, zorder=4)}
    banded = [m for m in ("sgp50", "spahm") if m in methods]
    for ax, (suffix, title) in zip(axes, views):
        for m in banded:
            mean, sd = pred[f"{m}{suffix}_mean"], pred[f"{m}{suffix}_sd"]
            ax.fill_between(pred.date, mean - 2 * sd, mean + 2 * sd, color=COLOURS[m],
                            alpha=0.15, linewidth=0, label=f"{LABELS[m]}: +- 2 sd")
        ax.plot(pred.date, pred.truth, color="black", lw=1.0, marker=".", ms=5, zorder=6,
                label="truth")
        for m in methods:
            ax.plot(pred.date, pred[f"{m}{suffix}_mean"], color=COLOURS[m],
                    label=LABELS[m], **styles.get(m, dict(ls="-", lw=1.0)))
        ax.set_ylabel("mean temperature (deg F)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.suptitle(f"Forecasts on the test days of split 0, with predictive bands "
                 f"({_run_name(cfg)})")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.legend(handles, labels, fontsize=8, ncol=4, loc="lower center", frameon=False)
    path = out_dir / "predictions.png"
    save_figure(fig, path)
    return path

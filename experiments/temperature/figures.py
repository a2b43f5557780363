"""Temperature figures, drawn from the tidy rows (and ``predictions.csv``) alone, in the
experiments' one look (:mod:`experiments._plots`: a fixed colour per method, display names,
legends outside the axes, a caption under them saying what bars, bands and error bars show
and holding the run's overrides).

- ``rmse.png`` / ``nlpd.png``: self and across per method, the paper's Table 1 as black
  diamonds (RMSE; the paper gives no NLPD);
- ``sensitivity.png`` (runs with ``sensitivity: true``): SPAHM at every point of the selection
  grid on the test days, one colour per gamma0, beside the validation score that chose the
  values, the chosen points starred;
- ``budget.png``: the validation score against the compression each (sigma, gamma0) gives (a
  deployment that must send fewer points chooses here), the paper's compression marked;
- ``predictions.png``: the named silo's test days with its own models (top) and another
  silo's models (bottom), with +- 2 sd predictive bands: per-silo models only;
- ``map.png`` (runs with per-silo rows): each silo at its stations' mean longitude and
  latitude, coloured by how much lower SPAHM's RMSE across is than the local SGP's.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments import _plots
from experiments._runner import summarise
from experiments.temperature.claims import PAPER_GLOBAL_ATOMS, PAPER_LOCAL_ATOMS, PAPER_RMSE
from experiments.temperature.tables import (GRID, LABELS, SILO, VALIDATION, grid_table,
                                            methods_in, predictions_frame)

PAPER_COMPRESSION = PAPER_GLOBAL_ATOMS[0] / PAPER_LOCAL_ATOMS
PAPER_SOURCE = "Table 1: GSOD, 50 US states, mean of 10 repetitions"
UNITS = {"rmse": "RMSE (deg F)", "nlpd": "NLPD (nats, deg F)"}
WHERE = {"self": "each silo's model on its own test days",
         "across": "each silo's model on every silo's test days"}
STAR = dict(marker="*", s=260, color="gold", edgecolor="black", zorder=6)


def plot(df, out_dir, cfg=None) -> list[Path]:
    """Draw every figure the rows allow into ``out_dir``; returns the paths written."""
    out_dir = Path(out_dir)
    paths = [_bars(df, out_dir, kind, cfg) for kind in ("rmse", "nlpd")]
    if GRID in set(df.method):
        paths.append(_sensitivity(df, out_dir, cfg))
    if VALIDATION in set(df.method) and "compression" in set(df[df.method == VALIDATION].metric):
        paths.append(_budget(df, out_dir, cfg))
    if (out_dir / "predictions.csv").is_file():
        paths.append(_predictions(out_dir, cfg))
    if SILO in set(df.method):
        paths.append(_map(df, out_dir, cfg))
    return [p for p in paths if p is not None]


def _caption(*parts, cfg=None):
    return " ".join(filter(None, [*parts, _plots.overrides(cfg)]))


def _bars(df, out_dir, kind, cfg):
    methods = methods_in(df)
    fig, axes = _plots.plt.subplots(1, 2, figsize=(10, 4.2))
    paper_any = False
    for ax, where in zip(axes, ("self", "across")):
        metric = f"{kind}_{where}"
        table = summarise(df[df.method.isin(methods)], metric).set_index("method").reindex(methods)
        table.index = [LABELS[m] for m in methods]
        paper = {LABELS[m]: PAPER_RMSE[m][metric] for m in methods
                 if metric in PAPER_RMSE.get(m, {})}
        paper_any = paper_any or bool(paper)
        _plots.draw_bars(ax, table, methods, paper, label="_ours",
                         paper_label="the paper (Table 1)",
                         rotation=30, fontsize=8)
        ax.set_ylabel(UNITS[kind])
        ax.set_title(f"{kind.upper()} {where}: {WHERE[where]}", fontsize=9)
    fig.suptitle(f"Temperature forecasting: {kind.upper()} per method ({_run_name(cfg)})",
                 fontsize=11)
    fig.tight_layout()
    paper_text = (f"Black diamonds: the paper's values ({PAPER_SOURCE}; no sd given)."
                  if paper_any else "The paper reports no NLPD.")
    path = out_dir / f"{kind}.png"
    _plots.finish(fig, path, _caption(_plots.bars_caption(table, unit="split"), paper_text,
                                      cfg=cfg), axes=axes, width=150)
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
    """(sigma, gamma0) chosen on each split's validation days -> the number of splits."""
    rows = df[(df.method == "spahm") & df.metric.isin(["sigma", "gamma0"])]
    pairs = rows.pivot_table(index="trial", columns="metric", values="value")
    if not {"sigma", "gamma0"} <= set(pairs.columns):
        return {}
    return pairs.groupby(["sigma", "gamma0"]).size().to_dict()


def _n_silos(df):
    values = df[(df.method == "spahm") & (df.metric == "n_silos")].value
    return float(values.iloc[0]) if len(values) else None


def _gamma_styles(gammas, df):
    """gamma0 -> (colour, legend label): one colour per value of the grid, in order."""
    J = _n_silos(df)
    return {g: (c, f"$\\gamma_0$ = {g:g}" + (f" ({g / J:g} J)" if J else ""))
            for g, c in zip(gammas, _plots.ordered_colours(len(gammas)))}


def _gamma_legend(ax, looks):
    """One legend entry per gamma0, before any other (the lines carry none)."""
    for colour, label in looks.values():
        ax.plot([], [], color=colour, marker="o", ms=4, label=label)


def _chosen_text(chosen, n_splits):
    return "Gold stars: the (sigma, gamma0) chosen on validation days: " + "; ".join(
        f"sigma {s:g}, gamma0 {g:g} in {n} of {n_splits} splits"
        for (s, g), n in sorted(chosen.items())) + "." if chosen else ""


def _sensitivity(df, out_dir, cfg):
    test, val = grid_table(df, GRID), grid_table(df, VALIDATION)
    gammas = sorted({k[1] for k in test.index})
    looks = _gamma_styles(gammas, df)
    chosen = _chosen(df)
    n_splits = int(df.trial.nunique())
    fig, axes = _plots.plt.subplots(1, 2, figsize=(10, 4.2))
    val_keys = {(k[1], k[2]) for k in val.index}
    _gamma_legend(axes[0], looks)
    grey = "#555555"
    axes[0].plot([], [], marker="o", ms=4, color=grey, label="test days (solid)")
    axes[0].plot([], [], ls="--", marker="s", ms=4, mfc="none", color=grey,
                 label="validation days (dashed)")
    sigmas = sorted({k[0] for k in test.index})
    for ax, where in zip(axes, ("self", "across")):
        metric = f"rmse_{where}"
        for g in gammas:
            colour = looks[g][0]
            t = test.xs((g, metric), level=("gamma0", "metric"))
            ax.errorbar(t.index, t["mean"], yerr=np.nan_to_num(t["std"]), marker="o", ms=4,
                        capsize=3, color=colour, label="_test")
            if (g, metric) in val_keys:
                v = val.xs((g, metric), level=("gamma0", "metric"))
                ax.plot(v.index, v["mean"], ls="--", marker="s", ms=4, mfc="none",
                        color=colour, label="_validation")
            for (sigma, gamma), _ in chosen.items():
                at = t[np.isclose(t.index, sigma)] if np.isclose(gamma, g) else t.iloc[:0]
                if len(at):
                    ax.scatter([sigma], [at["mean"].iloc[0]], **STAR,
                               label="chosen on validation days")
        _plots.axes_style(ax, f"sigma ({_sigma_units(cfg)})", "RMSE (deg F)",
                          f"RMSE {where}: {WHERE[where]}", logx=True, xticks=_ticks(sigmas))
        ax.title.set_fontsize(9)
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle(f"SPAHM at every grid point: sensitivity, not used for choosing "
                 f"({_run_name(cfg)})", fontsize=11)
    fig.tight_layout()
    path = out_dir / "sensitivity.png"
    _plots.finish(fig, path, _caption(
        f"Solid: RMSE on the test days, mean over {n_splits} splits, error bars +-1 sd over "
        "the splits; dashed, hollow: the same RMSE on the validation days (mean), which the "
        "choice used (through its score, the mean of self and across).",
        _chosen_text(chosen, n_splits), "The paper shows no sensitivity.", cfg=cfg), axes=axes,
        width=150)
    return path


def _budget(df, out_dir, cfg):
    """Validation score against compression: what each (sigma, gamma0) costs, judged on
    validation days only; the chosen points and the paper's compression marked."""
    val = grid_table(df, VALIDATION)
    chosen = _chosen(df)
    gammas = sorted({k[1] for k in val.index})
    looks = _gamma_styles(gammas, df)
    fig, ax = _plots.plt.subplots(figsize=(7.0, 4.4))
    _gamma_legend(ax, looks)
    points = []  # (x, y, sigma, gamma0) of every drawn point, for the sigma labels
    for g in gammas:
        sub = val.xs(g, level="gamma0")
        if not {"compression", "score"} <= {k[1] for k in sub.index}:
            continue
        comp = sub.xs("compression", level="metric")["mean"]
        score = sub.xs("score", level="metric").reindex(comp.index)
        ax.errorbar(comp, score["mean"], yerr=np.nan_to_num(score["std"]), marker="o", ms=4,
                    capsize=3, color=looks[g][0], label="_score")
        for sigma, x, y in zip(comp.index, comp, score["mean"]):
            points.append((x, y, sigma, g))
            if any(np.isclose(sigma, s) and np.isclose(g, c) for s, c in chosen):
                ax.scatter([x], [y], **STAR, label="chosen on validation days")
    ax.axvline(PAPER_COMPRESSION, color="black", ls=":", lw=1.2,
               label=f"the paper's compression, {PAPER_COMPRESSION:.3f}\n"
                     f"({PAPER_GLOBAL_ATOMS[0]} of {PAPER_LOCAL_ATOMS:,} points)")
    _plots.axes_style(ax, "compression: global points / local atoms (log scale)",
                      "validation score (deg F):\nmean of RMSE self and across", logx=True)
    ax.set_title("Budget: accuracy on validation days against the share of points kept",
                 fontsize=10)
    # sigma labels on one line only (the one nearest the paper's gamma0 = J): the lines
    # run side by side, and labels on all of them overlap
    J = _n_silos(df) or 1.0
    labelled = min(gammas, key=lambda g: abs(np.log(g / J)))
    _label_sigmas(ax, [p for p in points if p[3] == labelled], looks)
    n_splits = int(df.trial.nunique())
    path = out_dir / "budget.png"
    _plots.finish(fig, path, _caption(
        f"Each point: one (sigma, gamma0) of the selection grid; its mean compression and "
        f"mean validation score over {n_splits} splits, error bars +-1 sd of the score over "
        f"the splits; numbers beside the gamma0 = {labelled:g} points: sigma (a range where "
        "points coincide).",
        _chosen_text(chosen, n_splits), cfg=cfg), axes=ax)
    return path


def _ticks(values, most=8):
    """Tick at the grid's values (every other one when there are many)."""
    step = int(np.ceil(len(values) / most))
    return values[::step]


def _label_sigmas(ax, points, looks, near=14):
    """Each point's sigma beside it; points closer than ``near`` pixels share one label
    (their sigma range), in their gamma0's colour or grey when several gamma0 share it."""
    ax.figure.canvas.draw()
    xy = ax.transData.transform([(x, y) for x, y, _, _ in points]) if points else []
    groups = []
    for p, at in zip(points, xy):
        for group in groups:
            if np.hypot(*(at - group[0])) < near:
                group[1].append(p)
                break
        else:
            groups.append((at, [p]))
    for _, members in groups:
        sigmas = sorted({p[2] for p in members})
        gammas = {p[3] for p in members}
        text = f"{sigmas[0]:g}" if len(sigmas) == 1 else f"{sigmas[0]:g}-{sigmas[-1]:g}"
        colour = looks[members[0][3]][0] if len(gammas) == 1 else "#444444"
        ax.annotate(text, members[0][:2], textcoords="offset points", xytext=(6, 3),
                    fontsize=7, color=colour, zorder=7,
                    bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.7))


def _map(df, out_dir, cfg):
    """Each silo at its stations' mean position, coloured by RMSE across gained by SPAHM
    over the silo's own 50-point SGP (mean over splits)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.transforms import offset_copy

    rows = df[(df.method == SILO) & (df.metric == "rmse_across")]
    table = rows.pivot_table(index=["silo", "latitude", "longitude"], columns="model",
                             values="value", aggfunc="mean").reset_index()
    if not {"sgp50", "spahm"} <= set(table.columns):
        return None
    table["gain"] = table["sgp50"] - table["spahm"]
    fig, ax = _plots.plt.subplots(figsize=(9, 5.0))
    top = max(float(table.gain.abs().max()), 1e-6)  # white: no gain, as far either way
    sc = ScalarMappable(Normalize(-top, top), "RdBu")
    ax.update_datalim(table[["longitude", "latitude"]].to_numpy())
    inside = table.silo.astype(str).str.len().max() <= 3  # short names fit in the circles
    west, east = table.longitude.min(), table.longitude.max()
    # silos at one position (one city's years) side by side, one label for the group
    for (lat, lon), group in table.groupby(["latitude", "longitude"], sort=False):
        shifts = (np.arange(len(group)) - (len(group) - 1) / 2) * 17  # points
        for dx, (_, r) in zip(shifts, group.iterrows()):
            at = offset_copy(ax.transData, fig=fig, x=dx, y=0, units="points")
            ax.scatter([lon], [lat], color=sc.to_rgba(r.gain), s=260, edgecolor="black",
                       linewidth=0.5, transform=at)
            if inside:
                ax.annotate(r.silo, (lon, lat), xytext=(dx, 0), textcoords="offset points",
                            fontsize=6, ha="center", va="center")
        if not inside:  # beside the group, on the side away from the right edge
            left = lon > west + 0.7 * (east - west)
            ax.annotate(_group_name(group.silo.astype(str).tolist()), (lon, lat),
                        xytext=(shifts[0] - 10 if left else shifts[-1] + 10, -3),
                        textcoords="offset points", fontsize=8, ha="right" if left else "left")
    fig.colorbar(sc, ax=ax, label="RMSE across: local SGP (50) minus SPAHM (deg F)")
    _plots.axes_style(ax, "longitude (mean of the silo's stations)", "latitude",
                      f"Where fusion helps: RMSE across gained by SPAHM over each silo's own "
                      f"SGP ({len(table)} silos)")
    ax.title.set_fontsize(10)
    ax.margins(x=0.08, y=0.1)
    n_splits = int(rows.trial.nunique())
    path = out_dir / "map.png"
    _plots.finish(fig, path, _caption(
        f"Colour: the silo's RMSE across under its own 50-point SGP minus under SPAHM, mean "
        f"over {n_splits} splits (blue: SPAHM forecasts the other silos better; red: worse). "
        "The paper shows no map.", cfg=cfg), axes=ax, legend=False)
    return path


def _group_name(names):
    """``Chicago 2016 / 2017`` for silos sharing their first words, else the names joined."""
    parts = [n.rsplit(" ", 1) for n in names]
    if len(names) > 1 and all(len(p) == 2 for p in parts) and len({p[0] for p in parts}) == 1:
        return f"{parts[0][0]} " + " / ".join(p[1] for p in parts)
    return " / ".join(names)


def _predictions(out_dir, cfg):
    pred = predictions_frame(out_dir / "predictions.csv")
    silo, other = pred.silo.iloc[0], pred.from_silo.iloc[0]
    methods = [m for m in LABELS if f"{m}_mean" in pred]
    fig, axes = _plots.plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    views = (("", f"{silo}'s own models on {silo}'s test days (self)"),
             ("_from", f"{other}'s models on {silo}'s test days (across)"))
    # both local SGPs stay visible where they coincide: 300 points drawn thick and pale
    # underneath, 50 points thin on top
    widths = {"sgp300": dict(lw=5.0, alpha=0.6, zorder=2, ls="-"),
              "sgp50": dict(lw=3.0, zorder=3), "spahm": dict(lw=1.6, zorder=4),
              "spahm_eb": dict(lw=1.0, zorder=5)}
    banded = [m for m in ("sgp50", "spahm") if m in methods]
    for ax, (suffix, title) in zip(axes, views):
        for m in banded:
            mean, sd = pred[f"{m}{suffix}_mean"], pred[f"{m}{suffix}_sd"]
            ax.fill_between(pred.date, mean - 2 * sd, mean + 2 * sd, color=_plots.colour(m),
                            alpha=0.15, linewidth=0, label=f"{LABELS[m]}: +- 2 sd")
        ax.plot(pred.date, pred.truth, color="black", lw=1.0, marker=".", ms=5, zorder=6,
                label="truth")
        for m in methods:
            st = _plots.style(m)
            ax.plot(pred.date, pred[f"{m}{suffix}_mean"], label=LABELS[m],
                    **{"color": st["color"], "ls": st["linestyle"],
                       **widths.get(m, dict(lw=1.0, zorder=4))})
        ax.set_ylabel("mean temperature (deg F)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Forecasts on the test days of split 0 ({_run_name(cfg)})", fontsize=11)
    fig.tight_layout()
    path = out_dir / "predictions.png"
    _plots.finish(fig, path, _caption(
        "Lines: predictive means; shaded: +-2 predictive sd of the local SGP (50) and SPAHM. "
        "Where means coincide the lines stay visible, each drawn thinner over the one before: "
        "local SGP (300) thick and pale, local SGP (50), SPAHM, SPAHM with empirical Bayes "
        "dashed. One split: no spread over splits.", cfg=cfg), axes=axes, width=150)
    return path

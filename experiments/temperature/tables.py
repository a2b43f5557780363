"""The temperature report: our Table 1 beside the paper's, the chosen hyperparameters, the
compression, the paper's orderings and the sensitivity table (from the tidy rows alone)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from experiments._runner import mean_sd, summarise
from experiments.temperature.claims import (CLAIMS, PAPER_GLOBAL_ATOMS, PAPER_LOCAL_ATOMS,
                                           PAPER_RMSE)

#: Method -> label, in the order of the figures and tables.
LABELS = {
    "sgp50": "local SGPs (50)",
    "sgp300": "local SGPs (300)",
    "spahm": "SPAHM (chosen on validation days)",
    "spahm_eb": "SPAHM, empirical Bayes",
    "pooled": "SGP on pooled data",
    "average": "average of local SGPs",
    "gpoe": "gPoE of local SGPs",
    "rbcm": "rBCM of local SGPs",
}
#: What each method is, for colours and tables: a silo's own model, the fused model sent back
#: to each silo, one model on pooled data, or a combination of the local models' predictions.
KIND = {"sgp50": "local", "sgp300": "local", "spahm": "fused", "spahm_eb": "fused",
        "pooled": "pooled", "average": "experts", "gpoe": "experts", "rbcm": "experts"}
#: Rows that are not methods: the selection's validation scores and the sensitivity grid.
VALIDATION, GRID = "spahm_validation", "spahm_grid"
#: Per-silo RMSE rows of the local SGP and SPAHM (columns model, silo, latitude, longitude).
SILO = "per_silo"


def methods_in(df):
    """The methods (not the validation / sensitivity rows) present, in LABELS order."""
    return [m for m in LABELS if m in set(df.method)]


def cell(df, method, metric, digits=2):
    s = summarise(df[df.method == method], metric)
    if s.empty:
        return "-"
    r = s.iloc[0]
    return mean_sd(r["mean"], r["std"], int(r["count"]), digits)


def grid_table(df, method):
    """mean, sd, count per (sigma, gamma0, metric) of the ``method`` grid rows."""
    keys = ["sigma", "gamma0", "metric"]
    return summarise(df[df.method == method], None, keys).set_index(keys).sort_index()


def report(df, cfg=None) -> str:
    """Markdown: ours (mean +- sd over trials) beside paper Table 1, then the hyperparameters
    chosen on validation days, compression, orderings, and the labelled sensitivity table."""
    lab = LABELS
    methods = methods_in(df)
    n = int(df.trial.nunique()) if len(df) else 0
    source = OmegaConf.select(cfg, "data.source", default=None) if cfg is not None else None
    silos = OmegaConf.select(cfg, "data.silos", default=None) if cfg is not None else None
    title = f"{source}, one silo per {silos}" if source else "temperature"
    lines = [f"### Temperature forecasting ({title}): RMSE (deg F) and NLPD, mean +- sd over "
             f"{n} random splits", "",
             "| method | kind | RMSE self | paper | RMSE across | paper | NLPD self | NLPD across |",
             "|---|---|---|---|---|---|---|---|"]
    for m in methods:
        p = {k: f"{v:.3f}" for k, v in PAPER_RMSE.get(m, {}).items()}
        lines.append(f"| {lab[m]} | {KIND[m]} | {cell(df, m, 'rmse_self')} | "
                     f"{p.get('rmse_self', '-')} | {cell(df, m, 'rmse_across')} | "
                     f"{p.get('rmse_across', '-')} | {cell(df, m, 'nlpd_self')} | "
                     f"{cell(df, m, 'nlpd_across')} |")

    fused = [m for m in ("spahm", "spahm_eb") if m in methods]
    if fused:
        lines += ["", "### Compression: global inducing points / local atoms sent", "",
                  "Local atoms: the live inducing points (inside the silo's data, "
                  "`model.dead_margin`); all: every local inducing point.", "",
                  "| | global points | local atoms (live) | all inducing points | compression | "
                  "compression (all) |", "|---|---|---|---|---|---|"]
        for m in fused:
            lines.append(f"| {lab[m]} | {cell(df, m, 'n_global_atoms', 1)} | "
                         f"{cell(df, m, 'n_local_atoms', 1)} | "
                         f"{cell(df, m, 'n_inducing_points', 0)} | {cell(df, m, 'compression', 3)} | "
                         f"{cell(df, m, 'compression_all', 3)} |")
        lines.append(f"| paper (GSOD, 50 states) | {PAPER_GLOBAL_ATOMS[0]} +- "
                     f"{PAPER_GLOBAL_ATOMS[1]} | - | {PAPER_LOCAL_ATOMS:,} | - | "
                     f"{PAPER_GLOBAL_ATOMS[0] / PAPER_LOCAL_ATOMS:.3f} |")

    if "spahm" in methods:
        lines += ["", "### sigma and gamma0 chosen on each split's validation days "
                  "(training data only)", "",
                  "| split | sigma | gamma0 | gamma0 / J | validation score (deg F) |",
                  "|---|---|---|---|---|"]
        wide = df[df.method == "spahm"].pivot_table(index="trial", columns="metric",
                                                      values="value")
        val = df[(df.method == VALIDATION) & (df.metric == "score")]
        edges = []
        for t, r in wide.iterrows():
            chosen = val[(val.trial == t) & np.isclose(val.sigma, r["sigma"])
                         & np.isclose(val.gamma0, r["gamma0"])]
            score = f"{chosen.value.iloc[0]:.3f}" if len(chosen) else "-"
            J = r["n_silos"] if "n_silos" in r else np.nan
            lines.append(f"| {int(t)} | {r['sigma']:g} | {r['gamma0']:g} | "
                         f"{r['gamma0'] / J:g} | {score} |")
            grid = val[val.trial == t]
            for name in ("sigma", "gamma0"):
                if len(grid) and grid[name].nunique() > 1 and r[name] in (grid[name].min(),
                                                                          grid[name].max()):
                    edges.append((name, r[name], int(t)))
        if edges:
            at = {}
            for name, value, t in edges:
                at.setdefault((name, value), []).append(str(t))
            lines += ["", "At the edge of the grid (the best value may lie beyond it): "
                      + "; ".join(f"{name} = {value:g} in split(s) {', '.join(ts)}"
                                  for (name, value), ts in at.items()) + "."]
    if "spahm_eb" in methods:
        eb = df[df.method == "spahm_eb"].pivot_table(index="trial", columns="metric",
                                                      values="value")
        lines += ["", "### Empirical Bayes (per dimension) over the splits", "",
                  f"- RMSE self {cell(df, 'spahm_eb', 'rmse_self')}, across "
                  f"{cell(df, 'spahm_eb', 'rmse_across')} (sd over splits; worst split: self "
                  f"{eb['rmse_self'].max():.2f}, across {eb['rmse_across'].max():.2f})",
                  f"- global points {eb['n_global_atoms'].min():.0f} to "
                  f"{eb['n_global_atoms'].max():.0f}; estimated sigma per dimension from "
                  f"{eb['sigma_min'].min():.3g} to {eb['sigma_max'].max():.3g}"]

    lines += ["", CLAIMS.section(df).rstrip()]

    if GRID in set(df.method):
        g = grid_table(df, GRID)
        v = grid_table(df, VALIDATION)
        lines += ["", "### Sensitivity (NOT used for choosing): SPAHM at every grid point, "
                  "scored on the test days", "",
                  "Fixed sigma and gamma0 on the same local models; the validation score is "
                  "what chose the row above.", "",
                  "| sigma | gamma0 | RMSE self | RMSE across | global points | compression | "
                  "validation score |", "|---|---|---|---|---|---|---|"]
        for (sigma, gamma0) in dict.fromkeys(k[:2] for k in g.index):
            def c(table, metric, digits=2):
                key = (sigma, gamma0, metric)
                if key not in table.index:
                    return "-"
                r = table.loc[key]
                return mean_sd(r["mean"], r["std"], int(r["count"]), digits)
            lines.append(f"| {sigma:g} | {gamma0:g} | {c(g, 'rmse_self')} | "
                         f"{c(g, 'rmse_across')} | {c(g, 'n_global_atoms', 1)} | "
                         f"{c(g, 'compression', 3)} | {c(v, 'score')} |")
    return "\n".join(lines) + "\n"


def predictions_frame(path):
    """The saved predictions of one silo's test days, sorted by date."""
    return pd.read_csv(path, parse_dates=["date"]).sort_values("date")

"""Plotting helpers shared by the experiments (matplotlib, Agg backend, atomic saves)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments._runner import save_figure  # noqa: E402

COLOURS = plt.get_cmap("tab10").colors


def lines_with_paper(stats, x, methods, labels, paper, xlabel, ylabel, title, path,
                     logx=False, logy=False):
    """Mean +- sd over trials per method against ``x``; the paper's values as hollow markers.

    ``stats`` has columns ``x``, ``method``, ``mean``, ``std``; ``paper`` maps ``x`` to a list
    of x values and each method to its list of values (or is None).
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for i, m in enumerate(methods):
        s = stats[stats.method == m].sort_values(x)
        if s.empty:
            continue
        colour = COLOURS[i % len(COLOURS)]
        sd = np.nan_to_num(s["std"].to_numpy())
        ax.errorbar(s[x], s["mean"], yerr=sd, marker="o", ms=4, capsize=3, color=colour,
                    label=labels.get(m, m))
        if paper and m in paper:
            ax.plot(paper[x], paper[m], linestyle=":", marker="s", mfc="none", color=colour,
                    label=f"{labels.get(m, m)} (paper)")
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def bars_with_paper(table, metric_label, path, paper=None, title=None):
    """Bar chart of ``table`` (index: method, columns mean, std) with optional paper values."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    pos = np.arange(len(table))
    ax.bar(pos, table["mean"], yerr=np.nan_to_num(table["std"]), capsize=3, color=COLOURS[0],
           label="ours")
    if paper:
        vals = [paper.get(m, np.nan) for m in table.index]
        ax.scatter(pos, vals, marker="D", color="black", zorder=3, label="paper")
    ax.set_xticks(pos, table.index, rotation=20, ha="right")
    ax.set_ylabel(metric_label)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)

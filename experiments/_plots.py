"""Plotting helpers shared by the experiments (matplotlib, Agg backend, atomic saves)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments._runner import run_overrides, save_figure  # noqa: E402

COLOURS = plt.get_cmap("tab10").colors


def title(cfg, text, width=70):
    """A figure title: ``text``, then the run's overrides of its experiment and profile
    defaults (e.g. ``fusion.gamma0=2, trials=1``), wrapped to ``width`` characters.

    ``cfg`` may be the live config or a finished run's saved config.yaml (or None).
    """
    import textwrap

    overrides = run_overrides(cfg)
    if not overrides:
        return text
    return text + "\n" + "\n".join(textwrap.wrap(", ".join(overrides), width))


def lines_with_paper(stats, x, methods, labels, paper, xlabel, ylabel, title, path,
                     logx=False, logy=False, colours=None, decorate=None):
    """Mean +- sd over trials per method against ``x``; the paper's values as hollow markers.

    ``stats`` has columns ``x``, ``method``, ``mean``, ``std``; if it also has ``lo`` and ``hi``
    (e.g. the range over trials) they are drawn as a band instead of the sd bars (a band of
    positive values stays on a log axis). ``paper`` maps ``x`` to a list of x values and each
    method to its list of values (or is None). ``colours`` (one per method) overrides the
    palette; ``decorate(ax)`` may add to the axes before the legend is drawn.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for i, m in enumerate(methods):
        s = stats[stats.method == m].sort_values(x)
        if s.empty:
            continue
        colour = colours[i] if colours else COLOURS[i % len(COLOURS)]
        if {"lo", "hi"} <= set(s.columns):
            ax.plot(s[x], s["mean"], marker="o", ms=4, color=colour, label=labels.get(m, m))
            ax.fill_between(s[x], s["lo"], s["hi"], color=colour, alpha=0.15, linewidth=0)
        else:
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
    if decorate:
        decorate(ax)
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

"""One look for every figure of the experiments (matplotlib, Agg backend, atomic saves).

- Every method has one colour, marker and line style in every figure (:func:`style`): SPAHM
  in blues, local models orange, one-shot averaging red, ensembles and experts green, k-means
  baselines purple and brown, models fitted on pooled data or the full model black (dotted).
- Legends sit outside the axes, never over the data (:func:`finish`).
- Each figure says under its axes what the lines, bands and error bars show (the caption);
  the run's overrides of its profile go there too (:func:`overrides`), never into titles.
- The paper's numbers, from each application's claims declaration
  (``experiments/<application>/claims.py``), are drawn as hollow markers of the method's
  colour, or as black diamonds on bar charts.
"""
from __future__ import annotations

import math
import textwrap
import zlib

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments._runner import run_overrides, save_figure  # noqa: E402

#: A palette for things that are not methods (chains, silos, estimates).
COLOURS = plt.get_cmap("tab10").colors

_SPAHM, _SPAHM_LIGHT, _SPAHM_TEAL = "#1f4e99", "#6fa8dc", "#17a2b8"
_LOCAL, _LOCAL_LIGHT = "#e6851e", "#f2b872"
_AVERAGE, _ENSEMBLE, _ENSEMBLE_LIGHT = "#c0392b", "#2e9e44", "#8fd19e"
_KMEANS, _KMEANS_POOLED = "#8e5bb5", "#8c564b"
_ORACLE = "#222222"
#: method id -> (colour, marker, line style), the same in every figure.
STYLES = {
    "spahm": (_SPAHM, "o", "-"),
    "spahm_kmeans": (_SPAHM, "o", "-"),
    "spahm_uncertainty": (_SPAHM, "o", "-"),
    "spahm_true": (_SPAHM_LIGHT, "D", "-"),
    "spahm_kmeans_maximin": (_SPAHM_TEAL, "v", "--"),
    "spahm_plain": (_SPAHM_TEAL, "s", "--"),
    "spahm_eb": (_SPAHM_TEAL, "v", "--"),
    "local": (_LOCAL, "o", "-"),
    "local_kmeans": (_LOCAL, "o", "-"),
    "sgp50": (_LOCAL, "o", "-"),
    "sgp300": (_LOCAL_LIGHT, "s", "--"),
    "averaging": (_AVERAGE, "s", "--"),
    "average": (_AVERAGE, "s", "--"),
    "ensemble": (_ENSEMBLE, "^", "-"),
    "gpoe": (_ENSEMBLE, "^", "-"),
    "rbcm": (_ENSEMBLE_LIGHT, "v", "--"),
    "kmeans": (_KMEANS, "s", "-"),
    "kmeans_centroids": (_KMEANS, "s", "-"),
    "kmeans_pooled": (_KMEANS_POOLED, "^", "-"),
    "gaussian_lda": ("#d6589f", "^", "-"),
    "lda": ("#b5b53a", "v", "-"),
    "pooled": (_ORACLE, "*", ":"),
    "full": (_ORACLE, "*", ":"),
    "oracle": (_ORACLE, "*", ":"),
}
_OTHERS = ("#7f7f7f", "#bcbd22", "#9edae5", "#c49c94", "#f7b6d2", "#dbdb8d")


def style(method):
    """``{"color", "marker", "linestyle"}`` of a method id, fixed across figures. SPAHM at a
    fixed ``sigma`` (``spahm_sigma<value>``) is a grey-blue whose shade follows the value."""
    method = str(method)
    if method in STYLES:
        colour, marker, line = STYLES[method]
    elif method.startswith("spahm_sigma"):
        try:
            value = float(method[len("spahm_sigma"):])
        except ValueError:
            value = 1.0
        shade = min(max(math.log10(value) + 0.5, 0.0), 1.0) if value > 0 else 0.0
        colour, marker, line = plt.get_cmap("cividis")(0.1 + 0.8 * shade), "x", "-."
    else:
        colour, marker, line = _OTHERS[zlib.crc32(method.encode()) % len(_OTHERS)], "o", "-"
    return {"color": colour, "marker": marker, "linestyle": line}


def colour(method):
    return style(method)["color"]


def title(cfg, text):
    """A figure title: ``text`` alone. The run's overrides go into the caption
    (:func:`overrides`), not the title; ``cfg`` is accepted so callers need not change."""
    return text


def overrides(cfg):
    """``"Overrides of the profile: key=value, ..."`` for a run's config (live or saved), or
    ``""`` when it has none."""
    found = run_overrides(cfg)
    return f"Overrides of the profile: {', '.join(found)}." if found else ""


def spread_caption(stats, band=False, paper=False):
    """What the marks show: mean over how many trials, and the band or error bars."""
    counts = stats["count"].to_numpy() if "count" in stats else np.array([])
    n = ""
    if len(counts):
        lo, hi = int(np.nanmin(counts)), int(np.nanmax(counts))
        n = f" {lo}" if lo == hi else f" {lo}-{hi}"
    if len(counts) and np.nanmax(counts) <= 1:
        text = "One trial per point: no spread shown."
    elif band:
        text = f"Lines: mean over{n} trials; shaded band: range over the trials (min to max)."
    else:
        text = f"Marks: mean over{n} trials; error bars: +-1 sd over the trials."
    if paper:
        text += " Hollow markers: the paper's values."
    return text


def finish(fig, path, caption="", axes=None, legend=True, width=110):
    """Legend outside the axes (right of the last panel, or of the figure for several), the
    caption under the figure, then save atomically."""
    axes = list(np.atleast_1d(axes if axes is not None else fig.axes))
    if legend:
        seen = {}
        for ax in axes:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                if not label.startswith("_"):
                    seen.setdefault(label, handle)
        if seen:
            if len(axes) == 1:
                axes[0].legend(seen.values(), seen.keys(), loc="upper left", fontsize=8,
                               bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
            else:
                fig.legend(seen.values(), seen.keys(), loc="upper left", fontsize=8,
                           bbox_to_anchor=(1.0, 0.95), frameon=False)
    if caption:  # under everything the axes draw (tick labels, axis labels)
        fig.canvas.draw()  # lays the figure out first (constrained layout moves the axes)
        renderer = fig.canvas.get_renderer()
        bottom = min(ax.get_tightbbox(renderer).y0 for ax in axes)
        y = fig.transFigure.inverted().transform((0.0, bottom))[1]
        fig.text(0.0, y - 0.02, "\n".join(textwrap.wrap(caption, width)), ha="left", va="top",
                 fontsize=8, color="#333333")
    save_figure(fig, path)


def draw_lines(ax, stats, x, methods, labels, paper=None):
    """Mean per method against ``x``: a band (``lo``..``hi`` columns) or sd error bars
    (``std``); the paper's values (``paper[x]`` and ``paper[method]``) as hollow markers.
    Methods listed first are drawn on top, and dashed methods with open markers, so a method
    equal to another (the local networks' size and weight averaging's) stays visible."""
    for i, m in enumerate(methods):
        s = stats[stats.method == m].sort_values(x)
        if s.empty:
            continue
        st = dict(style(m), zorder=3 + len(methods) - i)
        if st["linestyle"] != "-":
            st.update(mfc="white", ms=6)
        label = labels.get(m, m)
        if {"lo", "hi"} <= set(s.columns):
            ax.plot(s[x], s["mean"], **{"ms": 4, **st}, label=label)
            ax.fill_between(s[x], s["lo"], s["hi"], color=st["color"], alpha=0.09, linewidth=0)
        else:
            sd = np.nan_to_num(s["std"].to_numpy()) if "std" in s else None
            ax.errorbar(s[x], s["mean"], yerr=sd, capsize=3, label=label, **{"ms": 4, **st})
        if paper and m in paper:
            ax.plot(paper[x], paper[m], linestyle="none", marker=st["marker"], mfc="none",
                    ms=7, mew=1.3, color=st["color"], label=f"{label} (paper)")


def lines_with_paper(stats, x, methods, labels, paper, xlabel, ylabel, title, path,
                     logx=False, logy=False, decorate=None, caption="", xticks=None):
    """Mean over trials per method against ``x`` (see :func:`draw_lines`), one figure.

    ``stats`` has columns ``x``, ``method``, ``mean``, ``std``, ``count`` (and ``lo``, ``hi``
    for a band: a band of positive values stays on a log axis). ``decorate(ax)`` may add to
    the axes before the legend; ``xticks`` (values, or ``(values, labels)``) fixes the ticks;
    ``caption`` is added to the one saying what the marks show."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    draw_lines(ax, stats, x, methods, labels, paper)
    axes_style(ax, xlabel, ylabel, title, logx, logy, xticks)
    if decorate:
        decorate(ax)
    band = {"lo", "hi"} <= set(stats.columns)
    finish(fig, path, " ".join(filter(None, [spread_caption(stats, band, bool(paper)),
                                              caption])))


class _PlainLog(matplotlib.ticker.LogFormatterSciNotation):
    """Log-axis tick labels as plain numbers (0.1, 4, 40), where matplotlib would label."""

    def __call__(self, x, pos=None):
        return f"{x:g}" if super().__call__(x, pos) else ""


def axes_style(ax, xlabel, ylabel, title=None, logx=False, logy=False, xticks=None):
    """Scales (log axes labelled with plain numbers), fixed ticks, labels, title and grid."""
    for log, axis, scale in ((logx, ax.xaxis, ax.set_xscale), (logy, ax.yaxis, ax.set_yscale)):
        if log:
            scale("log")
            axis.set_major_formatter(_PlainLog())
            axis.set_minor_formatter(_PlainLog(minor_thresholds=(2, 0.5)))
    if xticks is not None:
        values, names = xticks if isinstance(xticks, tuple) else (xticks, None)
        ax.set_xticks(list(values), names if names is not None else [f"{v:g}" for v in values])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)


def draw_bars(ax, table, methods=None, paper=None, label="ours", paper_label="the paper",
              rotation=20, fontsize=None):
    """Bars of ``table`` (index: display names, columns ``mean``, ``std``) with +-1 sd error
    bars, coloured by ``methods`` (the ids, in the table's order) as every other figure colours
    them; the paper's values (``paper``: display name -> value) as black diamonds."""
    pos = np.arange(len(table))
    colours = [colour(m) for m in methods] if methods is not None else COLOURS[0]
    ax.bar(pos, table["mean"], yerr=np.nan_to_num(table["std"]), capsize=3, color=colours,
           label=label)
    if paper:
        vals = [paper.get(m, np.nan) for m in table.index]
        ax.scatter(pos, vals, marker="D", color="black", edgecolor="white", linewidth=0.8,
                   zorder=3, label=paper_label)  # the white edge shows on a black bar
    ax.set_xticks(pos, table.index, rotation=rotation, ha="right",
                  **({"fontsize": fontsize} if fontsize else {}))
    ax.grid(axis="y", alpha=0.3)


def bars_caption(table, paper=False, unit="trial"):
    """What a bar chart shows: mean over how many trials (or splits, ``unit``), the error bars,
    and the paper's values as black diamonds."""
    text = spread_caption(table).replace("Marks:", "Bars:").replace(" Hollow markers", "")
    if unit != "trial":
        text = text.replace("trial", unit)
    if paper:
        text += " Black diamonds: the paper's values."
    return text


def ordered_colours(n, cmap="viridis"):
    """``n`` colours of a sequential map (dark to light, the light end left out), for the
    values of one ordered setting (a hyperparameter's grid); one value takes SPAHM's colour."""
    if n <= 1:
        return [colour("spahm")] * n
    return [plt.get_cmap(cmap)(0.75 * i / (n - 1)) for i in range(n)]


def bars_with_paper(table, metric_label, path, paper=None, title=None, methods=None,
                    caption="", label="ours"):
    """Bar chart of ``table`` (index: display names, columns ``mean``, ``std`` and, if known,
    ``count``) with the paper's values as black diamonds. ``methods`` (the ids, in the
    table's order) colour the bars as every other figure colours those methods; ``label``
    names the bars in the legend (``"_"``-prefixed: no entry, the ticks name them)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    draw_bars(ax, table, methods, paper, label=label)
    ax.set_ylabel(metric_label)
    if title:
        ax.set_title(title)
    finish(fig, path, " ".join(filter(None, [bars_caption(table, bool(paper)), caption])),
           legend=bool(paper))

"""Summaries of a run's tidy rows: mean and sd over trials, table cells, the objective, the
headline table printed at the end of a run, and the timed calls of an experiment's methods."""
from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np
from omegaconf import OmegaConf

from experiments.errors import ConfigError


@contextmanager
def stopwatch():
    """``with stopwatch() as t: ...; t()`` gives the elapsed wall time in seconds."""
    start = time.perf_counter()
    end = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


def run_methods(methods, selected, *args):
    """Call ``methods[name](*args)`` for every ``name`` in ``selected``, in that order.

    Each method returns a list of ``(metric, value)`` pairs (or ``(method, metric, value)``
    triples for rows it files under another method name); this adds the method's wall and
    CPU time as ``time_s`` / ``cpu_time_s`` unless it reported them itself. Returns tidy rows.
    """
    unknown = [m for m in selected if m not in methods]
    if unknown:
        raise ConfigError(f"config key 'methods' names {unknown}: expected names from {list(methods)}")
    rows = []
    for name in selected:
        wall, cpu = time.perf_counter(), time.process_time()
        produced = methods[name](*args)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        metrics = set()
        for item in produced:
            method, metric, value = item if len(item) == 3 else (name, *item)
            rows.append({"method": method, "metric": metric, "value": float(value)})
            if method == name:
                metrics.add(metric)
        if "time_s" not in metrics:
            rows.append({"method": name, "metric": "time_s", "value": wall})
        if "cpu_time_s" not in metrics:
            rows.append({"method": name, "metric": "cpu_time_s", "value": cpu})
    return rows


# ---------------------------------------------------------------------------- summaries
def summarise(df, metric, by=("method",)):
    """Mean, sd and count over trials of a tidy frame's values.

    Parameters
    ----------
    df : DataFrame
        Tidy rows.
    metric : str or None
        The metric to keep; None keeps every metric (``by`` then normally includes "metric").
    by : sequence of str
        Columns to group by; groups come in order of first appearance.

    Returns
    -------
    DataFrame
        The ``by`` columns, then ``mean``, ``std`` and ``count``.
    """
    sub = df if metric is None else df[df.metric == metric]
    return sub.groupby(list(by), sort=False)["value"].agg(["mean", "std", "count"]).reset_index()


def mean_sd(mean, sd, count, digits=2):
    """One table cell: ``mean +- sd`` over trials, or ``mean (n = 1)`` for a single trial."""
    if count is None or count <= 1 or sd is None or not np.isfinite(sd):
        return f"{mean:.{digits}f} (n = 1)" if count == 1 else f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} +- {sd:.{digits}f}"


def objective(df, cfg):
    """The run's scalar objective (``objective.metric`` of ``objective.method``, mean over
    every trial and setting), or None if the config names none or the rows lack it."""
    metric = OmegaConf.select(cfg, "objective.metric", default=None)
    method = OmegaConf.select(cfg, "objective.method", default=None)
    if metric is None or method is None or df.empty:
        return None
    values = df.loc[(df["method"] == method) & (df["metric"] == metric), "value"]
    return float(values.mean()) if len(values) else None


def headline(df, cfg) -> str:
    """The objective's metric for every method, mean +- sd over trials (a short text table)."""
    metric = OmegaConf.select(cfg, "objective.metric", default=None)
    if metric is None or df.empty or not (df["metric"] == metric).any():
        return ""
    stats = summarise(df, metric)
    width = max(len(str(m)) for m in stats["method"])
    best = OmegaConf.select(cfg, "objective.method", default=None)
    lines = [f"{metric} ({OmegaConf.select(cfg, 'objective.direction', default='minimize')}; "
             "mean over trials and settings):"]
    for _, row in stats.iterrows():
        mark = "  <- objective" if row["method"] == best else ""
        lines.append(f"  {str(row['method']):<{width}}  "
                     f"{mean_sd(row['mean'], row['std'], row['count'], digits=4)}{mark}")
    return "\n".join(lines)

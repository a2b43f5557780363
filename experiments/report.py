"""Gather finished runs, redraw their figures from the saved CSVs and write a markdown report.

    spahm-report DIR [DIR ...] [--out FILE.md] [--no-plots]

Each DIR is a run directory (it holds ``metrics.csv`` and ``config.yaml``) or any folder above
run directories, such as a multirun sweep directory. Nothing is rerun: every run is checked as
a resumed run checks it (a damaged one is refused, naming the file), figures are redrawn from
the CSVs and the files saved beside them. A single run gets its own ``report.md`` back, written
from its directory alone (nothing else is written into it); a sweep directory gets ``sweep.md``.

For a sweep (several runs of one experiment under DIR) the swept keys are read from Hydra's
record of each job (``.hydra/overrides.yaml``, ``multirun.yaml``; the saved configs where there
is none); runs that differ only in ``seed`` or ``trials`` are pooled into one sweep point; the
report opens with a metric x swept-value table and ``sweep_<key>.png`` per swept key, and warns
when two sweep points gave identical numbers. All rows also go to ``<DIR>/all_metrics.csv``
with one column per swept key.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from experiments._runner import (
    METRICS_FILE,
    TIMING_SUFFIX,
    ConfigError,
    RunDirError,
    _flatten,
    atomic_write_csv,
    atomic_write_text,
    load_results,
    mean_sd,
)
from experiments._schema import keys_with_role
from experiments.registry import load

#: Keys that never make two runs different sweep points.
POOLED_KEYS = ("seed", "trials")
#: Keys that are not part of what a run computes (never swept keys): its identity, how it ran
#: (experiments._schema.KEY_ROLES), Hydra's own and the config group ``experiment``.
IGNORED_KEYS = (*keys_with_role("identity", "execution"), "hydra", "experiment")


def find_runs(root):
    """Run directories under ``root`` (including itself), sorted; hidden directories under
    ``root`` are skipped (``.<name>.overwrite`` is a run still being written)."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist")
    return sorted({p.parent for p in root.rglob(METRICS_FILE)
                   if not any(part.startswith(".") for part in p.parent.relative_to(root).parts)})


def run_config(run_dir):
    """A run's saved config; a missing or unreadable one is an error naming the file."""
    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} has {METRICS_FILE} but no config.yaml")
    try:
        cfg = OmegaConf.load(path)
    except Exception as exc:  # noqa: BLE001 - YAML and OmegaConf errors alike, named
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunDirError(f"{path} is not a readable config ({first})") from None
    if not hasattr(cfg, "get") or not cfg.get("name"):
        raise RunDirError(f"{path} names no experiment: not a run's config")
    return cfg


def _ignored(key):
    return key.split(".")[0] in IGNORED_KEYS or key.startswith("hydra")


def _overrides(run_dir):
    """Hydra's record of a job's command-line overrides, as {key: value} (empty if none)."""
    path = Path(run_dir) / ".hydra" / "overrides.yaml"
    if not path.exists():
        return {}
    out = {}
    for item in OmegaConf.load(path):
        key, _, value = str(item).partition("=")
        key = key.lstrip("+~")
        if not _ignored(key):
            out[key] = value
    return out


def _declared_sweep(root):
    """Keys a multirun declared as swept (``a=1,2`` or a sweep function) in multirun.yaml."""
    path = Path(root) / "multirun.yaml"
    if not path.is_file():
        return []
    task = OmegaConf.select(OmegaConf.load(path), "hydra.overrides.task", default=None) or []
    keys = []
    for item in task:
        key, _, value = str(item).partition("=")
        if ("," in value or "(" in value) and not _ignored(key.lstrip("+~")):
            keys.append(key.lstrip("+~"))
    return keys


def sweep_points(root, runs):
    """``{run: {key: value}}`` of the keys that differ between ``runs``, and those keys.

    Keys come from each job's ``.hydra/overrides.yaml`` (and the sweep's ``multirun.yaml``);
    runs written without Hydra's record are compared by their saved configs.
    """
    values = {run: _overrides(run) for run in runs}
    if not any(values.values()):
        flat = {run: {k: v for k, v in _flatten(OmegaConf.to_container(run_config(run))).items()
                      if not _ignored(k)} for run in runs}
        values = {run: {k: str(v) for k, v in f.items()} for run, f in flat.items()}
    keys = set(_declared_sweep(root))
    all_keys = sorted(set().union(*(v.keys() for v in values.values())))
    keys |= {k for k in all_keys if len({values[r].get(k) for r in runs}) > 1}
    ordered = [k for k in all_keys if k in keys] + sorted(keys - set(all_keys))
    return {run: {k: values[run].get(k) for k in ordered} for run in runs}, ordered


def gather(root, runs=None):
    """One table of every run's rows under ``root``, with a column per swept key; trials are
    numbered apart across runs that are pooled (different seeds give different trials)."""
    runs = find_runs(root) if runs is None else runs
    points, keys = sweep_points(root, runs)
    frames = []
    offsets = {}
    for run in runs:
        df = load_results(run).copy()
        cfg = run_config(run)
        df.insert(0, "experiment", cfg.name)
        df.insert(1, "run", str(run.relative_to(root)) if run != Path(root) else ".")
        point = tuple((k, points[run][k]) for k in keys if k not in POOLED_KEYS)
        df["pooled_trial"] = df["trial"] + offsets.get(point, 0)
        offsets[point] = offsets.get(point, 0) + int(df["trial"].max()) + 1
        for k in keys:
            df[k] = points[run][k]
        frames.append(df)
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), keys


def _as_number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _sorted_values(values):
    values = list(dict.fromkeys(values))
    if all(_as_number(v) is not None for v in values):
        return sorted(values, key=_as_number)
    return sorted(values, key=str)


def sweep_section(table, keys, out_dir, objective=None, plots=True, labels=None):
    """Markdown: per swept key a metric x value table (mean +- sd over pooled trials) and a
    figure of the objective's metric per method; warnings for sweep points that gave identical
    numbers. Returns (text, warnings)."""
    swept = [k for k in keys if k not in POOLED_KEYS]
    rows = table[~table["metric"].astype(str).str.endswith(TIMING_SUFFIX)]
    lines = ["## Sweep", ""]
    pooled = [k for k in keys if k in POOLED_KEYS]
    if pooled:
        lines += [f"Runs that differ only in {', '.join(f'`{k}`' for k in pooled)} are pooled "
                  "into one sweep point (their trials together).", ""]
    warnings = []
    points = rows.groupby(swept, dropna=False, sort=False) if swept else []
    signatures = {}
    for point, frame in points:
        point = point if isinstance(point, tuple) else (point,)
        signature = tuple(frame.sort_values(["method", "metric", "pooled_trial"])["value"].round(12))
        signatures.setdefault(signature, []).append(
            ", ".join(f"{k}={v}" for k, v in zip(swept, point)))
    for same in signatures.values():
        if len(same) > 1:
            warnings.append(f"sweep points {' and '.join(same)} gave identical numbers: the "
                            "swept key may not reach the computation, or does not matter here")
    for text in warnings:
        lines += [f"**Warning:** {text}.", ""]
    for key in swept:
        values = _sorted_values(rows[key].dropna())
        stats = rows.groupby(["method", "metric", key], sort=False)["value"].agg(
            ["mean", "std", "count"]).reset_index()
        header = ["method", "metric"] + [f"{key}={v}" for v in values]
        lines += [f"### `{key}`", "", "| " + " | ".join(header) + " |",
                  "|" + "---|" * len(header)]
        for (method, metric), group in stats.groupby(["method", "metric"], sort=False):
            cells = []
            for v in values:
                hit = group[group[key] == v]
                cells.append(mean_sd(*hit[["mean", "std", "count"]].iloc[0], digits=4)
                             if len(hit) else "")
            lines.append("| " + " | ".join([str(method), str(metric), *cells]) + " |")
        lines.append("")
        if plots and objective and objective.get("metric"):
            path = Path(out_dir) / f"sweep_{key.replace('/', '_')}.png"
            _plot_sweep(rows[rows["metric"] == objective["metric"]], key, values, objective, path,
                        labels)
            lines += [f"![sweep {key}]({path.name})", ""]
    return "\n".join(lines), warnings


def sweep_stats(rows, key):
    """Mean, sd and count over trials per method and value of ``key``: each trial's rows are
    first averaged over the run's own settings (noise levels, J...), so the sd is the spread
    over trials, never over settings."""
    per_trial = rows.groupby(["method", key, "pooled_trial"], sort=False)["value"].mean()
    return per_trial.groupby(["method", key], sort=False).agg(
        ["mean", "std", "count"]).reset_index()


def _plot_sweep(rows, key, values, objective, path, labels=None):
    """The objective's metric per method across a swept key: each trial's mean over the run's
    own settings first (noise levels, J...), then mean +- sd of those over the trials, so the
    error bars are the spread over trials, not over settings; display names, the style module's
    colours, legend and caption outside the data."""
    import matplotlib.pyplot as plt

    from experiments import _plots

    labels = labels or {}
    stats = sweep_stats(rows, key)
    numeric = all(_as_number(v) is not None for v in values)
    position = {v: (_as_number(v) if numeric else i) for i, v in enumerate(values)}
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    for method, frame in stats.groupby("method", sort=False):
        frame = frame.assign(x=frame[key].map(position)).sort_values("x")
        spread = frame["std"].to_numpy() if frame["count"].max() > 1 else None
        ax.errorbar(frame["x"], frame["mean"], yerr=None if spread is None else np.nan_to_num(spread),
                    ms=4, capsize=3, label=labels.get(method, str(method)),
                    linewidth=2.5 if method == objective.get("method") else 1.0,
                    **_plots.style(method))
    if not numeric:
        ax.set_xticks(range(len(values)), [str(v) for v in values])
    ax.set_xlabel(key)
    ax.set_ylabel(f"{objective['metric']} ({objective.get('direction', '')})")
    ax.set_title(f"{objective['metric']} across {key}")
    ax.grid(alpha=0.3)
    caption = _plots.spread_caption(stats) + (
        " Each trial is first averaged over the run's own settings.")
    _plots.finish(fig, path, caption)


def section(run_dir, plots=True, df=None, cfg=None, title=None):
    """Markdown section of one run (or of pooled rows ``df`` with config ``cfg``); redraws the
    run's figures first when ``plots``."""
    run_dir = Path(run_dir)
    cfg = run_config(run_dir) if cfg is None else cfg
    module = load(cfg.name)
    df = load_results(run_dir) if df is None else df
    if plots:
        module.plot(df, run_dir, cfg)
    figures = sorted(run_dir.glob("*.png"))
    lines = [title or f"## {cfg.name} ({cfg.get('profile', '?')} profile) - `{run_dir}`", ""]
    lines.append(module.report(df, cfg).rstrip())
    lines.append("")
    for fig in figures:
        lines.append(f"![{fig.stem}]({fig.as_posix()})")
    lines.append("")
    return "\n".join(lines)


def _relative(text, run, relative_to):
    if relative_to is None:
        return text
    # relpath, not Path.relative_to: a report written outside the run directory (--out
    # /tmp/r.md) links back with "../" parts instead of failing.
    rel = Path(os.path.relpath(Path(run).resolve(), Path(relative_to).resolve())).as_posix()
    return text.replace(f"]({Path(run).as_posix()}/", f"]({rel}/").replace(f"`{run}`", f"`{rel}`")


def write_report(run_dirs, out, title="SPAHM experiment report", preamble="", plots=True,
                 relative_to=None, sweep_root=None):
    """Write a markdown report of ``run_dirs`` to ``out`` (atomically); returns its text.

    With ``sweep_root`` (a folder holding several runs of one experiment) the report opens with
    the sweep's tables and pools the runs that differ only in seed or trials into one section.
    """
    parts = [f"# {title}", ""]
    if preamble:
        parts += [preamble.rstrip(), ""]
    if sweep_root is None:
        for run in run_dirs:
            parts.append(_relative(section(run, plots=plots), run, relative_to))
        text = "\n".join(parts)
        atomic_write_text(out, text)
        return text
    table, keys = gather(sweep_root, run_dirs)
    atomic_write_csv(table, Path(sweep_root) / "all_metrics.csv")
    first = run_config(run_dirs[0])
    objective = OmegaConf.to_container(first.objective) if "objective" in first else None
    text, warnings = sweep_section(table, keys, Path(out).parent, objective, plots=plots,
                                   labels=getattr(load(first.name), "LABELS", None))
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    parts.append(text)
    swept = [k for k in keys if k not in POOLED_KEYS]
    for point, frame in (table.groupby(swept, sort=False) if swept else [((), table)]):
        point = point if isinstance(point, tuple) else (point,)
        runs = [Path(sweep_root) / r if r != "." else Path(sweep_root) for r in frame["run"].unique()]
        for run in runs:  # each run's own figures, from its own rows
            if plots:
                load(run_config(run).name).plot(load_results(run), run, run_config(run))
        name = ", ".join(f"{k}={v}" for k, v in zip(swept, point)) or "all runs"
        pooled = frame.drop(columns=["experiment", "run", "trial", *keys]).rename(
            columns={"pooled_trial": "trial"})
        heading = (f"## {first.name} ({first.get('profile', '?')} profile) - {name} "
                   f"({len(runs)} run{'s' * (len(runs) > 1)}, {pooled['trial'].nunique()} trials)")
        parts.append(_relative(section(runs[0], plots=False, df=pooled, cfg=run_config(runs[0]),
                                       title=heading), runs[0], relative_to))
    text = "\n".join(parts)
    atomic_write_text(out, text)
    return text


def redraw_run(run_dir, plots=True):
    """Redraw one run's figures and its ``report.md`` from its own files, as the run wrote
    them: the report of a run directory is a pure function of that directory, and nothing
    else is written into it. Returns the report's path."""
    run_dir = Path(run_dir)
    cfg = run_config(run_dir)
    module = load(cfg.name)
    df = load_results(run_dir)
    if plots:
        module.plot(df, run_dir, cfg)
    path = run_dir / "report.md"
    atomic_write_text(path, module.report(df, cfg))
    return path


#: A sweep's report, beside its run directories (never ``REPORT.md`` beside a ``report.md``:
#: the two names are one file on case-insensitive disks).
SWEEP_REPORT = "sweep.md"
#: Several directories reported together, by default in the working directory.
COMBINED_REPORT = "spahm-report.md"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="spahm-report", description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=None,
                        help=f"markdown report of a sweep or of several directories (default: "
                             f"{SWEEP_REPORT} in a sweep directory, {COMBINED_REPORT} here for "
                             "several); a single run's report is its own report.md")
    parser.add_argument("--no-plots", action="store_true", help="do not redraw figures")
    args = parser.parse_args(argv)
    try:
        found = {d: find_runs(d) for d in args.dirs}
        for d, runs in found.items():
            if not runs:
                raise FileNotFoundError(f"no run directories (with {METRICS_FILE}) under {d}")
        runs = [r for d in args.dirs for r in found[d]]
        if len(args.dirs) == 1 and runs == [Path(args.dirs[0])] and args.out is None:
            out = redraw_run(runs[0], plots=not args.no_plots)
        elif len(args.dirs) == 1 and len(runs) > 1:
            out = args.out or Path(args.dirs[0]) / SWEEP_REPORT
            names = {run_config(r).name for r in runs}
            write_report(runs, out, plots=not args.no_plots, relative_to=out.parent,
                         sweep_root=args.dirs[0] if len(names) == 1 else None)
        else:
            out = args.out or Path(COMBINED_REPORT)
            write_report(runs, out, plots=not args.no_plots, relative_to=out.parent)
    except (FileNotFoundError, RunDirError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write the report: {exc.strerror or exc} ({exc.filename})",
              file=sys.stderr)
        return 1
    print(f"report of {len(runs)} run(s) written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Gather finished runs, redraw their figures from the saved CSVs and write a markdown report.

    spahm-report DIR [DIR ...] [--out REPORT.md] [--no-plots]

Each DIR is a run directory (it holds ``metrics.csv`` and ``config.yaml``) or any folder above
run directories, such as a multirun sweep directory. Nothing is rerun: figures are redrawn
from the CSVs and the files saved beside them. For a sweep (several runs of one experiment)
the runs' rows are also gathered into one table, ``<DIR>/all_metrics.csv``, with one column
per overridden key.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from experiments._runner import METRICS_FILE, atomic_write_csv, atomic_write_text, load_results
from experiments.cli import load


def find_runs(root):
    """Run directories under ``root`` (including itself), sorted."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist")
    return sorted({p.parent for p in root.rglob(METRICS_FILE)})


def run_config(run_dir):
    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} has {METRICS_FILE} but no config.yaml")
    return OmegaConf.load(path)


def _overrides(run_dir):
    """Hydra's record of a job's command-line overrides, as {key: value} (empty if none)."""
    path = Path(run_dir) / ".hydra" / "overrides.yaml"
    if not path.exists():
        return {}
    out = {}
    for item in OmegaConf.load(path):
        key, _, value = str(item).partition("=")
        if key.lstrip("+~") not in ("experiment", "profile", "quiet") and not key.startswith("hydra"):
            out[key.lstrip("+~")] = value
    return out


def gather(root):
    """One table of every run's rows under ``root``, with a column per overridden key."""
    frames = []
    for run in find_runs(root):
        df = load_results(run)
        cfg = run_config(run)
        df.insert(0, "experiment", cfg.name)
        df.insert(1, "run", str(run.relative_to(root)) if run != Path(root) else ".")
        for k, v in _overrides(run).items():
            df[k] = v
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def section(run_dir, plots=True):
    """Markdown section of one run; redraws its figures first when ``plots``."""
    run_dir = Path(run_dir)
    cfg = run_config(run_dir)
    module = load(cfg.name)
    df = load_results(run_dir)
    if plots:
        module.plot(df, run_dir, cfg)
    figures = sorted(run_dir.glob("*.png"))
    lines = [f"## {cfg.name} ({cfg.get('profile', '?')} profile) - `{run_dir}`", ""]
    lines.append(module.report(df, cfg).rstrip())
    lines.append("")
    for fig in figures:
        lines.append(f"![{fig.stem}]({fig.as_posix()})")
    lines.append("")
    return "\n".join(lines)


def write_report(run_dirs, out, title="SPAHM experiment report", preamble="", plots=True,
                 relative_to=None):
    """Write a markdown report of ``run_dirs`` to ``out`` (atomically); returns its text."""
    parts = [f"# {title}", ""]
    if preamble:
        parts += [preamble.rstrip(), ""]
    for run in run_dirs:
        text = section(run, plots=plots)
        if relative_to is not None:
            text = text.replace(f"]({Path(run).as_posix()}/",
                                f"]({Path(run).resolve().relative_to(Path(relative_to).resolve()).as_posix()}/")
            text = text.replace(f"`{run}`", f"`{Path(run).resolve().relative_to(Path(relative_to).resolve()).as_posix()}`")
        parts.append(text)
    text = "\n".join(parts)
    atomic_write_text(out, text)
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=None,
                        help="markdown report (default: REPORT.md in the first DIR)")
    parser.add_argument("--no-plots", action="store_true", help="do not redraw figures")
    args = parser.parse_args(argv)
    runs = []
    for d in args.dirs:
        try:
            found = find_runs(d)
        except FileNotFoundError as exc:
            parser.error(str(exc))
        if not found:
            parser.error(f"no run directories (with {METRICS_FILE}) under {d}")
        runs += found
        if len(found) > 1:
            table = gather(d)
            atomic_write_csv(table, Path(d) / "all_metrics.csv")
            print(f"{d}: {len(found)} runs gathered into {Path(d) / 'all_metrics.csv'}")
    out = args.out or Path(args.dirs[0]) / "REPORT.md"
    write_report(runs, out, plots=not args.no_plots, relative_to=out.parent)
    print(f"report of {len(runs)} run(s) written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The loop every experiment shares: settings x trials, resumed from the verified trials of
the run directory, then figures and ``report.md``.

Around the loop: the runner's keys and the experiment's are checked once, before any work;
the run holds its directory (:func:`experiments._store.hold`); committed results are replaced
only with ``overwrite=true`` and only once the new run is complete; SIGTERM stops a run as
Ctrl-C does; progress is a bar on a terminal and one line per finished trial elsewhere.
"""
from __future__ import annotations

import logging
import shutil
import signal
import sys
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from experiments._files import atomic_write_text
from experiments._parallel import parallel_backend
from experiments._provenance import PROVENANCE_FILE, _earlier_runs, _git_commit, write_run_files
from experiments._seeding import Trial
from experiments._settings import check_fusion, check_resumable, check_runner_config, output_dir
from experiments._store import (
    MANIFEST_FILE,
    METRICS_FILE,
    TIDY_COLUMNS,
    TIMINGS_FILE,
    _trial_digests,
    check_run,
    check_run_dir,
    hold,
    refuse_committed,
    staging_dir,
    swap_in,
    trial_key,
    write_results,
)
from experiments._summaries import objective
from experiments.data_requirements import check_installed_data
from experiments.errors import RunDirError
from spahm import _progress

LOG = logging.getLogger("spahm.run")


def _show_progress(cfg):
    """Progress bars only on a terminal, never in multirun jobs or logs, and not if quiet."""
    if bool(OmegaConf.select(cfg, "quiet", default=False)) or not sys.stderr.isatty():
        return False
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        return HydraConfig.get().mode != RunMode.MULTIRUN
    except (ImportError, ValueError):
        return True


def _duration(seconds) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def progress_line(name, done, total, elapsed) -> str:
    """``[name] trial 3/12 done, 1m02s elapsed, about 3m06s left`` (no carriage return)."""
    left = elapsed / done * (total - done) if done else 0.0
    return (f"[{name}] trial {done}/{total} done, {_duration(elapsed)} elapsed"
            + (f", about {_duration(left)} left" if done < total else ""))


def _log_line(line):
    """A progress line for a log: inside a Hydra job through logging (Hydra's job logging
    writes it on stderr and in ``<run>/spahm-experiment.log``), else on stderr."""
    try:
        from hydra.core.hydra_config import HydraConfig

        inside = HydraConfig.initialized()
    except ImportError:
        inside = False
    if inside:
        LOG.info(line)
    else:
        print(line, file=sys.stderr, flush=True)


@contextmanager
def sigterm_as_interrupt():
    """SIGTERM raises KeyboardInterrupt in the run (only in the main thread), so a terminated
    run stops as Ctrl-C stops it: joblib's workers and their memory-mapped folders are cleaned
    up and the finished trials are kept."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_grid(cfg, settings, trial_fn, out_dir, desc=None, on_first_write=None) -> pd.DataFrame:
    """Run ``trial_fn`` for every setting x trial, resuming from ``out_dir``'s verified trials.

    Parameters
    ----------
    cfg : DictConfig
        Needs ``trials`` and ``seed`` (checked by :func:`run_experiment`); ``resume`` (default
        True) keeps finished trials whose rows check out against the manifest
        (:func:`experiments._store.check_run`) and reruns the others.
    settings : list of dict
        Grid points; each dict's keys become CSV columns.
    trial_fn : callable(setting, trial) -> list of dict
        ``trial`` is a :class:`Trial`; rows with at least ``method``, ``metric`` and ``value``.
    out_dir : path
        Run directory; metrics.csv, timings.csv, manifest.json, config.yaml and
        provenance.json go there, written after the first trial finishes.
    on_first_write : callable(out_dir) or None
        Called once the directory exists, before the first file is written (the lock).

    Returns
    -------
    DataFrame of all rows (earlier finished trials included), in grid order.
    """
    out_dir = Path(out_dir)
    name = str(OmegaConf.select(cfg, "name", default=""))
    n_trials = int(cfg.trials)
    base_seed = int(cfg.seed)
    resume = bool(OmegaConf.select(cfg, "resume", default=True))

    by_key, manifest, earlier, problems = {}, {}, {}, []
    if resume and ((out_dir / METRICS_FILE).exists() or (out_dir / MANIFEST_FILE).exists()):
        check_resumable(cfg, out_dir)
        earlier = _earlier_runs(out_dir)
        check = check_run(out_dir)
        problems = check.problems
        for problem in problems:
            print(f"resume: {problem}; such trials are run again", file=sys.stderr)
        by_key = dict(check.parts)
        manifest = dict(check.finished)

    grid = [(s, t, trial_key(s, t)) for s in settings for t in range(n_trials)]
    order = [key for _, _, key in grid] + [k for k in by_key if k not in {g[2] for g in grid}]

    def all_rows():  # grid order, so a repaired run writes what a run from scratch writes
        frames = [by_key[k] for k in order if k in by_key]
        return (pd.concat(frames, ignore_index=True) if frames
                else pd.DataFrame(columns=list(TIDY_COLUMNS)))

    def first_write():
        out_dir.mkdir(parents=True, exist_ok=True)
        if on_first_write is not None:
            on_first_write(out_dir)

    todo = [(s, t) for s, t, key in grid if key not in manifest]
    resumed = len(manifest)
    _git_commit()  # the commit of the code that runs, taken now (provenance is written later)
    start = time.perf_counter()
    show = _show_progress(cfg)
    lines = not show and not bool(OmegaConf.select(cfg, "quiet", default=False))
    written = False
    for done, (setting, trial) in enumerate(tqdm(todo, desc=desc or name, unit="trial",
                                                 disable=not show or not todo), start=1):
        handle = Trial(trial, base_seed, out_dir)
        seed = handle.seed
        with _progress.enabled(show):
            rows = trial_fn(dict(setting), handle)
        frame = pd.DataFrame(rows)
        missing = {"method", "metric", "value"} - set(frame.columns)
        if missing:
            raise ValueError(f"trial_fn returned rows without {sorted(missing)}")
        for k, v in reversed(list(setting.items())):
            frame.insert(0, k, v)
        frame.insert(len(setting), "trial", trial)
        frame.insert(len(setting) + 1, "seed", seed)
        key = trial_key(setting, trial)
        by_key[key] = frame
        manifest[key] = _trial_digests(frame)
        if not written:
            first_write()
            write_run_files(cfg, out_dir, extra=earlier, record_as=_record_as(cfg, out_dir))
            written = True
        write_results(all_rows(), out_dir, manifest)
        if lines:
            _log_line(progress_line(name, done, len(todo), time.perf_counter() - start))

    df = all_rows()
    if not written:
        first_write()
        if problems or not (out_dir / METRICS_FILE).exists():
            write_results(df, out_dir, manifest)  # nothing run now: keep only the verified rows
    write_run_files(cfg, out_dir, wall_time=time.perf_counter() - start,
                    extra={"trials_run_now": len(todo), "trials_resumed": resumed, **earlier},
                    record_as=_record_as(cfg, out_dir))
    return df


def _record_as(cfg, out_dir):
    """The directory a run records as its own: the one it replaces when it writes elsewhere."""
    final = output_dir(cfg)
    return final if Path(out_dir) == staging_dir(final) else out_dir


_RUNNER_FILES = (METRICS_FILE, MANIFEST_FILE, TIMINGS_FILE, PROVENANCE_FILE, "config.yaml",
                 "report.md")


def _claim(stack, fresh):
    """The first-write hook: hold the directory, and refuse if the directory was new when the
    run started but another run wrote into it meanwhile."""
    def claim(out_dir):
        stack.enter_context(hold(out_dir))
        # A trial may already have written its own artifacts (segmentations, checkpoints);
        # only the runner's files tell that another run got here first.
        if fresh and any((out_dir / f).exists() for f in _RUNNER_FILES):
            raise RunDirError(f"another run wrote into {out_dir} while this one was running: "
                              "choose another directory")
    return claim


def _where_to_write(cfg, out):
    """``out``, or the staging sibling when ``out`` holds committed results and the config
    says ``overwrite=true`` (copied from ``out`` first when resuming); refuses committed
    results without it."""
    if not refuse_committed(out, bool(OmegaConf.select(cfg, "overwrite", default=False))):
        return out
    staged = staging_dir(out)
    resume = bool(OmegaConf.select(cfg, "resume", default=True))
    if staged.exists() and not resume:
        shutil.rmtree(staged)
    if resume and not staged.exists():
        tmp = staged.with_name(staged.name + ".copy")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(out, tmp, ignore=shutil.ignore_patterns(".hydra", "*.log"))
        tmp.rename(staged)
    return staged


def run_experiment(cfg, module) -> pd.DataFrame:
    """Run an experiment module (:class:`experiments.contract.Experiment`) as configured:
    check the runner's keys and the run directory, validate, prepare, every setting x trial,
    then figures and report.md. Nothing is written before the first trial finishes.

    Returns the tidy rows; ``df.attrs["objective"]`` holds the run's scalar objective
    (:func:`objective`), which the Hydra entry point returns (for Optuna sweeps).
    """
    check_runner_config(cfg)
    check_fusion(cfg)
    out = output_dir(cfg)
    name = OmegaConf.select(cfg, "name", default=None)
    check_run_dir(out, name)
    module.validate(cfg)
    check_installed_data(name, OmegaConf.select(cfg, "profile", default=None))
    work = _where_to_write(cfg, out)
    threads = OmegaConf.select(cfg, "threads", default=None)
    with ExitStack() as stack:
        stack.enter_context(sigterm_as_interrupt())
        if work != out:
            stack.enter_context(hold(out))  # no other run resumes the committed one meanwhile
        fresh = not work.exists()
        if not fresh:
            stack.enter_context(hold(work))
        claim = _claim(stack, fresh) if fresh else None
        with threadpool_limits(limits=threads), parallel_backend(cfg):
            prepared = module.prepare(cfg)
            df = run_grid(cfg, module.settings(cfg),
                          lambda setting, trial: module.trial(cfg, setting, trial, prepared),
                          work, desc=str(name or ""), on_first_write=claim)
        module.plot(df, work, cfg)
        atomic_write_text(work / "report.md", module.report(df, cfg))
        if work != out:
            swap_in(work, out)
    df.attrs["objective"] = objective(df, cfg)
    return df

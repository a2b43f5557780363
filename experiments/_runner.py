"""The loop every experiment shares: settings x trials, seeding, per-silo fitting, methods,
resume, atomic CSV, provenance.

An experiment module says only what is its own (data, local models, methods, figures); the
contract it follows is :class:`experiments.contract.Experiment`, and
:func:`run_experiment` drives it.

Seeds: trial ``t`` of a run with ``seed = s`` owns the stream
``numpy.random.SeedSequence(s, spawn_key=(t,))`` (:class:`Trial`); everything random in the
trial derives from it by name (:meth:`Trial.seed_for`), and silo ``j``'s local fit from
``spawn_key=(t, <name>, j)``, so no two trials or silos share a random stream.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from omegaconf import OmegaConf
from threadpoolctl import threadpool_info
from tqdm.auto import tqdm

from spahm import _progress

METRICS_FILE = "metrics.csv"
PROVENANCE_FILE = "provenance.json"
#: Wall times vary from run to run, so they are kept apart: metrics.csv is byte-identical for
#: the same config and seed, timings.csv is not. A metric is a timing if its name ends in this.
TIMINGS_FILE = "timings.csv"
TIMING_SUFFIX = "time_s"
TIDY_COLUMNS = ("trial", "seed", "method", "metric", "value")
_PACKAGES = ("spahm", "numpy", "scipy", "scikit-learn", "pandas", "matplotlib", "hydra-core",
             "GPy", "nltk", "joblib")


class DataMissingError(FileNotFoundError):
    """A dataset the experiment needs is not installed; the message names the script to run."""


class ConfigError(ValueError):
    """A config value is missing or impossible; the message names the key."""


# ---------------------------------------------------------------------------- atomic files
def _atomic_write(path, write):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes private files; results are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path, text):
    """Write text to a temporary file beside ``path`` and rename it into place."""
    _atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def atomic_write_csv(df, path):
    """Write a DataFrame as CSV atomically (no index, fixed float format for byte-identical reruns)."""
    _atomic_write(path, lambda tmp: df.to_csv(tmp, index=False, float_format="%.10g"))


def save_figure(fig, path):
    """Save a matplotlib figure atomically and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    _atomic_write(path, lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip("."), dpi=130,
                                                 bbox_inches="tight",
                                                 metadata={"Software": None} if path.suffix == ".png" else None))
    plt.close(fig)


# ---------------------------------------------------------------------------- config helpers
def require(cfg, key, check, expected):
    """Raise :class:`ConfigError` naming ``key`` unless ``check(value)`` holds."""
    value = OmegaConf.select(cfg, key, throw_on_missing=False)
    try:
        ok = value is not None and check(value)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"config key '{key}' = {value!r}: expected {expected}")
    return value


def output_dir(cfg) -> Path:
    """The run directory: ``cfg.output_dir`` if set, else Hydra's, else the working directory."""
    explicit = OmegaConf.select(cfg, "output_dir", default=None)
    if explicit:
        return Path(explicit)
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir)
    except ValueError:
        return Path.cwd()


@contextmanager
def stopwatch():
    """``with stopwatch() as t: ...; t()`` gives the elapsed wall time in seconds."""
    start = time.perf_counter()
    end = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


# ---------------------------------------------------------------------------- seeds
def _key_part(part):
    """A spawn-key entry from an int or a name (names hashed with a stable CRC-32)."""
    if isinstance(part, (int, np.integer)) and not isinstance(part, bool):
        if part < 0:
            raise ValueError(f"seed key parts must be non-negative, got {part}")
        return int(part)
    return zlib.crc32(str(part).encode())


@dataclass(frozen=True)
class Trial:
    """One trial's random stream and index, handed to an experiment's ``trial``.

    ``seed_for("kmeans")`` or ``seed_for("silo", j)`` gives a 32-bit integer seed for a
    library that wants one (scikit-learn's ``random_state``, GPy), ``rng(...)`` a NumPy
    generator; both are derived from ``SeedSequence(root, spawn_key=(index, *key))``, so
    different names, silos and trials never share a stream, and the same config and seed
    give the same numbers.
    """

    index: int
    root: int
    #: The run directory, for experiments that save per-trial artefacts beside the CSV.
    out_dir: Path | None = None

    def sequence(self, *key) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.root, spawn_key=(self.index,) + tuple(map(_key_part, key)))

    def seed_for(self, *key) -> int:
        return int(self.sequence(*key).generate_state(1)[0])

    def rng(self, *key) -> np.random.Generator:
        return np.random.default_rng(self.sequence(*key))

    @property
    def seed(self) -> int:
        """The trial's own integer seed (recorded in the CSV's ``seed`` column)."""
        return self.seed_for()


# ---------------------------------------------------------------------------- per-silo fitting
@dataclass(frozen=True)
class SiloFits:
    """Fitted local models with each silo's wall and CPU time (seconds)."""

    models: list
    wall_s: np.ndarray
    cpu_s: np.ndarray

    @property
    def sequential_wall_s(self) -> float:
        """Wall time if the silos were fitted one after the other on one machine."""
        return float(self.wall_s.sum())

    @property
    def parallel_wall_s(self) -> float:
        """Wall time when every silo fits at once where its data is (the federated setting)."""
        return float(self.wall_s.max()) if len(self.wall_s) else 0.0

    @property
    def total_cpu_s(self) -> float:
        return float(self.cpu_s.sum())


def _timed(fit, data, seed):
    wall, cpu = time.perf_counter(), time.process_time()
    model = fit(data, seed)
    return model, time.perf_counter() - wall, time.process_time() - cpu


def fit_per_silo(fit, silo_data, trial, name="local", n_jobs=1, backend=None) -> SiloFits:
    """Fit one local model per silo, in parallel, each with its own seed and timer.

    Parameters
    ----------
    fit : callable(data, seed) -> model
        Fits one silo's local model; ``seed`` is an int from :meth:`Trial.seed_for`.
    silo_data : list
        One entry per silo, passed to ``fit`` as is.
    trial : Trial
        Silo ``j`` gets ``trial.seed_for(name, j)``.
    name : str
        Names the stream, so two kinds of local model in one trial get different seeds.
    n_jobs : int
        Silos fitted at once (joblib).
    backend : str or None
        joblib backend (``loky`` if None); ``dask`` or ``ray`` use a cluster registered with
        joblib (see ``parallel.backend`` in conf/config.yaml).
    """
    seeds = [trial.seed_for(name, j) for j in range(len(silo_data))]
    jobs = (delayed(_timed)(fit, data, seed) for data, seed in zip(silo_data, seeds))
    out = Parallel(n_jobs=n_jobs, backend=backend)(jobs)
    return SiloFits([m for m, _, _ in out], np.array([w for _, w, _ in out]),
                    np.array([c for _, _, c in out]))


# ---------------------------------------------------------------------------- methods
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
    """Mean, sd and count over trials of one metric, grouped by ``by`` (a tidy frame)."""
    sub = df[df.metric == metric]
    return sub.groupby(list(by), sort=False)["value"].agg(["mean", "std", "count"]).reset_index()


def mean_sd(mean, sd, count, digits=2):
    """One table cell: ``mean +- sd`` over trials, or ``mean (n = 1)`` for a single trial."""
    if count is None or count <= 1 or sd is None or not np.isfinite(sd):
        return f"{mean:.{digits}f} (n = 1)" if count == 1 else f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} +- {sd:.{digits}f}"


# ---------------------------------------------------------------------------- provenance
@lru_cache(maxsize=1)
def _git_commit():
    """The commit (``-dirty`` if the code differs) at the first call: the code this process
    imported, even if the checkout moves on while a long run is going."""
    try:
        root = Path(__file__).resolve().parents[1]
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10)
        commit = out.stdout.strip()
        if out.returncode != 0 or not commit:
            return "unknown"
        # "dirty" means the code differs from the commit; results/ is where runs write.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":(exclude)results"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _thread_pools():
    """Thread count of each loaded BLAS/OpenMP library (k-means' numbers depend on OpenMP's)."""
    pools = {}
    for pool in threadpool_info():
        pools.setdefault(pool["internal_api"], pool["num_threads"])
    return pools


def provenance(cfg, wall_time=None, extra=None):
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    info = {
        "experiment": OmegaConf.select(cfg, "name", default=None),
        "profile": OmegaConf.select(cfg, "profile", default=None),
        "seed": OmegaConf.select(cfg, "seed", default=None),
        "git_commit": _git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "threads": _thread_pools(),
        "packages": versions,
        "wall_time_s": None if wall_time is None else round(wall_time, 3),
        "command": " ".join(sys.argv),
    }
    info.update(extra or {})
    return info


def _earlier_runs(out_dir):
    """``{"earlier_runs": [...]}`` from the provenance a resumed run is about to replace.

    Each entry keeps what identifies one invocation (commit, command, wall time, trials run);
    ``wall_time_s`` None marks one that was interrupted. Empty when there is nothing to keep.
    """
    try:
        old = json.loads((Path(out_dir) / PROVENANCE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    keep = ("date_utc", "git_commit", "command", "cpu_count", "threads", "wall_time_s",
            "trials_run_now", "trials_resumed")
    entry = {k: old[k] for k in keep if k in old}
    return {"earlier_runs": list(old.get("earlier_runs", [])) + [entry]}


def write_run_files(cfg, out_dir, wall_time=None, extra=None):
    """``config.yaml`` (resolved) and ``provenance.json`` in the run directory."""
    out_dir = Path(out_dir)
    atomic_write_text(out_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    atomic_write_text(out_dir / PROVENANCE_FILE,
                      json.dumps(provenance(cfg, wall_time, extra), indent=2) + "\n")


# ---------------------------------------------------------------------------- the loop
#: Config keys a resumed run may change: more trials or grid points add rows keyed by setting
#: and trial; the others do not change any number.
RESUMABLE_KEYS = ("trials", "grid", "quiet", "resume", "output_dir", "n_jobs")


def _flatten(node, prefix=""):
    out = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def check_resumable(cfg, out_dir):
    """Raise :class:`ConfigError` if ``out_dir`` holds trials run with another config.

    Only the keys in :data:`RESUMABLE_KEYS` may differ, so a resumed run never mixes trials
    of different settings in one CSV.
    """
    saved_path = Path(out_dir) / "config.yaml"
    if not saved_path.is_file():
        return
    saved = _flatten(OmegaConf.to_container(OmegaConf.load(saved_path), resolve=True))
    now = _flatten(OmegaConf.to_container(cfg, resolve=True))
    absent = "<absent>"
    # A key added to the configs after the run is fine while it is null: new keys default to
    # null meaning "as before", so older run directories stay resumable.
    changed = [
        f"{key}: {saved.get(key, absent)!r} there, {now.get(key, absent)!r} now"
        for key in sorted(set(saved) | set(now))
        if key.split(".")[0] not in RESUMABLE_KEYS and saved.get(key, absent) != now.get(key, absent)
        and not (key not in saved and now[key] is None)
    ]
    if changed:
        raise ConfigError(
            f"{out_dir} holds trials run with another config ({'; '.join(changed)}). "
            "Resume with the same config, write to another directory, or pass resume=false "
            "to start it over.")


def _setting_key(setting):
    return tuple(sorted((k, repr(v)) for k, v in setting.items()))


def run_grid(cfg, settings, trial_fn, out_dir, desc=None) -> pd.DataFrame:
    """Run ``trial_fn`` for every setting x trial, resuming from ``out_dir/metrics.csv``.

    Parameters
    ----------
    cfg : DictConfig
        Needs ``trials`` and ``seed``; ``resume`` (default True) skips finished trials.
    settings : list of dict
        Grid points; each dict's keys become CSV columns.
    trial_fn : callable(setting, trial) -> list of dict
        ``trial`` is a :class:`Trial`; rows with at least ``method``, ``metric`` and ``value``.
    out_dir : path
        Run directory; ``metrics.csv``, ``config.yaml`` and ``provenance.json`` go there.

    Returns
    -------
    DataFrame of all rows (earlier finished trials included), in grid order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / METRICS_FILE
    n_trials = int(cfg.trials)
    base_seed = int(cfg.seed)
    resume = bool(OmegaConf.select(cfg, "resume", default=True))
    setting_cols = list(dict.fromkeys(k for s in settings for k in s))

    frames = []
    done = set()
    earlier = {}
    if resume and csv_path.exists():
        check_resumable(cfg, out_dir)
        earlier = _earlier_runs(out_dir)
        previous = load_results(out_dir)
        frames.append(previous)
        for _, row in previous[setting_cols + ["trial"]].drop_duplicates().iterrows():
            setting = {k: row[k] for k in setting_cols}
            done.add((_setting_key(_normalise(setting)), int(row["trial"])))

    write_run_files(cfg, out_dir, extra=earlier)
    start = time.perf_counter()
    todo = [(s, t) for s in settings for t in range(n_trials)
            if (_setting_key(_normalise(s)), t) not in done]
    quiet = bool(OmegaConf.select(cfg, "quiet", default=False))
    for setting, trial in tqdm(todo, desc=desc or str(OmegaConf.select(cfg, "name", default="")),
                               disable=quiet or not todo, unit="trial"):
        handle = Trial(trial, base_seed, out_dir)
        seed = handle.seed
        with _progress.enabled(not quiet):
            rows = trial_fn(dict(setting), handle)
        frame = pd.DataFrame(rows)
        missing = {"method", "metric", "value"} - set(frame.columns)
        if missing:
            raise ValueError(f"trial_fn returned rows without {sorted(missing)}")
        for k, v in reversed(list(setting.items())):
            frame.insert(0, k, v)
        frame.insert(len(setting), "trial", trial)
        frame.insert(len(setting) + 1, "seed", seed)
        frames.append(frame)
        write_results(pd.concat(frames, ignore_index=True), out_dir)

    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    write_run_files(cfg, out_dir, wall_time=time.perf_counter() - start,
                    extra={"trials_run_now": len(todo), "trials_resumed": len(done), **earlier})
    return df


def run_experiment(cfg, module) -> pd.DataFrame:
    """Run an experiment module (:class:`experiments.contract.Experiment`) as configured:
    validate, prepare, every setting x trial, then figures; returns the tidy rows."""
    module.validate(cfg)
    prepared = module.prepare(cfg)
    out = output_dir(cfg)
    df = run_grid(cfg, module.settings(cfg),
                  lambda setting, trial: module.trial(cfg, setting, trial, prepared), out,
                  desc=str(OmegaConf.select(cfg, "name", default="")))
    module.plot(df, out, cfg)
    atomic_write_text(out / "report.md", module.report(df, cfg))
    return df


def write_results(df, out_dir):
    """Split rows into metrics.csv and timings.csv (see TIMINGS_FILE), each written atomically."""
    out_dir = Path(out_dir)
    timing = df["metric"].astype(str).str.endswith(TIMING_SUFFIX)
    atomic_write_csv(df[~timing], out_dir / METRICS_FILE)
    atomic_write_csv(df[timing], out_dir / TIMINGS_FILE)


def load_results(run_dir) -> pd.DataFrame:
    """All rows of a run directory: metrics.csv plus timings.csv (if present)."""
    run_dir = Path(run_dir)
    path = run_dir / METRICS_FILE
    if not path.exists():
        raise FileNotFoundError(f"no {METRICS_FILE} in {run_dir}: not a finished or started run")
    frames = [pd.read_csv(path)]
    if (run_dir / TIMINGS_FILE).exists() and (run_dir / TIMINGS_FILE).stat().st_size > 1:
        frames.append(pd.read_csv(run_dir / TIMINGS_FILE))
    return pd.concat(frames, ignore_index=True)


def _normalise(setting):
    """Make values read back from CSV compare equal to config values (1 vs 1.0, numpy types)."""
    out = {}
    for k, v in setting.items():
        if hasattr(v, "item"):
            v = v.item()
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            out[k] = v
        else:
            out[k] = float(v)
    return out

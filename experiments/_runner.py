"""The loop every experiment shares: settings x trials, seeding, resume, atomic CSV, provenance.

An experiment module says only what is its own (data, local models, methods, figures) and
hands the runner a ``trial_fn(setting, trial, seed) -> list[dict]``.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import pandas as pd
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
    trial_fn : callable(setting, trial, seed) -> list of dict
        Rows with at least ``method``, ``metric`` and ``value``.
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
        seed = base_seed + trial
        with _progress.enabled(not quiet):
            rows = trial_fn(dict(setting), trial, seed)
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

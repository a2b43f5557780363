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

import hashlib
import io
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
import zlib
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, parallel_config
from omegaconf import DictConfig, OmegaConf
from threadpoolctl import threadpool_info, threadpool_limits
from tqdm.auto import tqdm

from data_scripts._common import replace_atomically
from experiments.errors import ConfigError, DataMissingError, RunDirError
from spahm import _progress

ROOT = Path(__file__).resolve().parents[1]
METRICS_FILE = "metrics.csv"
PROVENANCE_FILE = "provenance.json"
#: Row count and checksum of every finished trial, written after its rows: resume and
#: spahm-report keep only the trials whose rows in metrics.csv / timings.csv still match.
MANIFEST_FILE = "manifest.json"
#: Wall times vary from run to run, so they are kept apart: metrics.csv is byte-identical for
#: the same config and seed, timings.csv is not. A metric is a timing if its name ends in this.
TIMINGS_FILE = "timings.csv"
TIMING_SUFFIX = "time_s"
TIDY_COLUMNS = ("trial", "seed", "method", "metric", "value")
_PACKAGES = ("spahm", "numpy", "scipy", "scikit-learn", "pandas", "matplotlib", "hydra-core",
             "GPy", "nltk", "joblib", "gensim", "pyarrow")




# ---------------------------------------------------------------------------- atomic files
def _atomic_write(path, write):
    replace_atomically(path, write)


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
        Fits one silo's local model; ``seed`` is an int from :meth:`Trial.seed_for`. It is
        sent to the workers, so with a process or cluster backend it must be picklable
        (cloudpickle: module functions, closures and lambdas are).
    silo_data : list
        One entry per silo, passed to ``fit`` as is.
    trial : Trial
        Silo ``j`` gets ``trial.seed_for(name, j)``.
    name : str
        Names the stream, so two kinds of local model in one trial get different seeds.
    n_jobs : int
        Silos fitted at once (joblib; ``-1`` all workers).
    backend : str or None
        joblib backend; None uses the run's (``parallel.backend`` in the config, set by
        :func:`parallel_backend` around the run: ``loky`` by default, ``dask`` on a cluster).

    The results do not depend on the backend or ``n_jobs``: each silo's seed is its own.
    """
    seeds = [trial.seed_for(name, j) for j in range(len(silo_data))]
    jobs = (delayed(_timed)(fit, data, seed) for data, seed in zip(silo_data, seeds))
    out = Parallel(n_jobs=n_jobs, backend=backend)(jobs)
    return SiloFits([m for m, _, _ in out], np.array([w for _, w, _ in out]),
                    np.array([c for _, _, c in out]))


#: How long to try reaching a dask scheduler before giving up with a ConfigError.
DASK_CONNECT_TIMEOUT = "20s"


@contextmanager
def parallel_backend(cfg):
    """Make ``parallel.backend`` (and ``parallel.address``) the joblib backend inside the block.

    ``dask`` connects to the scheduler at ``parallel.address``, or starts a local cluster of
    ``n_jobs`` single-threaded worker processes when the address is null (the ``dask`` extra).
    """
    from experiments._schema import BACKENDS

    backend = OmegaConf.select(cfg, "parallel.backend", default=None) or "loky"
    address = OmegaConf.select(cfg, "parallel.address", default=None)
    threads = OmegaConf.select(cfg, "threads", default=None)
    if backend not in BACKENDS:
        raise ConfigError(f"config key 'parallel.backend' = {backend!r}: expected one of {list(BACKENDS)}")
    if backend != "dask":
        # loky workers get the run's BLAS/OpenMP thread count (joblib's default would be
        # cores / n_jobs, which differs between machines and can move the last digits).
        inner = {"inner_max_num_threads": int(threads)} if threads and backend == "loky" else {}
        with parallel_config(backend=backend, **inner):
            yield
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("config key 'parallel.backend' = 'dask' needs dask.distributed: "
                          "pip install -e '.[dask]'") from None
    if address:
        try:
            client = Client(address, timeout=DASK_CONNECT_TIMEOUT)
        except OSError as exc:
            raise ConfigError(f"config key 'parallel.address' = {address!r}: cannot reach the "
                              f"dask scheduler ({exc})") from None
        cluster = nullcontext()
    else:
        workers = max(1, int(OmegaConf.select(cfg, "n_jobs", default=1) or 1))
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None,
                               worker_dashboard_address=None)
        client = Client(cluster)
    with cluster, client, parallel_config(backend="dask"):
        yield


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


def relative_path(path) -> str:
    """``path`` relative to the repository when it lies inside it (results stay portable),
    else as given."""
    p = Path(path)
    try:
        return Path(os.path.relpath(p.resolve(), ROOT)).as_posix() if p.resolve().is_relative_to(ROOT) else str(p)
    except (OSError, ValueError):
        return str(p)


def _portable_arg(arg, first=False):
    """One command-line word with absolute paths inside the repository made relative."""
    if first:
        name = Path(arg).name
        return "spahm-experiment" if name == "spahm-experiment" else relative_path(arg)
    key, eq, value = arg.partition("=")
    if eq and os.path.isabs(value):
        return f"{key}={relative_path(value)}"
    return relative_path(arg) if os.path.isabs(arg) else arg


def command_line(argv=None) -> str:
    """The command that started this process, with repository paths relative."""
    argv = sys.argv if argv is None else argv
    return " ".join(_portable_arg(a, first=(i == 0)) for i, a in enumerate(argv))


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
        "command": command_line(),
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


def saved_config(cfg, out_dir):
    """The resolved config as a run directory records it (``output_dir`` relative to the repo)."""
    data = OmegaConf.to_container(cfg, resolve=True)
    if data.get("output_dir"):
        data["output_dir"] = relative_path(data["output_dir"])
    return data


def write_run_files(cfg, out_dir, wall_time=None, extra=None):
    """``config.yaml`` (resolved) and ``provenance.json`` in the run directory."""
    out_dir = Path(out_dir)
    atomic_write_text(out_dir / "config.yaml", OmegaConf.to_yaml(saved_config(cfg, out_dir)))
    info = {**provenance(cfg, wall_time, extra), "output_dir": relative_path(out_dir)}
    atomic_write_text(out_dir / PROVENANCE_FILE, json.dumps(info, indent=2) + "\n")


# ---------------------------------------------------------------------------- checks before a run
def check_runner_config(cfg):
    """Ranges of the runner's root keys that the schema's types cannot express; raises
    :class:`ConfigError` naming the key. Called before anything is written."""
    from experiments._schema import BACKENDS, DIRECTIONS

    def get(key):
        return OmegaConf.select(cfg, key, default=None, throw_on_missing=False)

    seed = get("seed")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"config key 'seed' = {seed!r}: expected an integer >= 0 (the root of "
                          "numpy's SeedSequence)")
    trials = get("trials")
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 1:
        raise ConfigError(f"config key 'trials' = {trials!r}: expected an integer >= 1")
    threads = get("threads")
    if threads is not None and (isinstance(threads, bool)
                                or not isinstance(threads, (int, np.integer)) or threads < 1):
        raise ConfigError(f"config key 'threads' = {threads!r}: expected an integer >= 1 (BLAS "
                          "and OpenMP threads per process) or null (the environment's)")
    n_jobs = get("n_jobs")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer))
                               or n_jobs == 0 or n_jobs < -1):
        raise ConfigError(f"config key 'n_jobs' = {n_jobs!r}: expected an integer >= 1, or -1 "
                          "for every core")
    backend = get("parallel.backend")
    if backend is not None and backend not in BACKENDS:
        raise ConfigError(f"config key 'parallel.backend' = {backend!r}: expected one of "
                          f"{list(BACKENDS)}")
    direction = get("objective.direction")
    if direction is not None and direction not in DIRECTIONS:
        raise ConfigError(f"config key 'objective.direction' = {direction!r}: expected one of "
                          f"{list(DIRECTIONS)}")


def _hydra_own(path):
    """Files Hydra itself writes into a run directory before the task starts."""
    path = Path(path)
    return (path.name == ".hydra" and path.is_dir()) or (path.suffix == ".log" and path.is_file())


def check_run_dir(out_dir, name):
    """Raise :class:`RunDirError` unless ``out_dir`` is new, empty, holds only Hydra's own files,
    or holds an earlier run of experiment ``name`` (which is then resumed or started over).

    Refuses a file, a run of another experiment, and any folder with files no run wrote
    (``hydra.run.dir=conf``, ``hydra.run.dir=/``), before anything is written.
    """
    out_dir = Path(out_dir)
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise RunDirError(f"run directory {out_dir} is a file: name a new or empty directory")
    try:
        entries = sorted(p.name for p in out_dir.iterdir() if not _hydra_own(p))
    except OSError as exc:
        raise RunDirError(f"run directory {out_dir} cannot be read ({exc.strerror})") from None
    if not entries:
        return
    saved = out_dir / "config.yaml"
    other = None
    if saved.is_file() and (out_dir / PROVENANCE_FILE).is_file():
        try:
            previous = OmegaConf.load(saved)
        except Exception:  # noqa: BLE001 - any unreadable file means "not a run of ours"
            previous = None
        if isinstance(previous, DictConfig):
            other = previous.get("name")
            if other == name:
                return
    if other is not None:
        raise RunDirError(f"run directory {out_dir} holds a run of {other!r}, not {name!r}: "
                          "name a new or empty directory")
    shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
    raise RunDirError(f"run directory {out_dir} holds files no run of {name!r} wrote ({shown}): "
                      "name a new or empty directory (hydra.run.dir=... or output_dir=...)")


def remove_if_unused(out_dir):
    """Remove ``out_dir`` if it holds nothing but Hydra's own files (a run that failed before
    its first trial leaves no empty directory behind); returns True if removed."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir() or any(not _hydra_own(p) for p in out_dir.iterdir()):
        return False
    for p in out_dir.iterdir():
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    out_dir.rmdir()
    # Parents the run's path created (outputs/<name>/<profile>/), up to the working directory.
    parent, stop = out_dir.resolve().parent, Path.cwd().resolve()
    while parent != stop and parent.is_relative_to(stop) and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent
    return True


# ---------------------------------------------------------------------------- resume
#: Config keys a resumed run may change: more trials or grid points add rows keyed by setting
#: and trial; the others do not change any number.
RESUMABLE_KEYS = ("trials", "grid", "quiet", "resume", "output_dir", "n_jobs", "threads",
                  "parallel", "objective")


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


def _cell(value):
    """A CSV cell as text that survives the round trip through metrics.csv (None if empty)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return format(float(value), ".10g")


def trial_key(setting, trial) -> str:
    """The key of one finished trial: its setting's values and its index, as text."""
    cells = {k: _cell(v) for k, v in setting.items()}
    return json.dumps([sorted((k, v) for k, v in cells.items() if v is not None), int(trial)])


def _digest(frame) -> dict:
    """Row count and sha256 of a trial's rows (empty cells ignored, floats as %.10g)."""
    h = hashlib.sha256()
    records = frame.to_dict("records")
    for row in records:
        cells = sorted((k, _cell(v)) for k, v in row.items())
        h.update(("|".join(f"{k}={v}" for k, v in cells if v is not None) + "\n").encode())
    return {"rows": len(records), "sha256": h.hexdigest()}


def _split_timings(df):
    timing = df["metric"].astype(str).str.endswith(TIMING_SUFFIX)
    return df[~timing], df[timing]


def _trial_digests(frame):
    metrics, timings = _split_timings(frame)
    return {"metrics": _digest(metrics), "timings": _digest(timings)}


def _read_csv(path, required, problems):
    """One of a run's CSVs; damage (empty, header only, cut line, not CSV) is added to
    ``problems`` naming the file, and only whole lines are read."""
    path = Path(path)
    empty = pd.DataFrame(columns=list(required))
    data = path.read_bytes()
    if not data:
        problems.append(f"{path} is empty (0 bytes)")
        return empty
    if not data.endswith(b"\n"):
        problems.append(f"{path} is cut off (its last line is incomplete)")
        data = data[: data.rfind(b"\n") + 1]
    try:
        df = pd.read_csv(io.BytesIO(data))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        problems.append(f"{path} is not a readable CSV ({str(exc).strip()})")
        return empty
    missing = [c for c in required if c not in df.columns]
    if missing:
        problems.append(f"{path} lacks the columns {missing}: not a run's {path.name}")
        return empty
    return df


def _setting_columns(df):
    cols = list(df.columns)
    return cols[: cols.index("trial")] if "trial" in cols else []


def _row_keys(df, setting_cols):
    return [trial_key({c: row[c] for c in setting_cols}, row["trial"])
            for _, row in df[setting_cols + ["trial"]].iterrows()]


@dataclass
class RunCheck:
    """What :func:`check_run` found in a run directory."""

    rows: pd.DataFrame          #: rows of the verified finished trials (metrics + timings)
    finished: dict              #: trial key -> digests, of the trials whose rows check out
    problems: list              #: one line per damaged file or incomplete trial
    parts: dict                 #: trial key -> that trial's rows (metrics, then timings)


def check_run(run_dir) -> RunCheck:
    """Verify a run directory's rows against its manifest, trial by trial.

    A trial counts as finished only if metrics.csv and timings.csv hold exactly the rows its
    manifest entry records (row count and checksum). Without a manifest (runs written before
    it existed) a trial counts if both files hold rows of it. A damaged or empty file, a cut
    line or a trial with missing rows is reported in ``problems``; its rows are not kept.
    """
    run_dir = Path(run_dir)
    metrics_path, timings_path = run_dir / METRICS_FILE, run_dir / TIMINGS_FILE
    manifest_path = run_dir / MANIFEST_FILE
    problems = []
    manifest = None
    if manifest_path.exists():
        try:
            manifest = json.loads(manifest_path.read_text())["trials"]
        except (OSError, ValueError, KeyError, TypeError):
            problems.append(f"{manifest_path} is damaged: no trial can be verified")
            manifest = {}
    frames = {}
    for label, path in (("metrics", metrics_path), ("timings", timings_path)):
        if not path.exists():
            if label == "metrics" or manifest:
                problems.append(f"{path} is missing")
            frames[label] = pd.DataFrame(columns=list(TIDY_COLUMNS))
            continue
        if label == "timings" and path.stat().st_size <= 1 and not manifest:
            frames[label] = pd.DataFrame(columns=list(TIDY_COLUMNS))  # older runs: no timings
            continue
        frames[label] = _read_csv(path, TIDY_COLUMNS, problems)
    setting_cols = list(dict.fromkeys(_setting_columns(frames["metrics"])
                                      + _setting_columns(frames["timings"])))
    for label, frame in frames.items():
        for col in setting_cols:
            if col not in frame.columns:
                frame.insert(0, col, np.nan)
        frame["_key"] = _row_keys(frame, setting_cols) if len(frame) else []

    finished, kept = {}, {}
    keys = list(dict.fromkeys(list(frames["metrics"]["_key"]) + list(frames["timings"]["_key"])
                              + list(manifest or {})))
    groups = {label: {k: g.drop(columns="_key") for k, g in frame.groupby("_key", sort=False)}
              for label, frame in frames.items()}
    for key in keys:
        parts = {label: groups[label].get(key, frames[label].iloc[:0].drop(columns="_key"))
                 for label in frames}
        setting, trial = json.loads(key)
        where = f"trial {trial}" + (f" ({', '.join(f'{k}={v}' for k, v in setting)})" if setting else "")
        if manifest is not None:
            expected = manifest.get(key)
            if not isinstance(expected, dict):
                problems.append(f"{metrics_path}: {where} is not recorded as finished in {MANIFEST_FILE}")
                continue
            bad = []
            for label, path in (("metrics", metrics_path), ("timings", timings_path)):
                got, want = _digest(parts[label]), expected.get(label)
                if got != want:
                    rows = want.get("rows") if isinstance(want, dict) else None
                    bad.append(f"{path.name} has {got['rows']} of its {rows} rows"
                               if got["rows"] != rows
                               else f"{path.name}'s rows differ from their checksum")
            if bad:
                problems.append(f"{run_dir}: {where} is damaged ({'; '.join(bad)})")
                continue
        elif parts["metrics"].empty or (frames["timings"].shape[0] and parts["timings"].empty):
            problems.append(f"{run_dir}: {where} has rows in only one of {METRICS_FILE} and "
                            f"{TIMINGS_FILE}")
            continue
        finished[key] = manifest[key] if manifest is not None else _trial_digests(
            pd.concat([parts["metrics"], parts["timings"]]))
        kept[key] = pd.concat([f for f in (parts["metrics"], parts["timings"]) if len(f)] or
                              [parts["metrics"]], ignore_index=True)
    rows = (pd.concat(list(kept.values()), ignore_index=True) if kept
            else pd.DataFrame(columns=list(TIDY_COLUMNS)))
    return RunCheck(rows, finished, problems, kept)


def write_results(df, out_dir, manifest=None):
    """Split rows into metrics.csv and timings.csv (see TIMINGS_FILE), each written atomically,
    then the manifest of finished trials (``{trial_key: digests}``) when given."""
    out_dir = Path(out_dir)
    metrics, timings = _split_timings(df)
    atomic_write_csv(metrics, out_dir / METRICS_FILE)
    atomic_write_csv(timings, out_dir / TIMINGS_FILE)
    if manifest is not None:
        atomic_write_text(out_dir / MANIFEST_FILE,
                          json.dumps({"trials": manifest}, indent=1, sort_keys=True) + "\n")


def load_results(run_dir) -> pd.DataFrame:
    """All rows of a run directory (metrics.csv plus timings.csv), checked as resume checks
    them (:func:`check_run`); raises :class:`RunDirError` naming the damage."""
    run_dir = Path(run_dir)
    if not (run_dir / METRICS_FILE).exists():
        raise FileNotFoundError(f"no {METRICS_FILE} in {run_dir}: not a finished or started run")
    check = check_run(run_dir)
    if check.problems:
        raise RunDirError("; ".join(check.problems) + f". Resume the run (the same command, into "
                          f"{run_dir}) to redo the damaged trials.")
    if not check.finished:
        raise RunDirError(f"{run_dir / METRICS_FILE} holds no finished trial")
    return check.rows


# ---------------------------------------------------------------------------- overrides
#: Keys that do not change what a run computes (left out of the run's overrides).
_NOT_OVERRIDES = ("output_dir", "quiet", "resume", "n_jobs", "threads", "parallel", "objective",
                  "name", "profile")


@lru_cache(maxsize=16)
def _profile_defaults(name, profile):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from experiments.registry import register_configs

    register_configs()
    overrides = [f"experiment={name}", f"profile={profile}"]
    if GlobalHydra.instance().is_initialized():  # inside a Hydra app: its config dir is ours
        cfg = compose(config_name="config", overrides=overrides)
    else:
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = compose(config_name="config", overrides=overrides)
    return _flatten(OmegaConf.to_container(cfg, resolve=True))


def run_overrides(cfg) -> list[str]:
    """``key=value`` for every key of a run's config that differs from its experiment and
    profile's defaults (works on a saved config.yaml as well as on a live config)."""
    if cfg is None:
        return []
    try:
        now = _flatten(OmegaConf.to_container(cfg, resolve=True))
        defaults = _profile_defaults(now.get("name"), now.get("profile"))
    except Exception:  # noqa: BLE001 - unknown experiment or profile: no overrides to show
        return []
    absent = object()
    out = []
    for key in now:
        value = now[key]
        if key.split(".")[0] in _NOT_OVERRIDES or defaults.get(key, absent) == value:
            continue
        if isinstance(value, str) and ("/" in value or "\\" in value):
            continue  # data paths differ between machines; they are not part of the experiment
        out.append(f"{key}={value}")
    return out


# ---------------------------------------------------------------------------- the loop
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


def run_grid(cfg, settings, trial_fn, out_dir, desc=None) -> pd.DataFrame:
    """Run ``trial_fn`` for every setting x trial, resuming from ``out_dir``'s verified trials.

    Parameters
    ----------
    cfg : DictConfig
        Needs ``trials`` and ``seed``; ``resume`` (default True) keeps finished trials whose
        rows check out against the manifest (:func:`check_run`) and reruns the others.
    settings : list of dict
        Grid points; each dict's keys become CSV columns.
    trial_fn : callable(setting, trial) -> list of dict
        ``trial`` is a :class:`Trial`; rows with at least ``method``, ``metric`` and ``value``.
    out_dir : path
        Run directory; metrics.csv, timings.csv, manifest.json, config.yaml and
        provenance.json go there, written after the first trial finishes.

    Returns
    -------
    DataFrame of all rows (earlier finished trials included), in grid order.
    """
    check_runner_config(cfg)
    out_dir = Path(out_dir)
    check_run_dir(out_dir, OmegaConf.select(cfg, "name", default=None))
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

    todo = [(s, t) for s, t, key in grid if key not in manifest]
    resumed = len(manifest)
    start = time.perf_counter()
    show = _show_progress(cfg)
    written = False
    for setting, trial in tqdm(todo, desc=desc or str(OmegaConf.select(cfg, "name", default="")),
                               disable=not show or not todo, unit="trial"):
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
            out_dir.mkdir(parents=True, exist_ok=True)
            write_run_files(cfg, out_dir, extra=earlier)
            written = True
        write_results(all_rows(), out_dir, manifest)

    df = all_rows()
    out_dir.mkdir(parents=True, exist_ok=True)
    if not written and (problems or not (out_dir / METRICS_FILE).exists()):
        write_results(df, out_dir, manifest)  # nothing run now: keep only the verified rows
    write_run_files(cfg, out_dir, wall_time=time.perf_counter() - start,
                    extra={"trials_run_now": len(todo), "trials_resumed": resumed, **earlier})
    return df


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


def run_experiment(cfg, module) -> pd.DataFrame:
    """Run an experiment module (:class:`experiments.contract.Experiment`) as configured:
    check the runner's keys and the run directory, validate, prepare, every setting x trial,
    then figures and report.md. Nothing is written before the first trial finishes.

    Returns the tidy rows; ``df.attrs["objective"]`` holds the run's scalar objective
    (:func:`objective`), which the Hydra entry point returns (for Optuna sweeps).
    """
    check_runner_config(cfg)
    out = output_dir(cfg)
    check_run_dir(out, OmegaConf.select(cfg, "name", default=None))
    module.validate(cfg)
    threads = OmegaConf.select(cfg, "threads", default=None)
    with threadpool_limits(limits=threads), parallel_backend(cfg):
        prepared = module.prepare(cfg)
        df = run_grid(cfg, module.settings(cfg),
                      lambda setting, trial: module.trial(cfg, setting, trial, prepared), out,
                      desc=str(OmegaConf.select(cfg, "name", default="")))
    module.plot(df, out, cfg)
    atomic_write_text(out / "report.md", module.report(df, cfg))
    df.attrs["objective"] = objective(df, cfg)
    return df

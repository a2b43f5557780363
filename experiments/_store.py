"""A run directory and its store: the files a run writes, verified trial by trial.

A run directory holds ``metrics.csv`` (byte-identical for the same config and seed),
``timings.csv`` (wall times, which vary), ``manifest.json`` (row count and checksum of every
finished trial, written after its rows), ``config.yaml`` and ``provenance.json``. Resume and
``spahm-report`` keep only the trials whose rows still match the manifest (:func:`check_run`);
a run holds its directory with a lock the kernel releases when the process ends
(:func:`hold`), and a directory whose files git tracks is replaced only on request and only
once the new run is complete (:func:`committed`, :func:`swap_in`).
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from experiments._files import atomic_write_csv, atomic_write_text
from experiments._provenance import PROVENANCE_FILE
from experiments.errors import RunDirError

METRICS_FILE = "metrics.csv"
#: Row count and checksum of every finished trial, written after its rows: resume and
#: spahm-report keep only the trials whose rows in metrics.csv / timings.csv still match.
MANIFEST_FILE = "manifest.json"
#: Wall times vary from run to run, so they are kept apart: metrics.csv is byte-identical for
#: the same config and seed, timings.csv is not. A metric is a timing if its name ends in this.
TIMINGS_FILE = "timings.csv"
TIMING_SUFFIX = "time_s"
TIDY_COLUMNS = ("trial", "seed", "method", "metric", "value")


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
    try:
        data = path.read_bytes()
    except OSError as exc:
        problems.append(f"{path} cannot be read ({exc.strerror or exc}): not a run's {path.name}")
        return empty
    if not data:
        problems.append(f"{path} is empty (0 bytes)")
        return empty
    if b"\r" in data:
        problems.append(f"{path} has Windows line ends (CRLF): it was converted or edited "
                        "after the run wrote it")
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


def _run_name(run_dir, problems):
    """The experiment ``config.yaml`` names, checked against ``provenance.json``'s record."""
    names = {}
    for file, key in (("config.yaml", "name"), (PROVENANCE_FILE, "experiment")):
        path = Path(run_dir) / file
        try:
            data = (OmegaConf.to_container(OmegaConf.load(path)) if file.endswith(".yaml")
                    else json.loads(path.read_text()))
            names[file] = data.get(key) if isinstance(data, dict) else None
        except FileNotFoundError:
            continue
        except Exception as exc:  # noqa: BLE001 - any unreadable record is damage, named
            problems.append(f"{path} is not readable ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else 'empty'})")
            names[file] = None
    if len(names) == 2 and names["config.yaml"] != names[PROVENANCE_FILE]:
        problems.append(f"{Path(run_dir) / 'config.yaml'} names experiment "
                        f"{names['config.yaml']!r} but the run was {names[PROVENANCE_FILE]!r}: "
                        "the config is not this run's")
    return names.get("config.yaml")


def check_run(run_dir) -> RunCheck:
    """Verify a run directory's rows against its manifest, trial by trial.

    A trial counts as finished only if metrics.csv and timings.csv hold exactly the rows its
    manifest entry records (row count and checksum). Reported in ``problems`` (their rows are
    not kept): a missing, damaged or emptied manifest, a damaged or empty file, a cut line,
    Windows line ends, a trial with missing or changed rows, a config.yaml naming another
    experiment than the run's provenance.json.
    """
    run_dir = Path(run_dir)
    metrics_path, timings_path = run_dir / METRICS_FILE, run_dir / TIMINGS_FILE
    manifest_path = run_dir / MANIFEST_FILE
    problems = []
    _run_name(run_dir, problems)
    manifest = {}
    if not manifest_path.exists():
        if metrics_path.exists():
            problems.append(f"{manifest_path} is missing: no trial can be verified")
    else:
        try:
            manifest = json.loads(manifest_path.read_text())["trials"]
            if not isinstance(manifest, dict):
                raise TypeError("trials is not a mapping")
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
                              + list(manifest)))
    groups = {label: {k: g.drop(columns="_key") for k, g in frame.groupby("_key", sort=False)}
              for label, frame in frames.items()}
    for key in keys:
        parts = {label: groups[label].get(key, frames[label].iloc[:0].drop(columns="_key"))
                 for label in frames}
        setting, trial = json.loads(key)
        where = f"trial {trial}" + (f" ({', '.join(f'{k}={v}' for k, v in setting)})" if setting else "")
        expected = manifest.get(key)
        if not isinstance(expected, dict):
            if manifest_path.exists() and manifest:
                problems.append(f"{metrics_path}: {where} is not recorded as finished in "
                                f"{MANIFEST_FILE}")
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
        finished[key] = expected
        kept[key] = pd.concat([f for f in (parts["metrics"], parts["timings"]) if len(f)] or
                              [parts["metrics"]], ignore_index=True)
    if manifest_path.exists() and not manifest and not frames["metrics"].empty:
        problems.append(f"{manifest_path} records no finished trial: no row can be verified")
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


# ---------------------------------------------------------------------------- holding a directory
@contextmanager
def hold(run_dir):
    """Hold ``run_dir`` for one run: an exclusive ``flock`` on the directory itself, which the
    kernel releases when the process ends, however it ends (a killed run leaves no stale lock
    and no lock file). A second run into the same directory is a :class:`RunDirError`.
    Call it once the directory exists; without ``fcntl`` (Windows) nothing is locked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirError(f"another run is writing into {run_dir}: wait for it to finish, or "
                              "choose another directory") from None
        yield
    finally:
        os.close(fd)


def committed(path) -> bool:
    """True if git tracks any file under ``path`` (committed results); False outside a git
    checkout or without git."""
    path = Path(path)
    if not path.is_dir():
        return False
    try:
        out = subprocess.run(["git", "ls-files", "--", "."], cwd=path, capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and bool(out.stdout.strip())


def refuse_committed(path, overwrite):
    """Raise :class:`RunDirError` if ``path`` holds committed results and ``overwrite`` is not
    set; returns whether it holds committed results."""
    if not committed(path):
        return False
    if not overwrite:
        raise RunDirError(f"run directory {path} holds committed results (files git tracks): pass "
                          "overwrite=true to replace them once the new run completes, or choose "
                          "another directory")
    return True


def staging_dir(out_dir) -> Path:
    """Where a run that replaces ``out_dir`` (committed results) writes until it completes: a
    hidden sibling, the same for every attempt, so an interrupted replacement resumes."""
    out_dir = Path(out_dir)
    return out_dir.parent / f".{out_dir.name}.overwrite"


def swap_in(staged, out_dir):
    """Put the completed run ``staged`` in the place of ``out_dir`` (two renames, then the old
    run is deleted): the old results stay whole until the new ones are."""
    staged, out_dir = Path(staged), Path(out_dir)
    old = out_dir.parent / f".{out_dir.name}.replaced"
    if old.exists():
        shutil.rmtree(old)
    os.replace(out_dir, old)
    os.replace(staged, out_dir)
    shutil.rmtree(old)

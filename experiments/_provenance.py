"""What a run records about itself: the resolved config (``config.yaml``) and where, when and
with what it ran (``provenance.json``: commit, command, packages, threads, wall time)."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from omegaconf import OmegaConf
from threadpoolctl import threadpool_info

from experiments._files import atomic_write_text, relative_path

PROVENANCE_FILE = "provenance.json"
_PACKAGES = ("spahm", "numpy", "scipy", "scikit-learn", "pandas", "matplotlib", "hydra-core",
             "GPy", "nltk", "joblib", "gensim", "pyarrow")


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


def write_run_files(cfg, out_dir, wall_time=None, extra=None, record_as=None):
    """``config.yaml`` (resolved) and ``provenance.json`` in the run directory (recorded as
    ``record_as`` when the run writes elsewhere until it replaces that directory)."""
    out_dir = Path(out_dir)
    atomic_write_text(out_dir / "config.yaml", OmegaConf.to_yaml(saved_config(cfg, out_dir)))
    info = {**provenance(cfg, wall_time, extra), "output_dir": relative_path(record_as or out_dir)}
    atomic_write_text(out_dir / PROVENANCE_FILE, json.dumps(info, indent=2) + "\n")

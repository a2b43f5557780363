"""One entry point for every experiment: ``spahm-experiment experiment=<name> [overrides]``.

``python -m experiments.cli`` is the same; ``-m`` (multirun) sweeps with the joblib launcher.
A run ends by printing its directory and its headline table, and returns its objective
(``objective.*`` in the config) so that a sweeper such as Optuna can drive it.

User-facing errors (a bad config value, missing data, an unusable run directory, Ctrl-C)
print one line and a hint, not a traceback; ``HYDRA_FULL_ERROR=1`` shows the traceback.
A run that fails before its first trial leaves no run directory behind.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from hydra.errors import CompactHydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from experiments._runner import (
    ConfigError,
    DataMissingError,
    RunDirError,
    check_run_dir,
    headline,
    output_dir,
    relative_path,
    remove_if_unused,
    run_experiment,
)
from experiments.data_requirements import install_hint
from experiments.registry import load, register_configs

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")


class RunError(CompactHydraException):
    """A user-facing error: Hydra prints its message alone, without a traceback."""


def run(cfg: DictConfig):
    """Run the experiment that ``cfg.name`` selects; returns its tidy DataFrame
    (``df.attrs["objective"]``: the run's objective)."""
    return run_experiment(cfg, load(cfg.name))


def _hint(exc, cfg) -> str:
    if isinstance(exc, DataMissingError):
        return install_hint(cfg.name, cfg.get("profile"))
    if isinstance(exc, RunDirError):
        return "a run directory holds one run; choose another with hydra.run.dir=<new dir>"
    return "see `spahm-experiment --help` and conf/ for the keys and their values"


def _full_errors():
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def _clean(out):
    """Remove the run directory, and Hydra's own when ``output_dir`` points elsewhere, if the
    run left nothing in them but Hydra's files; True if the run directory went."""
    removed = remove_if_unused(out)
    try:
        from hydra.core.hydra_config import HydraConfig

        hydra_dir = Path(HydraConfig.get().runtime.output_dir)
        if hydra_dir.resolve() != Path(out).resolve():
            remove_if_unused(hydra_dir)
    except ValueError:  # not inside a Hydra run
        pass
    return removed


def _task(cfg: DictConfig):
    """The Hydra task: run, print directory + headline table, return the objective."""
    out = output_dir(cfg)
    try:
        df = run(cfg)
    except KeyboardInterrupt:
        removed = _clean(out)
        where = "nothing was kept" if removed else f"finished trials are kept in {relative_path(out)}"
        print(f"interrupted: {where}; rerun the same command to resume", file=sys.stderr)
        raise SystemExit(130) from None
    except (ConfigError, DataMissingError, RunDirError, OmegaConfBaseException) as exc:
        _clean(out)
        if _full_errors():
            raise
        raise RunError(f"error: {exc}\nhint: {_hint(exc, cfg)}") from exc
    except BaseException:
        _clean(out)
        raise
    print(f"run directory: {relative_path(out)}")
    table = headline(df, cfg)
    if table:
        print(table)
    return df.attrs.get("objective")


def _refuse_unusable_dirs(argv):
    """Check ``hydra.run.dir`` / ``hydra.sweep.dir`` given on the command line before Hydra
    creates them and writes its own files there (``hydra.run.dir=conf`` must write nothing)."""
    values = {}
    for arg in argv:
        key, eq, value = arg.lstrip("+").partition("=")
        if eq:
            values[key] = value
    name = values.get("experiment", "simulated")
    if "hydra.run.dir" in values and not any(a in ("-m", "--multirun") for a in argv):
        check_run_dir(Path(values["hydra.run.dir"]), name)
    if "hydra.sweep.dir" in values:
        sweep = Path(values["hydra.sweep.dir"])
        if sweep.is_dir() and any(sweep.iterdir()) and not (sweep / "multirun.yaml").is_file():
            raise RunDirError(f"sweep directory {sweep} holds files no sweep wrote: name a new "
                              "or empty directory")
        if sweep.exists() and not sweep.is_dir():
            raise RunDirError(f"sweep directory {sweep} is a file: name a new or empty directory")


_hydra_main = hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")(_task)


def main():
    """``spahm-experiment``: check the run directory, then hand over to Hydra."""
    register_configs()
    try:
        _refuse_unusable_dirs(sys.argv[1:])
    except RunDirError as exc:
        if _full_errors():
            raise
        print(f"error: {exc}\nhint: a run directory holds one run; choose another with "
              "hydra.run.dir=<new dir>", file=sys.stderr)
        raise SystemExit(1) from None
    return _hydra_main()


if __name__ == "__main__":
    main()

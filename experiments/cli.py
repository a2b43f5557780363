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
import shlex
import sys
from pathlib import Path

import hydra
import yaml
from hydra.errors import HydraException
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
from experiments._store import refuse_committed
from experiments.data_requirements import install_hint
from experiments.registry import load, register_configs

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")


class RunError(SystemExit):
    """A user-facing error: its message alone on stderr, exit status 1 (a ``SystemExit``, so
    Hydra adds neither its "Error executing job" header nor its HYDRA_FULL_ERROR line)."""


def run(cfg: DictConfig):
    """Run the experiment that ``cfg.name`` selects; returns its tidy DataFrame
    (``df.attrs["objective"]``: the run's objective)."""
    return run_experiment(cfg, load(cfg.name))


def _hint(exc, cfg) -> str:
    if isinstance(exc, DataMissingError):
        return install_hint(cfg.name, cfg.get("profile"))
    if isinstance(exc, RunDirError):
        return "a run directory holds one run; choose another with hydra.run.dir=<new dir>"
    if isinstance(exc, OSError):
        return ("free some space or choose a writable directory (hydra.run.dir=<dir>); "
                "finished trials are kept and resume")
    return "see `spahm-experiment --help` and conf/ for the keys and their values"


#: Set by :func:`main`: whether the user asked for full tracebacks (HYDRA_FULL_ERROR=1 before
#: main set it to receive Hydra's own errors instead of Hydra printing them).
_ERRORS_ENV = "SPAHM_FULL_ERROR"


def _full_errors():
    return os.environ.get(_ERRORS_ENV, os.environ.get("HYDRA_FULL_ERROR")) == "1"


def _os_error(exc) -> str:
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    return f"cannot read or write a file: {exc.strerror or exc}{where}"


def resume_command(out, argv=None) -> str:
    """The command that resumes the run into ``out``: this command with its run directory
    named (a command without one would start a new timestamped directory)."""
    argv = list(sys.argv if argv is None else argv)
    first = Path(argv[0]).name if argv else ""
    words = ["spahm-experiment"] if first == "spahm-experiment" else [
        os.path.relpath(sys.executable) if Path(sys.executable).resolve().is_relative_to(
            Path.cwd().resolve()) else "python", "-m", "experiments.cli"]
    args = [a for a in argv[1:] if not a.startswith(("hydra.run.dir=", "output_dir="))]
    where = next((a for a in argv[1:] if a.startswith("output_dir=")), None)
    words += args + [where or f"hydra.run.dir={relative_path(out)}"]
    return " ".join(shlex.quote(w) for w in words)


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
        if removed:
            print("interrupted: nothing was kept", file=sys.stderr)
        else:
            print(f"interrupted: finished trials are kept in {relative_path(out)}; resume with:\n"
                  f"  {resume_command(out)}", file=sys.stderr)
        raise SystemExit(130) from None
    except (ConfigError, DataMissingError, RunDirError, OmegaConfBaseException, OSError) as exc:
        _clean(out)
        if _full_errors():
            raise
        message = _os_error(exc) if type(exc) in _PLAIN_OS_ERRORS or not isinstance(
            exc, (ConfigError, DataMissingError, RunDirError, OmegaConfBaseException)) else exc
        raise RunError(f"error: {message}\nhint: {_hint(exc, cfg)}") from None
    except BaseException:
        _clean(out)
        raise
    print(f"run directory: {relative_path(out)}")
    table = headline(df, cfg)
    if table:
        print(table)
    return df.attrs.get("objective")


_PLAIN_OS_ERRORS = (OSError, PermissionError, IsADirectoryError, NotADirectoryError,
                    FileExistsError)


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
        run_dir = Path(values["hydra.run.dir"])
        check_run_dir(run_dir, name)
        refuse_committed(run_dir, values.get("overwrite", "false").lower() == "true")
    if "hydra.sweep.dir" in values:
        sweep = Path(values["hydra.sweep.dir"])
        if sweep.is_dir() and any(sweep.iterdir()) and not (sweep / "multirun.yaml").is_file():
            raise RunDirError(f"sweep directory {sweep} holds files no sweep wrote: name a new "
                              "or empty directory")
        if sweep.exists() and not sweep.is_dir():
            raise RunDirError(f"sweep directory {sweep} is a file: name a new or empty directory")


_hydra_main = hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")(_task)


def _hydra_message(exc) -> str:
    """Hydra's or OmegaConf's error in at most two lines (no stack, no links)."""
    text = str(exc) + ("\n" + str(exc.__cause__) if exc.__cause__ is not None else "")
    lines = [ln.strip() for ln in text.splitlines()
             if ln.strip() and not ln.strip().startswith(("See https://", "full_key:",
                                                          "object_type="))]
    shown = lines[:2] + (lines[2:8] if len(lines) > 1 and lines[1].endswith(":") else [])
    return ": ".join(ln.rstrip(":") for ln in shown) or type(exc).__name__


def _plain_optuna_logs():
    """Optuna's messages through the run's logging (plain text, warnings only) instead of its
    own coloured handler on stderr."""
    try:
        import optuna
    except ImportError:  # the optuna extra is not installed: Hydra says so
        return
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def main():
    """``spahm-experiment``: check the run directory, then hand over to Hydra; every error is
    one line and a hint (``HYDRA_FULL_ERROR=1``: the traceback)."""
    os.environ[_ERRORS_ENV] = "1" if _full_errors() else "0"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises its errors to us instead of printing
    register_configs()
    if any("optuna" in arg for arg in sys.argv[1:]):
        _plain_optuna_logs()
    try:
        _refuse_unusable_dirs(sys.argv[1:])
        return _hydra_main()
    except RunDirError as exc:
        if _full_errors():
            raise
        print(f"error: {exc}\nhint: a run directory holds one run; choose another with "
              "hydra.run.dir=<new dir>", file=sys.stderr)
        raise SystemExit(1) from None
    except (HydraException, OmegaConfBaseException, yaml.YAMLError) as exc:
        if _full_errors():
            raise
        print(f"error: {_hydra_message(exc)}\nhint: see `spahm-experiment --help` and conf/ for "
              "the keys, their values and the override syntax (key=value)", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()

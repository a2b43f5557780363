"""The runner every experiment shares, in one import: ``from experiments._runner import ...``.

An experiment module says only what is its own (data, local models, methods, figures); the
contract it follows is :class:`experiments.contract.Experiment`, and :func:`run_experiment`
drives it. The runner's parts, each in its own module:

- :mod:`experiments._seeding` - one random stream per trial, named sub-streams (:class:`Trial`);
- :mod:`experiments._parallel` - per-silo fitting on a joblib backend or Dask (:func:`fit_per_silo`);
- :mod:`experiments._store` - the run directory: files, manifest, verification, lock, swap;
- :mod:`experiments._provenance` - ``config.yaml`` and ``provenance.json``;
- :mod:`experiments._summaries` - mean +- sd over trials, the objective, the headline table;
- :mod:`experiments._settings` - the runner's keys checked before any work, resumability;
- :mod:`experiments._loop` - the settings x trials loop (:func:`run_experiment`);
- :mod:`experiments._files` - atomic writes and portable paths.
"""
from experiments._files import (  # noqa: F401
    ROOT,
    _atomic_write,
    atomic_write_csv,
    atomic_write_text,
    relative_path,
    save_figure,
)
from experiments._loop import _show_progress, run_experiment, run_grid  # noqa: F401
from experiments._parallel import (  # noqa: F401
    DASK_CONNECT_TIMEOUT,
    SiloFits,
    fit_per_silo,
    parallel_backend,
)
from experiments._provenance import (  # noqa: F401
    PROVENANCE_FILE,
    _git_commit,
    command_line,
    provenance,
    write_run_files,
)
from experiments._seeding import Trial  # noqa: F401
from experiments._settings import (  # noqa: F401
    _flatten,
    check_resumable,
    check_runner_config,
    output_dir,
    require,
    run_overrides,
)
from experiments._store import (  # noqa: F401
    MANIFEST_FILE,
    METRICS_FILE,
    TIDY_COLUMNS,
    TIMING_SUFFIX,
    TIMINGS_FILE,
    RunCheck,
    check_run,
    check_run_dir,
    load_results,
    remove_if_unused,
    write_results,
)
from experiments._summaries import (  # noqa: F401
    headline,
    mean_sd,
    objective,
    run_methods,
    stopwatch,
    summarise,
)
from experiments.errors import ConfigError, DataMissingError, RunDirError  # noqa: F401

"""The contract every experiment module follows, written down once.

An experiment is a module under :mod:`experiments` (registered in
:data:`experiments.EXPERIMENTS`) that provides the functions below. The shared runner
(:func:`experiments._runner.run_experiment`) drives them in this order::

    validate(cfg)                      -> None; ConfigError naming the key, before any work
    prepared = prepare(cfg)            -> anything the trials share (loaded data), or None
    settings(cfg)                      -> list of grid points (dicts; [{}] for none)
    trial(cfg, setting, trial, prepared) -> list of tidy rows (method, metric, value, ...)
    plot(df, out_dir, cfg)             -> list of the figure paths written
    report(df, cfg)                    -> markdown text

``plot`` and ``report`` work from the tidy rows alone (``cfg`` may be the saved config of a
finished run), so ``spahm-report`` can redraw any committed run without recomputing it.
Figure titles go through :func:`experiments._plots.title` (``title(cfg, "...")``), which adds
the run's overrides of its experiment and profile defaults.

What the runner adds around them: the root keys (``seed``, ``trials``, ``parallel``,
``objective``...; typed by :mod:`experiments._schema`) and ``fusion.*`` (against
:class:`spahm.SPAHM`'s parameter constraints) are checked and the run directory is checked
before ``validate``; installed data is checked against its install record before ``prepare``;
nothing is written before the first trial finishes; the run holds its directory (a second run
into it is refused) and replaces committed results only with ``overwrite=true``, once it is
complete; finished trials are recorded in ``manifest.json`` and a resumed run keeps only those
whose rows check out; the run's objective (``conf/objective/<name>.yaml``) is computed from
the rows.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd


@runtime_checkable
class Experiment(Protocol):
    """What an experiment module provides (checked for every registered one in the tests)."""

    #: Method name -> human label, in the order the figures and tables show them.
    LABELS: dict

    def validate(self, cfg) -> None:
        """Raise :class:`experiments._runner.ConfigError` naming the bad key, before any work."""

    def prepare(self, cfg) -> Any:
        """Load what every trial shares (data); may raise ``DataMissingError``."""

    def settings(self, cfg) -> list[dict]:
        """The grid points of the run, each a dict of CSV columns (``[{}]`` if none)."""

    def trial(self, cfg, setting: dict, trial, prepared) -> list[dict]:
        """Every configured method on one trial (:class:`experiments._runner.Trial`)."""

    def plot(self, df: pd.DataFrame, out_dir: Path, cfg) -> list[Path]:
        """Draw the figures from the tidy rows; return the paths written."""

    def report(self, df: pd.DataFrame, cfg) -> str:
        """Markdown: the run's headline tables beside the paper's numbers."""

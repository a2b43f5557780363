"""The suite's user-facing error types (each printed as one line and a hint by the tools)."""
from __future__ import annotations


class DataMissingError(FileNotFoundError):
    """A dataset the experiment needs is not installed, or differs from what was installed;
    the message names the file and the script to run."""


class ConfigError(ValueError):
    """A config value is missing or impossible; the message names the key."""


class RunDirError(ValueError):
    """The run directory cannot be used (it holds other files, another run holds it) or its
    files are damaged."""

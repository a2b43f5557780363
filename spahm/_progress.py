"""Progress bars for long loops (sampler sweeps, restarts, local fits), switched globally.

Off by default, so that library users see nothing they did not ask for; the experiment runner
turns them on for a run unless ``quiet=true``. Bars of inner loops disappear when done.
"""
from __future__ import annotations

from contextlib import contextmanager

_ENABLED = False


@contextmanager
def enabled(on=True):
    """Show (or hide) progress bars inside the ``with`` block."""
    global _ENABLED
    previous, _ENABLED = _ENABLED, bool(on)
    try:
        yield
    finally:
        _ENABLED = previous


def progress(iterable, desc, total=None):
    """``iterable`` wrapped in a transient tqdm bar when progress is enabled (and tqdm, an
    experiment-suite dependency, is installed); otherwise ``iterable`` itself."""
    if not _ENABLED:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, desc=desc, total=total, leave=False)

"""Files a run writes: atomically (a temporary name beside the target, then a rename), with
repository paths made relative so committed results stay portable."""
from __future__ import annotations

import os
from pathlib import Path

from data_scripts._common import replace_atomically

ROOT = Path(__file__).resolve().parents[1]


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


def relative_path(path) -> str:
    """``path`` relative to the repository when it lies inside it (results stay portable),
    else as given."""
    p = Path(path)
    try:
        return Path(os.path.relpath(p.resolve(), ROOT)).as_posix() if p.resolve().is_relative_to(ROOT) else str(p)
    except (OSError, ValueError):
        return str(p)

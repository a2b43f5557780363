"""Seeds: trial ``t`` of a run with ``seed = s`` owns the stream
``numpy.random.SeedSequence(s, spawn_key=(t,))`` (:class:`Trial`); everything random in the
trial derives from it by name (:meth:`Trial.seed_for`), and silo ``j``'s local fit from
``spawn_key=(t, <name>, j)``, so no two trials or silos share a random stream."""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def _key_part(part):
    """A spawn-key entry from an int or a name (names hashed with a stable CRC-32)."""
    if isinstance(part, (int, np.integer)) and not isinstance(part, bool):
        if part < 0:
            raise ValueError(f"seed key parts must be non-negative, got {part}")
        return int(part)
    return zlib.crc32(str(part).encode())


@dataclass(frozen=True)
class Trial:
    """One trial's random stream and index, handed to an experiment's ``trial``.

    ``seed_for("kmeans")`` or ``seed_for("silo", j)`` gives a 32-bit integer seed for a
    library that wants one (scikit-learn's ``random_state``, GPy), ``rng(...)`` a NumPy
    generator; both are derived from ``SeedSequence(root, spawn_key=(index, *key))``, so
    different names, silos and trials never share a stream, and the same config and seed
    give the same numbers.
    """

    index: int
    root: int
    #: The run directory, for experiments that save per-trial artefacts beside the CSV.
    out_dir: Path | None = None

    def sequence(self, *key) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.root, spawn_key=(self.index,) + tuple(map(_key_part, key)))

    def seed_for(self, *key) -> int:
        return int(self.sequence(*key).generate_state(1)[0])

    def rng(self, *key) -> np.random.Generator:
        return np.random.default_rng(self.sequence(*key))

    @property
    def seed(self) -> int:
        """The trial's own integer seed (recorded in the CSV's ``seed`` column)."""
        return self.seed_for()

"""Per-silo fitting on any joblib backend: loky on this machine, or a Dask cluster."""
from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed, parallel_config
from omegaconf import OmegaConf

from experiments.errors import ConfigError


@dataclass(frozen=True)
class SiloFits:
    """Fitted local models with each silo's wall and CPU time (seconds)."""

    models: list
    wall_s: np.ndarray
    cpu_s: np.ndarray

    @property
    def sequential_wall_s(self) -> float:
        """Wall time if the silos were fitted one after the other on one machine."""
        return float(self.wall_s.sum())

    @property
    def parallel_wall_s(self) -> float:
        """Wall time when every silo fits at once where its data is (the federated setting)."""
        return float(self.wall_s.max()) if len(self.wall_s) else 0.0

    @property
    def total_cpu_s(self) -> float:
        return float(self.cpu_s.sum())


def _timed(fit, data, seed):
    wall, cpu = time.perf_counter(), time.process_time()
    model = fit(data, seed)
    return model, time.perf_counter() - wall, time.process_time() - cpu


def fit_per_silo(fit, silo_data, trial, name="local", n_jobs=1, backend=None) -> SiloFits:
    """Fit one local model per silo, in parallel, each with its own seed and timer.

    Parameters
    ----------
    fit : callable(data, seed) -> model
        Fits one silo's local model; ``seed`` is an int from :meth:`Trial.seed_for`. It is
        sent to the workers, so with a process or cluster backend it must be picklable
        (cloudpickle: module functions, closures and lambdas are).
    silo_data : list
        One entry per silo, passed to ``fit`` as is.
    trial : Trial
        Silo ``j`` gets ``trial.seed_for(name, j)``.
    name : str
        Names the stream, so two kinds of local model in one trial get different seeds.
    n_jobs : int
        Silos fitted at once (joblib; ``-1`` all workers).
    backend : str or None
        joblib backend; None uses the run's (``parallel.backend`` in the config, set by
        :func:`parallel_backend` around the run: ``loky`` by default, ``dask`` on a cluster).

    The results do not depend on the backend or ``n_jobs``: each silo's seed is its own.
    """
    seeds = [trial.seed_for(name, j) for j in range(len(silo_data))]
    jobs = (delayed(_timed)(fit, data, seed) for data, seed in zip(silo_data, seeds))
    out = Parallel(n_jobs=n_jobs, backend=_joblib_backend(backend))(jobs)
    return SiloFits([m for m, _, _ in out], np.array([w for _, w, _ in out]),
                    np.array([c for _, _, c in out]))


def _joblib_backend(backend):
    """The backend to hand to ``joblib.Parallel`` for a backend name.

    The run's own backend (the name :func:`parallel_backend` made active) becomes None, so the
    active instance is used as configured (its cluster, its thread limits). A ``"dask"`` that
    is not active becomes an instance: joblib builds a named backend as
    ``factory(nesting_level=...)``, and Dask's backend takes unknown keywords as keywords for
    ``Client.submit``, which hands them to the task (joblib 1.6 with distributed 2026.8:
    ``Batch.__call__() got an unexpected keyword argument 'nesting_level'``)."""
    if not isinstance(backend, str):
        return backend
    from joblib.parallel import BACKENDS, get_active_backend

    active, _ = get_active_backend()
    if BACKENDS.get(backend) is not None and type(active) is BACKENDS[backend]:
        return None
    if backend == "dask" and "dask" in BACKENDS:
        return BACKENDS["dask"]()
    return backend


#: How long to try reaching a dask scheduler before giving up with a ConfigError.
DASK_CONNECT_TIMEOUT = "20s"


@contextmanager
def parallel_backend(cfg):
    """Make ``parallel.backend`` (and ``parallel.address``) the joblib backend inside the block.

    ``dask`` connects to the scheduler at ``parallel.address``, or starts a local cluster of
    ``n_jobs`` single-threaded worker processes when the address is null (the ``dask`` extra).
    """
    from experiments._schema import BACKENDS

    backend = OmegaConf.select(cfg, "parallel.backend", default=None) or "loky"
    address = OmegaConf.select(cfg, "parallel.address", default=None)
    threads = OmegaConf.select(cfg, "threads", default=None)
    if backend not in BACKENDS:
        raise ConfigError(f"config key 'parallel.backend' = {backend!r}: expected one of {list(BACKENDS)}")
    if backend != "dask":
        # loky workers get the run's BLAS/OpenMP thread count (joblib's default would be
        # cores / n_jobs, which differs between machines and can move the last digits).
        inner = {"inner_max_num_threads": int(threads)} if threads and backend == "loky" else {}
        with parallel_config(backend=backend, **inner):
            yield
        return
    # The scheduler's and workers' INFO lines stay out of the run's output (warnings stay):
    # the environment reaches the local cluster's worker processes, the level this process.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("config key 'parallel.backend' = 'dask' needs dask.distributed: "
                          "pip install -e '.[dask]'") from None
    logging.getLogger("distributed").setLevel(logging.WARNING)
    if address:
        try:
            client = Client(address, timeout=DASK_CONNECT_TIMEOUT)
        except OSError as exc:
            raise ConfigError(f"config key 'parallel.address' = {address!r}: cannot reach the "
                              f"dask scheduler ({exc})") from None
        cluster = nullcontext()
    else:
        workers = max(1, int(OmegaConf.select(cfg, "n_jobs", default=1) or 1))
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=":0",
                               worker_dashboard_address=":0")
        client = Client(cluster)
    with cluster, client, parallel_config(backend="dask"):
        yield

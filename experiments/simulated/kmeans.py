"""k-means for the simulated experiments: the local models and the pooled baselines.

scikit-learn does Lloyd's iterations; this module only chooses where they start
(``init``: scikit-learn's k-means++, or farthest-first "maximin" seeding) and runs restarts
through the runner's one per-silo fitter, so restarts of a pooled fit run in parallel like
silos do and every restart has its own seed.
"""
from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from experiments._runner import fit_per_silo
from spahm.adapters import extract

from .config import INITS


def maximin_seeds(x, k, rng):
    """Farthest-first traversal: a random first point, then each next centre is the point
    farthest from every centre chosen so far.

    On well-separated clusters this starts one centre in every cluster that holds a point,
    however small (k-means++ draws centres with probability proportional to the squared
    distance, so a cluster of a few points among thousands is often never drawn).

    Parameters
    ----------
    x : ndarray (n, D)
    k : int
        Number of centres, at most n.
    rng : numpy.random.Generator
        Draws the first centre.

    Returns
    -------
    ndarray (k, D), rows of ``x``.
    """
    x = np.asarray(x, dtype=float)
    chosen = np.empty(k, dtype=np.intp)
    chosen[0] = rng.integers(len(x))
    nearest = ((x - x[chosen[0]]) ** 2).sum(axis=1)
    for c in range(1, k):
        chosen[c] = int(np.argmax(nearest))
        np.minimum(nearest, ((x - x[chosen[c]]) ** 2).sum(axis=1), out=nearest)
    return x[chosen]


def fit_kmeans(x, k, seed, init="k-means++", n_init=8, max_iter=300, algorithm="lloyd",
               where="data"):
    """scikit-learn ``KMeans`` with ``k`` clusters from the given seeding; best of ``n_init``.

    ``algorithm`` is scikit-learn's: ``"lloyd"`` or ``"elkan"`` (the same iterations and
    centres, with the triangle inequality skipping distances; faster on many points).

    Runs on one thread (scikit-learn's numbers depend on its thread count, and parallelism
    comes from fitting silos or restarts at once), so the result does not depend on
    ``n_jobs``. ``where`` names the data in the error raised when it has fewer than k points.
    """
    if init not in INITS:
        raise ValueError(f"k-means init {init!r}: expected one of {list(INITS)}")
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or len(x) < k:
        raise ValueError(f"k-means on {where}: needs at least k={k} points, got shape {x.shape}")
    with threadpool_limits(limits=1):
        if init == "k-means++":
            return KMeans(k, n_init=n_init, max_iter=max_iter, algorithm=algorithm,
                          random_state=seed).fit(x)
        rng = np.random.default_rng(seed)
        fits = (KMeans(k, init=maximin_seeds(x, k, rng), n_init=1, max_iter=max_iter,
                       algorithm=algorithm).fit(x)
                for _ in range(n_init))
        return min(fits, key=lambda m: m.inertia_)


def local_atoms(fits, data=None):
    """Each silo's atoms through spahm's KMeans adapter (the library's one extraction path),
    and with each silo's ``data`` their variances: a list of ``spahm.adapters.LocalAtoms``."""
    return extract(fits.models, data, use_variances=data is not None)[1]


def _fit_silo(job, seed):
    (x, k, where), settings = job
    return fit_kmeans(x, k, seed, where=where, **settings)


def local_kmeans(silo_data, sizes, trial, model, n_jobs=1, backend=None):
    """One k-means per silo with its true number of atoms, silos in parallel.

    Returns the runner's :class:`~experiments._runner.SiloFits` (fitted models, per-silo time);
    silo ``j`` is seeded by ``trial.seed_for("local-<init>", j)``.
    """
    settings = {"init": model.init, "n_init": int(model.n_init), "max_iter": int(model.max_iter)}
    jobs = [((x, int(k), f"silo {j}"), settings) for j, (x, k) in enumerate(zip(silo_data, sizes))]
    return fit_per_silo(_fit_silo, jobs, trial, name=f"local-{model.init}", n_jobs=n_jobs,
                        backend=backend)


def pooled_kmeans(x, k, trial, name, n_init, max_iter, batches=1, algorithm="lloyd", n_jobs=1,
                  backend=None):
    """k-means++ on pooled points, best of ``n_init`` restarts (lowest inertia).

    The restarts run as ``batches`` (at most ``n_init``) scikit-learn fits of about
    ``n_init / batches`` restarts each, fitted at once (as the released code's ``n_jobs``): one
    fit shares scikit-learn's preprocessing of the pooled data (its copy, centring and
    variance) among its restarts.
    Batch ``b`` is seeded by ``trial.seed_for(name, b)``, so the numbers depend on ``batches``
    (like a seed) but never on ``n_jobs``. Returns ``(model, SiloFits of the batches)``.
    """
    k = min(int(k), len(x))
    n_init = int(n_init)
    batches = min(int(batches), n_init)
    if batches < 1:
        raise ValueError(f"pooled k-means on {name}: batches={batches}, expected at least 1")
    sizes = [len(b) for b in np.array_split(np.arange(n_init), batches)]
    jobs = [((x, k, name), {"init": "k-means++", "n_init": size, "max_iter": int(max_iter),
                            "algorithm": algorithm}) for size in sizes]
    fits = fit_per_silo(_fit_silo, jobs, trial, name=name, n_jobs=n_jobs, backend=backend)
    return min(fits.models, key=lambda m: m.inertia_), fits

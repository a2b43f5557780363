"""Speed of the sticky HDP-HMM sampler on mocap6 (the motion-capture experiment's data).

Fits one subject's three sequences (a local model) and all six (the full model) with two
settings and prints, per fit: frames, states used, states worked on per sweep, sweeps run,
CPU time per sweep (one sweep of all chains: Gibbs step, forward filter, backward sampler,
split and merge moves) and per fit, and the share of the filter and sampler; then the
compute ratios of SPAHM's local fits to the full model (CPU of both silos, and the critical
path: the slowest silo) and the ideal ratios if cost were proportional to frames.

- ``before``: all K = 25 states every sweep, fixed hyperparameters, no stopping rule, 200
  sweeps (the settings before adaptive truncation, resampling and the stopping rule);
- ``after``: the experiment's settings (experiments/mocap/config.py).

    OMP_NUM_THREADS=1 python benchmarks/bench_hdp_hmm.py [--chains 4] [--root data/mocap6]

CPU time (process time, one BLAS thread) is the fair figure on a busy machine.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import asdict

import numpy as np

import spahm.models.hdp_hmm as hdp_hmm
from experiments.mocap import load_mocap, partition
from experiments.mocap.config import ModelCfg

#: The settings before this change: every state every sweep, fixed hyperparameters, 200 sweeps.
BEFORE = dict(n_spare_states=None, resample_hyperparameters=False, tol=None, n_iter=200,
              n_burnin=None)


class _Timed:
    """Wraps a module function to add up the CPU time spent inside it."""

    def __init__(self, fn):
        self.fn, self.cpu = fn, 0.0

    def __call__(self, *args, **kwargs):
        start = time.process_time()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.cpu += time.process_time() - start


def measure(sequences, params, seed=0):
    """(CPU s per fit, CPU ms per sweep, share of CPU in filter + sampler, model)."""
    timers = {name: _Timed(getattr(hdp_hmm, name)) for name in ("forward_filter", "backward_sample")}
    originals = {name: getattr(hdp_hmm, name) for name in timers}
    for name, timer in timers.items():
        setattr(hdp_hmm, name, timer)
    try:
        cpu = time.process_time()
        model = hdp_hmm.StickyHDPHMM(**params, random_state=seed).fit(sequences)
        cpu = time.process_time() - cpu
    finally:
        for name, fn in originals.items():
            setattr(hdp_hmm, name, fn)
    loops = sum(t.cpu for t in timers.values())
    return cpu, 1000 * cpu / model.n_iter_, loops / cpu, model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="data/mocap6")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = load_mocap(args.root)
    seqs = data["sequences"]
    silos = partition(data["names"], "subject")
    cases = [(f"subject {data['names'][s[0]].split('_')[0]}", [seqs[i] for i in s]) for s in silos]
    cases.append(("full model (all 6)", seqs))
    frames = [sum(len(x) for x in c) for _, c in cases]
    print(f"{'setting':<7} {'model':<19} {'frames':>6} {'states':>6} {'worked on':>9} "
          f"{'sweeps':>6} {'ms/sweep':>8} {'s/fit':>6} {'filter+sampler':>14}")
    for setting, extra in (("before", BEFORE), ("after", {})):
        params = {**asdict(ModelCfg()), **extra, "n_restarts": args.chains}
        fits = []
        for (label, s), n in zip(cases, frames):
            cpu, per_sweep, share, model = measure(s, params, args.seed)
            fits.append(cpu)
            print(f"{setting:<7} {label:<19} {n:>6} {model.n_states_:>6} "
                  f"{np.mean(model.n_active_trace_):>9.1f} {model.n_iter_:>6} {per_sweep:>8.1f} "
                  f"{cpu:>6.2f} {share:>13.0%}")
        local, full = fits[:-1], fits[-1]
        print(f"{setting:<7} local / full CPU: both silos {sum(local) / full:.2f}, critical path "
              f"(slowest silo) {max(local) / full:.2f}; ideal by frames "
              f"{sum(frames[:-1]) / frames[-1]:.2f} and {max(frames[:-1]) / frames[-1]:.2f}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

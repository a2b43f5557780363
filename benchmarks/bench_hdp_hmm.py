"""Speed of the sticky HDP-HMM sampler on mocap6 (the motion-capture experiment's data).

The model settings are the experiment's defaults (experiments/mocap/config.py). Prints, for
one subject's three sequences (a local model) and for all six (the full model):
chain-sweeps per second of CPU time and of wall time (one sweep of one chain: Gibbs step,
forward filter, backward sampler, split and merge moves), the split of one sweep's time between
the filter/sampler and the rest, and the paper profile's estimated time per trial.

    OMP_NUM_THREADS=1 python benchmarks/bench_hdp_hmm.py [--sweeps 100] [--chains 4] [--root data/mocap6]

CPU time (process time, one BLAS thread) is the fairer figure on a busy machine. Before the
chains were batched and the time loops cut to a few ufunc calls per step, the
sampler ran about 41 sweeps per second on all six sequences (16 min for the paper profile).
"""
from __future__ import annotations

import argparse
import time

import spahm.models.hdp_hmm as hdp_hmm
from dataclasses import asdict

from experiments.mocap import load_mocap, partition
from experiments.mocap.config import ModelCfg


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


def measure(sequences, sweeps, chains, seed=0):
    """(chain-sweeps per CPU second, per wall second, share of CPU in filter + sampler, states)."""
    timers = {name: _Timed(getattr(hdp_hmm, name)) for name in ("forward_filter", "backward_sample")}
    originals = {name: getattr(hdp_hmm, name) for name in timers}
    for name, timer in timers.items():
        setattr(hdp_hmm, name, timer)
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        params = {**asdict(ModelCfg()), "n_iter": sweeps, "n_restarts": chains}
        model = hdp_hmm.StickyHDPHMM(**params, random_state=seed).fit(sequences)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        for name, fn in originals.items():
            setattr(hdp_hmm, name, fn)
    loops = sum(t.cpu for t in timers.values())
    return sweeps * chains / cpu, sweeps * chains / wall, loops / cpu, model.n_states_


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="data/mocap6")
    parser.add_argument("--sweeps", type=int, default=100)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--paper-sweeps", type=int, default=200)
    parser.add_argument("--paper-chains", type=int, default=4)
    args = parser.parse_args(argv)
    data = load_mocap(args.root)
    seqs = data["sequences"]
    silos = partition(data["names"], "subject")
    cases = [(f"subject {data['names'][s[0]].split('_')[0]} ({len(s)} sequences)",
              [seqs[i] for i in s]) for s in silos]
    cases.append((f"all {len(seqs)} sequences (full model)", seqs))
    print(f"{'model':<32} {'frames':>6} {'sweeps/s CPU':>13} {'sweeps/s wall':>14} "
          f"{'filter+sampler':>15} {'states':>6}")
    rates = []
    for label, s in cases:
        cpu_rate, wall_rate, share, states = measure(s, args.sweeps, args.chains)
        rates.append(cpu_rate)
        print(f"{label:<32} {sum(len(x) for x in s):>6} {cpu_rate:>13.1f} {wall_rate:>14.1f} "
              f"{share:>14.0%} {states:>6}")
    work = args.paper_sweeps * args.paper_chains
    local = [work / r for r in rates[:-1]]
    full = work / rates[-1]
    print(f"\npaper profile ({args.paper_sweeps} sweeps x {args.paper_chains} chains), CPU s per "
          f"trial: local fits {sum(local):.1f} (slowest silo {max(local):.1f}), full model "
          f"{full:.1f}; with the silos on 2 cores a trial takes about {max(local) + full:.1f} s "
          f"wall, 10 trials about {10 * (max(local) + full) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Time of one trial of the simulated experiment's paper grid, point by point.

Runs :func:`experiments.simulated.trial` (all four methods, the paper profile's settings) at
every grid point of Fig. 2 for one trial and prints, per point, the wall time and the CPU time
of this process and its worker processes (the silos' and pooled restarts' k-means run in
joblib workers); then the totals and the estimate for the profile's 10 trials.

    OMP_NUM_THREADS=1 python benchmarks/bench_simulated.py [--n-jobs 2] [--trial 0]
        [--points 1,20 1,100] [--override variant=paper_text ...]

On a busy machine wall time measures the neighbours; CPU time / number of cores is the wall
time the profile needs on an idle machine with that many cores.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def _tree_cpu():
    """User + system CPU seconds of this process and its live children."""
    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--trial", type=int, default=0)
    parser.add_argument("--points", nargs="*", default=None,
                        help="sigma,J pairs (default: the paper grid)")
    parser.add_argument("--override", nargs="*", default=[], help="extra Hydra overrides")
    args = parser.parse_args(argv)

    from hydra import compose, initialize_config_dir

    from experiments import register_configs, simulated
    from experiments._runner import Trial

    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "experiment=simulated", "profile=paper", f"n_jobs={args.n_jobs}", *args.override])
    simulated.validate(cfg)
    points = ([{"sigma_local": float(p.split(",")[0]), "J": int(p.split(",")[1])}
               for p in args.points] if args.points else simulated.settings(cfg))
    print(f"{'sigma':>6} {'J':>4} {'wall s':>8} {'CPU s':>8}")
    wall_total = cpu_total = 0.0
    for setting in points:
        cpu, wall = _tree_cpu(), time.perf_counter()
        simulated.trial(cfg, setting, Trial(args.trial, int(cfg.seed)))
        wall, cpu = time.perf_counter() - wall, _tree_cpu() - cpu
        wall_total += wall
        cpu_total += cpu
        print(f"{setting['sigma_local']:>6g} {setting['J']:>4} {wall:8.1f} {cpu:8.1f}", flush=True)
    trials = int(cfg.trials)
    print(f"one trial: {wall_total:.0f} s wall, {cpu_total:.0f} s CPU (n_jobs={args.n_jobs}); "
          f"{trials} trials: {trials * cpu_total / 60:.0f} CPU-minutes, i.e. about "
          f"{trials * cpu_total / 60 / 2:.0f} minutes on 2 idle cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())

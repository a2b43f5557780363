"""Label-free choice of the emission prior's scale: held-out log likelihood of whole sequences.

For every ``prior_scale`` of a grid and every subject (silo), a sticky HDP-HMM is fitted on two
of the subject's three sequences and scores the third (log likelihood per frame under the
fitted HMM: posterior-mean emissions and transitions, start distribution from the kept
sample's first states); the behaviour labels are never read. The scale with the best mean
over all six held-out sequences is the experiment's ``model.prior_scale``.

Run::

    python -m experiments.mocap.prior_scale [--scales 1,3,10,30,100] [--out results/mocap/prior_scale]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from experiments._runner import atomic_write_csv, atomic_write_text
from experiments.mocap import load_mocap, partition
from spahm.models.hdp_hmm import FusedGaussianHMM, StickyHDPHMM

#: The sampler settings of the study (the experiment's defaults, fewer sweeps and chains).
FIT = dict(n_iter=150, n_restarts=2)


def held_out_rows(data, scales, seed=0):
    """One row per (scale, held-out sequence): states used and log likelihood per frame."""
    rows = []
    seqs, names = data["sequences"], data["names"]
    for scale in scales:
        for j, silo in enumerate(partition(names, "subject")):
            for held in silo:
                train = [seqs[i] for i in silo if i != held]
                cpu = time.process_time()
                m = StickyHDPHMM(prior_scale=scale, random_state=seed + held, **FIT).fit(train)
                first = np.bincount([z[0] for z in m.state_sequences_], minlength=m.n_states_)
                start = (first + 1.0) / (first + 1.0).sum()
                hmm = FusedGaussianHMM(means=m.means_, covariances=m.covariances_,
                                       transmat=m.transmat_, startprob=start).fit()
                rows.append({"prior_scale": scale, "silo": j, "held_out": names[held],
                             "n_states": m.n_states_,
                             "log_lik_per_frame": hmm.log_likelihood(seqs[held]) / len(seqs[held]),
                             "cpu_time_s": time.process_time() - cpu})
    return pd.DataFrame(rows)


def summary(df):
    """Markdown table: mean held-out log likelihood per frame and states, per scale."""
    g = df.groupby("prior_scale").agg(ll=("log_lik_per_frame", "mean"),
                                      ll_sd=("log_lik_per_frame", "std"),
                                      states=("n_states", "mean"),
                                      states_min=("n_states", "min"),
                                      states_max=("n_states", "max"))
    best = g.ll.idxmax()
    lines = ["| prior_scale | held-out log lik / frame (mean +- sd, 6 sequences) | states (range) |",
             "|---|---|---|"]
    for scale, r in g.iterrows():
        mark = " **(best)**" if scale == best else ""
        lines.append(f"| {scale:g}{mark} | {r.ll:.2f} +- {r.ll_sd:.2f} | {r.states:.1f} "
                     f"({r.states_min:.0f}-{r.states_max:.0f}) |")
    return "\n".join(lines) + "\n", best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="data/mocap6")
    parser.add_argument("--scales", default="1,3,10,30,100")
    parser.add_argument("--out", default="results/mocap/prior_scale")
    args = parser.parse_args(argv)
    df = held_out_rows(load_mocap(args.root), [float(s) for s in args.scales.split(",")])
    out = Path(args.out)
    atomic_write_csv(df, out / "heldout.csv")
    table, best = summary(df)
    atomic_write_text(out / "summary.md", table)
    print(table + f"\nbest prior_scale: {best:g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Gaussian LDA (experiments.topics.gaussian_lda): per-sweep cost on the real data, and mixing.

``cost`` (default): the paper profile's corpus (40 Gutenberg books, GloVe 6B 50-d; install
them with the data scripts first), 150 topics, all tokens. Prints the wall and CPU time per
sweep of the vectorised blocked sampler (``--sweeps`` sweeps) and of Das et al.'s
token-by-token collapsed sampler (timed on ``--collapsed-tokens`` tokens, or on all of them
with ``--collapsed-tokens 0``; the cost is linear in the tokens), each projected to the
paper's 100 sweeps.

``mixing``: is "no token moves after a few sweeps" the posterior or a defect? Runs both
samplers from ``--chains`` random starts on the quick profile's stand-in (State of the Union
silos, PPMI-SVD embeddings, ``--tokens`` tokens, 150 topics) and prints per sweep the share
of tokens that moved, the share the sampler's own exact conditionals expected to move (sum
over tokens of one minus the probability of staying), and the collapsed log joint
log p(words, z).

    python benchmarks/bench_gaussian_lda.py [cost] [--sweeps 3] [--collapsed-tokens 20000]
    python benchmarks/bench_gaussian_lda.py mixing [--sweeps 10] [--chains 2] [--tokens 30000]

Wall time depends on what else the machine runs; CPU time (one BLAS thread) is the fairer
figure on a shared machine, and the projections use it.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir

from experiments import register_configs, topics
from experiments.topics.gaussian_lda import GaussianLDA

CONF = str(Path(__file__).resolve().parents[1] / "conf")
PAPER_SWEEPS = 100


def _corpus(profile, overrides=()):
    register_configs()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="config",
                      overrides=["experiment=topics", f"profile={profile}",
                                 "data.intervocab_dir=null", *overrides])   # no coherence here
    return cfg, topics.prepare(cfg)


def _subsample(docs, n, seed=0):
    rng = np.random.default_rng(seed)
    total = sum(len(d) for d in docs)
    if not n or n >= total:
        return docs
    keep = np.zeros(total, dtype=bool)
    keep[rng.choice(total, n, replace=False)] = True
    bounds = np.cumsum([0] + [len(d) for d in docs])
    return [d[keep[bounds[i]:bounds[i + 1]]] for i, d in enumerate(docs)]


def _fit(docs, emb, sampler, sweeps, seed, n_topics=150):
    wall, cpu = time.perf_counter(), time.process_time()
    model = GaussianLDA(n_topics=n_topics, n_iter=sweeps, sampler=sampler,
                        random_state=seed).fit(docs, emb)
    return model, time.perf_counter() - wall, time.process_time() - cpu


def cost(args):
    _, corpus = _corpus("paper")
    docs, emb = corpus.silo_ids, corpus.embeddings
    total = sum(len(d) for d in docs)
    print(f"corpus: {len(docs)} books, {total:,} tokens, {len(corpus.vocabulary):,} word types, "
          f"D = {emb.shape[1]}, K = 150")
    # CPU time of the sweeps alone: a fit with n sweeps minus a fit with none (the setup)
    _, setup_wall, setup_cpu = _fit(docs, emb, "blocked", 0, 0)
    model, wall, cpu = _fit(docs, emb, "blocked", args.sweeps, 0)
    per, per_cpu = model.sweep_times_.mean(), (cpu - setup_cpu) / args.sweeps
    print(f"blocked (uncollapsed) Gibbs: {per_cpu:.2f} s CPU, {per:.2f} s wall per sweep (mean "
          f"of {args.sweeps}; setup {setup_cpu:.1f} s CPU); {PAPER_SWEEPS} sweeps: "
          f"{per_cpu * PAPER_SWEEPS / 60:.1f} min CPU per chain")
    sample = _subsample(docs, args.collapsed_tokens)
    used = sum(len(d) for d in sample)
    _, _, setup_cpu = _fit(sample, emb, "collapsed", 0, 0)
    model, wall, cpu = _fit(sample, emb, "collapsed", 1, 0)
    per_token, per_token_wall = (cpu - setup_cpu) / used, model.sweep_times_[0] / used
    print(f"collapsed Gibbs (Das et al.): {per_token * 1e6:.0f} us CPU ({per_token_wall * 1e6:.0f} "
          f"us wall) per token ({used:,} tokens timed, one sweep); all tokens: "
          f"{per_token * total / 60:.1f} min CPU per sweep, "
          f"{per_token * total * PAPER_SWEEPS / 3600:.1f} h CPU for {PAPER_SWEEPS} sweeps per chain")


def mixing(args):
    _, corpus = _corpus("quick", ["trials=1"])
    docs = _subsample(corpus.silo_ids, args.tokens, seed=1)
    T = sum(len(d) for d in docs)
    print(f"stand-in: {len(docs)} State of the Union addresses, {T:,} tokens, "
          f"{len(corpus.vocabulary):,} word types, K = 150")
    for sampler in ("collapsed", "blocked"):
        for chain in range(args.chains):
            model, wall, _ = _fit(docs, corpus.embeddings, sampler, args.sweeps, 100 + chain)
            print(f"\n{sampler}, chain {chain} ({wall:.0f} s): sweep, moved, expected by the "
                  "conditionals, log p(words, z)")
            print(f"  0  {'':>8} {'':>8}  {model.log_joint_[0]:.1f}")
            for s in range(args.sweeps):
                print(f"  {s + 1:<2} {model.changed_[s]:8.5f} {model.expected_changed_[s]:8.5f}  "
                      f"{model.log_joint_[s + 1]:.1f}")
            print(f"  non-empty topics: {(model.topic_counts_ > 0).sum()}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", nargs="?", choices=("cost", "mixing"), default="cost")
    parser.add_argument("--sweeps", type=int, default=None,
                        help="sweeps per run (cost: 3 blocked sweeps; mixing: 10)")
    parser.add_argument("--collapsed-tokens", type=int, default=20000,
                        help="cost: tokens the collapsed sampler is timed on (0: all)")
    parser.add_argument("--chains", type=int, default=2, help="mixing: chains per sampler")
    parser.add_argument("--tokens", type=int, default=30000, help="mixing: tokens sampled")
    args = parser.parse_args(argv)
    if args.sweeps is None:
        args.sweeps = 3 if args.what == "cost" else 10
    (cost if args.what == "cost" else mixing)(args)


if __name__ == "__main__":
    main()

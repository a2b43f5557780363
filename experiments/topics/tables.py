"""The topic-model application's report: coherence per reference beside the paper's and the
authors' notebook's numbers, diversity, distinct topics and time."""
from __future__ import annotations

import numpy as np
from omegaconf import OmegaConf

from experiments._runner import mean_sd, summarise
from experiments.topics.claims import CLAIMS, NOTEBOOK, PAPER
from experiments.topics.methods import METHODS, metric_name

LABELS = {
    "spahm": "SPAHM (fused k-means topics)",
    "local_kmeans": "local k-means topics",
    "gaussian_lda": "Gaussian LDA (pooled)",
    "kmeans_pooled": "k-means (pooled words)",
    "lda": "LDA (pooled bag of words)",
}

def methods_in(df):
    return [m for m in METHODS if m in set(df.method)]


def topn_in(df):
    """The numbers of top words the run scored (from the ``uci_<n>`` metrics)."""
    return sorted({int(m[4:]) for m in df.metric.unique() if m.startswith("uci_") and m[4:].isdigit()})


def has_intervocab(df):
    return df.metric.str.startswith("uci_inter_").any()


def stat(df, method, metric):
    s = summarise(df[df.method == method], metric)
    return (np.nan, np.nan, 0) if s.empty else tuple(s.iloc[0][["mean", "std", "count"]])


def cell(df, method, metric, digits=2):
    mean, sd, count = stat(df, method, metric)
    return "-" if not np.isfinite(mean) else mean_sd(mean, sd, int(count), digits)


def mean(df, method, metric):
    return stat(df, method, metric)[0]


def _bracket(*values):
    shown = [f"{v:.2f}" if abs(v * 100 - round(v * 100)) < 1e-9 else f"{v:.3f}"
             for v in values if v is not None]
    return f" ({' / '.join(shown)})" if shown else ""


def _coherence_table(df, methods, n, key, paper, notebook):
    """One table: coherence of the top ``n`` words on one reference, the authors' in brackets."""
    lines = ["| method | UCI | UMass | NPMI | UCI, distinct | UMass, distinct | topics | distinct | "
             "diversity |", "|---|---|---|---|---|---|---|---|---|"]
    for m in methods:
        p, nb = paper.get(m, {}), notebook.get(m, {})
        auth = lambda k: _bracket(p.get(k), nb.get(k)) if n == 20 else ""  # noqa: E731
        name = lambda measure, distinct=False: metric_name(measure, key, n, distinct)  # noqa: E731
        lines.append(
            f"| {LABELS[m]} | {cell(df, m, name('uci'))}{auth('uci')} | "
            f"{cell(df, m, name('umass'))}{auth('umass')} | {cell(df, m, name('npmi'), 3)} | "
            f"{cell(df, m, name('uci', True))}{auth('uci_distinct')} | "
            f"{cell(df, m, name('umass', True))}{auth('umass_distinct')} | "
            f"{cell(df, m, 'n_topics', 1)}{' (%d)' % p['n_topics'] if 'n_topics' in p else ''} | "
            f"{cell(df, m, name('distinct'), 1)}{' (%d)' % p['distinct'] if 'distinct' in p else ''} | "
            f"{cell(df, m, name('diversity'))} |")
    return lines + [""]


def is_trainvocab(cfg) -> bool:
    """Whether the run's main reference is its silos themselves and they are the paper's books
    (the authors' "trainvocab"), so that their numbers can stand beside ours."""
    if cfg is None:
        return False
    select = lambda key: OmegaConf.select(cfg, key, default=None)  # noqa: E731
    return (select("data.reference_dir") is None and not select("data.reference")
            and "gutenberg" in str(select("data.corpus_dir") or ""))


def report(df, cfg=None) -> str:
    """Markdown: coherence (every reference, top 10 and 20, all and distinct topics), diversity,
    distinct topics and time beside the authors' numbers; the paper's claims judged
    (:mod:`experiments.topics.claims`)."""
    methods = methods_in(df)
    topn = topn_in(df)
    corpus = lambda k, d=0: f"{mean(df, 'corpus', k):,.{d}f}"  # noqa: E731
    train = is_trainvocab(cfg)
    lines = [f"Corpus: {corpus('n_silos')} silos, {corpus('vocabulary')} words with an embedding, "
             f"{corpus('tokens')} tokens. Coherence as the authors' notebook: gensim's "
             "CoherenceModel measures (c_uci and c_npmi: sliding window 10; u_mass: documents) "
             "on reference texts lowercased and tokenised by \\b[a-zA-Z]+\\b, one text per "
             "document; every method's top words are drawn from the words the reference holds. "
             f"Preparing took {corpus('prep_time_s', 1)} s and scoring "
             f"{corpus('scoring_time_s', 1)} s per trial (neither counted in any method's "
             "time). Cells: mean +- sd over trials; the authors' numbers (top 20 words, gensim's "
             "default) in brackets beside our top 20: paper / their notebook.", "",
             f"## Reference: {corpus('reference_documents')} documents, "
             f"{corpus('reference_tokens')} tokens; {corpus('candidate_words')} candidate words "
             + ("(the 40 books themselves, the authors' \"trainvocab\": their numbers in brackets)"
                if train else "(another corpus than the paper's: its numbers are not shown)"), ""]
    for n in topn:
        lines += [f"### Top {n} words per topic", ""]
        lines += _coherence_table(df, methods, n, "", PAPER["trainvocab"] if train else {},
                                  NOTEBOOK["trainvocab"] if train else {})
    if has_intervocab(df):
        lines += [f"## Intervocab: S. Lahiri's corpus, {corpus('reference_books')} books, "
                  f"{corpus('inter_tokens')} tokens; top words among the "
                  f"{corpus('shared_vocabulary')} words both corpora share (read in "
                  f"{corpus('inter_prep_time_s', 1)} s, scored in "
                  f"{corpus('inter_scoring_time_s', 1)} s)", "",
                  "The paper's headline: UCI SPAHM -2.10, Gaussian LDA -4.60 (the authors' "
                  "notebook, top 20: -2.097 and -4.530; -1.936 over Gaussian LDA's 37 distinct "
                  "topics; UMass -2.325 and -1.789).", ""]
        for n in topn:
            lines += [f"### Intervocab, top {n} words per topic", ""]
            lines += _coherence_table(df, methods, n, "inter", PAPER["headline"],
                                      NOTEBOOK["intervocab"])
    lines += ["### Time", "", "Wall time depends on what else the machine runs; CPU time (one "
              "thread, the silos' local fits summed) is the fairer figure on a shared machine.", "",
              "| method | wall (s) | silos in sequence (s) | CPU (s) |",
              "|---|---|---|---|"]
    for m in methods:
        lines.append(f"| {LABELS[m]} | {cell(df, m, 'time_s', 1)} | "
                     f"{cell(df, m, 'sequential_time_s', 1)} | {cell(df, m, 'cpu_time_s', 1)} |")
    if "gaussian_lda" in methods:
        lines += _glda_lines(df)
    lines += ["", CLAIMS.section(df).rstrip()]
    if not has_intervocab(df):
        lines += ["", "The paper's headline (UCI on S. Lahiri's 3,036-book Gutenberg corpus, "
                  "'intervocab') was not scored in this run: install the corpus with "
                  "`python -m data_scripts.lahiri` and set data.intervocab_dir (the paper "
                  "profile does)."]
    return "\n".join(lines) + "\n"


def _glda_lines(df):
    g = lambda k, d=2: cell(df, "gaussian_lda", k, d)  # noqa: E731
    lines = []
    done, wanted = mean(df, "gaussian_lda", "sweeps_done"), mean(df, "gaussian_lda", "sweeps")
    if np.isfinite(done) and done < wanted:
        lines += ["", f"**Gaussian LDA is incomplete: {done:.0f} of {wanted:.0f} sweeps** "
                  "(the run's gaussian_lda.max_seconds budget); its topics and scores are "
                  "those of the last sweep done. Its chains are checkpointed: rerun the same "
                  "command with resume=false to continue them."]
    plain = lambda k, d=0: f"{mean(df, 'gaussian_lda', k):,.{d}f}"  # noqa: E731
    sci = lambda k: f"{mean(df, 'gaussian_lda', k):.1e}"  # noqa: E731
    return lines + [
        "", f"Gaussian LDA: {plain('tokens_used')} of {plain('tokens_total')} tokens, "
        f"{g('sweep_time_s')} s wall per sweep ({plain('sweeps_run_now')} sweeps run "
        f"now, {plain('sweeps_resumed')} resumed from checkpoints, per trial); one chain "
        f"of {plain('sweeps')} sweeps over all tokens at this cost: "
        f"{g('chain_time_s', 0)} s (paper: 16 h). Share of tokens moved in the last "
        f"sweep: {sci('moved_last_sweep')} (the sampler's conditionals expected "
        f"{sci('expected_moved_last_sweep')}); non-empty topics: "
        f"{plain('nonempty_topics')}. Per-sweep diagnostics of every chain: "
        "artifacts/gaussian_lda_sweeps_trial_*.csv and gaussian_lda_mixing.png."]

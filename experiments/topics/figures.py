"""Figures (and ``topics.md``) of the topic-model application, from ``metrics.csv`` and the
saved artifacts alone."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from experiments._runner import atomic_write_text, summarise
from experiments.topics.methods import ARTIFACTS, metric_name
from experiments.topics.claims import NOTEBOOK, PAPER
from experiments.topics.tables import LABELS, is_trainvocab, methods_in, topn_in

MEASURE_NAMES = {"uci": "UCI (c_uci)", "umass": "UMass (u_mass)", "npmi": "NPMI (c_npmi)"}
FIG3_PAIRS = 3   # the most popular fused topics shown beside their closest Gaussian LDA topic


def load_artifacts(out_dir):
    """The saved artifacts of the lowest-numbered trial, or None."""
    files = sorted(Path(out_dir, ARTIFACTS).glob("trial_*.json"),
                   key=lambda p: int(p.stem.split("_")[1]))
    return json.loads(files[0].read_text()) if files else None


def _short(name):
    return name.rsplit(".", 1)[0] if name.endswith(".txt") else name


def _headline_n(df):
    """Top 20 (the authors' count, gensim's default) when scored, else the smallest."""
    topn = topn_in(df) or [10]
    return 20 if 20 in topn else topn[0]


def topics_markdown(art, titles=None) -> str:
    """Every fused topic (most popular first): silos, UCI, top words, and the silos using it."""
    names = art["silo_names"]
    titles = titles or {}
    usage = np.asarray(art["usage"])
    pop = np.asarray(art["popularity"])
    spahm = art["topics"]["spahm"]
    uci_key = _uci_key(spahm)
    lines = ["# Fused global topics (SPAHM)", "",
             f"{len(pop)} global topics from {len(names)} silos; coherence reference: "
             f"{art['reference']}. A topic is shown by its nearest words in embedding space "
             f"(top {len(spahm['words'][0])}); 'used by' lists every silo whose local topic was "
             "matched to it (share of that silo's tokens in brackets).", ""]
    if titles:
        lines += ["Silos: " + "; ".join(f"{_short(n)} = {titles[_short(n)]}" for n in names
                                        if _short(n) in titles), ""]
    lines += [f"| # | silos | UCI ({'top ' + uci_key[4:] if uci_key else '-'}) | top words | used by |",
              "|---|---|---|---|---|"]
    for i in np.argsort(-pop, kind="stable"):
        users = np.flatnonzero(usage[:, i] > 0)
        users = users[np.argsort(-usage[users, i], kind="stable")]
        who = ", ".join(f"{_short(names[j])} ({usage[j, i]:.0%})" for j in users)
        uci = f"{spahm[uci_key][i]:.2f}" if uci_key else "-"
        lines.append(f"| {i} | {pop[i]} | {uci} | {' '.join(spahm['words'][i])} | {who} |")
    return "\n".join(lines) + "\n"


def _uci_key(scores):
    """``uci_<n>`` with the smallest ``n`` among a method's per-topic scores, or None."""
    keys = [k for k in scores if k.startswith("uci_") and k[4:].isdigit()]
    return min(keys, key=lambda k: int(k[4:])) if keys else None


def _titles(cfg):
    """Book titles from the data script's MANIFEST.json beside the silos, if there is one."""
    folder = OmegaConf.select(cfg, "data.corpus_dir", default=None) if cfg is not None else None
    path = Path(folder) / "MANIFEST.json" if folder else None
    if path is None or not path.is_file():
        return {}
    manifest = json.loads(path.read_text())
    return {_short(k): v["title"] for k, v in manifest.items() if v.get("title")}


def _authors(key, cfg):
    """The authors' numbers comparable with a reference's scores (none for another corpus)."""
    if key == "inter":
        return PAPER["headline"], NOTEBOOK["intervocab"]
    if is_trainvocab(cfg):
        return PAPER["trainvocab"], NOTEBOOK["trainvocab"]
    return {}, {}


def _coherence(df, art, out_dir, _plots, measure, key, n, cfg):
    """Each method's per-topic scores (trial 0) as a box, the mean over trials +- sd as a dot,
    and the authors' numbers as markers where they scored the same reference."""
    methods = methods_in(df)
    metric = metric_name(measure, key, n)
    if not (df.metric == metric).any():
        return None
    stats = summarise(df, metric).set_index("method").reindex(methods)
    ref_name = (art or {}).get("references", {}).get(key, (art or {}).get("reference", ""))
    paper, notebook = _authors(key, cfg)
    fig, ax = _plots.plt.subplots(figsize=(7.6, 4.4))
    pos = np.arange(len(methods))
    per_topic = [np.asarray(((art or {}).get("topics", {}).get(m, {})).get(metric, []), float)
                 for m in methods]
    if any(len(v) for v in per_topic):
        boxes = ax.boxplot([v if len(v) else [np.nan] for v in per_topic], positions=pos,
                           widths=0.5, showfliers=False, patch_artist=True)
        for patch, m in zip(boxes["boxes"], methods):
            patch.set(facecolor=_plots.colour(m), alpha=0.3, edgecolor=_plots.colour(m))
    ax.errorbar(pos, stats["mean"], yerr=np.nan_to_num(stats["std"]), fmt="o", color="black",
                capsize=4, zorder=4, label="ours: mean over topics")
    for values, marker, label in ((paper, "D", "the paper"), (notebook, "s", "authors' notebook")):
        ys = [values.get(m, {}).get(measure) for m in methods]
        if any(y is not None for y in ys):
            ax.scatter(pos, [np.nan if y is None else y for y in ys], marker=marker, s=60,
                       facecolors="none", edgecolors="black", zorder=5, label=f"{label} (top 20)")
    ax.set_xticks(pos, [LABELS[m] for m in methods], rotation=15, ha="right", fontsize=8)
    ax.set_ylabel(f"{MEASURE_NAMES[measure]}, top {n} words (higher is better)")
    where = "S. Lahiri's corpus (intervocab)" if key == "inter" else f"reference: {ref_name}"
    ax.set_title(f"{MEASURE_NAMES[measure]} on {where}", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    trials = int(stats["count"].max()) if "count" in stats and len(stats) else 0
    caption = (f"Boxes: each topic's score in trial 0 (quartiles, whiskers to 1.5 IQR, median "
               f"line). Dots: the mean over topics, averaged over {trials} trial(s)"
               + (", error bars +-1 sd over the trials." if trials > 1 else ".")
               + (" Hollow markers: the paper's and the authors' notebook's numbers (top 20)."
                  if paper or notebook else
                  " The paper's numbers are on another corpus and are not shown."))
    path = Path(out_dir) / f"coherence_{measure}{'_' + key if key else ''}.png"
    _plots.finish(fig, path, " ".join(filter(None, [caption, _plots.overrides(cfg)])), axes=ax)
    return path


def _times(df, out_dir, _plots, cfg):
    methods = methods_in(df)
    times = summarise(df, "time_s").set_index("method").reindex(methods)
    if not len(times):
        return None
    fig, ax = _plots.plt.subplots(figsize=(7.6, 4.0))
    pos = np.arange(len(methods))
    ax.bar(pos, times["mean"], yerr=np.nan_to_num(times["std"]), capsize=3,
           color=[_plots.colour(m) for m in methods], label="ours (wall time)")
    paper = [PAPER["headline"].get(m, {}).get("time_s", np.nan) for m in methods]
    ax.scatter(pos, paper, marker="D", facecolors="none", edgecolors="black", zorder=3,
               label="paper (its 40 books, its hardware)")
    ax.set_yscale("log")
    ax.set_xticks(pos, [LABELS[m] for m in methods], rotation=15, ha="right", fontsize=8)
    ax.set_ylabel("wall time (s, log scale)")
    ax.set_title("Wall time per method (SPAHM: local fits in parallel + fusion)", fontsize=9)
    ax.grid(axis="y", alpha=0.3, which="both")
    caption = _plots.spread_caption(times).replace("Marks:", "Bars:")
    path = Path(out_dir) / "time_by_method.png"
    _plots.finish(fig, path, " ".join(filter(None, [caption, "Hollow diamonds: the paper's times "
                                                    "(its 40 books, its hardware).",
                                                    _plots.overrides(cfg)])), axes=ax)
    return path


def _mixing(out_dir, _plots, cfg):
    sweeps = sorted(Path(out_dir, ARTIFACTS).glob("gaussian_lda_sweeps_trial_*.csv"))
    if not sweeps:
        return None
    diag = pd.read_csv(sweeps[0])
    fig, axes = _plots.plt.subplots(1, 2, figsize=(11, 4.2))
    palette = _plots.COLOURS
    for chain, sub in diag.groupby("chain"):
        colour = palette[int(chain) % len(palette)]
        axes[0].plot(sub.sweep, sub.log_joint, color=colour, label=f"chain {chain}")
        axes[1].plot(sub.sweep, sub.moved, color=colour, label=f"chain {chain}: moved")
        axes[1].plot(sub.sweep, sub.expected_moved, color=colour, ls="--",
                     label=f"chain {chain}: expected by the conditionals")
    axes[0].set(xlabel="sweep", ylabel="log p(words, z)", title="collapsed log joint")
    axes[1].set(xlabel="sweep", ylabel="share of tokens", yscale="log",
                title="tokens moved per sweep")
    for ax in axes:
        ax.grid(alpha=0.3)
    path = Path(out_dir) / "gaussian_lda_mixing.png"
    _plots.finish(fig, path, " ".join(filter(None, [
        "Gaussian LDA's chains in trial 0, one colour per chain in both panels; dashed: the "
        "share of tokens the sampler's conditionals expected to move.", _plots.overrides(cfg)])),
        axes=axes)
    return path


def _heatmap(art, order, out_dir, _plots):
    usage = np.asarray(art["usage"])
    fig, ax = _plots.plt.subplots(figsize=(min(16, 3 + 0.06 * usage.shape[1]),
                                    min(14, 2 + 0.16 * usage.shape[0])))
    im = ax.imshow(usage[:, order], aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_yticks(np.arange(len(art["silo_names"])),
                  [_short(n) for n in art["silo_names"]], fontsize=5)
    ax.set_xlabel("global topic (most popular first)")
    ax.set_ylabel("silo")
    ax.set_title("Share of each silo's tokens in its local topics matched to each global topic",
                 fontsize=9)
    bar = fig.colorbar(im, ax=ax, fraction=0.03)
    bar.set_label("share of the silo's tokens")
    path = Path(out_dir) / "silo_topic_heatmap.png"
    _plots.finish(fig, path, legend=False)
    return path


def plot(df, out_dir, cfg=None):
    """Figures (and topics.md) from metrics.csv and the saved artifacts alone."""
    from experiments import _plots

    out_dir = Path(out_dir)
    art = load_artifacts(out_dir)
    n = _headline_n(df)
    paths = [_coherence(df, art, out_dir, _plots, measure, key, n, cfg)
             for key in ("", "inter") for measure in ("uci", "umass", "npmi")]
    paths += [_times(df, out_dir, _plots, cfg), _mixing(out_dir, _plots, cfg)]
    paths = [p for p in paths if p is not None]
    if art is None or "usage" not in art:
        return paths
    # The book titles come from the installed corpus; without it (spahm-report on a machine
    # that never installed the books) the run's own topics.md is left as the run wrote it.
    titles, target = _titles(cfg), out_dir / "topics.md"
    if titles or not target.exists():
        atomic_write_text(target, topics_markdown(art, titles))
    order = np.argsort(-np.asarray(art["popularity"]), kind="stable")
    paths.append(_heatmap(art, order, out_dir, _plots))
    if "closest_gaussian_lda" in art:
        paths.append(_fig3(art, order, out_dir, _plots))
    return paths


def _fig3(art, order, out_dir, _plots):
    """Fig. 3 idea: fused topics' words beside the nearest (by mean) Gaussian LDA topic's."""
    pop = np.asarray(art["popularity"])
    spahm, glda = art["topics"]["spahm"], art["topics"]["gaussian_lda"]
    chosen = [int(i) for i in order[:FIG3_PAIRS]]
    key = _uci_key(spahm)
    fig, axes = _plots.plt.subplots(1, len(chosen), figsize=(4.2 * len(chosen), 3.0), squeeze=False)
    for ax, i in zip(axes[0], chosen):
        k = int(art["closest_gaussian_lda"][i])
        ax.axis("off")
        cols = [(0.0, f"SPAHM topic {i}\n{pop[i]} silos\nUCI {spahm[key][i]:.2f}",
                 spahm["words"][i][:10]),
                (0.5, f"Gaussian LDA {k}\n{art['glda_tokens'][k]} tokens\n"
                      f"UCI {glda[key][k]:.2f}", glda["words"][k][:10])]
        for x, title, words in cols:
            ax.text(x, 1.0, title, fontsize=8, weight="bold", va="top", transform=ax.transAxes)
            ax.text(x, 0.78, "\n".join(words), fontsize=8, va="top", transform=ax.transAxes,
                    family="monospace")
    fig.suptitle("The most popular fused topics (left of each pair) beside the closest Gaussian "
                 "LDA topic (cf. the paper's Fig. 3)", fontsize=9)
    path = Path(out_dir) / "fig3_topic_pair.png"
    _plots.finish(fig, path, legend=False)
    return path

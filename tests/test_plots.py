"""The figures' one look: fixed colours per method, legends outside the axes, captions; and
each application's figure types drawn from a tiny run without a warning."""
import warnings
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from experiments import _plots
from experiments.mocap import LABELS as MOCAP
from experiments.networks import LABELS as NETWORKS
from experiments.simulated import LABELS as SIMULATED
from experiments.temperature.tables import LABELS as TEMPERATURE
from experiments.topics import LABELS as TOPICS
from experiments.uncertainty import LABELS as UNCERTAINTY


@pytest.mark.parametrize("labels", [MOCAP, NETWORKS, SIMULATED, TEMPERATURE, TOPICS, UNCERTAINTY])
def test_the_methods_of_one_figure_look_different(labels):
    looks = {m: tuple(str(v) for v in _plots.style(m).values()) for m in labels}
    assert len(set(looks.values())) == len(looks), looks


def test_a_method_has_one_colour_everywhere_and_sigma_variants_are_told_apart():
    assert _plots.colour("spahm") == _plots.colour("spahm")
    assert _plots.colour("pooled") != _plots.colour("spahm_sigma0.6")
    assert _plots.colour("spahm_sigma0.6") != _plots.colour("spahm_sigma1")
    assert _plots.colour("an_unknown_method") == _plots.colour("an_unknown_method")


def test_titles_carry_no_overrides():
    assert _plots.title(None, "digits, J = 10") == "digits, J = 10"


def stats(count):
    return pd.DataFrame({"x": [1, 2, 1, 2], "method": ["spahm", "spahm", "local", "local"],
                         "mean": [1.0, 2.0, 1.5, 2.5], "std": [0.1, 0.2, 0.1, 0.2],
                         "count": [count] * 4})


def test_a_line_figure_has_its_legend_outside_the_axes_and_says_what_the_bars_are(
        tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(_plots, "save_figure", lambda fig, path: seen.update(fig=fig))
    _plots.lines_with_paper(stats(5), "x", ["spahm", "local"], {"spahm": "SPAHM"},
                            {"x": [1], "spahm": [1.2]}, "x", "y", "t", tmp_path / "f.png")
    fig = seen["fig"]
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    assert legend.x0 >= ax.get_window_extent(renderer).x1
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(labels) == ["SPAHM", "SPAHM (paper)", "local"]  # display names, not ids
    caption = " ".join(t.get_text() for t in fig.texts).replace("\n", " ")
    assert "mean over 5 trials" in caption and "+-1 sd" in caption and "paper's values" in caption
    matplotlib.pyplot.close(fig)


def test_one_trial_shows_no_spread_and_says_so():
    assert _plots.spread_caption(stats(1)) == "One trial per point: no spread shown."
    band = stats(3).assign(lo=0.0, hi=3.0)
    assert "range over the trials" in _plots.spread_caption(band, band=True)


# ------------------------------------------------------------------ each figure type, tiny runs
def _boxes(fig):
    renderer = fig.canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    return renderer, axes, legends


def _texts(fig):
    """Every text a reader sees: titles, tick labels, legend entries, the caption."""
    out = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_title("left"), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        out += [t.get_text() for t in ax.texts]
    for legend in [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends):
        out += [t.get_text() for t in legend.get_texts()]
    return [t for t in out if t]


class Figures:
    """Draws an application's figures from a finished run, keeping each figure's facts."""

    def __init__(self, monkeypatch):
        self.seen = {}
        real = _plots.save_figure

        def record(fig, path):
            fig.canvas.draw()
            renderer, axes, legends = _boxes(fig)
            boxes = [ax.get_window_extent(renderer) for ax in axes]
            self.seen[Path(path).name] = {
                "legend_over_axes": [l.get_window_extent(renderer).overlaps(b)
                                     for l in legends for b in boxes],
                "legend": [t.get_text() for l in legends for t in l.get_texts()],
                "titles": [ax.get_title() for ax in fig.axes]
                          + [fig._suptitle.get_text() if fig._suptitle else ""],
                "caption": " ".join(t.get_text() for t in fig.texts
                                    if t is not fig._suptitle).replace("\n", " "),
                "caption_below": all(
                    t.get_window_extent(renderer).y1 <= min(b.y0 for b in boxes)
                    for t in fig.texts if t is not fig._suptitle),
                "texts": _texts(fig),
                "bar_colours": [[tuple(p.get_facecolor()) for p in c] for ax in fig.axes
                                for c in ax.containers if hasattr(c, "patches")],
            }
            real(fig, path)

        monkeypatch.setattr(_plots, "save_figure", record)

    def draw(self, app, run):
        from omegaconf import OmegaConf

        from experiments._runner import load_results

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            paths = app.plot(load_results(run), run, OmegaConf.load(run / "config.yaml"))
        assert {p.name for p in paths} == set(self.seen)
        for name, facts in self.seen.items():
            assert (run / name).is_file(), name
            assert not any(facts["legend_over_axes"]), name  # legends outside the data
            assert facts["caption"] and facts["caption_below"], name
            assert not any("=" in t and "Overrides" in t for t in facts["titles"]), name
        return self.seen


@pytest.fixture(scope="module")
def temperature_run(tmp_path_factory):
    """A tiny temperature run: 2 splits, a sigma grid of 2 and a gamma0 / J grid of 3 (beyond
    0.5 and 2, as an extended grid is)."""
    from experiments import temperature
    from experiments._runner import run_experiment
    from tests.test_temperature import TINY, _compose, _synthetic_weather

    root = tmp_path_factory.mktemp("temperature")
    (root / "data" / "weather5").mkdir(parents=True)
    _synthetic_weather(60).to_csv(root / "data" / "weather5" / "Weather.csv", index=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPAHM_DATA", str(root / "data"))
        mp.setattr(temperature, "plot", lambda *args: [])  # the test draws them
        cfg = _compose(TINY + ["selection.gamma0_per_silo=[0.25,1.0,4.0]", "model.max_iters=5",
                               "data.max_train_per_silo=25", "sensitivity=true",
                               f"output_dir={root / 'run'}"])
        run_experiment(cfg, temperature)
    return root / "run"


@pytest.fixture(scope="module")
def mocap_run(tmp_path_factory):
    """A tiny mocap run on planted behaviours: 2 trials, two subjects of two sequences."""
    from experiments import mocap
    from experiments._runner import run_experiment
    from tests.test_mocap import _compose, _tiny_mocap

    root = tmp_path_factory.mktemp("mocap")
    _tiny_mocap(root / "data", T=60)
    cfg = _compose(["profile=quick", "trials=2", f"data.root={root / 'data'}",
                    f"output_dir={root / 'run'}", "quiet=true", "n_jobs=1",
                    "model.n_states=6", "model.n_iter=6", "model.n_burnin=2",
                    "model.n_restarts=1", "model.n_init_states=3", "kmeans_matching.k=3",
                    "kmeans_matching.n_init=2", "fusion.n_init=1"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mocap, "plot", lambda *args: [])  # the test draws them
        run_experiment(cfg, mocap)
    return root / "run"


def test_temperature_figures_share_the_one_look(temperature_run, monkeypatch):
    from experiments import temperature
    from experiments.temperature.claims import PAPER_RMSE
    from experiments.temperature.tables import methods_in

    seen = Figures(monkeypatch).draw(temperature, temperature_run)
    assert set(seen) == {"rmse.png", "nlpd.png", "sensitivity.png", "budget.png",
                         "predictions.png", "map.png"}
    df = pd.read_csv(temperature_run / "metrics.csv")
    methods = methods_in(df)
    for name in ("rmse.png", "nlpd.png"):
        facts = seen[name]
        # bars in each method's own colour, named by display names, never ids
        assert facts["bar_colours"][0] == [matplotlib.colors.to_rgba(_plots.colour(m))
                                           for m in methods]
        assert not set(facts["texts"]) & set(TEMPERATURE), name
        assert "mean over 2 splits" in facts["caption"] and "+-1 sd" in facts["caption"]
        assert "trials=2" in facts["caption"]  # the run's overrides, in the caption
    assert any("paper" in t for t in seen["rmse.png"]["legend"]) and set(PAPER_RMSE) <= set(methods)
    assert "Table 1" in seen["rmse.png"]["caption"]
    # every gamma0 of the grid has its own legend entry, the chosen point is starred
    for name in ("sensitivity.png", "budget.png"):
        gammas = [t for t in seen[name]["legend"] if t.startswith("$\\gamma_0$")]
        assert len(gammas) == 3, (name, seen[name]["legend"])
        assert "chosen on validation days" in seen[name]["legend"]
    assert any("0.116" in t for t in seen["budget.png"]["legend"])
    assert "+-2 predictive sd" in seen["predictions.png"]["caption"]
    assert {"local SGPs (50)", "local SGPs (300)"} <= set(seen["predictions.png"]["legend"])


def test_mocap_figures_share_the_one_look(mocap_run, monkeypatch):
    from experiments import mocap

    seen = Figures(monkeypatch).draw(mocap, mocap_run)
    assert set(seen) == {"accuracy.png", "ari.png", "states.png", "metrics_per_sequence.png",
                         "segmentations.png"}
    methods = list(MOCAP)
    for name in ("accuracy.png", "ari.png"):
        assert seen[name]["bar_colours"][0] == [matplotlib.colors.to_rgba(_plots.colour(m))
                                                for m in methods]
        assert seen[name]["legend"] == ["the paper"]
        assert "mean over 2 trials" in seen[name]["caption"]
        assert "Fig. 4" in seen[name]["caption"] and "trials=2" in seen[name]["caption"]
    assert [c[0] for c in seen["metrics_per_sequence.png"]["bar_colours"][:4]] == [
        matplotlib.colors.to_rgba(_plots.colour(m)) for m in methods]
    assert "the paper" in seen["states.png"]["legend"]
    assert "one per trial" in seen["states.png"]["caption"]
    assert "One trial" in seen["segmentations.png"]["caption"]
    for facts in seen.values():
        assert not {t for t in facts["texts"]} & set(MOCAP)  # display names, never ids

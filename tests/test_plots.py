"""The figures' one look: fixed colours per method, legends outside the axes, captions."""
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

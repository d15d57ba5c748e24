"""The notebook helpers: suite selection, tuning, paired comparisons, tables, and the shared plots."""

import math

import matplotlib
import numpy as np
import pytest

from sco import experiments as ex
from sco import plot
from sco.simulate import Experiment, run

matplotlib.use("Agg")


def _tiny(**kw):
    base = dict(objective={"name": "quadratic", "d": 3, "seed": 0}, noise={"name": "gaussian", "sigma": 0.5}, m=3,
                T=20, seeds=3, algorithm={"name": "sgd", "eta": 0.1}, progress=False)
    base.update(kw)
    return Experiment(**base)


@pytest.mark.parametrize("value, suite", [("1", "quick"), ("true", "quick"), ("YES", "quick"), ("0", "full"),
                                          ("", "full")])
def test_suite_follows_the_environment(monkeypatch, value, suite):
    monkeypatch.setenv(ex.QUICK_ENV, value)
    assert ex.suite() == suite
    ctx = ex.context()
    assert ctx.suite == suite and ctx.size("q", "f") == suite[0]


def test_tune_picks_the_best_and_a_diverged_run_loses():
    best, tr, traces = ex.tune(lambda eta: _tiny(algorithm={"name": "sgd", "eta": eta}), [1e-4, 0.3, 5.0], "excess")
    assert set(traces) == {1e-4, 0.3, 5.0}
    assert best == 0.3 and tr is traces[0.3]  # eta = 5 > 2/L diverges, 1e-4 barely moves
    assert not math.isfinite(ex.final_mean(traces[5.0], "excess")) or ex.final_mean(traces[5.0], "excess") > 1


def test_compare_verdicts():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.1, 20)
    held = ex.compare(a, a + 1, claim="a lower")
    assert held.verdict == "held" and held.diff == pytest.approx(-1) and held.interval[1] < 0
    assert ex.compare(a + 1, a, claim="a lower").verdict == "reversed"
    assert ex.compare(a, a + 1, claim="a higher", better="higher").verdict == "reversed"
    same = ex.compare(a, a[::-1], claim="no effect")
    assert same.verdict == "no clear difference"
    # a diverged run is the worst value of its side
    assert ex.compare([np.nan, 1.0], [2.0, 2.0], claim="nan loses").mean_a == math.inf
    assert "held" in str(held) and "20 seeds" in str(held)
    assert ex.tally([held, same]) == "1 held, 1 no clear difference, 0 reversed (of 2)"
    with pytest.raises(ValueError, match="The 'b' parameter of compare must hold one value per seed"):
        ex.compare([1.0, 2.0], [1.0], claim="x")
    with pytest.raises(ValueError, match="The 'better' parameter of compare must be one of"):
        ex.compare([1.0], [1.0], claim="x", better="up")


def test_table_and_timing():
    text = ex.table([{"a": 1.23456, "b": "x"}, {"a": 2.0, "b": "long text"}])
    lines = text.splitlines()
    assert lines[0].split() == ["a", "b"] and "1.235" in lines[2] and "long text" in lines[3]
    assert ex.table([]) == "(empty)"
    assert 0 < ex.time_call(lambda: sum(range(100)), repeats=2, budget=1e-3) < 0.1


def test_run_all_keeps_keys():
    out = ex.run_all({"a": _tiny(), "b": _tiny(T=5)})
    assert list(out) == ["a", "b"] and out["b"].steps[-1] == 5


def test_shared_plots_draw_labelled_axes():
    sync = run(_tiny())
    asyn = run(_tiny(m=5, f=1, attack="alie", aggregator="cwmed", arrivals={"name": "speeds", "speeds": "id2",
                                                                         "lam": 0.2}))
    fig, axes = plot.panels(5, ncols=3)
    assert len(axes) == 5
    ax = plot.curves({"sync": sync}, "excess", axes[0], ylabel="f(x_t) − f*")
    assert ax.get_ylabel() == "f(x_t) − f*" and ax.get_xlabel() == "step t"
    assert "mean of 3 seeds" in ax.get_legend().get_texts()[0].get_text()
    # equal seed values (accuracies often are) give whiskers of zero length, never negative ones
    plot.bars({"g1": {"x": [1.0, 2.0], "y": [0.1 + 0.2] * 5}, "g2": {"x": [2.0]}}, axes[1], ylabel="value")
    assert [t.get_text() for t in axes[1].get_xticklabels()] == ["g1", "g2"]
    plot.points_2d(np.zeros((4, 2)), np.ones((2, 2)), {"mean": [0.3, 0.3]}, axes[2], title="2-D")
    assert len(axes[2].get_legend().get_texts()) == 4
    plot.timeline(asyn, axes[3], steps=10)
    assert axes[3].get_ylabel() == "arriving worker id"
    with pytest.raises(ValueError, match="The 'trace' parameter of timeline must come from an asynchronous run"):
        plot.timeline(sync, axes[4])
    with pytest.raises(ValueError, match="The 'metric' parameter of curves must be a metric"):
        plot.curves({"sync": sync}, "accuracy", axes[4])
    matplotlib.pyplot.close("all")


def test_a_categorical_figure_names_its_points_on_the_axis_without_a_legend():
    from sco.verify.core import Figure, Series
    names = [f"rule{i}" for i in range(24)]
    fig = Figure("rule", "worst ratio", [Series(n, np.array([i + 1.0]), np.array([[1.0 + i]])) for i, n in
                                         enumerate(names)], logx=False, categories=tuple(names))
    ax = plot.draw(fig)
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert ax.get_legend() is None  # 24 entries covered the points
    plain = plot.draw(Figure("rule", "worst ratio", fig.series[:2], logx=False))
    assert len(plain.get_legend().get_texts()) == 2
    matplotlib.pyplot.close("all")

"""sco.progress: a bar with an ETA where someone watches (terminal, Jupyter with widgets), nothing elsewhere."""

import types
from pathlib import Path

import pytest

from sco import progress


def test_off_when_not_a_terminal_and_the_iterable_comes_back(capsys):
    assert not progress.in_notebook()  # pytest captures stderr: no terminal, no kernel
    assert not progress.auto()
    items = [1, 2, 3]
    assert progress.bar(items, desc="x") is items
    assert progress.bar(total=3, enabled=False) is None
    assert capsys.readouterr().err == ""


def test_forced_bar_shows_an_eta_on_stderr(capsys):
    for _ in progress.bar(range(3), desc="work", unit="step", enabled=True):
        pass
    err = capsys.readouterr().err
    assert "work" in err and "3/3" in err and "<00:00" in err  # elapsed<remaining: the ETA


def test_in_jupyter_the_bar_is_tqdm_auto_s_widget_only_with_ipywidgets(monkeypatch):
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    monkeypatch.setattr(progress, "_widgets", lambda: False)
    assert not progress.auto()  # no widgets: tqdm would fall back to stderr text and warn, so no bar
    from tqdm import tqdm
    assert progress.tqdm_class() is tqdm
    pytest.importorskip("ipywidgets")
    monkeypatch.setattr(progress, "_widgets", lambda: True)
    from tqdm.notebook import tqdm as widget
    assert progress.auto() and progress.tqdm_class() is widget


def test_simulations_and_sweeps_default_to_it(monkeypatch):
    from sco.simulate import Experiment, Plan

    monkeypatch.setattr(progress, "auto", lambda: True)
    assert Plan(Experiment(T=3)).progress is True
    assert Plan(Experiment(T=3, progress=False)).progress is False
    monkeypatch.setattr(progress, "auto", lambda: False)
    assert Plan(Experiment(T=3)).progress is False


def test_sweeps_show_a_bar_where_auto_says_and_log_lines_elsewhere(monkeypatch, capsys):
    from sco.sweep.run import Summary, _Reporter

    sweep = types.SimpleNamespace(name="s")
    monkeypatch.setattr(progress, "auto", lambda: False)
    r = _Reporter(sweep, [], Summary("s", Path("store"), "local", "code"), None)
    assert r.bar is None and r.lines
    monkeypatch.setattr(progress, "auto", lambda: True)
    r = _Reporter(sweep, [], Summary("s", Path("store"), "local", "code"), None)
    assert r.bar is not None and not r.lines
    r.close()
    assert "sweep s" in capsys.readouterr().err

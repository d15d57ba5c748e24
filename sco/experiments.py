"""Helpers the notebooks share: quick/full sizes, tuning sweeps, paired comparisons, timings."""

from __future__ import annotations

import math
import os
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import _checks
from .simulate import Experiment, run
from .verify.core import Context

#: The environment variable that selects the quick suite (tests run every notebook with it).
QUICK_ENV = "SCO_QUICK"


def suite() -> str:
    """"quick" when ``$SCO_QUICK`` is set to 1/true/yes (small sizes, for tests), else "full"."""
    return "quick" if os.environ.get(QUICK_ENV, "").strip().lower() in ("1", "true", "yes") else "full"


def context(seed: int = 0, **kw) -> Context:
    """A claim :class:`~sco.verify.core.Context` for the current :func:`suite`: ``ctx.size(quick,
    full)`` picks a size and ``ctx.seeds(quick, full)`` the run seeds."""
    return Context(suite=suite(), seed=seed, **kw)


def run_all(experiments: dict) -> dict:
    """Run each :class:`~sco.simulate.Experiment` of a dict; the traces under the same keys."""
    return {k: run(e) for k, e in experiments.items()}


def final_mean(trace, metric: str) -> float:
    """The seed mean of ``metric`` at the last logged step."""
    return float(np.nanmean(trace.final(metric)))


def tune(make: Callable, grid, metric: str, *, better: str = "lower"):
    """Run ``make(v)`` (an Experiment) for every v of ``grid`` and pick the v whose seed mean
    of ``metric`` at the last step is best (``better`` "lower" or "higher"); a diverged run
    (NaN or inf) loses. Returns (best v, its trace, {v: trace})."""
    _checks.one_of("tune", "better", better, {"lower", "higher"})
    traces = {v: run(make(v)) for v in grid}
    sign = 1.0 if better == "lower" else -1.0

    def score(v):
        s = sign * final_mean(traces[v], metric)
        return s if math.isfinite(s) else math.inf
    best = min(traces, key=score)
    return best, traces[best], traces


@dataclass(frozen=True)
class Comparison:
    """A claim "A beats B" measured on paired seeds: the mean of each, their difference
    A - B with a 95% bootstrap interval over seeds, and the verdict: "held" (the interval
    lies on A's better side), "reversed" (on B's side), or "no clear difference"."""

    claim: str
    mean_a: float
    mean_b: float
    diff: float
    interval: tuple[float, float]
    verdict: str
    n_seeds: int

    def __str__(self):
        lo, hi = self.interval
        return (f"{self.claim}: {self.mean_a:.4g} vs {self.mean_b:.4g}, difference {self.diff:+.3g} "
                f"[{lo:+.3g}, {hi:+.3g}] over {self.n_seeds} seeds -> {self.verdict}")


def compare(a, b, *, claim: str, better: str = "lower", n_boot: int = 4000, seed: int = 0) -> Comparison:
    """Compare per-seed values ``a`` and ``b`` (same seeds, paired) of a metric where
    ``better`` values are "lower" (loss, error) or "higher" (accuracy).

    The interval is a 95% percentile bootstrap of the mean paired difference over seeds;
    with few seeds it is wide, and "no clear difference" is the honest verdict. Runs that
    diverged (non-finite values) count as the worst possible value of their side.
    """
    _checks.one_of("compare", "better", better, {"lower", "higher"})
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape or a.size == 0:
        _checks.fail("compare", "b", f"hold one value per seed of a ({a.size})", b.size)
    worst = np.inf if better == "lower" else -np.inf
    a, b = np.where(np.isfinite(a), a, worst), np.where(np.isfinite(b), b, worst)
    diff = a - b
    rng = np.random.default_rng(seed)
    with np.errstate(invalid="ignore"):
        boot = diff[rng.integers(0, diff.size, size=(n_boot, diff.size))].mean(1)
        lo, hi = (float(v) for v in np.nanquantile(boot, [0.025, 0.975]))
        est = float(diff.mean())
    good = (hi < 0) if better == "lower" else (lo > 0)
    bad = (lo > 0) if better == "lower" else (hi < 0)
    verdict = "held" if good else "reversed" if bad else "no clear difference"
    with np.errstate(invalid="ignore"):
        ma, mb = float(a.mean()), float(b.mean())
    return Comparison(claim, ma, mb, est, (lo, hi), verdict, int(diff.size))


def tally(comparisons) -> str:
    """One line counting the verdicts of several :class:`Comparison` results."""
    comparisons = list(comparisons)
    counts = {v: sum(c.verdict == v for c in comparisons) for v in ("held", "no clear difference", "reversed")}
    return (f"{counts['held']} held, {counts['no clear difference']} no clear difference, "
            f"{counts['reversed']} reversed (of {len(comparisons)})")


def call_times(fn: Callable, *, repeats: int = 5, budget: float = 0.02) -> list[float]:
    """Seconds per call of ``fn()`` in each of ``repeats`` repeats, each of enough calls to
    last about ``budget`` seconds (after one warm-up call)."""
    fn()
    t0 = time.perf_counter()
    fn()
    n = max(1, int(budget / max(time.perf_counter() - t0, 1e-7)))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t0) / n)
    return times


def time_call(fn: Callable, *, repeats: int = 5, budget: float = 0.02) -> float:
    """Median seconds per call of ``fn()`` over :func:`call_times`."""
    return statistics.median(call_times(fn, repeats=repeats, budget=budget))


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A plain-text table of dict rows (floats to 4 significant digits), for notebook output."""
    if not rows:
        return "(empty)"
    columns = columns or list(rows[0])

    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    width = {c: max(len(c), *(len(cell(r.get(c, ""))) for r in rows)) for c in columns}
    lines = ["  ".join(f"{c:<{width[c]}}" for c in columns), "  ".join("-" * width[c] for c in columns)]
    lines += ["  ".join(f"{cell(r.get(c, '')):<{width[c]}}" for c in columns) for r in rows]
    return "\n".join(lines)


__all__ = ["QUICK_ENV", "Comparison", "Experiment", "call_times", "compare", "context", "final_mean", "run_all", "suite",
           "table", "tally", "time_call", "tune"]

"""Claims: an experiment, the bound it tests, the statistic, the tolerance, and a sentence."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .. import _checks
from ..rates.fit import CheckResult, PowerLawFit, check_exponent, fit_power_law
from ..simulate import Experiment, Plan

SUITES = ("quick", "full")


@dataclass(frozen=True)
class Context:
    """How a claim is run: the suite's sizes, the base seed, the number of seeds (None: the
    suite's), device and dtype, and an optional results store."""

    suite: str = "quick"
    seed: int = 0
    n_seeds: int | None = None
    device: str | None = None
    dtype: str | None = None
    #: a :class:`sco.sweep.Store`: runs already in it are read, the others run and are stored
    store: object = None

    def seeds(self, quick: int, full: int | None = None) -> list[int]:
        """The run seeds: ``n`` consecutive seeds starting at 1000 * seed."""
        n = self.n_seeds or (quick if self.suite == "quick" else (full or 4 * quick))
        return [1000 * self.seed + i for i in range(n)]

    def size(self, quick, full):
        return quick if self.suite == "quick" else full


@dataclass
class Series:
    """One curve of a claim's figure: ``y`` (n_seeds, n_grid) against ``x`` (n_grid,), with an
    optional fitted power law and a bound evaluated on the grid."""

    label: str
    x: np.ndarray
    y: np.ndarray
    fit: PowerLawFit | None = None
    bound: np.ndarray | None = None
    bound_label: str = ""


@dataclass
class Figure:
    xlabel: str
    ylabel: str
    series: list = field(default_factory=list)
    logx: bool = True
    logy: bool = True


@dataclass
class ClaimResult:
    """The outcome of running a claim: its checks (each with its own verdict), the figure
    data, and how long it took."""

    claim: Claim
    checks: list
    figure: Figure | None
    seconds: float
    error: str | None = None

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return "error"
        verdicts = {c.verdict for c in self.checks}
        if "fail" in verdicts:
            return "fail"
        return "pass" if verdicts == {"pass"} else "inconclusive"

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def to_dict(self) -> dict:
        return {"name": self.claim.name, "sentence": self.claim.sentence, "source": self.claim.source,
                "family": self.claim.family, "verdict": self.verdict, "seconds": self.seconds,
                "error": self.error, "checks": [c.to_dict() for c in self.checks]}


@dataclass(frozen=True)
class Claim:
    """A statement of a paper that an experiment can test.

    ``run(ctx)`` returns (checks, figure); ``family`` groups claims in reports; ``sentence``
    is what a reader should take away; ``source`` points to the paper or the digest.
    """

    name: str
    sentence: str
    source: str
    family: str
    run_fn: Callable = dataclasses.field(repr=False, compare=False)

    def run(self, ctx: Context | None = None) -> ClaimResult:
        ctx = ctx or Context()
        _checks.one_of("Claim.run", "suite", ctx.suite, set(SUITES))
        start = time.perf_counter()
        checks, figure = self.run_fn(ctx)
        return ClaimResult(self, list(checks), figure, time.perf_counter() - start)


CLAIMS: dict[str, Claim] = {}
"""Registered claims by name, in the order of the report."""


def claim(name: str, sentence: str, source: str, family: str):
    """Decorator registering ``fn(ctx) -> (checks, figure)`` as a claim."""
    def deco(fn):
        if name in CLAIMS:
            raise ValueError(f"Claim {name!r} is registered twice.")
        CLAIMS[name] = Claim(name, sentence, source, family, fn)
        return fn
    return deco


# -- helpers the claims share ---------------------------------------------------------------------


def experiment(ctx: Context, **fields) -> Experiment:
    return Experiment(device=ctx.device, dtype=ctx.dtype, progress=False, **fields)


def run_final(ctx: Context, exp: Experiment, metric: str):
    """Run (or read from ``ctx.store``) and return the metric at the last step, (R,), and the trace."""
    tr = ctx.store.get_or_run(exp) if ctx.store is not None else Plan(exp).run()
    return tr.final(metric), tr


def sweep(ctx: Context, grid, make: Callable, metric: str) -> np.ndarray:
    """One run per grid value v (``make(v)`` gives its Experiment): the metric at the last
    step of each, (n_seeds, n_grid)."""
    return np.stack([run_final(ctx, make(v), metric)[0] for v in grid], axis=1)


_HOW = {"==": "the interval must contain the predicted exponent (tight on this instance)",
        "<=": ("the theory is a worst-case upper bound: the measured rate must not be significantly "
               "slower than predicted (faster rates on benign instances pass)"),
        ">=": "the measured exponent must not be significantly below the predicted one"}


def exponent_check(x, y, predicted: float, *, tol: float, relation: str = "==", claim: str, statistic: str,
                   source: str, detail: str = "", mask=None, baseline=None, seed: int = 0) -> CheckResult:
    """Fit y ~ x^a over seeds and compare a with ``predicted`` (:func:`sco.rates.check_exponent`:
    ``relation`` "==" where the theory is tight on this instance, "<=" for a worst-case O(.)
    bound); the detail says in words what the relation asks."""
    _checks.one_of("exponent_check", "relation", relation, tuple(_HOW))
    fit = fit_power_law(x, y, mask=mask, baseline=baseline, n_boot=1000, seed=seed)
    return check_exponent(fit, predicted, tol=tol, relation=relation, claim=claim, statistic=statistic,
                          source=source, detail=(detail + " " if detail else "") + _HOW[relation] + ";")


def ratio_check(num: np.ndarray, den: np.ndarray, predicted: float, *, tol: float, claim: str, statistic: str,
                source: str, detail: str = "", n_boot: int = 2000, seed: int = 0) -> CheckResult:
    """mean(num) / mean(den) over the same seeds against ``predicted``, to a relative ``tol``;
    the interval is a 95% percentile bootstrap over seeds (reported, not used in the verdict,
    which asks the estimate itself to lie within the tolerance)."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    est = num.mean() / den.mean()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(num), size=(n_boot, len(num)))
    boot = num[idx].mean(1) / den[idx].mean(1)
    lo, hi = np.quantile(boot, [0.025, 0.975])
    ok = abs(est / predicted - 1) <= tol
    return CheckResult(claim=claim, statistic=statistic, empirical=float(est), interval=(float(lo), float(hi)),
                       theoretical=predicted, relation="==", verdict="pass" if ok else "fail", source=source,
                       tol=tol * predicted, level=0.95, detail=detail)

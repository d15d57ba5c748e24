"""Claims: an experiment, the statements it tests, the methods it covers, and how it is run."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .. import _checks
from ..rates import BOUNDS, PowerLawFit
from ..simulate import Experiment, Plan

SUITES = ("quick", "full")
VERDICTS = ("pass", "fail", "inconclusive", "error")


@dataclass(frozen=True)
class Context:
    """How a claim is run: the suite's sizes, the base seed, the number of seeds (None: the
    suite's), device and dtype, an optional results store, and a progress callback."""

    suite: str = "quick"
    seed: int = 0
    n_seeds: int | None = None
    device: str | None = None
    dtype: str | None = None
    #: a :class:`sco.sweep.Store`: runs already in it are read, the others run and are stored
    store: object = None
    #: called with a short text as a claim moves through its experiments (progress bars)
    progress: Callable | None = None
    #: the aggregator and algorithm the convergence claims train with (``sco verify --aggregator``,
    #: ``--estimator`` replace them), and the user's declared coefficient (a Bound in lam) if any
    aggregator: object = "ctma(cwmed)"
    algorithm: str = "mu2sgd"
    kappa: object = None

    def c_lam(self, *, lam: float) -> float:
        """The robustness coefficient of ``aggregator`` at lam: the user's declared one, else
        the paper's printed statement (:func:`sco.robustness.theoretical_kappa`)."""
        if self.kappa is not None:
            return float(self.kappa(lam=lam))
        from ..robustness import theoretical_kappa
        return theoretical_kappa(self.aggregator, lam=lam).value

    def seeds(self, quick: int, full: int | None = None) -> list[int]:
        """The run seeds: ``n`` consecutive seeds starting at 1000 * seed."""
        n = self.n_seeds or (quick if self.suite == "quick" else (full or 4 * quick))
        return [1000 * self.seed + i for i in range(n)]

    def size(self, quick, full):
        return quick if self.suite == "quick" else full

    def step(self, text: str):
        if self.progress is not None:
            self.progress(text)


@dataclass
class Series:
    """One curve of a claim's figure: ``y`` (n_seeds, n_grid) against ``x`` (n_grid,), with an
    optional fitted power law, a bound evaluated on the grid, and the slope a check predicted
    (drawn dotted through the fit's first point; see :func:`predicted_slope`)."""

    label: str
    x: np.ndarray
    y: np.ndarray
    fit: PowerLawFit | None = None
    bound: np.ndarray | None = None
    bound_label: str = ""
    slope: float | None = None
    slope_label: str = ""


def predicted_slope(check) -> dict:
    """The Series fields that draw an exponent check's prediction beside its fit."""
    words = {"<=": "at most", ">=": "at least", "==": ""}[check.relation]
    return {"slope": float(check.theoretical),
            "slope_label": f"predicted slope {words} {check.theoretical:.2f}".replace("  ", " ")}


@dataclass
class Figure:
    xlabel: str
    ylabel: str
    series: list = field(default_factory=list)
    logx: bool = True
    logy: bool = True
    #: one sentence under the plot: what the band and the dashed lines are
    caption: str = ""
    #: names of the points x = 1, 2, ... written on the x axis (a categorical axis, no legend)
    categories: tuple = ()


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

    @property
    def against_verified(self) -> bool:
        """Whether some check held the measurements against a statement transcribed from a paper."""
        return any(c.verified for c in self.checks)

    @property
    def findings(self) -> list[str]:
        return [f"{c.claim}: {c.finding}" for c in self.checks if c.finding]

    def to_dict(self) -> dict:
        return {"name": self.claim.name, "sentence": self.claim.sentence, "source": self.claim.source,
                "family": self.claim.family, "covers": list(self.claim.covers), "bounds": list(self.claim.bounds),
                "verdict": self.verdict, "seconds": self.seconds, "against_verified": self.against_verified,
                "error": self.error, "checks": [c.to_dict() for c in self.checks]}


@dataclass(frozen=True)
class Claim:
    """A statement of a paper (or of this project) that an experiment can test.

    ``run(ctx)`` returns (checks, figure). ``bounds`` names the :data:`sco.rates.BOUNDS`
    entries the checks hold measurements against (their sources make the claim's source);
    ``covers`` names the methods whose implementation the claim's verdict depends on (see
    :mod:`sco.verify.coverage`); ``seconds`` is the claim's time in the quick suite, measured in one process
    of one thread on a quiet two-core machine (the runner's longest-first order and
    :func:`sco.verify.runner.expected_wall` use it); ``family`` groups claims in reports; ``sentence`` is what a reader takes away.
    """

    name: str
    sentence: str
    family: str
    bounds: tuple = ()
    covers: tuple = ()
    seconds: float = 1.0
    #: "aggregator" and/or "algorithm": the claim trains with ctx.aggregator / ctx.algorithm, so
    #: it judges a user's own method too
    uses: tuple = ()
    run_fn: Callable = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def source(self) -> str:
        return "; ".join(dict.fromkeys(BOUNDS[b].source for b in self.bounds if b in BOUNDS)) or "this project"

    def run(self, ctx: Context | None = None) -> ClaimResult:
        ctx = ctx or Context()
        _checks.one_of("Claim.run", "suite", ctx.suite, set(SUITES))
        start = time.perf_counter()
        checks, figure = self.run_fn(ctx)
        return ClaimResult(self, list(checks), figure, time.perf_counter() - start)


CLAIMS: dict[str, Claim] = {}
"""Registered claims by name, in the order of the report."""


def claim(name: str, sentence: str, *, family: str, bounds=(), covers=(), seconds: float = 1.0, uses=(),
          registry: dict | None = None):
    """Decorator registering ``fn(ctx) -> (checks, figure)`` as a claim (in :data:`CLAIMS`, the
    default suite, unless another ``registry`` is given)."""
    registry = CLAIMS if registry is None else registry

    def deco(fn):
        if name in registry:
            raise ValueError(f"Claim {name!r} is registered twice.")
        unknown = [b for b in bounds if b not in BOUNDS]
        if unknown:
            raise ValueError(f"Claim {name!r} names unknown bounds {unknown}.")
        registry[name] = Claim(name, sentence, family, tuple(bounds), tuple(covers), seconds, tuple(uses), fn)
        return fn
    return deco


# -- helpers the claims share ---------------------------------------------------------------------


def experiment(ctx: Context, **fields) -> Experiment:
    return Experiment(device=ctx.device, dtype=ctx.dtype, progress=False, **fields)


def run(ctx: Context, exp: Experiment):
    """Run (or read from ``ctx.store``) an experiment: its Trace."""
    ctx.step(f"{exp.aggregator if isinstance(exp.aggregator, str) else ''} T={exp.T}")
    tr = ctx.store.get_or_run(exp) if ctx.store is not None else Plan(exp).run()
    return tr.require_finite(f"A claim's run (aggregator {tr.config.get('aggregator')}, T = {exp.T})")


def run_final(ctx: Context, exp: Experiment, metric: str):
    """Run an experiment and return the metric at the last step, (R,), and the trace."""
    tr = run(ctx, exp)
    return tr.final(metric), tr


def sweep(ctx: Context, grid, make: Callable, metric: str) -> np.ndarray:
    """One run per grid value v (``make(v)`` gives its Experiment): the metric at the last
    step of each, (n_seeds, n_grid)."""
    return np.stack([run_final(ctx, make(v), metric)[0] for v in grid], axis=1)

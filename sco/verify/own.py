"""Bring your own method: ``sco verify --aggregator module:function --kappa EXPR`` (or ``--estimator``) judges it."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np

from ..rates import Bound, CheckResult
from ..robustness import lower_bound, search_sup
from ..random import Stream
from .core import CLAIMS, Figure, Series, claim

#: The claims that exist only for a user's aggregator (not part of the default suite).
OWN: dict = {}


def load(spec: str, what: str):
    """The callable ``module:function`` names (the current folder is importable)."""
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ValueError(f"--{what} must be MODULE:FUNCTION, e.g. my_rules:trimmed; got {spec!r}.")
    module, name = spec.split(":")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"--{what} {spec!r} cannot be loaded: {e}") from None
    if not callable(fn):
        raise ValueError(f"--{what} {spec!r} is not callable.")
    return fn


def declared(kappa: str) -> Bound:
    """The user's declared robustness coefficient, an expression in lam."""
    return Bound("declared_kappa", kappa, kind="upper", source="declared by the user", provenance="recalled",
                 quantity="kappa of the user's aggregator", claim="The coefficient the user's rule claims.",
                 note="Given on the command line with --kappa.")


def context(aggregator=None, kappa=None, estimator=None) -> dict:
    """The Context fields for a user's methods: an Aggregator, its declared Bound, an algorithm name."""
    from ..aggregators import as_aggregator
    out = {}
    if aggregator is not None:
        fn = load(aggregator, "aggregator") if isinstance(aggregator, str) else aggregator
        out["aggregator"] = as_aggregator(fn)
    if kappa is not None:
        out["kappa"] = declared(kappa) if isinstance(kappa, str) else kappa
    if estimator is not None:
        from ..estimators import ALGORITHMS, Algorithm, anytime
        est = load(estimator, "estimator") if isinstance(estimator, str) else estimator
        name = f"own:{getattr(est, '__name__', 'estimator')}"
        ALGORITHMS[name] = lambda eta, domain=None: Algorithm(name, est(), anytime(eta, domain))
        out["algorithm"] = name
    return out


def claims_for(fields: dict, names=None) -> dict:
    """The claims that judge the user's methods: those of ``names`` (default: every claim that
    trains with what was replaced) plus :data:`OWN`'s for an aggregator."""
    uses = {k for k in ("aggregator", "algorithm") if k in fields}
    pool = {**CLAIMS, **(OWN if "aggregator" in fields else {})}
    if names is None:
        names = [n for n, c in CLAIMS.items() if uses & set(c.uses)] + (list(OWN) if "aggregator" in fields else [])
    return {n: pool[n] for n in names}


@claim("own_robustness",
       "The user's aggregator: the worst ratio a search over unweighted and weighted inputs finds lies between the "
       "lower bound lam/(1 - 2 lam) and the coefficient the user declares.",
       family="robustness", seconds=3, registry=OWN, uses=("aggregator",))
def _own_robustness(ctx):
    checks, found = [], []
    lams = (0.1, 0.2, 0.3)
    for weighted in (False, True):
        for lam in lams:
            h, f = (int(round(10 * (1 - lam))), int(round(10 * lam))) if not weighted else (6, 4)
            worst = search_sup(ctx.aggregator, h=h, f=f, d=2, lam=lam, weighted=weighted,
                               generator=Stream([1000 * ctx.seed + i for i in range(4)]))
            found.append(worst.kappa)
            label = f"{'weighted' if weighted else 'unweighted'}, lam = {lam:g}"
            if ctx.kappa is not None:
                c = float(ctx.kappa(lam=lam))
                ok = worst.kappa <= c * (1 + 1e-9)
                checks.append(CheckResult(
                    claim=f"{label}: worst ratio found <= the declared coefficient", statistic="max ratio",
                    empirical=worst.kappa, interval=None, theoretical=c, relation="<=", bound="declared_kappa",
                    provenance="recalled", verdict="pass" if ok else "fail", source="declared by the user",
                    detail=f"Search family {worst.family!r}.", data={} if ok else {"instance": worst.to_dict()}))
            if not weighted:
                low = lower_bound(lam=f / (h + f)).value
                checks.append(CheckResult(
                    claim=f"{label}: the search reaches the lower bound", statistic="max ratio",
                    empirical=worst.kappa, interval=None, theoretical=low, relation=">=",
                    verdict="pass" if worst.kappa >= low * (1 - 1e-6) else "fail", source="derived here",
                    detail="No rule beats lam/(1 - 2 lam); a search that does not reach it lacks power."))
    fig = Figure("Byzantine share lam", "worst ratio found",
                 [Series("unweighted", np.array(lams), np.array(found[:3])[None]),
                  Series("weighted", np.array(lams), np.array(found[3:])[None])],
                 caption="The largest ratio the search found, per lam.")
    return checks, fig

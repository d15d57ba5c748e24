"""Which claim of the default suite covers which registered method: every method needs one whose verdict it decides."""

from __future__ import annotations

import functools


def methods() -> list[str]:
    """Every registered method, as ``kind:name`` (``[weighted]`` for a rule's weighted path).

    Aggregators, meta- and pre-aggregators (each unweighted and weighted), attacks (canonical
    names, not their aliases), worker estimators, server rules, algorithms, arrival models (and
    the synchronous model), aggregation weights, noise models and heterogeneity models.
    """
    from .. import arrivals, attacks, estimators, heterogeneity, noise
    from ..aggregators import AGGREGATORS, META_AGGREGATORS
    out = []
    for name in AGGREGATORS:
        out += [f"aggregator:{name}", f"aggregator:{name}[weighted]"]
    for name in META_AGGREGATORS:
        out += [f"meta:{name}", f"meta:{name}[weighted]"]
    seen = set()
    for name, fn in attacks.ATTACKS.items():
        base = fn.func if isinstance(fn, functools.partial) else fn
        if base not in seen and not isinstance(fn, functools.partial):
            out.append(f"attack:{name}")
        seen.add(base)
    out += [f"estimator:{name}" for name in estimators.ESTIMATORS]
    out += ["server:projected_sgd", "server:anytime"]
    out += [f"algorithm:{name}" for name in estimators.ALGORITHMS]
    out += ["arrivals:sync"] + [f"arrivals:{name}" for name in arrivals.ARRIVALS]
    out += ["weights:counts", "weights:uniform"]
    out += [f"noise:{name}" for name in noise.NOISES]
    out += [f"heterogeneity:{cls.name}" for cls in (heterogeneity.Heterogeneity, heterogeneity.Shift,
                                                    heterogeneity.Partition)]
    return out


def coverage(claims=None) -> dict[str, list[str]]:
    """method -> the claims (of ``claims``, default every registered one) that cover it."""
    from .core import CLAIMS
    claims = CLAIMS if claims is None else claims
    out = {m: [] for m in methods()}
    for c in claims.values():
        for m in c.covers:
            out.setdefault(m, []).append(c.name)
    return out


def uncovered(claims=None) -> list[str]:
    """Registered methods no claim covers (a method added without its claim is not done)."""
    return [m for m, cs in coverage(claims).items() if not cs]


def unknown(claims=None) -> list[str]:
    """Methods a claim says it covers that are not registered (a typo or a removed method)."""
    known = set(methods())
    return sorted({m for m, cs in coverage(claims).items() if cs and m not in known})


def table() -> str:
    """A Markdown table: each method and the claims that cover it."""
    rows = ["| method | claims of the default suite that fail when it is wrong |", "|---|---|"]
    rows += [f"| `{m}` | {', '.join(f'`{c}`' for c in cs) or '**none**'} |" for m, cs in coverage().items()]
    return "\n".join(rows)

"""Our own mutation suite: realistic bugs planted one at a time; ``sco verify``'s default suite must fail on each.

``python -m sco.verify.mutants`` plants every mutant and runs the whole default suite (quick sizes)
under it, printing which claims caught it; ``--fast`` runs only each mutant's listed claims (what the
tests run). A mutant is caught when some claim does not pass (fails, or is inconclusive).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Mutant:
    """A planted bug: ``plant()`` is a context manager that installs it; ``catches`` the claims
    expected to catch it (the fast subset); ``area`` what part of sco it breaks."""

    name: str
    area: str
    description: str
    plant: Callable
    catches: tuple


MUTANTS: dict[str, Mutant] = {}


def mutant(name, area, description, catches):
    def deco(fn):
        MUTANTS[name] = Mutant(name, area, description, contextlib.contextmanager(fn), tuple(catches))
        return fn
    return deco


from . import library, pipeline  # noqa: E402,F401  (they register the mutants)


# -- running ------------------------------------------------------------------------------------------


def run_mutant(mt: Mutant, claims, ctx, *, until_caught: bool = False) -> dict:
    """Run ``claims`` under the mutant: {claim: verdict}. With ``until_caught``, the cheapest
    first (by each claim's declared seconds) and only until one does not pass."""
    from ..core import CLAIMS, ClaimResult
    if until_caught:
        claims = sorted(claims, key=lambda name: CLAIMS[name].seconds)
    out = {}
    with mt.plant():
        for name in claims:
            try:
                out[name] = CLAIMS[name].run(ctx).verdict
            except Exception:  # a crash under a planted bug counts as caught
                out[name] = ClaimResult(CLAIMS[name], [], None, 0.0, error="crashed").verdict
            if until_caught and out[name] != "pass":
                break
    return out


def main(argv=None) -> int:
    from ..core import CLAIMS, Context
    parser = argparse.ArgumentParser(prog="python -m sco.verify.mutants", description=__doc__)
    parser.add_argument("--fast", action="store_true", help="run each mutant's listed claims only")
    parser.add_argument("--seed", type=int, default=0, help="base seed of the suite")
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    args = parser.parse_args(argv)
    ctx = Context(seed=args.seed)
    names = args.names or list(MUTANTS)
    unknown = [n for n in names if n not in MUTANTS]
    if unknown:
        parser.error(f"unknown mutant(s) {', '.join(unknown)}; known: {', '.join(MUTANTS)}")
    caught, start = 0, time.perf_counter()
    for name in names:
        mt = MUTANTS[name]
        verdicts = run_mutant(mt, mt.catches if args.fast else list(CLAIMS), ctx)
        by = [c for c, v in verdicts.items() if v != "pass"]
        caught += bool(by)
        print(f"{'caught' if by else 'MISSED'}  {name:<36} {mt.area:<14} by {', '.join(by) or '-'}", flush=True)
    print(f"\n{caught}/{len(names)} mutants caught by the default suite ({time.perf_counter() - start:.0f} s).")
    return 0 if caught == len(names) else 1


"""Symbolic and numeric checks of the lemmas behind sco's bounds, one module per lemma."""

from __future__ import annotations

from . import (alie, anytime, count_weights, ctma, geometric_median, lower_bound, median_sup, pep_anytime, staleness,
               storm)
from ._core import Result

# Each entry runs one lemma's checks with the statement as written in its module.
LEMMAS = {
    "anytime": anytime.run,
    "storm": storm.run,
    "ctma": ctma.run,
    "count_weights": count_weights.run,
    "staleness": staleness.run,
    "alie": alie.run,
    "lower_bound": lower_bound.run,
    "median_sup": median_sup.run,
    "geometric_median": geometric_median.run,
    "pep_anytime": pep_anytime.run,
}


def run_all(names=None) -> list[Result]:
    """The results of the named lemmas (all of them by default), in registry order."""
    names = list(LEMMAS) if names is None else list(names)
    unknown = [n for n in names if n not in LEMMAS]
    if unknown:
        raise ValueError(f"The 'names' parameter of run_all must name lemmas in {list(LEMMAS)}. "
                         f"Got unknown {unknown}.")
    return [r for n in names for r in LEMMAS[n]()]


__all__ = ["LEMMAS", "Result", "run_all"]

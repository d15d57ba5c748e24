"""References for the attacks: their formulas written out, and ByzFL's optimal-attack line search."""

from __future__ import annotations

import numpy as np


def ref_optimal_attack(honest, agg, n_byz, kind, evals=20, start=0.0, delta=10.0, ratio=0.8):
    """ByzFL's Optimal_IPM / Optimal_ALIE as written there, phase by phase, for one instance;
    ``agg(x)`` is a numpy aggregator over honest + Byzantine rows. Returns the Byzantine row."""
    mu = honest.mean(0)
    sd = honest.std(0, ddof=1)

    def row(tau):
        return -tau * mu if kind == "ipm" else mu + tau * sd

    def value(tau):
        x = np.vstack([honest] + [row(tau)] * n_byz)
        return float(np.sqrt(((agg(x) - mu) ** 2).sum()))

    best_x, best_y = start, value(start)
    left = evals - 1
    while left > 0:  # expansion
        prop = best_x + delta
        y = value(prop)
        left -= 1
        if y > best_y:
            best_x, best_y = prop, y
            delta *= 2
        else:
            delta *= ratio
            break
    while left > 0:  # contraction
        prop = best_x + delta
        y = value(prop)
        left -= 1
        if y > best_y:
            best_x, best_y = prop, y
        delta *= ratio
    return row(best_x)

__all__ = ["ref_optimal_attack"]

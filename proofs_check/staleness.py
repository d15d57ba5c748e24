"""Staleness [DL24b]: the mean staleness of arrivals with probabilities p_i equals the number of workers."""

from __future__ import annotations

import numpy as np
import sympy as sp

from ._core import Result, indexed_sum, is_zero, record

k = sp.Symbol("k", integer=True, positive=True)
q = sp.Symbol("p", positive=True)  # one worker's arrival probability, 0 < p < 1
n = sp.Symbol("n", integer=True, positive=True)
i = sp.Symbol("i", integer=True, positive=True)
p = sp.IndexedBase("p", positive=True)

# Simulation size: the standard error of the mean staleness is sqrt(sum_i (1-p_i)/p_i / N),
# about 0.011 for the id sampler over 9 workers at N = 10^6 draws.
DRAWS = 10**6
N_SIM = 9
Z_ACCEPT = 6.0  # a fixed seed; 6 standard errors leave room for the O(n sum 1/p_i / N) edge bias


def geometric(k, p):
    """P(tau = k), k >= 1: worker i's next arrival after k iterations, each an arrival w.p. p."""
    return (1 - p) ** (k - 1) * p


def _expectation(pmf, start):
    """E[tau] and the total mass of ``pmf`` on k >= start, for 0 < p < 1."""
    kk = k + start - 1  # runs over start, start+1, ...
    mass = sp.refine(sp.summation(pmf(kk, q), (k, 1, sp.oo)), sp.Q.lt(q, 1))
    mean = sp.refine(sp.summation(kk * pmf(kk, q), (k, 1, sp.oo)), sp.Q.lt(q, 1))
    return sp.simplify(mean), sp.simplify(mass)


def check_mean_staleness(pmf=geometric, start=1, claim=lambda n: n) -> Result:
    r"""``sum_i p_i E[tau_i] = n``: the mean staleness over arrivals is the number of workers.

    Statement derived here (checked below): each iteration, one of n workers
    arrives, worker i with probability p_i; the staleness tau_i of worker i's message
    (iterations since its previous arrival) is Geometric(p_i) on {1, 2, ...} with mean
    1/p_i, and an arrival is from worker i with probability p_i, so the mean staleness
    over arrivals is sum_i p_i / p_i = n. Checked symbolically: the law's mass and mean
    by sympy summation for symbolic 0 < p < 1, then the sum over workers for symbolic
    n (sympy Indexed p_i). Ignores the warm-up truncation, as does sco's n/(1 - lam) - 1
    (docs/theory.md, "Derivations").
    """
    mean, mass = _expectation(pmf, start)
    # the arrival probabilities sum to one
    over_arrivals = sp.simplify(indexed_sum(p[i] * mean.subs(q, p[i]), i, n).subs(sp.Sum(p[i], (i, 1, n)), 1))
    ok = is_zero(mass - 1) and is_zero(over_arrivals - claim(n))
    return record("Staleness: mean over arrivals = n", "symbolic", ok,
                  f"law mass {mass}, E[tau_i] = {mean.subs(q, sp.Symbol('p_i'))}, "
                  f"sum_i p_i E[tau_i] = {over_arrivals} (claimed {claim(n)})")


def simulate_mean_staleness(probs: np.ndarray, draws: int, seed: int = 0):
    """Mean and standard error of the staleness over arrivals in one simulated arrival sequence."""
    rng = np.random.default_rng(seed)
    who = rng.choice(len(probs), size=draws, p=probs)
    order = np.lexsort((np.arange(draws), who))  # arrivals grouped by worker, in time order
    gaps = np.diff(order)
    same = np.diff(who[order]) == 0  # drop the gap between two workers' blocks
    gaps = gaps[same]
    # Gaps of one worker are i.i.d. Geometric(p_i): the standard error pools the per-worker variances.
    se = np.sqrt(np.sum((1 - probs) / probs) / gaps.size)
    return gaps.mean(), se


def check_simulated(claim=lambda n: n, n_workers: int = N_SIM, draws: int = DRAWS) -> Result:
    """Monte Carlo: the id sampler (p_i proportional to i) over n = 9 workers, 10^6 arrivals, seed 0."""
    probs = np.arange(1, n_workers + 1, dtype=np.float64)
    probs /= probs.sum()
    mean, se = simulate_mean_staleness(probs, draws)
    z = (mean - float(claim(n_workers))) / se
    return record("Staleness: mean over arrivals = n (simulation)", "numeric", abs(z) <= Z_ACCEPT,
                  f"id sampler, n={n_workers}, {draws:,} arrivals: mean staleness {mean:.4f} "
                  f"+- {se:.4f} (claimed {claim(n_workers)}, z = {z:+.2f}, accept |z| <= {Z_ACCEPT:g})")


def run() -> list[Result]:
    return [check_mean_staleness(), check_simulated()]

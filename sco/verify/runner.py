"""Run claims one after another or in worker processes, longest first, each result in the order asked."""

from __future__ import annotations

import multiprocessing
import os
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable

from .core import ClaimResult, Context

# What the forked workers read: set before the pool starts, inherited (never pickled), so that a
# user's aggregator or estimator given as a function travels with the claims.
_JOB: dict = {}


def default_jobs() -> int:
    """Claims in parallel by default: one process per core the process may use, at most 4."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, 4))


def expected_wall(seconds, jobs: int) -> float:
    """The wall time of claims taking ``seconds`` each when :func:`run_claims` hands them, longest
    first, to ``jobs`` processes (each to the first that is free)."""
    free = [0.0] * max(1, jobs)
    for s in sorted(seconds, reverse=True):
        free[free.index(min(free))] += s
    return max(free)


def _one(name: str) -> ClaimResult:
    claim = _JOB["claims"][name]
    try:
        return claim.run(Context(**_JOB["ctx"]))
    except Exception:  # one broken claim must not hide the others' verdicts
        return ClaimResult(claim, [], None, 0.0, error=traceback.format_exc())


def _in_worker(name: str) -> tuple:
    res = _one(name)
    return res.checks, res.figure, res.seconds, res.error


def _start_worker(threads: int) -> None:
    import torch
    torch.set_num_threads(threads)


def run_claims(claims: dict, names: list, ctx_kw: dict, *, jobs: int = 1,
               on_done: Callable | None = None) -> list[ClaimResult]:
    """Each named claim's result, in the order of ``names``.

    With ``jobs`` > 1 the claims run in that many forked processes, each on an equal share of
    torch's threads, the longest (by declared seconds) first so that the last to finish is a
    short one. Every claim draws its randomness from its own seeds, so a claim gives the same
    verdict and, up to the order of floating-point sums that the thread count changes, the
    same numbers in a worker as in the main process. ``on_done(result)`` is called as each
    claim finishes. Without ``fork`` (macOS, Windows) or with a results store (one SQLite
    writer) the claims run here, one after another.
    """
    _JOB.update(claims=claims, ctx=ctx_kw)
    fork = "fork" in multiprocessing.get_all_start_methods()
    jobs = min(jobs, len(names))
    if jobs <= 1 or not fork or ctx_kw.get("store") is not None:
        out = []
        for n in names:
            out.append(_one(n))
            if on_done is not None:
                on_done(out[-1])
        return out
    import torch
    threads = max(1, torch.get_num_threads() // jobs)
    done: dict[str, ClaimResult] = {}
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"),
                             initializer=_start_worker, initargs=(threads,)) as pool:
        order = sorted(names, key=lambda n: -claims[n].seconds)
        futures = {pool.submit(_in_worker, n): n for n in order}
        for fut in as_completed(futures):
            n = futures[fut]
            try:
                checks, figure, seconds, error = fut.result()
                done[n] = ClaimResult(claims[n], checks, figure, seconds, error=error)
            except Exception:  # a worker that died (killed, out of memory) or a result that did not pickle
                done[n] = ClaimResult(claims[n], [], None, 0.0, error=traceback.format_exc())
            if on_done is not None:
                on_done(done[n])
    return [done[n] for n in names]

"""Jobs on torch's CPU thread count: the numpy kernels release the GIL, so Python threads run them in parallel."""

from __future__ import annotations

import concurrent.futures
from typing import Callable

import torch

_POOL: concurrent.futures.ThreadPoolExecutor | None = None


#: below this many elements of work in all, jobs run inline: handing them to a thread and
#: waiting for it costs about a millisecond on a loaded machine, more than the work (measured:
#: 23% of an asynchronous simulation of 9 workers in d = 10 went to that wait)
INLINE_WORK = 1 << 16


def run_jobs(jobs: list, fn: Callable, work: int | None = None) -> None:
    """``fn(job)`` for every job, on ``torch.get_num_threads()`` threads (one, or less than
    :data:`INLINE_WORK` elements of ``work`` in all: inline). Jobs write disjoint outputs, so the
    numbers are the same either way.

    Jobs are handed out in small groups (about four per thread) so that a thread descheduled
    by other load on a shared machine delays only its own group; a job's exception is raised.
    """
    global _POOL
    n = max(1, min(torch.get_num_threads(), len(jobs)))
    if n == 1 or (work is not None and work < INLINE_WORK):
        for j in jobs:
            fn(j)
        return
    if _POOL is None or _POOL._max_workers < n:
        _POOL = concurrent.futures.ThreadPoolExecutor(max_workers=n, thread_name_prefix="sco")
    size = max(1, len(jobs) // (4 * n))
    futures = [_POOL.submit(lambda g: [fn(j) for j in g], jobs[i:i + size]) for i in range(0, len(jobs), size)]
    for f in futures:
        f.result()

"""Jobs on torch's CPU thread count: the numpy kernels release the GIL, so Python threads run them in parallel."""

from __future__ import annotations

import concurrent.futures
from typing import Callable

import torch

_POOL: concurrent.futures.ThreadPoolExecutor | None = None


def run_jobs(jobs: list, fn: Callable) -> None:
    """``fn(job)`` for every job, on ``torch.get_num_threads()`` threads (one: inline).

    Jobs are handed out in small groups (about four per thread) so that a thread descheduled
    by other load on a shared machine delays only its own group; a job's exception is raised.
    """
    global _POOL
    n = max(1, min(torch.get_num_threads(), len(jobs)))
    if n == 1:
        for j in jobs:
            fn(j)
        return
    if _POOL is None or _POOL._max_workers < n:
        _POOL = concurrent.futures.ThreadPoolExecutor(max_workers=n, thread_name_prefix="sco")
    size = max(1, len(jobs) // (4 * n))
    futures = [_POOL.submit(lambda g: [fn(j) for j in g], jobs[i:i + size]) for i in range(0, len(jobs), size)]
    for f in futures:
        f.result()

"""Where batches run: in this process, over a local process pool, or as Ray tasks on a cluster."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Iterator

from .. import _checks
from ..backend import default_device
from .store import RunKey, Store, code_version, split


@dataclass
class Batch:
    """The pending seeds of one cell, run as one experiment (seeds as the run dimension R).

    ``config`` is the experiment's fields (``seeds`` the pending ones, ``device`` resolved);
    ``keys`` the store keys of its runs, in the order of ``config["seeds"]``.
    """

    cell: str
    config: dict
    keys: list[RunKey]

    @property
    def seeds(self) -> list[int]:
        return list(self.config["seeds"])

    @property
    def device(self) -> str:
        return str(self.config["device"])

    def label(self) -> str:
        s = self.seeds
        return f"{self.cell} | seed={s[0]}" if len(s) == 1 else f"{self.cell} | seeds={','.join(map(str, s))}"


@dataclass
class Outcome:
    """What running a batch gave: per-seed traces, or the error; the code version that ran it;
    per seed, the step at which the run diverged (None: it stayed finite)."""

    traces: list | None = None
    error: str | None = None
    seconds: float = 0.0
    code: str = field(default_factory=code_version)
    diverged_at: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def execute(batch: Batch) -> Outcome:
    """Run a batch wherever this is called; any exception becomes a failed outcome."""
    from ..simulate import Experiment, Plan

    from ..trace import DivergedWarning

    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # a diverged run is a result: the store records it as diverged, the summary says so
            warnings.simplefilter("ignore", DivergedWarning)
            trace = Plan(Experiment.from_dict(batch.config)).run()
        return Outcome(traces=split(trace), seconds=time.perf_counter() - start, diverged_at=trace.diverged_at)
    except Exception as e:  # a failing cell is recorded, and the sweep goes on
        return Outcome(error=error_text(e), seconds=time.perf_counter() - start)


def record(store: Store, batch: Batch, out: Outcome) -> Outcome:
    """Write an outcome to the store (one transaction for the whole batch). A result computed
    by other code than the store's is recorded as a failure: its key would claim otherwise."""
    if out.ok and out.code != store.code:
        out = Outcome(error=f"RuntimeError: the worker ran sco {out.code}, the driver has sco {store.code}; "
                            "run the same sco on both (sco ships its code to a Ray cluster it connects to).",
                      seconds=out.seconds, code=out.code)
    if out.ok:
        store.put_done(list(zip(batch.keys, out.traces)), seconds=out.seconds, batch=batch.seeds, device=batch.device)
    else:
        store.put_failed(batch.keys, out.error, seconds=out.seconds, batch=batch.seeds, device=batch.device)
    return out


def error_text(e: BaseException) -> str:
    """The traceback of an exception, as the store records it."""
    return "".join(traceback.format_exception(type(e), e, e.__traceback__))


def reason(error: str) -> str:
    """The last line of a recorded traceback: what the summary shows."""
    lines = [ln for ln in error.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else error


# -- executors ---------------------------------------------------------------------------------------


class LocalExecutor:
    """Batches one after the other in this process (the default)."""

    name = "local"

    def device(self) -> str:
        """Where cells without a device run."""
        return default_device().type

    @property
    def cuda(self) -> bool:
        """Whether CUDA cells can run."""
        import torch

        return torch.cuda.is_available()

    def map(self, batches: list[Batch], store: Store, on_start=None) -> Iterator[tuple[Batch, Outcome]]:
        for b in batches:
            if on_start is not None:
                on_start(b)
            yield b, record(store, b, execute(b))

    def close(self) -> None:
        pass


class ProcessExecutor(LocalExecutor):
    """Batches over ``workers`` local processes (spawned, so that no torch or SQLite state is
    forked); each process writes its results to the store itself. The pool lives until
    :meth:`close`, so that several sweeps pay for starting it once.

    Nothing outlives the driver: a worker ignores Ctrl-C (the driver handles it and kills the
    workers at once, running batches included), dies with the driver (``PR_SET_PDEATHSIG`` on
    Linux, and a thread that checks the parent every second elsewhere), and checks that the
    driver is alive before each write to the store. So after SIGKILL, SIGTERM or Ctrl-C of the
    driver no worker runs on and nothing more is written; a batch cut short leaves at most an
    unreferenced trace file (:meth:`Store.prune`). The pool must be started (by :meth:`map`)
    from a thread that lives as long as it: Linux ties the workers to that thread.
    """

    name = "process"

    def __init__(self, workers: int):
        self.workers = _checks.integer("ProcessExecutor", "workers", workers, low=1)
        self._pool = None
        self._store = None

    def _get_pool(self, store: Store):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if self._pool is None or self._store != store.root:
            self.close()
            # the cores are shared: each process gets its part instead of all of them
            threads = max(1, (os.cpu_count() or 1) // self.workers)
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init_worker, initargs=(store, threads, os.getpid()))
            self._store = store.root
        return self._pool

    def map(self, batches, store, on_start=None):
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        pool = self._get_pool(store)
        futures = {pool.submit(_work, b): b for b in batches}
        try:
            for fut in as_completed(futures):
                b = futures[fut]
                try:
                    out = fut.result()
                except BrokenProcessPool:
                    self._pool = None  # unusable now: the next map starts a new one
                    out = record(store, b, Outcome(error="RuntimeError: a worker process died (killed, or out "
                                                         "of memory) before this batch finished."))
                yield b, out
        except BaseException:  # Ctrl-C, SIGTERM (the CLI raises), or the caller stopped early
            self.kill()
            raise

    def kill(self) -> None:
        """Stop the pool now: its processes are killed, running batches included."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for proc in list(getattr(pool, "_processes", {}).values()):  # concurrent.futures keeps no public list
            proc.kill()
        pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None


_worker_store: Store | None = None
_driver: int | None = None


def _init_worker(store: Store, threads: int, driver: int) -> None:
    global _worker_store, _driver
    import torch

    _driver = driver
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole terminal group: the driver's
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if _orphaned():  # the driver died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch_driver, name="sco-watch-driver", daemon=True).start()
    torch.set_num_threads(threads)
    _worker_store = store


def _orphaned() -> bool:
    return _driver is not None and os.getppid() != _driver


def _watch_driver() -> None:
    while not _orphaned():
        time.sleep(1.0)
    os._exit(1)


def _work(batch: Batch) -> Outcome:
    out = execute(batch)
    if _orphaned():  # the driver is gone: its sweep is over, and nothing may be written for it
        os._exit(1)
    out = record(_worker_store, batch, out)
    out.traces = None  # stored already: nothing to send back
    return out


class RayExecutor(LocalExecutor):
    """Batches as Ray tasks; results come back to this process, which writes them.

    Nothing outlives the driver as far as Ray allows: only the driver writes to the store, so
    nothing is written after it dies; on Ctrl-C or SIGTERM it cancels its pending tasks
    (``ray.cancel(force=True)``) before it exits; a local Ray that it started dies with it
    (Ray ties its processes to the driver with ``PR_SET_PDEATHSIG`` on Linux); on a cluster
    Ray kills the tasks of a job whose driver has died.

    Connects to ``address`` (``"auto"``, ``"ray://host:10001"``, ...), or uses the Ray that is
    already initialized, or starts a local one. When it connects itself, the driver's sco
    package travels with the job (``runtime_env={"py_modules": [sco]}``), so that the workers
    run the very code the results are keyed by. A task of a CUDA cell asks for ``gpus``
    GPUs (a fraction lets several small cells share one); cells without a device run on
    CUDA when the cluster has GPUs.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, gpus: float = 1.0):
        try:
            import ray
        except ModuleNotFoundError:
            raise ModuleNotFoundError("--executor ray needs Ray: pip install 'sco[cluster]'.") from None
        self.ray = ray
        self.gpus = _checks.real("RayExecutor", "gpus", gpus, low=0, low_open=True)
        if not ray.is_initialized():
            import sco
            ray.init(address=address, runtime_env={"py_modules": [os.path.dirname(sco.__file__)]})
            self._owns = True
        else:
            self._owns = False
        self.cluster_gpus = ray.cluster_resources().get("GPU", 0)

    def device(self) -> str:
        return "cuda" if self.cluster_gpus > 0 else "cpu"

    @property
    def cuda(self) -> bool:
        return self.cluster_gpus > 0

    def map(self, batches, store, on_start=None):
        ray = self.ray
        task = ray.remote(execute)
        pending = {}
        for b in batches:
            gpu = b.device.startswith("cuda")
            pending[task.options(num_cpus=1, num_gpus=self.gpus if gpu else 0, name=b.label()[:100],
                                 max_retries=0).remote(b)] = b
        refs = list(pending)
        try:
            while refs:
                ready, refs = ray.wait(refs, num_returns=1)
                b = pending.pop(ready[0])
                try:
                    out = ray.get(ready[0])
                except Exception as e:  # the task's worker died, or the cluster went away
                    out = Outcome(error=error_text(e))
                yield b, record(store, b, out)
        except BaseException:
            for ref in refs:
                ray.cancel(ref, force=True)
            raise

    def close(self) -> None:
        if self._owns:
            self.ray.shutdown()


def make_executor(kind: str | None = None, *, workers: int | None = None, address: str | None = None):
    """An executor by name: "local" (the default; "process" when ``workers`` is given),
    "process" or "ray"."""
    if kind is None:
        kind = "local" if workers is None else "process"
    _checks.one_of("sweep", "executor", kind, {"local", "process", "ray"})
    if workers is not None and kind != "process":
        _checks.fail("sweep", "workers", "be given with executor='process' only", workers)
    if address is not None and kind != "ray":
        _checks.fail("sweep", "address", "be given with executor='ray' only", address)
    if kind == "process":
        return ProcessExecutor((os.cpu_count() or 1) if workers is None else workers)
    if kind == "ray":
        return RayExecutor(address)
    return LocalExecutor()

"""Running a sweep: validate every cell, skip what the store has, run the rest, summarize."""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import progress as progress_bar
from ..trace import DivergedWarning, Trace
from .executors import Batch, make_executor, reason
from .spec import Cell, Sweep, dtype_name, run_name
from .store import DB_NAME, FINISHED, RunKey, Store, canonical_json, join


@dataclass
class Summary:
    """What a sweep did: runs finished now (``done``), among them the ``diverged`` ones (run
    name, first non-finite step), runs found finished in the store (``skipped``), ``failed``
    (run name, reason), and in a dry run the runs that would run (``pending``) and their
    batches (``batches``). A diverged run is a result, not a failure."""

    sweep: str
    store: Path
    executor: str
    code: str
    done: list = field(default_factory=list)
    diverged: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    pending: list = field(default_factory=list)
    batches: list = field(default_factory=list)
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed

    def __str__(self) -> str:
        head = f"sweep '{self.sweep}' (store {self.store}, executor {self.executor}, sco {self.code}): "
        if self.dry_run:
            lines = [head + f"{len(self.pending)} runs to run, {len(self.skipped)} done before, "
                            f"{len(self.failed)} failed before (dry run: nothing ran)"]
            lines += [f"  to run   {label}" for label in self.batches]
        else:
            div = f" ({len(self.diverged)} diverged)" if self.diverged else ""
            lines = [head + f"{len(self.done)} done{div}, {len(self.skipped)} skipped (done before), "
                            f"{len(self.failed)} failed in {self.seconds:.1f} s"]
        lines += [f"  DIVERGED {name} at step {t}" for name, t in self.diverged]
        lines += [f"  FAILED   {name}: {why}" for name, why in self.failed]
        return "\n".join(lines)


def run_sweep(spec, store="sco-store", *, executor=None, workers: int | None = None, address: str | None = None,
              dry_run: bool = False, any_code: bool = False, progress: bool | None = None) -> Summary:
    """Run a sweep: every cell validated first (a bad spec raises before anything runs), runs
    already in the store skipped, the pending seeds of each cell run as one batch, each batch
    written to the store as it finishes.

    ``spec`` is a :class:`~sco.sweep.Sweep`, a dict spec or the path of a TOML spec; ``store``
    a folder or a :class:`~sco.sweep.Store`; ``executor`` "local" (default), "process"
    (``workers`` processes) or "ray" (``address`` of the cluster; default: a running Ray, or a
    new local one); ``any_code`` reuses results of other code versions; ``progress``: True
    shows a bar, False nothing, None (default) a bar on a terminal and otherwise one log line
    per batch on stderr. A failed
    cell does not stop the sweep: it is in the summary, and the next run retries it.
    """
    start = time.perf_counter()
    sweep = Sweep.load(spec)
    ex = executor if hasattr(executor, "map") else make_executor(executor, workers=workers, address=address)
    try:
        return _run(sweep, store, ex, dry_run=dry_run, any_code=any_code, progress=progress, start=start,
                    members=True)
    finally:
        if ex is not executor:
            ex.close()


def run_experiment(store: Store, exp) -> Trace:
    """An experiment's trace from the store, its missing seeds run first (see Store.get_or_run)."""
    from ..simulate import Experiment

    if isinstance(exp, dict):
        exp = Experiment.from_dict(exp)
    sweep = Sweep(exp.to_dict(), name="get_or_run")
    ex = make_executor("local")
    summary = _run(sweep, store, ex, dry_run=False, any_code=store.any_code, progress=False,
                   start=time.perf_counter(), members=False)
    cell = sweep.cells[0]
    keys = _keys(cell, ex.device(), store.code)
    rows = store.status([rk.config_hash for rk in keys])
    if summary.failed:
        name, why = summary.failed[0]
        error = next(r["error"] for r in rows.values() if r["status"] == "failed")
        raise RuntimeError(f"Run {name} failed: {why}\n{error}")
    trace = join([store.load(rows[rk.config_hash]) for rk in keys])
    if trace.diverged.any():  # as run() would warn
        warnings.warn(trace.divergence(), DivergedWarning, stacklevel=3)
    return trace


# -- the loop ----------------------------------------------------------------------------------------


def _run(sweep: Sweep, store, ex, *, dry_run, any_code, progress, start, members) -> Summary:
    device = ex.device()
    sweep.validate(device, cuda=ex.cuda)
    if isinstance(store, Store):
        return _run_into(sweep, store, ex, device, dry_run, progress, start, members)
    store = Store(store, any_code=any_code)
    try:
        return _run_into(sweep, store, ex, device, dry_run, progress, start, members)
    finally:
        store.close()  # the last connection to close checkpoints the WAL into the database file


def _run_into(sweep: Sweep, store: Store, ex, device, dry_run, progress, start, members) -> Summary:
    summary = Summary(sweep.name, store.root, ex.name, store.code, dry_run=dry_run)
    plan = [(cell, _keys(cell, device, store.code)) for cell in sweep.cells]
    all_keys = [rk for _, keys in plan for rk in keys]
    exists = not dry_run or (store.root / DB_NAME).exists()
    stored = store.status([rk.config_hash for rk in all_keys]) if exists else {}
    if members and not dry_run:
        store.set_members(sweep.name, [(rk, cell.name, cell.grid) for cell, keys in plan for rk in keys])
    batches = []
    for cell, keys in plan:
        todo = []
        for rk in keys:
            row = stored.get(rk.config_hash)
            if row is not None and row["status"] in FINISHED:
                summary.skipped.append(cell.run_name(rk.seed))
            else:
                todo.append(rk)
                if dry_run and row is not None:
                    summary.failed.append((cell.run_name(rk.seed), reason(row["error"])))
        size = sweep.batch or max(len(todo), 1)
        for i in range(0, len(todo), size):
            part = todo[i:i + size]
            config = {**cell.config, "seeds": [rk.seed for rk in part], "device": cell.config["device"] or device}
            batches.append(Batch(cell.name, config, part))
    if dry_run:
        summary.pending = [run_name(b.cell, s) for b in batches for s in b.seeds]
        summary.batches = [b.label() for b in batches]
        return summary
    report = _Reporter(sweep, batches, summary, progress)
    try:
        for b, out in ex.map(batches, store, on_start=report.start):
            report.finish(b, out)
    except KeyboardInterrupt:
        report.close()
        if progress is not False:
            print(f"sco sweep: interrupted; {len(summary.done)} runs finished now are in {store.root}. "
                  "Run the same command again to resume.", file=sys.stderr)
        raise
    report.close()
    summary.seconds = time.perf_counter() - start
    return summary


def _keys(cell: Cell, device: str, code: str) -> list[RunKey]:
    """The store keys of a cell's runs: its config with one seed, the device type and dtype it
    runs in, and the aggregator's canonical name (so that "median", "cwmed" and {"name": "cwmed"}
    are one run)."""
    from ..aggregators import parse

    cfg = {k: v for k, v in cell.config.items() if k != "progress"}
    run_on = cfg["device"] or device
    cfg["device"] = torch.device(run_on).type
    cfg["dtype"] = dtype_name(cfg["dtype"], run_on)
    if isinstance(cfg["aggregator"], (str, dict)):
        cfg["aggregator"] = parse(cfg["aggregator"]).name
    return [RunKey(canonical_json({**cfg, "seeds": [s]}), s, code) for s in cell.seeds]


class _Reporter:
    """A progress bar over runs (``progress`` True, or None on a terminal), one line per batch
    on stderr (None elsewhere: logs of batch jobs show what finished), or nothing (False)."""

    def __init__(self, sweep: Sweep, batches: list[Batch], summary: Summary, progress):
        self.summary, self.n, self.i = summary, len(batches), 0
        runs = sum(len(b.seeds) for b in batches)
        self.bar, self.lines = None, progress is None and not progress_bar.auto()
        if progress or (progress is None and not self.lines):
            self.bar = progress_bar.bar(total=runs, desc=f"sweep {sweep.name}", unit="run", enabled=True)
        elif self.lines:
            self._log(f"{runs} runs in {self.n} batches to run, {len(summary.skipped)} done before "
                      f"(store {summary.store}, executor {summary.executor})")

    def _log(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        elif self.lines:
            print(f"sco sweep {self.summary.sweep}: {text}", file=sys.stderr, flush=True)

    def start(self, b: Batch) -> None:
        if self.bar is None:
            self._log(f"[{self.i + 1}/{self.n}] start {b.label()}")

    def finish(self, b: Batch, out) -> None:
        self.i += 1
        names = [run_name(b.cell, s) for s in b.seeds]
        if out.ok:
            self.summary.done += names
            diverged = [(n, t) for n, t in zip(names, out.diverged_at) if t is not None]
            self.summary.diverged += diverged
            if self.bar is None:
                self._log(f"[{self.i}/{self.n}] done {b.label()} ({out.seconds:.2f} s)")
            for n, t in diverged:
                self._log(f"[{self.i}/{self.n}] DIVERGED {n} at step {t}")
        else:
            why = reason(out.error)
            self.summary.failed += [(n, why) for n in names]
            self._log(f"[{self.i}/{self.n}] FAILED {b.label()}: {why}")
        if self.bar is not None:
            self.bar.update(len(b.seeds))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

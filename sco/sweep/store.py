"""The results store: SQLite rows keyed by config and code, one trace file per (cell, seed) beside them."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import socket
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..trace import Trace

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key         TEXT PRIMARY KEY,   -- sha256 of {config, code}
    config_hash TEXT NOT NULL,      -- sha256 of the config alone (reuse across code versions)
    config      TEXT NOT NULL,      -- canonical JSON of the run's config (one seed)
    seed        INTEGER NOT NULL,
    code        TEXT NOT NULL,      -- code_version() of the process that ran it
    status      TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    trace       TEXT,               -- the .npz path relative to the store (done)
    sha256      TEXT,               -- of the trace file (done)
    error       TEXT,               -- the traceback (failed)
    seconds     REAL,               -- wall time of the batch the run was part of
    batch       TEXT,               -- JSON list of the seeds of that batch
    device      TEXT,
    host        TEXT,
    finished    REAL NOT NULL       -- unix time of the commit
);
CREATE INDEX IF NOT EXISTS runs_by_config ON runs (config_hash);
CREATE TABLE IF NOT EXISTS cells (
    sweep       TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    cell        TEXT NOT NULL,      -- the cell's name (without /seed=)
    seed        INTEGER NOT NULL,
    grid        TEXT NOT NULL,      -- JSON {axis key: value}
    position    INTEGER NOT NULL,   -- order of the run in the sweep's expansion
    PRIMARY KEY (sweep, config_hash)
);
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO info VALUES ('schema', '1');
"""
DB_NAME = "sco.sqlite"
#: Columns of Store.runs() that describe how a run went, not which run it is.
_RUN_INFO = ("status", "error", "seconds", "device", "trace", "code", "key")
#: Meta entries of a trace that hold one value per run (split and joined with the runs).
_PER_RUN_META = ("realized_lam",)


@functools.cache
def code_version() -> str:
    """``sco.__version__`` plus a hash of the sco package's source files (every ``*.py`` under
    ``sco/``): a run's key includes it, so that changed code never silently reuses old results."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return f"{__version__}+{h.hexdigest()[:12]}"


def canonical_json(obj) -> str:
    """JSON with sorted keys and no spaces: equal configs give equal text, hence equal keys."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                      default=_plain)


def _plain(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"The store keys runs by their config as JSON, and a config value of type "
                    f"{type(o).__name__} has no JSON form. Got {o!r}. Give the experiment as plain data.")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class RunKey:
    """The identity of one run (one cell, one seed): its canonical config and the keys."""

    config: str  # canonical JSON
    seed: int
    code: str

    @property
    def config_hash(self) -> str:
        return _sha(self.config)

    @property
    def key(self) -> str:
        return _sha(canonical_json({"config": json.loads(self.config), "code": self.code}))


class Store:
    """Results of runs in a folder: ``sco.sqlite`` (one row per run) and ``traces/``.

    A run is stored under the hash of its full config (with its one seed, the device type and
    dtype it ran in) and :func:`code_version`; ``any_code=True`` also accepts results computed
    by other code versions (the newest one wins). Writers may be many processes at once
    (WAL mode, a 60 s busy timeout, one short transaction per batch); the folder must be on a
    local disk, since SQLite's WAL needs shared memory between its writers.

    Kill safety: a result's trace file is written and fsynced (atomically, under a fresh name)
    before its row commits, so a row marked done always points at a complete file; a kill
    before the commit leaves an unreferenced file (:meth:`prune` removes them) and no row.
    """

    def __init__(self, path="sco-store", *, any_code: bool = False):
        self.root = Path(path)
        self.any_code = bool(any_code)
        self.code = code_version()
        self._con = None
        self._pid = None

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # -- connection -----------------------------------------------------------------------------

    @property
    def con(self) -> sqlite3.Connection:
        # a connection must not cross a fork: each process opens its own
        if self._con is None or self._pid != os.getpid():
            self.root.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.root / DB_NAME, timeout=60, isolation_level=None)
            for attempt in range(20):
                try:
                    con.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError:  # another writer is creating the database
                    if attempt == 19:
                        raise
                    time.sleep(0.1 * (attempt + 1))
            # FULL: a commit is on disk before it returns, so "reported done" survives power loss
            con.execute("PRAGMA synchronous=FULL")
            con.row_factory = sqlite3.Row
            with _transaction(con):
                for statement in _SCHEMA.split(";"):
                    con.execute(statement)
            self._con, self._pid = con, os.getpid()
        return self._con

    def close(self) -> None:
        if self._con is not None and self._pid == os.getpid():
            self._con.close()
        self._con = None

    def __getstate__(self):
        return {"root": self.root, "any_code": self.any_code, "code": self.code, "_con": None, "_pid": None}

    # -- writing --------------------------------------------------------------------------------

    def put_done(self, runs: list[tuple[RunKey, Trace]], *, seconds: float, batch: list[int],
                 device: str) -> list[bool]:
        """Store finished runs (one transaction); True for each run this call stored, False where
        another writer had stored it first (its result is kept and ours removed)."""
        files = []
        for rk, trace in runs:
            rel = Path("traces") / rk.key[:2] / f"{rk.key}-{uuid.uuid4().hex[:8]}.npz"
            path = trace.save(self.root / rel)
            _fsync(path)
            files.append((rel, _file_sha(path)))
        stored = []
        now, host = time.time(), socket.gethostname()
        with _transaction(self.con) as con:  # the write lock makes check-then-write atomic
            for (rk, _), (rel, digest) in zip(runs, files):
                row = con.execute("SELECT trace FROM runs WHERE key = ? AND status = 'done'", (rk.key,)).fetchone()
                if row is not None and (self.root / row["trace"]).exists():
                    stored.append(False)
                    continue
                # replaces a failed row, or a done one whose trace file was deleted
                con.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, 'done', ?, ?, NULL, ?, ?, ?, ?, ?)",
                            (rk.key, rk.config_hash, rk.config, rk.seed, rk.code, rel.as_posix(), digest, seconds,
                             json.dumps(batch), device, host, now))
                stored.append(True)
        for (rel, _), ok in zip(files, stored):
            if not ok:
                (self.root / rel).unlink(missing_ok=True)
        return stored

    def put_failed(self, keys: list[RunKey], error: str, *, seconds: float, batch: list[int], device: str) -> None:
        """Record failed runs with their error; a run already done stays done."""
        now, host = time.time(), socket.gethostname()
        with _transaction(self.con) as con:
            for rk in keys:
                con.execute(
                    "INSERT INTO runs VALUES (?, ?, ?, ?, ?, 'failed', NULL, NULL, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET error=excluded.error, seconds=excluded.seconds, "
                    "batch=excluded.batch, device=excluded.device, host=excluded.host, "
                    "finished=excluded.finished WHERE runs.status != 'done'",
                    (rk.key, rk.config_hash, rk.config, rk.seed, rk.code, error, seconds, json.dumps(batch),
                     device, host, now))

    def set_members(self, sweep: str, members: list[tuple[RunKey, str, dict]]) -> None:
        """Record which runs make up ``sweep`` (replacing its previous definition): for each,
        its key, its cell's name and its grid values."""
        with _transaction(self.con) as con:
            con.execute("DELETE FROM cells WHERE sweep = ?", (sweep,))
            con.executemany("INSERT OR REPLACE INTO cells VALUES (?, ?, ?, ?, ?, ?)",
                            [(sweep, rk.config_hash, cell, rk.seed, json.dumps(grid), i)
                             for i, (rk, cell, grid) in enumerate(members)])

    # -- reading --------------------------------------------------------------------------------

    def status(self, config_hashes) -> dict[str, dict]:
        """The stored row of each run that has one (``config_hash -> row``): a done row whose
        trace file exists, else a failed row of this code version. With ``any_code``, done
        rows of other code versions count (this version's first, else the newest)."""
        out = {}
        hashes = sorted(set(config_hashes))
        for i in range(0, len(hashes), 500):  # SQLite limits the number of parameters
            chunk = hashes[i:i + 500]
            rows = self.con.execute(
                f"SELECT * FROM runs WHERE config_hash IN ({','.join('?' * len(chunk))}) ORDER BY finished",
                chunk).fetchall()
            for row in map(dict, rows):
                out.setdefault(row["config_hash"], []).append(row)
        return {h: r for h, rows in out.items() if (r := self._pick(rows)) is not None}

    def _pick(self, rows: list[dict]) -> dict | None:
        ok = [r for r in rows if r["code"] == self.code or (self.any_code and r["status"] == "done")]
        done = [r for r in ok if r["status"] == "done" and (self.root / r["trace"]).exists()]
        if done:
            mine = [r for r in done if r["code"] == self.code]
            return (mine or done)[-1]
        failed = [r for r in ok if r["status"] == "failed" and r["code"] == self.code]
        return failed[-1] if failed else None

    def load(self, row: dict) -> Trace:
        """The trace of a done row."""
        return Trace.load(self.root / row["trace"])

    def sweeps(self) -> list[str]:
        """Names of the sweeps recorded in the store."""
        return [r[0] for r in self.con.execute("SELECT DISTINCT sweep FROM cells ORDER BY sweep")]

    def runs(self, sweep: str | None = None) -> list[dict]:
        """One dict per run of ``sweep`` (all sweeps when None), in expansion order: sweep, cell,
        seed, status ('done', 'failed' or 'pending'), error, seconds, device, trace, code and
        the grid values (as columns)."""
        q = "SELECT sweep, config_hash, cell, seed, grid FROM cells"
        members = self.con.execute(q + (" WHERE sweep = ?" if sweep else "") + " ORDER BY sweep, position",
                                   (sweep,) if sweep else ()).fetchall()
        stored = self.status([m["config_hash"] for m in members])
        out = []
        for m in members:
            row = stored.get(m["config_hash"], {})
            info = {k: row.get(k) for k in _RUN_INFO}
            info["status"] = row.get("status", "pending")
            out.append({"sweep": m["sweep"], "cell": m["cell"], "seed": m["seed"], **json.loads(m["grid"]), **info})
        return out

    def table(self, sweep: str | None = None, *, metrics=None, final: bool = False, frame: bool = False):
        """A tidy table of the done runs of ``sweep`` (all when None): one row per (cell, seed,
        logged step, metric) with the columns sweep, cell, seed, the grid keys, step, metric,
        value. ``metrics`` keeps only those metrics; ``final`` only the last logged step;
        ``frame`` returns a pandas DataFrame (pandas must be installed)."""
        keep = None if metrics is None else set([metrics] if isinstance(metrics, str) else metrics)
        rows = []
        for run in self.runs(sweep):
            if run["status"] != "done":
                continue
            trace = self.load(run)
            ids = {k: v for k, v in run.items() if k not in _RUN_INFO}
            steps = trace.steps.tolist()
            cols = [len(steps) - 1] if final else range(len(steps))
            for name, arr in trace.metrics.items():
                if keep is not None and name not in keep:
                    continue
                for j in cols:
                    rows.append({**ids, "step": steps[j], "metric": name, "value": float(arr[0, j])})
        if frame:
            try:
                import pandas as pd
            except ModuleNotFoundError:
                raise ModuleNotFoundError("Store.table(frame=True) needs pandas: pip install pandas "
                                          "(or leave frame=False for a list of dicts).") from None
            return pd.DataFrame(rows)
        return rows

    # -- maintenance ----------------------------------------------------------------------------

    def prune(self, older_than: float = 3600.0) -> int:
        """Delete trace files that no row references and temporary files, older than
        ``older_than`` seconds (younger ones may belong to a writer about to commit); returns
        how many were deleted."""
        cutoff = time.time() - older_than
        used = {r[0] for r in self.con.execute("SELECT trace FROM runs WHERE trace IS NOT NULL")}
        n = 0
        for p in (self.root / "traces").rglob("*.npz"):
            rel = p.relative_to(self.root).as_posix()
            if rel not in used and p.stat().st_mtime < cutoff:
                p.unlink(missing_ok=True)
                n += 1
        return n

    def check(self) -> list[str]:
        """Problems with done rows: a missing trace file or one whose checksum differs."""
        problems = []
        for key, rel, digest in self.con.execute("SELECT key, trace, sha256 FROM runs WHERE status = 'done'"):
            path = self.root / rel
            if not path.exists():
                problems.append(f"run {key[:12]}: trace file {rel} is missing")
            elif _file_sha(path) != digest:
                problems.append(f"run {key[:12]}: trace file {rel} does not match its checksum")
        return problems

    def get_or_run(self, exp) -> Trace:
        """The trace of an :class:`~sco.simulate.Experiment` (or a dict of its fields), read from
        the store where its runs are done, the missing seeds run (as one batch) and stored.
        Equal to ``run(exp)`` up to the arithmetic of how seeds were batched (last bits)."""
        from .run import run_experiment
        return run_experiment(self, exp)


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): take the write lock up front, so that
    two writers wait for each other (busy timeout) instead of failing at the commit."""

    def __init__(self, con):
        self.con = con

    def __enter__(self):
        self.con.execute("BEGIN IMMEDIATE")
        return self.con

    def __exit__(self, kind, exc, tb):
        self.con.execute("COMMIT" if kind is None else "ROLLBACK")


def _fsync(path: Path) -> None:
    # the file's bytes and its directory entry reach the disk before the row that points at it
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- traces per seed ---------------------------------------------------------------------------------


def split(trace: Trace) -> list[Trace]:
    """One trace per run of a batched trace, each with ``seeds = [seed]``; ``meta["batch"]``
    keeps the seeds that ran together."""
    out = []
    for r, seed in enumerate(trace.seeds):
        meta = {k: ([v[r]] if k in _PER_RUN_META else v) for k, v in trace.meta.items()}
        meta["batch"] = list(trace.seeds)
        out.append(Trace({**trace.config, "seeds": [seed]}, [seed], trace.steps.copy(),
                         {k: v[r:r + 1].copy() for k, v in trace.metrics.items()},
                         {k: v[r:r + 1].copy() for k, v in trace.events.items()},
                         dict(trace.constants), meta))
    return out


def join(traces: list[Trace]) -> Trace:
    """The traces of single runs joined into one (R = len(traces)), in the given order; the
    seconds are summed over the distinct batches they came from."""
    first = traces[0]
    for t in traces[1:]:
        if not np.array_equal(t.steps, first.steps) or set(t.metrics) != set(first.metrics):
            raise ValueError("Traces can be joined only when they log the same steps and metrics.")
    meta = dict(first.meta)
    for k in _PER_RUN_META:
        if k in meta:
            meta[k] = [x for t in traces for x in t.meta[k]]
    batches = {tuple(t.meta.get("batch", t.seeds)): t.meta.get("seconds", math.nan) for t in traces}
    meta["seconds"] = float(sum(batches.values()))
    seeds = [s for t in traces for s in t.seeds]
    return Trace({**first.config, "seeds": seeds}, seeds, first.steps.copy(),
                 {k: np.concatenate([t.metrics[k] for t in traces]) for k in first.metrics},
                 {k: np.concatenate([t.events[k] for t in traces]) for k in first.events},
                 dict(first.constants), meta)

"""The results store: SQLite rows keyed by config and code, one trace file per (cell, seed) beside them."""

from __future__ import annotations

import functools
import json
import os
import socket
import sqlite3
import time
import uuid
from pathlib import Path

import numpy as np

from .._registry import close_matches
from ..trace import METRICS, Trace
from ._db import create, file_sha as _file_sha, fsync as _fsync, transaction as _transaction
from .records import RunKey, canonical_json, code_version, join, split  # noqa: F401 (the store's API)

DB_NAME = "sco.sqlite"
#: Columns of Store.runs() that describe how a run went, not which run it is.
_RUN_INFO = ("status", "error", "seconds", "device", "trace", "sha256", "code", "key")
#: Statuses of a run with a trace: a result, never rerun.
FINISHED = ("done", "diverged")


class StoreError(OSError):
    """The store's files cannot be used as they are: damaged, locked, or not a store."""


def recovery(root) -> str:
    return (f"Its traces are safe under {Path(root) / 'traces'}. Recover with: sco sweep repair --store {root} "
            "(moves the damaged database aside and rebuilds it from the trace files); then rerun your sweeps "
            "to record which runs they hold.")


def _explained(method):
    """SQLite's errors as a :class:`StoreError` that names the file and says how to recover."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as e:
            raise self._error(e) from None
    return wrapper


class Store:
    """Results of runs in a folder: ``sco.sqlite`` (one row per run) and ``traces/``.

    A run is stored under the hash of its full config (with its one seed, the device type and
    dtype it ran in) and :func:`code_version`; ``any_code=True`` also accepts results computed
    by other code versions (the newest one wins). Writers may be many processes at once
    (WAL mode, a 60 s busy timeout, one short transaction per batch); the folder must be on a
    local disk, since SQLite's WAL needs shared memory between its writers.

    A run is ``done``, ``diverged`` (a result as well: its iterate became inf or NaN, see
    :attr:`sco.trace.Trace.diverged_at`; rerunning would diverge again), or ``failed``.

    Kill safety: a result's trace file is written and fsynced (atomically, under a fresh name)
    before its row commits, so a row marked done always points at a complete file; a kill
    before the commit leaves an unreferenced file (:meth:`prune` removes them) and no row.
    Damage: every trace is checked against its stored sha256 when a sweep resumes and when it
    is read; a missing or damaged trace is reported as ``damaged`` and runs again. A damaged
    database raises :class:`StoreError` with the recovery command (``sco sweep repair``).
    Files are created with the permissions the umask gives.
    """

    def __init__(self, path="sco-store", *, any_code: bool = False):
        self.root = Path(path)
        self.any_code = bool(any_code)
        self.code = code_version()
        self._con = None
        self._pid = None
        self._shas: dict = {}  # (path, size, mtime) -> sha256, so a resume hashes each file once

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # -- connection -----------------------------------------------------------------------------

    @property
    def con(self) -> sqlite3.Connection:
        # a connection must not cross a fork: each process opens its own
        if self._con is None or self._pid != os.getpid():
            self._con, self._pid = self._open(), os.getpid()
        return self._con

    def _open(self) -> sqlite3.Connection:
        path = self.root / DB_NAME
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"The store folder {self.root} is a file, not a folder. Give --store a folder.")
        self.root.mkdir(parents=True, exist_ok=True)
        if path.exists() and not path.is_file():
            raise StoreError(f"The store's database {path} is not a file (a folder?). {recovery(self.root)}")
        con = sqlite3.connect(path, timeout=60, isolation_level=None)
        try:
            for attempt in range(20):
                try:
                    con.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError as e:  # another writer is creating the database
                    if attempt == 19 or "locked" not in str(e):
                        raise
                    time.sleep(0.1 * (attempt + 1))
            # FULL: a commit is on disk before it returns, so "reported done" survives power loss
            con.execute("PRAGMA synchronous=FULL")
            con.row_factory = sqlite3.Row
            with _transaction(con):
                create(con)
            check = con.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(check)
        except sqlite3.DatabaseError as e:
            con.close()
            raise self._error(e) from None
        except BaseException:
            con.close()
            raise
        return con

    def _error(self, e: sqlite3.DatabaseError) -> StoreError:
        path = self.root / DB_NAME
        if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
            return StoreError(f"The store's database {path} stayed locked by another process for 60 s ({e}). "
                              "Is another sweep writing to it from a network file system? Use a local disk.")
        if isinstance(e, sqlite3.OperationalError) and "readonly" in str(e):
            return StoreError(f"The store's database {path} is read-only here ({e}). Run with write access to "
                              f"{self.root}.")
        return StoreError(f"The store's database {path} is damaged or is not a SQLite database ({e}). "
                          f"{recovery(self.root)}")

    def close(self) -> None:
        if self._con is not None and self._pid == os.getpid():
            self._con.close()
        self._con = None

    def __getstate__(self):
        return {"root": self.root, "any_code": self.any_code, "code": self.code, "_con": None, "_pid": None,
                "_shas": {}}

    # -- writing --------------------------------------------------------------------------------

    @_explained
    def put_done(self, runs: list[tuple[RunKey, Trace]], *, seconds: float, batch: list[int],
                 device: str) -> list[bool]:
        """Store finished runs (one transaction), each ``done`` or, when its trace says so,
        ``diverged``; True for each run this call stored, False where another writer had stored
        it first (its result is kept and ours removed)."""
        files = []
        for rk, trace in runs:
            rel = Path("traces") / rk.key[:2] / f"{rk.key}-{uuid.uuid4().hex[:8]}.npz"
            # the run's key travels in the file, so that `repair` can rebuild a lost database
            keyed = Trace(trace.config, trace.seeds, trace.steps, trace.metrics, trace.events, trace.constants,
                          {**trace.meta, "run_key": {"config": rk.config, "seed": rk.seed, "code": rk.code}})
            path = keyed.save(self.root / rel)
            _fsync(path)
            files.append((rel, _file_sha(path), "diverged" if trace.diverged.any() else "done"))
        stored = []
        now, host = time.time(), socket.gethostname()
        with _transaction(self.con) as con:  # the write lock makes check-then-write atomic
            for (rk, _), (rel, sha, status) in zip(runs, files):
                row = con.execute(f"SELECT trace, sha256 FROM runs WHERE key = ? AND status IN {FINISHED}",
                                  (rk.key,)).fetchone()
                if row is not None and self._intact(row):
                    stored.append(False)
                    continue
                # replaces a failed row, or a finished one whose trace file is missing or damaged
                con.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
                            (rk.key, rk.config_hash, rk.config, rk.seed, rk.code, status, rel.as_posix(), sha,
                             seconds, json.dumps(batch), device, host, now))
                stored.append(True)
        for (rel, _, _), ok in zip(files, stored):
            if not ok:
                (self.root / rel).unlink(missing_ok=True)
        return stored

    @_explained
    def put_failed(self, keys: list[RunKey], error: str, *, seconds: float, batch: list[int], device: str) -> None:
        """Record failed runs with their error; a run already finished stays finished."""
        now, host = time.time(), socket.gethostname()
        with _transaction(self.con) as con:
            for rk in keys:
                con.execute(
                    "INSERT INTO runs VALUES (?, ?, ?, ?, ?, 'failed', NULL, NULL, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET error=excluded.error, seconds=excluded.seconds, "
                    "batch=excluded.batch, device=excluded.device, host=excluded.host, "
                    f"finished=excluded.finished WHERE runs.status NOT IN {FINISHED}",
                    (rk.key, rk.config_hash, rk.config, rk.seed, rk.code, error, seconds, json.dumps(batch),
                     device, host, now))

    @_explained
    def set_members(self, sweep: str, members: list[tuple[RunKey, str, dict]]) -> None:
        """Record which runs make up ``sweep`` (replacing its previous definition): for each,
        its key, its cell's name and its grid values."""
        with _transaction(self.con) as con:
            con.execute("DELETE FROM cells WHERE sweep = ?", (sweep,))
            con.executemany("INSERT OR REPLACE INTO cells VALUES (?, ?, ?, ?, ?, ?)",
                            [(sweep, rk.config_hash, cell, rk.seed, json.dumps(grid), i)
                             for i, (rk, cell, grid) in enumerate(members)])

    # -- reading --------------------------------------------------------------------------------

    @_explained
    def status(self, config_hashes) -> dict[str, dict]:
        """The stored row of each run that has one (``config_hash -> row``): a finished row
        (done or diverged) whose trace file matches its checksum, else a failed row of this
        code version, else a ``damaged`` row (a finished run whose trace is missing or damaged,
        with the reason as its error: it runs again). With ``any_code``, finished rows of other
        code versions count (this version's first, else the newest)."""
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
        ok = [r for r in rows if r["code"] == self.code or (self.any_code and r["status"] in FINISHED)]
        finished = [r for r in ok if r["status"] in FINISHED]
        # this version's newest first, then the others' newest first
        order = [r for r in finished if r["code"] == self.code][::-1] + \
            [r for r in finished if r["code"] != self.code][::-1]
        for r in order:
            if self._intact(r):
                return r
        failed = [r for r in ok if r["status"] == "failed" and r["code"] == self.code]
        if failed:
            return failed[-1]
        if order:
            return {**order[0], "status": "damaged", "error": self._damage(order[0])}
        return None

    def _intact(self, row) -> bool:
        return self._damage(row) is None

    def _damage(self, row) -> str | None:
        """Why a finished row's trace cannot be used (None when it is intact)."""
        path = self.root / row["trace"]
        try:
            st = path.stat()
        except OSError:
            return f"trace file {row['trace']} is missing"
        cache = (str(path), st.st_size, st.st_mtime_ns)
        sha = self._shas.get(cache)
        if sha is None:
            sha = self._shas[cache] = _file_sha(path)
        return None if sha == row["sha256"] else f"trace file {row['trace']} does not match its checksum"

    def load(self, row: dict) -> Trace:
        """The trace of a finished row, checked against its checksum first."""
        why = self._damage(row)
        if why is not None:
            raise StoreError(f"Store {self.root}: the {why} (run {row.get('key', '?')[:12]}). Rerun its sweep "
                             "(or get_or_run) to compute it again.")
        trace = Trace.load(self.root / row["trace"])
        trace.meta.pop("run_key", None)
        return trace

    @_explained
    def sweeps(self) -> list[str]:
        """Names of the sweeps recorded in the store."""
        return [r[0] for r in self.con.execute("SELECT DISTINCT sweep FROM cells ORDER BY sweep")]

    @_explained
    def runs(self, sweep: str | None = None) -> list[dict]:
        """One dict per run of ``sweep`` (all sweeps when None), in expansion order: sweep, cell,
        seed, status ('done', 'diverged', 'failed', 'damaged' or 'pending'), error, seconds,
        device, trace, code and the grid values (as columns). An unknown sweep raises."""
        if sweep is not None:
            self._check_sweep(sweep)
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

    def _check_sweep(self, sweep: str) -> None:
        known = self.sweeps()
        if sweep not in known:
            raise ValueError(f"Unknown sweep {sweep!r} in store {self.root}. Sweeps there: {known}."
                             f"{close_matches(sweep, known)}")

    def table(self, sweep: str | None = None, *, metrics=None, final: bool = False, frame: bool = False,
              diverged: bool = False):
        """A tidy table of the done runs of ``sweep`` (all when None): one row per (cell, seed,
        logged step, metric) with the columns sweep, cell, seed, the grid keys, step, metric,
        value (a metric per worker, (R, n_log, m), gives a row per worker with a ``worker`` column). ``metrics`` keeps only those metrics (an unknown name raises); ``final`` only the
        last logged step; ``diverged`` adds the diverged runs; ``frame`` returns a pandas
        DataFrame (pandas must be installed)."""
        keep = None if metrics is None else set([metrics] if isinstance(metrics, str) else metrics)
        rows, seen = [], set()
        for run in self.runs(sweep):
            if run["status"] != "done" and not (diverged and run["status"] == "diverged"):
                continue
            trace = self.load(run)
            seen |= set(trace.metrics)
            ids = {k: v for k, v in run.items() if k not in _RUN_INFO}
            steps = trace.steps.tolist()
            cols = [len(steps) - 1] if final else range(len(steps))
            for name, arr in trace.metrics.items():
                if keep is not None and name not in keep:
                    continue
                for j in cols:
                    if np.ndim(arr) == 3:  # a metric per worker, (1, n_log, m): one row per worker
                        rows += [{**ids, "step": steps[j], "worker": i, "metric": name, "value": float(v)}
                                 for i, v in enumerate(arr[0, j])]
                    else:
                        rows.append({**ids, "step": steps[j], "metric": name, "value": float(arr[0, j])})
        unknown = sorted((keep or set()) - seen - set(METRICS))
        if unknown:
            known = sorted(seen | set(METRICS))
            raise ValueError(f"Unknown metric {unknown[0]!r}. Metrics: {known}.{close_matches(unknown[0], known)}")
        if frame:
            try:
                import pandas as pd
            except ModuleNotFoundError:
                raise ModuleNotFoundError("Store.table(frame=True) needs pandas: pip install pandas "
                                          "(or leave frame=False for a list of dicts).") from None
            return pd.DataFrame(rows)
        return rows

    def export(self, path, format: str | None = None, *, sweep: str | None = None, metrics=None,
               final: bool = False, diverged: bool = False) -> Path:
        """Write :meth:`table` to ``path`` as CSV or Parquet (``format`` "csv" or "parquet";
        default: from the suffix). Parquet needs pyarrow (``pip install 'sco[parquet]'``)."""
        from .maintenance import export
        return export(self, path, format, sweep=sweep, metrics=metrics, final=final, diverged=diverged)

    # -- maintenance ----------------------------------------------------------------------------

    @_explained
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

    @_explained
    def check(self) -> list[str]:
        """Problems with finished rows: a missing trace file or one whose checksum differs."""
        problems = []
        for row in self.con.execute(f"SELECT key, trace, sha256 FROM runs WHERE status IN {FINISHED}"):
            why = self._damage(row)
            if why is not None:
                problems.append(f"run {row['key'][:12]}: {why}")
        return problems

    def repair(self) -> dict:
        """Make a damaged store usable again (``sco sweep repair``): see
        :func:`sco.sweep.maintenance.repair`."""
        from .maintenance import repair
        return repair(self)

    def get_or_run(self, exp) -> Trace:
        """The trace of an :class:`~sco.simulate.Experiment` (or a dict of its fields), read from
        the store where its runs are done, the missing seeds run (as one batch) and stored.
        Equal to ``run(exp)`` up to the arithmetic of how seeds were batched (last bits)."""
        from .run import run_experiment
        return run_experiment(self, exp)

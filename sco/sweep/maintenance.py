"""Store upkeep: tidy export (CSV, Parquet) and the repair of a damaged database from the trace files."""

from __future__ import annotations

import csv
import json
import os
import time
import uuid
from pathlib import Path

import numpy as np

from .. import _checks
from ._db import file_sha, transaction
from .records import RunKey
from .store import DB_NAME, FINISHED, Store, StoreError

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def export(store: Store, path, format: str | None = None, *, sweep=None, metrics=None, final=False,
           diverged=False) -> Path:
    """Write ``store.table(...)`` (long form: sweep, cell, seed, the grid keys, step, metric,
    value) to ``path``, atomically, as "csv" or "parquet" (default: from the suffix); returns
    the path. Parquet needs pyarrow (``pip install 'sco[parquet]'``)."""
    path = Path(path)
    fmt = format if format is not None else FORMATS.get(path.suffix.lower())
    if fmt is None:
        _checks.fail("Store.export", "format", "be 'csv' or 'parquet', or follow from the suffix of path "
                     f"({sorted(FORMATS)})", format, hint=f"path={str(path)!r} has neither suffix.")
    _checks.one_of("Store.export", "format", fmt, {"csv", "parquet"})
    if fmt == "parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ModuleNotFoundError:
            raise ModuleNotFoundError("Store.export(format='parquet') needs pyarrow: pip install 'sco[parquet]' "
                                      "(or export to .csv).") from None
    rows = store.table(sweep, metrics=metrics, final=final, diverged=diverged)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}-{uuid.uuid4().hex[:8]}.tmp"
    try:
        if fmt == "csv":
            with open(tmp, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=columns or ["sweep", "cell", "seed", "step", "metric", "value"],
                                        restval="")
                writer.writeheader()
                writer.writerows(rows)
        else:
            data = {c: [r.get(c) for r in rows] for c in columns}
            for c, values in data.items():  # a grid axis may mix types (0.1 and "auto"): keep it as text
                kinds = {type(v) for v in values if v is not None}
                if len(kinds) > 1 and not kinds <= {int, float}:
                    data[c] = [None if v is None else str(v) for v in values]
            pq.write_table(pa.table(data), tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def repair(store: Store) -> dict:
    """Make a damaged store usable again; returns what was done.

    A database that cannot be opened (garbage, truncated, a folder) is moved aside as
    ``sco.sqlite.damaged-<time>`` (with its -wal and -shm files) and a new one is created.
    Then every trace file that no row references is indexed again from the run key it carries
    (written by :meth:`Store.put_done`), as done or diverged, unless a finished run of that key
    is already intact. Files that cannot be read, or that carry no key (written before keys
    were stored), are left as they are and counted. Which runs make up each sweep is recorded
    again by the next run of that sweep (its finished runs are skipped).
    """
    root = store.root
    moved = None
    try:
        store.con
    except StoreError:
        if not (root / DB_NAME).exists():
            raise
        store.close()
        moved = root / f"{DB_NAME}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
        for suffix in ("", "-wal", "-shm"):
            part = root / (DB_NAME + suffix)
            if part.exists():
                os.replace(part, moved.with_name(moved.name + suffix))
    con = store.con
    used = {r[0] for r in con.execute("SELECT trace FROM runs WHERE trace IS NOT NULL")}
    indexed, unreadable = 0, []
    for p in sorted((root / "traces").rglob("*.npz")):
        rel = p.relative_to(root).as_posix()
        if rel in used or p.name.startswith("."):  # indexed already, or a writer's temporary file
            continue
        try:
            with np.load(p, allow_pickle=False) as z:
                meta = json.loads(str(z["header"]))["meta"]
            rk = RunKey(meta["run_key"]["config"], meta["run_key"]["seed"], meta["run_key"]["code"])
        except Exception:  # unreadable, or from before keys were stored: left for prune
            unreadable.append(rel)
            continue
        if not p.name.startswith(rk.key):
            unreadable.append(rel)
            continue
        status = "diverged" if any(t is not None for t in meta.get("diverged_at") or []) else "done"
        with transaction(con):
            row = con.execute(f"SELECT trace, sha256 FROM runs WHERE key = ? AND status IN {FINISHED}",
                              (rk.key,)).fetchone()
            if row is not None and store._intact(row):
                continue
            con.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, NULL, ?)",
                        (rk.key, rk.config_hash, rk.config, rk.seed, rk.code, status, rel, file_sha(p),
                         meta.get("seconds"), json.dumps(meta.get("batch", [rk.seed])), meta.get("device"),
                         p.stat().st_mtime))
        indexed += 1
    return {"moved": moved, "indexed": indexed, "unreadable": unreadable}

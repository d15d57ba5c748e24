"""The store's database format: its schema (and the migration from older ones), transactions, file sync."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

_RUNS = """
CREATE TABLE IF NOT EXISTS runs (
    key         TEXT PRIMARY KEY,   -- sha256 of {config, code}
    config_hash TEXT NOT NULL,      -- sha256 of the config alone (reuse across code versions)
    config      TEXT NOT NULL,      -- canonical JSON of the run's config (one seed)
    seed        INTEGER NOT NULL,
    code        TEXT NOT NULL,      -- code_version() of the process that ran it
    status      TEXT NOT NULL CHECK (status IN ('done', 'diverged', 'failed')),
    trace       TEXT,               -- the .npz path relative to the store (done, diverged)
    sha256      TEXT,               -- of the trace file (done, diverged)
    error       TEXT,               -- the traceback (failed)
    seconds     REAL,               -- wall time of the batch the run was part of
    batch       TEXT,               -- JSON list of the seeds of that batch
    device      TEXT,
    host        TEXT,
    finished    REAL NOT NULL       -- unix time of the commit
)"""
_SCHEMA = _RUNS + """;
CREATE INDEX IF NOT EXISTS runs_by_config ON runs (config_hash);
CREATE TABLE IF NOT EXISTS cells (
    sweep       TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    cell        TEXT NOT NULL,      -- the cell's name (without ' | seed=')
    seed        INTEGER NOT NULL,
    grid        TEXT NOT NULL,      -- JSON {axis key: value}
    position    INTEGER NOT NULL,   -- order of the run in the sweep's expansion
    PRIMARY KEY (sweep, config_hash)
);
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO info VALUES ('schema', '2')
"""
SCHEMA = "2"  # 1 had no 'diverged' status


def create(con) -> None:
    """Create the tables (inside the caller's transaction), or migrate older ones."""
    for statement in _SCHEMA.split(";"):
        con.execute(statement)
    _migrate(con)


def _migrate(con) -> None:
    """Bring a database of an older schema to this one (inside the caller's transaction)."""
    version = con.execute("SELECT value FROM info WHERE key = 'schema'").fetchone()[0]
    if version == SCHEMA:
        return
    if version != "1":
        raise sqlite3.DatabaseError(f"schema {version} is newer than this sco's {SCHEMA}: upgrade sco")
    # schema 1's CHECK constraint has no 'diverged': SQLite cannot alter it, so copy the table
    con.execute("ALTER TABLE runs RENAME TO runs_v1")
    con.execute(_RUNS)
    con.execute("INSERT INTO runs SELECT * FROM runs_v1")
    con.execute("DROP TABLE runs_v1")
    con.execute("CREATE INDEX IF NOT EXISTS runs_by_config ON runs (config_hash)")
    con.execute("UPDATE info SET value = ? WHERE key = 'schema'", (SCHEMA,))


class transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): take the write lock up front, so that
    two writers wait for each other (busy timeout) instead of failing at the commit."""

    def __init__(self, con):
        self.con = con

    def __enter__(self):
        self.con.execute("BEGIN IMMEDIATE")
        return self.con

    def __exit__(self, kind, exc, tb):
        self.con.execute("COMMIT" if kind is None else "ROLLBACK")


def fsync(path: Path) -> None:
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


def file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

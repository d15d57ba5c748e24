"""Small sweep specs and store comparisons shared by the sweep tests."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def tiny_spec(name="tiny", T=20, seeds=(0, 1), grid=None) -> dict:
    """A 2 x 2 grid on a 5-dimensional quadratic with Byzantine workers (milliseconds a cell)."""
    return {
        "name": name,
        "base": {"objective": {"name": "quadratic", "d": 5, "L": 1.0, "mu": 0.1, "seed": 1},
                 "noise": {"name": "gaussian", "sigma": 1.0, "sigma_L": 0.3},
                 "m": 6, "f": 1, "attack": "alie", "T": T, "seeds": list(seeds)},
        "grid": grid or {"aggregator": ["cwmed", "ctma(cwmed)"], "algorithm": {"eta": [0.1, 0.02]}},
    }


def toml_text(spec: dict) -> str:
    """The TOML form of a tiny spec (values are numbers, strings, lists and flat tables)."""
    def value(v):
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    lines = [f'name = "{spec["name"]}"', "[base]"]
    lines += [f"{k} = {value(v)}" for k, v in spec["base"].items()]
    lines.append("[grid]")
    for k, v in spec["grid"].items():
        if isinstance(v, dict):
            lines += [f"{k}.{k2} = {value(v2)}" for k2, v2 in v.items()]
        else:
            lines.append(f'"{k}" = {value(v)}' if "," in k else f"{k} = {value(v)}")
    return "\n".join(lines) + "\n"


def sweep_env() -> dict:
    """The environment of a sweep subprocess: this checkout's sco, one thread (two cores are
    shared by the test processes), no terminal progress bar."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def sweep_cmd(spec_path, store, *extra) -> list[str]:
    return [sys.executable, "-m", "sco.cli", "sweep", str(spec_path), "--store", str(store), *extra]


def run_cli(spec_path, store, *extra, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(sweep_cmd(spec_path, store, *extra), env=sweep_env(), capture_output=True, text=True,
                          timeout=timeout)


def stored(store) -> dict:
    """{(cell, seed): trace} of the done runs in a store, every sweep."""
    from sco.sweep import Store

    s = Store(store)
    out = {}
    for run in s.runs():
        if run["status"] == "done":
            out[(run["cell"], run["seed"])] = s.load(run)
    return out


def assert_same_traces(a: dict, b: dict, exact=True, rtol=0.0):
    """Two {(cell, seed): trace} maps hold the same runs with the same numbers."""
    assert sorted(a) == sorted(b)
    for k in a:
        ta, tb = a[k], b[k]
        assert np.array_equal(ta.steps, tb.steps), k
        assert ta.metrics.keys() == tb.metrics.keys(), k
        for name in ta.metrics:
            if exact:
                assert np.array_equal(ta[name], tb[name], equal_nan=True), (k, name)
            else:
                np.testing.assert_allclose(ta[name], tb[name], rtol=rtol, atol=1e-300, err_msg=f"{k} {name}")
        for name in ta.events:
            assert np.array_equal(ta.events[name], tb.events[name]), (k, name)


def db_rows(store) -> list[tuple]:
    """(key, status, trace) of every row, read with plain sqlite3, and the integrity check."""
    con = sqlite3.connect(Path(store) / "sco.sqlite")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return con.execute("SELECT key, status, trace FROM runs ORDER BY key").fetchall()
    finally:
        con.close()


def hammer(path, worker, n, barrier):
    """Write n batches of fake results to a store, as fast as possible, starting together with
    the other writers (``barrier``); every writer writes the same keys, and some batches fail
    first (a failure must never replace a done run). Leaves its (start, end) times in a file."""
    import json
    import time

    from sco.sweep.store import RunKey, Store
    from sco.trace import Trace

    store = Store(path)
    store.con  # opened (and the schema created) before the race starts
    barrier.wait()
    start = time.time()
    for i in range(n):
        keys = [RunKey(json.dumps({"run": i, "part": j}), j, store.code) for j in range(2)]
        traces = [Trace({"run": i}, [j], np.arange(1, 4), {"excess": np.full((1, 3), float(i + j))})
                  for j in range(2)]
        if (i + worker) % 5 == 0:
            store.put_failed(keys, f"error from writer {worker}", seconds=0.0, batch=[0, 1], device="cpu")
        store.put_done(list(zip(keys, traces)), seconds=0.0, batch=[0, 1], device="cpu")
    (Path(path) / f"writer{worker}.json").write_text(json.dumps([start, time.time()]))

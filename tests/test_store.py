"""The store: damage explained and repaired, checksums on resume and read, diverged runs, names, permissions, export."""

import csv
import json
import os
import sqlite3
import stat
import warnings

import numpy as np
import pytest

from sco import cli
from sco.sweep import Store, StoreError, run_sweep
from sco.trace import DivergedError, DivergedWarning
from sweep_helpers import assert_same_traces, db_rows, stored, tiny_spec, toml_text


@pytest.fixture
def done(tmp_path):
    """A store holding the tiny sweep (8 runs), closed."""
    assert run_sweep(tiny_spec(), tmp_path / "store", progress=False).ok
    return tmp_path / "store"


# -- a damaged database is explained, and repaired -----------------------------------------------------


@pytest.mark.parametrize("damage", ["garbage", "truncated", "directory"])
def test_a_damaged_database_names_the_file_and_the_recovery_command(damage, done, tmp_path, capsys):
    db = done / "sco.sqlite"
    if damage == "garbage":
        db.write_bytes(b"this is not a database" * 100)
    elif damage == "truncated":
        db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])
    else:
        db.unlink()
        db.mkdir()
    with pytest.raises(StoreError, match=rf"{db}.*Recover with: sco sweep repair --store {done}"):
        Store(done).runs()
    spec = tmp_path / "s.toml"
    spec.write_text(toml_text(tiny_spec()))
    assert cli.main(["sweep", str(spec), "--store", str(done)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sco sweep: The store's database") and "Traceback" not in err
    # the documented recovery: the damaged file moves aside, the runs come back from their traces
    assert cli.main(["sweep", "repair", "--store", str(done)]) == 0
    out = capsys.readouterr().out
    assert "moved the damaged database to" in out and "indexed 8 runs" in out
    assert len([p for p in done.glob("sco.sqlite.damaged-*") if not p.name.endswith(("-wal", "-shm"))]) == 1
    again = run_sweep(tiny_spec(), done, progress=False)
    assert len(again.skipped) == 8 and again.done == []  # nothing recomputed
    assert Store(done).check() == []


def test_repair_of_a_healthy_store_indexes_orphaned_complete_traces(done):
    # a kill between the trace file and the commit leaves a complete, unreferenced file
    store = Store(done)
    row = store.runs("tiny")[0]
    with sqlite3.connect(done / "sco.sqlite") as con:
        con.execute("DELETE FROM runs WHERE key = ?", (row["key"],))
    con.close()
    assert store.runs("tiny")[0]["status"] == "pending"
    report = store.repair()
    assert report["moved"] is None and report["indexed"] == 1 and report["unreadable"] == []
    assert store.runs("tiny")[0]["status"] == "done" and store.check() == []


def test_a_store_folder_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(StoreError, match="is a file, not a folder"):
        Store(tmp_path / "f").sweeps()


def test_a_schema_1_database_is_migrated_in_place(done):
    # rebuild the runs table with schema 1's constraint, as an older sco wrote it
    con = sqlite3.connect(done / "sco.sqlite")
    sql = con.execute("SELECT sql FROM sqlite_master WHERE name = 'runs'").fetchone()[0]
    old = sql.replace("'done', 'diverged', 'failed'", "'done', 'failed'")
    con.executescript(f"ALTER TABLE runs RENAME TO r; {old}; INSERT INTO runs SELECT * FROM r; DROP TABLE r; "
                      "UPDATE info SET value = '1' WHERE key = 'schema';")
    con.close()
    store = Store(done)
    assert [r["status"] for r in store.runs("tiny")] == ["done"] * 8
    con = sqlite3.connect(done / "sco.sqlite")
    assert con.execute("SELECT value FROM info WHERE key = 'schema'").fetchone()[0] == "2"
    assert "'diverged'" in con.execute("SELECT sql FROM sqlite_master WHERE name = 'runs'").fetchone()[0]
    con.close()


# -- trace checksums ------------------------------------------------------------------------------------------


def test_a_damaged_trace_is_rerun_on_resume_and_refused_on_read(done):
    store = Store(done)
    victim = store.runs("tiny")[3]
    path = done / victim["trace"]
    expected = stored(done)
    path.write_bytes(path.read_bytes()[:-100])  # truncated: the file exists, its checksum differs
    store = Store(done)
    assert store.runs("tiny")[3]["status"] == "damaged"
    with pytest.raises(StoreError, match="does not match its checksum.*Rerun its sweep"):
        store.load(victim)
    again = run_sweep(tiny_spec(), done, progress=False)
    assert again.done == [f"{victim['cell']} | seed={victim['seed']}"] and len(again.skipped) == 7
    assert Store(done).check() == [] and len(db_rows(done)) == 8
    assert_same_traces(stored(done), expected)


# -- names ------------------------------------------------------------------------------------------------


def test_unknown_sweep_and_metric_names_raise_with_close_matches(done):
    store = Store(done)
    with pytest.raises(ValueError, match=r"Unknown sweep 'tiyn' .* Sweeps there: \['tiny'\]. Did you mean 'tiny'"):
        store.table(sweep="tiyn")
    with pytest.raises(ValueError, match="Unknown sweep 'tiyn'"):
        store.runs("tiyn")
    with pytest.raises(ValueError, match=r"Unknown metric 'exces'. .*Did you mean 'excess'"):
        store.table("tiny", metrics="exces")
    # a known metric that these runs do not log (staleness: asynchronous runs only) gives no rows
    assert store.table("tiny", metrics="staleness") == []


# -- permissions ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_files_follow_the_umask(umask, mode, tmp_path):
    old = os.umask(umask)
    try:
        assert run_sweep(tiny_spec(grid={"lam": [0.1]}), tmp_path / "s", progress=False).ok
    finally:
        os.umask(old)
    files = [tmp_path / "s" / "sco.sqlite"] + list((tmp_path / "s" / "traces").rglob("*.npz"))
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {mode}


# -- diverged runs ------------------------------------------------------------------------------------------


def _diverging_spec():
    # eta far too large for half of the cells: the iterate overflows within 100 steps
    return tiny_spec(name="div", T=100, grid={"algorithm": {"eta": [0.1, 1000.0]}})


def test_a_diverged_run_is_stored_as_diverged_not_done_and_not_rerun(tmp_path, capsys):
    summary = run_sweep(_diverging_spec(), tmp_path, progress=False)
    assert summary.ok and len(summary.done) == 4 and len(summary.diverged) == 2
    assert all(name.startswith("mean | mu2sgd eta=1000.0 | seed=") and step > 0 for name, step in summary.diverged)
    assert "2 diverged" in str(summary) and "DIVERGED mean | mu2sgd eta=1000.0 | seed=0 at step" in str(summary)
    store = Store(tmp_path)
    status = {r["cell"]: r["status"] for r in store.runs("div")}
    assert status == {"mean | mu2sgd eta=0.1": "done", "mean | mu2sgd eta=1000.0": "diverged"}
    again = run_sweep(_diverging_spec(), tmp_path, progress=False)
    assert again.done == [] and len(again.skipped) == 4  # a diverged run is a result
    assert {r["cell"] for r in store.table("div")} == {"mean | mu2sgd eta=0.1"}
    assert {r["cell"] for r in store.table("div", diverged=True)} == set(status)
    # read back, the trace says where it diverged, warns as run() does, and refuses a fit
    exp = {**_diverging_spec()["base"], "algorithm": {"name": "mu2sgd", "eta": 1000.0},
           "progress": False}
    with pytest.warns(DivergedWarning, match=r"2 of 2 runs of mean \+ mu2sgd diverged .*seed 0 at step \d+"):
        trace = store.get_or_run(exp)
    assert trace.diverged.all() and all(t > 0 for t in trace.diverged_at)
    with pytest.raises(DivergedError, match=r"a fit cannot use diverged runs. .*seed 1 at step \d+"):
        trace.require_finite("a fit")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        finite = store.get_or_run({**exp, "algorithm": {"name": "mu2sgd", "eta": 0.1}})
    assert finite.require_finite() is finite and finite.diverged_at == [None, None]


# -- export ---------------------------------------------------------------------------------------------------


def test_export_to_csv_holds_the_table(done, tmp_path, capsys):
    store = Store(done)
    path = store.export(tmp_path / "out" / "t.csv")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    table = store.table()
    assert len(rows) == len(table) and list(rows[0]) == list(table[0])
    for a, b in zip(rows, table):
        assert a["cell"] == b["cell"] and int(a["seed"]) == b["seed"] and float(a["value"]) == b["value"]
    final = store.export(tmp_path / "f.txt", "csv", sweep="tiny", final=True, metrics="excess")
    assert len(final.read_text().splitlines()) == 1 + 8
    with pytest.raises(ValueError, match="The 'format' parameter of Store.export must be 'csv' or 'parquet'"):
        store.export(tmp_path / "t.json")
    assert cli.main(["sweep", "export", str(tmp_path / "cli.csv"), "--store", str(done), "--final"]) == 0
    assert "wrote" in capsys.readouterr().out and len((tmp_path / "cli.csv").read_text().splitlines()) > 8
    assert cli.main(["sweep", "export", "--store", str(done)]) == 2


def test_export_to_parquet(done, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    store = Store(done)
    path = store.export(tmp_path / "t.parquet")
    back = pq.read_table(path).to_pylist()
    assert back == store.table()


def test_export_to_parquet_without_pyarrow_says_how_to_install(done, tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ModuleNotFoundError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'sco\[parquet\]'"):
        Store(done).export(tmp_path / "t.parquet")
    assert not (tmp_path / "t.parquet").exists()


def test_each_trace_carries_its_run_key(done):
    # what repair reads back; loading through the store hides it
    store = Store(done)
    row = store.runs("tiny")[0]
    with np.load(done / row["trace"]) as z:
        key = json.loads(str(z["header"]))["meta"]["run_key"]
    assert key["seed"] == row["seed"] and key["code"] == store.code
    assert "run_key" not in store.load(row).meta


def test_a_metric_per_worker_gives_a_row_per_worker(tmp_path):
    from sco.sweep.store import RunKey
    from sco.trace import Trace

    store = Store(tmp_path)
    rk = RunKey('{"run": 1}', 0, store.code)
    trace = Trace({"run": 1}, [0], np.array([1, 5]), {"excess": np.array([[1.0, 0.5]]),
                                                       "worker_counts": np.array([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]])})
    assert store.put_done([(rk, trace)], seconds=0.0, batch=[0], device="cpu") == [True]
    store.set_members("w", [(rk, "cell", {})])
    rows = store.table("w", final=True)
    assert [(r["metric"], r.get("worker"), r["value"]) for r in rows] == [
        ("excess", None, 0.5), ("worker_counts", 0, 4.0), ("worker_counts", 1, 5.0), ("worker_counts", 2, 6.0)]
    with open(store.export(tmp_path / "w.csv", sweep="w"), newline="") as fh:
        back = list(csv.DictReader(fh))
    assert len(back) == 2 + 6 and back[0]["worker"] == "" and back[-1]["worker"] == "2"

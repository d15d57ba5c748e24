"""A sweep killed with SIGKILL at random points loses nothing it reported finished and resumes to the same results."""

import os
import random
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sco.sweep import Store, Sweep, run_sweep
from sweep_helpers import assert_same_traces, db_rows, run_cli, stored, sweep_cmd, sweep_env, tiny_spec, toml_text

DONE = re.compile(r"\] done (.+) \| seeds?=([\d,]+) \(")


def _wait_for_start(log, proc, timeout=120.0):
    """Wait until the sweep has started its first batch (or has ended)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if "] start " in log.read_text():
            return
        time.sleep(0.02)


def _reported_done(text: str) -> set:
    out = set()
    for cell, seeds in DONE.findall(text):
        out |= {(cell, int(s)) for s in seeds.split(",")}
    return out


def _mid_cell(text: str) -> bool:
    """Whether the last thing the process said was that it started a batch (killed inside it)."""
    progress = [ln for ln in text.splitlines() if "] start " in ln or "] done " in ln or "] FAILED " in ln]
    return bool(progress) and "] start " in progress[-1]


def test_sigkill_at_random_points_loses_nothing_and_resumes_to_identical_results(tmp_path):
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    # 6 cells x 2 seeds, each batch about a second: a kill after a batch started lands inside it
    spec = tiny_spec(name="kill", T=500, grid={"aggregator": ["cwmed", "ctma(cwmed)", "cwtm"],
                                               "algorithm": {"eta": [0.1, 0.02]}})
    path = tmp_path / "kill.toml"
    path.write_text(toml_text(spec))
    store = tmp_path / "store"
    reference = tmp_path / "reference"
    assert run_sweep(spec, reference, progress=False).ok
    expected = stored(reference)
    runs = {(c.name, s) for c in Sweep.from_dict(spec).cells for s in c.seeds}

    mid = []
    for i in range(5):
        log = tmp_path / f"attempt{i}.log"
        with open(log, "w") as err:
            proc = subprocess.Popen(sweep_cmd(path, store), env=sweep_env(), stdout=subprocess.DEVNULL, stderr=err)
            if i == 0:
                time.sleep(rng.uniform(0.0, 3.0))  # anywhere: start-up, validation, a batch
            else:
                _wait_for_start(log, proc)
                time.sleep(rng.uniform(0.05, 0.9))
            if proc.poll() is not None:  # finished before the kill
                break
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        text = log.read_text()
        mid.append(_mid_cell(text))
        # everything reported finished is in the store, and every run that reads as finished
        # holds the numbers of an uninterrupted run
        now = stored(store) if (store / "sco.sqlite").exists() else {}
        assert _reported_done(text) <= set(now), (seed, i, text)
        assert_same_traces(now, {k: expected[k] for k in now})
    assert any(mid), f"no kill landed inside a batch (random seed {seed}): {mid}"

    final = run_cli(path, store)
    assert final.returncode == 0, final.stderr
    rows = db_rows(store)
    assert len(rows) == len(runs) == 12 and {r[1] for r in rows} == {"done"}  # each run exactly once
    assert {(r["cell"], r["seed"]) for r in Store(store).runs("kill")} == runs
    assert_same_traces(stored(store), expected)
    assert Store(store).check() == []


# -- a process pool never outlives its driver -----------------------------------------------------------


def _children(pid: int) -> set:
    """The live processes whose parent is ``pid`` (from /proc; zombies count as gone)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.add(int(stat.parent.name))
    return out


def _alive(pids) -> set:
    out = set()
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(p)
    return out


def _snapshot(store) -> tuple:
    """What a writer would change: the rows (read with plain sqlite3) and the trace files."""
    files = sorted(p.relative_to(store).as_posix() for p in (store / "traces").rglob("*.npz")) \
        if (store / "traces").exists() else []
    rows = db_rows(store) if (store / "sco.sqlite").exists() else []
    return rows, files


def _pool_spec():
    # 8 cells of about a second each on 2 workers: the kill lands while both work
    return tiny_spec(name="pool", T=1500, grid={"aggregator": ["cwmed", "ctma(cwmed)", "cwtm", "mean"],
                                                "algorithm": {"eta": [0.1, 0.02]}})


@pytest.fixture(scope="module")
def pool_reference(tmp_path_factory):
    """The traces of the uninterrupted sweep, computed once for the three ways of killing it."""
    where = tmp_path_factory.mktemp("reference")
    assert run_sweep(_pool_spec(), where, progress=False).ok
    return stored(where)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "Ctrl-C"])
def test_killing_the_driver_of_a_process_pool_leaves_no_worker_and_nothing_written_after(how, tmp_path,
                                                                                         pool_reference):
    spec = _pool_spec()
    path = tmp_path / "pool.toml"
    path.write_text(toml_text(spec))
    store = tmp_path / "store"
    # its own session, so that "Ctrl-C" can go to its whole process group as a terminal sends it
    workers = set()
    proc = subprocess.Popen(sweep_cmd(path, store, "--workers", "2"), env=sweep_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end and len(_children(proc.pid)) < 3:  # 2 workers + the resource tracker
            time.sleep(0.05)
        workers = _children(proc.pid)
        assert len(workers) >= 2, workers
        while time.monotonic() < end and not (store / "traces").exists():  # the workers are writing
            time.sleep(0.05)
        time.sleep(0.3)
        if how == "SIGKILL":
            os.kill(proc.pid, signal.SIGKILL)
        elif how == "SIGTERM":
            os.kill(proc.pid, signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(60)
        end = time.monotonic() + 10
        while _alive(workers) and time.monotonic() < end:
            time.sleep(0.05)
        before = _snapshot(store)
        time.sleep(2.0)
        after, left = _snapshot(store), _alive(workers)
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in _alive(workers):  # a failing run must not leave them behind (they hold stderr open)
            os.kill(pid, signal.SIGKILL)
        _, err = proc.communicate()
    assert left == set(), f"workers outlived the driver ({how})"
    assert after == before, f"something was written after the driver died ({how})"
    assert code == {"SIGKILL": -9, "SIGTERM": 143, "Ctrl-C": 130}[how], err
    if how != "SIGKILL":
        assert "interrupted" in err and "Run the same command again to resume" in err
    assert len(before[0]) < 16  # it was stopped before the end
    # and the sweep resumes to the numbers of an uninterrupted run
    assert run_cli(path, store).returncode == 0
    assert len(db_rows(store)) == 16 and Store(store).check() == []
    assert_same_traces(stored(store), pool_reference)

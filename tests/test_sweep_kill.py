"""A sweep killed with SIGKILL at random points loses nothing it reported finished and resumes to the same results."""

import os
import random
import re
import signal
import subprocess
import time

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

"""Benchmark plumbing: the OpenMP wait policy, interleaved timing, regression exponents, targets, JSON.

Import this module before torch: it sets ``OMP_WAIT_POLICY=PASSIVE`` (unless the caller set
it) while OpenMP is still unloaded. On a shared machine the default (active) policy makes a
2-thread op spin for a descheduled thread: a mean at (1000, 1e3) took 6.2 ms instead of
0.15 ms, a simulation step 6.8 s instead of 0.51 s.
"""

from __future__ import annotations

import os
import sys

# Benchmark the checkout this file lives in, not whichever sco is installed (an editable
# install of another tree would win otherwise); PYTHONPATH still comes first.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1 + len([p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]), _ROOT)

_POLICY_PRESET = "OMP_WAIT_POLICY" in os.environ
_TORCH_PRELOADED = "torch" in sys.modules
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def load_average() -> list[float] | None:
    try:
        with open("/proc/loadavg") as fh:
            return [float(v) for v in fh.read().split()[:3]]
    except OSError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment(threads: int | None = None) -> dict:
    """Set torch's thread count (if given) and describe what the timings depend on."""
    if threads is not None:
        torch.set_num_threads(threads)
    return {
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "wait_policy_source": "caller" if _POLICY_PRESET else "benchmarks/_harness.py (default PASSIVE)",
        "wait_policy_effective": not _TORCH_PRELOADED or _POLICY_PRESET,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS"),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cpu_count": os.cpu_count(),
        "cpu": _cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "sco": os.path.dirname(__import__("sco").__file__),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "load_average_start": load_average(),
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def print_environment(env: dict) -> None:
    eff = "" if env["wait_policy_effective"] else "  (NOT effective: torch was imported before the harness)"
    print(f"OMP_WAIT_POLICY={env['OMP_WAIT_POLICY']} [{env['wait_policy_source']}]{eff}; "
          f"torch threads {env['torch_threads']} (interop {env['torch_interop_threads']}), "
          f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']}, MKL_NUM_THREADS={env['MKL_NUM_THREADS']}, "
          f"{env['cpu_count']} CPUs ({env['cpu']}, {env['cpu_capability']})")
    print(f"sco from {env['sco']}; torch {env['torch']}, numpy {env['numpy']}, python {env['python']}; "
          f"load average at start {env['load_average_start']}")


# -- timing ------------------------------------------------------------------------------------


def interleaved(cases: dict[str, Callable], rounds: int, budget: float = 0.05,
                sync: Callable | None = None) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Seconds per call of every case, one figure per round, the cases interleaved.

    Each case gets a warm-up call, then as many calls per round as last about ``budget``
    seconds (at least one). Within a round every case is timed once, in alternating order
    from round to round, so that a change of machine load falls on all cases alike; the
    ratio of two cases is best taken per round (:func:`paired_ratio`). Returns the wall-clock
    times and the process CPU times (all threads, user + system): on a shared machine the
    second is the work done, without the time spent waiting for a descheduled thread.
    """
    sync = sync or (lambda: None)
    calls = {}
    for name, fn in cases.items():
        fn()
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        calls[name] = max(1, int(budget / max(time.perf_counter() - t0, 1e-7)))
    wall = {name: [] for name in cases}
    cpu = {name: [] for name in cases}
    names = list(cases)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            fn, n = cases[name], calls[name]
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(n):
                fn()
            sync()
            wall[name].append((time.perf_counter() - t0) / n)
            cpu[name].append((time.process_time() - c0) / n)
    return wall, cpu


def paired_ratio(num: list[float], den: list[float]) -> float:
    """Median over rounds of num[r] / den[r] (both timed in the same round)."""
    return statistics.median(a / b for a, b in zip(num, den))


def exponent(sizes: list[float], times: list[list[float]]) -> dict:
    """Least-squares slope of log(time) on log(size) over every repeated timing.

    ``times[i]`` holds the repeats at ``sizes[i]`` (all > 0: each is a measured duration).
    Returns the slope, its standard error and the per-size medians.
    """
    xs = np.concatenate([np.full(len(t), math.log(s)) for s, t in zip(sizes, times)])
    ys = np.log(np.concatenate([np.asarray(t, dtype=float) for t in times]))
    if not (np.isfinite(ys).all() and len(set(sizes)) >= 2):
        raise ValueError(f"exponent needs positive times at two sizes or more. Got {times}.")
    A = np.stack([np.ones_like(xs), xs], axis=1)
    coef, res, *_ = np.linalg.lstsq(A, ys, rcond=None)
    dof = max(1, len(xs) - 2)
    sigma2 = float(((ys - A @ coef) ** 2).sum()) / dof
    se = math.sqrt(sigma2 / float(((xs - xs.mean()) ** 2).sum()))
    return {"slope": float(coef[1]), "stderr": se, "sizes": list(sizes),
            "median_s": [statistics.median(t) for t in times]}


# -- targets and results -----------------------------------------------------------------------


class Targets:
    """Issue targets as measured ratios, each printed with PASS or MISS and kept for the JSON."""

    def __init__(self):
        self.rows: list[dict] = []

    def add(self, target: str, case: str, value: float, relation: str, bound: float, cpu: float | None = None,
            note: str = ""):
        """``value`` is the wall-clock figure the verdict is on; ``cpu`` the same ratio in CPU time."""
        ok = value <= bound if relation == "<=" else value >= bound
        self.rows.append({"target": target, "case": case, "value": value, "cpu_value": cpu, "relation": relation,
                          "bound": bound, "pass": bool(ok), "note": note})

    def print(self, title: str = "targets") -> None:
        print(f"\n{title}: measured ratio (wall clock; CPU time in brackets), bound, verdict")
        width = max([len(r["case"]) for r in self.rows] + [10])
        for r in self.rows:
            verdict = "PASS" if r["pass"] else "MISS"
            note = f"  [{r['note']}]" if r["note"] else ""
            cpu = f"({r['cpu_value']:.3g})" if r["cpu_value"] is not None else ""
            print(f"  {r['target']:<4} {r['case']:<{width}}  {r['value']:8.3g} {cpu:>8} {r['relation']} "
                  f"{r['bound']:<6g} {verdict}{note}")
        missed = sum(not r["pass"] for r in self.rows)
        print(f"  {len(self.rows) - missed}/{len(self.rows)} PASS")


def timing_parser(description: str) -> argparse.ArgumentParser:
    """The options every timing benchmark takes: --quick, --rounds, --budget, --threads."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="small shapes and 3 rounds (a smoke run)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--budget", type=float, default=0.1, help="seconds per case per round (default 0.1)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    return ap


def write_json(path: str | None, name: str, payload: dict) -> str:
    """Write ``payload`` (with the load average at the end added) as JSON; returns the path."""
    payload = {**payload, "load_average_end": load_average(),
               "finished": datetime.datetime.now().isoformat(timespec="seconds")}
    if path is None:
        os.makedirs(RESULTS, exist_ok=True)
        path = os.path.join(RESULTS, f"{name}.json")
    with open(path, "w") as fh:
        json.dump(payload, fh, indent=1, default=float)
        fh.write("\n")
    print(f"\nload average at the end {payload['load_average_end']}; figures written to {path}")
    return path

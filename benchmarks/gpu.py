"""GPU check of issue 14 item 7: CTMA(CWMed) throughput, the simulation step, host synchronisations, CPU parity.

Run on a CUDA machine from the repository root: python benchmarks/gpu.py [--quick]
About 2-4 minutes on an H200 (the larger part is the CPU side of the parity checks). Prints
one JSON line on stdout (progress goes to stderr) and writes it to benchmarks/results/gpu.json.
Every section records its error instead of stopping the script.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from sco.aggregators import parse  # noqa: E402
from sco.random import Stream  # noqa: E402
from sco.simulate import Experiment, Plan, _Simulation  # noqa: E402

DEV = torch.device("cuda")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def section(out: dict, name: str, fn):
    t0 = time.perf_counter()
    try:
        out[name] = fn()
    except Exception as e:  # keep going: the JSON says what failed
        out[name] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=6)}
    log(f"{name}: {time.perf_counter() - t0:.1f} s")
    torch.cuda.empty_cache()


def cuda_time(fn, repeats=5) -> list[float]:
    """Seconds per call by CUDA events, after a warm-up call."""
    fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(repeats):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        out.append(a.elapsed_time(b) / 1e3)
    return out


# -- 1. worker-coordinates per second through CTMA(CWMed) --------------------------------------


def throughput(R, m, d):
    x = torch.randn(R, m, d, device=DEV)
    agg = parse("ctma(cwmed)")
    t = cuda_time(lambda: agg(x, None, lam=0.1))
    mean = cuda_time(lambda: x.mean(-2))
    wc = R * m * d / statistics.median(t)
    return {"R": R, "m": m, "d": d, "seconds": t, "mean_seconds": mean,
            "worker_coordinates_per_s": wc, "target": 1e9, "pass": wc >= 1e9}


# -- 2. the simulation step, 3. no host synchronisation in the step loop --------------------------


def experiment(R, m, d, T, dtype="float32", device=None, log_steps=None):
    return Experiment(objective={"name": "quadratic", "d": d, "rotate": False, "mu": 0.1},
                      noise={"name": "gaussian", "sigma": 1.0}, m=m, aggregator="ctma(cwmed)", lam=0.1,
                      algorithm={"name": "mu2sgd", "eta": 1e-3}, T=T, seeds=R, log=log_steps or [T],
                      dtype=dtype, device=device or DEV.type, progress=False)


class Timed(_Simulation):
    """Timestamps at every step start (synchronizing, for timing only)."""

    def _progress(self):
        self.stamps = []
        for t in super()._progress():
            torch.cuda.synchronize()
            self.stamps.append(time.perf_counter())
            yield t


class SyncChecked(_Simulation):
    """Steps 2..T-1 (not the first, which caches constants, nor the last, which logs) run
    under torch.cuda.set_sync_debug_mode("warn"): every synchronizing call warns."""

    def _progress(self):
        self.syncs = []
        T = self.p.T
        for t in super()._progress():
            if t == 2:
                self._catch = warnings.catch_warnings(record=True)
                self._records = self._catch.__enter__()
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode("warn")
            if t == T and t > 2:
                torch.cuda.set_sync_debug_mode(0)
                self._catch.__exit__(None, None, None)
                self.syncs = [f"{w.filename}:{w.lineno}: {str(w.message)[:120]}" for w in self._records]
            yield t


def sim_step(R, m, d, T=6):
    while True:
        try:
            sim = Timed(Plan(experiment(R, m, d, T)))
            sim.run()
            steps = list(np.diff(sim.stamps))  # the last stamp starts the logging step
            break
        except torch.OutOfMemoryError:
            if R == 1:
                raise
            R //= 2
            torch.cuda.empty_cache()
    rn = cuda_time(lambda: torch.randn(R, m, d, device=DEV), repeats=3)
    x = torch.randn(R, m, d, device=DEV)
    agg = parse("ctma(cwmed)")
    ag = cuda_time(lambda: agg(x, None, lam=0.1), repeats=3)
    step = statistics.median(steps)
    floor = statistics.median(rn) + statistics.median(ag)
    return {"R": R, "m": m, "d": d, "step_seconds": steps, "randn_seconds": rn, "aggregate_seconds": ag,
            "step_over_randn_plus_aggregate": step / floor, "worker_coordinates_per_s": R * m * d / step}


def sync_check(R, m, d):
    sim = SyncChecked(Plan(experiment(R, m, d, T=6)))
    sim.run()
    return {"R": R, "m": m, "d": d, "steps_checked": "2..5 of 6", "host_syncs": len(sim.syncs),
            "where": sim.syncs[:20], "pass": len(sim.syncs) == 0}


# -- 4. results match the CPU's within float32 tolerance -----------------------------------------

RULES = ["mean", "cwmed", "cwmed[mode=lower]", "cwtm", "geometric_median", "rfa", "krum", "multi_krum",
         "centered_clipping[tau=1.0]", "ctma(cwmed)", "ctma(geometric_median)", "nnm(cwtm)", "nnm+ctma(cwmed)",
         "bucketing(cwmed)"]


def parity():
    g = np.random.default_rng(0)
    x = torch.from_numpy(g.normal(size=(4, 37, 300)).astype(np.float32) + 2.0)
    w = torch.from_numpy(g.uniform(0.2, 3.0, size=(4, 37)))
    rules = {}
    for spec in RULES:
        agg = parse(spec)
        devs = []
        for weights in (None, w):
            kw = dict(lam=9 / 37, center=torch.zeros(4, 300), generator=Stream([0, 1, 2, 3]))
            cpu = agg(x, weights, **kw)
            gpu = agg(x.to(DEV), None if weights is None else weights.to(DEV),
                      lam=kw["lam"], center=kw["center"].to(DEV), generator=Stream([0, 1, 2, 3], device=DEV)).cpu()
            devs.append(float((gpu - cpu).abs().max() / cpu.abs().max()))
        rules[spec] = {"rel_dev_unweighted": devs[0], "rel_dev_weighted": devs[1], "pass": max(devs) <= 1e-4}
    s = Stream(list(range(8)))
    bits_equal = bool(torch.equal(s.fold("a").bits((1000,)), s.to(DEV).fold("a").bits((1000,)).cpu()))
    normal_dev = float((s.fold("a").normal((1000,), torch.float32)
                        - s.to(DEV).fold("a").normal((1000,), torch.float32).cpu()).abs().max())
    cpu_tr = Plan(experiment(4, 200, 100, 30, device="cpu", log_steps=[10, 30])).run()
    gpu_tr = Plan(experiment(4, 200, 100, 30, device=DEV.type, log_steps=[10, 30])).run()
    traces = {k: float(np.max(np.abs(gpu_tr.metrics[k] - cpu_tr.metrics[k]) / (np.abs(cpu_tr.metrics[k]) + 1e-30)))
              for k in cpu_tr.metrics}
    return {"rules": rules, "bits_equal": bits_equal, "float32_normal_max_abs_dev": normal_dev,
            "trace_max_rel_dev": traces, "pass": all(r["pass"] for r in rules.values()) and bits_equal
            and normal_dev <= 1e-5 and max(traces.values()) <= 1e-3}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"error": "no CUDA device"}))
        return
    out = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "cuda": torch.version.cuda}
    R, m, d = (8, 1000, 100) if args.quick else (64, 10_000, 1_000)
    section(out, "ctma_cwmed_throughput", lambda: throughput(R, m, d))
    section(out, "sim_step", lambda: sim_step(R, m, d))
    section(out, "host_syncs_in_step_loop", lambda: sync_check(8, 1000, 100))
    section(out, "cpu_parity", parity)
    out["peak_gpu_memory_GiB"] = torch.cuda.max_memory_allocated() / 2**30
    line = json.dumps(out, default=float)
    results = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    os.makedirs(results, exist_ok=True)
    with open(os.path.join(results, "gpu.json"), "w") as fh:
        fh.write(line + "\n")
    print(line)


if __name__ == "__main__":
    main()

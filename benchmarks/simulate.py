"""Speed of the batched simulator: per-step time against its floor and a per-worker loop, cost exponents.

Run: python benchmarks/simulate.py [--quick] [--dtype float32|float64] [--device cpu|cuda]
Prints ratios measured side by side in one run (no timed assertions anywhere).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np
import torch

from sco.aggregators import parse
from sco.random import Stream
from sco.simulate import Experiment, Plan


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timeit(fn, device, repeat=3):
    """Median wall time of ``fn`` over ``repeat`` calls after one warm-up call."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def experiment(R, m, d, T, dtype, device, aggregator="ctma(cwmed)"):
    return Experiment(objective={"name": "quadratic", "d": d, "rotate": False, "mu": 0.1},
                      noise={"name": "gaussian", "sigma": 1.0}, m=m, aggregator=aggregator, lam=0.1,
                      algorithm={"name": "mu2sgd", "eta": 1e-3}, T=T, seeds=R, log=[T],
                      dtype=dtype, device=device, progress=False)


def step_time(R, m, d, dtype, device, T=6, repeat=3):
    """Seconds per step of a T-step run, excluding the one-off setup (the difference of a
    T-step and a 1-step run)."""
    plans = {n: Plan(experiment(R, m, d, n, dtype, device)) for n in (1, T)}
    full = timeit(plans[T].run, torch.device(device), repeat)
    one = timeit(plans[1].run, torch.device(device), repeat)
    return (full - one) / (T - 1)


def floor_time(R, m, d, dtype, device, repeat=3):
    """Noise generation plus one aggregation on the same shapes: what no simulator can avoid."""
    dt = getattr(torch, dtype)
    dev = torch.device(device)
    s = Stream(list(range(R)), device=dev)
    x = s.normal((m, d), dt)
    agg = parse("ctma(cwmed)")
    noise = timeit(lambda: s.fold("n").normal((m, d), dt), dev, repeat)
    aggregate = timeit(lambda: agg(x, None, lam=0.1), dev, repeat)
    return noise, aggregate


def loop_step_time(R, m, d, dtype, device, steps=1):
    """One step of mu^2-SGD written the way the authors' code runs it: a Python loop over
    workers, each with its own state, two gradient evaluations on its sample (the current and
    the previous point), the STORM update, then the aggregation of the stacked messages and
    the AnyTime server step, per run."""
    dt = getattr(torch, dtype)
    dev = torch.device(device)
    A = torch.diag(torch.linspace(0.1, 1.0, d, dtype=dt, device=dev))
    c = torch.randn(d, dtype=dt, device=dev)
    agg = parse("ctma(cwmed)")
    gen = torch.Generator(device=dev).manual_seed(0)
    x = [torch.zeros(d, dtype=dt, device=dev) for _ in range(R)]
    x_prev = [xi.clone() for xi in x]
    w = [xi.clone() for xi in x]
    states = [[torch.zeros(d, dtype=dt, device=dev) for _ in range(m)] for _ in range(R)]
    eta, t = 1e-3, 2

    def step():
        nonlocal t
        for r in range(R):
            msgs = []
            for i in range(m):
                z = torch.randn(d, generator=gen, dtype=dt, device=dev) / math.sqrt(d)
                g = A @ (x[r] - c) + z
                g_prev = A @ (x_prev[r] - c) + z
                states[r][i] = g + (1 - 1 / t) * (states[r][i] - g_prev)
                msgs.append(states[r][i])
            d_hat = agg(torch.stack(msgs), None, lam=0.1)
            w[r] = w[r] - eta * t * d_hat
            x_prev[r] = x[r]
            x[r] = x[r] + 2 / (t + 2) * (w[r] - x[r])
        t += 1
    return timeit(step, dev, repeat=steps)


def exponent(xs, ys):
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    R, m, d = (4, 200, 200) if args.quick else (16, 1000, 1000)
    dev, dt = args.device, args.dtype
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {dev}, dtype {dt}")

    step = step_time(R, m, d, dt, dev)
    noise, aggregate = floor_time(R, m, d, dt, dev)
    floor = noise + aggregate
    print(f"\nR={R}, m={m}, d={d}, ctma(cwmed) + mu2sgd")
    print(f"  step                      {step * 1e3:9.1f} ms")
    print(f"  floor (noise + aggregate) {floor * 1e3:9.1f} ms  ({noise * 1e3:.1f} + {aggregate * 1e3:.1f})")
    print(f"  step / floor              {step / floor:9.2f}   (target <= 4)")
    loop_R = max(1, R // 8)  # the loop is slow: time fewer runs and scale linearly in R
    loop = loop_step_time(loop_R, m, d, dt, dev) * R / loop_R
    print(f"  per-worker Python loop    {loop * 1e3:9.1f} ms  (timed on R={loop_R}, scaled to R={R})")
    print(f"  loop / step               {loop / step:9.1f}   (target >= 100)")
    print(f"  worker side only: loop {(loop - aggregate) * 1e3:.1f} ms vs batched {(step - aggregate) * 1e3:.1f} ms"
          f" = {(loop - aggregate) / max(step - aggregate, 1e-9):.1f}x")
    # the loop pays Python per worker, the batched step pays per coordinate: the ratio falls with d
    print("\nloop / step by dimension (same R and m):")
    for dd in ((5, 20) if args.quick else (10, 100)):
        s_d = step_time(R, m, dd, dt, dev)
        l_d = loop_step_time(loop_R, m, dd, dt, dev) * R / loop_R
        print(f"  d={dd:<5} step {s_d * 1e3:8.1f} ms  loop {l_d * 1e3:8.0f} ms  loop/step {l_d / s_d:6.0f}x")

    ms = [m // 4, m // 2, m, 2 * m] if not args.quick else [50, 100, 200]
    ts = [step_time(R, mi, d, dt, dev, T=4, repeat=2) for mi in ms]
    print(f"\ncost exponent in m (R={R}, d={d}): {exponent(ms, ts):.2f}   "
          + ", ".join(f"m={mi}: {ti * 1e3:.0f} ms" for mi, ti in zip(ms, ts)))
    Rs = [R // 4, R // 2, R, 2 * R]
    ts = [step_time(Ri, m, d, dt, dev, T=4, repeat=2) for Ri in Rs]
    print(f"cost exponent in R (m={m}, d={d}): {exponent(Rs, ts):.2f}   "
          + ", ".join(f"R={Ri}: {ti * 1e3:.0f} ms" for Ri, ti in zip(Rs, ts)))

    big_m = 10_000 if args.quick else 100_000
    t0 = time.perf_counter()
    plan = Plan(experiment(1, big_m, 100, 5, dt, dev))
    tr = plan.run()
    secs = time.perf_counter() - t0
    print(f"\n{big_m} workers, d=100, 5 steps: {secs:.1f} s in all, excess {tr.final('excess')[0]:.3g}, "
          f"state {plan.state_bytes / 2**20:.0f} MiB")
    wc = R * m * d / step
    print(f"throughput: {wc:.3g} worker-coordinates per second at R={R}, m={m}, d={d} on {dev}")


if __name__ == "__main__":
    main()

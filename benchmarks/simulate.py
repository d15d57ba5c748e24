"""Speed of the batched simulator: its step against (torch.randn of the same numbers + one aggregation), a per-worker loop, exponents.

Run: python benchmarks/simulate.py [--quick] [--dtype float32|float64] [--device cpu|cuda] [--json PATH]
Step times are read inside the step loop (a timestamp per step, never a difference of two
runs, so never negative); ratios are taken per interleaved round; exponents are least-squares
slopes over every measured step. Figures go to benchmarks/results/simulate.json.
"""

from __future__ import annotations

import _harness  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

import argparse  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _harness import Targets, environment, exponent, interleaved, paired_ratio, print_environment, write_json  # noqa: E402
from sco.aggregators import parse  # noqa: E402
from sco.simulate import Experiment, Plan, _Simulation  # noqa: E402


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class TimedSimulation(_Simulation):
    """The simulator with a timestamp at the start of every step (its step loop's iterator)."""

    def _progress(self):
        self.stamps, self.cpu_stamps = [], []
        for t in super()._progress():
            _sync(self.dev)
            self.stamps.append(time.perf_counter())
            self.cpu_stamps.append(time.process_time())
            yield t
        _sync(self.dev)
        self.stamps.append(time.perf_counter())
        self.cpu_stamps.append(time.process_time())


def experiment(R, m, d, T, dtype, device, aggregator="ctma(cwmed)"):
    return Experiment(objective={"name": "quadratic", "d": d, "rotate": False, "mu": 0.1},
                      noise={"name": "gaussian", "sigma": 1.0}, m=m, aggregator=aggregator, lam=0.1,
                      algorithm={"name": "mu2sgd", "eta": 1e-3}, T=T, seeds=R, log=[T],
                      dtype=dtype, device=device, progress=False)


def step_times(R, m, d, dtype, device, T=6, cpu=False) -> list[float]:
    """Seconds of each full step of a T-step run but the last (which logs): draw, gradients,
    estimator update, aggregation, server step. With ``cpu`` also the CPU seconds."""
    sim = TimedSimulation(Plan(experiment(R, m, d, T, dtype, device)))
    sim.run()
    wall = [float(v) for v in np.diff(sim.stamps[:-1])]
    return (wall, [float(v) for v in np.diff(sim.cpu_stamps[:-1])]) if cpu else wall


def floor_cases(R, m, d, dtype, device):
    """torch.randn of the step's numbers (R, m, d) and one aggregation of such a table."""
    dt, dev = getattr(torch, dtype), torch.device(device)
    x = torch.randn(R, m, d, dtype=dt, device=dev)
    agg = parse("ctma(cwmed)")
    return {"randn": lambda: torch.randn(R, m, d, dtype=dt, device=dev),
            "aggregate": lambda: agg(x, None, lam=0.1)}


def loop_step(R, m, d, dtype, device):
    """One step of mu^2-SGD written the way the authors' code runs it, as a function: a Python
    loop over workers, each with its own state, two gradient evaluations on its sample (the
    current and the previous point), the STORM update, then the aggregation of the stacked
    messages and the AnyTime server step, per run."""
    dt, dev = getattr(torch, dtype), torch.device(device)
    A = torch.diag(torch.linspace(0.1, 1.0, d, dtype=dt, device=dev))
    c = torch.randn(d, dtype=dt, device=dev)
    agg = parse("ctma(cwmed)")
    gen = torch.Generator(device=dev).manual_seed(0)
    x = [torch.zeros(d, dtype=dt, device=dev) for _ in range(R)]
    x_prev = [xi.clone() for xi in x]
    w = [xi.clone() for xi in x]
    states = [[torch.zeros(d, dtype=dt, device=dev) for _ in range(m)] for _ in range(R)]
    eta, t = 1e-3, [2]

    def step():
        for r in range(R):
            msgs = []
            for i in range(m):
                z = torch.randn(d, generator=gen, dtype=dt, device=dev) / math.sqrt(d)
                g = A @ (x[r] - c) + z
                g_prev = A @ (x_prev[r] - c) + z
                states[r][i] = g + (1 - 1 / t[0]) * (states[r][i] - g_prev)
                msgs.append(states[r][i])
            d_hat = agg(torch.stack(msgs), None, lam=0.1)
            w[r] = w[r] - eta * t[0] * d_hat
            x_prev[r] = x[r]
            x[r] = x[r] + 2 / (t[0] + 2) * (w[r] - x[r])
        t[0] += 1
    return step


def per_worker_loop(R, m, d, dtype, device) -> float:
    """Seconds of one step of the per-worker loop on R runs, after a warm-up step."""
    step = loop_step(R, m, d, dtype, device)
    step()
    _sync(torch.device(device))
    t0 = time.perf_counter()
    step()
    _sync(torch.device(device))
    return time.perf_counter() - t0


def batch_independence(R, m, d, dtype, device) -> dict:
    """Whether a run's numbers depend on its batch: the step's random numbers (seed 3 alone
    against seeds 0..R-1, at the step's shape, bit for bit), and a short run's trace in
    float64 (in float32 the simulator's batched products may round differently per batch
    size, which is arithmetic, not randomness)."""
    from sco.random import Stream
    dt, dev = getattr(torch, dtype), torch.device(device)
    workers = torch.arange(m, device=dev)
    batch = Stream(list(range(R)), device=dev).fold("grad", 7).fold(workers.expand(R, m)).normal((d,), dt)
    alone = Stream(3, device=dev).fold("grad", 7).fold(workers.expand(1, m)).normal((d,), dt)
    numbers = bool(torch.equal(batch[3], alone[0]))

    def run(seeds):
        return Plan(Experiment(objective={"name": "quadratic", "d": 20}, noise={"name": "gaussian", "sigma": 1.0},
                               m=30, aggregator="ctma(cwmed)", lam=0.1, algorithm={"name": "mu2sgd", "eta": 0.05},
                               T=20, seeds=seeds, log=[5, 20], dtype="float64", device=device, progress=False)).run()
    a, b = run([3]), run([0, 1, 2, 3, 4])
    trace = all(np.array_equal(a.metrics[k][0], b.metrics[k][3], equal_nan=True) for k in a.metrics)
    return {"random_numbers": numbers, "float64_trace": trace}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=["step", "loop", "exponents", "workers"], action="append",
                    help="run only these parts (repeatable)")
    ap.add_argument("--json", default=None, help="where to write the figures (default benchmarks/results/simulate.json)")
    args = ap.parse_args(argv)
    parts = set(args.only or ["step", "loop", "exponents", "workers"])
    env = environment(args.threads)
    print_environment(env)
    rounds = 3 if args.quick else args.rounds
    R, m, d = (4, 200, 200) if args.quick else (16, 1000, 1000)
    dev, dt = args.device, args.dtype
    targets, out = Targets(), {"env": env, "args": vars(args)}
    print(f"device {dev}, dtype {dt}")

    # target 5: the step against its floor, interleaved round by round
    steps, steps_cpu = [], []
    floors, floors_cpu = {"randn": [], "aggregate": []}, {"randn": [], "aggregate": []}
    cases = floor_cases(R, m, d, dt, dev)
    step_times(R, m, d, dt, dev, T=3)  # warm-up
    for _ in range(rounds):
        w, c = step_times(R, m, d, dt, dev, cpu=True)
        steps.append(statistics.median(w))
        steps_cpu.append(statistics.median(c))
        fw, fc = interleaved(cases, 1, budget=0.2, sync=lambda: _sync(torch.device(dev)))
        for k in floors:
            floors[k] += fw[k]
            floors_cpu[k] += fc[k]
    floor = [a + b for a, b in zip(floors["randn"], floors["aggregate"])]
    ratio = paired_ratio(steps, floor)
    ratio_cpu = paired_ratio(steps_cpu, [a + b for a, b in zip(floors_cpu["randn"], floors_cpu["aggregate"])])
    same = batch_independence(R, m, d, dt, dev)
    print(f"\nR={R}, m={m}, d={d}, ctma(cwmed) + mu2sgd, {rounds} interleaved rounds (CPU time in brackets)")
    print(f"  step                        {statistics.median(steps) * 1e3:9.1f} ms ({statistics.median(steps_cpu) * 1e3:.1f})")
    print(f"  torch.randn (R, m, d)       {statistics.median(floors['randn']) * 1e3:9.1f} ms "
          f"({statistics.median(floors_cpu['randn']) * 1e3:.1f})")
    print(f"  one aggregation             {statistics.median(floors['aggregate']) * 1e3:9.1f} ms "
          f"({statistics.median(floors_cpu['aggregate']) * 1e3:.1f})")
    print(f"  step / (randn + aggregate)  {ratio:9.2f}  ({ratio_cpu:.2f})   (target <= 2)")
    print(f"  seed alone == seed in a batch, bit for bit: random numbers {same['random_numbers']}, "
          f"float64 trace {same['float64_trace']}")
    targets.add("5", f"step / (randn + aggregate) (R={R}, {m}, {d})", ratio, "<=", 2.0, cpu=ratio_cpu)
    targets.add("5", "random numbers batch-independent (1 = bit-identical)", float(same["random_numbers"]), ">=", 1.0)
    out["step"] = {"R": R, "m": m, "d": d, "step_s": steps, "step_cpu_s": steps_cpu, "randn_s": floors["randn"],
                   "randn_cpu_s": floors_cpu["randn"], "aggregate_s": floors["aggregate"],
                   "aggregate_cpu_s": floors_cpu["aggregate"], "ratio": ratio, "ratio_cpu": ratio_cpu,
                   "batch_independent": same}
    step = statistics.median(steps)
    if "loop" in parts:  # the per-worker Python loop the batched simulator replaces
        loop_R = max(1, R // 8)
        loop = per_worker_loop(loop_R, m, d, dt, dev) * R / loop_R
        print(f"  per-worker Python loop      {loop * 1e3:9.1f} ms  (timed on R={loop_R}, scaled to R={R})")
        print(f"  loop / step                 {loop / step:9.1f}")
        out["loop"] = {"R_timed": loop_R, "seconds_scaled": loop, "loop_over_step": loop / step}

    if "exponents" in parts:  # exponents in m and R, from every measured step
        ms = [50, 100, 200] if args.quick else [m // 4, m // 2, m, 2 * m]
        Rs = [R // 4, R // 2, R, 2 * R]
        tm = [sum((step_times(R, mi, d, dt, dev, T=4) for _ in range(2)), []) for mi in ms]
        tR = [sum((step_times(Ri, m, d, dt, dev, T=4) for _ in range(2)), []) for Ri in Rs]
        em, eR = exponent(ms, tm), exponent(Rs, tR)
        print(f"\ncost exponent in m (R={R}, d={d}): {em['slope']:.2f} +- {em['stderr']:.2f}   "
              + ", ".join(f"m={mi}: {t * 1e3:.0f} ms" for mi, t in zip(ms, em["median_s"])))
        print(f"cost exponent in R (m={m}, d={d}): {eR['slope']:.2f} +- {eR['stderr']:.2f}   "
              + ", ".join(f"R={Ri}: {t * 1e3:.0f} ms" for Ri, t in zip(Rs, eR["median_s"])))
        out["exponents"] = {"m": em, "R": eR}

    if "workers" in parts:
        big_m = 10_000 if args.quick else 100_000
        t0 = time.perf_counter()
        plan = Plan(experiment(1, big_m, 100, 5, dt, dev))
        tr = plan.run()
        secs = time.perf_counter() - t0
        print(f"\n{big_m} workers, d=100, 5 steps: {secs:.1f} s in all, excess {tr.final('excess')[0]:.3g}, "
              f"state {plan.state_bytes / 2**20:.0f} MiB")
        out["many_workers"] = {"m": big_m, "d": 100, "T": 5, "seconds": secs}
    wc = R * m * d / step
    print(f"throughput: {wc:.3g} worker-coordinates per second through a step at R={R}, m={m}, d={d} on {dev}")
    out["worker_coordinates_per_s"] = wc

    targets.print("issue 14 target 5")
    out["targets"] = targets.rows
    write_json(args.json, "simulate" + ("-quick" if args.quick else ""), out)


if __name__ == "__main__":
    main()

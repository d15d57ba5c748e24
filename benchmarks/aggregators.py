"""Speed of the aggregators: relative to the mean, relative to ByzFL, and the cost exponent in m."""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import types

import numpy as np
import torch

from sco.aggregators import parse
from sco.experiments import call_times
from sco.random import Stream

SHAPES = [(100, 100_000), (1000, 1_000), (17, 1_000_000)]


def load_byzfl():
    """ByzFL's aggregators and pre-aggregators, or None.

    ``import byzfl`` also imports its federated-learning framework, which needs torchvision
    and seaborn; the aggregators need neither, so the package is opened without running its
    ``__init__``.
    """
    spec = importlib.util.find_spec("byzfl")
    if spec is None:
        return None
    if "byzfl" not in sys.modules:
        pkg = types.ModuleType("byzfl")
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules["byzfl"] = pkg
    from byzfl.aggregators import aggregators, preaggregators
    return types.SimpleNamespace(**{k: getattr(aggregators, k) for k in dir(aggregators) if k[0].isupper()},
                                 **{k: getattr(preaggregators, k) for k in dir(preaggregators) if k[0].isupper()})


def timeit(fn, repeats: int, budget: float = 0.05) -> tuple[float, float]:
    """Seconds per call: (median, best) over ``repeats`` repeats of enough calls to last ``budget``.

    On a shared machine the median carries the time lost to other processes (a 2-thread op
    waits for a descheduled thread, a scheduler quantum of ~4-8 ms); the best repeat is
    closer to the machine's own speed. Both are printed.
    """
    times = call_times(fn, repeats=repeats, budget=budget)
    return statistics.median(times), min(times)


def rules(byzfl):
    """(label, our spec, ByzFL factory (f, s) -> callable or None, convention note); the
    factories are called only when ByzFL is installed."""
    B = byzfl

    def nnm_avg(f, s):
        nn, avg = B.NNM(f), B.Average()
        return lambda x: avg(nn(x))

    def bucket_med(f, s):
        bk, med = B.Bucketing(s), B.Median()
        return lambda x: med(bk(x))

    return [
        ("mean", "mean", (lambda f, s: B.Average()), "same"),
        ("cwmed (lower)", "cwmed", None, ""),
        ("cwmed[interpolate]", "cwmed[mode=interpolate]", (lambda f, s: B.Median()),
         "ByzFL Median = interpolating"),
        ("cwtm", "cwtm", (lambda f, s: B.TrMean(f)), "lam = f/m"),
        ("geometric_median", "geometric_median", None, "Weiszfeld to tol"),
        ("rfa (3 steps)", "rfa", (lambda f, s: B.GeometricMedian()), "nu=0.1, T=3, z0=0"),
        ("krum[byzfl]", "krum[neighbors=byzfl]", (lambda f, s: B.Krum(f)), "m-f-1 neighbours"),
        ("multi_krum[byzfl]", "multi_krum[neighbors=byzfl]", (lambda f, s: B.MultiKrum(f)),
         "q = m-f"),
        ("centered_clipping", "centered_clipping[tau=100.0]",
         (lambda f, s: B.CenteredClipping(tau=100.0)), "center 0, L=1"),
        ("nnm(mean)", "nnm(mean)", nnm_avg, "NNM(f) then Average"),
        ("ctma(mean)", "ctma(mean)", None, "CTMA's own cost"),
        ("ctma(cwmed)", "ctma(cwmed)", None, ""),
        ("nnm+ctma(cwmed)", "nnm+ctma(cwmed)", None, ""),
        ("bucketing(cwmed[interp])", "bucketing(cwmed[mode=interpolate])", bucket_med,
         "random buckets: not compared"),
    ]


def agree(theirs, ours: torch.Tensor, exact: torch.Tensor, label: str) -> str:
    """ByzFL's output against ours, both against our rule evaluated in float64 (``exact``)."""
    if label.startswith("bucketing"):
        return "n/a (random)"
    theirs = torch.as_tensor(theirs, dtype=torch.float64).reshape(exact.shape)
    tol = 1e-4 * (float(exact.abs().max()) or 1.0)
    err_b, err_o = float((theirs - exact).abs().max()), float((ours.double() - exact).abs().max())
    return "yes" if err_b <= tol else f"NO: ByzFL off by {err_b:.1e}, ours {err_o:.1e} (vs float64)"


USAGE = """Prints, for each rule at (m, d) = (100, 1e5), (1000, 1e3), (17, 1e6) in float32, the
median time of several repeats after a warm-up, that time over x.mean(-2) on the same input,
ByzFL 0.0.11's time for its equivalent over ours (with a check that the outputs agree up to
the stated convention), and the exponent of a power-law fit of time against m at fixed d.
ByzFL is optional (pip install .[bench]); without it those columns say so."""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, epilog=USAGE)
    ap.add_argument("--quick", action="store_true", help="small shapes and few repeats (smoke run)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    shapes = [(100, 10_000), (200, 1_000), (17, 100_000)] if args.quick else SHAPES
    repeats = 3 if args.quick else args.repeats
    try:
        byzfl = load_byzfl()
    except ImportError as e:  # a broken install
        byzfl, why = None, f"ByzFL not importable ({e})"
    else:
        why = "ByzFL not installed (pip install .[bench])"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32; "
          f"median of {repeats} repeats after a warm-up; load average {_load()}")
    print(why if byzfl is None else "ByzFL 0.0.11 found: speedup = ByzFL time / our time "
          "(median over median, best over best)")
    header = (f"{'rule':26s} {'m':>5s} {'d':>8s} {'ours ms':>9s} {'best':>8s} {'x mean':>7s} "
              f"{'ByzFL ms':>9s} {'best':>8s} {'speedup':>8s} {'best':>6s}  equal to ours")
    table = rules(byzfl)
    gen = Stream(0)
    for m, d in shapes:
        f = m // 4
        lam = f / m
        x = torch.from_numpy(np.random.default_rng(0).normal(size=(m, d)).astype(np.float32) + 1.0)
        t_mean, _ = timeit(lambda: x.mean(-2), repeats)
        print()
        print(header)
        for label, spec, factory, note in table:
            agg = parse(spec)
            kw = dict(lam=lam, center=torch.zeros(d), generator=gen)
            (t, t_best) = timeit(lambda: agg(x, **kw), repeats)
            row = f"{label:26s} {m:5d} {d:8d} {t * 1e3:9.2f} {t_best * 1e3:8.2f} {t / t_mean:7.1f} "
            if byzfl is None or factory is None:
                row += f"{'n/a' if byzfl is None else '—':>9s}"
            else:
                s = max(1, m // (2 * f))
                reps = 1 if (label.startswith("nnm") and m * d >= 10**7) else repeats
                fresh = label == "centered_clipping"  # ByzFL's CenteredClipping keeps its center as state
                obj = factory(f, s)
                call = (lambda: factory(f, s)(x)) if fresh else (lambda: obj(x))
                b, b_best = timeit(call, reps, budget=0.0 if reps == 1 else 0.05)
                exact = agg(x.double(), lam=lam, center=torch.zeros(d, dtype=torch.float64), generator=gen)
                eq = agree(call(), agg(x, **kw), exact, label)
                row += f"{b * 1e3:9.1f} {b_best * 1e3:8.1f} {b / t:7.1f}x {b_best / t_best:5.1f}x  {eq}"
            print(row + (f"  [{note}]" if note else ""))
    # cost exponent in m at fixed d: slope of log(best time) on log m
    d = 2_000 if args.quick else 10_000
    ms = [64, 128, 256] if args.quick else [64, 128, 256, 512, 1024]
    print(f"\ncost exponent in m (d = {d}, m in {ms}, lam = 1/4): slope of log(best time) vs log m")
    for label, spec, *_ in table:
        agg = parse(spec)
        ts = []
        for m in ms:
            x = torch.from_numpy(np.random.default_rng(1).normal(size=(m, d)).astype(np.float32))
            kw = dict(lam=0.25, center=torch.zeros(d), generator=gen)
            ts.append(timeit(lambda: agg(x, **kw), repeats, budget=0.2)[1])
        slope = np.polyfit(np.log(ms), np.log(ts), 1)[0]
        print(f"  {label:26s} {slope:5.2f}   ({', '.join(f'{t * 1e3:.2f}' for t in ts)} ms)")
    print(f"load average at the end: {_load()}")


def _load() -> str:
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()

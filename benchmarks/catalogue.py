"""Speed of the catalogue rules (MDA, SMEA, Meamed, CAF, MoNNA, the Flag Aggregator, ARC, clipping):
relative to the mean and to ByzFL 0.0.11, at the shapes of benchmarks/aggregators.py."""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from benchmarks.aggregators import SHAPES, _load, load_byzfl, timeit
from sco.aggregators import parse
from sco.aggregators.subset import MAX_SUBSETS


def rules(B):
    """(label, our spec, ByzFL factory f -> callable on a tensor or None, ByzFL output comparable, note)."""

    def then_mean(pre):  # ByzFL's pre-aggregators mutate their input: they get a copy (timed with them)
        return lambda f: (lambda x: B.Average()(pre(f)(x.clone())))

    return [
        ("mda", "mda", lambda f: B.MDA(f), True, "exact, C(m, f) subsets"),
        ("smea", "smea", lambda f: B.SMEA(f), False, "ByzFL: 1 random power step per subset"),
        ("meamed", "meamed", lambda f: B.Meamed(f), True, ""),
        ("caf", "caf", lambda f: B.CAF(f), False, "ByzFL: 1 random power step, max over all rows"),
        ("monna", "monna", lambda f: B.MoNNA(f, 0), True, "idx = 0"),
        ("flag (r=1)", "flag", None, False, "FlagIRLS to tol"),
        ("flag (r=8)", "flag[r=8]", None, False, "the authors' scripts' r"),
        ("arc(mean)", "arc(mean)", then_mean(lambda f: B.ARC(f)), True, "ByzFL timed with a copy"),
        ("clipping(mean)", "clipping(mean)", then_mean(lambda f: B.Clipping()), True, "c = 2, ByzFL with a copy"),
    ]


def _time(fn, repeats: int, slow: float) -> tuple[float, float, int]:
    """(median, best, calls): one cold call when it takes longer than ``slow`` seconds, else :func:`timeit`."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    if first > slow:
        return first, first, 1
    med, best = timeit(fn, repeats)
    return med, best, repeats


def compare(theirs, ours: torch.Tensor, exact: torch.Tensor) -> str:
    """ByzFL's output against ours, both against our rule in float64; counts the coordinates that differ."""
    theirs = torch.as_tensor(theirs, dtype=torch.float64).reshape(exact.shape)
    tol = 1e-4 * (float(exact.abs().max()) or 1.0)
    off = int(((theirs - exact).abs() > tol).sum())
    if off == 0:
        return "yes"
    return f"{off} of {exact.numel()} coords differ (ours off by {float((ours.double() - exact).abs().max()):.1e})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small shapes and few repeats (smoke run)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--rules", nargs="*", help="labels to run (default: all)")
    ap.add_argument("--slow", type=float, default=2.0,
                    help="a call slower than this many seconds is timed once, cold (default 2)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    shapes = [(17, 10_000), (100, 10_000), (200, 1_000)] if args.quick else SHAPES
    repeats = 3 if args.quick else args.repeats
    B = load_byzfl()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, f = m // 4; median of {repeats} "
          f"repeats after a warm-up (one cold call above {args.slow:g} s, marked *); load average {_load()}")
    print("ByzFL not installed (pip install .[bench])" if B is None else "speedup = ByzFL time / our time")
    for m, d in shapes:
        f = m // 4
        lam = f / m
        x = torch.from_numpy(np.random.default_rng(0).normal(size=(m, d)).astype(np.float32) + 1.0)
        t_mean, _ = timeit(lambda: x.mean(-2), repeats)
        print(f"\n{'rule':16s} {'m':>5s} {'d':>8s} {'ours ms':>9s} {'x mean':>7s} {'ByzFL ms':>10s} {'speedup':>8s}"
              "  equal to ours")
        for label, spec, factory, comparable, note in rules(B):
            if args.rules and label not in args.rules:
                continue
            row = f"{label:16s} {m:5d} {d:8d} "
            if spec in ("mda", "smea") and math.comb(m, f) > MAX_SUBSETS:
                print(row + f"{'—':>9s}  C({m}, {f}) = {float(math.comb(m, f)):.2g} subsets > {MAX_SUBSETS}: not run")
                continue
            agg = parse(spec)
            t, _, n = _time(lambda: agg(x, lam=lam), repeats, args.slow)
            row += f"{t * 1e3:8.1f}{'*' if n == 1 else ' '} {t / t_mean:7.1f} "
            if B is None or factory is None:
                row += f"{'n/a' if B is None else '—':>10s}"
            else:
                call = factory(f)
                b, _, nb = _time(lambda: call(x), repeats, args.slow)
                row += f"{b * 1e3:9.1f}{'*' if nb == 1 else ' '} {b / t:7.1f}x  "
                exact = agg(x.double(), lam=lam)
                row += compare(call(x), agg(x, lam=lam), exact) if comparable else "not compared (random)"
            print(row + (f"  [{note}]" if note else ""))
    print(f"\nload average at the end: {_load()}")


if __name__ == "__main__":
    main()

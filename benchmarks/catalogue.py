"""Speed of the catalogue rules (MDA, SMEA, Meamed, CAF, MoNNA, the Flag Aggregator, ARC, clipping).

Run: python benchmarks/catalogue.py [--quick] [--rounds 5] [--threads 2] [--json PATH]
Each rule is timed against the mean and against ByzFL 0.0.11's class in the same interleaved
rounds (median of the per-round ratios), at the shapes of benchmarks/aggregators.py, float32,
f = m // 4. Calls slower than ``--slow`` seconds are timed once, cold. ByzFL's outputs are
compared with sco's float64 rule where both are deterministic. Figures go to
benchmarks/results/catalogue.json. There are no targets: these are figures to read.
"""

from __future__ import annotations

import _harness  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _harness import environment, interleaved, paired_ratio, print_environment, timing_parser, write_json  # noqa: E402
from aggregators import QUICK_SHAPES, SHAPES  # noqa: E402
from sco.aggregators import parse  # noqa: E402
from sco.aggregators.subset import MAX_SUBSETS  # noqa: E402
from sco.compat.byzfl import original  # noqa: E402


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
        ("flag (r=1)", "flag", None, False, "FlagIRLS to tol; not in ByzFL"),
        ("flag (r=8)", "flag[r=8]", None, False, "the authors' scripts' r; not in ByzFL"),
        ("arc(mean)", "arc(mean)", then_mean(lambda f: B.ARC(f)), True, "ByzFL timed with a copy"),
        ("clipping(mean)", "clipping(mean)", then_mean(lambda f: B.Clipping()), True, "c = 2, ByzFL with a copy"),
    ]


def agreement(theirs, exact: torch.Tensor) -> str:
    """ByzFL's output against sco's float64 rule: 'yes', or how many coordinates differ by more than 1e-4."""
    theirs = torch.as_tensor(theirs, dtype=torch.float64).reshape(exact.shape)
    off = int(((theirs - exact).abs() > 1e-4 * (float(exact.abs().max()) or 1.0)).sum())
    return "yes" if off == 0 else f"{off} of {exact.numel()} coords differ"


def too_slow(fn, slow: float) -> float | None:
    """The seconds of one cold call when it exceeds ``slow`` (then it is not repeated), else None."""
    t0 = time.perf_counter()
    fn()
    t = time.perf_counter() - t0
    return t if t > slow else None


def shape(B, m, d, args) -> list[dict]:
    f = m // 4
    lam = f / m
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(m, d)).astype(np.float32) + 1.0)
    cases, rows = {"mean": lambda: x.mean(-2)}, []
    for label, spec, factory, comparable, note in rules(B):
        if args.rules and label not in args.rules:
            continue
        row = {"rule": label, "m": m, "d": d, "f": f, "note": note}
        rows.append(row)
        if spec in ("mda", "smea") and math.comb(m, f) > MAX_SUBSETS:
            row["skipped"] = f"C({m}, {f}) = {float(math.comb(m, f)):.2g} subsets > {MAX_SUBSETS}"
            continue
        agg = parse(spec)
        ours = (lambda agg=agg: agg(x, lam=lam))
        theirs = None if B is None or factory is None else (lambda call=factory(f): call(x))
        for who, fn in (("ours", ours), ("ByzFL", theirs)):
            if fn is None:
                continue
            cold = too_slow(fn, args.slow)
            if cold is None:
                cases[(label, who)] = fn
            else:
                row[f"{who}_cold_s"] = cold
        if theirs is not None and comparable:
            row["equal_to_ours"] = agreement(theirs(), agg(x.double(), lam=lam))
    wall, _ = interleaved(cases, 3 if args.quick else args.rounds, args.budget)
    for row in rows:
        label = row["rule"]
        if (label, "ours") in wall:
            row["ours_ms"] = 1e3 * float(np.median(wall[(label, "ours")]))
            row["x_mean"] = paired_ratio(wall[(label, "ours")], wall["mean"])
            if (label, "ByzFL") in wall:
                row["byzfl_ms"] = 1e3 * float(np.median(wall[(label, "ByzFL")]))
                row["speedup"] = paired_ratio(wall[(label, "ByzFL")], wall[(label, "ours")])
    return rows


def show(row: dict) -> str:
    if "skipped" in row:
        return f"{row['rule']:16s} {row['m']:5d} {row['d']:8d}  not run: {row['skipped']}"
    ours = f"{row['ours_ms']:9.1f} {row['x_mean']:7.1f}" if "ours_ms" in row else f"{row['ours_cold_s'] * 1e3:8.0f}*  {'':7s}"
    if "byzfl_ms" in row:
        theirs = f"{row['byzfl_ms']:9.1f} {row['speedup']:7.1f}x"
    elif "ByzFL_cold_s" in row:
        theirs = f"{row['ByzFL_cold_s'] * 1e3:8.0f}*  {'':7s}"
    else:
        theirs = f"{'—':>9s} {'':8s}"
    eq = row.get("equal_to_ours", "")
    return f"{row['rule']:16s} {row['m']:5d} {row['d']:8d} {ours} {theirs}  {eq}" + (f"  [{row['note']}]" if row["note"] else "")


def main(argv=None):
    ap = timing_parser(__doc__.splitlines()[0])
    ap.add_argument("--rules", nargs="*", help="labels to run (default: all)")
    ap.add_argument("--slow", type=float, default=2.0,
                    help="a call slower than this many seconds is timed once, cold (default 2)")
    ap.add_argument("--json", default=None, help="where to write the figures (default benchmarks/results/catalogue.json)")
    args = ap.parse_args(argv)
    env = environment(args.threads)
    print_environment(env)
    B = original()
    print("ByzFL not installed: pip install --no-deps byzfl==0.0.11" if B is None else
          "speedup = ByzFL time / sco time, both float32, in the same rounds")
    print(f"\n{'rule':16s} {'m':>5s} {'d':>8s} {'sco ms':>9s} {'x mean':>7s} {'ByzFL ms':>9s} {'speedup':>8s}"
          "  ByzFL equal to sco (* = one cold call)")
    out = []
    for m, d in (QUICK_SHAPES if args.quick else SHAPES):
        rows = shape(B, m, d, args)
        out += rows
        for row in rows:
            print(show(row), flush=True)
    write_json(args.json, "catalogue", {"env": env, "args": vars(args), "rows": out})


if __name__ == "__main__":
    main()

"""The ``sco`` command line: ``sco verify`` runs the papers' claims as experiments and reports verdicts."""

from __future__ import annotations

import argparse
import sys
import time
import traceback


def verify(args) -> int:
    import torch

    from . import __version__
    from .verify import CLAIMS, SUITES, ClaimResult, Context, format_table, summary, write_report

    names = args.claim or list(CLAIMS)
    unknown = [n for n in names if n not in CLAIMS]
    if unknown:
        print(f"sco verify: unknown claim(s) {unknown}. Known claims: {sorted(CLAIMS)}.", file=sys.stderr)
        return 2
    if args.seeds is not None and args.seeds < 2:
        print("sco verify: --seeds must be >= 2 (intervals are bootstrapped over seeds).", file=sys.stderr)
        return 2
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    store = None
    if args.store:
        from .sweep import Store
        store = Store(args.store)
    ctx = Context(suite=args.suite, seed=args.seed, n_seeds=args.seeds, device=device, store=store)
    results = []
    start = time.perf_counter()
    for i, name in enumerate(names, 1):
        print(f"[{i}/{len(names)}] {name} ...", end="", file=sys.stderr, flush=True)
        claim = CLAIMS[name]
        try:
            res = claim.run(ctx)
        except Exception:  # one broken claim must not hide the others' verdicts
            res = ClaimResult(claim, [], None, 0.0, error=traceback.format_exc())
        results.append(res)
        print(f" {res.verdict} ({res.seconds:.1f} s)", file=sys.stderr, flush=True)
    print(format_table(results))
    print("\n" + summary(results))
    meta = {"suite": args.suite, "seed": args.seed, "seeds": args.seeds, "device": device,
            "sco_version": __version__, "seconds": time.perf_counter() - start, "suites": list(SUITES)}
    out = write_report(results, args.out, meta)
    print(f"Report: {out / 'report.md'} (also report.html, results.json)")
    return 0 if all(r.passed for r in results) else 1


def main(argv=None) -> int:
    from . import __version__

    parser = argparse.ArgumentParser(prog="sco", description=__doc__)
    parser.add_argument("--version", action="version", version=f"sco {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("verify", help="run claims of the papers as experiments and report verdicts",
                       description="Run each claim's experiment, fit what was measured, hold it against the "
                                   "bound, print a table and write a report folder. Exits 1 if a claim fails.")
    p.add_argument("--suite", choices=["quick", "full"], default="quick",
                   help="quick: every claim at small sizes (minutes on a laptop); full: paper-sized")
    p.add_argument("--claim", action="append", metavar="NAME", help="run only this claim (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="base seed: runs use seeds 1000*seed, 1000*seed+1, ...")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds per experiment (default: the suite's)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--out", default="sco-report", help="report folder (default: ./sco-report)")
    p.add_argument("--store", default=None, metavar="DIR",
                   help="a results store (see sco sweep): read runs already done, store the others")
    p.set_defaults(func=verify)
    from .sweep.cli import add_parser as add_sweep_parser
    add_sweep_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

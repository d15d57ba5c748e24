"""The ``sco`` command line: ``sco verify`` runs the papers' claims as experiments and reports verdicts.

Exit codes of ``sco verify``: 0 every claim held; 1 some claim failed, was inconclusive or
raised; 2 the arguments were refused (nothing ran).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


class _Refused(Exception):
    """A command-line argument refused before anything runs."""


def _check_out(out: str) -> Path:
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise _Refused(f"--out must be a folder for the report; {out!r} is a file.")
    parent = path if path.exists() else next((p for p in path.parents if p.exists()), Path("."))
    if not os.access(parent, os.W_OK):
        raise _Refused(f"--out {out!r} is not writable (no write permission on {str(parent)!r}).")
    return path


def _check_device(device: str | None) -> str:
    import torch
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise _Refused(f"--device must be cpu or cuda (optionally cuda:N); got {device!r}.") from None
    if dev.type not in ("cpu", "cuda"):
        raise _Refused(f"--device must be cpu or cuda; got {device!r}.")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise _Refused(f"--device {device!r}: this machine has no CUDA device (torch.cuda.is_available() is False).")
    return device


def _list(names) -> str:
    from .verify import CLAIMS
    lines = [f"{'claim':<26} {'family':<13} {'~s':>4}  statements (provenance) / methods covered"]
    for n in names:
        c = CLAIMS[n]
        from .rates import BOUNDS
        st = ", ".join(f"{b} ({BOUNDS[b].provenance})" for b in c.bounds) or "-"
        lines.append(f"{n:<26} {c.family:<13} {c.seconds:>4.0f}  {st}")
        lines.append(f"{'':<46}covers: {', '.join(c.covers) or '-'}")
    from .verify.runner import default_jobs, expected_wall
    secs, jobs = [CLAIMS[n].seconds for n in names], default_jobs()
    lines.append(f"\n{len(names)} claims, {sum(secs):.0f} s of claims: about {expected_wall(secs, jobs):.0f} s in "
                 f"{jobs} process(es) here (quick suite, measured on two quiet cores).")
    return "\n".join(lines)


def verify(args) -> int:
    from . import __version__
    from .progress import bar
    from .verify import CLAIMS, SUITES, format_table, summary, write_report
    from .verify.runner import default_jobs, run_claims

    try:
        names = list(dict.fromkeys(args.claim or list(CLAIMS)))
        from .verify.own import OWN
        unknown = [n for n in names if n not in CLAIMS and not (n in OWN and args.aggregator)]
        if unknown:
            raise _Refused(f"unknown claim(s) {unknown}. Known claims: {sorted(CLAIMS)}"
                           + (f" (and {sorted(OWN)} with --aggregator)." if OWN else "."))
        if args.list:
            print(_list(names))
            return 0
        if args.seeds is not None and args.seeds < 2:
            raise _Refused("--seeds must be >= 2 (intervals are bootstrapped over seeds).")
        if args.seed < 0:
            raise _Refused(f"--seed must be >= 0; got {args.seed}.")
        jobs = default_jobs() if args.jobs is None else args.jobs
        if jobs < 1:
            raise _Refused(f"--jobs must be >= 1; got {args.jobs}.")
        out = _check_out(args.out)
        device = _check_device(args.device)
        store = None
        if args.store:
            from .sweep import Store
            try:
                store = Store(args.store)
            except (OSError, ValueError) as e:
                raise _Refused(f"--store {args.store!r} cannot be opened: {e}") from None
        fields, claims = {}, CLAIMS
        if args.aggregator or args.estimator or args.kappa:
            from .verify import own
            if args.kappa and not args.aggregator:
                raise _Refused("--kappa declares the coefficient of --aggregator; give the aggregator too.")
            try:
                fields = own.context(args.aggregator, args.kappa, args.estimator)
            except ValueError as e:
                raise _Refused(str(e)) from None
            claims = own.claims_for(fields, args.claim)
            names = list(claims)
    except _Refused as e:
        print(f"sco verify: {e}", file=sys.stderr)
        return 2
    ctx_kw = dict(suite=args.suite, seed=args.seed, n_seeds=args.seeds, device=device, store=store, **fields)
    start = time.perf_counter()
    total = sum(claims[n].seconds for n in names)
    progress = bar(total=round(total, 1), desc="sco verify", unit="s")
    finished = []

    def on_done(res):
        finished.append(res)
        if progress is not None:
            progress.set_postfix_str(res.claim.name)
            progress.update(res.claim.seconds)
        else:
            print(f"[{len(finished)}/{len(names)}] {res.claim.name} ... {res.verdict} ({res.seconds:.1f} s)",
                  file=sys.stderr, flush=True)

    results = run_claims(claims, names, ctx_kw, jobs=jobs, on_done=on_done)
    if progress is not None:
        progress.close()
    wall = time.perf_counter() - start
    print(format_table(results))
    print("\n" + summary(results, wall, jobs))
    meta = {"suite": args.suite, "seed": args.seed, "seeds": args.seeds, "device": device,
            "sco_version": __version__, "seconds": wall, "jobs": jobs, "suites": list(SUITES),
            "aggregator": args.aggregator, "kappa": args.kappa, "estimator": args.estimator}
    out = write_report(results, out, meta)
    print(f"Report: {out / 'report.md'} (also report.html, results.json)")
    return 0 if all(r.passed for r in results) else 1


def main(argv=None) -> int:
    from . import __version__

    parser = argparse.ArgumentParser(prog="sco", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"sco {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("verify", help="run claims of the papers as experiments and report verdicts",
                       description="Run each claim's experiment, fit what was measured, hold it against the "
                                   "statement, print a table and write a report folder. Exit codes: 0 every claim "
                                   "held, 1 some claim failed, was inconclusive or raised, 2 arguments refused.")
    p.add_argument("--suite", choices=["quick", "full"], default="quick",
                   help="quick: every claim at small sizes (about 90 s on two cores); full: paper-sized")
    p.add_argument("--claim", action="append", metavar="NAME", help="run only this claim (repeatable)")
    p.add_argument("--list", action="store_true", help="list the claims, what each covers and its time; run nothing")
    p.add_argument("--seed", type=int, default=0, help="base seed: runs use seeds 1000*seed, 1000*seed+1, ...")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds per experiment (default: the suite's)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="claims run in N processes at once, longest first (default: one per core, at most 4; "
                        "1 runs them here, one after another, as does --store)")
    p.add_argument("--out", default="sco-report", help="report folder (default: ./sco-report)")
    p.add_argument("--store", default=None, metavar="DIR",
                   help="a results store (see sco sweep): read runs already done, store the others")
    p.add_argument("--aggregator", default=None, metavar="MODULE:FUNCTION",
                   help="judge your own aggregator: it replaces CTMA(CWMed) in the convergence claims and is "
                        "searched in the robustness claims (declare its bound with --kappa)")
    p.add_argument("--kappa", default=None, metavar="EXPR",
                   help="the robustness coefficient your aggregator claims, an expression in lam")
    p.add_argument("--estimator", default=None, metavar="MODULE:FUNCTION",
                   help="judge your own gradient estimator (a sco.estimators.Estimator factory) in the "
                        "estimator and convergence claims")
    p.set_defaults(func=verify)
    from .sweep.cli import add_parser as add_sweep_parser
    add_sweep_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

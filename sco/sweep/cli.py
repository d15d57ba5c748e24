"""The ``sco sweep`` command: run a sweep spec into a store and print what was done."""

from __future__ import annotations

import sys

DESCRIPTION = """\
Run a sweep: a TOML spec with a [base] experiment and [grid] axes expands into cells (one per
combination) x seeds. Every cell is validated before any runs; runs already in the store are
skipped, so an interrupted sweep resumes where it stopped; the seeds of a cell run as one
batch. Prints a summary (done, skipped, failed with reasons); exits 1 if a run failed,
2 if the spec is invalid."""

EXAMPLE = """\
example spec:
  name = "lam-eta"
  [base]
  objective = {name = "quadratic", d = 5}
  noise = {name = "gaussian", sigma = 1.0}
  m = 8
  f = 2
  attack = "alie"
  T = 200
  seeds = 4
  [grid]
  aggregator = ["cwmed", "ctma(cwmed)"]
  lam = [0.25, 0.4]
  algorithm.eta = [0.1, 0.01]
"""


def add_parser(sub) -> None:
    """Add the ``sweep`` subcommand to the ``sco`` parser's subparsers."""
    import argparse

    p = sub.add_parser("sweep", help="run a grid of experiments x seeds into a results store that resumes",
                       description=DESCRIPTION, epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", help="the sweep spec (TOML)")
    p.add_argument("--store", default="sco-store", help="results folder (default: ./sco-store)")
    p.add_argument("--executor", choices=["local", "process", "ray"], default=None,
                   help="local: in this process (default); process: a pool of --workers processes; "
                        "ray: Ray tasks on a cluster (pip install 'sco[cluster]')")
    p.add_argument("--workers", type=int, default=None,
                   help="processes of the process executor (implies --executor process; default: cores)")
    p.add_argument("--address", default=None,
                   help="Ray cluster address ('auto', 'ray://host:10001'; default: a new local Ray)")
    p.add_argument("--dry-run", action="store_true", help="validate and list what would run; run nothing")
    p.add_argument("--any-code", action="store_true",
                   help="reuse results computed by other versions of sco's code (default: only this version's)")
    p.set_defaults(func=main)


def main(args) -> int:
    from .run import run_sweep

    try:
        summary = run_sweep(args.spec, args.store, executor=args.executor, workers=args.workers,
                            address=args.address, dry_run=args.dry_run, any_code=args.any_code)
    except (ValueError, TypeError, MemoryError, OSError, ImportError) as e:
        print(f"sco sweep: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(summary)
    return 0 if summary.ok or summary.dry_run else 1

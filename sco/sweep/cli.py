"""The ``sco sweep`` command: run a sweep spec into a store and print what was done."""

from __future__ import annotations

import sys

DESCRIPTION = """\
Run a sweep: a TOML spec with a [base] experiment and [grid] axes expands into cells (one per
combination) x seeds. Every cell is validated before any runs; runs already in the store are
skipped, so an interrupted sweep resumes where it stopped; the seeds of a cell run as one
batch. Prints a summary (done, diverged, skipped, failed with reasons). Ctrl-C or SIGTERM
stops the sweep and its worker processes at once (SIGKILL too: workers die with the driver).

  sco sweep SPEC [--store DIR]            run a spec
  sco sweep export OUT [--store DIR]      write the store's table to OUT (.csv, or .parquet
                                          with pyarrow: pip install 'sco[parquet]')
  sco sweep repair [--store DIR]          rebuild a damaged database from the trace files

Exit codes: 0 done (diverged runs included), 1 a run failed, 2 a bad spec, argument or store,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM). A spec file named "export" or "repair"
is run as ./export or ./repair."""

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
    p.add_argument("spec", help="the sweep spec (TOML), or the command 'export' or 'repair'")
    p.add_argument("out", nargs="?", default=None, help="export: the file to write (.csv or .parquet)")
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
    p.add_argument("--sweep", default=None, help="export: only this sweep (default: every sweep of the store)")
    p.add_argument("--format", choices=["csv", "parquet"], default=None,
                   help="export: the file format (default: from the suffix of OUT)")
    p.add_argument("--final", action="store_true", help="export: only the last logged step of each run")
    p.set_defaults(func=main)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that the sweep stops as on Ctrl-C (workers killed)."""


def _terminate(signum, frame):
    raise Terminated


def main(args) -> int:
    import signal

    from .run import run_sweep
    from .store import Store

    if args.spec in ("export", "repair"):
        return _maintenance(args, Store(args.store, any_code=args.any_code))
    if args.out is not None:
        print(f"sco sweep: unexpected argument {args.out!r} (only 'sco sweep export OUT' takes a second one).",
              file=sys.stderr)
        return 2
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        summary = run_sweep(args.spec, args.store, executor=args.executor, workers=args.workers,
                            address=args.address, dry_run=args.dry_run, any_code=args.any_code)
    except (ValueError, TypeError, MemoryError, OSError, ImportError) as e:
        print(f"sco sweep: {e}", file=sys.stderr)
        return 2
    except Terminated:
        return 143
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(summary)
    return 0 if summary.ok or summary.dry_run else 1


def _maintenance(args, store) -> int:
    try:
        if args.spec == "repair":
            done = store.repair()
            moved = f"moved the damaged database to {done['moved']}; " if done["moved"] else ""
            print(f"sco sweep repair: {moved}indexed {done['indexed']} runs from their trace files"
                  + (f"; {len(done['unreadable'])} trace files could not be indexed (Store.prune removes "
                     "unreferenced ones)" if done["unreadable"] else "")
                  + ". Rerun your sweeps to record their membership (finished runs are skipped).")
            return 0
        if args.out is None:
            print("sco sweep export: give the file to write: sco sweep export OUT.csv [--store DIR]", file=sys.stderr)
            return 2
        path = store.export(args.out, args.format, sweep=args.sweep, final=args.final)
        print(f"sco sweep export: wrote {path}")
        return 0
    except (ValueError, TypeError, OSError, ImportError) as e:
        print(f"sco sweep {args.spec}: {e}", file=sys.stderr)
        return 2

"""Run the lemma checks and print the summary table: ``python -m proofs_check [lemma ...]``."""

from __future__ import annotations

import argparse
import sys
import time

from . import LEMMAS, run_all
from ._core import OPTIONAL, skipped


def format_table(results) -> str:
    """One row per check: lemma, method, result, detail (the detail column is not truncated)."""
    header = ("lemma", "method", "result", "detail")
    rows = [header] + [tuple(r) for r in results]
    widths = [max(len(row[k]) for row in rows) for k in range(3)]
    line = lambda row: "  ".join(c.ljust(w) for c, w in zip(row[:3], widths)) + "  " + row[3]  # noqa: E731
    return "\n".join([line(header), "  ".join("-" * w for w in widths) + "  " + "-" * 6]
                     + [line(row) for row in rows[1:]])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m proofs_check", description=__doc__)
    parser.add_argument("lemmas", nargs="*", help=f"lemmas to check (default: all of {', '.join(LEMMAS)})")
    args = parser.parse_args(argv)
    unknown = [n for n in args.lemmas if n not in LEMMAS]
    if unknown:
        parser.error(f"unknown lemma(s) {unknown}; known: {', '.join(LEMMAS)}")
    start = time.perf_counter()
    results = []
    for name in args.lemmas or LEMMAS:
        try:
            results += run_all([name])
        except ModuleNotFoundError as e:  # a lemma whose optional solver is missing is skipped, not failed
            if e.name not in OPTIONAL:
                raise
            results.append(skipped(name, e.name))
    elapsed = time.perf_counter() - start
    print(format_table(results))
    failed = [r for r in results if r.failed]
    skips = [r for r in results if r.result == "skip"]
    ran = len(results) - len(skips)
    print(f"\n{ran - len(failed)}/{ran} checks passed in {elapsed:.1f} s"
          + (f"; {len(skips)} lemma(s) skipped ({', '.join(r.lemma for r in skips)}): "
             "install what the table says to run them" if skips else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Empirical kappa that ByzFL's optimized attacks (optimal_ipm, optimal_alie) find, per rule, beside sco's
worst-case search (sco.robustness.worst_case_kappa) and the tabulated theoretical kappa; prints a markdown table."""

from __future__ import annotations

import argparse
import statistics

import torch

from sco.attacks_optimal import optimal_alie, optimal_ipm
from sco.random import Stream
from sco.robustness import empirical_kappa, theoretical_kappa, worst_case_kappa

RULES = ["mean", "cwtm", "cwmed", "geometric_median", "krum", "multi_krum", "nnm(cwtm)", "ctma(cwmed)",
         "mda", "smea", "meamed", "caf", "monna", "arc(cwtm)", "arc(nnm(cwtm))", "clipping(cwtm)", "flag"]


def honest_rows(seed: int, h: int, d: int, offset: float) -> torch.Tensor:
    """h rows N(offset * 1, I_d) in float64 from the run's own stream."""
    return offset + Stream(seed).fold("honest").normal((h, d), dtype=torch.float64).reshape(h, d)


def kappas(rule: str, honest: torch.Tensor, f: int, seed: int) -> dict[str, float]:
    lam = f / (honest.shape[-2] + f)
    gen = Stream(seed)
    out = {}
    for name, attack in (("optimal_ipm", optimal_ipm), ("optimal_alie", optimal_alie)):
        rows = attack(honest, n_byz=f, agg=rule, lam=lam, generator=gen)
        out[name] = float(empirical_kappa(rule, honest, rows, lam=lam, generator=gen.fold(name, "aggregator")))
    out["worst_case"] = float(worst_case_kappa(rule, honest, n_byz=f, generator=gen, lam=lam)[0])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--m", type=int, default=17, help="workers in all (default 17)")
    ap.add_argument("--f", type=int, default=4, help="Byzantine workers (default 4)")
    ap.add_argument("--d", type=int, default=10, help="dimension (default 10)")
    ap.add_argument("--offset", type=float, default=3.0, help="honest mean offset * (1, ..., 1) (default 3)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--rules", nargs="*", default=RULES)
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    m, f = args.m, args.f
    print(f"m = {m} workers, f = {f} Byzantine (lam = {f / m:.3f}), d = {args.d}, honest rows N({args.offset:g} 1, I), "
          f"{args.seeds} seeds; kappa = ||agg - honest mean||^2 / honest spread^2, median [max] over seeds\n")
    print("| rule | optimal_ipm | optimal_alie | worst_case | theoretical (upper) |")
    print("|---|---|---|---|---|")
    for rule in args.rules:
        per = [kappas(rule, honest_rows(s, m - f, args.d, args.offset), f, s) for s in range(args.seeds)]
        cells = []
        for key in ("optimal_ipm", "optimal_alie", "worst_case"):
            vals = [p[key] for p in per]
            cells.append(f"{statistics.median(vals):.3g} [{max(vals):.3g}]")
        try:
            theory = f"{theoretical_kappa(rule, m=m, f=f).value:.3g}"
        except ValueError:
            theory = "—"
        print(f"| `{rule}` | " + " | ".join(cells) + f" | {theory} |", flush=True)


if __name__ == "__main__":
    main()

"""The ``sco`` command line: ``sco verify`` runs a suite of checks and reports verdicts."""

from __future__ import annotations

import argparse
import math
import sys
import time


def _foundation_checks(seeds: int):
    """Declared constants of the oracle against Monte Carlo measurements: (name, source,
    predicted, measured, verdict) rows. Margins are 6 standard errors."""
    import torch

    from .heterogeneity import Shift
    from .noise import Gaussian, MiniBatch
    from .objectives import least_squares, logistic, quadratic
    from .oracle import Oracle
    from .random import Stream

    rows = []
    stream = Stream(list(range(seeds)))

    q = quadratic(20, L=1.0, mu=0.1, seed=0)
    o = Oracle(q, Gaussian(0.5), Shift(0.3), m=4)
    x = q.x_star.expand(seeds, 1, 20)
    xi = o.grad(x, o.draw(stream)) - o.worker_grad(x)
    est = xi.square().sum(-1).mean().item()
    se = 0.25 * math.sqrt(2 / 20 / xi[..., 0].numel())
    rows.append(("Gaussian noise level E|xi|^2 = sigma^2", "sco.noise", 0.25, est, abs(est - 0.25) < 6 * se))
    zeta = float(o.zeta_sq(torch.randn(20, dtype=torch.float64)))
    rows.append(("Shift heterogeneity zeta^2", "sco.heterogeneity", 0.09, zeta, abs(zeta - 0.09) < 1e-12))

    obj = logistic(n=200, d=5, seed=0)
    o = Oracle(obj, MiniBatch(4), m=2)
    sig = o.constants()["sigma_star"]
    x = obj.x_star.expand(seeds, 1, 5)
    sq = (o.grad(x, o.draw(stream)) - obj.grad(x)).square().sum(-1).reshape(-1)
    se = sq.std().item() / math.sqrt(sq.numel())
    rows.append(("Mini-batch sigma^2 at x*", "sco.noise", sig ** 2, sq.mean().item(),
                 abs(sq.mean().item() - sig ** 2) < 6 * se))

    ls = least_squares(n=100, d=5, seed=0)
    ev = torch.linalg.eigvalsh(torch.autograd.functional.hessian(ls.value, ls.x0))
    rows.append(("Least squares: declared L = lambda_max(Hessian)", "sco.objectives", ls.L, float(ev[-1]),
                 abs(float(ev[-1]) - ls.L) <= 1e-10 * ls.L))
    return rows


def verify(args) -> int:
    start = time.perf_counter()
    rows = _foundation_checks(args.seeds)
    width = max(len(r[0]) for r in rows)
    print(f"{'claim':<{width}}  {'source':<18} {'predicted':>12} {'measured':>12}  verdict")
    for name, source, pred, meas, ok in rows:
        print(f"{name:<{width}}  {source:<18} {pred:>12.6g} {meas:>12.6g}  {'pass' if ok else 'FAIL'}")
    failed = sum(not r[-1] for r in rows)
    print(f"\n{len(rows) - failed}/{len(rows)} claims held ({time.perf_counter() - start:.1f} s).")
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="sco", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("verify", help="run a suite of checks of the theory and report verdicts")
    p.add_argument("--seeds", type=int, default=2000, help="number of seeds (runs) per check")
    p.set_defaults(func=verify)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

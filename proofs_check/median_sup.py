"""The weighted median's worst case, below DL24b Lemma C.3's printed constant.

Derived here: sup ||w-CWMed - x_bar_G||^2 / rho^2 = 1/(1 - 2 lam).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ._core import Result, is_zero, record

lam, p = sp.symbols("lam p", positive=True)


def sup_statement():
    """The supremum claimed (``BOUNDS["cwmed_exact_sup"]``)."""
    return 1 / (1 - 2 * lam)


def check_two_point(claim=sup_statement) -> Result:
    r"""The two-point family attains the supremum in the limit, symbolically.

    One coordinate: honest mass p at 1 and 1 - p at 0 (mean p, variance p(1 - p)), Byzantine
    mass lam/(1 - lam) of the honest one at +infinity. The weighted median is 1 exactly when
    the mass at 0 is below half the total, i.e. p > p* = (1 - 2 lam)/(2(1 - lam)); there the
    ratio is (1 - p)^2 / (p(1 - p)) = (1 - p)/p, decreasing in p, so its supremum is its value
    at p*. Checked: the threshold and the limit equal the claim for symbolic lam.
    """
    p_star = sp.solve(sp.Eq(1 - p, (1 + lam / (1 - lam)) / 2), p)[0]
    ratio = (1 - p) / p
    limit = sp.simplify(ratio.subs(p, p_star))
    ok = is_zero(p_star - (1 - 2 * lam) / (2 * (1 - lam))) and is_zero(limit - claim())
    return record("w-CWMed sup: the two-point family reaches 1/(1 - 2 lam)", "symbolic", ok,
                  f"p* = {sp.factor(p_star)}, (1 - p*)/p* = {sp.factor(limit)} (claimed {claim()})")


def check_cantelli(claim=sup_statement, seed: int = 0, n: int = 5000) -> Result:
    r"""No instance exceeds the claim, numerically.

    The argument (docs/theory.md): with Byzantine share lam the weighted median a of a
    coordinate has honest mass at least q* = (1 - 2 lam)/(2(1 - lam)) on its far side from the
    honest mean mu, and Cantelli's one-sided inequality P(X - mu >= k sd) <= 1/(1 + k^2) then
    gives (a - mu)^2 / var <= (1 - q*)/q* = 1/(1 - 2 lam). Checked on random weighted honest
    samples with the Byzantine mass at +-infinity (the placement that moves a median most):
    the largest ratio found divided by the claim must not exceed 1.
    """
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(n):
        h, lam_v = rng.integers(2, 9), rng.uniform(0.01, 0.45)
        x, w = rng.normal(size=h) * rng.uniform(0.1, 3), rng.uniform(0.05, 1, size=h)
        H = w.sum()
        F = lam_v / (1 - lam_v) * H
        mu = (w * x).sum() / H
        v = (w * (x - mu) ** 2).sum() / H
        for side in (1, -1):
            vals = np.concatenate([x, [side * np.inf]])
            ws = np.concatenate([w, [F]])
            order = np.argsort(vals)
            c = np.cumsum(ws[order])
            j = int(np.argmax(c > c[-1] / 2))  # the weighted median's index, first mass > S/2
            ratio = (vals[order][j] - mu) ** 2 / v
            bound = float(claim().subs(lam, lam_v))
            worst = max(worst, ratio / bound)
    return record("w-CWMed sup: no random instance above 1/(1 - 2 lam)", "numeric", worst <= 1 + 1e-12,
                  f"{n} weighted instances, largest ratio / claim = {worst:.6f}")


def run() -> list[Result]:
    return [check_two_point(), check_cantelli()]

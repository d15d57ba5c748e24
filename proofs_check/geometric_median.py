"""The weighted geometric median's classical coefficient, and DL24b's factor.

Derived here: c_lam <= 4 (1 + lam/(1 - 2 lam))^2.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ._core import Result, is_zero, record

lam = sp.Symbol("lam", positive=True)


def check_algebra() -> Result:
    r"""The chain from the key inequality to the constant, symbolically.

    With z the weighted geometric median, S_G, S_B the honest and Byzantine weights
    (S_B <= lam S, S_G >= (1 - lam) S), optimality and the triangle inequality give
    (S_G - S_B) ||z - x_bar_G|| <= 2 sum_G s_i ||x_i - x_bar_G||; dividing by S_G and using
    S_B/S_G <= lam/(1 - lam), ||z - x_bar_G|| <= 2 / (1 - lam/(1 - lam)) * (mean deviation)
    = 2 (1 + lam/(1 - 2 lam)) * (mean deviation); Jensen squares the mean deviation into rho^2.
    Checked: 1/(1 - lam/(1 - lam)) = 1 + lam/(1 - 2 lam), so the constant is 4 (1 + lam/(1 - 2 lam))^2.
    """
    lhs = 1 / (1 - lam / (1 - lam))
    ok = is_zero(lhs - (1 + lam / (1 - 2 * lam)))
    return record("w-GM: 1/(1 - S_B/S_G) = 1 + lam/(1 - 2 lam)", "symbolic", ok,
                  f"1/(1 - lam/(1 - lam)) = {sp.factor(lhs)}; the classical constant is 4 (1 + lam/(1 - 2 lam))^2, "
                  f"DL24b Lemma C.1 prints it without the 4")


def check_key_inequality(seed: int = 0, n: int = 300) -> Result:
    """(S_G - S_B) ||z - x_bar_G|| <= 2 sum_G s_i ||x_i - x_bar_G|| on random weighted instances,
    z the weighted geometric median computed by sco (to 1e-10), numerically."""
    import torch

    from sco.aggregators import geometric_median
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(n):
        h, f, d = rng.integers(3, 8), rng.integers(1, 3), rng.integers(1, 4)
        x = rng.normal(size=(h + f, d))
        x[h:] *= rng.uniform(1, 50)
        w = rng.uniform(0.1, 1, size=h + f)
        w[h:] *= 0.45 * w[:h].sum() / w[h:].sum() * rng.uniform(0.1, 1)  # Byzantine weight below the honest
        z = geometric_median(torch.from_numpy(x), torch.from_numpy(w)).numpy()
        SG, SB = w[:h].sum(), w[h:].sum()
        xb = (w[:h, None] * x[:h]).sum(0) / SG
        rhs = 2 * (w[:h] * np.linalg.norm(x[:h] - xb, axis=1)).sum()
        worst = max(worst, (SG - SB) * np.linalg.norm(z - xb) / rhs)
    return record("w-GM: (S_G - S_B)||z - x_bar_G|| <= 2 sum_G s_i ||x_i - x_bar_G||", "numeric",
                  worst <= 1 + 1e-6, f"{n} weighted instances, largest lhs/rhs = {worst:.4f}")


def run() -> list[Result]:
    return [check_algebra(), check_key_inequality()]

"""ALIE [BBG19]: the constant z_max = Phi^{-1}((m - f - s)/(m - f)), s = floor(m/2 + 1) - f."""

from __future__ import annotations

from fractions import Fraction

import sympy as sp
import torch
from scipy.stats import norm

from ._core import Result, record

# (m, f) -> z_max to 4 decimals: [BBG19, Sec. 3]'s formula, evaluated here (derived here)
PAPER_VALUES = {(17, 8): 1.2206, (9, 4): 0.8416, (17, 4): 0.2934, (10, 2): 0.0}
# scipy's ppf and sympy's 30-digit erfinv must agree to this
AGREE = 1e-12


def quantile_level(m: int, f: int) -> Fraction:
    """(m - f - s)/(m - f) with s = floor(m/2 + 1) - f, the number of honest 'supporters' needed."""
    s = (m + 2) // 2 - f  # floor(m/2 + 1) in integers
    return Fraction(m - f - s, m - f)


def z_max_scipy(m: int, f: int, level=quantile_level) -> float:
    """z_max as scipy's normal quantile at the ALIE level."""
    return float(norm.ppf(float(level(m, f))))


def z_max_closed_form(m: int, f: int, level=quantile_level) -> sp.Float:
    """z_max = sqrt(2) erfinv(2 level - 1), evaluated by sympy to 30 digits from the exact rational level."""
    lv = level(m, f)
    return (sp.sqrt(2) * sp.erfinv(2 * sp.Rational(lv.numerator, lv.denominator) - 1)).evalf(30)


def check_z_max(z_fn=z_max_scipy, level=quantile_level, expected=PAPER_VALUES) -> Result:
    r"""``z_max = Phi^{-1}((m - f - s)/(m - f))``, ``s = floor(m/2 + 1) - f``, matches the closed form and PAPER_VALUES.

    Statement [BBG19, Sec. 3; DL24a-code, alie.py]; the values derived here. Numeric:
    the implementation ``z_fn`` (default scipy's ``norm.ppf``) is compared with the
    closed form sqrt(2) erfinv(2 level - 1) evaluated by sympy at 30 digits from the
    exact rational level (agreement to 1e-12), and with the four values of PAPER_VALUES to
    4 decimals.
    """
    rows, ok = [], True
    for (m, f), stated in expected.items():
        z = z_fn(m, f)
        exact = z_max_closed_form(m, f, level)
        ok &= abs(z - float(exact)) <= AGREE and round(z, 4) == stated
        rows.append(f"({m},{f}): level {level(m, f)}, z = {z:.6f}, erfinv form {float(exact):.6f} (tabulated {stated})")
    return record("ALIE: z_max(m, f)", "numeric", ok, "; ".join(rows))


def all_pairs(m_max: int = 40):
    """Every (m, f) with 3 <= m <= m_max and 1 <= f < m/2."""
    return [(m, f) for m in range(3, m_max + 1) for f in range(1, (m + 1) // 2)]


def check_sco_alie(z_fn=None, attack=None, pairs=None, seed: int = 0) -> Result:
    """sco.attacks: ``alie_z(m, f)`` equals the closed form, and the ALIE rows sit at mu - z_max sigma.

    Numeric, on every (m, f) with 3 <= m <= 40, f < m/2 (the closed form at 30 digits,
    agreement to 1e-12), then on the attack's rows for random honest rows: the implied
    z = (mu - row)/sigma per coordinate, with sigma the unbiased (ddof = 1) std of the
    honest rows [DL24a-code, alie.py], must equal z_max(m, f) to 1e-12.
    """
    from sco import attacks  # imported here: the lemma's closed form needs no sco

    z_fn = attacks.alie_z if z_fn is None else z_fn
    attack = attacks.alie if attack is None else attack
    pairs = all_pairs() if pairs is None else pairs
    worst_z = max(abs(z_fn(m, f) - float(z_max_closed_form(m, f))) for m, f in pairs)
    gen = torch.Generator().manual_seed(seed)
    worst_rows = 0.0
    for m, f in PAPER_VALUES:
        honest = torch.randn(4, m - f, 5, dtype=torch.float64, generator=gen)
        rows = attack(honest, n_byz=f)  # (4, f, 5)
        mu, sigma = honest.mean(-2, keepdim=True), honest.std(-2, keepdim=True)
        implied = (mu - rows) / sigma
        worst_rows = max(worst_rows, float((implied - float(z_max_closed_form(m, f))).abs().max()))
    ok = worst_z <= AGREE and worst_rows <= AGREE
    return record("ALIE: sco.attacks.alie_z and alie rows", "numeric", ok,
                  f"max |alie_z - erfinv form| = {worst_z:.1e} over {len(pairs)} (m, f) pairs; "
                  f"attack rows: max |(mu - row)/sigma - z_max| = {worst_rows:.1e} at the tabulated pairs")


def run() -> list[Result]:
    return [check_z_max(), check_sco_alie()]

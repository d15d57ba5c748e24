"""The result record shared by every lemma, and the decision procedures the symbolic checks use."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import sympy as sp

METHODS = ("symbolic", "numeric", "PEP")


class Result(NamedTuple):
    """One check of one claim: what was checked, how, and what came out.

    ``method`` is "symbolic" (a sympy proof valid for symbolic t, m, f, ...),
    "numeric" (floating-point evidence: search, sampling or a finite table) or
    "PEP" (a performance-estimation SDP solved numerically).
    """

    lemma: str
    method: str
    result: str  # "pass" or "fail"
    detail: str

    @property
    def passed(self) -> bool:
        return self.result == "pass"

    @property
    def failed(self) -> bool:
        """A check that ran and failed (a skipped check has neither passed nor failed)."""
        return self.result == "fail"


#: Packages some lemmas need beyond sco's own dependencies, and how to install them.
OPTIONAL = {"PEPit": "pip install pepit==0.5.1 (it is in sco's dev extra: pip install -e '.[dev]')"}


def skipped(lemma: str, package: str) -> Result:
    """The record of a lemma that could not run because an optional ``package`` is missing."""
    return Result(lemma, "-", "skip", f"not run: {package} is not installed; {OPTIONAL[package]}")


def record(lemma: str, method: str, ok: bool, detail: str) -> Result:
    if method not in METHODS:
        raise ValueError(f"The 'method' parameter of record must be one of {list(METHODS)}. "
                         f"Got method={method!r}.")
    return Result(lemma, method, "pass" if ok else "fail", detail)


def is_zero(expr) -> bool:
    """True when ``expr`` simplifies to 0 as a rational (or elementary) function of its symbols."""
    expr = sp.sympify(expr)
    # cancel() decides identities between rational functions exactly; simplify() is the
    # fallback for expressions with harmonic numbers, sums or radicals.
    return sp.cancel(sp.together(expr)) == 0 or sp.simplify(expr) == 0


def nonneg_on_integers(expr, t: sp.Symbol, t0: int = 1):
    """Decide whether the rational function ``expr(t)`` is >= 0 at every integer ``t >= t0``.

    Exact, not sampled: beyond the largest real root of the numerator and of the
    denominator the sign cannot change, so it is read at one integer there; the
    finitely many integers below that point are evaluated in exact rationals. The
    roots are bracketed by sympy's rational isolating intervals.

    Returns ``(ok, counterexample)`` where ``counterexample`` is the first integer
    at which ``expr`` is negative or undefined, or ``None``.
    """
    # floats (a claimed constant 3.9) become exact rationals, so that roots can be isolated
    num, den = sp.fraction(sp.cancel(sp.together(sp.nsimplify(sp.sympify(expr), rational=True))))
    free = (num.free_symbols | den.free_symbols) - {t}
    if free:
        raise ValueError(f"The 'expr' parameter of nonneg_on_integers must depend on {t} only. "
                         f"Got free symbols {sorted(map(str, free))}.")
    last = t0
    for poly in (sp.Poly(num, t), sp.Poly(den, t)):
        if poly.degree() > 0:
            for (_, upper), _mult in poly.intervals():
                last = max(last, math.ceil(upper))
    for k in range(t0, last + 2):
        d = den.subs(t, k)
        if d == 0 or num.subs(t, k) * d < 0:
            return False, k
    return True, None


def nonneg_polynomial_coefficients(expr, positive: list[sp.Symbol]) -> bool:
    """Sufficient test that ``expr >= 0`` when every symbol in ``positive`` is > 0.

    The numerator and denominator are expanded as polynomials in those symbols;
    when each has all coefficients of one sign and the signs agree, ``expr`` is a
    ratio of sums of nonnegative monomials.
    """
    num, den = sp.fraction(sp.cancel(sp.together(sp.sympify(expr))))
    sign_sets = []
    for part in (num, den):
        coeffs = sp.Poly(sp.expand(part), *positive).coeffs()
        if any(not c.is_number for c in coeffs):
            return False
        sign_sets.append({sp.sign(c) for c in coeffs if c != 0})
    s_num, s_den = sign_sets
    if not s_num:
        return True  # expr == 0
    return len(s_num) == 1 and len(s_den) == 1 and s_num == s_den


def first_violation(lhs: np.ndarray, rhs: np.ndarray, start: int = 1, rtol: float = 1e-12):
    """First index ``start + i`` at which ``lhs[i] > rhs[i]`` beyond rounding, or ``None``."""
    bad = np.nonzero(lhs > rhs + rtol * np.maximum(np.abs(rhs), 1.0))[0]
    return None if bad.size == 0 else int(bad[0]) + start


def indexed_sum(summand, index: sp.Symbol, upper):
    """sum_{index=1}^{upper} summand term by term, constants taken out of each sum.

    sympy leaves ``Sum(c*p[i])`` and ``Sum(-p[i])`` unsimplified; written as
    ``c*Sum(p[i])`` they can be substituted (e.g. ``Sum(p[i]) -> 1``).
    """
    return sp.Add(*[sp.factor_terms(sp.summation(term, (index, 1, upper)))
                    for term in sp.Add.make_args(sp.expand(summand))])

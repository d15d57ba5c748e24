"""What a bound predicts about measurements: local exponents, crossovers of terms, regimes."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import sympy
from scipy.optimize import brentq
from scipy.special import logsumexp, softmax

from .. import _checks
from .evaluate import _evaluate
from .expr import _names
from .params import DERIVED, REDUCTIONS, VECTORS, symbol


class Regime(NamedTuple):
    """The range ``lo <= param <= hi`` where ``term`` carries at least ``share`` of the bound."""
    param: str
    term: int
    share: float
    lo: float
    hi: float

    def __str__(self):
        lo = "0" if self.lo == 0 else f"{self.lo:.4g}"
        hi = "inf)" if math.isinf(self.hi) else f"{self.hi:.4g}]"
        return f"{self.param} in [{lo}, {hi}"


def _merge(values, kw) -> dict:
    """Parameters given as a mapping and/or keywords (keywords win)."""
    vals = dict(values or {})
    vals.update(kw)
    return vals


class Analysis:
    """The analysis half of :class:`~sco.rates.Bound` (exponents, crossovers, regimes)."""

    def _in_terms_of(self, e, param, owner):
        """Substitute derived symbols whose definition contains ``param`` (sigma -> sigma_tilde)."""
        names = _names(self.symbols, owner) | set(VECTORS)
        if param not in names:
            _checks.fail(owner, "param", f"be a parameter name, one of {sorted(names)}", param)
        if param in VECTORS:
            red = sorted(k for k, (v, _) in REDUCTIONS.items() if v == param)
            _checks.fail(owner, "param", "be a scalar parameter", param,
                         f"'{param}' is a vector; take exponents in its reductions {red}.")
        p = symbol(param)
        for _ in range(len(DERIVED)):
            subs = {symbol(k): d for k, d in DERIVED.items()
                    if symbol(k) in e.free_symbols and p in d.free_symbols}
            if not subs:
                break
            e = e.subs(subs)
        return e, p

    def exponent(self, param: str, values: Mapping | None = None, /, *, term=None, **kw):
        """Local exponent d log B / d log param: symbolic without values, numeric with them.

        With ``term``, the exponent of that term alone. Derived symbols are expanded when
        ``param`` enters through them (the exponent in ``sigma`` of a bound written with
        ``sigma_tilde``).
        """
        owner = f"Bound '{self.name}'.exponent"
        e = self.expr if term is None else self.terms[self.term_index(term)]
        e, p = self._in_terms_of(e, param, owner)
        a = p * sympy.diff(e, p) / e
        if values is None and not kw:
            return sympy.simplify(a)
        vals = _merge(values, kw)
        return _evaluate(a, self._env([a], vals, owner)) if a.free_symbols else float(a)

    def crossover(self, param: str, i, j, values: Mapping | None = None, /, **kw):
        """Value(s) of ``param`` where terms ``i`` and ``j`` are equal.

        Symbolic (a list of sympy expressions) without values; a sorted list of floats with
        them. For ``L*D**2/T + sigma*D/sqrt(T)``: ``T = L**2*D**2/sigma**2``.
        """
        owner = f"Bound '{self.name}'.crossover"
        a, b = self.terms[self.term_index(i)], self.terms[self.term_index(j)]
        a, p = self._in_terms_of(a, param, owner)
        b, _ = self._in_terms_of(b, param, owner)
        sols = [s for s in sympy.solve(sympy.Eq(a, b), p) if s.is_positive is not False]
        if values is None and not kw:
            return sols
        vals = _merge(values, kw)
        out = []
        for s in sols:
            v = _evaluate(s, self._env([s], vals, owner)) if s.free_symbols else float(s)
            if np.ndim(v) == 0 and math.isfinite(float(v)) and float(v) > 0:
                out.append(float(v))
        return sorted(out)

    def regime(self, param: str, term, values: Mapping | None = None, /, *, share: float = 0.5,
               **kw) -> Regime | None:
        r"""The interval of ``param`` where ``term`` carries at least ``share`` of the bound.

        The other parameters are fixed at ``values`` (scalars). Every term must be a power
        of ``param`` there, :math:`B_j = c_j p^{a_j}`; then :math:`B/B_k = \sum_j (c_j/c_k)
        p^{a_j - a_k}` is convex in :math:`\log p` and the regime is one interval, found by
        root finding. Returns None when the term never carries that share.

        .. note::
           For ``kind="shape"`` the constants are those written (often 1), so the regime is
           only as good as they are.
        """
        owner = f"Bound '{self.name}'.regime"
        share = _checks.real(owner, "share", share, low=0, high=1, low_open=True, high_open=True)
        k = self.term_index(term)
        vals = _merge(values, kw)
        vals.pop(param, None)
        exps, logc = [], []
        for t in self.terms:
            e, p = self._in_terms_of(t, param, owner)
            a = sympy.simplify(p * sympy.diff(e, p) / e) if e != 0 else sympy.Integer(0)
            if p in a.free_symbols:
                _checks.fail(owner, "param", f"enter every term as a power (B_j = c_j {param}**a_j)", param,
                             f"Term {t} is not a power of {param}; use shares() on a grid instead.")
            a = _evaluate(a, self._env([a], vals, owner)) if a.free_symbols else float(a)
            c = _evaluate(e.subs(p, 1), self._env([e.subs(p, 1)], vals, owner))
            if np.ndim(a) or np.ndim(c):
                _checks.fail(owner, "values", f"hold scalars for every parameter except {param}", sorted(vals))
            exps.append(float(a))
            logc.append(math.log(float(c)) if float(c) > 0 else -math.inf)
        if logc[k] == -math.inf:
            return None
        keep = [j for j in range(len(exps)) if logc[j] > -math.inf]
        a = np.array([exps[j] - exps[k] for j in keep])
        b = np.array([logc[j] - logc[k] for j in keep])
        lo, hi = _share_interval(a, b, -math.log(share))
        if lo is None:
            return None
        return Regime(param, k, share, math.exp(lo), math.exp(hi))

    def explain(self, param: str, values: Mapping | None = None, /, **kw) -> str:
        """A few lines for a reader: local exponent, dominant term and each term's regime."""
        vals = _merge(values, kw)
        at = vals.get(param)
        if np.ndim(at) != 0:
            _checks.fail(f"Bound '{self.name}'.explain", "values", f"hold a scalar value of {param}", at)
        a = self.exponent(param, vals)
        sh = self.shares(vals)
        k = int(sh.argmax(0))
        lines = [f"{self.name} at {param}={at:.4g}: d log B / d log {param} = {float(a):+.3f}; "
                 f"dominant term {self.terms[k]} ({100 * sh[k]:.0f}% of the bound)"]
        for j, t in enumerate(self.terms):
            try:
                r = self.regime(param, j, vals, share=0.5)
            except ValueError:
                r = "n/a (not a power of " + param + ")"
            aj = self.exponent(param, vals, term=j)
            lines.append(f"  term {j}: {t}   exponent {float(aj):+.3g}; dominates (>= 50%) for "
                         f"{r if r is not None else 'no ' + param}")
        return "\n".join(lines)


def _share_interval(a, b, c):
    """Solve h(u) = logsumexp(b + a u) <= c for u, h convex; return (lo, hi) or (None, None).

    ``a`` and ``b`` include the reference term itself (a = b = 0), so h >= 0.
    """
    def h(u):
        return logsumexp(b + a * u)

    def dh(u):
        return float(softmax(b + a * u) @ a)

    pos, neg = (a > 0).any(), (a < 0).any()
    if pos and neg:
        lo, hi = -1.0, 1.0
        while dh(lo) > 0:
            lo *= 2
        while dh(hi) < 0:
            hi *= 2
        u0 = brentq(dh, lo, hi) if dh(lo) < 0 < dh(hi) else (lo if dh(lo) == 0 else hi)
        h0 = h(u0)
    elif pos:  # h increases: infimum at -inf, the terms with a == 0
        u0, h0 = -math.inf, logsumexp(b[a == 0])
    elif neg:
        u0, h0 = math.inf, logsumexp(b[a == 0])
    else:
        return (-math.inf, math.inf) if h(0.0) <= c else (None, None)
    if h0 > c:
        return None, None

    def root(direction):
        if math.isinf(u0):
            # start from a point inside the regime on the finite side
            start = 0.0
            while h(start) > c:
                start += -direction * (1 + abs(start))
        else:
            start = u0
        step = 1.0
        far = start + direction * step
        while h(far) <= c:
            step *= 2
            far = start + direction * step
        return brentq(lambda u: h(u) - c, *sorted((start, far)))

    lo = -math.inf if not neg else root(-1.0)
    hi = math.inf if not pos else root(+1.0)
    return lo, hi



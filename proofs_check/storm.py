"""STORM [CO19]: the error recursion, its unrolled form with beta_t = 1/t, and the mu^2-SGD variance bound [Lev23]."""

from __future__ import annotations

import numpy as np
import sympy as sp

from ._core import Result, first_violation, is_zero, nonneg_on_integers, nonneg_polynomial_coefficients, record

t, tau = sp.symbols("t tau", integer=True, positive=True)
beta = sp.Symbol("beta_t", positive=True)
# One coordinate of each vector: every identity below is linear, hence coordinate-wise.
# g = grad f(x_t; z_t), g_prev = grad f(x_{t-1}; z_t) (same sample), F = grad f(x_t), F_prev = grad f(x_{t-1})
g, g_prev, F, F_prev, d_prev = (sp.Symbol(n, real=True) for n in
                                ("g_t", "tilde g_t", "F_t", "F_{t-1}", "d_{t-1}"))
eps_prev, e, Z, Sigma = (sp.Symbol(n, real=True) for n in ("eps_{t-1}", "e_t", "Z_t", "Sigma_{t-1}"))
sigma, sigma_L, D, u = (sp.Symbol(n, positive=True) for n in ("sigma", "sigma_L", "D", "u"))

# Largest t searched for a counterexample when a bound cannot be proved.
SEARCH_T = 10**6


def check_error_recursion(c_eps=lambda b: 1 - b, c_e=lambda b: b, c_Z=lambda b: 1 - b) -> Result:
    r"""STORM's estimation error obeys ``eps_t = (1-beta_t) eps_{t-1} + beta_t e_t + (1-beta_t) Z_t``.

    Statement [CO19], derived here (checked below). With
    ``d_t = g_t + (1-beta_t)(d_{t-1} - tilde g_t)`` (both gradients on the same sample
    z_t), eps_t = d_t - grad f(x_t),
    e_t = g_t - grad f(x_t) and Z_t = (g_t - grad f(x_t)) - (tilde g_t - grad f(x_{t-1})).
    Checked symbolically from the definitions, for symbolic beta_t.
    """
    d_t = g + (1 - beta) * (d_prev - g_prev)
    lhs = d_t - F
    rhs = (c_eps(beta) * (d_prev - F_prev) + c_e(beta) * (g - F)
           + c_Z(beta) * ((g - F) - (g_prev - F_prev)))
    ok = is_zero(lhs - rhs)
    return record("STORM: error recursion", "symbolic", ok,
                  f"eps_t - ({c_eps(beta)}) eps_t-1 - ({c_e(beta)}) e_t - ({c_Z(beta)}) Z_t "
                  f"{'simplifies' if ok else 'does NOT simplify'} to 0 from the definitions")


def check_unrolled(beta_t=lambda t: 1 / t, e_weight=lambda tau: 1, Z_weight=lambda tau: tau - 1) -> Result:
    r"""With beta_t = 1/t and d_1 = g_1: ``t eps_t = sum_{tau<=t} (e_tau + (tau-1) Z_tau)``.

    Statement [Lev23], derived here (cf. [DL24b, proof of Thm. 4.1]). Checked by induction for
    symbolic t: assuming (t-1) eps_{t-1} = Sigma_{t-1} (the partial sum), the error
    recursion gives t eps_t = Sigma_{t-1} + e_weight(t) e_t + Z_weight(t) Z_t as an
    identity of rational functions of (t, Sigma, e_t, Z_t). Base t = 1: beta_1 = 1
    makes eps_1 = e_1 whatever eps_0 is, and the claimed sum must equal e_1 for every
    Z_1 (Z_1 is undefined), i.e. e_weight(1) = 1 and Z_weight(1) = 0.
    """
    b = beta_t(t)
    eps_t = (1 - b) * Sigma / (t - 1) + b * e + (1 - b) * Z
    step = t * eps_t - (Sigma + e_weight(t) * e + Z_weight(t) * Z)
    b1 = b.subs(t, 1)
    ok_base = b1 == 1 and e_weight(1) == 1 and Z_weight(1) == 0
    ok_step = is_zero(step)
    detail = (f"step {'is' if ok_step else 'is NOT'} an identity in t; base: beta_1 = {b1}, "
              f"claimed 1*eps_1 = {e_weight(1)} e_1 + {Z_weight(1)} Z_1")
    return record("STORM: t eps_t = sum (e_tau + (tau-1) Z_tau), beta_t = 1/t", "symbolic",
                  ok_step and ok_base, detail)


def closed_form_sum(summand):
    """sum_{tau=1}^t summand(tau) in closed form, for a rational summand with poles at integers <= 0.

    Partial fractions: the polynomial part is summed by sympy, each c/(tau+a)^k term
    is c (H^(k)_{t+a} - H^(k)_a) by the definition of the generalized harmonic number.
    """
    total = sp.Integer(0)
    for term in sp.Add.make_args(sp.apart(sp.together(summand(tau)), tau)):
        num, den = sp.fraction(sp.factor(term))
        if den.free_symbols:
            base, k = den.as_base_exp()
            a = base - tau
            if num.free_symbols or not (a.is_Integer and a >= 0 and k.is_Integer):
                raise ValueError(f"The 'summand' parameter of closed_form_sum must be a rational "
                                 f"function with poles at integers <= 0. Got the term {term}.")
            total += num * (sp.harmonic(t + a, k) - sp.harmonic(a, k))
        else:
            total += sp.summation(term, (tau, 1, t))
    return total


def _harmonic_in_terms_of_t(expr):
    """Rewrite every H^(k)_{t+a} (integer a) as H^(k)_t plus or minus finitely many terms 1/(t+j)^k."""
    def rewrite(h):
        n_, k = h.args if len(h.args) == 2 else (h.args[0], sp.Integer(1))
        a = sp.expand(n_ - t)
        if not a.is_Integer:
            return h
        shift = sp.Add(*[1 / (t + j) ** k for j in range(1, int(a) + 1)]) - \
            sp.Add(*[1 / (t + j) ** k for j in range(int(a) + 1, 1)])
        return sp.Symbol(f"H{k}_t") + shift
    return expr.replace(lambda e: isinstance(e, sp.harmonic), rewrite)


def _partial_sums(summand, n: int) -> np.ndarray:
    """sum_{tau<=t} summand(tau) for t = 1..n in float64."""
    taus = np.arange(1, n + 1, dtype=np.float64)
    return np.cumsum(sp.lambdify(tau, summand(tau), "numpy")(taus) * np.ones_like(taus))


def check_drift_sum(bound=lambda t: 4 * t, summand=lambda tau: (tau - 1) ** 2 * (2 / (tau + 1)) ** 2) -> Result:
    r"""``S(t) := sum_{tau<=t} (tau-1)^2 (2/(tau+1))^2 <= 4t`` for every integer t >= 1.

    Statement derived here (docs/theory.md, "Derivations"); the sum collects the
    smoothness-variance terms (tau-1)^2 ||x_tau - x_{tau-1}||^2 / D^2 under the drift bound. Proof for all t by
    induction, checked symbolically: bound(1) >= S(1), and bound(t) - bound(t-1) >=
    summand(t) at every integer t >= 2 (an exact sign decision on a rational function
    of t). The closed form of S(t) in harmonic numbers is reported, and checked
    symbolically: S(t) - S(t-1) = summand(t) for symbolic t (harmonic numbers shifted
    to H_t) and S(1) = summand(1). When the induction fails, the partial sums are
    searched up to t = 10^6 for a counterexample.
    """
    closed = closed_form_sum(summand)
    # the closed form satisfies S(t) - S(t-1) = summand(t) for symbolic t, and S(1) = summand(1)
    ok_closed = (is_zero(_harmonic_in_terms_of_t(closed - closed.subs(t, t - 1)) - summand(t))
                 and sp.simplify(closed.subs(t, 1) - summand(sp.Integer(1))) == 0)
    ok_base = bound(1) - summand(sp.Integer(1)) >= 0
    ok_step, witness = nonneg_on_integers(bound(t) - bound(t - 1) - summand(t), t, t0=2)
    if ok_base and ok_step:
        detail = (f"S(t) = {sp.sstr(sp.expand(closed))} (checked: S(t) - S(t-1) = summand(t)); "
                  f"induction: base {bound(1)} >= "
                  f"{summand(sp.Integer(1))}, increment {sp.factor(bound(t) - bound(t - 1) - summand(t))} "
                  f">= 0 for all t >= 2")
    else:
        bad = first_violation(_partial_sums(summand, SEARCH_T),
                              sp.lambdify(t, bound(t), "numpy")(np.arange(1, SEARCH_T + 1, dtype=np.float64)))
        detail = (f"S(t) > {bound(t)} at t={bad}" if bad is not None
                  else f"not proved (induction fails at t={witness}); no counterexample up to t={SEARCH_T}")
    return record("STORM: sum (tau-1)^2 (2/(tau+1))^2 <= 4t", "symbolic",
                  ok_base and ok_step and ok_closed, detail + ("" if ok_closed else "; closed form WRONG"))


def check_norm_split() -> Result:
    """``||u + v||^2 <= 2||u||^2 + 2||v||^2``: the slack is ``||u - v||^2`` (symbolic, vectors in R^3)."""
    U = sp.Matrix(sp.symbols("u1:4", real=True))
    V = sp.Matrix(sp.symbols("v1:4", real=True))
    sq = lambda x: (x.T * x)[0]  # noqa: E731
    ok = is_zero(2 * sq(U) + 2 * sq(V) - sq(U + V) - sq(U - V))
    return record("STORM: ||u+v||^2 <= 2||u||^2 + 2||v||^2", "symbolic", ok,
                  "2||u||^2 + 2||v||^2 - ||u+v||^2 = ||u-v||^2 identically")


def check_variance_bound(c_sigma=2, c_L=8, summand=lambda tau: (tau - 1) ** 2 * (2 / (tau + 1)) ** 2) -> Result:
    r"""mu^2-SGD error: ``E||eps_t||^2 <= (2 sigma^2 + 8 D^2 sigma_L^2)/t``.

    Statement [Lev23] (restated in [DL24b, §4]); the constants derived here
    (docs/theory.md, "Derivations"). The chain:

    1. t eps_t = sum_tau (e_tau + (tau-1) Z_tau) (unrolled form, checked above); the
       summands are martingale differences (x_tau is fixed before z_tau is drawn), so
       E||t eps_t||^2 = sum_tau E||e_tau + (tau-1) Z_tau||^2. This probabilistic step is
       stated, not machine-checked;
    2. ||u + v||^2 <= 2||u||^2 + 2||v||^2 (checked above);
    3. E||e_tau||^2 <= sigma^2 and E||Z_tau||^2 <= sigma_L^2 ||x_tau - x_{tau-1}||^2
       <= sigma_L^2 (2D/(tau+1))^2 ([DL24b, Eqs. (2) and (4)] and the drift check), so
       E||eps_t||^2 <= (2 sigma^2 t + 2 sigma_L^2 D^2 S(t)) / t^2;
    4. with S(t) = 4t - u, u >= 0 (previous check), claim - chain is a ratio of
       polynomials with nonnegative coefficients in (sigma, sigma_L, D, t, u): a
       symbolic proof for every t. When step 4 fails, the exact S(t) is used to find a
       t at which the chain's bound exceeds the claim.
    """
    chain = (2 * sigma**2 * t + 2 * sigma_L**2 * D**2 * (4 * t - u)) / t**2
    claim = (c_sigma * sigma**2 + c_L * D**2 * sigma_L**2) / t
    if nonneg_polynomial_coefficients(claim - chain, [sigma, sigma_L, D, t, u]):
        return record("STORM: E||eps_t||^2 <= (2 sigma^2 + 8 D^2 sigma_L^2)/t", "symbolic", True,
                      f"claim - chain = {sp.factor(claim - chain)} >= 0 for all t, with u = 4t - S(t) >= 0 "
                      "(martingale step E||sum||^2 = sum E||.||^2 stated, not machine-checked)")
    ts = np.arange(1, SEARCH_T + 1, dtype=np.float64)
    S = _partial_sums(summand, SEARCH_T)
    # The chain's two terms scale with sigma^2 and D^2 sigma_L^2 separately: test each.
    bad_sigma = first_violation(2 * ts / ts**2, float(c_sigma) / ts)
    bad_L = first_violation(2 * S / ts**2, float(c_L) / ts)
    where = [f"{name} term at t={k}" for name, k in (("sigma^2", bad_sigma), ("D^2 sigma_L^2", bad_L))
             if k is not None]
    detail = ("chain exceeds the claim: " + ", ".join(where)) if where else \
        f"not proved; no t <= {SEARCH_T} where the chain exceeds the claim"
    return record("STORM: E||eps_t||^2 <= (2 sigma^2 + 8 D^2 sigma_L^2)/t", "symbolic", False, detail)


def run() -> list[Result]:
    return [check_error_recursion(), check_unrolled(), check_drift_sum(), check_norm_split(),
            check_variance_bound()]

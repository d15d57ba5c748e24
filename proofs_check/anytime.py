"""AnyTime averaging [Cut19]: the recursion is the weighted average, gamma_t = 2/(t+1), slow query points."""

from __future__ import annotations

import sympy as sp

from ._core import Result, is_zero, nonneg_on_integers, record

t, tau = sp.symbols("t tau", integer=True, positive=True)
# a = alpha_t, A = alpha_{1:t-1}, P = sum_{tau<t} alpha_tau w_tau, one coordinate of each vector
a, A, D = (sp.Symbol(n, positive=True) for n in ("alpha_t", "alpha_{1:t-1}", "D"))
P, w, x_prev = (sp.Symbol(n, real=True) for n in ("P", "w_t", "x_{t-1}"))


def alpha_sum(alpha, upper):
    """alpha_{1:upper} = sum_{tau <= upper} alpha_tau, in closed form."""
    return sp.summation(alpha(tau), (tau, 1, upper))


def check_recursion(keep=lambda a, A: A / (A + a), mix=lambda a, A: a / (A + a)) -> Result:
    r"""The recursion ``x_t = keep x_{t-1} + mix w_t`` equals the weighted average.

    Statement [Cut19], derived here (checked below): for any weights alpha_t > 0,

    .. math:: x_t = \frac{\alpha_{1:t-1}}{\alpha_{1:t}} x_{t-1} + \frac{\alpha_t}{\alpha_{1:t}} w_t
              = \frac{1}{\alpha_{1:t}} \sum_{\tau \le t} \alpha_\tau w_\tau .

    Checked by induction, symbolically in (alpha_t, alpha_{1:t-1}, P, w_t), hence for
    every t and every positive weights: if x_{t-1} = P / alpha_{1:t-1} then the
    recursion gives (P + alpha_t w_t) / alpha_{1:t}; the base case alpha_{1:0} = 0
    must return x_1 = w_1 whatever x_0 is (keep = 0, mix = 1).
    """
    step = keep(a, A) * P / A + mix(a, A) * w - (P + a * w) / (A + a)
    base_keep, base_mix = sp.limit(keep(a, A), A, 0), sp.limit(mix(a, A), A, 0)
    ok_step, ok_base = is_zero(step), is_zero(base_keep) and is_zero(base_mix - 1)
    detail = (f"induction step {'is' if ok_step else 'is NOT'} an identity in "
              f"(alpha_t, alpha_1:t-1, P, w_t); base x_1 = {sp.sstr(base_keep)}*x_0 + "
              f"{sp.sstr(base_mix)}*w_1")
    return record("AnyTime: recursion = weighted average", "symbolic", ok_step and ok_base, detail)


def check_mixing_weight(gamma=lambda t: 2 / (t + 1), keep=lambda t: (t - 1) / (t + 1),
                        alpha=lambda t: t) -> Result:
    """With alpha_t = t: alpha_t/alpha_{1:t} = 2/(t+1) and alpha_{1:t-1}/alpha_{1:t} = (t-1)/(t+1).

    Statement derived here. Checked symbolically for symbolic t:
    alpha_{1:t} is summed in closed form by sympy and both claims are compared with
    the exact ratios as rational functions of t.
    """
    total = alpha_sum(alpha, t)
    true_gamma = sp.factor(alpha(t) / total)
    ok = is_zero(gamma(t) - true_gamma) and is_zero(keep(t) - total.subs(t, t - 1) / total)
    table = ", ".join(sp.sstr(true_gamma.subs(t, k)) for k in range(1, 7))
    detail = (f"alpha_1:t = {sp.factor(total)}, alpha_t/alpha_1:t = {true_gamma} (t=1..6: {table}); "
              f"claimed gamma_t = {gamma(t)}, keep = {keep(t)}")
    return record("AnyTime: gamma_t = 2/(t+1), keep (t-1)/(t+1)", "symbolic", ok, detail)


def check_drift(bound=lambda t, D: 2 * D / (t + 1), alpha=lambda t: t) -> Result:
    r"""Slow query points: ``||x_t - x_{t-1}|| <= 2D/(t+1)`` when every w_tau lies in K (diameter D).

    Statement derived here (used in docs/theory.md, "Derivations"). Proof checked in three steps:

    1. x_t - x_{t-1} = gamma_t (w_t - x_{t-1}): an identity of the recursion (symbolic);
    2. x_{t-1} is a convex combination of w_1..w_{t-1} (previous check), so it lies in
       K and ||w_t - x_{t-1}|| <= D;
    3. gamma_t D <= bound(t, D) at every integer t >= 2: decided exactly by
       :func:`nonneg_on_integers`.

    Step 2 is tight (w_1 = ... = w_{t-1} = a, w_t = b, ||a - b|| = D), so a failure of
    step 3 is a counterexample to the statement, not a gap in the proof.
    """
    total = alpha_sum(alpha, t)
    gamma = alpha(t) / total
    keep = total.subs(t, t - 1) / total
    x_t = keep * x_prev + gamma * w
    ok_identity = is_zero(x_t - x_prev - gamma * (w - x_prev))
    homogeneous = is_zero(bound(t, D) - D * bound(t, 1))
    ok_bound, counterexample = nonneg_on_integers(bound(t, 1) - gamma, t, t0=2) if homogeneous \
        else (False, None)
    if not homogeneous:
        detail = "bound is not of the form D*b(t)"
    elif ok_bound:
        detail = (f"x_t - x_t-1 = gamma_t (w_t - x_t-1), ||w_t - x_t-1|| <= D (x_t-1 in K); "
                  f"gamma_t*D <= {bound(t, D)} for all integers t >= 2")
    else:
        detail = (f"tight instance violates {bound(t, D)} at t={counterexample}: "
                  f"||x_t - x_t-1|| = {sp.sstr(gamma.subs(t, counterexample))}*D")
    return record("AnyTime: drift ||x_t - x_t-1|| <= 2D/(t+1)", "symbolic",
                  ok_identity and ok_bound, detail)


def check_online_to_batch(lhs=lambda a, A, w, x_t, x_prev: a * (w - x_t),
                          rhs=lambda a, A, w, x_t, x_prev: A * (x_t - x_prev)) -> Result:
    r"""The identity behind anytime online-to-batch: ``alpha_t (w_t - x_t) = alpha_{1:t-1} (x_t - x_{t-1})``.

    Statement [Cut19, proof of Thm 1], derived here (checked below). It turns the weighted regret
    sum_t alpha_t <g_t, w_t - x*> into alpha_{1:T}(f(x_T) - f*) plus Bregman terms (the
    derivation of :data:`proofs_check.pep_anytime.ANYTIME_NOISELESS_CONSTANT` uses it).
    Checked symbolically for every t and every positive weights.
    """
    x_t = (A * x_prev + a * w) / (A + a)
    ok = is_zero(lhs(a, A, w, x_t, x_prev) - rhs(a, A, w, x_t, x_prev))
    return record("AnyTime: online-to-batch identity", "symbolic", ok,
                  "alpha_t (w_t - x_t) - alpha_1:t-1 (x_t - x_t-1) "
                  f"{'simplifies' if ok else 'does NOT simplify'} to 0")


def run() -> list[Result]:
    return [check_recursion(), check_mixing_weight(), check_drift(), check_online_to_batch()]

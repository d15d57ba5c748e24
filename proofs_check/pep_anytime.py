"""Noiseless AnyTime-GD on L-smooth convex functions: exact worst case by PEP [THG17, GMT+22] against c L D^2 / T."""

from __future__ import annotations

import math
import warnings

import numpy as np
import sympy as sp
from scipy.optimize import minimize_scalar

from ._core import Result, is_zero, nonneg_on_integers, record

ANYTIME_NOISELESS_CONSTANT = 4
r"""The constant c in ``f(x_T) - f* <= c L D^2 / T`` for noiseless AnyTime-GD.

Method [Cut19; Lev23; DL24b, §4]: w_1 = x_1,
w_{t+1} = w_t - eta alpha_t grad f(x_t), x_{t+1} = (alpha_{1:t} x_t + alpha_{t+1} w_{t+1}) / alpha_{1:t+1},
alpha_t = t, eta = 1/(4 L T), unconstrained, D = ||x_1 - x*||; the output x_T uses the
gradients at x_1..x_{T-1}.

Derivation (derived here; [Lev23] is recalled only for the O(L D^2/T) shape): by the
online-to-batch identity alpha_t (w_t - x_t) = alpha_{1:t-1}(x_t - x_{t-1}), convexity
<g_t, x_t - x_{t-1}> >= f(x_t) - f(x_{t-1}) and smooth convexity
<g_t, x_t - x*> >= f(x_t) - f* + ||g_t||^2/(2L),

    alpha_{1:T} (f(x_T) - f*) + sum_t alpha_t ||g_t||^2 / (2L) <= sum_t alpha_t <g_t, w_t - x*>
                              <= D^2/(2 eta) + (eta/2) sum_t alpha_t^2 ||g_t||^2

(the second line is the online-gradient-descent identity). When eta alpha_t <= 1/L
for t <= T the gradient terms cancel in our favour, so f(x_T) - f* <= D^2/(eta T(T+1));
with eta = 1/(4 L T) this is 4 L D^2/(T+1) < 4 L D^2/T. The check below shows that 4
cannot be lowered: a Huber function attains T/(2(1 + 2 L h_T)) L D^2/T, which tends to 4.
"""

T_RANGE = range(1, 9)
# PEP values are SDP optima: agreement with the Huber lower bound is asked to this
# absolute tolerance, and a claimed bound is violated only beyond it.
PEP_TOL = 1e-6
# best-eta search over eta L T in [0.5, 16]: a grid (the worst case is not unimodal in
# eta for T >= 7), then a bounded scalar search around the best grid point
ETA_GRID = np.geomspace(0.5, 16.0, 9)

T = sp.Symbol("T", integer=True, positive=True)
s_, t_ = sp.symbols("s t", integer=True, positive=True)
L, eta = sp.symbols("L eta", positive=True)


def anytime_gd(x1, grad, T: int, eta: float, alpha=lambda t: t):
    """x_T of AnyTime-GD from x_1; works on floats and on PEPit points alike."""
    w = x = x1
    total = alpha(1)
    for t in range(1, T):
        w = w - (eta * alpha(t)) * grad(x)
        new_total = total + alpha(t + 1)
        x = (total / new_total) * x + (alpha(t + 1) / new_total) * w
        total = new_total
    return x


def pep_worst_case(T: int, eta: float, L: float = 1.0, alpha=lambda t: t):
    """Worst f(x_T) - f* over L-smooth convex f with ||x_1 - x*|| <= 1 (PEPit, dual value, Clarabel).

    Returns ``(value, inaccurate)``: the SDP optimum, and whether cvxpy flagged the solve
    as inaccurate (the value is then still reported, and cross-checked by the caller).
    """
    import cvxpy as cp  # imported here, as PEPit: only this lemma's solve needs them
    from PEPit import PEP  # PEPit is a dev dependency
    from PEPit.functions import SmoothConvexFunction

    problem = PEP()
    f = problem.declare_function(SmoothConvexFunction, L=L)
    xs = f.stationary_point()
    x1 = problem.set_initial_point()
    problem.set_initial_condition((x1 - xs) ** 2 <= 1)
    problem.set_performance_metric(f(anytime_gd(x1, f.gradient, T, eta, alpha)) - f(xs))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = problem.solve(wrapper="cvxpy", solver=cp.CLARABEL, verbose=0)
    inaccurate = any("inaccurate" in str(w.message) for w in caught)
    return float(value), inaccurate


def effective_step(T: int, eta: float, alpha=lambda t: t) -> float:
    """h_T with x_T = x_1 - h_T g when every gradient equals g (float)."""
    return anytime_gd(0.0, lambda x: -1.0, T, eta, alpha)


def huber_excess(T: int, eta: float, L: float = 1.0, D: float = 1.0, alpha=lambda t: t) -> float:
    """f(x_T) - f* of AnyTime-GD run on the Huber function that is worst for GD with small steps [DT14; THG17].

    f(x) = (L/2) x^2 for |x| <= r and g0 |x| - g0^2/(2L) beyond, with r = D/(1 + 2 L h_T)
    and g0 = L r: started at x_1 = D, every iterate stays where the slope is g0.
    """
    r = D / (1 + 2 * L * effective_step(T, eta, alpha))
    g0 = L * r

    def f(x):
        return 0.5 * L * x * x if abs(x) <= r else g0 * abs(x) - g0 * g0 / (2 * L)

    def grad(x):
        return L * x if abs(x) <= r else g0 * math.copysign(1.0, x)

    return f(anytime_gd(D, grad, T, eta, alpha))


def check_pep(constant=ANYTIME_NOISELESS_CONSTANT, eta_of_T=lambda T: 1 / (4 * T), t_range=T_RANGE) -> Result:
    r"""PEP: for T = 1..8, ``c_T := T (f(x_T) - f*)/(L D^2) <= constant`` and ``<= 4T/(T+1)`` (derived).

    Checked with PEPit [GMT+22] (L = D = 1, eta = eta_of_T(T)): the SDP's dual value
    is an upper bound on the worst case; running the method on the Huber function of
    :func:`huber_excess` gives a lower bound; when both agree to 1e-6 the constant is
    the exact worst case. Numeric (an SDP solved in floating point).
    """
    rows, ok, inaccurate = [], True, 0
    for T_ in t_range:
        value, flag = pep_worst_case(T_, eta_of_T(T_))
        inaccurate += flag
        c_T, lower = T_ * value, T_ * huber_excess(T_, eta_of_T(T_))
        ok &= c_T <= constant + PEP_TOL and c_T <= 4 * T_ / (T_ + 1) + PEP_TOL and lower <= c_T + PEP_TOL
        exact = abs(c_T - lower) <= PEP_TOL
        rows.append(f"{c_T:.4f}" + ("" if exact else f" (Huber {lower:.4f})"))
    detail = (f"c_T for T={t_range.start}..{t_range.stop - 1}: {', '.join(rows)} "
              f"(= Huber lower bound to {PEP_TOL:g} unless shown) <= {constant}; "
              f"{inaccurate} solve(s) flagged inaccurate")
    return record("AnyTime-GD noiseless: PEP c_T <= 4 (eta = 1/(4LT))", "PEP", ok, detail)


def check_constant_is_tight(constant=ANYTIME_NOISELESS_CONSTANT, eta_of_T=lambda T: 1 / (4 * T)) -> Result:
    r"""The Huber lower bound ``c_T >= T/(2(1 + 2 L h_T))`` holds for every T and tends to 4.

    Checked symbolically for symbolic T with alpha_t = t: h_T = (eta/alpha_{1:T})
    sum_{s<T} alpha_s (alpha_{1:T} - alpha_{1:s}) in closed form; h_t is nondecreasing in t
    for fixed eta (exact sign decision), so every iterate stays on the linear part of the
    Huber function and the lower bound is exact for all T; the lower bound stays below the
    derived 4T/(T+1) and its limit is 4. Hence sup_T c_T = 4: any constant below 4 fails
    at a finite T, reported as a counterexample.
    """
    A = lambda n: n * (n + 1) / 2  # noqa: E731  (alpha_{1:n} for alpha_t = t)
    h = sp.factor(eta / A(t_) * sp.summation(s_ * (A(t_) - A(s_)), (s_, 1, t_ - 1)))
    ok_monotone, _ = nonneg_on_integers(sp.cancel((h.subs(t_, t_ + 1) - h) / eta), t_, t0=1)
    c_lower = sp.factor((T / (2 * (1 + 2 * L * h.subs(t_, T)))).subs(eta, eta_of_T(T) / L))
    ok_upper, _ = nonneg_on_integers(4 * T / (T + 1) - c_lower, T, t0=1)
    limit = sp.limit(c_lower, T, sp.oo)
    ok_const, counterexample = nonneg_on_integers(constant - c_lower, T, t0=1)
    ok = ok_monotone and ok_upper and ok_const and is_zero(limit - constant)
    detail = (f"h_T = {h.subs(t_, T)}, Huber lower bound c_T >= {c_lower}, limit {limit}; "
              f"below the derived upper bound 4T/(T+1) for all T ({'proved' if ok_upper else 'FAILS'}; "
              f"the upper bound's derivation is in the module, PEP-confirmed for T <= 8); "
              f"claimed constant {constant}"
              + (f" is exceeded at T={counterexample}" if not ok_const else
                 "" if is_zero(limit - constant) else " is not the supremum"))
    return record("AnyTime-GD noiseless: sup_T c_T = 4 (Huber, all T)", "symbolic", ok, detail)


def best_eta(T_: int):
    """min over eta of T (f(x_T) - f*)/(L D^2), searched over eta L T in [0.5, 16]."""
    objective = lambda u: T_ * pep_worst_case(T_, math.exp(u) / T_)[0]  # noqa: E731
    grid = np.log(ETA_GRID)
    values = [objective(u) for u in grid]
    k = int(np.argmin(values))
    res = minimize_scalar(objective, bounds=(grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]),
                          method="bounded", options={"xatol": 1e-3})
    return (math.exp(res.x), res.fun) if res.fun < values[k] else (ETA_GRID[k], values[k])


def check_best_eta(constant=ANYTIME_NOISELESS_CONSTANT, t_range=range(2, 9)) -> Result:
    """PEP at the best step: ``min_eta c_T <= constant``; reports the best eta L T and c_T (T = 2..8).

    Numeric: a grid over eta L T in [0.5, 16] plus a bounded scalar search, one PEP per
    evaluation. The best constant is a property of the method; the check only asks
    that it stays below the stated one.
    """
    rows, ok = [], True
    for T_ in t_range:
        eta_LT, c_T = best_eta(T_)
        ok &= c_T <= constant + PEP_TOL
        rows.append(f"T={T_}: {c_T:.4f} at eta*L*T={eta_LT:.2f}")
    return record("AnyTime-GD noiseless: PEP c_T at best eta", "PEP", ok, "; ".join(rows))


def run() -> list[Result]:
    return [check_pep(), check_constant_is_tight(), check_best_eta()]

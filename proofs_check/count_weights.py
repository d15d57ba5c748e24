"""Count weights [DL24b]: the inverse-variance optimum, and the variance ratio uniform/count (1/n^2) sum 1/p_i >= 1."""

from __future__ import annotations

import itertools
from fractions import Fraction

import sympy as sp

from ._core import Result, indexed_sum, is_zero, record

n = sp.Symbol("n", integer=True, positive=True)
i, j = sp.symbols("i j", integer=True, positive=True)
s = sp.IndexedBase("s", positive=True)  # s_i: number of updates of worker i
p = sp.IndexedBase("p", positive=True)  # p_i: arrival probability of worker i
c, nu = sp.symbols("sigma_tilde^2 nu", positive=True)

# Var_uniform / Var_counts for n honest workers, samplers 'id' and 'id2' (derived here, not in a paper)
PAPER_RATIOS = {9: {"id": 1.572, "id2": 5.418}, 8: {"id": 1.529, "id2": 4.869},
                4: {"id": 1.302, "id2": 2.669}}
# Arrival probability of worker i (1-based) is proportional to these
# [DL24b, §5; DL24b-code, worker_sampler.py]
SAMPLERS = {"id": lambda i: i, "id2": lambda i: i**2}


def _same_index(expr):
    """Rename every summation index to i, so that sympy sees equal sums as equal."""
    return expr.xreplace({j: i})


def check_optimal_weights(weights=lambda s, i: s[i] / sp.Sum(s[j], (j, 1, n))) -> Result:
    r"""Weights proportional to the counts s_i minimize the variance of the weighted mean.

    Statement derived here (docs/theory.md, "Derivations"), the rationale for count
    weights of [DL24b, §4.1]: with independent worker estimates of variance
    v_i = sigma_tilde^2 / s_i, the minimizer of
    Var(sum_i w_i d^i) = sum_i w_i^2 v_i subject to sum_i w_i = 1 is w_i = s_i / sum_j s_j,
    with minimum sigma_tilde^2 / sum_j s_j. Checked symbolically for symbolic n and a
    symbolic index i (sympy Indexed): the weights sum to 1, and the Lagrangian's
    gradient 2 w_i v_i - nu vanishes for every i with one multiplier nu (the gradient
    term 2 w_i v_i is free of i). The objective is strictly convex (Hessian
    diag(2 v_i) > 0), so this stationary point is the global minimum.
    """
    w = weights(s, i)
    v = c / s[i]
    total = _same_index(sp.Sum(w, (i, 1, n)).doit())
    grad = sp.simplify(2 * w * v)
    stationary = not (grad.has(i) or grad.has(s[i]))
    minimum = sp.simplify(_same_index(sp.Sum(w**2 * v, (i, 1, n)).doit()))
    ok = is_zero(total - 1) and stationary
    detail = (f"sum_i w_i = {sp.simplify(total)}; 2 w_i v_i = {grad} "
              f"({'one multiplier for all i' if stationary else 'depends on i: not stationary'}); "
              f"min variance = {minimum}")
    return record("Count weights: inverse-variance optimum", "symbolic", ok, detail)


def check_am_hm(ratio=lambda p, n: sp.Sum(1 / p[i], (i, 1, n)) / n**2, n_max: int = 6) -> Result:
    r"""``Var_uniform / Var_counts = (1/n^2) sum_i 1/p_i >= 1`` (AM-HM), equality iff p_i = 1/n.

    Statement derived here (docs/theory.md, "Derivations"): with no staleness and no
    Byzantine workers, worker i's estimate after t steps has variance
    sigma_tilde^2/(p_i t) (the model of [DL24b, Thm. 4.1]); uniform weights 1/n give
    sum_i v_i / n^2, count weights s_i = p_i t give sigma_tilde^2/t.
    Checked symbolically for symbolic n: the ratio of the two variances, with
    sum_i p_i = 1, equals the claimed ratio. The inequality: sum_i 1/p_i =
    (sum_j p_j)(sum_i 1/p_i) = n + sum_{i<j} (p_i/p_j + p_j/p_i), and each pair term is
    2 + (p_i - p_j)^2/(p_i p_j) >= 2 (symbolic identity), which gives >= n^2. The
    regrouping of the double sum into pairs is checked symbolically for n = 2..n_max.
    """
    v = c / (p[i] * sp.Symbol("t", positive=True))
    var_uniform = indexed_sum(v / n**2, i, n)
    var_counts = indexed_sum(p[i] ** 2 * v, i, n).subs(sp.Sum(p[i], (i, 1, n)), 1)
    ok_ratio = is_zero(_same_index(sp.simplify(var_uniform / var_counts) - ratio(p, n)))
    a, b = sp.symbols("a b", positive=True)
    ok_pair = is_zero(a / b + b / a - 2 - (a - b) ** 2 / (a * b))
    ok_regroup = True
    for k in range(2, n_max + 1):
        q = sp.symbols(f"q1:{k + 1}", positive=True)
        double = sp.Add(*[q[jj] / q[ii] for ii in range(k) for jj in range(k)])
        pairs = k + sp.Add(*[q[ii] / q[jj] + q[jj] / q[ii] for ii, jj in itertools.combinations(range(k), 2)])
        ok_regroup &= is_zero(double - pairs)
    ok = ok_ratio and ok_pair and ok_regroup
    detail = (f"Var_uniform/Var_counts {'=' if ok_ratio else '!='} claimed {ratio(p, n)} "
              f"(symbolic n); pair term - 2 = (p_i - p_j)^2/(p_i p_j) >= 0; "
              f"pair regrouping {'holds' if ok_regroup else 'FAILS'} for n = 2..{n_max}")
    return record("Count weights: Var_uniform/Var_counts = (1/n^2) sum 1/p_i >= 1", "symbolic", ok, detail)


def variance_ratio(n_workers: int, sampler) -> Fraction:
    """(1/n^2) sum_i 1/p_i with p_i proportional to sampler(i), as an exact rational."""
    mass = [Fraction(sampler(k)) for k in range(1, n_workers + 1)]
    total = sum(mass)
    return sum(total / m for m in mass) / n_workers**2


def check_ratio_values(samplers=SAMPLERS, expected=PAPER_RATIOS) -> Result:
    """The ratios for n = 9, 8, 4 honest workers under the id and id2 samplers.

    Statement derived here. Computed as exact rationals (closed forms
    (n+1) H_n / (2n) for id and (n+1)(2n+1) H^(2)_n / (6n) for id2) and compared with
    the three-decimal values of PAPER_RATIOS.
    """
    rows, ok = [], True
    for n_workers, values in expected.items():
        for name, stated in values.items():
            exact = variance_ratio(n_workers, samplers[name])
            ok &= round(float(exact), 3) == stated
            rows.append(f"n={n_workers} {name}: {exact} = {float(exact):.4f} (tabulated {stated})")
    return record("Count weights: variance ratios n=9,8,4 (id, id2)", "numeric", ok, "; ".join(rows))


def run() -> list[Result]:
    return [check_optimal_weights(), check_am_hm(), check_ratio_values()]

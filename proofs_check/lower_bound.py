"""Robustness lower bound [AFG+23]: every aggregator has kappa >= f/(m - 2f), by two indistinguishable instances."""

from __future__ import annotations

import sympy as sp
import torch

from ._core import Result, is_zero, record

# (m, f) at which every rule is defined (Krum needs m - f - 2 >= 1 neighbours)
CONFIGS = ((5, 1), (9, 4), (10, 3), (17, 8))
D_DIM = 3
# The worst of the two ratios may fall short of the bound only by rounding
TOL = 1e-9


def lower_bound(m, f):
    """f/(m - 2f) [AFG+23, Prop. 1; digest §3.4 and §7.2 item 3, R]."""
    return f / (m - 2 * f)


def construction(m: int, f: int, d: int = D_DIM, dtype=torch.float64) -> torch.Tensor:
    """Inputs (1, m, d): f rows at -e_1, m - 2f rows at 0, f rows at +e_1.

    Either the first m - f rows are honest (the last f Byzantine), or the last m - f
    are: the two instances give the aggregator the same input.
    """
    x = torch.zeros(1, m, d, dtype=dtype)
    x[0, :f, 0] = -1.0
    x[0, m - f:, 0] = 1.0
    return x


def honest_ratio(y: torch.Tensor, x: torch.Tensor, honest: slice) -> float:
    """||y - xbar_G||^2 / ((1/|G|) sum_G ||x_i - xbar_G||^2) for one instance."""
    xg = x[0, honest]
    xbar = xg.mean(0)
    return float((y.reshape(-1) - xbar).pow(2).sum() / (xg - xbar).pow(2).sum(-1).mean())


def worst_of_two(agg, m: int, f: int) -> float:
    """max over the two honest sets of the ratio reached by ``agg``'s single output."""
    x = construction(m, f)
    y = agg(x, None, lam=f / m)
    return max(honest_ratio(y, x, slice(0, m - f)), honest_ratio(y, x, slice(f, m)))


def check_construction(bound=lower_bound) -> Result:
    r"""The two instances certify ``kappa >= f/(m - 2f)``: symbolic in m and f.

    With G_1 = {-e x f, 0 x (m-2f)} and G_2 = {0 x (m-2f), +e x f}: xbar_{G_1,2} =
    -+ f/(m-f) e and rho^2 = f(m-2f)/(m-f)^2 in both. Any output y has
    max_s ||y - xbar_s|| >= ||xbar_1 - xbar_2||/2 (triangle inequality; equality at the
    midpoint), so the best aggregator's worst ratio is (f/(m-f))^2 / rho^2, compared
    with the claimed bound as rational functions of f and g = m - 2f > 0.
    """
    f, g = sp.symbols("f g", positive=True)  # g = m - 2f > 0
    m = 2 * f + g
    xbar1, xbar2 = -f / (m - f), f / (m - f)
    rho2 = (f * (-1 - xbar1) ** 2 + (m - 2 * f) * xbar1**2) / (m - f)
    rho2_other = ((m - 2 * f) * xbar2**2 + f * (1 - xbar2) ** 2) / (m - f)
    certified = sp.factor(((xbar2 - xbar1) / 2) ** 2 / rho2)
    claimed = sp.factor(bound(m, f))
    ok = is_zero(rho2 - rho2_other) and is_zero(certified - claimed)
    return record("Lower bound: kappa >= f/(m-2f) (construction)", "symbolic", ok,
                  f"with g = m - 2f: rho^2 = {sp.factor(rho2)} in both instances; "
                  f"min_y max ratio = {certified} (claimed {claimed})")


def check_aggregators(aggregators: dict, bound=lower_bound, configs=CONFIGS) -> Result:
    """On sco's aggregators: the worst of the two instances reaches at least the bound, for every rule and (m, f).

    Numeric: each rule is called once per (m, f) with lam = f/m on the construction; the
    detail gives, per rule, the smallest worst-ratio / bound over the configurations
    (1.0 means the rule sits exactly at the bound, as the mean does by symmetry).
    """
    rows, ok = [], True
    for name, agg in aggregators.items():
        slack = min(worst_of_two(agg, m, f) / float(bound(m, f)) for m, f in configs)
        ok &= slack >= 1 - TOL
        rows.append(f"{name} {slack:.3g}")
    detail = f"min over (m,f) in {list(configs)} of worst/bound: " + ", ".join(rows)
    return record("Lower bound: every rule's worst >= f/(m-2f)", "numeric", ok, detail)


# sco's deterministic rules that need neither a center nor a random stream, and meta-rules over them
RULES = ("mean", "cwmed", "cwmed[mode=upper]", "cwtm", "geometric_median", "rfa", "krum", "multi_krum",
         "ctma(cwmed)", "ctma(geometric_median)", "ctma(krum)", "nnm(cwmed)", "nnm+ctma(cwmed)")


def sco_rules(names=RULES) -> dict:
    """sco's aggregators by spec, in sco's call form."""
    from sco.aggregators import parse

    return {name: parse(name) for name in names}


def run() -> list[Result]:
    return [check_construction(), check_aggregators(sco_rules())]

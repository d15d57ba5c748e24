"""Robustness lower bound [AFG+23]: every aggregator has kappa >= f/(m - 2f), by two indistinguishable instances."""

from __future__ import annotations

import sympy as sp

from ._core import Result, is_zero, record

# (m, f) at which every rule is defined (Krum needs m - f - 2 >= 1 neighbours)
CONFIGS = ((5, 1), (9, 4), (10, 3), (17, 8))
# The worst of the two ratios may fall short of the bound only by rounding
TOL = 1e-9

# sco's deterministic rules that need neither a center nor a random stream, and meta-rules over them
RULES = ("mean", "cwmed", "cwmed[mode=upper]", "cwtm", "geometric_median", "rfa", "krum", "multi_krum",
         "ctma(cwmed)", "ctma(geometric_median)", "ctma(krum)", "nnm(cwmed)", "nnm+ctma(cwmed)")


def lower_bound(m, f):
    """f/(m - 2f) [AFG+23, Prop. 1] (recalled); derived here (docs/theory.md, "Derivations")."""
    return f / (m - 2 * f)


def check_construction(bound=lower_bound) -> Result:
    r"""The two instances certify ``kappa >= f/(m - 2f)``: symbolic in m and f.

    Inputs: f rows at -e, m - 2f rows at 0, f rows at +e; the honest set is either
    G_1 = {-e x f, 0 x (m-2f)} or G_2 = {0 x (m-2f), +e x f}, and the aggregator sees
    the same rows in both. xbar_{G_1,2} = -+ f/(m-f) e and rho^2 = f(m-2f)/(m-f)^2 in
    both. Any output y has max_s ||y - xbar_s|| >= ||xbar_1 - xbar_2||/2 (triangle
    inequality; equality at the midpoint), so the best aggregator's worst ratio is
    (f/(m-f))^2 / rho^2, compared with the claimed bound as rational functions of f
    and g = m - 2f > 0.
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


def check_sco_instance(bound=lower_bound, configs=CONFIGS) -> Result:
    """sco.robustness builds the construction: its two honest sets have the means, spread and bound above.

    Numeric: for each (m, f), ``indistinguishable_instance`` gives two honest sets of
    m - f rows with opposite means +- f/(m-f) e_1 and spread f(m-2f)/(m-f)^2, and
    ``lower_bound(m=, f=)`` equals the claimed bound (all to 1e-12).
    """
    from sco.robustness import indistinguishable_instance, lower_bound as sco_bound

    worst = 0.0
    for m, f in configs:
        x, sets = indistinguishable_instance(m, f, d=3)
        means = [x[g].mean(0) for g in sets]
        worst = max(worst, abs(sco_bound(m=m, f=f).value - float(bound(m, f))),
                    float((means[0] + means[1]).abs().max()))
        for g, xbar in zip(sets, means):
            spread = float((x[g] - xbar).pow(2).sum(-1).mean())
            worst = max(worst, abs(len(g) - (m - f)), abs(float(xbar.norm()) - f / (m - f)),
                        abs(spread - f * (m - 2 * f) / (m - f) ** 2))
    return record("Lower bound: sco.robustness instance and value", "numeric", worst <= 1e-12,
                  f"max deviation {worst:.1e} over (m,f) in {list(configs)}")


def check_aggregators(aggregators: dict, bound=lower_bound, configs=CONFIGS) -> Result:
    """On sco's aggregators: the worst of the two instances reaches at least the bound, for every rule and (m, f).

    Numeric: ``sco.robustness.indistinguishable_kappa`` (the larger ratio over the two
    honest sets) per rule and (m, f), lam = f/m; the detail gives, per rule, the smallest
    worst-ratio / bound over the configurations (1 means the rule sits exactly at the
    bound, as the mean does by symmetry; CTMA reaches 4 because ties between the two
    outer groups are broken by index, which keeps one of them whole).
    """
    from sco.robustness import indistinguishable_kappa

    rows, ok = [], True
    for name, agg in aggregators.items():
        slack = min(indistinguishable_kappa(agg, m, f, d=3) / float(bound(m, f)) for m, f in configs)
        ok &= slack >= 1 - TOL
        rows.append(f"{name} {slack:.3g}")
    detail = f"min over (m,f) in {list(configs)} of worst/bound: " + ", ".join(rows)
    return record("Lower bound: every rule's worst >= f/(m-2f)", "numeric", ok, detail)


def sco_rules(names=RULES) -> dict:
    """sco's aggregators by spec, in sco's call form."""
    from sco.aggregators import parse

    return {name: parse(name) for name in names}


def run() -> list[Result]:
    return [check_construction(), check_sco_instance(), check_aggregators(sco_rules())]

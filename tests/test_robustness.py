"""Robustness coefficients: the ratio, theory tables, worst cases below the bounds, the lower bound."""

import numpy as np
import pytest
import torch

from sco.aggregators import parse
from sco.random import Stream
from sco.robustness import (empirical_kappa, indistinguishable_instance, indistinguishable_kappa, kappa_bounds,
                            kappa_of, lower_bound, search_sup, theoretical_kappa, worst_case_kappa)


def test_kappa_of_by_hand():
    h = torch.tensor([[0.0], [2.0]], dtype=torch.float64)  # mean 1, spread 1
    assert float(kappa_of(torch.tensor([3.0], dtype=torch.float64), h)) == 4.0
    w = torch.tensor([1.0, 3.0], dtype=torch.float64)  # mean 1.5, spread (2.25 + 3 * 0.25) / 4 = 0.75
    assert float(kappa_of(torch.tensor([3.0], dtype=torch.float64), h, w)) == pytest.approx(2.25 / 0.75)
    same = torch.zeros(3, 2, dtype=torch.float64)
    assert float(kappa_of(torch.zeros(2, dtype=torch.float64), same)) == 0.0
    assert float(kappa_of(torch.ones(2, dtype=torch.float64), same)) == float("inf")


def test_weighted_kappa_is_replication():
    g = np.random.default_rng(0)
    h = torch.from_numpy(g.normal(size=(6, 3)))
    w = torch.from_numpy(g.integers(1, 4, size=6).astype(float))
    out = torch.from_numpy(g.normal(size=3))
    torch.testing.assert_close(kappa_of(out, h, w), kappa_of(out, h.repeat_interleave(w.long(), 0)))


def test_empirical_kappa_of_the_mean():
    h = torch.tensor([[0.0], [2.0], [1.0], [1.0]], dtype=torch.float64)  # mean 1, spread 0.5
    b = torch.tensor([[6.0]], dtype=torch.float64)  # mean of 5 rows = 2
    assert float(empirical_kappa("mean", h, b)) == pytest.approx(1.0 / 0.5)


def test_theoretical_table():
    for rule in ("cwtm", "cwmed", "geometric_median", "krum", "ctma(cwmed)", "nnm(krum)", "ctma(nnm(cwtm))"):
        a, b = theoretical_kappa(rule, m=17, f=4), theoretical_kappa(rule, lam=4 / 17)
        assert a.value == pytest.approx(b.value) and a.kind == "upper"
    lam = 4 / 17
    r = lam / (1 - 2 * lam)  # = f/(m - 2f) = 4/9
    assert r == pytest.approx(4 / 9)
    assert theoretical_kappa("cwtm", m=17, f=4).value == pytest.approx(6 * r * (1 + r))
    # the paper's printed constant comes first where DL24b has one: Lemma C.3, verified
    med = theoretical_kappa("cwmed", m=17, f=4)
    assert med.value == pytest.approx((1 + r) ** 2) and med.verified and med.bound == "dl24b_lemma_c3"
    # ... and every statement is listed: the recalled 4(1 + r)^2 of [AFG+23] next to it
    assert [k.bound for k in kappa_bounds("cwmed", lam=lam)] == ["dl24b_lemma_c3", "cwmed_kappa"]
    assert kappa_bounds("cwmed", lam=lam)[1].value == pytest.approx(4 * (1 + r) ** 2)
    # w-CTMA over w-CWMed with the printed chain: 60 lam (1 + (1 + r)^2) [DL24b, Lemma 3.1 on C.3]
    ctma = theoretical_kappa("ctma(cwmed)", lam=lam)
    assert ctma.value == pytest.approx(60 * lam * (1 + (1 + r) ** 2)) and ctma.verified
    q = lam / (1 - lam)  # = 4/13
    derived = [k for k in kappa_bounds("ctma(krum)", lam=lam) if k.bound.startswith("ctma_kappa")][0]
    assert derived.value == pytest.approx(8 * q * (1 + q * 6 * (1 + r))) and not derived.verified
    assert theoretical_kappa(parse("ctma[ties=authors](cwmed[mode=upper])"), m=17, f=4).value == \
        theoretical_kappa("ctma(cwmed)", m=17, f=4).value
    assert lower_bound(m=17, f=4).value == pytest.approx(4 / 9) and lower_bound(lam=0.25).value == pytest.approx(0.5)
    with pytest.raises(ValueError, match="have a stated coefficient"):
        theoretical_kappa("mean", m=5, f=1)
    with pytest.raises(ValueError, match="satisfy 2f < m"):
        theoretical_kappa("cwtm", m=8, f=4)


def test_the_search_reaches_the_weighted_median_supremum_and_exposes_weak_rules():
    from sco.aggregators import cwmed
    for lam in (0.1, 0.3):
        sup = 1 / (1 - 2 * lam)
        found = search_sup("cwmed", h=6, f=4, d=2, lam=lam, weighted=True, generator=Stream([0, 1]))
        assert sup * 0.99 <= found.kappa <= sup * (1 + 1e-9)
        weak = search_sup(lambda x, w=None: cwmed(x), h=6, f=4, d=2, lam=lam, weighted=True, generator=Stream([0, 1]))
        assert weak.kappa > (1 + lam / (1 - 2 * lam)) ** 2  # the printed constant, violated by a weightless rule


@pytest.mark.parametrize("rule", ["cwtm", "cwmed", "geometric_median", "krum"])
def test_worst_case_found_stays_below_theory(rule):
    m, f, d = 13, 3, 4
    for seed in range(2):
        h = torch.from_numpy(np.random.default_rng(seed).normal(size=(m - f, d)))
        steps = 5 if rule == "geometric_median" else 15  # autograd through Weiszfeld is slow
        kappa, _ = worst_case_kappa(rule, h, n_byz=f, generator=Stream(seed), steps=steps, restarts=3)
        assert 0 < float(kappa) <= theoretical_kappa(rule, m=m, f=f).value


@pytest.mark.parametrize("base", ["cwmed", "krum", "geometric_median"])
def test_ctma_instance_wise_bound_on_worst_cases(base):
    # derived here (docs/theory.md): R(CTMA) <= 8q (1 + q R(anchor)) on every instance, q = f/(m - f)
    m, f, d = 12, 3, 3
    q = f / (m - f)
    for seed in range(1 if base == "geometric_median" else 2):  # autograd through Weiszfeld is slow
        h = torch.from_numpy(np.random.default_rng(seed).normal(size=(m - f, d)) * 2 + 1)
        for target in (f"ctma({base})", base):
            steps = 3 if base == "geometric_median" else 10
            _, rows = worst_case_kappa(target, h, n_byz=f, generator=Stream(seed), steps=steps, restarts=2)
            r_ctma = float(empirical_kappa(f"ctma({base})", h, rows))
            r_anchor = float(empirical_kappa(base, h, rows))
            assert r_ctma <= 8 * q * (1 + q * r_anchor) + 1e-12


RULES = ["mean", "cwmed", "cwtm", "geometric_median", "rfa", "krum", "multi_krum",
         "centered_clipping[tau=1.0]", "ctma(cwmed)", "ctma(krum)", "nnm(cwtm)", "nnm+ctma(geometric_median)",
         "bucketing(cwmed)"]


@pytest.mark.parametrize("rule", RULES)
def test_every_rule_reaches_the_lower_bound_on_the_indistinguishable_instance(rule):
    for m, f in [(7, 2), (10, 3), (17, 4)]:
        x, sets = indistinguishable_instance(m, f)
        assert len(sets) == 2 and all(len(s) == m - f for s in sets)
        assert indistinguishable_kappa(rule, m, f) >= lower_bound(m=m, f=f).value * (1 - 1e-12)

"""proofs_check: each lemma passes as stated and every check rejects a perturbed statement."""

from __future__ import annotations

import sympy as sp
import pytest
import torch

import proofs_check
from proofs_check import (__main__ as cli, alie, anytime, count_weights, ctma, geometric_median, lower_bound,
                          median_sup, pep_anytime,
                          staleness, storm)
from proofs_check._core import nonneg_on_integers, nonneg_polynomial_coefficients, record

t = sp.Symbol("t", integer=True, positive=True)

# A small search budget: perturbed CTMAs are caught by the first random instances; the full
# budget runs in `python -m proofs_check`.
SMALL = (2_000, 20, 20)


def assert_fails(result):
    assert result.result == "fail", result


def assert_passes(result):
    assert result.result == "pass", result


# -- the decision procedures ---------------------------------------------------------------


@pytest.mark.parametrize("expr, t0, expected", [
    ((t - 3) * (t - 4), 1, (True, None)),  # negative only strictly between two consecutive integers
    (t - 5, 1, (False, 1)),
    (t - 5, 5, (True, None)),
    (1 / (t - 2), 1, (False, 1)),
    (1 / (t - 2), 3, (True, None)),
    (sp.Rational(39, 10) - 12 * t**2 / (3 * t**2 + 23 * t - 2), 1, (False, 299)),
])
def test_nonneg_on_integers_is_exact(expr, t0, expected):
    assert nonneg_on_integers(expr, t, t0) == expected


def test_nonneg_on_integers_rejects_other_symbols():
    with pytest.raises(ValueError, match="must depend on t only"):
        nonneg_on_integers(t - sp.Symbol("D"), t)


def test_nonneg_polynomial_coefficients():
    a, b = sp.symbols("a b", positive=True)
    assert nonneg_polynomial_coefficients((a + b) ** 2 / (a * b), [a, b])
    assert not nonneg_polynomial_coefficients(a - b, [a, b])


def test_record_rejects_unknown_method():
    with pytest.raises(ValueError, match="'method' parameter of record"):
        record("x", "guess", True, "")


# -- the statements as written pass --------------------------------------------------------


@pytest.mark.parametrize("module", [anytime, storm, count_weights, staleness, alie, lower_bound, median_sup,
                                    geometric_median])
def test_lemma_passes(module):
    for result in module.run():
        assert_passes(result)


def test_ctma_symbolic_and_tight_pass():
    assert_passes(ctma.check_algebra())
    assert_passes(ctma.check_kappa())
    assert_passes(ctma.check_tight(ctma.sco_ctma, ctma.sco_anchor("mean")))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("anchor", [ctma.FREE, "cwmed"])
def test_ctma_search_passes_on_sco(anchor, weighted):
    assert_passes(ctma.check_search(ctma.sco_ctma, ctma.sco_anchor(anchor), name=anchor, weighted=weighted,
                                    budget=SMALL))


@pytest.fixture(scope="module")
def pep_default():
    return pep_anytime.check_pep()


def test_pep_passes(pep_default):
    assert_passes(pep_default)
    assert_passes(pep_anytime.check_constant_is_tight())
    assert_passes(pep_anytime.check_best_eta(t_range=range(2, 4)))


# -- AnyTime ---------------------------------------------------------------------------------


def test_anytime_rejects_off_by_one_mixing_weight():
    assert_fails(anytime.check_recursion(mix=lambda a, A: a / A))  # alpha_t / alpha_{1:t-1}


def test_anytime_rejects_gamma_2_over_t():
    assert_fails(anytime.check_mixing_weight(gamma=lambda t: 2 / t))
    assert_fails(anytime.check_mixing_weight(keep=lambda t: t / (t + 1)))


def test_anytime_rejects_smaller_drift_bound():
    result = anytime.check_drift(bound=lambda t, D: 2 * D / (t + 2))
    assert_fails(result)
    assert "t=2" in result.detail


def test_anytime_rejects_wrong_online_to_batch_weight():
    assert_fails(anytime.check_online_to_batch(rhs=lambda a, A, w, x_t, x_prev: (A + a) * (x_t - x_prev)))


# -- STORM -----------------------------------------------------------------------------------


def test_storm_rejects_wrong_recursion_coefficient():
    assert_fails(storm.check_error_recursion(c_e=lambda b: 1 - b))


@pytest.mark.parametrize("kwargs", [dict(Z_weight=lambda tau: tau), dict(beta_t=lambda t: 1 / (t + 1)),
                                    dict(e_weight=lambda tau: tau)])
def test_storm_rejects_wrong_unrolled_form(kwargs):
    assert_fails(storm.check_unrolled(**kwargs))


def test_storm_rejects_sum_bound_3t_with_counterexample():
    result = storm.check_drift_sum(bound=lambda t: 3 * t)
    assert_fails(result)
    assert "at t=45" in result.detail  # S(45) > 135 >= S(44)


@pytest.mark.parametrize("kwargs, where", [(dict(c_L=4), "sigma_L^2 term at t=14"),
                                           (dict(c_sigma=1), "sigma^2 term at t=1")])
def test_storm_rejects_smaller_variance_constants(kwargs, where):
    result = storm.check_variance_bound(**kwargs)
    assert_fails(result)
    assert where in result.detail


# -- CTMA ------------------------------------------------------------------------------------


def wrong_divisor(base):
    """CTMA dividing by m instead of m - f: x0 + sum_S (x_i - x0)/m."""
    good = ctma.sco_ctma(base)

    def agg(x, weights=None, *, lam):
        x0 = base(x, weights, lam=lam)
        return x0 + (good(x, weights, lam=lam) - x0) * (1 - lam)
    return agg


def keeps_one_more(base):
    """CTMA keeping m - f + 1 rows (off by one in the trimmed count)."""
    good = ctma.sco_ctma(base)
    return lambda x, weights=None, *, lam: good(x, weights, lam=lam - 1 / x.shape[-2])


def one_sided(base):
    """A trimmed mean around the anchor that drops the f rows largest along (1, ..., 1), not the farthest."""
    def agg(x, weights=None, *, lam):
        x0 = base(x, weights, lam=lam)
        keep = round((1 - lam) * x.shape[-2])
        idx = (x - x0.unsqueeze(-2)).sum(-1).argsort(-1)[..., :keep]
        return x.gather(-2, idx.unsqueeze(-1).expand(*idx.shape, x.shape[-1])).mean(-2)
    return agg


@pytest.mark.parametrize("make_ctma", [wrong_divisor, keeps_one_more, one_sided])
def test_ctma_search_rejects_buggy_ctma(make_ctma):
    assert_fails(ctma.check_search(make_ctma, ctma.sco_anchor("cwmed"), name="bug", weighted=False, budget=SMALL))


def test_wctma_search_rejects_wrong_divisor():
    assert_fails(ctma.check_search(wrong_divisor, ctma.FREE, name="bug", weighted=True, budget=SMALL))


def test_ctma_search_rejects_constant_4():
    def bound(q, rho2, r2):
        return ctma.bound_statement(q, rho2, r2, constant=4)
    assert_fails(ctma.check_search(ctma.sco_ctma, ctma.sco_anchor("mean"), name="c=4", weighted=False,
                                   budget=SMALL, bound=bound))


def test_ctma_tight_instances_reject_constant_below_8():
    def bound(q, rho2, r2):
        return ctma.bound_statement(q, rho2, r2, constant=7.9)
    assert_fails(ctma.check_tight(ctma.sco_ctma, ctma.sco_anchor("mean"), bound=bound))


def test_ctma_tight_instances_catch_wrong_divisor():
    assert_fails(ctma.check_tight(wrong_divisor, ctma.sco_anchor("mean")))


def test_ctma_algebra_rejects_wrong_divisor_and_constant():
    assert_fails(ctma.check_algebra(divisor=lambda n_h, k: n_h + k))  # divide by m, not m - f
    assert_fails(ctma.check_algebra(constant=4))


def test_ctma_kappa_rejects_smaller_constant():
    assert_fails(ctma.check_kappa(c1=10))
    assert_fails(ctma.check_kappa(delta_max=sp.Rational(2, 5)))


def test_kept_mass_unit_weights_keep_exactly_m_minus_f():
    gen = torch.Generator().manual_seed(1)
    inst = ctma.sample_instances(9, 4, 50, weighted=False, free=False, gen=gen)
    take = ctma.kept_mass(inst.x, inst.weights, inst.x.mean(-2), torch.full((50,), 5.0, dtype=torch.float64))
    assert torch.equal(take.sum(-1), torch.full((50,), 5.0, dtype=torch.float64))
    assert set(take.unique().tolist()) <= {0.0, 1.0}


# -- count weights ---------------------------------------------------------------------------


def test_count_weights_rejects_non_optimal_weights():
    n, j = count_weights.n, count_weights.j
    assert_fails(count_weights.check_optimal_weights(weights=lambda s, i: s[i] ** 2 / sp.Sum(s[j] ** 2, (j, 1, n))))
    assert_fails(count_weights.check_optimal_weights(weights=lambda s, i: 1 / n))


def test_count_weights_rejects_wrong_ratio():
    i = count_weights.i
    assert_fails(count_weights.check_am_hm(ratio=lambda p, n: sp.Sum(1 / p[i], (i, 1, n)) / n))


def test_count_weights_rejects_off_by_one_sampler():
    assert_fails(count_weights.check_ratio_values(samplers={"id": lambda i: i + 1, "id2": lambda i: i**2}))


def test_count_weight_ratios_are_exact_rationals():
    from fractions import Fraction
    assert count_weights.variance_ratio(9, count_weights.SAMPLERS["id"]) == Fraction(7129, 4536)
    assert count_weights.variance_ratio(4, count_weights.SAMPLERS["id2"]) == Fraction(1025, 384)


# -- staleness -------------------------------------------------------------------------------


def test_staleness_rejects_geometric_law_from_zero():
    result = staleness.check_mean_staleness(pmf=lambda k, p: (1 - p) ** k * p, start=0)
    assert_fails(result)
    assert "= n - 1" in result.detail


def test_staleness_rejects_wrong_claim():
    assert_fails(staleness.check_mean_staleness(claim=lambda n: n + 1))
    assert_fails(staleness.check_simulated(claim=lambda n: n - 1, draws=200_000))


# -- ALIE ------------------------------------------------------------------------------------


def test_alie_rejects_off_by_one_supporters():
    from fractions import Fraction

    def level(m, f):
        return Fraction(m - f - (m // 2 - f), m - f)  # s = floor(m/2) - f
    assert_fails(alie.check_z_max(z_fn=lambda m, f: alie.z_max_scipy(m, f, level=level)))


def test_alie_rejects_wrong_quantile():
    assert_fails(alie.check_z_max(z_fn=lambda m, f: alie.z_max_scipy(m, f) + 1e-6))
    assert_fails(alie.check_sco_alie(z_fn=lambda m, f: alie.z_max_scipy(m, f) + 1e-6))


def test_alie_rejects_attack_with_biased_std():
    from sco import attacks

    def biased(honest, n_byz):
        z = attacks.alie_z(honest.shape[-2] + n_byz, n_byz)
        row = honest.mean(-2) - z * honest.std(-2, correction=0)
        return row.unsqueeze(-2).expand(*row.shape[:-1], n_byz, row.shape[-1])
    assert_fails(alie.check_sco_alie(attack=biased))


# -- lower bound -----------------------------------------------------------------------------


def test_lower_bound_rejects_doubled_bound():
    def doubled(m, f):
        return 2 * f / (m - 2 * f)
    assert_fails(lower_bound.check_construction(bound=doubled))
    assert_fails(lower_bound.check_sco_instance(bound=doubled))
    assert_fails(lower_bound.check_aggregators(lower_bound.sco_rules(("mean", "cwmed")), bound=doubled))


def test_lower_bound_rejects_wrong_spread():
    # the ratio of the construction computed with the spread over all m rows instead of the m - f honest ones
    def over_m(m, f):
        return f / (m - 2 * f) * (m - f) / m
    assert_fails(lower_bound.check_construction(bound=over_m))


# -- PEP -------------------------------------------------------------------------------------


def test_pep_matches_huber_closed_form(pep_default):
    # c_T = 12 T^2 / (3 T^2 + 23 T - 2) for T = 1..8 (the closed form of the symbolic check)
    values = [float(v) for v in pep_default.detail.split(": ")[1].split(" (")[0].split(", ")]
    assert values == pytest.approx([12 * T**2 / (3 * T**2 + 23 * T - 2) for T in range(1, 9)], abs=1e-4)


def test_pep_rejects_constant_2():
    assert_fails(pep_anytime.check_pep(constant=2))


def test_pep_constant_below_4_fails_at_finite_T():
    result = pep_anytime.check_constant_is_tight(constant=3.9)
    assert_fails(result)
    assert "T=299" in result.detail


def test_pep_best_eta_rejects_too_small_constant():
    assert_fails(pep_anytime.check_best_eta(constant=0.2, t_range=range(2, 3)))


# -- registry and command line ---------------------------------------------------------------


def test_registry_names_every_lemma_module():
    assert list(proofs_check.LEMMAS) == ["anytime", "storm", "ctma", "count_weights", "staleness", "alie",
                                         "lower_bound", "median_sup", "geometric_median", "pep_anytime"]
    with pytest.raises(ValueError, match="'names' parameter of run_all"):
        proofs_check.run_all(["nope"])


def test_cli_prints_table_and_exit_code(capsys, monkeypatch):
    assert cli.main(["alie"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["lemma", "method", "result", "detail"]
    assert "ALIE: z_max(m, f)" in out and "2/2 checks passed" in out
    monkeypatch.setitem(proofs_check.LEMMAS, "alie", lambda: [record("broken", "numeric", False, "x")])
    assert cli.main(["alie"]) == 1


def test_cli_without_pepit_skips_the_pep_lemma_with_a_message(capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "PEPit", None)  # `import PEPit` now raises ModuleNotFoundError
    monkeypatch.setattr(proofs_check, "LEMMAS", {k: proofs_check.LEMMAS[k] for k in ("alie", "pep_anytime")})
    assert cli.main(["alie", "pep_anytime"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("pep_anytime"))
    assert row.split()[1:3] == ["-", "skip"]
    assert "not run: PEPit is not installed; pip install pepit==0.5.1" in out
    assert "2/2 checks passed" in out and "1 lemma(s) skipped (pep_anytime)" in out
    # a failure elsewhere still fails the run
    monkeypatch.setitem(proofs_check.LEMMAS, "alie", lambda: [record("broken", "numeric", False, "x")])
    assert cli.main(["alie", "pep_anytime"]) == 1


def test_the_median_supremum_and_the_gm_chain_fail_for_wrong_statements():
    lam = median_sup.lam
    assert_fails(median_sup.check_two_point(claim=lambda: 1 / (1 - lam)))  # too small a supremum
    assert_fails(median_sup.check_cantelli(claim=lambda: 1 + lam, n=500))  # exceeded by the two-point family

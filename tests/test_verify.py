"""sco verify's machinery: coverage of every method, seed discipline, provenance, bring-your-own methods."""

import numpy as np
import pytest

from sco.rates import BOUNDS
from sco.verify import CLAIMS, Context
from sco.verify.coverage import methods, table, uncovered, unknown
from sco.verify.runner import expected_wall


def test_every_registered_method_is_covered_by_a_claim_of_the_default_suite():
    assert uncovered() == []
    assert unknown() == []
    assert len(methods()) > 60 and "aggregator:cwmed[weighted]" in methods() and "attack:label_flip" in methods()
    assert "| `meta:ctma[weighted]` |" in table()


def test_a_method_added_without_a_claim_is_reported(monkeypatch):
    from sco.aggregators import AGGREGATORS, mean
    monkeypatch.setitem(AGGREGATORS, "new_rule", mean)
    assert uncovered() == ["aggregator:new_rule", "aggregator:new_rule[weighted]"]


def test_claims_name_registered_statements_and_the_verified_ones_are_transcribed():
    for c in CLAIMS.values():
        assert all(b in BOUNDS for b in c.bounds), c.name
        assert c.seconds > 0 and c.sentence.endswith(".")
    used = {b for c in CLAIMS.values() for b in c.bounds}
    # every statement transcribed from DL24b is held against measurements by some claim
    assert {n for n, b in BOUNDS.items() if b.verified} <= used


def test_too_few_seeds_make_a_statistic_inconclusive_not_failed():
    res = CLAIMS["mu2sgd_estimator_error"].run(Context(n_seeds=3))
    assert res.verdict == "inconclusive"
    assert any("needs at least 8 seeds" in c.detail for c in res.checks)


def test_the_expected_times_add_up_to_the_suite_budget():
    # the claims run longest first in two processes (two cores); the declared seconds are measured ones
    assert expected_wall([c.seconds for c in CLAIMS.values()], jobs=2) <= 90


def test_expected_wall_is_longest_first_list_scheduling():
    assert expected_wall([5, 4, 3, 3, 3], jobs=2) == 10  # each to the freer process: 5 + 3 | 4 + 3 + 3
    assert expected_wall([7, 1, 1], jobs=1) == 9
    assert expected_wall([7, 1, 1], jobs=4) == 7


RULES = '''
from sco.aggregators import cwtm


def trimmed(x, weights=None, *, lam):
    return cwtm(x, weights, lam=lam)


def average(x, weights=None, *, lam):
    return x.mean(-2)
'''


def test_a_users_rule_is_judged_a_broken_one_fails_a_correct_one_passes(tmp_path, monkeypatch, capsys):
    from sco import cli
    (tmp_path / "my_rules.py").write_text(RULES)
    monkeypatch.chdir(tmp_path)
    kappa = "6*lam/(1 - 2*lam)*(1 + lam/(1 - 2*lam))"  # CWTM's recalled coefficient
    ok = cli.main(["verify", "--aggregator", "my_rules:trimmed", "--kappa", kappa, "--claim", "own_robustness",
                   "--out", str(tmp_path / "a")])
    bad = cli.main(["verify", "--aggregator", "my_rules:average", "--kappa", kappa, "--claim", "own_robustness",
                    "--out", str(tmp_path / "b")])
    assert (ok, bad) == (0, 1), capsys.readouterr().out


def test_a_users_rule_runs_through_the_convergence_claims(tmp_path):
    from sco.verify import own
    fields = own.context(lambda x, weights=None, *, lam: __import__("sco.aggregators").aggregators.cwtm(
        x, weights, lam=lam), "6*lam/(1 - 2*lam)")
    claims = own.claims_for(fields)
    assert "byzantine_sync_rate" in claims and "own_robustness" in claims and "moments_exact" not in claims
    res = claims["byzantine_sync_rate"].run(Context(**fields))
    assert res.verdict == "pass", [str(c) for c in res.checks]
    assert np.isfinite(fields["kappa"](lam=0.2))


def test_the_generated_parts_of_the_docs_match_the_registry():
    # docs/theory.md lists every statement and the coverage table, the README the coverage table;
    # `python -m sco.verify.docs` rewrites them
    from sco.verify import docs
    for path, sections in docs.FILES.items():
        text = path.read_text()
        assert docs.render(text, sections, path.name) == text, f"{path.name} is stale: run python -m sco.verify.docs"
    text = docs.DOC.read_text()
    for name in __import__("sco.rates", fromlist=["BOUNDS"]).BOUNDS:
        assert f"#### `{name}`" in text

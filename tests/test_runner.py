"""The claim runner: claims in worker processes give what they give in the main process, in the order asked."""

import pytest
from sco.verify import CLAIMS
from sco.verify.core import claim
from sco.verify.runner import run_claims

CHEAP = ["attack_calibration", "verdict_power", "pep_tight_instance", "problem_calibration"]


def _numbers(results):
    return [(r.claim.name, r.verdict, [(c.claim, c.empirical, c.interval) for c in r.checks]) for r in results]


def test_workers_give_the_main_process_numbers_in_the_order_asked():
    kw = dict(suite="quick", seed=3)
    seen = []
    alone = run_claims(CLAIMS, CHEAP, kw, jobs=1)
    forked = run_claims(CLAIMS, CHEAP, kw, jobs=2, on_done=lambda r: seen.append(r.claim.name))
    assert [r.claim.name for r in forked] == CHEAP
    assert sorted(seen) == sorted(CHEAP)
    assert _numbers(forked) == _numbers(alone)
    assert all(r.passed for r in forked)


def test_a_claim_that_raises_in_a_worker_is_an_error_and_the_others_still_run():
    own = {}

    @claim("raises", "A claim that raises.", family="statistics", registry=own)
    def _raises(ctx):
        raise RuntimeError("planted")

    claims = {**own, "verdict_power": CLAIMS["verdict_power"]}
    out = run_claims(claims, ["raises", "verdict_power"], {"suite": "quick"}, jobs=2)
    assert out[0].verdict == "error" and "planted" in out[0].error
    assert out[1].passed


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_store_runs_the_claims_here(jobs, tmp_path, monkeypatch):
    import sco.verify.runner as runner

    def no_pool(*a, **k):
        raise AssertionError("a store must not be written from several processes")
    monkeypatch.setattr(runner, "ProcessPoolExecutor", no_pool)
    out = run_claims(CLAIMS, ["verdict_power"], {"suite": "quick", "store": object()}, jobs=jobs)
    assert out[0].claim.name == "verdict_power"

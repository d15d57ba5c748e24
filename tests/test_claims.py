"""Every claim of ``sco verify`` can fail: a planted bug or a false theory turns its verdict to "fail".

Each claim runs at the quick suite's sizes with a bug planted by monkeypatch; the same claim
without the bug passes in ``test_sco_verify_default_suite_passes`` (tests/test_package.py).
"""

import pytest
import torch

import sco.aggregators.meta as meta
import sco.noise
import sco.oracle
import sco.simulate
from sco.rates import bounds as bounds_mod
from sco.verify import CLAIMS, Context


def fresh_samples_in_storm(monkeypatch):
    """STORM's correction evaluated on a new sample instead of z_t: the error no longer telescopes."""
    def grads(self, oracle, x, x_prev, k, workers):
        s = self.stream.fold("grad", k)
        g = self._clip(oracle.grad(x, oracle.draw(s, workers, dtype=self.dt)))
        if x_prev is None or not self.est.needs_prev_grad:
            return g, None
        return g, self._clip(oracle.grad(x_prev, oracle.draw(s.fold("fresh"), workers, dtype=self.dt)))
    monkeypatch.setattr(sco.simulate._Simulation, "_grads", grads)


def workers_share_one_sample(monkeypatch):
    """Every worker draws worker 0's sample: averaging m of them removes no variance."""
    draw = sco.oracle.Oracle._draw  # what the simulator calls

    def same(self, stream, workers, dtype):
        w = torch.zeros(len(stream), self.k(workers), dtype=torch.int64)
        sample = draw(self, stream, w, dtype)
        return sco.oracle.Sample(workers, sample.drawn)
    monkeypatch.setattr(sco.oracle.Oracle, "_draw", same)


def unnormalized_noise(monkeypatch):
    """Per-coordinate noise sigma instead of sigma/sqrt(d): E||xi||^2 = d sigma^2 grows with d."""
    grad = sco.noise.Additive.grad

    def bad(self, oracle, x, drawn, workers):
        z1, z2 = drawn
        return grad(self, oracle, x, (z1 * oracle.d ** 0.5, z2), workers)
    monkeypatch.setattr(sco.noise.Additive, "grad", bad)


def ctma_keeps_the_farthest_rows(monkeypatch):
    """CTMA trims the wrong tail: it keeps the rows farthest from the anchor."""
    dist = meta.dist_to
    monkeypatch.setattr(meta, "dist_to", lambda x, z: -dist(x, z))


def uniform_instead_of_count_weights(monkeypatch):
    """The server forgets the counts: the weighted rule gets uniform weights."""
    aggregate = sco.simulate._Simulation._aggregate
    monkeypatch.setattr(sco.simulate._Simulation, "_aggregate",
                        lambda self, table, weights, t: aggregate(self, table, None, t))


def heterogeneity_not_applied(monkeypatch):
    """The per-worker shifts b_i are dropped: every worker optimizes f."""
    monkeypatch.setattr(sco.oracle.Oracle, "add_shift", lambda self, g, workers: g)


def false_theory(name, expression):
    """Replace a registered bound by a wrong statement (a wrong exponent or constant)."""
    def plant(monkeypatch):
        b = bounds_mod.BOUNDS[name]
        monkeypatch.setitem(bounds_mod.BOUNDS, name, bounds_mod.Bound(
            name, expression, kind=b.kind, source=b.source, tag=b.tag, quantity=b.quantity, claim=b.claim,
            note="planted false theory"))
    return plant


PLANTED = {
    "mu2sgd_estimator_error": fresh_samples_in_storm,
    "sgd_estimator_error": false_theory("sgd_estimator_error", "sigma**2/t"),
    "mu2sgd_noiseless_rate": false_theory("anytime_noiseless_pep", "L*D**2/(25*T)"),
    "mu2sgd_noisy_rate": fresh_samples_in_storm,
    "honest_average_scaling": workers_share_one_sample,
    "momentum_under_attack": fresh_samples_in_storm,
    "byzantine_sync_rate": fresh_samples_in_storm,
    "dimension_free": unnormalized_noise,
    "ctma_robustness": ctma_keeps_the_farthest_rows,
    "count_weights": uniform_instead_of_count_weights,
    "byzantine_async_rate": fresh_samples_in_storm,
    "heterogeneity_floor": heterogeneity_not_applied,
    "nonconvex_rates": false_theory("storm_nonconvex", "sqrt(L*Delta)/T"),
}


def test_every_claim_has_a_planted_failure():
    assert set(PLANTED) == set(CLAIMS)


@pytest.mark.parametrize("name", list(PLANTED))
def test_a_planted_bug_or_false_theory_makes_the_claim_fail(name, monkeypatch):
    PLANTED[name](monkeypatch)
    res = CLAIMS[name].run(Context(suite="quick"))
    assert res.verdict == "fail", [str(c) for c in res.checks]

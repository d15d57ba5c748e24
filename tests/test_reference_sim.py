"""The batched simulator against its slow reference (tests/reference_sim.py), metric by metric."""

import numpy as np
import pytest
import torch

import reference_sim
from sco.estimators import ALGORITHMS
from sco.simulate import Experiment, Plan, _Simulation, run

# Both sides draw the same random numbers bit for bit and do the same float64 arithmetic up to
# the order of its sums (BLAS, reductions over workers, the AnyTime average written as a weighted
# sum instead of a recursion): they differ by ~1e-16 relatively at the first step, amplified at
# most by (1 + eta L)-type factors over T <= 30 steps: 4e-14 at worst over this table (measured).
# 1e-10 leaves a margin of 1000 while a wrong sample, point, count or weight changes the metrics
# at 1e-4 or more. Quantities that are exactly 0 in exact arithmetic (the
# aggregation error of the mean) are compared at 1e-12 of the largest squared-gradient metric.
RTOL = 1e-10
SQUARED = ("estimator_error", "honest_error", "aggregation_error", "honest_spread", "grad_norm_sq")

QUAD = {"name": "quadratic", "d": 4, "L": 1.0, "seed": 1}
NOISE = {"name": "gaussian", "sigma": 1.0, "sigma_L": 0.5}
LOGISTIC = {"name": "logistic", "n": 40, "d": 3, "seed": 4}
MINIBATCH = {"name": "minibatch", "b": 2}
SPEEDS = {"name": "speeds", "speeds": "id2"}
BYZ = dict(m=6, f=2, attack="ipm", aggregator="ctma(cwmed)")


def config(**changes):
    cfg = dict(objective=QUAD, noise=NOISE, m=4, T=30, seeds=[0, 3], log=1, device="cpu", dtype="float64",
               algorithm={"name": "mu2sgd", "eta": 0.05})
    cfg.update(changes)
    return cfg


def assert_matches(trace, expected):
    """Every logged metric and every event of ``trace`` equals the reference's ``expected``."""
    assert set(trace.metrics) == set(expected.metrics), (
        "metrics logged by only one side (add a function to reference_sim.METRICS): "
        f"{sorted(set(trace.metrics) ^ set(expected.metrics))}")
    assert np.array_equal(trace.steps, expected.steps)
    scale = max(np.abs(expected.metrics[k]).max() for k in SQUARED)
    for k, want in expected.metrics.items():
        np.testing.assert_allclose(trace[k], want, rtol=RTOL, atol=1e-12 * scale, err_msg=k)
    assert set(trace.events) == set(expected.events)
    for k, want in expected.events.items():
        assert np.array_equal(trace.events[k], want), k


SHIFT = {"name": "shift", "zeta": 0.5}
ALGS = {f"{name}-{mode}": config(algorithm={"name": name, "eta": 0.05}, heterogeneity=SHIFT, arrivals=arrivals)
        for name in ALGORITHMS for mode, arrivals in (("sync", None), ("async", SPEEDS))}

CASES = {
    **ALGS,
    # estimator and server options
    "storm-1/t-async": config(algorithm={"name": "storm", "eta": 0.05, "beta": "1/t"}, arrivals=SPEEDS),
    "momentum-heavy_ball": config(algorithm={"name": "momentum", "eta": 0.02, "beta": 0.5, "form": "heavy_ball"}),
    "sgd-average-clip": config(algorithm={"name": "sgd", "eta": 0.1, "average": True, "clip": 0.8}, arrivals=SPEEDS),
    "sgd-eta-schedule": config(algorithm={"name": "sgd", "eta": lambda t: 0.2 / t ** 0.5}),
    "ball-sync": config(objective={**QUAD, "radius": 0.4}, algorithm={"name": "mu2sgd", "eta": 0.3}),
    "ball-async": config(objective={**QUAD, "radius": 0.4}, algorithm={"name": "sgd", "eta": 0.3}, arrivals=SPEEDS),
    "box-async": config(objective={**QUAD, "box": [-0.3, 0.3]}, arrivals=SPEEDS),
    # arrival models
    **{f"speeds-{s}": config(arrivals={"name": "speeds", "speeds": s}) for s in ("uniform", "id")},
    **{f"compute_times-{dist}": config(arrivals={"name": "compute_times", "dist": dist, "speeds": "id", "shape": 1.5})
       for dist in ("exponential", "deterministic", "lognormal", "pareto")},
    "replay": config(T=12, arrivals={"name": "replay", "workers": [0, 1, 1, 3, 2, 1, 0, 0, 3, 3, 1, 2]}),
    "replay-per-run": config(T=6, arrivals={"name": "replay", "workers": [[3, 3, 0, 1, 2, 0], [1, 0, 2, 2, 3, 1]],
                                            "times": [[0.5, 1, 1, 2, 4, 5], [1, 2, 3, 4, 5, 6]]}),
    "rounds": config(arrivals={"name": "rounds"}, algorithm={"name": "storm", "eta": 0.05}),
    # Byzantine timing and weights
    "speeds-random-byz": config(**BYZ, arrivals={"name": "speeds", "lam": 0.3}),
    "speeds-schedule-byz": config(**BYZ, arrivals={"name": "speeds", "speeds": "id", "lam": 0.3, "byzantine": "schedule"}),
    "compute_times-byz": config(**BYZ, arrivals={"name": "compute_times", "lam": 0.25, "dist": "lognormal"}),
    "rounds-byz": config(**{**BYZ, "attack": "sign_flip", "aggregator": "krum"}, arrivals={"name": "rounds"}),
    "weights-uniform": config(**BYZ, arrivals={"name": "speeds", "lam": 0.3}, weights="uniform"),
    "weights-given": config(**{**BYZ, "aggregator": "mean"}, arrivals={"name": "speeds", "lam": 0.3},
                            weights=[1.0, 2.0, 0.0, 1.5, 1.0, 3.0]),
    # aggregators, synchronous and asynchronous
    **{f"{agg}-{mode}": config(**{**BYZ, "aggregator": agg}, arrivals=arrivals)
       for agg in ("mean", "cwmed", "cwtm", "geometric_median", "krum", "centered_clipping[tau=1.0]")
       for mode, arrivals in (("sync", None), ("async", {"name": "speeds", "lam": 0.3}))},
    "bucketing-sync": config(**{**BYZ, "f": 1, "aggregator": "bucketing[s=2](cwmed)"}),
    "bucketing-async": config(**{**BYZ, "f": 1, "aggregator": "bucketing[s=2](cwmed)"},
                              arrivals={"name": "speeds", "lam": 0.2}),
    # attacks (weighted ALIE asynchronously with schedule timing; random timing: the regression test below)
    **{f"{a}-sync": config(**{**BYZ, "attack": a}) for a in ("alie", "sign_flip", "gaussian", "worst_case")},
    **{f"{a}-async": config(**{**BYZ, "attack": a}, arrivals={"name": "speeds", "lam": 0.3, "byzantine": "schedule"})
       for a in ("alie", "sign_flip", "gaussian")},
    "label_flip-sync": config(objective=LOGISTIC, noise=MINIBATCH, m=5, f=2, attack="label_flip", aggregator="cwmed",
                              algorithm={"name": "mu2sgd", "eta": 0.2}),
    "label_flip-async": config(objective=LOGISTIC, noise=MINIBATCH, m=5, f=2, attack="label_flip", aggregator="cwmed",
                               algorithm={"name": "mu2sgd", "eta": 0.2}, arrivals={"name": "speeds", "lam": 0.3}),
    "label_flip-rounds": config(objective=LOGISTIC, noise=MINIBATCH, m=5, f=2, attack="label_flip", aggregator="cwmed",
                                algorithm={"name": "storm", "eta": 0.2}, arrivals={"name": "rounds"}),
    # noise, heterogeneity, objectives
    "student_t-async": config(noise={"name": "student_t", "sigma": 1.0, "nu": 3.0, "sigma_L": 0.3}, arrivals=SPEEDS),
    "partition-async": config(objective=LOGISTIC, noise=MINIBATCH, heterogeneity={"name": "partition", "kind": "iid"},
                              algorithm={"name": "mu2sgd", "eta": 0.2}, arrivals=SPEEDS),
    "extra-metrics": config(objective={**LOGISTIC, "test_fraction": 0.25}, noise=MINIBATCH,
                            algorithm={"name": "sgd", "eta": 0.3}, arrivals=SPEEDS),
    "nonconvex": config(objective={"name": "robust_regression", "n": 40, "d": 3}, noise=MINIBATCH,
                        algorithm={"name": "storm", "eta": 0.1}, arrivals=SPEEDS),
}


@pytest.mark.parametrize("name", list(CASES))
def test_simulator_matches_the_reference(name):
    cfg = CASES[name]
    if name == "worst_case-sync" or name.startswith("geometric_median"):
        cfg = {**cfg, "T": 8}  # the search and the Weiszfeld loop cost 10-40 ms a call
    assert_matches(run(cfg), reference_sim.simulate(cfg))


def test_the_table_exercises_what_it_claims():
    assert {c["algorithm"]["name"] for c in CASES.values()} == set(ALGORITHMS)
    assert (run(CASES["ball-async"]).events["staleness"] > 0).any()  # messages do arrive stale
    # the ball binds: the constrained optimum lies on its boundary (the free one is at distance 1)
    x_star = Plan(Experiment.from_dict(CASES["ball-sync"])).objective.x_star
    assert float(x_star.norm()) == pytest.approx(0.4, rel=1e-9)


# -- the comparison has power: realistic simulator bugs, planted one at a time --------------------

ASYNC_STORM = config(algorithm={"name": "mu2sgd", "eta": 0.05}, arrivals=SPEEDS)
ASYNC_MEAN = config(**{**BYZ, "aggregator": "mean"}, arrivals={"name": "speeds", "speeds": "id", "lam": 0.3})
SYNC_MEAN = config(**{**BYZ, "aggregator": "mean"})  # one arrival per step leaves the honest rows as they were


def _frozen_previous_point(advance):
    """A worker's previous query point is never updated: STORM's correction is always taken at x_1."""
    def planted(self, oracle, group, who, x_next):
        prev = self.prev_point if group == "honest" else self.byz_prev
        kept = prev.clone()
        advance(self, oracle, group, who, x_next)
        prev.copy_(kept)
    return planted


def _no_delay(advance):
    """Every honest worker recomputes at the new iterate each step: messages are never stale."""
    def planted(self, oracle, group, who, x_next):
        if group != "honest":
            return advance(self, oracle, group, who, x_next)
        for j in range(self.p.h):
            advance(self, oracle, group, torch.full_like(who, j), x_next)
    return planted


def _counts_not_incremented(weights):
    """The aggregation weights stay at the warm-up's count 1."""
    return lambda self, counts, given: torch.ones_like(counts, dtype=self.dt)


def _attack_sees_previous_table(attack_rows):
    """The omniscient attack is computed from the previous step's honest rows."""
    def planted(self, honest, honest_w, n, t):
        seen = getattr(self, "_planted", honest.clone())
        self._planted = honest.clone()
        return attack_rows(self, seen, honest_w, n, t)
    return planted


PLANTS = {  # name: (the _Simulation method replaced, the bug built from the original, a config showing it)
    "frozen_previous_point": ("_advance", _frozen_previous_point, ASYNC_STORM),
    "no_delay": ("_advance", _no_delay, ASYNC_STORM),
    "counts_not_incremented": ("_weights", _counts_not_incremented, ASYNC_MEAN),
    "attack_sees_previous_table": ("_attack_rows", _attack_sees_previous_table, SYNC_MEAN),
}


@pytest.mark.parametrize("bug", list(PLANTS))
def test_a_planted_simulator_bug_fails_the_comparison(monkeypatch, bug):
    method, plant, cfg = PLANTS[bug]
    expected = reference_sim.simulate(cfg)
    assert_matches(run(cfg), expected)
    monkeypatch.setattr(_Simulation, method, plant(getattr(_Simulation, method)))
    with pytest.raises(AssertionError):
        assert_matches(run(cfg), expected)


# -- discrepancies the reference found, now fixed: each stays as a regression test --------------


def test_weighted_alie_does_not_mix_runs():
    cfg = config(m=5, f=1, attack="alie", aggregator="cwmed", T=10, arrivals={"name": "speeds", "lam": 0.3})
    assert_matches(run(cfg), reference_sim.simulate(cfg))


def test_rounds_attack_answers_for_the_byzantine_arrivals():
    # fixed: the attack computes one row per Byzantine worker (n_byz = f), as synchronously
    cfg = config(m=5, f=1, attack="alie", aggregator="cwmed", T=10, seeds=[0], arrivals={"name": "rounds"})
    assert_matches(run(cfg), reference_sim.simulate(cfg))


def test_worst_case_search_through_bucketing_does_not_mix_runs():
    cfg = config(m=6, f=1, attack="worst_case", aggregator="bucketing[s=2](cwmed)", T=3)
    assert_matches(run(cfg), reference_sim.simulate(cfg))


def test_code_rounding_is_the_authors_round():
    cfg = config(m=1, T=81, seeds=[0], log=[80, 81], algorithm={"name": "mu2sgd_code_sync", "eta": 0.05})
    assert_matches(run(cfg), reference_sim.simulate(cfg))

"""A run's numbers depend only on its seed and config: alone, batched, or read back from a store extended later."""

import numpy as np
import pytest

from sco.attacks import ATTACKS
from sco.simulate import run
from sco.sweep import Store

QUAD = {"name": "quadratic", "d": 3, "L": 1.0, "mu": 0.1, "seed": 1}
GLM = {"name": "logistic", "n": 60, "d": 3, "seed": 2}
ARRIVALS = {
    "sync": None,
    "speeds": {"name": "speeds", "speeds": "id", "lam": 0.2},
    "compute_times": {"name": "compute_times", "dist": "lognormal", "speeds": "id", "lam": 0.2},
    "replay": {"name": "replay", "workers": [i % 5 for i in range(7 * 30)][::7] + [4] * 30},
    "rounds": {"name": "rounds"},
}
# every attack of the registry under its canonical name (aliases are the same functions)
ATTACK_SPECS = {
    "sign_flip": "sign_flip", "alie": "alie", "ipm": "ipm", "gaussian": "gaussian", "mimic": "mimic",
    "far_point": "far_point", "non_finite": "non_finite", "label_flip": "label_flip",
    "worst_case": {"name": "worst_case", "steps": 2, "restarts": 1},
    "optimal_ipm": {"name": "optimal_ipm", "evals": 5}, "optimal_alie": {"name": "optimal_alie", "evals": 5},
}


def test_the_table_covers_every_attack():
    canonical = {getattr(fn, "func", fn).__name__ for fn in ATTACKS.values()}
    assert canonical == set(ATTACK_SPECS)


def _config(attack, arrivals):
    flip = attack == "label_flip"
    return dict(objective=GLM if flip else QUAD, noise={"name": "minibatch", "b": 2} if flip else
                {"name": "gaussian", "sigma": 1.0, "sigma_L": 0.3}, m=5, f=1, attack=ATTACK_SPECS[attack],
                aggregator="ctma(cwmed)", T=30, algorithm={"name": "mu2sgd", "eta": 0.05}, arrivals=ARRIVALS[arrivals],
                progress=False)


def _same(a, ra, b, rb, what):
    # the same random draws bit for bit; the arithmetic may differ in the last bits with the batch
    # shape (BLAS and reductions order sums by shape), which 30 steps keep far below 1e-9. A
    # statistic mixing the runs of a batch (the bug this guards against) moves them by O(1).
    assert a.metrics.keys() == b.metrics.keys()
    for k in a.metrics:
        np.testing.assert_allclose(a[k][ra], b[k][rb], rtol=1e-9, atol=1e-300, err_msg=f"{what}: {k}")
    for k in a.events:
        if k != "final_weights":
            assert np.array_equal(a.events[k][ra], b.events[k][rb]), f"{what}: {k}"


@pytest.mark.parametrize("arrivals", list(ARRIVALS))
@pytest.mark.parametrize("attack", list(ATTACK_SPECS))
def test_a_seed_gives_the_same_numbers_alone_batched_and_from_an_extended_store(attack, arrivals, tmp_path):
    cfg = _config(attack, arrivals)
    batched = run({**cfg, "seeds": [0, 1, 2, 3]})
    alone = run({**cfg, "seeds": [3]})
    _same(batched, 3, alone, 0, "batched vs alone")
    store = Store(tmp_path)
    store.get_or_run({**cfg, "seeds": [0, 1]})
    extended = store.get_or_run({**cfg, "seeds": [0, 1, 2, 3]})  # seeds 2 and 3 run as a batch of two
    _same(batched, 3, extended, 3, "batched vs the extended store")
    _same(batched, 0, extended, 0, "batched vs the first store batch")


def test_a_randomized_rule_under_the_worst_case_search_is_batch_independent():
    # the search calls bucketing with each run's own stream, for every candidate
    cfg = {**_config("worst_case", "sync"), "aggregator": "bucketing[s=2](cwmed)"}
    batched = run({**cfg, "seeds": [5, 6, 7]})
    _same(batched, 2, run({**cfg, "seeds": [7]}), 0, "bucketing under worst_case")

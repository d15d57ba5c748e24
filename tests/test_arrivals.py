"""Arrival models: frequencies, Byzantine shares, event simulation, staleness, replay.

Frequency checks use fixed seeds and 6 standard errors of the estimate (false failure
below 2e-9 per check for another seed, by the CLT).
"""

import math

import numpy as np
import pytest
import torch

from sco.arrivals import ComputeTimes, Replay, Rounds, Speeds, make_arrivals, profile
from sco.random import Stream

Z = 6.0


def _freq(workers, n):
    w = workers.reshape(-1)
    return torch.bincount(w, minlength=n).double() / w.numel()


@pytest.mark.parametrize("speeds", ["uniform", "id", "id2"])
def test_speeds_draw_workers_with_the_profile(speeds):
    n, T, R = 6, 5000, 8
    arr = Speeds(speeds).generate(Stream(list(range(R))), T, n, 0)
    p = profile(speeds, n)
    i = torch.arange(1, n + 1, dtype=torch.float64)
    expected = {"uniform": torch.ones(n), "id": i, "id2": i * i}[speeds].double()
    torch.testing.assert_close(p, expected / expected.sum())
    se = (p * (1 - p) / (T * R)).sqrt()
    assert ((_freq(arr.workers, n) - p).abs() < Z * se).all()


def test_schedule_gives_the_authors_realized_fraction():
    arr = Speeds("id", lam=0.4, byzantine="schedule").generate(Stream([1, 2]), 300, 8, 1)
    byz = arr.workers >= 8
    assert byz.double().mean().item() == pytest.approx(1 / 3)  # 1/ceil(1/0.4) [DL24b-code, trainer/async_trainer.py]
    assert byz[:, 2::3].all() and not byz[:, 0::3].any()
    assert Speeds(lam=0.4, byzantine="schedule").lam == pytest.approx(1 / 3)


def test_random_byzantine_arrivals_have_fraction_lam():
    T, R, lam = 4000, 8, 0.2
    arr = Speeds("uniform", lam=lam).generate(Stream(list(range(R))), T, 5, 3)
    frac = (arr.workers >= 5).double().mean().item()
    assert abs(frac - lam) < Z * math.sqrt(lam * (1 - lam) / (T * R))


def test_exponential_compute_times_match_iid_arrivals_with_the_same_rates():
    # memorylessness: the next finisher among exponential clocks with rates r is worker i
    # with probability r_i / sum r, independently of the past
    n, T, R = 5, 4000, 8
    arr = ComputeTimes("exponential", speeds="id").generate(Stream(list(range(R))), T, n, 0)
    p = profile("id", n)
    se = (p * (1 - p) / (T * R)).sqrt()
    assert ((_freq(arr.workers, n) - p).abs() < Z * se).all()
    assert (arr.times.diff(dim=1) >= 0).all()


def test_deterministic_equal_times_are_round_robin():
    arr = ComputeTimes("deterministic").generate(Stream([0, 1]), 20, 4, 0)
    assert torch.equal(arr.workers, (torch.arange(20) % 4).expand(2, 20))


@pytest.mark.parametrize("dist, shape", [("exponential", 1.0), ("lognormal", 1.0), ("pareto", 3.0)])
def test_byzantine_share_follows_the_renewal_theorem(dist, shape):
    # long-run arrival rate of a renewal process = 1 / E[compute time], whatever the law
    T, R, lam = 6000, 6, 0.25
    arr = ComputeTimes(dist, speeds="id", lam=lam, shape=shape).generate(Stream(list(range(R))), T, 6, 2)
    frac = (arr.workers >= 6).double().mean().item()
    assert abs(frac - lam) < 0.03


def test_heavy_tailed_compute_times_give_heavy_tailed_gaps():
    def gaps(dist, shape):
        arr = ComputeTimes(dist, shape=shape).generate(Stream(list(range(4))), 3000, 4, 0).workers
        out = []
        for r in range(arr.shape[0]):
            last = {}
            for t, w in enumerate(arr[r].tolist()):
                if w in last:
                    out.append(t - last[w])
                last[w] = t
        return np.array(out)
    assert np.quantile(gaps("pareto", 1.2), 0.999) > 2 * np.quantile(gaps("exponential", 1.0), 0.999)


def test_mean_staleness_equals_the_pool_size():
    # derived here (docs/theory.md, "Derivations"): gaps between arrivals of worker i are Geometric(p_i)
    # with mean 1/p_i, so the mean over arrivals is sum_i p_i / p_i = n
    n, T = 5, 20000
    arr = Speeds("id2").generate(Stream([3]), T, n, 0).workers[0].tolist()
    last, gaps = {}, []
    for t, w in enumerate(arr):
        if w in last:
            gaps.append(t - last[w])
        last[w] = t
    gaps = np.array(gaps)
    assert abs(gaps.mean() - n) < Z * gaps.std() / math.sqrt(len(gaps)) * 3  # gaps are dependent: 3x margin


def test_arrivals_of_a_run_do_not_depend_on_the_batch():
    for model in (Speeds("id", lam=0.3), ComputeTimes("lognormal", speeds="id2", lam=0.2)):
        batch = model.generate(Stream([4, 9]), 50, 3, 2)
        alone = model.generate(Stream([9]), 50, 3, 2)
        assert torch.equal(batch.workers[1], alone.workers[0])
        assert torch.equal(batch.times[1], alone.times[0])


def test_replay_and_rounds():
    rep = Replay([0, 2, 1, 2], times=[0.5, 1.0, 1.0, 3.0])
    arr = rep.generate(Stream([1, 2]), 3, 3, 0)
    assert torch.equal(arr.workers, torch.tensor([[0, 2, 1], [0, 2, 1]]))
    assert Rounds().generate(Stream([1]), 2, 2, 1).workers.shape == (1, 2, 3)
    with pytest.raises(ValueError, match="The 'times' parameter of Replay must be nondecreasing"):
        Replay([0, 1], times=[2.0, 1.0])
    with pytest.raises(ValueError, match="The 'workers' parameter of Replay must hold ids in \\[0, m\\) with m=2"):
        Replay([0, 3]).generate(Stream([1]), 2, 2, 0)
    with pytest.raises(ValueError, match="hold at least T=5 arrivals"):
        Replay([0, 1]).generate(Stream([1]), 5, 2, 0)


@pytest.mark.parametrize("call, msg", [
    (lambda: Speeds("fast"), "The 'speeds' parameter of Speeds must be one of"),
    (lambda: ComputeTimes(speeds=[1.0, 0.0]), "The 'speeds' parameter of ComputeTimes must be one of"),
    (lambda: profile([1.0, -1.0], 2), "The 'speeds' parameter of arrivals must be one of"),
    (lambda: ComputeTimes("gamma"), "The 'dist' parameter of ComputeTimes must be one of"),
    (lambda: ComputeTimes("pareto", shape=1.0), "The 'shape' parameter of ComputeTimes must be > 1"),
    (lambda: Speeds(lam=1.0), "The 'lam' parameter of Speeds must be < 1"),
    (lambda: Speeds(lam=0.2).generate(Stream([1]), 5, 3, 0), "must be 0 when there are no Byzantine"),
    (lambda: make_arrivals({"name": "poisson"}), "Unknown arrival model 'poisson'"),
])
def test_bad_arrival_parameters(call, msg):
    # validated when the model is built (the count of workers, at generation)
    with pytest.raises(ValueError, match=msg):
        call()

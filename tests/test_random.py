"""The counter-based generator: reference bits, batch independence, distributions."""

import math

import numpy as np

import pytest
import torch

from sco.random import Stream, _mix_, _signed, splitmix64


def test_mixer_matches_python_reference():
    vals = [0, 1, 2**63 + 5, 12345678901234567, 2**64 - 1]
    got = _mix_(torch.tensor([_signed(v) for v in vals]))
    assert [v & (2**64 - 1) for v in got.tolist()] == [splitmix64(v) for v in vals]


def test_splitmix64_known_value():
    # First output of SplitMix64 seeded with 0 (Vigna's reference code): mix(0 + gamma).
    assert splitmix64(0x9E3779B97F4A7C15) == 0xE220A8397B1DCDAF


@pytest.mark.parametrize("draw", ["normal", "uniform", "exponential", "bits"])
def test_runs_do_not_depend_on_the_batch(draw):
    seeds = [7, 3, 11, 2**40]
    batch = getattr(Stream(seeds).fold("noise", 5), draw)((3, 4))
    for r, s in enumerate(seeds):
        alone = getattr(Stream(s).fold("noise", 5), draw)((3, 4))[0]
        assert torch.equal(batch[r], alone)
    sub = getattr(Stream(seeds)[1:3].fold("noise", 5), draw)((3, 4))
    assert torch.equal(sub, batch[1:3])


def test_blocking_does_not_change_values(monkeypatch):
    import sco.random as rnd
    full = Stream([1, 2, 3]).normal((50, 40))
    monkeypatch.setattr(rnd, "_CPU_BLOCK", 7)
    assert torch.equal(Stream([1, 2, 3]).normal((50, 40)), full)


def test_folds_are_distinct_and_deterministic():
    s = Stream([1, 2])
    a, b = s.fold("a").bits((8,)), s.fold("b").bits((8,))
    assert not torch.equal(a, b)
    assert torch.equal(a, Stream([1, 2]).fold("a").bits((8,)))
    assert not torch.equal(s.fold(1, 2).bits((8,)), s.fold(2, 1).bits((8,)))
    per_run = s.fold(torch.tensor([4, 9]))
    assert torch.equal(per_run.bits((3,))[1], Stream(2).fold(9).bits((3,))[0])


def test_normal_moments():
    # 4e6 draws: the standard errors of the mean, variance and P(z > 2) are 5e-4, 7e-4
    # and 7e-5; the margins below are 6 standard errors (false failure < 1e-8 per check).
    z = Stream(list(range(4))).normal((1_000_000,)).reshape(-1)
    assert abs(z.mean().item()) < 6 * 5e-4
    assert abs(z.var().item() - 1) < 6 * 7.1e-4
    tail = (z > 2).double().mean().item()
    assert abs(tail - 0.5 * math.erfc(2 / math.sqrt(2))) < 6 * 1.1e-4


def test_float32_normals_have_the_normal_law():
    import scipy.stats
    z = Stream(list(range(8))).normal((50_000,), torch.float32).reshape(-1).double().numpy()
    assert scipy.stats.kstest(z, "norm").pvalue > 1e-4  # false failure 1e-4 for another seed
    assert abs(z.mean()) < 6 / np.sqrt(z.size) and abs(z.var() - 1) < 6 * np.sqrt(2 / z.size)


def test_uniform_is_open_interval_in_both_dtypes():
    for dt in (torch.float32, torch.float64):
        u = Stream(list(range(64))).uniform((4096,), dt)
        assert u.dtype == dt and (u > 0).all() and (u < 1).all()


def test_categorical_and_randint():
    p = torch.tensor([0.1, 0.2, 0.7])
    k = Stream(5).categorical(p, (200_000,))[0]
    freq = torch.bincount(k, minlength=3).double() / k.numel()
    # binomial standard error <= 1.2e-3; 6 standard errors
    assert torch.allclose(freq, p.double(), atol=6 * 1.2e-3)
    r = Stream([1, 2]).randint(torch.tensor([[3], [10]]), (2, 1000))
    assert r[:, 0].max() <= 2 and r[:, 1].max() <= 9 and r.min() >= 0
    perm = Stream([4]).permutation(10)[0]
    assert sorted(perm.tolist()) == list(range(10))


def test_bad_seeds_are_rejected_with_a_clear_message():
    with pytest.raises(ValueError, match="'seeds' parameter of Stream must be >= 0"):
        Stream([-1])
    with pytest.raises(TypeError, match="'seeds' parameter of Stream must be an integer"):
        Stream([1.5])
    with pytest.raises(ValueError, match="one entry per run"):
        Stream([1, 2]).fold(torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="one entry per run"):
        Stream([1, 2]).fold(torch.tensor([[1, 2, 3]]))


def test_per_worker_keys_match_integer_folds():
    # keys (R, k) from a tensor of worker indices: each (run, worker) equals folding that
    # worker's index alone, which is how the synchronous and asynchronous simulators agree
    s = Stream([3, 8]).fold("grad", 4)
    workers = torch.tensor([[0, 2, 5], [5, 1, 1]])
    draws = s.fold(workers).normal((6,))
    assert draws.shape == (2, 3, 6)
    for r in range(2):
        for j in range(3):
            alone = Stream([3, 8][r]).fold("grad", 4).fold(int(workers[r, j])).normal((6,))[0]
            assert torch.equal(draws[r, j], alone)
    assert torch.equal(draws[:, 1:2], s.fold(workers[:, 1:2]).normal((6,)))
    assert s.fold(workers)[1].shape == (1, 3)

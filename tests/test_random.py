"""The counter-based generator: reference bits, batch independence, distributions."""

import math

import numpy as np

import pytest
import torch

from sco.random import Stream, _mix_, _mix_torch_, _signed, splitmix64


@pytest.mark.parametrize("mix", [_mix_, _mix_torch_], ids=["cpu", "torch"])
def test_mixer_matches_python_reference(mix):
    vals = [0, 1, 2**63 + 5, 12345678901234567, 2**64 - 1] + [(v * 0x9E3779B97F4A7C15) % 2**64 for v in range(64)]
    x = torch.tensor([_signed(v) for v in vals])
    got = mix(x)
    assert got is x  # in place
    assert [v & (2**64 - 1) for v in got.tolist()] == [splitmix64(v) for v in vals]
    strided = torch.tensor([_signed(v) for v in vals]).view(-1, 3)[:, ::2]  # a view: mixed in place too
    mix(strided)
    assert [v & (2**64 - 1) for v in strided.reshape(-1).tolist()] == \
        [splitmix64(vals[3 * i + j]) for i in range(len(vals) // 3) for j in (0, 2)]


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


@pytest.mark.parametrize("kind,dtype", [("bits", torch.int64), ("uniform", torch.float32), ("uniform", torch.float64),
                                        ("normal", torch.float32), ("normal", torch.float64),
                                        ("exponential", torch.float32), ("exponential", torch.float64)])
@pytest.mark.parametrize("block", [1 << 15, 7, 64])
def test_cpu_path_is_the_torch_reference_bit_for_bit(kind, dtype, block, monkeypatch):
    # the numpy CPU path (unsigned arithmetic, blocks, skipped last xor-shift for float32)
    # against the one-pass torch form, which GPUs run
    import sco.random as rnd
    monkeypatch.setattr(rnd, "_CPU_BLOCK", block)
    monkeypatch.setattr(rnd, "_DEVICE_BLOCK", block)  # the torch path's blocks of keys, too
    for seeds, N in (([3, 2**62 + 11, 0], 1000), (list(range(70)), 5), ([9], 1)):
        keys = Stream(seeds).fold("noise", 2).keys
        fast = torch.empty(len(seeds), N, dtype=dtype)
        slow = torch.empty(len(seeds), N, dtype=dtype)
        rnd._generate_numpy(keys, fast, kind)
        rnd._generate_torch(keys, slow, kind)
        assert torch.equal(fast, slow), (kind, dtype, block, len(seeds), N)


def test_bits_are_splitmix64_of_the_counters():
    s = Stream([5, 2**40]).fold("grad", 7)
    got = s.bits((6,))
    for r in range(2):
        key = int(s.keys[r]) & (2**64 - 1)
        want = [splitmix64(key + (j + 1) * 0x9E3779B97F4A7C15) for j in range(6)]
        assert [v & (2**64 - 1) for v in got[r].tolist()] == want


def test_uniforms_stay_below_one_and_normals_finite_for_every_24_bit_value():
    # k + 1/2 rounds to 2**24 for the largest k: u = 1 and a normal of +inf (once in 2**24
    # float32 draws) before the clamp
    import sco.random as rnd
    h = torch.arange(1 << 24, dtype=torch.int64) << 40
    u = torch.empty(1 << 24)
    rnd._to_unit(h, u)
    assert float(u.min()) > 0 and float(u.max()) == 1 - 2.0 ** -24
    assert torch.isfinite(torch.erfinv(u.mul(2).sub(1))).all()


def _unmix(z: int) -> int:
    """The inverse of the SplitMix64 finalizer (each step is a bijection on 64-bit words)."""
    M = 2**64 - 1

    def unxorshift(y, s):
        x = y
        for _ in range(64 // s + 1):
            x = y ^ (x >> s)
        return x & M
    z = unxorshift(z, 31)
    z = (z * pow(0x94D049BB133111EB, -1, 2**64)) & M
    z = unxorshift(z, 27)
    z = (z * pow(0xBF58476D1CE4E5B9, -1, 2**64)) & M
    return unxorshift(z, 30)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_extreme_bit_patterns_give_finite_draws_on_both_paths(dtype):
    import sco.random as rnd
    assert splitmix64(_unmix(12345)) == 12345
    for top in (2**64 - 1, 0):  # the largest and smallest uniforms
        key = (_unmix(top) - 0x9E3779B97F4A7C15) & (2**64 - 1)  # element 0 of this key hashes to `top`
        keys = torch.tensor([_signed(key)])
        assert Stream._from_keys(keys).bits((1,)).item() & (2**64 - 1) == top
        for kind in ("uniform", "normal", "exponential"):
            fast, slow = torch.empty(1, 1, dtype=dtype), torch.empty(1, 1, dtype=dtype)
            rnd._generate_numpy(keys, fast, kind)
            rnd._generate_torch(keys, slow, kind)
            assert torch.equal(fast, slow) and torch.isfinite(fast).all(), (kind, fast, slow)
        u = Stream._from_keys(keys).uniform((1,), dtype)
        assert 0 < float(u) < 1

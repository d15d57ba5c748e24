"""Attacks: formulas, weights, randomness from a Stream, aliases, and the worst-case search."""

import numpy as np
import pytest
import torch

from sco.aggregators import cwtm, mean
from sco.attacks import (ATTACKS, alie, alie_z, far_point, gaussian, honest_stats, ipm, label_flip, mimic,
                         non_finite, sign_flip, spread, worst_case)
from sco.random import Stream


def honest(seed=0, batch=(), h=9, d=4):
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(*batch, h, d)) + 2.0)


@pytest.mark.parametrize("n,f,z", [(17, 8, 1.2206), (9, 4, 0.8416), (17, 4, 0.2934), (10, 2, 0.0)])
def test_alie_z_matches_the_authors_values(n, f, z):
    # z_max of [DL24a-code, alie.py], computed by hand: (17, 8) -> Phi^-1(8/9)
    assert alie_z(n, f) == pytest.approx(z, abs=1e-4)


def test_formulas():
    x = honest()
    mu, sd = x.mean(-2), x.std(-2)  # torch.std is unbiased, as ByzFL and the authors' code
    torch.testing.assert_close(alie(x, n_byz=3), (mu - alie_z(12, 3) * sd).expand(3, 4))
    torch.testing.assert_close(ATTACKS["ALittleIsEnough"](x, n_byz=2), (mu + 1.5 * sd).expand(2, 4))
    torch.testing.assert_close(sign_flip(x, n_byz=2), (-mu).expand(2, 4))
    own = honest(1, h=2)
    torch.testing.assert_close(sign_flip(x, n_byz=2, own=own), -own)
    torch.testing.assert_close(ipm(x, n_byz=2), (-0.5 * mu).expand(2, 4))
    torch.testing.assert_close(ATTACKS["empire"](x, n_byz=2, eps=0.1), (-0.1 * mu).expand(2, 4))
    torch.testing.assert_close(ATTACKS["InnerProductManipulation"](x, n_byz=1), (-2.0 * mu).expand(1, 4))
    assert torch.equal(mimic(x, n_byz=2, target=3), x[3].expand(2, 4))
    far = far_point(x, n_byz=2, distance=50.0)
    torch.testing.assert_close((far - mu).norm(dim=-1), torch.full((2,), 50.0, dtype=torch.float64) * spread(x))
    assert torch.isnan(non_finite(x, n_byz=2)).all() and torch.isposinf(ATTACKS["Inf"](x, n_byz=1)).all()


def test_weighted_statistics():
    x = honest(2)
    w = torch.arange(1.0, 10.0, dtype=torch.float64)
    mu, sd = honest_stats(x, w)
    torch.testing.assert_close(mu, (w[:, None] * x).sum(0) / w.sum())
    mu1, sd1 = honest_stats(x, torch.full((9,), 3.0, dtype=torch.float64))
    torch.testing.assert_close(sd1, x.std(-2))  # equal weights: the unbiased std, any scale
    V1, V2 = w.sum(), (w * w).sum()
    torch.testing.assert_close(sd ** 2, (w[:, None] * (x - mu) ** 2).sum(0) / (V1 - V2 / V1))
    # weighted ALIE's z uses the weight of the updates (the authors' async code)
    torch.testing.assert_close(alie(x, w, n_byz=1, byz_weight=15.0), (mu - alie_z(45 + 15, 15) * sd).expand(1, 4))


def test_batched_shapes_and_streams():
    x = honest(3, batch=(2, 3))
    for name in ("sign_flip", "alie", "ipm", "mimic", "far_point", "non_finite", "gaussian"):
        out = ATTACKS[name](x, n_byz=4, generator=Stream(list(range(6))))
        assert out.shape == (2, 3, 4, 4) and out.dtype == x.dtype
    g = gaussian(x, n_byz=2, generator=Stream([5, 6, 7, 8, 9, 10]), sigma=2.0)
    alone = gaussian(x[1, 2], n_byz=2, generator=Stream(10), sigma=2.0)
    assert torch.equal(g[1, 2], alone)  # a run's draws do not depend on the batch
    with pytest.raises(TypeError, match="sco.random.Stream"):
        gaussian(x, n_byz=1, generator=torch.Generator())
    with pytest.raises(ValueError, match="one per batch row"):
        gaussian(x, n_byz=1, generator=Stream([1, 2]))


def test_label_flip_is_objective_level():
    assert ATTACKS["lf"].objective_level and ATTACKS["LabelFlipping"] is label_flip
    with pytest.raises(TypeError, match="flip_labels"):
        label_flip(honest(), n_byz=1)


def test_errors():
    with pytest.raises(ValueError, match="'n_byz' parameter of alie must be >= 0"):
        alie(honest(), n_byz=-1)
    with pytest.raises(ValueError, match="'honest' parameter of ipm must have shape"):
        ipm(torch.zeros(3), n_byz=1)
    with pytest.raises(ValueError, match="'target' parameter of mimic must be <= 8"):
        mimic(honest(), n_byz=1, target=9)


def test_worst_case_beats_random_attacks_and_is_exact_for_the_mean():
    x = honest(4, h=10, d=3)
    f = 3
    R = 10.0 * float(spread(x))
    rows = worst_case(x, n_byz=f, generator=Stream(0), agg=mean, steps=20, restarts=2)
    dev = (mean(torch.cat([x, rows])) - x.mean(0)).norm()
    assert float(dev) == pytest.approx(f / 13 * R, rel=1e-6)  # all rows at the ball's edge, aligned
    rows = worst_case(x, n_byz=f, generator=Stream(0), agg="cwtm", steps=20, restarts=2)
    best = (cwtm(torch.cat([x, rows]), lam=f / 13) - x.mean(0)).norm()
    g = np.random.default_rng(1)
    for _ in range(200):
        y = x.mean(0) + torch.from_numpy(g.normal(size=(f, 3)) * g.uniform(0.1, 5))
        assert float((cwtm(torch.cat([x, y]), lam=f / 13) - x.mean(0)).norm()) <= float(best) + 1e-12


def test_worst_case_is_batched_and_weighted():
    x = honest(5, batch=(2,), h=8, d=3)
    w = torch.from_numpy(np.random.default_rng(0).integers(1, 4, size=(2, 8)).astype(float))
    rows = worst_case(x, w, n_byz=2, generator=Stream([1, 2]), agg="ctma(cwmed)", steps=5, restarts=2)
    assert rows.shape == (2, 2, 3) and torch.isfinite(rows).all()


def _authors_async_alie(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The authors' asynchronous ALIE, as a plain float64 replay of [DL24b-code, attacks/alie.py]:
    z from the total and the Byzantine update counts, the weighted mean and the weighted std
    divided by the total honest weight (population)."""
    from scipy.stats import norm

    h = x.shape[0]
    hw = weights[:h]
    total = weights.sum()
    byz = total - hw.sum()
    s = np.floor(total / 2 + 1) - byz
    z = norm.ppf((total - byz - s) / (total - byz))
    mu = ((hw / hw.sum())[:, None] * x).sum(0)
    std = np.sqrt((hw[:, None] * (x - mu) ** 2).sum(0) / hw.sum())
    return mu - std * z


def test_the_authors_asynchronous_alie_is_an_option_and_every_statistic_is_per_run():
    g = np.random.default_rng(7)
    x = g.normal(size=(4, 6, 3)) + 1.0  # 4 runs of 6 honest rows
    counts = g.integers(1, 30, size=(4, 8)).astype(float)  # 6 honest + 2 Byzantine workers' update counts
    rows = alie(torch.from_numpy(x), torch.from_numpy(counts[:, :6]), n_byz=1, std="population",
                byz_weight=torch.from_numpy(counts[:, 6:].sum(-1)))
    for r in range(4):  # each run alone, by the authors' formula
        np.testing.assert_allclose(rows[r, 0].numpy(), _authors_async_alie(x[r], counts[r]), rtol=1e-12)
    # the default (unbiased std, Byzantine weight = n_byz x the mean honest weight) is per run too
    both = alie(torch.from_numpy(x), torch.from_numpy(counts[:, :6]), n_byz=2)
    for r in range(4):
        alone = alie(torch.from_numpy(x[r]), torch.from_numpy(counts[r, :6]), n_byz=2)
        torch.testing.assert_close(both[r], alone, rtol=1e-14, atol=0)
    assert not torch.allclose(both[0, 0], alie(torch.from_numpy(x[0]), torch.from_numpy(counts[0, :6]), n_byz=2,
                                               std="population")[0])
    with pytest.raises(ValueError, match="The 'std' parameter of honest_stats must be one of"):
        alie(torch.from_numpy(x), n_byz=1, std="sample")
    with pytest.raises(ValueError, match="The 'byz_weight' parameter of alie must be finite, >= 0 and broadcast"):
        alie(torch.from_numpy(x), torch.from_numpy(counts[:, :6]), n_byz=1, byz_weight=torch.ones(3))


def test_make_attack_takes_one_spec_protocol():
    from sco.attacks import make_attack

    x = honest(8)
    flat = make_attack({"name": "alie", "z": 0.5})(x, n_byz=2)
    byzfl = make_attack({"name": "alie", "parameters": {"z": 0.5}})(x, n_byz=2)
    torch.testing.assert_close(flat, byzfl, rtol=0, atol=0)
    torch.testing.assert_close(make_attack({"name": "alie", "parameters": {}})(x, n_byz=2), alie(x, n_byz=2))
    with pytest.raises(ValueError, match=r"give each option once, either flat or under 'parameters'.*\['z'\]"):
        make_attack({"name": "alie", "z": 0.5, "parameters": {"z": 1.0}})
    with pytest.raises(ValueError, match="must use options of ipm among \\['eps'\\]. Got spec='epsilon'"):
        make_attack({"name": "ipm", "epsilon": 0.5})
    with pytest.raises(ValueError, match="Unknown attack 'alei'.*Did you mean 'alie'"):
        make_attack("alei")

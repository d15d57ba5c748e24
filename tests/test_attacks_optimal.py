"""ByzFL's optimized attacks (optimal_ipm, optimal_alie): ByzFL 0.0.11 parity, the reference loop, per-run scales."""

import numpy as np
import pytest
import torch

from sco import reference as ref
from sco.aggregators import parse
from sco.attacks import ATTACKS, make_attack
from sco.attacks_optimal import optimal_alie, optimal_ipm
from sco.random import Stream
from test_catalogue import X3, byzfl, instance, np_


@pytest.mark.parametrize("kind", ["ipm", "alie"])
def test_optimal_attacks_match_byzfl(kind):
    B = byzfl()
    import importlib
    A = importlib.import_module("byzfl.attacks.attacks")
    cls = A.Optimal_InnerProductManipulation if kind == "ipm" else A.Optimal_ALittleIsEnough
    attack = optimal_ipm if kind == "ipm" else optimal_alie
    g = np.random.default_rng(7)
    # (a clipped mean is flat in the scale once the Byzantine rows are clipped: rounding, not the
    # search, then decides between equal values, so it is checked on the documented example only)
    for spec, agg, pre, f in [("cwtm", B.TrMean(3), [], 3),
                              ("nnm(cwmed)", B.Median(), [B.NNM(2)], 2),
                              ("arc(krum[neighbors=byzfl])", B.Krum(2), [B.ARC(2)], 2),
                              ("nnm(clipping[c=3.0](cwtm))", B.TrMean(2), [B.NNM(2), B.Clipping(3.0)], 2)]:
        honest = g.normal(size=(9, 4)) + 1.0
        theirs = cls(agg, pre_agg_list=pre, f=f)(honest.copy())
        ours = attack(torch.from_numpy(honest), n_byz=f, agg=spec, lam=f / (9 + f), generator=Stream(0))
        assert ours.shape == (f, 4)
        np.testing.assert_allclose(np_(ours[0]), theirs, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(np_(ours[-1]), theirs, rtol=1e-10, atol=1e-10)


def test_optimal_attacks_on_byzfl_documented_examples():
    # ByzFL's docstrings: TrMean(1) after the pre-aggregators [NNM(1), Clipping()] (applied in that order,
    # so NNM is the outer meta here), f = 1, on the 3-row example; and its defaults, Average after Clipping
    t = torch.from_numpy(X3)
    spec = "nnm(clipping(cwtm))"
    np.testing.assert_allclose(np_(optimal_ipm(t, n_byz=1, agg=spec, lam=0.25)[0]),
                               [-2.74877907, -3.43597384, -4.1231686], rtol=0, atol=1e-7)
    np.testing.assert_allclose(np_(optimal_alie(t, n_byz=1, agg=spec, lam=0.25)[0]),
                               [12.91985116, 13.91985116, 14.91985116], rtol=0, atol=1e-7)
    np.testing.assert_allclose(np_(optimal_ipm(t, n_byz=1, agg="clipping(mean)", lam=0.25)[0]), [-40., -50., -60.])


# -- the optimal attacks: the reference loop, per-run scales, the simulator's binding ---------------


@pytest.mark.parametrize("kind", ["ipm", "alie"])
def test_optimal_attacks_match_the_reference_loop_per_run(kind):
    attack = optimal_ipm if kind == "ipm" else optimal_alie
    g = np.random.default_rng(3)
    honest = torch.from_numpy(g.normal(size=(2, 3, 8, 4)) * g.uniform(0.5, 2, size=(2, 3, 1, 1)) + 0.5)
    lam = 3 / 11
    rows = attack(honest, n_byz=3, agg="cwtm", lam=lam, generator=Stream(list(range(6))))
    assert rows.shape == (2, 3, 3, 4)
    for i in range(2):
        for j in range(3):
            h = np_(honest[i, j])
            want = ref.ref_optimal_attack(h, lambda x: ref.ref_cwtm(x, None, lam), 3, kind)
            np.testing.assert_allclose(np_(rows[i, j, 0]), want, rtol=1e-10, atol=1e-10)
            # alone, the run finds the same scale as in its batch
            alone = attack(honest[i, j], n_byz=3, agg="cwtm", lam=lam, generator=Stream(3 * i + j))
            assert torch.equal(alone, rows[i, j])


def test_optimal_attacks_bind_like_worst_case_and_search_randomized_rules():
    honest, _ = instance(0, 12, 3, batch=(2,))
    for name in ("optimal_ipm", "optimal_alie"):
        assert name in ATTACKS
        attack = make_attack(name, agg=parse("bucketing(cwmed)"), lam=4 / 16)
        gen = Stream([5, 6])
        rows = attack(honest, None, n_byz=4, generator=gen)
        assert rows.shape == (2, 4, 3) and torch.isfinite(rows).all()
        assert torch.equal(rows[1], attack(honest[1], None, n_byz=4, generator=Stream(6)))
        assert torch.equal(rows, attack(honest, None, n_byz=4, generator=gen))  # deterministic per stream
        assert attack(honest, None, n_byz=0, generator=gen).shape == (2, 0, 3)
        weighted = make_attack({"name": name, "evals": 5}, agg="cwtm", lam=0.2)
        w = torch.rand(2, 12, dtype=torch.float64) + 0.5
        assert weighted(honest, w, n_byz=3, generator=gen).shape == (2, 3, 3)


def test_optimal_attacks_errors():
    honest, _ = instance(0, 6, 2)
    with pytest.raises(ValueError, match=r"'agg' parameter of optimal_ipm must be given"):
        optimal_ipm(honest, n_byz=2)
    with pytest.raises(ValueError, match=r"'ratio' parameter of optimal_alie must be < 1.0"):
        optimal_alie(honest, n_byz=2, agg="mean", ratio=1.0)
    with pytest.raises(ValueError, match=r"'delta' parameter of optimal_ipm must be nonzero"):
        optimal_ipm(honest, n_byz=2, agg="mean", delta=0.0)
    with pytest.raises(ValueError, match=r"'evals' parameter of optimal_ipm must be >= 1"):
        optimal_ipm(honest, n_byz=2, agg="mean", evals=0)

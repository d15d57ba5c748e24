"""Aggregator numerics: rows at any scale, half precision, the float32 kernels against the references, rfa's nu=0 limit."""

import math

import numpy as np
import pytest
import torch

from sco import reference as ref
from sco.aggregators import centered_clipping, cwmed, cwtm, parse, rfa
from sco.aggregators import _kernels
from sco.random import Stream


def rows(seed, m, d, dtype=torch.float64, weighted=False):
    g = np.random.default_rng(seed)
    x = torch.from_numpy(g.normal(size=(m, d)) + g.normal(size=d) * 2).to(dtype)
    w = torch.from_numpy(g.uniform(0.2, 3.0, size=m)) if weighted else None
    return x, w


# -- rows scaled by 1e+-160 (float64) and 1e+-20 (float32) -------------------------------------------
# Each rule is scale-equivariant when its absolute parameters (tau, nu, the center) scale with
# the rows, so scaled rows must give the scaled answer. Squared distances of rows at 1e160
# overflow float64 and those at 1e-160 underflow it; float32 does so at 1e+-20.

SCALED = [
    ("krum", lambda s: (parse("krum"), {})),
    ("krum[byzfl]", lambda s: (parse("krum[neighbors=byzfl]"), {})),
    ("multi_krum", lambda s: (parse("multi_krum"), {})),
    ("geometric_median", lambda s: (parse("geometric_median"), {})),
    ("rfa", lambda s: (parse(f"rfa[nu={0.1 * s!r}]"), {})),
    ("ctma(cwmed)", lambda s: (parse("ctma(cwmed)"), {})),
    ("ctma(geometric_median)", lambda s: (parse("ctma(geometric_median)"), {})),
    ("nnm(mean)", lambda s: (parse("nnm(mean)"), {})),
    ("nnm(cwtm)", lambda s: (parse("nnm(cwtm)"), {})),
    ("nnm+ctma(cwmed)", lambda s: (parse("nnm+ctma(cwmed)"), {})),
    ("centered_clipping", lambda s: (parse(f"centered_clipping[tau={1.5 * s!r},iters=3]"), {"center": True})),
]


@pytest.mark.parametrize("name,make", SCALED, ids=[r[0] for r in SCALED])
@pytest.mark.parametrize("dtype,scales", [(torch.float64, (1e160, 1e-160)), (torch.float32, (1e20, 1e-20))],
                         ids=["float64", "float32"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_scaled_rows_give_the_scaled_answer(name, make, dtype, scales, weighted):
    x, w = rows(3, 11, 6, dtype, weighted)
    c = torch.linspace(-1, 1, 6, dtype=dtype)
    agg, opts = make(1.0)
    base = agg(x, w, lam=2 / 11, center=c if opts.get("center") else None)
    assert torch.isfinite(base).all()
    tol = 1e-9 if dtype == torch.float64 else 2e-4
    if "geometric_median" in name:
        tol = 1e-6 if dtype == torch.float64 else 2e-3
    for s in scales:
        agg_s, _ = make(s)
        got = agg_s(x * s, w, lam=2 / 11, center=c * s if opts.get("center") else None)
        assert got.dtype == dtype and torch.isfinite(got).all(), (s, got)
        err = float(((got / s).double() - base.double()).abs().max() / base.double().abs().max())
        assert err <= tol, (s, err)
        if name.startswith("krum"):  # a selection: the very row chosen at scale 1, scaled
            i = int(((x - base).abs().sum(-1) == 0).nonzero()[0])
            assert torch.equal(got, (x * s)[i])


def test_distances_are_accurate_at_large_d_and_any_scale():
    # cdist's float32 running sum lost ~4 digits at d = 1e6; the cascade keeps ~7
    g = np.random.default_rng(0)
    x = torch.from_numpy(g.normal(size=(3, 1_000_000)).astype(np.float32) + 5)
    z = x[1] + 0.01
    exact = torch.linalg.vector_norm(x.double() - z.double(), dim=-1)
    assert float(((_kernels.dist_to(x, z) - exact).abs() / exact).max()) < 1e-6
    for s in (1e160, 1e-160, 1e300):
        xs = x.double()[:, :1000] * s
        zs = z.double()[:1000] * s
        want = torch.linalg.vector_norm((x.double()[:, :1000] - z.double()[:1000]), dim=-1) * s
        got = _kernels.dist_to(xs, zs)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=0)
    # the autograd/other-device form agrees
    xg = x[:, :1000].double().requires_grad_(True)
    torch.testing.assert_close(_kernels.dist_to(xg, z[:1000].double()),
                               _kernels.dist_to(x[:, :1000].double(), z[:1000].double()), rtol=1e-14, atol=0)


def test_a_row_beyond_range_is_bad_and_never_selected():
    x, _ = rows(1, 9, 4)
    x = x.clone()
    x[2] = 1e300  # its squared distance to the others exceeds float64
    assert torch.isfinite(_kernels.dist_to(x, x[0])).all()  # a distance of ~1e300 is representable
    _, bad, _ = _kernels.pairwise_sqdist(x)
    assert bad.tolist() == [i == 2 for i in range(9)]
    assert not torch.equal(parse("krum")(x, lam=2 / 9), x[2])


# -- half precision ------------------------------------------------------------------------------

HALF_RULES = ["mean", "cwmed", "cwmed[mode=lower]", "cwtm", "geometric_median", "rfa", "krum", "multi_krum",
              "centered_clipping[tau=1.0]", "ctma(cwmed)", "nnm(cwtm)", "bucketing(cwmed)"]


@pytest.mark.parametrize("spec", HALF_RULES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
def test_half_precision_is_computed_in_float32_and_returned_in_kind(spec, dtype):
    x, w = rows(5, 9, 5, weighted=True)
    x = (x * 30).to(dtype)  # squared distances ~1e5 overflow float16 (65504)
    agg = parse(spec)
    center = torch.zeros(5, dtype=dtype)
    for weights in (None, w):
        got = agg(x, weights, lam=2 / 9, center=center, generator=Stream(1))
        want = agg(x.float(), weights, lam=2 / 9, center=center.float(), generator=Stream(1))
        assert got.dtype == dtype and got.shape == (5,)
        assert torch.equal(got, want.to(dtype))
        assert torch.isfinite(got).all()


def test_half_precision_geometric_median_returns_iterations_as_integers():
    x, _ = rows(2, 7, 3, dtype=torch.float16)
    z, iters = parse("geometric_median").fn(x, return_iters=True)
    assert z.dtype == torch.float16 and iters.dtype == torch.int64


# -- the float32 kernels (64-bit value+index keys) against the references ------------------------------


@pytest.mark.parametrize("path", ["numpy", "torch"])
@pytest.mark.parametrize("m", [6, 7, 16])
def test_float32_coordinatewise_kernels_match_reference(m, path, monkeypatch):
    monkeypatch.setattr(_kernels, "TILE_BYTES", 4 * m * 5)  # tiles of 5 coordinates: many tiles
    # instances this small take the torch forms; SMALL = 0 sends them through the numpy kernels
    monkeypatch.setattr(_kernels, "SMALL", 0 if path == "numpy" else 1 << 12)
    g = np.random.default_rng(m)
    x = g.normal(size=(2, m, 23)).astype(np.float32)
    x[0, 1, :4] = [np.nan, -np.inf, np.inf, -0.0]
    x[1, :3, 5] = 0.0  # ties, with a -0.0
    x[1, 3, 5] = -0.0
    x[1, :, 7] = 1.5  # all equal
    x[0, 2:5, 9] = x[0, 1, 9]  # a tied run
    x[1, 0, 10] = -np.nan  # a NaN with the sign bit set sorts last too
    w = g.uniform(0.2, 3.0, size=(2, m))
    w[1, 2] = 0.0
    wi = g.integers(1, 4, size=(2, m)).astype(np.float64)  # integer weights: exact halves occur
    xt = torch.from_numpy(x)
    slow = xt.clone().requires_grad_(True)  # the torch form (torch.sort, NaN last)
    for weights in (w, wi):
        wt = torch.from_numpy(weights)
        for b in range(2):
            # the reference sorts with Python's comparisons, for which NaN has no place: finite columns only
            finite = np.isnan(x[b]).sum(0) == 0
            for mode in ("lower", "upper"):
                got = cwmed(xt, wt, mode=mode)[b]
                want = ref.ref_cwmed(x[b].astype(np.float64), weights[b], mode)
                assert np.array_equal(got.double().numpy()[finite], want[finite]), (mode, got, want)
                assert torch.equal(got, cwmed(slow, wt, mode=mode)[b].detach())  # NaN columns too
            got = cwmed(xt, wt)[b].double().numpy()
            want = ref.ref_cwmed(x[b].astype(np.float64), weights[b], "interpolate")
            np.testing.assert_allclose(got[finite], want[finite], rtol=1e-7, atol=0)
            finite = np.isfinite(x[b]).all(0)
            got = cwtm(xt, wt, lam=0.25)[b].double().numpy()
            want = ref.ref_cwtm(x[b].astype(np.float64), weights[b], 0.25)
            np.testing.assert_allclose(got[finite], want[finite], rtol=1e-6, atol=1e-6)
            torch.testing.assert_close(cwtm(xt, wt, lam=0.25)[b], cwtm(slow, wt, lam=0.25)[b].detach(),
                                       rtol=1e-6, atol=1e-6, equal_nan=True)
    for mode in ("lower", "upper", "interpolate"):  # unweighted, float32 against float64
        assert np.array_equal(cwmed(xt, mode=mode).numpy(), cwmed(xt.double(), mode=mode).float().numpy(),
                              equal_nan=True)


def test_float32_kernels_agree_with_the_torch_path(monkeypatch):
    monkeypatch.setattr(_kernels, "SMALL", 0)  # the numpy kernels, not the small instances' torch forms
    x, w = rows(4, 12, 40, torch.float32, weighted=True)
    for agg in (parse("cwmed"), parse("cwmed[mode=upper]"), parse("cwtm"), parse("ctma(cwmed)"), parse("krum"),
                parse("nnm(cwtm)"), parse("centered_clipping[tau=2.0]"), parse("geometric_median")):
        for weights in (None, w):
            fast = agg(x, weights, lam=3 / 12, center=torch.zeros(40))
            slow = agg(x.clone().requires_grad_(True), weights, lam=3 / 12, center=torch.zeros(40)).detach()
            torch.testing.assert_close(slow, fast, rtol=1e-5, atol=1e-5)


# -- rfa with nu = 0: the limit nu -> 0+ ---------------------------------------------------------------


def test_rfa_nu0_removes_a_zero_weight_row_on_the_iterate():
    # z_0 = 0 coincides with row 2, whose weight is 0: the authors' form divides 0 by 0
    x, w = rows(6, 8, 3, weighted=True)
    x, w = x.clone(), w.clone()
    x[2] = 0.0
    w[2] = 0.0
    got = rfa(x, w, nu=0.0)
    assert torch.isfinite(got).all()
    keep = [i for i in range(8) if i != 2]
    torch.testing.assert_close(got, rfa(x[keep], w[keep], nu=0.0), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got, rfa(x, w, nu=1e-300), rtol=1e-12, atol=1e-12)  # the limit nu -> 0+
    want = ref.ref_weiszfeld(x[keep].numpy(), w[keep].numpy(), z0=np.zeros(3), steps=3, nu=0.0)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


def test_rfa_nu0_stays_on_a_weighted_row_it_reaches():
    # a row with positive weight on the iterate: the limit nu -> 0+ keeps z there
    x, w = rows(7, 8, 3, weighted=True)
    x = x.clone()
    x[4] = 0.0
    got = rfa(x, w, nu=0.0)
    assert torch.equal(got, torch.zeros(3, dtype=torch.float64))
    assert float(rfa(x, w, nu=1e-300).abs().max()) < 1e-12


def test_centered_clipping_at_scale_with_a_far_center():
    # rows and center at 1e-160: the clipped steps are computed from scaled distances
    x, w = rows(8, 10, 4, weighted=True)
    c = torch.full((4,), 3.0, dtype=torch.float64)
    base = centered_clipping(x, w, center=c, tau=0.5, iters=2)
    for s in (1e160, 1e-160):
        got = centered_clipping(x * s, w, center=c * s, tau=0.5 * s, iters=2)
        torch.testing.assert_close(got / s, base, rtol=1e-12, atol=0)
    assert math.isfinite(float(base.sum()))


# -- the accelerator forms (no host synchronisation), run on the CPU ------------------------------

DEVICE_RULES = ["mean", "cwmed", "cwmed[mode=lower]", "cwmed[mode=upper]", "cwtm", "geometric_median", "rfa", "krum",
                "krum[neighbors=byzfl]", "multi_krum", "centered_clipping[tau=1.0,iters=2]", "ctma(cwmed)",
                "ctma[ties=authors](cwmed)", "ctma(geometric_median)", "nnm(cwtm)", "nnm+ctma(cwmed)",
                "bucketing(cwmed)"]


@pytest.mark.parametrize("spec", DEVICE_RULES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_device_forms_match_the_host_forms(spec, dtype, monkeypatch):
    # what a GPU runs (torch sorts and selections, masks applied without asking whether any row
    # is bad, scaled distances), forced on the CPU, against the CPU's numpy kernels
    monkeypatch.setattr(_kernels, "SMALL", 0)
    g = np.random.default_rng(11)
    x = torch.from_numpy(g.normal(size=(3, 13, 7)) + 4.0).to(dtype)
    x[0, 4] = x[0, 2]  # a tie
    x[1, 5] = math.inf  # a bad row within the Byzantine budget
    x[2, :, 3] = 1.0  # a constant coordinate
    w = torch.from_numpy(g.uniform(0.2, 3.0, size=(3, 13)))
    w[1, 5] = 0.5
    agg = parse(spec)
    kw = dict(lam=3 / 13, center=torch.full((3, 7), 0.5, dtype=dtype), generator=Stream([4, 5, 6]))
    tol = 1e-9 if dtype == torch.float64 else 1e-4
    for weights in (None, w):
        want = agg(x, weights, **kw)
        with monkeypatch.context() as mp:
            mp.setattr(_kernels, "host", lambda t: False)
            got = agg(x, weights, **kw)
        torch.testing.assert_close(got, want, rtol=tol, atol=tol * float(want.abs().max()))


@pytest.mark.parametrize("block", [64, 200, 1 << 20], ids=["column-chunks", "run-chunks", "whole"])
def test_gram_blocks_give_each_run_its_own_bits_alone_and_batched(block, monkeypatch):
    # blocks are chunks of runs times chunks of columns; a run's blocks never depend on the batch
    monkeypatch.setattr(_kernels, "BLOCK_ELEMENTS", block)
    g = np.random.default_rng(5)
    x = torch.from_numpy(g.normal(size=(3, 2, 8, 37)).astype(np.float32) + 4)
    D, _, scale = _kernels.pairwise_sqdist(x)
    for i in range(3):
        for j in range(2):
            assert torch.equal(D[i, j], _kernels.pairwise_sqdist(x[i, j])[0])
    exact = torch.cdist(x.double(), x.double()) ** 2
    torch.testing.assert_close(D.double() * scale.double()[..., None, None] ** 2, exact, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("m, d", [(1, 100_000), (1, 300_000), (2, 100_000), (5, 1_000)])
def test_distances_of_each_run_are_its_own_bits_alone_and_batched(m, d):
    # tiles hold several runs of a small instance; a one-row run once summed differently in them
    g = np.random.default_rng(m)
    x = torch.from_numpy(g.normal(size=(6, m, d)).astype(np.float32) + 1)
    z = torch.from_numpy(g.normal(size=(6, d)).astype(np.float32))
    batched = _kernels.dist_to(x, z)
    for r in range(6):
        assert torch.equal(batched[r], _kernels.dist_to(x[r], z[r]))

"""The rest of ByzFL's catalogue, MoNNA, the Flag Aggregator and the clipping pre-aggregators: parity with the
slow references and with ByzFL 0.0.11, validation. Their metamorphic properties run over the one table of rules in
test_aggregators.py."""

import numpy as np
import pytest
import torch

from sco import reference as ref
from sco.aggregators import AGGREGATORS, META_AGGREGATORS, arc, caf, clipping, flag, mda, meamed, monna, parse, smea
from sco.compat.byzfl import original as original_byzfl
from test_aggregators import instance, np_


def byzfl():
    B = original_byzfl()
    if B is None:
        pytest.skip("ByzFL 0.0.11 is not installed (pip install .[bench])")
    return B


# -- parity with the slow references (float64) ------------------------------------------------------

CASES = [(7, 3, 2 / 7), (9, 2, 0.3), (8, 4, 0.25), (6, 1, 0.0)]


@pytest.mark.parametrize("m,d,lam", CASES)
@pytest.mark.parametrize("weighted", [False, True])
def test_subset_rules_match_brute_force(m, d, lam, weighted):
    for seed in range(3):
        x, w = instance(seed, m, d, weighted=weighted)
        np.testing.assert_allclose(np_(mda(x, w, lam=lam)), ref.ref_mda(np_(x), np_(w), lam), rtol=0, atol=1e-12)
        np.testing.assert_allclose(np_(smea(x, w, lam=lam)), ref.ref_smea(np_(x), np_(w), lam), rtol=0, atol=1e-12)


@pytest.mark.parametrize("m,d,lam", CASES + [(12, 5, 0.3)])
@pytest.mark.parametrize("weighted", [False, True])
def test_filters_match_reference(m, d, lam, weighted):
    for seed in range(3):
        x, w = instance(seed, m, d, weighted=weighted)
        xn, wn = np_(x), np_(w)
        for mode in ("interpolate", "lower"):
            np.testing.assert_allclose(np_(meamed(x, w, lam=lam, mode=mode)), ref.ref_meamed(xn, wn, lam, mode),
                                       rtol=0, atol=1e-12)
        np.testing.assert_allclose(np_(caf(x, w, lam=lam)), ref.ref_caf(xn, wn, lam, "active"), rtol=0, atol=1e-9)
        # ByzFL's pool can take thousands of steps: compare the same first 60
        np.testing.assert_allclose(np_(caf(x, w, lam=lam, tau_max="all", max_iter=60)),
                                   ref.ref_caf(xn, wn, lam, "all", max_iter=60), rtol=0, atol=1e-9)
        for idx in (0, m - 1):
            np.testing.assert_allclose(np_(monna(x, w, lam=lam, idx=idx)), ref.ref_monna(xn, wn, lam, idx),
                                       rtol=0, atol=1e-12)


@pytest.mark.parametrize("m,d", [(7, 3), (10, 6), (5, 8)])
@pytest.mark.parametrize("weighted", [False, True])
def test_flag_matches_the_d_dimensional_irls(m, d, weighted):
    for seed in range(3):
        x, w = instance(seed, m, d, weighted=weighted)
        for r in (1, 2, min(d, 4)):
            # the same steps on both sides (before the objective's plateau, where rounding decides the stop)
            for iters in (0, 1, 8):
                ours = flag(x, w, r=r, max_iter=iters, tol=0.0)
                # two eigensolvers on different matrices (m x m here, d x d there) agree to ~eps / eigengap
                np.testing.assert_allclose(np_(ours), ref.ref_flag(np_(x), np_(w), r, iters=iters, tol=0.0),
                                           rtol=0, atol=1e-8)
            # converged: the objective decrease at tol 1e-13 leaves the iterate within ~sqrt(tol)
            np.testing.assert_allclose(np_(flag(x, w, r=r, max_iter=500, tol=1e-13)),
                                       ref.ref_flag(np_(x), np_(w), r, iters=500, tol=1e-13), rtol=0, atol=1e-5)


def test_flag_is_the_flag_median_and_irls_descends():
    x, _ = instance(3, 9, 5)
    xh = x / x.norm(dim=-1, keepdim=True)
    # a step of FlagIRLS never increases the smoothed objective; the fixed point beats the flag mean
    values = []
    for it in range(0, 6):
        v = flag(x, max_iter=it, tol=0.0)
        y = v / v.norm()  # r = 1: the output spans Y
        values.append(float((1 - (xh @ y) ** 2 + 1e-7).sqrt().sum()))
    assert all(b <= a + 1e-12 for a, b in zip(values, values[1:])), values
    # the converged direction is a local minimum: small rotations do not lower sum_i sin(theta_i)
    y = flag(x, max_iter=500, tol=0.0)
    y = y / y.norm()
    best = float((1 - (xh @ y) ** 2 + 1e-7).sqrt().sum())
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        z = y + 1e-3 * torch.randn(5, generator=g, dtype=torch.float64)
        z = z / z.norm()
        assert float((1 - (xh @ z) ** 2 + 1e-7).sqrt().sum()) >= best - 1e-12


def test_flag_is_scale_invariant_at_extreme_scales():
    # the Gram x x^T of rows near 1e300 overflows and of rows near 1e-200 underflows: the direction path
    x = torch.tensor([[1.0, 0.2], [2.0, -0.1], [-0.5, 0.3], [3.0, 0.0], [1.5, 1.0]], dtype=torch.float64)
    base = flag(x)
    assert torch.isfinite(flag(torch.cat([x[:, :1], x[-1:, :1] * 1e300]))).all()  # d = 1, one huge row
    for a in (1e300, 1e-200):  # the two paths stop IRLS apart: within its documented 2e-6 of the converged median
        torch.testing.assert_close(flag(a * x), base, rtol=0, atol=2e-6 * float(base.abs().max()))


@pytest.mark.parametrize("m,d,lam", [(7, 3, 2 / 7), (10, 4, 0.3), (9, 2, 0.2), (9, 3, 3 / 9)])
@pytest.mark.parametrize("weighted", [False, True])
def test_clipping_pre_aggregators_match_reference(m, d, lam, weighted):
    for seed in range(3):
        x, w = instance(seed, m, d, weighted=weighted)
        xn, wn = np_(x), np_(w)
        for base in ("mean", "cwtm"):
            want = ref.ref_mean if base == "mean" else (lambda y, w_: ref.ref_cwtm(y, w_, lam))
            ours = parse(f"arc({base})")(x, w, lam=lam)
            np.testing.assert_allclose(np_(ours), want(ref.ref_arc_rows(xn, wn, lam), wn), rtol=0, atol=1e-12)
            ours = parse(f"clipping[c=1.5]({base})")(x, w, lam=lam)
            np.testing.assert_allclose(np_(ours), want(ref.ref_clipping_rows(xn, 1.5), wn), rtol=0, atol=1e-12)


def test_arc_clips_the_k_largest_rows_to_the_next_norm():
    # (m, f) = (9, 3): k = 2 f (m - f) / m = 4; rows i e_i: the four largest go to norm 5
    x = torch.diag(torch.arange(1.0, 10.0, dtype=torch.float64))
    torch.testing.assert_close(arc("mean")(x, lam=3 / 9) * 9,
                               torch.tensor([1, 2, 3, 4, 5, 5, 5, 5, 5], dtype=torch.float64), rtol=0, atol=1e-14)
    # lam = 0 clips nothing: k = 0
    assert torch.equal(arc("mean")(x, lam=0.0), x.mean(0))


# -- parity with ByzFL 0.0.11: its docstring examples and random inputs ----------------------------

X3 = np.array([[1., 2., 3.], [4., 5., 6.], [7., 8., 9.]])


def test_byzfl_docstring_examples():
    B = byzfl()
    t = torch.from_numpy(X3)
    # the documented outputs, and ByzFL's own call on the same input (ByzFL mutates: pass copies)
    for ours, theirs, documented in [
        (mda(t, lam=1 / 3), B.MDA(1)(X3.copy()), [2.5, 3.5, 4.5]),
        (meamed(t, lam=1 / 3), B.Meamed(1)(X3.copy()), [2.5, 3.5, 4.5]),
        (caf(t, lam=1 / 3), B.CAF(1)(X3.copy()), [4., 5., 6.]),
        (monna(t, lam=1 / 3, idx=1), B.MoNNA(1, 1)(X3.copy()), [2.5, 3.5, 4.5]),
        (smea(t, lam=1 / 3), None, [2.5, 3.5, 4.5]),  # ByzFL breaks this tie at random (one power step)
    ]:
        np.testing.assert_allclose(np_(ours), documented, rtol=0, atol=1e-12)
        if theirs is not None:
            np.testing.assert_allclose(np_(ours), theirs, rtol=0, atol=1e-12)
    rows = {"arc": [[1., 2., 3.], [4., 5., 6.], [4.41004009, 5.04004582, 5.67005155]],
            "clipping": [[0.53452248, 1.06904497, 1.60356745], [0.91168461, 1.13960576, 1.36752692],
                         [1.00514142, 1.14873305, 1.29232469]]}
    for name, cls in (("arc", B.ARC(1)), ("clipping", B.Clipping())):
        # ByzFL returns the pre-aggregated rows; ours feed a base: seen through the mean
        np.testing.assert_allclose(np_(parse(f"{name}(mean)")(t, lam=1 / 3)), np.mean(rows[name], 0),
                                   rtol=0, atol=1e-8)
        np.testing.assert_allclose(cls(X3.copy()), rows[name], rtol=0, atol=1e-8)


@pytest.mark.parametrize("m,f,d", [(9, 3, 5), (10, 4, 1), (11, 2, 7), (12, 5, 3), (13, 6, 1)])
def test_byzfl_random_inputs(m, f, d):
    B = byzfl()
    g = np.random.default_rng(m * 100 + d)
    for _ in range(2):
        x = g.normal(size=(m, d)) * 2 + g.normal(size=d)
        t, lam = torch.from_numpy(x), f / m
        pairs = [(mda(t, lam=lam), B.MDA(f)), (meamed(t, lam=lam), B.Meamed(f)),
                 (monna(t, lam=lam, idx=m // 2), B.MoNNA(f, m // 2)),
                 (parse("arc(mean)")(t, lam=lam), lambda v: B.ARC(f)(v).mean(0)),
                 (parse("clipping(cwtm)")(t, lam=lam), lambda v: B.TrMean(f)(B.Clipping()(v))),
                 (parse("arc(nnm(cwtm))")(t, lam=lam), lambda v: B.TrMean(f)(B.NNM(f)(B.ARC(f)(v))))]
        if d == 1:  # one power-iteration step is exact in one dimension
            pairs += [(smea(t, lam=lam), B.SMEA(f)), (parse("CAF")(t, lam=lam), B.CAF(f))]
        for ours, theirs in pairs:
            np.testing.assert_allclose(np_(ours), theirs(x.copy()), rtol=0, atol=1e-12)


# -- validation and the registry -------------------------------------------------------------------


def test_registry_names_and_byzfl_aliases():
    for name in ("mda", "smea", "meamed", "caf", "monna", "flag"):
        assert name in AGGREGATORS
    for name in ("arc", "clipping"):
        assert name in META_AGGREGATORS
    assert parse("CAF").name == "caf[tau_max=all]"
    assert parse("Clipping(cwtm)").name == "clipping(cwtm)"
    assert parse("clipping[c=1.0](nnm(mean))").name == "clipping[c=1.0](nnm(mean))"
    assert parse("nnm+arc(cwtm)").name == "arc(nnm(cwtm))"
    agg = parse({"name": "TrMean", "pre_aggregators": [{"name": "ARC"}, {"name": "NNM"}]})
    assert agg.name == "arc(nnm(cwtm))"  # ByzFL applies pre-aggregators in list order: ARC first
    assert parse({"name": "MoNNA", "parameters": {"idx": 2}}).name == "monna[idx=2]"


def test_errors_name_the_parameter():
    x, _ = instance(0, 30, 2)
    with pytest.raises(ValueError, match=r"'lam' parameter of mda must leave at most max_subsets=100000 subsets"
                                         r" to enumerate; C\(m, f\) = C\(30, 9\) gives 14307150"):
        mda(x, lam=0.3)
    assert mda(x[:12], lam=0.25).shape == (2,)
    with pytest.raises(ValueError, match=r"'lam' parameter of smea must leave at most max_subsets=10 subsets"):
        smea(x[:12], lam=0.25, max_subsets=10)
    with pytest.raises(ValueError, match=r"'idx' parameter of monna must be <= 29"):
        monna(x, lam=0.1, idx=30)
    with pytest.raises(ValueError, match=r"'r' parameter of flag must be <= 2"):
        flag(x, r=3)
    with pytest.raises(ValueError, match=r"'tau_max' parameter of caf must be one of"):
        caf(x, lam=0.1, tau_max="max")
    with pytest.raises(ValueError, match=r"'c' parameter of clipping must be > 0"):
        clipping("mean", c=0.0)
    with pytest.raises(ValueError, match=r"'lam' parameter of arc\(mean\) must be < 1/2"):
        arc("mean")(x, lam=0.5)
    with pytest.raises(ValueError, match=r"'mode' parameter of meamed must be one of"):
        meamed(x, lam=0.1, mode="middle")

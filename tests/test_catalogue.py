"""The rest of ByzFL's catalogue, MoNNA, the Flag Aggregator and the clipping pre-aggregators: parity with the
slow references and with ByzFL 0.0.11, metamorphic properties, validation."""

import functools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sco import reference as ref
from sco.aggregators import AGGREGATORS, META_AGGREGATORS, arc, caf, clipping, flag, mda, meamed, monna, parse, smea
from sco.random import Stream

PROPS = settings(max_examples=8, deadline=None, derandomize=True)


def instance(seed, m, d, batch=(), weighted=False, integer=False):
    g = np.random.default_rng(seed)
    x = torch.from_numpy(g.normal(size=(*batch, m, d)) * g.uniform(0.5, 3) + g.normal(size=d) * 3)
    if not weighted:
        return x, None
    w = g.integers(1, 4, size=(*batch, m)) if integer else g.uniform(0.2, 3.0, size=(*batch, m))
    return x, torch.from_numpy(np.asarray(w, dtype=np.float64))


def np_(t):
    return None if t is None else t.detach().numpy()


@functools.lru_cache(maxsize=1)
def _load_byzfl():
    try:
        from benchmarks.aggregators import load_byzfl
    except ImportError:
        return "benchmarks/ is not importable: run the tests from the repository root"
    try:
        return load_byzfl() or "ByzFL 0.0.11 is not installed (pip install .[bench])"
    except ImportError as e:  # opened once: a second find_spec on its stand-in package would raise
        return f"ByzFL is not importable ({e})"


def byzfl():
    B = _load_byzfl()
    if isinstance(B, str):
        pytest.skip(B)
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


# -- metamorphic properties, one table -------------------------------------------------------------

# name, aggregator, permutation-invariant, translation-eq., scale-eq., replication
RULES = [
    ("mda", parse("mda"), False, True, True, False),  # ties (common: one pair sets a diameter) go by index
    ("smea", parse("smea"), True, True, True, False),
    ("meamed", parse("meamed"), True, True, True, True),
    ("caf", parse("caf"), True, True, True, True),
    ("caf[tau_max=all]", parse("caf[tau_max=all,max_iter=200]"), True, True, True, True),
    ("monna", parse("monna[idx=1]"), True, True, True, True),
    ("flag", parse("flag"), True, False, False, False),
    ("arc(cwtm)", parse("arc(cwtm)"), True, False, True, True),
    ("clipping(cwtm)", parse("clipping[c=3.0](cwtm)"), True, False, False, True),
    ("arc(nnm(mean))", parse("arc(nnm(mean))"), True, False, True, True),
]
IDS = [r[0] for r in RULES]
sizes = st.tuples(st.integers(0, 10_000), st.integers(5, 9), st.integers(1, 4), st.integers(0, 2))


def call(agg, x, w, lam):
    n = math.prod(x.shape[:-2])
    return agg(x, w, lam=lam, generator=Stream(list(range(max(n, 1)))))


def close(a, b, tol=1e-9):
    torch.testing.assert_close(a, b, rtol=0, atol=tol * max(1.0, float(b.abs().max())))


def lam_of(m, k):
    return min(k, (m - 1) // 2) / m


def permuted_idx(name, perm):
    """MoNNA's designated row moves with the permutation."""
    return parse(f"monna[idx={int((perm == 1).nonzero())}]") if name == "monna" else None


@pytest.mark.parametrize("rule", RULES, ids=IDS)
@PROPS
@given(sizes)
def test_permutation_invariance(rule, case):
    name, agg, invariant, *_ = rule
    if not invariant:
        pytest.skip(f"{name} breaks ties between minimizers by row index (documented)")
    seed, m, d, k = case
    x, w = instance(seed, m, d, weighted=True)
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(m))
    other = permuted_idx(name, perm) or agg
    for weights in (None, w):
        close(call(other, x[perm], None if weights is None else weights[perm], lam_of(m, k)),
              call(agg, x, weights, lam_of(m, k)), 1e-8)


@pytest.mark.parametrize("rule", RULES, ids=IDS)
@PROPS
@given(sizes, st.floats(0.1, 10.0), st.floats(-50, 50))
def test_equivariance(rule, case, a, b):
    name, agg, _, translation, scale, _ = rule
    seed, m, d, k = case
    x, w = instance(seed, m, d, weighted=bool(seed % 2))
    lam = lam_of(m, k)
    base = call(agg, x, w, lam)
    if translation:
        close(call(agg, x + b, w, lam), base + b, 1e-7)
    if scale:
        close(call(agg, a * x, w, lam), a * base, 1e-7)
    if name == "flag":  # scale-invariant instead: each row enters by its direction
        close(call(agg, a * x, w, lam), base, 1e-7)


@pytest.mark.parametrize("rule", RULES, ids=IDS)
@PROPS
@given(sizes, st.floats(0.01, 100.0))
def test_uniform_weights_are_exactly_no_weights(rule, case, c):
    _, agg, *_ = rule
    seed, m, d, k = case
    x, _ = instance(seed, m, d, batch=(2,))
    w = torch.full((2, m), c, dtype=torch.float64)
    assert torch.equal(call(agg, x, w, lam_of(m, k)), call(agg, x, None, lam_of(m, k)))
    w2 = w.clone()
    w2[1, 0] = 2 * c
    assert torch.equal(call(agg, x, w2, lam_of(m, k))[0], call(agg, x, None, lam_of(m, k))[0])


@pytest.mark.parametrize("rule", RULES, ids=IDS)
@PROPS
@given(sizes)
def test_zero_weight_is_removal(rule, case):
    name, agg, *_ = rule
    seed, m, d, k = case
    x, w = instance(seed, m, d, weighted=True)
    lam = lam_of(m - 1, k) * (m - 1) / m
    j = 2 + seed % (m - 2)  # never MoNNA's designated row 1
    w = w.clone()
    w[j] = 0.0
    x = x.clone()
    x[j] = float("nan")
    keep = [i for i in range(m) if i != j]
    close(call(agg, x, w, lam), call(agg, x[keep], w[keep], lam), 1e-8)


@pytest.mark.parametrize("rule", [r for r in RULES if r[5]], ids=[r[0] for r in RULES if r[5]])
@PROPS
@given(sizes)
def test_integer_weights_are_replication(rule, case):
    name, agg, *_ = rule
    seed, m, d, k = case
    x, w = instance(seed, m, d, weighted=True, integer=True)
    other = agg
    if name == "monna":
        w[1] = 1.0  # the designated row is one row, not several; it follows row 0's replicas
        other = parse(f"monna[idx={int(w[0])}]")
    xr = x.repeat_interleave(w.long(), dim=-2)
    close(call(agg, x, w, lam_of(m, k)), call(other, xr, None, lam_of(m, k)), 1e-8)


@pytest.mark.parametrize("rule", RULES, ids=IDS)
@PROPS
@given(sizes)
def test_batched_is_the_per_row_loop(rule, case):
    _, agg, *_ = rule
    seed, m, d, k = case
    x, w = instance(seed, m, d, batch=(2, 2), weighted=True)
    lam = lam_of(m, k)
    for weights in (None, w):
        batched = call(agg, x, weights, lam)
        for i in range(2):
            for j in range(2):
                one = call(agg, x[i, j], None if weights is None else weights[i, j], lam)
                close(batched[i, j], one, 1e-9)


@pytest.mark.parametrize("rule", RULES, ids=IDS)
@PROPS
@given(sizes, st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300]), st.booleans())
def test_finite_output_with_non_finite_byzantine_rows(rule, case, bad, weighted):
    name, agg, *_ = rule
    seed, m, d, k = case
    f = max(1, min(k, (m - 1) // 2))
    x, w = instance(seed, m, d, weighted=weighted)
    x = x.clone()
    rows = np.random.default_rng(seed).choice([i for i in range(m) if i != 1], size=f, replace=False)
    x[rows] = bad
    lam = f / m if w is None else min(0.49, float(w[rows].sum() / w.sum()))
    out = call(agg, x, w, lam)
    assert torch.isfinite(out).all(), out
    honest = np.setdiff1d(np.arange(m), rows)
    if name.startswith("clipping") or name == "flag":
        assert float(out.abs().max()) <= 3.0 * m  # bounded by construction
    else:  # near the honest rows: inside their bounding box, widened by their spread
        lo, hi = x[honest].amin(0), x[honest].amax(0)
        assert bool(((out >= lo - (hi - lo)) & (out <= hi + (hi - lo))).all()), (out, lo, hi)


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_dtype_is_kept_and_input_not_mutated(rule):
    _, agg, *_ = rule
    for dtype in (torch.float32, torch.float64):
        x, w = instance(1, 7, 3, weighted=True)
        x = x.to(dtype)
        before = x.clone()
        out = call(agg, x, w, 2 / 7)
        assert out.dtype == dtype and out.shape == (3,)
        assert torch.equal(x, before)


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

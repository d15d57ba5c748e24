"""sco.compat.byzfl: ByzFL's own hand-computed examples, its input forms and shapes, and parity with ByzFL itself.

The examples are replayed from ByzFL's test suite, [ByzFL] tests/unit_test_aggregators.py,
tests/unit_test_preaggregators.py and tests/unit_test_attacks.py (github.com/LPD-EPFL/byzfl at
69bd1ac, whose byzfl/ sources are those of the released 0.0.11), with their expected values and
tolerances: every example on the 3 x 3 input [[1,2,3],[4,5,6],[7,8,9]], each in ByzFL's four
input forms (numpy array, torch tensor, list of numpy arrays, list of torch tensors).
"""

import math

import numpy as np
import pytest
import torch

from sco.aggregators import centered_clipping
from sco.compat import byzfl as bz

ROWS = [[1., 2., 3.], [4., 5., 6.], [7., 8., 9.]]

# (ByzFL test class, constructor, expected numpy, expected torch, tolerances numpy, tolerances torch)
EXAMPLES = [
    ("TestAverageAggregation", lambda: bz.Average(), [4., 5., 6.], None, None, None),
    ("TestMedianAggregation", lambda: bz.Median(), [4., 5., 6.], None, None, None),
    ("TestTrMeanAggregation", lambda: bz.TrMean(1), [4., 5., 6.], None, None, None),
    ("TestGeometricMedianAggregation", lambda: bz.GeometricMedian(), [3.78788764, 4.78788764, 5.78788764],
     [3.7879, 4.7879, 5.7879], dict(rtol=1e-5), dict(rtol=1e-5)),
    ("TestKrumAggregation", lambda: bz.Krum(1), [1., 2., 3.], None, None, None),
    ("TestMultiKrumAggregation", lambda: bz.MultiKrum(1), [2.5, 3.5, 4.5], None, dict(rtol=1e-5), dict(rtol=1e-4)),
    # ByzFL asserts exact equality here; sco's centered_clipping sums p_i x_i with p_i = 1/3 (the
    # form its weighted rule needs), which lands 1 ulp below 4 in float64: 4 ulps are allowed
    ("TestCenteredClippingAggregation", lambda: bz.CenteredClipping(), [4., 5., 6.], None,
     dict(rtol=4 * np.finfo(np.float64).eps, atol=0), dict(rtol=4 * np.finfo(np.float32).eps, atol=0)),
    ("TestNNMAggregation", lambda: bz.NNM(1), [[2.5, 3.5, 4.5], [2.5, 3.5, 4.5], [5.5, 6.5, 7.5]], None,
     dict(rtol=1e-5), dict(rtol=1e-4)),
    ("TestSignFlippingAttack", lambda: bz.SignFlipping(), [-4., -5., -6.], None, None, None),
    ("TestInnerProductManipulationAttack", lambda: bz.InnerProductManipulation(2.0), [-8., -10., -12.], None,
     None, None),
    ("TestALittleIsEnoughAttack", lambda: bz.ALittleIsEnough(1.5), [8.5, 9.5, 10.5], None, dict(rtol=1e-5),
     dict(rtol=1e-4)),
    ("TestMimicAttack", lambda: bz.Mimic(0), [1., 2., 3.], None, None, None),
    ("TestInfAttack", lambda: bz.Inf(), [math.inf] * 3, None, None, None),
]

FORMS = {
    "numpy_array": lambda: np.array(ROWS),
    "torch_tensor": lambda: torch.tensor(ROWS),
    "list_of_numpy_arrays": lambda: [np.array(r) for r in ROWS],
    "list_of_torch_tensors": lambda: [torch.tensor(r) for r in ROWS],
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("case", EXAMPLES, ids=[c[0] for c in EXAMPLES])
def test_byzfl_hand_computed_examples(case, form):
    _, make, exp_np, exp_torch, tol_np, tol_torch = case
    result = make()(FORMS[form]())
    is_numpy = "numpy" in form
    assert isinstance(result, np.ndarray if is_numpy else torch.Tensor)
    got = result if is_numpy else result.numpy()
    expected = np.array(exp_np if is_numpy or exp_torch is None else exp_torch)
    tol = tol_np if is_numpy else tol_torch
    assert got.shape == expected.shape
    if tol is None:  # ByzFL's assert_array_equal
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, **tol)


@pytest.mark.parametrize("form", FORMS)
def test_byzfl_gaussian_example_shape_and_finite(form):
    result = bz.Gaussian(mu=0.0, sigma=1.0)(FORMS[form]())
    assert result.shape == (3,)
    assert bool(np.isfinite(np.asarray(result)).all())


def test_types_dtypes_and_devices_follow_the_input():
    x64 = np.random.default_rng(0).standard_normal((7, 4))
    out = bz.TrMean(2)(x64)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == (4,)
    assert bz.TrMean(2)(x64.astype(np.float32)).dtype == np.float32
    t32 = torch.tensor(x64, dtype=torch.float32)
    assert bz.Krum(2)(t32).dtype == torch.float32
    # never downcast: ByzFL's torch path returns float32 for float64 input; this keeps float64
    assert bz.Krum(2)(torch.tensor(x64)).dtype == torch.float64
    assert bz.Median()(np.array([[1, 2], [3, 4], [5, 7]])).tolist() == [3.0, 4.0]  # integers are read as floats
    assert bz.NNM(2)(x64).shape == (7, 4)
    assert bz.Bucketing(3, seed=0)(x64).shape == (3, 4)  # ceil(7/3) buckets
    assert bz.SignFlipping()(t32).shape == (4,)


def test_batched_input_is_each_table_separately():
    x = np.random.default_rng(1).standard_normal((2, 3, 9, 5))
    for rule in (bz.TrMean(2), bz.Krum(2), bz.MultiKrum(2), bz.GeometricMedian(), bz.ALittleIsEnough()):
        out = rule(x)
        assert out.shape == (2, 3, 5)
        for i in range(2):
            for j in range(3):
                np.testing.assert_allclose(out[i, j], rule(x[i, j]), rtol=0, atol=1e-12)


def test_centered_clipping_keeps_its_center_between_calls_as_byzfl():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((6, 3)) * 5, rng.standard_normal((6, 3)) * 5
    cc = bz.CenteredClipping(L=2, tau=1.0)
    first, second = cc(a), cc(b)
    v1 = centered_clipping(torch.tensor(a), center=torch.zeros(3, dtype=torch.float64), tau=1.0, iters=2)
    v2 = centered_clipping(torch.tensor(b), center=v1, tau=1.0, iters=2)
    np.testing.assert_allclose(first, v1.numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(second, v2.numpy(), rtol=0, atol=1e-14)
    np.testing.assert_array_equal(cc.m, second)
    # a given start (ByzFL 0.0.11 refuses every m: its type check cannot pass)
    start = np.ones(3)
    np.testing.assert_allclose(bz.CenteredClipping(m=start, L=2, tau=1.0)(a),
                               centered_clipping(torch.tensor(a), center=torch.tensor(start), tau=1.0, iters=2).numpy(),
                               rtol=0, atol=1e-14)


def test_bucketing_means_and_reproducibility():
    x = np.random.default_rng(3).standard_normal((8, 2))
    np.testing.assert_allclose(bz.Bucketing(8, seed=1)(x), x.mean(0, keepdims=True), rtol=0, atol=1e-14)
    b = bz.Bucketing(3, seed=1)
    out = b(x)  # buckets of 3, 3, 2: the weighted sum of the means is the sum of the rows
    np.testing.assert_allclose(3 * out[0] + 3 * out[1] + 2 * out[2], x.sum(0), rtol=0, atol=1e-12)
    perms = [bz.Bucketing(1, seed=1)(x) for _ in range(2)]
    np.testing.assert_array_equal(perms[0], perms[1])  # the same seed, the same first permutation
    assert sorted(map(tuple, perms[0])) == sorted(map(tuple, x))  # s = 1: a permutation of the rows
    b1 = bz.Bucketing(1, seed=1)
    calls = [b1(x) for _ in range(5)]  # a new permutation per call: 5 equal ones has probability 8!^-4
    assert any(not np.array_equal(calls[0], c) for c in calls[1:])
    torch.manual_seed(0)
    u = bz.Bucketing(1)(x)
    torch.manual_seed(0)
    np.testing.assert_array_equal(bz.Bucketing(1)(x), u)  # seed=None follows torch.manual_seed


def test_gaussian_draws_are_n_mu_sigma():
    """The sample mean of d = 20000 coordinates lies within 5 standard errors of mu (false
    failure probability 6e-7) and the sample std within 5% of sigma (a 17-sigma margin)."""
    out = bz.Gaussian(mu=2.0, sigma=3.0, seed=4)(np.zeros((3, 20000)))
    assert abs(out.mean() - 2.0) < 5 * 3.0 / math.sqrt(20000)
    assert abs(out.std() / 3.0 - 1) < 0.05


def test_clear_errors():
    with pytest.raises(ValueError, match=r"The 'f' parameter of TrMean must satisfy 2f < n, the number of "
                                         r"vectors \(here n=3\). Got f=2"):
        bz.TrMean(2)(np.array(ROWS))
    with pytest.raises(ValueError, match=r"The 'f' parameter of Krum must be >= 0. Got f=-1"):
        bz.Krum(-1)
    with pytest.raises(TypeError, match=r"The 'vectors' parameter of Average must be a numpy array, a torch "
                                        r"tensor, or a list"):
        bz.Average()("not vectors")
    with pytest.raises(TypeError, match=r"not a mix"):
        bz.Average()([np.ones(2), torch.ones(2)])
    with pytest.raises(ValueError, match=r"The 'vectors' parameter of Median must have shape \(n, d\)"):
        bz.Median()(np.ones(3))
    with pytest.raises(ValueError, match=r"The 'epsilon' parameter of Mimic must be smaller than the number of "
                                         r"honest vectors \(3\)"):
        bz.Mimic(3)(np.array(ROWS))
    with pytest.raises(TypeError, match=r"The 'm' parameter of CenteredClipping must be None, a numpy array"):
        bz.CenteredClipping(m=[0.0, 0.0])


_load_byzfl = bz.original


@pytest.mark.parametrize("name,args", [("Average", ()), ("Median", ()), ("TrMean", (3,)), ("GeometricMedian", (0.1, 3)),
                                       ("Krum", (3,)), ("MultiKrum", (3,)), ("CenteredClipping", (None, 2, 2.0)),
                                       ("NNM", (3,)), ("SignFlipping", ()), ("InnerProductManipulation", (2.0,)),
                                       ("ALittleIsEnough", (1.5,)), ("Mimic", (2,))])
def test_same_numbers_as_byzfl_on_random_tables(name, args):
    ref = _load_byzfl()
    if ref is None:
        pytest.skip("ByzFL is not installed (pip install 'sco[bench]')")
    rng = np.random.default_rng(5)
    for n, d in ((11, 4), (8, 30)):
        x = rng.standard_normal((n, d)) * rng.uniform(0.5, 3, (n, 1))
        theirs = getattr(ref, name)(*args)(x)
        ours = getattr(bz, name)(*args)(x)
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)

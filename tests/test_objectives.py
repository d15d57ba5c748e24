"""Objectives: gradients, declared constants, optima, cancellation-free excess, caching, errors."""

import math

import numpy as np
import pytest
import torch

from sco.objectives import (OBJECTIVES, huber, least_squares, logistic, make_objective, multiclass_logistic,
                            nonconvex_logistic, quadratic, robust_regression)
from sco.objectives import data as datasets
from sco.objectives import solve
from sco.objectives.glm import GLM

from reference_objectives import accelerated_projected_gradient

CASES = {
    "quadratic": lambda: quadratic(8, L=2.0, mu=0.1, seed=1),
    "quadratic_mu0": lambda: quadratic(8, L=2.0, seed=2),
    "quadratic_ball": lambda: quadratic(8, L=2.0, mu=0.1, radius=0.5, seed=3),
    "quadratic_box": lambda: quadratic(6, L=1.0, mu=0.2, box=(-0.1, 0.1), seed=4),
    "least_squares": lambda: least_squares(n=60, d=5, seed=1),
    "least_squares_ball": lambda: least_squares(n=60, d=5, l2=0.1, radius=0.3, seed=2),
    "logistic": lambda: logistic(n=80, d=5, seed=1),
    "logistic_box": lambda: logistic(n=80, d=5, box=(-0.3, 0.3), seed=2),
    "logistic_breast_cancer": lambda: logistic(data="breast_cancer"),
    "multiclass": lambda: multiclass_logistic(data="synthetic", n=90, d=4, classes=3, seed=1),
    "huber": lambda: huber(n=60, d=5, seed=1),
    "huber_ball": lambda: huber(n=60, d=5, radius=0.5, seed=2),
    "nonconvex_logistic": lambda: nonconvex_logistic(n=80, d=5, seed=1),
    "robust_regression": lambda: robust_regression(n=60, d=5, seed=1),
}
_built = {}


def build(name):
    if name not in _built:
        _built[name] = CASES[name]()
    return _built[name]


CONVEX = [k for k in CASES if k not in ("nonconvex_logistic", "robust_regression")]
GLMS = [k for k in CASES if not k.startswith("quadratic")]


def points(obj, shape=(3, 2), scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(*shape, obj.d, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("name", CASES)
def test_gradient_matches_autograd(name):
    obj = build(name)
    x = points(obj).requires_grad_(True)
    (auto,) = torch.autograd.grad(obj.value(x).sum(), x)
    torch.testing.assert_close(obj.grad(x.detach()), auto, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_gradient_matches_central_differences(name):
    obj = build(name)
    x, v = points(obj, (1,))[0], points(obj, (1,), seed=1)[0]
    h = 1e-5
    fd = (obj.value(x + h * v) - obj.value(x - h * v)) / (2 * h)
    # central differences: error O(h^2 |f'''|) ~ 1e-10 here
    assert abs(float(fd - obj.grad(x) @ v)) < 1e-7 * (1 + float(v.norm() * obj.grad(x).norm()))


@pytest.mark.parametrize("name", CASES)
def test_hessian_matches_autograd(name):
    obj = build(name)
    x = points(obj, (1,), scale=0.5)[0]
    auto = torch.autograd.functional.hessian(obj.value, x)
    torch.testing.assert_close(obj.hessian(x), auto, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name", CASES)
def test_hessian_spectrum_lies_within_declared_constants(name):
    obj = build(name)
    xs = [obj.x0, *points(obj, (4,), scale=1.0)]
    if obj.convex:
        xs.append(obj.x_star)
    for x in xs:
        ev = torch.linalg.eigvalsh(torch.autograd.functional.hessian(obj.value, x))
        tol = 1e-10 * obj.L
        if obj.convex:
            assert ev[0] >= obj.mu - tol and ev[-1] <= obj.L + tol
        else:
            assert ev.abs().max() <= obj.L + tol


@pytest.mark.parametrize("obj, x", [
    (quadratic(6, L=3.0, mu=0.5, seed=5), None),
    (least_squares(n=40, d=4, l2=0.2, seed=3), None),
    # logistic curvature s(1 - s) peaks at z = 0: attained at x = 0 for every sample
    (logistic(n=40, d=4, l2=0.01, seed=3), "zero"),
    # Huber is quadratic where every residual is below delta
    (huber(n=40, d=4, delta=1e3, outliers=0.0, seed=3), "zero"),
], ids=["quadratic", "least_squares", "logistic", "huber"])
def test_declared_L_is_attained(obj, x):
    x = torch.zeros(obj.d, dtype=torch.float64) if x else points(obj, (1,))[0]
    ev = torch.linalg.eigvalsh(torch.autograd.functional.hessian(obj.value, x))
    assert abs(float(ev[-1]) - obj.L) <= 1e-10 * obj.L
    if not isinstance(obj, GLM) or obj.loss.name == "squared":
        assert abs(float(ev[0]) - obj.mu) <= 1e-10 * obj.L


def _first_order_optimum(obj):
    grad = lambda z: obj.grad(torch.from_numpy(z)).numpy()  # noqa: E731
    proj = lambda z: obj.domain.project(torch.from_numpy(z)).numpy()  # noqa: E731
    return torch.from_numpy(accelerated_projected_gradient(grad, proj, obj.x0.numpy(), obj.L, obj.mu))


@pytest.mark.parametrize("name", CONVEX)
def test_optimum_agrees_with_an_independent_first_order_solve(name):
    obj = build(name)
    x_fo = _first_order_optimum(obj)
    f_fo = float(obj.value(x_fo))
    assert obj.kkt_residual(obj.x_star) <= 1e-9 * obj.L * max(1.0, float(obj.x_star.norm()))
    assert abs(f_fo - obj.f_star) <= 1e-10 * (1 + abs(obj.f_star))
    assert f_fo >= obj.f_star - 1e-12 * (1 + abs(obj.f_star))  # nothing beats x*
    if obj.mu > 0:
        # strong convexity turns the value gap into a distance bound: |x - x*|^2 <= 2 gap / mu
        torch.testing.assert_close(x_fo, obj.x_star, rtol=0, atol=1e-5)


@pytest.mark.parametrize("obj", [quadratic(7, L=1.5, mu=0.3, seed=9), least_squares(n=50, d=6, l2=0.05, seed=4)],
                         ids=["quadratic", "least_squares"])
def test_cvxpy_solve_matches_closed_form(obj):
    assert obj.optimum.method == "closed form"
    opt = solve.solve_cvxpy(obj, use_cache=False)
    torch.testing.assert_close(opt.x_star, obj.x_star, rtol=0, atol=1e-10)
    assert abs(opt.f_star - obj.f_star) <= 1e-12 * (1 + abs(obj.f_star))
    assert opt.tolerance == solve.SOLVER_TOL and opt.info["solver"] == "CLARABEL"


@pytest.mark.parametrize("name", CONVEX)
def test_excess_is_accurate_next_to_the_optimum(name):
    # At distance 1e-7 the excess is ~1e-14 while f* ~ 1: the difference f(x) - f* loses about
    # all of its digits to cancellation; the expansion f(x) - f* = g*.e + e.H.e/2 + O(|e|^3)
    # is exact to a relative 1e-6 there.
    obj = build(name)
    x_star = obj.x_star
    for seed in range(3):
        v = points(obj, (1,), seed=seed)[0]
        x = obj.domain.project(x_star + 1e-7 * v / v.norm())
        e = x - x_star
        taylor = float(obj.grad(x_star) @ e + 0.5 * e @ obj.hessian(x_star) @ e)
        got = float(obj.excess(x))
        assert got >= 0
        assert abs(got - taylor) <= 1e-5 * taylor + 1e-30


@pytest.mark.parametrize("name", CONVEX)
def test_excess_equals_the_difference_away_from_the_optimum(name):
    obj = build(name)
    x = obj.domain.project(obj.x_star + points(obj, (5,), scale=0.3))
    ex = obj.excess(x)
    assert (ex >= 0).all()
    torch.testing.assert_close(ex, obj.value(x) - obj.f_star, rtol=1e-8, atol=1e-13)


@pytest.mark.parametrize("name", ["nonconvex_logistic", "robust_regression"])
def test_nonconvex_objectives_report_stationarity_not_excess(name):
    obj = build(name)
    assert not obj.convex and obj.mu == 0
    x = points(obj)
    torch.testing.assert_close(obj.grad_norm_sq(x), obj.grad(x).square().sum(-1))
    with pytest.raises(ValueError, match="undefined for the nonconvex objective.*grad_norm_sq"):
        obj.excess(x)
    with pytest.raises(ValueError, match="nonconvex"):
        obj.x_star  # noqa: B018


@pytest.mark.parametrize("name", GLMS)
def test_minibatch_gradient_is_the_gradient_of_the_sub_sample(name):
    obj = build(name)
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(0, obj.n, (2, 3, 4), generator=g)
    x = points(obj, (2, 3))
    got = obj.grad_samples(x, idx)
    for i in range(2):
        for j in range(3):
            data = obj.data
            sub = datasets.Dataset("sub", data.A[idx[i, j]], data.y[idx[i, j]], data.task, data.classes)
            ref = GLM(sub, obj.loss, l2=obj.l2, rho=obj.rho, domain=obj.domain)
            torch.testing.assert_close(got[i, j], ref.grad(x[i, j]), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", CASES)
def test_batched_evaluation_equals_a_loop_and_keeps_dtype(name):
    obj = build(name)
    x = points(obj, (2, 3))
    x_copy = x.clone()
    v, g = obj.value(x), obj.grad(x)
    assert v.shape == (2, 3) and g.shape == (2, 3, obj.d) and v.dtype == g.dtype == torch.float64
    for i in range(2):
        for j in range(3):
            torch.testing.assert_close(v[i, j], obj.value(x[i, j]), rtol=1e-13, atol=1e-14)
    assert torch.equal(x, x_copy)  # inputs untouched
    x32 = x.float()
    assert obj.value(x32).dtype == torch.float32 and obj.grad(x32).dtype == torch.float32
    torch.testing.assert_close(obj.grad(x32), g.float(), rtol=1e-4, atol=1e-5)


def test_declared_constants_and_D():
    q = quadratic(5, L=2.0, kappa=10.0, distance=3.0, seed=1)
    c = q.constants()
    assert c["L"] == 2.0 and c["mu"] == pytest.approx(0.2) and c["d"] == 5 and c["f_star"] == 0.0
    assert c["D"] == pytest.approx(3.0)  # unconstrained: ||x0 - x*|| with x0 = 0
    assert quadratic(5, radius=0.5).D == 1.0  # a ball's diameter
    torch.testing.assert_close(q.x_star.norm(), torch.tensor(3.0, dtype=torch.float64))
    assert q.eigenvalues[0] == pytest.approx(0.2) and q.eigenvalues[-1] == 2.0


def test_spectrum_options():
    q = quadratic(4, spectrum=[0.5, 1.0, 2.0, 4.0], rotate=False)
    assert q.L == 4.0 and q.mu == 0.5
    torch.testing.assert_close(q.A, torch.diag(torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=torch.float64)))
    ev = quadratic(5, L=8.0, mu=0.5, spectrum="log").eigenvalues
    torch.testing.assert_close(ev, torch.tensor([0.5, 1.0, 2.0, 4.0, 8.0], dtype=torch.float64))


def test_data_sets_ship_inside_scikit_learn():
    bc = datasets.breast_cancer()
    assert (bc.n, bc.p, bc.task) == (569, 31, "binary")
    torch.testing.assert_close(bc.A[:, :-1].mean(0), torch.zeros(30, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(bc.A[:, -1], torch.ones(569, dtype=torch.float64))
    dg = datasets.digits()
    assert (dg.n, dg.p, dg.task, dg.classes) == (1797, 62, "multiclass", 10)
    assert set(dg.y.unique().tolist()) == set(range(10))
    assert set(datasets.digits(binary=True).y.unique().tolist()) == {0.0, 1.0}
    mc = multiclass_logistic(data="digits")
    assert mc.d == 620 and mc.K == 10


def test_synthetic_data_depend_only_on_the_seed():
    a, b = datasets.synthetic("binary", n=50, d=3, seed=4), datasets.synthetic("binary", n=50, d=3, seed=4)
    assert torch.equal(a.A, b.A) and torch.equal(a.y, b.y)
    assert not torch.equal(a.A, datasets.synthetic("binary", n=50, d=3, seed=5).A)
    r = datasets.synthetic("regression", n=200, d=3, outliers=0.1, seed=1)
    assert int((r.y.abs() > 5 * r.y.median().abs() + 5).sum()) >= 15  # outliers planted


def test_label_flip():
    obj = logistic(n=30, d=3)
    flipped = obj.flip_labels()
    torch.testing.assert_close(flipped.data.y, 1 - obj.data.y)
    mc = multiclass_logistic(data="synthetic", n=30, d=3, classes=4)
    torch.testing.assert_close(mc.flip_labels().data.y, 3 - mc.data.y)
    with pytest.raises(ValueError, match="needs a classification task"):
        least_squares(n=10, d=2).flip_labels()


def test_optima_are_cached_on_disk_and_reverified(tmp_path, monkeypatch):
    monkeypatch.setenv("SCO_CACHE_DIR", str(tmp_path))
    first = logistic(n=40, d=3, seed=11).optimum
    files = list(tmp_path.glob("logistic-*.npz"))
    assert len(files) == 1

    import cvxpy

    def no_solve(*a, **k):
        raise AssertionError("cvxpy called despite a valid cache entry")

    monkeypatch.setattr(cvxpy.Problem, "solve", no_solve)
    again = logistic(n=40, d=3, seed=11).optimum
    assert torch.equal(again.x_star, first.x_star) and again.method == first.method
    # a different problem has a different key
    assert solve.cache_key(logistic(n=40, d=3, seed=11, l2=0.1)) != solve.cache_key(logistic(n=40, d=3, seed=11))
    # a corrupted or wrong entry is not trusted: it is solved again
    np.savez(files[0], x_star=np.ones(3), meta=np.array('{"kkt_residual": 0.0, "method": "x", "tolerance": 0}'))
    monkeypatch.undo()
    monkeypatch.setenv("SCO_CACHE_DIR", str(tmp_path))
    resolved = logistic(n=40, d=3, seed=11).optimum
    torch.testing.assert_close(resolved.x_star, first.x_star, rtol=0, atol=1e-12)


def test_registry_builds_every_objective():
    for name in OBJECTIVES:
        options = {"data": "synthetic", "classes": 3} if name == "multiclass_logistic" else {}
        if name != "quadratic":
            options.update(n=20, d=3)
        assert make_objective(name, **options).name == name
    with pytest.raises(ValueError, match="Unknown objective 'nope'. Known objectives: \\["):
        make_objective("nope")


@pytest.mark.parametrize("call, exc, msg", [
    (lambda: quadratic(0), ValueError, "The 'd' parameter of quadratic must be >= 1. Got d=0."),
    (lambda: quadratic(3, L=1.0, mu=2.0), ValueError, "The 'mu' parameter of quadratic must be <= L=1.0. Got mu=2.0."),
    (lambda: quadratic(3, L=-1.0), ValueError, "The 'L' parameter of quadratic must be > 0. Got L=-1.0."),
    (lambda: quadratic(3, mu=0.1, kappa=5.0), ValueError, "'kappa' parameter of quadratic must be omitted"),
    (lambda: quadratic(3, spectrum="cubic"), ValueError, "'spectrum' parameter of quadratic must be one of"),
    (lambda: quadratic(2.5), TypeError, "The 'd' parameter of quadratic must be an integer. Got d=2.5."),
    (lambda: quadratic(3).value(torch.zeros(2, 4, dtype=torch.float64)), ValueError,
     "The 'x' parameter of Quadratic.value must have shape \\(..., d\\) with d=3"),
    (lambda: quadratic(3).grad(torch.zeros(3, dtype=torch.int64)), TypeError, "floating-point tensor"),
    (lambda: logistic(n=10, d=2, l2=-1.0), ValueError, "The 'l2' parameter of GLM must be >= 0. Got l2=-1.0."),
    (lambda: logistic(data="mnist"), ValueError, "'data' parameter of load must be one of"),
    (lambda: logistic(data="breast_cancer", n=10), ValueError, "'options' parameter of load must be empty"),
    (lambda: logistic(n=10, d=2, radius=1.0, box=(0, 1)), ValueError, "Give at most one of 'radius'"),
    (lambda: multiclass_logistic(data="breast_cancer"), ValueError, "needs a multiclass data set"),
    (lambda: least_squares(task="binary"), TypeError, "fixes the task"),
    (lambda: huber(n=10, d=2, delta=0.0), ValueError, "'delta' parameter of huber must be > 0"),
    (lambda: quadratic(3, radius=0.0), ValueError, "'radius' parameter of Ball must be > 0"),
])
def test_bad_parameters_fail_with_clear_messages(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


def test_logistic_bregman_against_high_precision_at_extreme_margins():
    # With z* = 40 the sigmoid rounds to 1 in float64: the log1p form gave -inf for z - z* < -37
    # (a -inf excess, which the simulator reported as a metric's bug). mpmath at 700 digits is the
    # reference (softplus(645) - 645 ~ 1e-280 needs ~300 of them): D(z, z*) = softplus(z) - softplus(z*) - sigmoid(z*) (z - z*).
    import mpmath

    from sco.objectives.losses import Logistic

    mpmath.mp.dps = 700
    zs = [-745.0, -60.0, -40.0, -5.0, -1e-3, 0.0, 1e-3, 5.0, 40.0, 60.0, 745.0]
    ds = [-800.0, -100.0, -50.0, -38.0, -3.0, -0.7, -1e-2, 1e-2, 0.7, 3.0, 38.0, 50.0, 100.0, 800.0]
    pairs = [(z_s + d, z_s) for z_s in zs for d in ds]
    z = torch.tensor([[a] for a, _ in pairs], dtype=torch.float64)
    z_star = torch.tensor([[b] for _, b in pairs], dtype=torch.float64)
    got = Logistic().bregman(z, z_star, torch.zeros(len(pairs), dtype=torch.float64))

    def softplus(u):
        return mpmath.log1p(mpmath.exp(u))

    for (a, b), g in zip(pairs, got.tolist()):
        a, b = mpmath.mpf(a), mpmath.mpf(b)
        want = softplus(a) - softplus(b) - (a - b) / (1 + mpmath.exp(-b))
        assert g >= 0 and math.isfinite(g), (float(a), float(b), g)
        assert abs(g - float(want)) <= 1e-12 * float(want) + 1e-300, (float(a), float(b), g, float(want))

"""The MLP objective against autograd on a loop, held-out splits and classification metrics."""

import math

import numpy as np
import pytest
import torch

from sco.objectives import MLP, make_objective
from sco.objectives import classify
from sco.objectives.data import synthetic
from sco.oracle import Oracle
from sco.random import Stream
from sco.simulate import Experiment, run


def _reference_value(obj: MLP, x: torch.Tensor, A: torch.Tensor, y: torch.Tensor, w: torch.Tensor):
    """The loss of one parameter vector with torch.nn building blocks (autograd reference)."""
    p, H, K = obj.p, obj.hidden, obj.K
    W1 = x[:p * H].reshape(p, H)
    b1 = x[p * H:p * H + H]
    W2 = x[p * H + H:p * H + H + H * K].reshape(H, K)
    b2 = x[-K:]
    act = torch.tanh if obj.activation == "tanh" else torch.relu
    z = act(A @ W1 + b1) @ W2 + b2
    per = torch.nn.functional.cross_entropy(z, y.long(), reduction="none")
    return per @ w + 0.5 * obj.l2 * x.square().sum()


@pytest.fixture(params=["tanh", "relu"])
def obj(request):
    ds = synthetic("multiclass", n=60, d=5, classes=3, seed=1)
    return make_objective("mlp", data=ds, hidden=7, activation=request.param, l2=1e-2, init_seed=3)


def test_value_and_grad_match_autograd_on_a_loop(obj):
    x = obj.x0 + 0.3 * torch.randn(2, 3, obj.d, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    A, y, w = obj.data.A, obj.data.y, obj.sample_weights
    v, g = obj.value(x), obj.grad(x)
    assert v.shape == (2, 3) and g.shape == (2, 3, obj.d)
    for i in range(2):
        for j in range(3):
            xx = x[i, j].clone().requires_grad_(True)
            ref = _reference_value(obj, xx, A, y, w)
            (gr,) = torch.autograd.grad(ref, xx)
            torch.testing.assert_close(v[i, j], ref.detach(), rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(g[i, j], gr, rtol=1e-10, atol=1e-12)


def test_grad_samples_and_grad_weighted_match_autograd(obj):
    gen = torch.Generator().manual_seed(1)
    x = obj.x0 + 0.3 * torch.randn(2, 3, obj.d, dtype=torch.float64, generator=gen)
    idx = torch.randint(0, obj.n, (2, 3, 4), generator=gen)
    gs = obj.grad_samples(x, idx)
    w = torch.rand(3, obj.n, dtype=torch.float64, generator=gen)
    gw = obj.grad_weighted(x, w)
    for i in range(2):
        for j in range(3):
            xx = x[i, j].clone().requires_grad_(True)
            sel = idx[i, j]
            ref = _reference_value(obj, xx, obj.data.A[sel], obj.data.y[sel], torch.full((4,), 0.25, dtype=torch.float64))
            torch.testing.assert_close(gs[i, j], torch.autograd.grad(ref, xx)[0], rtol=1e-10, atol=1e-12)
            xx = x[i, j].clone().requires_grad_(True)
            ref = _reference_value(obj, xx, obj.data.A, obj.data.y, w[j])
            torch.testing.assert_close(gw[i, j], torch.autograd.grad(ref, xx)[0], rtol=1e-10, atol=1e-12)


def test_float32_follows_x(obj):
    g = obj.grad(obj.x0.to(torch.float32))
    assert g.dtype == torch.float32
    torch.testing.assert_close(g.double(), obj.grad(obj.x0), rtol=1e-4, atol=1e-5)


def test_declared_constants_and_start():
    o = make_objective("mlp", data="breast_cancer", hidden=4)
    assert (o.p, o.K, o.d) == (30, 2, 30 * 4 + 4 + 4 * 2 + 2)
    assert not o.convex and o.mu == 0 and math.isinf(o.D)
    assert o.L > 0 and math.isfinite(o.L)
    # x0 is not the symmetric saddle at 0, and is reproducible from init_seed
    assert o.x0.abs().sum() > 0
    torch.testing.assert_close(o.x0, make_objective("mlp", data="breast_cancer", hidden=4).x0)
    assert not torch.equal(o.x0, make_objective("mlp", data="breast_cancer", hidden=4, init_seed=1).x0)
    # the local curvature estimate is an eigenvalue of the Hessian at x0
    H = o.hessian(o.x0)
    assert o.L == pytest.approx(float(torch.linalg.eigvalsh(H).abs().max()), rel=1e-3)


def test_flip_labels_keeps_test_split_and_constants():
    o = make_objective("mlp", data="digits", hidden=3, test_fraction=0.2)
    f = o.flip_labels()
    torch.testing.assert_close(f.data.y, 9 - o.data.y)
    assert f.test_data is o.test_data and f.L == o.L
    torch.testing.assert_close(f.x0, o.x0)


def test_split_is_stratified_disjoint_and_deterministic():
    ds = synthetic("multiclass", n=200, d=3, classes=4, seed=0)
    tr, te = classify.split(ds, 0.25, seed=5)
    assert tr.n + te.n == ds.n and te.n == pytest.approx(50, abs=4)
    rows = {tuple(r) for r in torch.cat([tr.A, te.A]).tolist()}
    assert len(rows) == ds.n
    for c in range(4):
        share = float((te.y == c).sum()) / float((ds.y == c).sum())
        assert share == pytest.approx(0.25, abs=0.05)
    tr2, te2 = classify.split(ds, 0.25, seed=5)
    torch.testing.assert_close(te.A, te2.A)
    assert classify.split(ds, 0.0)[1] is None
    with pytest.raises(ValueError, match="The 'test_fraction' parameter of split must be < 1"):
        classify.split(ds, 1.0)


def test_accuracy_binary_logit_and_argmax():
    y = torch.tensor([0.0, 1.0, 1.0, 0.0])
    z1 = torch.tensor([[-1.0], [2.0], [-0.5], [-3.0]])
    assert float(classify.accuracy(z1, y)) == 0.75
    z2 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    assert float(classify.accuracy(z2, y)) == 0.75


def test_glm_held_out_split_logs_metrics_and_default_logs_none():
    plain = make_objective("logistic", data="breast_cancer")
    assert plain.extra_metric_names == () and plain.extra_metrics(plain.x0) == {}
    o = make_objective("logistic", data="breast_cancer", test_fraction=0.25, split_seed=1)
    assert o.n + o.test_data.n == 569
    assert set(o.extra_metric_names) == set(classify.METRICS)
    tr = run(Experiment(objective=o, noise={"name": "minibatch", "b": 8}, m=5, f=2, attack="label_flip",
                        aggregator="ctma(cwmed)", algorithm={"name": "sgd", "eta": 0.5}, T=60, seeds=2,
                        progress=False))
    acc = tr["test_accuracy"]
    assert acc.shape == (2, len(tr.steps)) and np.all((acc >= 0) & (acc <= 1))
    assert acc[:, -1].mean() > 0.9  # breast cancer is easy: 5 workers, 2 flipping labels
    # the metric equals a direct evaluation at the logged output point
    assert set(classify.METRICS) <= set(tr.metrics)


def test_mlp_runs_in_the_simulator_with_minibatches_partitions_and_label_flip():
    o = make_objective("mlp", data="breast_cancer", hidden=4, test_fraction=0.25)
    exp = Experiment(objective=o, noise={"name": "minibatch", "b": 4}, m=5, f=1, attack="label_flip",
                     aggregator="cwmed", algorithm={"name": "mu2sgd", "eta": 1e-3}, T=40, seeds=2, progress=False,
                     heterogeneity={"name": "partition", "kind": "iid"})
    tr = run(exp)
    assert "excess" not in tr.metrics and "grad_norm_sq" in tr.metrics
    assert np.isfinite(tr["test_accuracy"]).all()
    assert tr.constants["sigma_L"] == "inf" and tr.constants["sigma_exact"] is False


def test_oracle_minibatch_is_unbiased_for_the_mlp():
    o = make_objective("mlp", data=synthetic("binary", n=30, d=3, seed=2), hidden=3)
    orc = Oracle(o, {"name": "minibatch", "b": 1}, m=1)
    x = o.x0.expand(4000, 1, o.d)
    g = orc.grad(x, orc.draw(Stream(list(range(4000)))))  # (4000, 1, d)
    err = (g.mean(0)[0] - o.grad(o.x0)).norm()
    se = g.std(0)[0].norm() / math.sqrt(4000)
    assert err < 5 * se  # a 5-sigma test: false failure probability below 1e-5 per coordinate block


def test_validation_messages():
    with pytest.raises(ValueError, match="The 'activation' parameter of MLP must be one of"):
        make_objective("mlp", data="breast_cancer", activation="gelu")
    with pytest.raises(ValueError, match="The 'data' parameter of MLP must be a classification data set"):
        MLP(synthetic("regression", n=10, d=2))
    with pytest.raises(ValueError, match="The 'hidden' parameter of MLP must be >= 1"):
        make_objective("mlp", data="breast_cancer", hidden=0)
    with pytest.raises(ValueError, match="The 'data' parameter of mlp must be one of"):
        make_objective("mlp", data="mnist")

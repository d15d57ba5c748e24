"""The batched oracle: noise levels, smoothness variance, heterogeneity, seeds, errors.

Statistical checks use fixed seeds and a margin of 6 standard errors of the estimate
(computed from the known distribution, not from the code under test): under the CLT a
different seed would fail with probability below 2e-9 per check.
"""

import math

import numpy as np
import pytest
import scipy.stats
import torch

from sco.heterogeneity import Partition, Shift
from sco.noise import Gaussian, MiniBatch, Noise, StudentT, make_noise
from sco.objectives import least_squares, logistic, multiclass_logistic, quadratic
from sco.oracle import Oracle
from sco.random import Stream

Z = 6.0  # standard errors of margin


def test_gaussian_noise_has_the_declared_level_at_x_star():
    q = quadratic(10, L=1.0, mu=0.1, seed=1)
    sigma, N = 0.7, 20_000
    o = Oracle(q, Gaussian(sigma), m=1)
    x = q.x_star.expand(N, 1, 10)
    xi = o.grad(x, o.draw(Stream(list(range(N))))) - q.grad(x)
    est = xi.square().sum(-1).mean().item()
    # ||xi||^2 = (sigma^2/d) chi^2_d: variance 2 sigma^4 / d per draw
    se = sigma ** 2 * math.sqrt(2 / 10 / N)
    assert abs(est - sigma ** 2) < Z * se
    assert o.constants()["sigma"] == sigma and o.constants()["sigma_star"] == sigma


def test_gaussian_smoothness_variance_is_exact():
    q = quadratic(8, L=1.0, mu=0.1, seed=2)
    sigma_L, N = 0.6, 20_000
    o = Oracle(q, Gaussian(0.3, sigma_L=sigma_L))
    x = q.x_star + 0.4 * torch.ones(8, dtype=torch.float64)
    y = q.x_star - 0.2 * torch.arange(8, dtype=torch.float64) / 8
    s = o.draw(Stream(list(range(N))))
    diff = (o.grad(x.expand(N, 1, 8), s) - q.grad(x)) - (o.grad(y.expand(N, 1, 8), s) - q.grad(y))
    est = diff.square().sum(-1).mean().item()
    e = x - y
    # diff = sigma_L z * e: E = sigma_L^2 |e|^2, variance 2 sigma_L^4 sum_k e_k^4 per draw
    se = math.sqrt(2 * sigma_L ** 4 * float(e.pow(4).sum()) / N)
    assert abs(est - sigma_L ** 2 * float(e.square().sum())) < Z * se
    c = o.constants()
    # sigma over the region: E|xi(x)|^2 = sigma^2 + sigma_L^2 |x - x*|^2 <= sigma^2 + sigma_L^2 D^2
    assert c["sigma"] == pytest.approx(math.sqrt(0.3 ** 2 + sigma_L ** 2 * c["D"] ** 2))
    # effective noise levels are the theory layer's (sco.rates.DERIVED), evaluated from these constants
    assert "sigma_tilde" not in c


def test_same_sample_at_two_points_cancels_additive_noise_exactly():
    q = quadratic(5, seed=3)
    o = Oracle(q, Gaussian(2.0), m=4)
    s = o.draw(Stream([1, 2]))
    x, y = torch.randn(2, 1, 5, dtype=torch.float64), torch.randn(2, 1, 5, dtype=torch.float64)
    torch.testing.assert_close(o.grad(x, s) - o.grad(y, s), (q.grad(x) - q.grad(y)).expand(2, 4, 5),
                               rtol=0, atol=1e-13)


def test_student_t_noise_has_the_t_law_and_the_declared_level():
    q = quadratic(4, seed=4)
    nu, sigma, N = 5.0, 1.3, 50_000
    o = Oracle(q, StudentT(sigma, nu=nu))
    x = q.x_star.expand(N, 1, 4)
    xi = (o.grad(x, o.draw(Stream(list(range(N))))) - q.grad(x))[:, 0, :]
    # coordinates are t_nu scaled to variance sigma^2/d: test the law of one coordinate
    scale = sigma / 2 * math.sqrt((nu - 2) / nu)
    p = scipy.stats.kstest(xi[:, 0].numpy() / scale, scipy.stats.t(nu).cdf).pvalue
    assert p > 1e-4  # false failure 1e-4 for a random seed
    # E||xi||^2 = sigma^2; for t_5 scaled to unit variance E z^4 = 9, so Var(z^2) = 8
    se = sigma ** 2 * math.sqrt(8 / 4 / N)
    assert abs(xi.square().sum(-1).mean().item() - sigma ** 2) < Z * se


def test_minibatch_noise_matches_the_declared_sigma_at_x_star():
    obj = logistic(n=50, d=3, seed=5)
    b, N = 3, 20_000
    o = Oracle(obj, MiniBatch(b), m=2)
    x = obj.x_star.expand(N, 1, 3)
    xi = o.grad(x, o.draw(Stream(list(range(N))))) - obj.grad(x)  # (N, 2, 3)
    sq = xi.square().sum(-1).reshape(-1)
    # independent reference for the variance: per-sample gradients by autograd, one at a time
    per = []
    for j in range(obj.n):
        xj = obj.x_star.clone().requires_grad_(True)
        loss = obj.loss.value(obj.data.A[j] @ xj.reshape(3, 1), obj.data.y[j:j + 1]).sum()
        per.append(torch.autograd.grad(loss, xj)[0])
    G = torch.stack(per)
    var = float((G - G.mean(0)).square().sum(-1).mean()) / b
    assert o.constants()["sigma_star"] == pytest.approx(math.sqrt(var), rel=1e-12)
    se = sq.std().item() / math.sqrt(sq.numel())
    assert abs(sq.mean().item() - var) < Z * se


def test_minibatch_sigma_L_is_exact_for_least_squares():
    obj = least_squares(n=40, d=3, seed=6)
    o = Oracle(obj, MiniBatch(1))
    sigma_L = o.constants()["sigma_L"]
    assert o.constants()["sigma_L_exact"]
    # reference: the worst direction of Cov(a a^T) by a loop over samples
    A = obj.data.A.numpy()
    H = A.T @ A / len(A)
    M = sum(np.outer(a, a) @ np.outer(a, a) for a in A) / len(A) - H @ H
    w, V = np.linalg.eigh(M)
    assert sigma_L ** 2 == pytest.approx(w[-1], rel=1e-10)
    # and the Monte Carlo smoothness variance in that direction attains it
    N = 40_000
    e = torch.from_numpy(V[:, -1])
    x, y = obj.x_star + e, obj.x_star
    s = o.draw(Stream(list(range(N))))
    diff = (o.grad(x.expand(N, 1, 3), s) - obj.grad(x)) - (o.grad(y.expand(N, 1, 3), s) - obj.grad(y))
    sq = diff.square().sum(-1).reshape(-1)
    se = sq.std().item() / math.sqrt(N)
    assert abs(sq.mean().item() - sigma_L ** 2) < Z * se


def test_minibatch_sigma_L_is_a_bound_for_other_losses():
    obj = multiclass_logistic(data="synthetic", n=40, d=3, classes=3, seed=1)
    o = Oracle(obj, MiniBatch(2))
    c = o.constants()
    assert not c["sigma_L_exact"]
    N = 4000
    s = o.draw(Stream(list(range(N))))
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        x, y = torch.randn(obj.d, generator=g, dtype=torch.float64), torch.randn(obj.d, generator=g, dtype=torch.float64)
        diff = (o.grad(x.expand(N, 1, obj.d), s) - obj.grad(x)) - (o.grad(y.expand(N, 1, obj.d), s) - obj.grad(y))
        assert diff.square().sum(-1).mean().item() <= c["sigma_L"] ** 2 * float((x - y).square().sum())


def test_stochastic_gradients_are_unbiased():
    obj = logistic(n=30, d=3, seed=7)
    N = 20_000
    for noise in (Gaussian(1.0, sigma_L=0.5), StudentT(1.0, nu=4.0), MiniBatch(2)):
        o = Oracle(obj, noise)
        x = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64).expand(N, 1, 3)
        g = o.grad(x, o.draw(Stream(list(range(N)))))[:, 0, :]
        se = g.std(0) / math.sqrt(N)
        assert ((g.mean(0) - obj.grad(x[0, 0])).abs() < Z * se).all(), noise


def test_shift_heterogeneity_is_exact():
    q = quadratic(6, seed=8)
    o = Oracle(q, None, Shift(0.9, seed=1), m=5)
    x = torch.randn(4, 6, dtype=torch.float64)
    torch.testing.assert_close(o.zeta_sq(x), torch.full((4,), 0.81, dtype=torch.float64), rtol=1e-12, atol=0)
    per_worker = o.worker_grad(x[:, None, :])  # (4, 5, 6)
    torch.testing.assert_close(per_worker.mean(1), q.grad(x), rtol=0, atol=1e-13)
    assert o.constants()["zeta"] == 0.9 and o.constants()["zeta_exact"]
    with pytest.raises(ValueError, match="'m' parameter of Shift must be >= 2"):
        Oracle(q, None, Shift(0.5), m=1)


@pytest.mark.parametrize("kind", Partition.KINDS)
def test_partition_workers_average_to_the_global_objective(kind):
    obj = logistic(n=120, d=3, seed=9)
    o = Oracle(obj, MiniBatch(2), Partition(kind, alpha=0.3, seed=2), m=6)
    sizes = o._c["sizes"]
    assert int(sizes.sum()) == 120 and int(sizes.min()) >= 1
    x = torch.randn(3, 3, dtype=torch.float64)
    torch.testing.assert_close(o.worker_grad(x[:, None, :]).mean(1), o.objective.grad(x), rtol=0, atol=1e-13)
    # each worker's exact gradient is the mean over its own shard, by a loop
    starts = o._c["starts"]
    for i in range(6):
        rows = slice(int(starts[i]), int(starts[i] + sizes[i]))
        ref = o.objective.grad_samples(x[0].expand(1, 3), torch.arange(120)[rows][None, :])[0]
        torch.testing.assert_close(o.worker_grad(x[:1, None, :])[0, i], ref, rtol=1e-12, atol=1e-14)
    c = o.constants()
    assert not c["zeta_exact"] and c["zeta"] == pytest.approx(float(o.zeta_sq(o.objective.x_star)) ** 0.5)
    # mini-batches stay inside each worker's shard
    idx = o.draw(Stream([0, 1]), dtype=torch.float64).drawn  # (2, 6, 2)
    for i in range(6):
        assert ((idx[:, i] >= starts[i]) & (idx[:, i] < starts[i] + sizes[i])).all()


def test_dirichlet_label_skew_grows_as_alpha_shrinks():
    obj = logistic(n=400, d=3, seed=10)

    def majority_share(alpha):
        o = Oracle(obj, None, Partition("dirichlet", alpha=alpha, seed=3), m=8)
        y, starts, sizes = o.objective.data.y, o._c["starts"], o._c["sizes"]
        shares = [float(y[s:s + n].mean()) for s, n in zip(starts.tolist(), sizes.tolist())]
        return np.mean([max(p, 1 - p) for p in shares])

    # Dirichlet(0.05) gives each worker nearly one class; Dirichlet(100) nearly the global mix
    # (about 50/50 here): label fractions concentrate at rate 1/sqrt(alpha)
    assert majority_share(0.05) > 0.8 and majority_share(100.0) < 0.65


@pytest.mark.parametrize("noise", [Gaussian(1.0, sigma_L=0.3), StudentT(1.0), MiniBatch(3)], ids=repr)
def test_a_run_depends_only_on_its_seed(noise):
    # The draws are bit-identical whatever the batch; the arithmetic on them may differ in
    # the last bit, because BLAS kernels and reductions pick their summation order by shape.
    obj = logistic(n=50, d=4, seed=11)
    o = Oracle(obj, noise, Partition("iid", seed=1) if isinstance(noise, MiniBatch) else None, m=5)
    seeds = [5, 1, 9]
    x = torch.randn(3, 1, 4, dtype=torch.float64)
    sample = o.draw(Stream(seeds).fold("t", 3))
    batch = o.grad(x, sample)
    for r, s in enumerate(seeds):
        single = o.draw(Stream(s).fold("t", 3))
        for a, b in zip(_tensors(sample.drawn), _tensors(single.drawn)):
            assert torch.equal(a[r], b[0])
        torch.testing.assert_close(batch[r], o.grad(x[r:r + 1], single)[0], rtol=1e-14, atol=1e-15)
    # one worker per run (the asynchronous case): the same law, batch-independent too
    workers = torch.tensor([[0], [4], [2]])
    batch = o.draw(Stream(seeds), workers)
    alone = o.draw(Stream(seeds[1]), workers[1:2])
    for a, b in zip(_tensors(batch.drawn), _tensors(alone.drawn)):
        assert torch.equal(a[1], b[0])


@pytest.mark.parametrize("noise", [Gaussian(1.0, sigma_L=0.3), MiniBatch(2)], ids=repr)
def test_a_workers_sample_does_not_depend_on_the_other_workers_called(noise):
    obj = logistic(n=40, d=3, seed=12)
    o = Oracle(obj, noise, Partition("iid", seed=2) if isinstance(noise, MiniBatch) else None, m=4)
    stream = Stream([7, 8]).fold("grad", 2)
    everyone = _tensors(o.draw(stream).drawn)
    some = _tensors(o.draw(stream, torch.tensor([[3, 1], [2, 2]])).drawn)
    for a, b in zip(everyone, some):
        assert torch.equal(b[0, 0], a[0, 3]) and torch.equal(b[0, 1], a[0, 1])
        assert torch.equal(b[1, 0], a[1, 2]) and torch.equal(b[1, 1], a[1, 2])


def _tensors(drawn):
    return [t for t in (drawn if isinstance(drawn, tuple) else (drawn,)) if t is not None]


def test_float32_in_float32_out():
    o = Oracle(quadratic(3), Gaussian(1.0), m=2)
    x = torch.zeros(2, 1, 3, dtype=torch.float32)
    assert o.grad(x, o.draw(Stream([1, 2]), dtype=torch.float32)).dtype == torch.float32


@pytest.mark.parametrize("call, exc, msg", [
    (lambda: Gaussian(-1.0), ValueError, "The 'sigma' parameter of gaussian must be >= 0. Got sigma=-1.0."),
    (lambda: StudentT(1.0, nu=2.0), ValueError, "The 'nu' parameter of student_t must be > 2. Got nu=2.0."),
    (lambda: MiniBatch(0), ValueError, "The 'b' parameter of minibatch must be >= 1. Got b=0."),
    (lambda: Oracle(quadratic(3), MiniBatch(2)), ValueError, "need a finite-sum objective"),
    (lambda: Oracle(quadratic(3), None, m=0), ValueError, "The 'm' parameter of Oracle must be >= 1"),
    (lambda: Oracle(logistic(n=5, d=2), None, Partition("iid"), m=6), ValueError,
     "The 'm' parameter of Partition must be <= the number of samples n=5"),
    (lambda: make_noise("pink"), ValueError, "Unknown noise 'pink'"),
    (lambda: Oracle(quadratic(3), None, m=2).draw(Stream([1]), torch.tensor([[2]])), ValueError,
     "The 'workers' parameter of Oracle must hold indices in \\[0, m\\) with m=2"),
    (lambda: Oracle(quadratic(3), None, m=2).grad(torch.zeros(3, dtype=torch.float64), None), ValueError,
     "must have shape \\(R, k, d\\)"),
])
def test_bad_parameters_fail_with_clear_messages(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


def test_exact_oracle_has_no_noise():
    q = quadratic(3)
    o = Oracle(q, None, m=2)
    assert isinstance(o.noise, Noise) and o.constants()["sigma"] == 0
    x = torch.randn(2, 1, 3, dtype=torch.float64)
    torch.testing.assert_close(o.grad(x, o.draw(Stream([1, 2]))), q.grad(x).expand(2, 2, 3))

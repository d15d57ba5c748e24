"""Estimators and server rules against slow references and metamorphic identities."""

import math

import numpy as np
import pytest
import torch

from sco.estimators import (ALGORITHMS, EstimatorState, anytime, make_algorithm, momentum, projected_sgd, sgd,
                            storm)
from sco.noise import Gaussian
from sco.objectives import quadratic
from sco.oracle import Oracle
from sco.random import Stream


def _seq(n, shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g, dtype=torch.float64) for _ in range(n)]


def _run(est, gs, gps):
    st = est.init(gs[0])
    out = [st.d]
    for g, gp in zip(gs[1:], gps[1:]):
        st = est.update(st, g, gp)
        out.append(st.d)
    return out, st


def test_storm_with_beta_one_is_sgd():
    gs, gps = _seq(6, (3, 4)), _seq(6, (3, 4), seed=1)
    a, _ = _run(storm(1.0), gs, gps)
    b, _ = _run(sgd(), gs, gps)
    for x, y in zip(a, b):
        assert torch.equal(x, y)


def test_storm_matches_a_loop_reference():
    gs, gps = _seq(8, (2, 5)), _seq(8, (2, 5), seed=2)
    got, st = _run(storm("1/t"), gs, gps)
    d = gs[0].numpy()
    for t in range(2, 9):
        d = gs[t - 1].numpy() + (1 - 1 / t) * (d - gps[t - 1].numpy())
        np.testing.assert_allclose(got[t - 1].numpy(), d, rtol=1e-14, atol=1e-15)
    assert (st.k == 8).all()


def test_momentum_forms_match_loops():
    gs = _seq(5, (4,))
    ema, _ = _run(momentum(0.9), gs, [None] * 5)
    hb, _ = _run(momentum(0.9, form="heavy_ball"), gs, [None] * 5)
    m1 = m2 = gs[0]
    for g, a, b in zip(gs[1:], ema[1:], hb[1:]):
        m1, m2 = 0.9 * m1 + 0.1 * g, 0.9 * m2 + g
        torch.testing.assert_close(a, m1, rtol=1e-14, atol=0)
        torch.testing.assert_close(b, m2, rtol=1e-14, atol=0)


def test_code_rounding_of_beta_floors_at_one_percent():
    k = torch.tensor([2, 3, 95, 96, 1000])
    # with d_{t-1} = 1 and g = g_prev = 0, the update returns 1 - beta_t
    st = EstimatorState(torch.ones(5, 1, dtype=torch.float64), k - 1)
    out = storm("1/t", code_rounding=True).update(st, torch.zeros(5, 1, dtype=torch.float64),
                                                  torch.zeros(5, 1, dtype=torch.float64))
    beta = 1 - out.d[:, 0]
    expected = torch.tensor([max(round(1 / int(v), 3), 0.01) for v in k], dtype=torch.float64)
    torch.testing.assert_close(beta, expected, rtol=0, atol=1e-15)


def test_storm_error_identity_holds_to_float64_precision():
    # [Lev23; D] (docs/theory.md): with beta_t = 1/t, t eps_t = sum_{tau<=t} (e_tau + (tau-1) Z_tau)
    # along any path of query points, for the same sample at both points.
    q = quadratic(6, L=1.0, mu=0.1, seed=3)
    o = Oracle(q, Gaussian(1.0, sigma_L=0.7))
    stream = Stream([11])
    est = storm("1/t")
    xs = [torch.randn(1, 1, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(s)) for s in range(40)]
    sample = o.draw(stream.fold("grad", 1))
    g = o.grad(xs[0], sample)
    st = est.init(g)
    acc = (g - q.grad(xs[0]))  # e_1
    for t in range(2, 41):
        sample = o.draw(stream.fold("grad", t))
        g, gp = o.grad(xs[t - 1], sample), o.grad(xs[t - 2], sample)
        st = est.update(st, g, gp)
        e = g - q.grad(xs[t - 1])
        Z = e - (gp - q.grad(xs[t - 2]))
        acc = acc + e + (t - 1) * Z
        eps = st.d - q.grad(xs[t - 1])
        torch.testing.assert_close(t * eps, acc, rtol=1e-11, atol=1e-11)


def test_anytime_recursion_is_the_weighted_average():
    # x_t = sum_{s<=t} s w_s / (t (t + 1) / 2) [Cut19]
    srv = anytime(0.3)
    st = srv.init(torch.zeros(2, 3, dtype=torch.float64))
    ws, ds = [st.w], _seq(25, (2, 3), seed=4)
    for t, dh in enumerate(ds, start=1):
        st = srv.update(st, dh)
        ws.append(st.w)
        # w_{t+1} = w_t - eta * alpha_t * d_t with alpha_t = t
        torch.testing.assert_close(st.w, ws[-2] - 0.3 * t * dh, rtol=1e-14, atol=1e-14)
        avg = sum((s + 1) * w for s, w in enumerate(ws)) / ((t + 1) * (t + 2) / 2)
        torch.testing.assert_close(st.x, avg, rtol=1e-12, atol=1e-13)


def test_anytime_query_points_move_slowly_on_a_ball():
    # ||x_{t+1} - x_t|| <= gamma_{t+1} ||w_{t+1} - x_t|| <= 2 D / (t + 2) [Cut19; D] (docs/theory.md)
    from sco.domains import Ball
    ball = Ball(3, 1.0)
    srv = anytime(5.0, ball)
    st = srv.init(torch.zeros(1, 3, dtype=torch.float64))
    for t, dh in enumerate(_seq(60, (1, 3), seed=5), start=1):
        new = srv.update(st, 10 * dh)
        assert float((new.x - st.x).norm()) <= 2 * ball.diameter / (t + 2) + 1e-12
        assert bool(ball.contains(new.w).all())
        st = new


def test_anytime_code_forms():
    srv = anytime(1.0, step="eta", code_rounding=True)
    st = srv.init(torch.zeros(1, 1, dtype=torch.float64))
    st = srv.update(st, -torch.ones(1, 1, dtype=torch.float64))
    # the code's first mixing weight is 2/(1+1) = 1: x_2 = w_2, and its step is eta (not eta*alpha)
    torch.testing.assert_close(st.x, torch.ones(1, 1, dtype=torch.float64))
    fixed = anytime(1.0, gamma=0.1, step="eta")
    s2 = fixed.update(fixed.init(torch.zeros(1, 1, dtype=torch.float64)), -torch.ones(1, 1, dtype=torch.float64))
    torch.testing.assert_close(s2.x, torch.full((1, 1), 0.1, dtype=torch.float64))


def test_projected_sgd_with_averaging():
    srv = projected_sgd(0.5, average=True)
    st = srv.init(torch.zeros(1, 2, dtype=torch.float64))
    ws = [st.w]
    for dh in _seq(5, (1, 2), seed=6):
        st = srv.update(st, dh)
        ws.append(st.w)
        torch.testing.assert_close(st.out, sum(ws) / len(ws), rtol=1e-14, atol=1e-15)


def test_registry_and_errors():
    for name in ALGORITHMS:
        alg = make_algorithm({"name": name, "eta": 0.1})
        assert alg.name.startswith(name.split("_code")[0].split("[")[0])
    assert make_algorithm({"name": "mu2sgd_code_sync", "eta": 0.1}).clip == 2.0
    assert make_algorithm({"name": "mu2sgd", "eta": 0.1}).estimator.needs_prev_grad
    with pytest.raises(ValueError, match="Unknown algorithm 'adam'"):
        make_algorithm({"name": "adam", "eta": 0.1})
    with pytest.raises(ValueError, match="The 'eta' parameter of make_algorithm must be given"):
        make_algorithm("sgd")
    with pytest.raises(ValueError, match="The 'beta' parameter of momentum must be < 1. Got beta=1.0."):
        momentum(1.0)
    with pytest.raises(ValueError, match="The 'beta' parameter of storm must be a number in \\(0, 1\\] or one of"):
        storm("1/t^2")
    with pytest.raises(ValueError, match="The 'eta' parameter of anytime must be > 0"):
        anytime(0.0)
    with pytest.raises(ValueError, match=r"options of sgd among \['average', 'clip', 'eta'\]. Got spec='beta'"):
        make_algorithm({"name": "sgd", "eta": 0.1, "beta": 0.5})
    one, zero = torch.ones(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64)
    st = EstimatorState(one, torch.ones(1, dtype=torch.int64))
    assert math.isclose(float(storm(0.3).update(st, zero, zero).d), 0.7, rel_tol=1e-15)


def test_code_rounding_is_pythons_round_and_replays_the_authors_schedules():
    # Python's round(v, 3) rounds the float's exact decimal value; torch.round(v, decimals=3) rounds
    # v * 1000: they disagree where that product is a tie (beta at k = 80, gamma at t = 159)
    assert round(1 / 80, 3) == 0.013
    assert float(torch.round(torch.tensor(1 / 80, dtype=torch.float64), decimals=3)) == 0.012
    g = np.random.default_rng(3)
    T = 200
    grads = torch.from_numpy(g.normal(size=(T + 1, 2, 1, 3)))  # (step, g / g_prev, worker, d)
    # the worker: [DL24a-code, worker.py] WorkerSTORM.compute_estimator, replayed with floats
    d_ref = grads[0, 0].clone()
    st = EstimatorState(grads[0, 0].clone(), torch.ones(1, dtype=torch.int64))
    est = storm("1/t", code_rounding=True)
    for k in range(2, T + 1):
        beta = max([round(1 / k, 3), 0.01])
        d_ref = grads[k, 0] + (1 - beta) * (d_ref - grads[k, 1])
        st = est.update(st, grads[k, 0], grads[k, 1])
        torch.testing.assert_close(st.d, d_ref, rtol=1e-13, atol=1e-13, msg=f"k={k}")
    # the server: [DL24a-code, optimizer/anytime_sgd.py] AnyTimeSGD.step with use_alpha_t
    srv = anytime(0.3, step="eta", code_rounding=True)
    s = srv.init(torch.zeros(1, 3, dtype=torch.float64))
    w = x = torch.zeros(1, 3, dtype=torch.float64)
    it = sum_it = 0
    for t in range(1, T + 1):
        it += 1
        sum_it += it
        gamma = max([round(it / sum_it, 3), 0.01])
        w = w - 0.3 * grads[t, 0]
        x = x * (1 - gamma) + w * gamma
        s = srv.update(s, grads[t, 0])
        torch.testing.assert_close(s.x, x, rtol=1e-12, atol=1e-12, msg=f"t={t}")
    with pytest.raises(ValueError, match="'beta' parameter of storm must be '1/t' or a constant with code_rounding"):
        storm(lambda k: 1.0 / k, code_rounding=True)

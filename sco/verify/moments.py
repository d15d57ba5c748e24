"""Exact first and second moments of linear-Gaussian runs: the algorithms written again, in moment space.

On a diagonal quadratic f(x) = (1/2) sum_k a_k (x_k - c_k)^2 with additive noise of covariance
(sigma^2/d) I, shift heterogeneity (worker i's gradient has a constant offset b_i) and mean
aggregation, every quantity of a run is an affine function of the Gaussian noise draws, and the
coordinates are independent. Each coordinate's state z (the server's iterates, every worker's
estimate, the asynchronous table and query points, and a constant 1 for the affine parts) evolves
as z' = F z + G xi with fresh standard noise xi, so its mean mu and covariance P follow

    mu' = F mu,      P' = F P F^T + (sigma^2/d) G G^T,

and a logged metric sum_k q_k (l_k^T z_k)^2 has mean sum_k q_k (l^T P l + (l^T mu)^2) and, for
Gaussian noise, variance sum_k q_k^2 (2 v_k^2 + 4 m_k^2 v_k) with m_k, v_k the mean and variance of
l^T z_k. The update rules below are the papers' ([Cut19] AnyTime, [CO19]/[Lev23] STORM, [KHJ21]
worker momentum, [DL24b, Alg. 2] the asynchronous protocol), written independently of
sco.estimators and sco.simulate: a claim compares the two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Rule:
    """The algorithm: the worker estimator and the server rule, as in sco.estimators.ALGORITHMS.

    ``estimator``: "sgd", "ema" (beta m + (1 - beta) g), "heavy_ball" (beta m + g) or "storm"
    (``beta`` a number or "1/t"); ``server``: "sgd" (w - eta d, ``average`` for Polyak-Ruppert)
    or "anytime" (alpha_t = t; ``alpha_step`` False for the authors' step eta; ``gamma`` a
    fixed mixing weight); ``rounding``: the authors' max(round(v, 3), 0.01) on beta and on the
    mixing weight 2/(t + 1) [DL24a-code].
    """

    estimator: str
    server: str
    eta: float
    beta: object = None
    average: bool = False
    alpha_step: bool = True
    gamma: float | None = None
    rounding: bool = False


def _rounded(v: float) -> float:
    return max(round(v, 3), 0.01)  # Python's round, as the authors' code


def _beta(rule: Rule, k: int) -> float:
    b = 1.0 / k if rule.beta == "1/t" else float(rule.beta)
    return _rounded(b) if rule.rounding else b


def _gamma(rule: Rule, t: int) -> float:
    """The mixing weight of x_{t+1} = x_t + gamma (w_{t+1} - x_t) after the t-th update."""
    if rule.gamma is not None:
        return rule.gamma
    if rule.rounding:
        return _rounded(2.0 / (t + 1))
    return 2.0 / (t + 2)


class _Program:
    """Coordinates' states as named slots, and one step's affine map built slot by slot."""

    def __init__(self, names, a, c):
        self.index = {n: i for i, n in enumerate(["one", *names])}
        self.n, self.d = len(self.index), len(a)
        self.a, self.c = a, c  # (d,) curvatures and centers
        self.mu = np.zeros((self.d, self.n))
        self.mu[:, 0] = 1.0
        self.P = np.zeros((self.d, self.n, self.n))

    def begin(self, n_noise: int):
        """Start a step: every slot keeps its value unless assigned; n_noise fresh draws."""
        self.new = np.zeros((self.d, self.n, self.n + n_noise))
        self.new[:, np.arange(self.n), np.arange(self.n)] = 1.0

    def var(self, name):
        """The current value of a slot as a row over (state, noise): (d, n + n_noise)."""
        v = np.zeros((self.d, self.new.shape[2]))
        v[:, self.index[name]] = 1.0
        return v

    def const(self, value):
        v = np.zeros((self.d, self.new.shape[2]))
        v[:, 0] = value
        return v

    def noise(self, j):
        v = np.zeros((self.d, self.new.shape[2]))
        v[:, self.n + j] = 1.0
        return v

    def grad(self, point, b):
        """a (point - c) + b as a row: the exact gradient of worker with offset b at ``point``."""
        return self.a[:, None] * (point - self.const(self.c)) + self.const(b)

    def assign(self, name, row):
        self.new[:, self.index[name]] = row

    def end(self, noise_var: float):
        F, G = self.new[:, :, :self.n], self.new[:, :, self.n:]
        self.mu = np.einsum("dij,dj->di", F, self.mu)
        self.P = F @ self.P @ F.transpose(0, 2, 1) + noise_var * G @ G.transpose(0, 2, 1)

    def moments(self, row, weights):
        """Mean and (Gaussian) variance of sum_k w_k (row_k . z_k)^2 for a row over the state."""
        r = row[:, :self.n]
        m = np.einsum("di,di->d", r, self.mu)
        v = np.einsum("di,dij,dj->d", r, self.P, r)
        return float((weights * (v + m * m)).sum()), float((weights ** 2 * (2 * v * v + 4 * m * m * v)).sum())


def _estimate(p: _Program, rule: Rule, d, g, g_prev, k: int):
    """The worker's next estimate from d (its current one), the gradient g at the new point and
    g_prev at its previous point on the same sample; k is its new gradient count."""
    if rule.estimator == "sgd":
        return g
    if rule.estimator == "ema":
        return rule.beta * d + (1 - rule.beta) * g
    if rule.estimator == "heavy_ball":
        return rule.beta * d + g
    return g + (1 - _beta(rule, k)) * (d - g_prev)


def _server(p: _Program, rule: Rule, dhat, t: int):
    """Assign w, x and out after the t-th update with aggregate ``dhat``."""
    w, x = p.var("w"), p.var("x")
    if rule.server == "sgd":
        w_new = w - rule.eta * dhat
        p.assign("w", w_new)
        p.assign("x", w_new)
        p.assign("out", p.var("out") + (w_new - p.var("out")) / (t + 1) if rule.average else w_new)
        return w_new
    w_new = w - rule.eta * (t if rule.alpha_step else 1) * dhat
    x_new = x + _gamma(rule, t) * (w_new - x)
    p.assign("w", w_new)
    p.assign("x", x_new)
    p.assign("out", x_new)
    return x_new


def moments(rule: Rule, *, a, c, offsets, sigma: float, T: int, log, schedule=None, weights: str = "counts"):
    """Exact means and Gaussian standard deviations of ``excess`` and ``estimator_error`` at the
    logged steps of a run: a dict name -> (mean (k,), sd (k,)).

    ``a`` (d,) and ``c`` (d,) give the quadratic (x_1 = 0), ``offsets`` (m, d) the workers'
    constant gradient offsets (their mean is zero), ``sigma`` the noise level. Synchronous
    (every worker every step) without ``schedule``; otherwise ``schedule`` (T,) is the arriving
    worker of each step, as sco.arrivals.Replay, with count or uniform ``weights``.
    """
    a, c, offsets = (np.asarray(v, dtype=np.float64) for v in (a, c, offsets))
    m, d = offsets.shape
    sync = schedule is None
    names = ["w", "x", "out"] + [f"d{i}" for i in range(m)]
    if not sync:
        names += [f"T{i}" for i in range(m)] + [f"p{i}" for i in range(m)]
    p = _Program(names, a, c)
    noise_var = sigma ** 2 / d
    log = {int(t): j for j, t in enumerate(log)}
    out = {k: (np.zeros(len(log)), np.zeros(len(log))) for k in ("excess", "estimator_error")}
    # the first message of every worker, at x_1 = 0; asynchronously it is also in the table
    p.begin(m)
    for i in range(m):
        g = p.grad(p.var("x"), offsets[i]) + p.noise(i)
        p.assign(f"d{i}", g)
        if not sync:
            p.assign(f"T{i}", g)
            p.assign(f"p{i}", p.var("x"))
    p.end(noise_var)
    counts, k = np.ones(m), np.ones(m, dtype=np.int64)
    for t in range(1, T + 1):
        arriving = range(m) if sync else [int(schedule[t - 1])]
        p.begin(len(arriving))
        if sync:
            dhat = sum(p.var(f"d{i}") for i in range(m)) / m
        else:
            i = arriving[0]
            counts[i] += 1
            p.assign(f"T{i}", p.var(f"d{i}"))  # deliver the message in flight
            s = counts if weights == "counts" else np.ones(m)
            dhat = sum(s[j] * (p.var(f"d{i}") if j == i else p.var(f"T{j}")) for j in range(m)) / s.sum()
        x_t = p.var("x")
        if t in log:
            j = log[t]
            err = dhat - p.grad(x_t, 0.0)
            mean_e, var_e = p.moments(err, np.ones(d))
            out["estimator_error"][0][j], out["estimator_error"][1][j] = mean_e, math.sqrt(var_e)
        x_new = _server(p, rule, dhat, t)
        for n, i in enumerate(arriving):
            k[i] += 1
            prev = x_t if sync else p.var(f"p{i}")
            g = p.grad(x_new, offsets[i]) + p.noise(n)
            g_prev = p.grad(prev, offsets[i]) + p.noise(n)  # the same sample at the previous point
            p.assign(f"d{i}", _estimate(p, rule, p.var(f"d{i}"), g, g_prev, int(k[i])))
            if not sync:
                p.assign(f"p{i}", x_new)
        p.end(noise_var)
        if t in log:
            j = log[t]
            p.begin(0)  # rows over the new state
            mean_x, var_x = p.moments(p.var("out") - p.const(c), a / 2)
            out["excess"][0][j], out["excess"][1][j] = mean_x, math.sqrt(var_x)
    return out

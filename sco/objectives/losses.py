"""Losses of a linear prediction z = <a, x> (or z = A x for several outputs), with their curvature constants."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import _checks

class Loss:
    """A loss of the linear predictions z = X^T a_j in R^K of one sample with target y.

    Methods act on ``z`` of shape (..., n, K) and ``y`` of shape (..., n) and return
    per-sample values (..., n), derivatives (..., n, K) and Hessians (..., n, K, K).
    ``curvature`` bounds the largest eigenvalue of the per-sample Hessian.
    """

    name: str
    outputs: int = 1
    curvature: float = 1.0
    convex: bool = True

    def value(self, z, y):
        raise NotImplementedError

    def deriv(self, z, y):
        raise NotImplementedError

    def hess(self, z, y):
        raise NotImplementedError

    def bregman(self, z, z_star, y):
        """l(z) - l(z*) - <l'(z*), z - z*> >= 0, evaluated without cancellation."""
        raise NotImplementedError

    def cvxpy(self, Z, y):
        raise NotImplementedError

    def params(self) -> dict:
        return {"loss": self.name}


class Squared(Loss):
    """l(z, y) = (z - y)^2 / 2."""

    name = "squared"

    def value(self, z, y):
        return 0.5 * (z[..., 0] - y).square()

    def deriv(self, z, y):
        return z - y[..., None]

    def hess(self, z, y):
        return torch.ones_like(z)[..., None]

    def bregman(self, z, z_star, y):
        return 0.5 * (z - z_star)[..., 0].square()

    def cvxpy(self, Z, y):
        import cvxpy as cp
        return 0.5 * cp.square(Z[:, 0] - y)


class Logistic(Loss):
    """l(z, y) = log(1 + e^z) - y z with y in {0, 1}; l'' = s(z)(1 - s(z)) <= 1/4."""

    name = "logistic"
    curvature = 0.25

    def value(self, z, y):
        z = z[..., 0]
        # log(1 + e^z) exactly and smoothly (autograd's second derivative included):
        # F.softplus switches to the identity above z = 20, an error of 2e-9
        return torch.logaddexp(z, torch.zeros_like(z)) - y * z

    def deriv(self, z, y):
        return torch.sigmoid(z) - y[..., None]

    def hess(self, z, y):
        s = torch.sigmoid(z)
        return (s * (1 - s))[..., None]

    def bregman(self, z, z_star, y):
        # D(z, z*) for D = z - z* <= 0 with p = sigmoid(z*); for D > 0 the same on (-z, -z*), which
        # has the same Bregman divergence because softplus(u) - softplus(-u) = u is linear.
        delta = (z - z_star)[..., 0]
        zs = z_star[..., 0]
        lp, lq = F.logsigmoid(zs), F.logsigmoid(-zs)
        # >= 0 by convexity; clamped for the subnormal rounding of p ~ 1e-324 (sigmoid(-745))
        return (_logistic_bregman_neg(delta.clamp(max=0), lp, lq)
                + _logistic_bregman_neg(-delta.clamp(min=0), lq, lp)).clamp(min=0)

    def cvxpy(self, Z, y):
        import cvxpy as cp
        return cp.logistic(Z[:, 0]) - cp.multiply(y, Z[:, 0])


def _logistic_bregman_neg(d, log_p, log_q):
    """log(1 + p(e^d - 1)) - p d for d <= 0, with p = e^log_p and q = 1 - p = e^log_q.

    Written in the smaller of p and q, so that no sum rounds to 1 and loses the other: for
    p <= 1/2 as log1p(p expm1(d)) - p d (the argument lies in [-1/2, 0]); for p > 1/2 as the
    equal log1p(q expm1(-d)) + q d (argument >= 0; the p-form gave -inf once p rounded to 1 and
    0 where the answer is q d^2/2), and where e^-d would overflow as logaddexp(log p, log q - d) + q d.
    """
    p, q = log_p.exp(), log_q.exp()
    u = -d
    # q expm1(u) as e^(log q + u) (1 - e^-u): q itself may be subnormal, with few digits left
    huge = log_q + u > math.log(torch.finfo(d.dtype).max) - 1
    grown = torch.exp(torch.where(huge, 0.0, log_q + u)) * -torch.expm1(-u)
    in_q = torch.where(huge, torch.logaddexp(log_p, log_q + u), torch.log1p(grown))
    return torch.where(p <= 0.5, torch.log1p(p * torch.expm1(d)) - p * d, in_q - q * u)


class Huber(Loss):
    """Huber's loss of the residual r = z - y [Hub64]: r^2/2 for |r| <= delta, else delta |r| - delta^2/2."""

    name = "huber"

    def __init__(self, delta: float = 1.0):
        self.delta = _checks.real("huber", "delta", delta, low=0, low_open=True)

    def value(self, z, y):
        r = (z[..., 0] - y).abs()
        return torch.where(r <= self.delta, 0.5 * r.square(), self.delta * (r - 0.5 * self.delta))

    def deriv(self, z, y):
        return (z - y[..., None]).clamp(-self.delta, self.delta)

    def hess(self, z, y):
        return ((z - y[..., None]).abs() < self.delta).to(z.dtype)[..., None]

    def bregman(self, z, z_star, y):
        # Integral of clip(s) - clip(r*) from r* to r, where clip has slope 0 or 1: with
        # a = clip(r*) and p = clip(r) it is (p - a)^2 / 2 + (p - a)(r - p), both terms >= 0.
        r, r_star = (z[..., 0] - y), (z_star[..., 0] - y)
        a, p = r_star.clamp(-self.delta, self.delta), r.clamp(-self.delta, self.delta)
        return 0.5 * (p - a).square() + (p - a) * (r - p)

    def cvxpy(self, Z, y):
        import cvxpy as cp
        return 0.5 * cp.huber(Z[:, 0] - y, self.delta)  # cvxpy's huber is twice ours

    def params(self):
        return {"loss": self.name, "delta": self.delta}


class Cauchy(Loss):
    """The nonconvex Cauchy (Lorentzian) loss of r = z - y: (c^2/2) log(1 + (r/c)^2).

    l'' = (1 - (r/c)^2) / (1 + (r/c)^2)^2 lies in [-1/8, 1], so the loss is smooth with
    curvature 1 and bounded influence: a robust-regression loss that is not convex.
    """

    name = "cauchy"
    convex = False

    def __init__(self, c: float = 1.0):
        self.c = _checks.real("cauchy", "c", c, low=0, low_open=True)

    def value(self, z, y):
        r = z[..., 0] - y
        return 0.5 * self.c ** 2 * torch.log1p((r / self.c).square())

    def deriv(self, z, y):
        r = z - y[..., None]
        return r / (1 + (r / self.c).square())

    def hess(self, z, y):
        u = ((z - y[..., None]) / self.c).square()
        return ((1 - u) / (1 + u).square())[..., None]

    def params(self):
        return {"loss": self.name, "c": self.c}


class Softmax(Loss):
    """Multiclass logistic loss l(z, y) = logsumexp(z) - z_y with K classes.

    The per-sample Hessian diag(p) - p p^T has largest eigenvalue <= 1/2.
    """

    name = "softmax"
    curvature = 0.5

    def __init__(self, classes: int):
        self.outputs = _checks.integer("softmax", "classes", classes, low=2)

    def _onehot(self, y, z):
        return F.one_hot(y.long(), self.outputs).to(z.dtype)

    def value(self, z, y):
        return torch.logsumexp(z, -1) - (z * self._onehot(y, z)).sum(-1)

    def deriv(self, z, y):
        return torch.softmax(z, -1) - self._onehot(y, z)

    def hess(self, z, y):
        p = torch.softmax(z, -1)
        return torch.diag_embed(p) - p[..., :, None] * p[..., None, :]

    def bregman(self, z, z_star, y):
        # log sum_k p*_k e^{D_k} - <p*, D>: for small D the log1p form keeps the O(D^2) value
        # exact; for large D the shifted log-sum-exp cannot overflow.
        delta = z - z_star
        p = torch.softmax(z_star, -1)
        lin = (p * delta).sum(-1)
        small = torch.log1p((p * torch.expm1(delta.clamp(max=1.0))).sum(-1)) - lin
        big = torch.logsumexp(delta + torch.log(p), -1) - lin
        return torch.where(delta.abs().amax(-1) < 1.0, small, big).clamp_min(0)

    def cvxpy(self, Z, y):
        import cvxpy as cp
        import numpy as np
        Y = np.eye(self.outputs)[np.asarray(y, dtype=int)]
        return cp.log_sum_exp(Z, axis=1) - cp.sum(cp.multiply(Y, Z), axis=1)

    def params(self):
        return {"loss": self.name, "classes": self.outputs}

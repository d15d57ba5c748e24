"""Constraint sets K with batched Euclidean projections and their diameters."""

from __future__ import annotations

import math

import torch

from . import _checks
from .backend import Constants


class Domain:
    """A closed convex set K in R^d; ``project`` maps ``(..., d)`` points onto it."""

    d: int
    #: sup over x, y in K of ||x - y|| (inf when unbounded)
    diameter: float

    def project(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def contains(self, x: torch.Tensor, tol: float = 1e-12) -> torch.Tensor:
        """Whether each point lies in K, up to ``tol`` (relative to the set's scale)."""
        return (self.project(x) - x).norm(dim=-1) <= tol * max(1.0, self._scale())

    def _scale(self) -> float:
        return 1.0

    def newton_step(self, x: torch.Tensor, g: torch.Tensor, H: torch.Tensor) -> torch.Tensor:
        """A Newton step for min f over K from the single point ``x`` near the minimizer,
        given grad f(x) and the Hessian: plain Newton here, the KKT system of the active
        constraints in subclasses. Used to polish solver output to machine precision."""
        return torch.linalg.solve(H, -g)

    def cvxpy_constraints(self, var) -> list:
        """The constraints ``var in K`` for a cvxpy variable (cvxpy imported by the caller)."""
        raise NotImplementedError

    def params(self) -> dict:
        raise NotImplementedError

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.diameter)


class Unconstrained(Domain):
    """K = R^d: projection is the identity."""

    def __init__(self, d: int):
        self.d = _checks.integer("Unconstrained", "d", d, low=1)
        self.diameter = math.inf

    def project(self, x):
        _checks.last_dim("Unconstrained.project", "x", x, self.d)
        return x

    def cvxpy_constraints(self, var):
        return []


    def params(self):
        return {"kind": "unconstrained", "d": self.d}


class Ball(Domain):
    """Euclidean ball {x : ||x - center|| <= radius}; diameter 2 * radius.

    .. math:: \\Pi_K(x) = c + (x - c) \\min(1, r / \\|x - c\\|)
    """

    def __init__(self, d: int, radius: float, center=None):
        self.d = _checks.integer("Ball", "d", d, low=1)
        self.radius = _checks.real("Ball", "radius", radius, low=0, low_open=True)
        if center is None:
            center = torch.zeros(d, dtype=torch.float64)
        center = torch.as_tensor(center, dtype=torch.float64)
        if center.shape != (d,):
            _checks.fail("Ball", "center", f"have shape ({d},)", center)
        self._c = Constants(center=center)
        self.diameter = 2 * self.radius

    @property
    def center(self) -> torch.Tensor:
        return self._c["center"]

    def _scale(self):
        return self.radius

    def project(self, x):
        _checks.last_dim("Ball.project", "x", x, self.d)
        c = self._c.like("center", x)
        v = x - c  # (..., d)
        norm = v.norm(dim=-1, keepdim=True)  # (..., 1)
        # points inside are returned bit for bit (c + (x - c) can differ from x by an ulp)
        outside = c + v * (self.radius / norm.clamp_min(torch.finfo(x.dtype).tiny))
        return torch.where(norm <= self.radius, x, outside)

    def newton_step(self, x, g, H):
        e = x - self._c.like("center", x)
        nu = float(-(g @ e)) / float(e @ e) if float(e @ e) > 0 else 0.0
        if float(e.norm()) < self.radius * (1 - 1e-7) or nu <= 0:
            return super().newton_step(x, g, H)
        # KKT of min f s.t. |x - c|^2 = r^2 with multiplier nu: grad f + nu e = 0
        d = self.d
        K = torch.zeros(d + 1, d + 1, dtype=x.dtype)
        K[:d, :d] = H + nu * torch.eye(d, dtype=x.dtype)
        K[:d, d] = e
        K[d, :d] = e
        rhs = -torch.cat([g + nu * e, (0.5 * (e @ e - self.radius ** 2)).reshape(1)])
        return torch.linalg.solve(K, rhs)[:d]

    def cvxpy_constraints(self, var):
        import cvxpy as cp
        return [cp.norm(var - self.center.numpy(), 2) <= self.radius]

    def params(self):
        return {"kind": "ball", "d": self.d, "radius": self.radius, "center": self.center.tolist()}


class Box(Domain):
    """Box {x : lo <= x <= hi} coordinate-wise; diameter ||hi - lo||."""

    def __init__(self, d: int, lo, hi):
        self.d = _checks.integer("Box", "d", d, low=1)
        lo = torch.as_tensor(lo, dtype=torch.float64).expand(d).clone()
        hi = torch.as_tensor(hi, dtype=torch.float64).expand(d).clone()
        if not (lo <= hi).all():
            _checks.fail("Box", "hi", "be >= lo in every coordinate", hi)
        if not (torch.isfinite(lo).all() and torch.isfinite(hi).all()):
            _checks.fail("Box", "lo", "and hi be finite (use Unconstrained for R^d)", lo)
        self._c = Constants(lo=lo, hi=hi)
        self.diameter = float((hi - lo).norm())

    def _scale(self):
        return max(self.diameter, 1.0)

    def project(self, x):
        _checks.last_dim("Box.project", "x", x, self.d)
        return torch.clamp(x, self._c.like("lo", x), self._c.like("hi", x))

    def newton_step(self, x, g, H):
        tol = 1e-9 * self._scale()
        lo, hi = self._c.like("lo", x), self._c.like("hi", x)
        # a coordinate at a bound whose gradient pushes outward stays there; Newton on the rest
        at_lo, at_hi = (x <= lo + tol) & (g > 0), (x >= hi - tol) & (g < 0)
        free = ~(at_lo | at_hi)
        step = torch.where(at_lo, lo - x, hi - x)  # active coordinates land exactly on their bound
        if free.any():
            # Newton on the free block, with the move of the active ones folded into the gradient
            g_free = g[free] + H[free][:, ~free] @ step[~free]
            step[free] = torch.linalg.solve(H[free][:, free], -g_free)
        return step

    def cvxpy_constraints(self, var):
        return [var >= self._c["lo"].numpy(), var <= self._c["hi"].numpy()]

    def params(self):
        return {"kind": "box", "d": self.d, "lo": self._c["lo"].tolist(), "hi": self._c["hi"].tolist()}


def make_domain(d: int, radius=None, box=None) -> Domain:
    """The domain named by an objective's options: a ball of ``radius`` around 0, a box
    ``(lo, hi)``, or R^d when neither is given."""
    if radius is not None and box is not None:
        raise ValueError("Give at most one of 'radius' (ball constraint) and 'box' (box constraint). "
                         f"Got radius={radius!r} and box={box!r}.")
    if radius is not None:
        return Ball(d, radius)
    if box is not None:
        lo, hi = box
        return Box(d, lo, hi)
    return Unconstrained(d)

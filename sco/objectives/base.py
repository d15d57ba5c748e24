"""The Objective base class: batched value and gradient, declared constants, optimum."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .. import _checks
from ..domains import Domain, Unconstrained


@dataclass(frozen=True)
class Optimum:
    """A minimizer over the domain with how it was obtained.

    ``method`` is "closed form", "cvxpy" or "cvxpy+newton"; ``tolerance`` the solver
    tolerance asked for (None for closed forms); ``kkt_residual`` the norm of the gradient
    mapping ``L * ||x - proj(x - grad f(x) / L)||`` at ``x_star``, measured in float64.
    """

    x_star: torch.Tensor
    f_star: float
    method: str
    tolerance: float | None = None
    kkt_residual: float = 0.0
    info: dict = field(default_factory=dict)


class Objective:
    """A smooth objective f on a domain K with the constants a bound needs.

    Subclasses set ``d``, ``L``, ``mu``, ``convex``, ``domain`` and ``x0``, and implement
    ``value`` and ``grad`` over batched points ``x`` of shape ``(..., d)``; convex ones also
    give ``excess`` without cancellation and an ``_optimum``. Computation happens in the
    dtype and on the device of ``x``; inputs are never modified.
    """

    name: str = "objective"
    d: int
    L: float
    mu: float = 0.0
    convex: bool = True
    domain: Domain
    x0: torch.Tensor

    def __init__(self, d: int, L: float, mu: float, *, convex: bool, domain: Domain | None,
                 x0=None, spec: dict | None = None):
        owner = type(self).__name__
        self.d = _checks.integer(owner, "d", d, low=1)
        self.L = _checks.real(owner, "L", L, low=0, low_open=True)
        self.mu = _checks.real(owner, "mu", mu, low=0)
        if self.mu > self.L * (1 + 1e-12):
            _checks.fail(owner, "mu", f"be <= L={self.L}", mu)
        self.convex = convex
        self.domain = domain if domain is not None else Unconstrained(self.d)
        if self.domain.d != self.d:
            _checks.fail(owner, "domain", f"live in dimension d={self.d}", self.domain.d)
        x0 = torch.zeros(self.d, dtype=torch.float64) if x0 is None else torch.as_tensor(x0, dtype=torch.float64)
        if x0.shape != (self.d,):
            _checks.fail(owner, "x0", f"have shape ({self.d},)", x0)
        if not bool(self.domain.contains(x0)):
            _checks.fail(owner, "x0", "lie in the domain", x0)
        self.x0 = x0
        self.spec = dict(spec or {})
        self._opt: Optimum | None = None

    # -- evaluation ----------------------------------------------------------------------

    def value(self, x: torch.Tensor) -> torch.Tensor:
        """f(x) for ``x`` of shape (..., d); returns (...)."""
        raise NotImplementedError

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        """grad f(x) for ``x`` of shape (..., d); returns (..., d)."""
        raise NotImplementedError

    def hessian(self, x: torch.Tensor) -> torch.Tensor:
        """The Hessian at one point ``x`` of shape (d,), by autograd unless overridden."""
        _checks.last_dim(f"{type(self).__name__}.hessian", "x", x, self.d)
        return torch.autograd.functional.hessian(lambda z: self.value(z), x.detach())

    #: names of the extra metrics :meth:`extra_metrics` returns (logged by the simulator)
    extra_metric_names: tuple = ()

    def extra_metrics(self, x: torch.Tensor) -> dict:
        """Problem-specific metrics at points ``x`` (..., d), each of shape (...): for example
        the training and test accuracy of a classifier. Keys are ``extra_metric_names``."""
        return {}

    def grad_norm_sq(self, x: torch.Tensor) -> torch.Tensor:
        """||grad f(x)||^2, the stationarity measure of nonconvex objectives."""
        return self.grad(x).square().sum(-1)

    def excess(self, x: torch.Tensor) -> torch.Tensor:
        """f(x) - f* for convex objectives, computed without cancellation where the
        structure allows; subclasses override this generic difference."""
        self._require_convex("excess")
        return self.value(x) - self.f_star

    def _check_x(self, x: torch.Tensor, what: str = "value") -> torch.Tensor:
        return _checks.last_dim(f"{type(self).__name__}.{what}", "x", x, self.d)

    def _require_convex(self, what: str):
        if not self.convex:
            raise ValueError(
                f"{what} is undefined for the nonconvex objective {self.name!r}: f* is unknown. "
                "Use grad_norm_sq(x), the stationarity measure ||grad f(x)||^2, instead.")

    # -- optimum ---------------------------------------------------------------------------

    @property
    def optimum(self) -> Optimum:
        """The minimizer over the domain, computed once (closed form or cached cvxpy solve)."""
        self._require_convex("the optimum")
        if self._opt is None:
            self._opt = self._optimum()
        return self._opt

    def _optimum(self) -> Optimum:
        from .solve import solve_cvxpy
        return solve_cvxpy(self)

    @property
    def x_star(self) -> torch.Tensor:
        return self.optimum.x_star

    @property
    def f_star(self) -> float:
        return self.optimum.f_star

    def kkt_residual(self, x: torch.Tensor) -> float:
        """Norm of the gradient mapping ``L * ||x - proj(x - grad f(x) / L)||`` (0 at a minimizer)."""
        x = x.to(torch.float64)
        step = x - self.grad(x) / self.L
        return float(self.L * (x - self.domain.project(step)).norm())

    def cvxpy_objective(self, var):
        """f as a cvxpy expression of the variable ``var`` (convex objectives without a
        closed form implement it)."""
        raise NotImplementedError(f"{type(self).__name__} has no cvxpy formulation.")

    # -- declared constants ----------------------------------------------------------------

    @property
    def D(self) -> float:
        """Diameter of the domain, or ||x0 - x*|| when the domain is unbounded
        (for nonconvex objectives on R^d, where x* is unknown: inf)."""
        if self.domain.bounded:
            return self.domain.diameter
        if not self.convex:
            return math.inf
        return float((self.x0 - self.x_star).norm())

    def constants(self) -> dict:
        """The constants a bound needs: d, L, mu, D, f_star and G_star = ||grad f(x*)|| (convex;
        nonzero when x* lies on the boundary of the domain [DL24b, Thm. 4.2]), convex."""
        out = {"d": self.d, "L": self.L, "mu": self.mu, "D": self.D, "convex": self.convex}
        if self.convex:
            out["f_star"] = self.f_star
            out["G_star"] = float(self.grad(self.x_star.to(torch.float64)).norm())
        return out

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.spec.items() if k != "name")
        return f"{self.name}({args})"

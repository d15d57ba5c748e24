"""Quadratics with a chosen spectrum, closed-form optimum and cancellation-free excess."""

from __future__ import annotations

import numpy as np
import torch

from .. import _checks
from ..backend import Constants
from ..domains import make_domain
from .base import Objective, Optimum


class Quadratic(Objective):
    """f(x) = (1/2) (x - c)^T A (x - c) with A symmetric positive semidefinite.

    .. math:: f(x) = \\tfrac12 (x - c)^\\top A (x - c), \\qquad
              L = \\lambda_{\\max}(A), \\quad \\mu = \\lambda_{\\min}(A)

    ``A`` is the Hessian, ``center`` is c (the unconstrained minimizer, f(c) = 0).
    On a domain K that contains c, x* = c and f* = 0 in closed form; otherwise x* is
    the constrained minimizer from cvxpy. The excess is the exact second-order
    expansion around x*, a sum of two nonnegative terms on K:

    .. math:: f(x) - f^\\star = \\nabla f(x^\\star)^\\top (x - x^\\star)
              + \\tfrac12 (x - x^\\star)^\\top A (x - x^\\star)
    """

    name = "quadratic"

    def __init__(self, A, center, *, eigenvalues=None, domain=None, x0=None, spec=None):
        A = torch.as_tensor(A, dtype=torch.float64)
        d = A.shape[-1]
        if A.dim() != 2 or A.shape != (d, d):
            _checks.fail("Quadratic", "A", "be a square matrix", A)
        if not torch.allclose(A, A.T, rtol=1e-12, atol=1e-12 * float(A.abs().max())):
            _checks.fail("Quadratic", "A", "be symmetric", A)
        A = (A + A.T) / 2
        evals = torch.linalg.eigvalsh(A)
        scale = max(float(evals[-1]), 1e-300)
        if evals[0] < -1e-12 * scale:
            _checks.fail("Quadratic", "A", "be positive semidefinite", float(evals[0]),
                         hint="(the value shown is its smallest eigenvalue)")
        if eigenvalues is not None:
            # the spectrum A was built from: declare L and mu exactly (mu = 0 stays 0, not 1e-16)
            given = torch.sort(torch.as_tensor(eigenvalues, dtype=torch.float64)).values
            if given.shape != evals.shape or not torch.allclose(given, evals, rtol=0, atol=1e-10 * scale):
                _checks.fail("Quadratic", "eigenvalues", "be the eigenvalues of A", eigenvalues)
            evals = given
        center = torch.as_tensor(center, dtype=torch.float64)
        if center.shape != (d,):
            _checks.fail("Quadratic", "center", f"have shape ({d},)", center)
        super().__init__(d, float(evals[-1]), max(float(evals[0]), 0.0), convex=True,
                         domain=domain, x0=x0, spec=spec)
        self.eigenvalues = evals
        self._c = Constants(A=A, center=center)

    @property
    def A(self) -> torch.Tensor:
        return self._c["A"]

    @property
    def center(self) -> torch.Tensor:
        return self._c["center"]

    def value(self, x):
        self._check_x(x)
        e = x - self._c.like("center", x)  # (..., d)
        return 0.5 * ((e @ self._c.like("A", x)) * e).sum(-1)

    def grad(self, x):
        self._check_x(x, "grad")
        return (x - self._c.like("center", x)) @ self._c.like("A", x)

    def hessian(self, x):
        self._check_x(x, "hessian")
        return self._c.like("A", x).clone()

    def excess(self, x):
        self._check_x(x, "excess")
        opt = self.optimum
        if opt.method == "closed form":
            return self.value(x)  # f* = 0 and x* = c: already the cancellation-free form
        e = x - opt.x_star.to(x)
        g_star = self.grad(opt.x_star).to(x)
        return e @ g_star + 0.5 * ((e @ self._c.like("A", x)) * e).sum(-1)

    def _optimum(self):
        if bool(self.domain.contains(self.center)):
            return Optimum(self.center.clone(), 0.0, "closed form")
        return super()._optimum()

    def cvxpy_objective(self, var):
        import cvxpy as cp
        # psd_wrap: A is PSD by construction; skip cvxpy's eigenvalue check, which can
        # reject matrices with eigenvalues of -1e-17 from rounding
        return 0.5 * cp.quad_form(var - self.center.numpy(), cp.psd_wrap(self.A.numpy()))


def random_rotation(d: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-distributed orthogonal matrix (QR of a Gaussian matrix with the sign fix of
    Mezzadri, "How to generate random matrices from the classical compact groups", 2007)."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def quadratic(d: int = 10, *, L: float = 1.0, mu: float | None = None, kappa: float | None = None,
              spectrum="linear", rotate: bool = True, distance: float = 1.0,
              radius: float | None = None, box=None, seed: int = 0) -> Quadratic:
    """A quadratic with eigenvalues between ``mu`` and ``L`` and a random minimizer.

    Parameters
    ----------
    d : dimension.
    L, mu : largest and smallest eigenvalue (default ``mu = 0``: only convex).
    kappa : condition number L/mu, an alternative to ``mu`` (give at most one).
    spectrum : "linear" (evenly spaced), "log" (geometrically spaced, needs mu > 0), or a
        sequence of d eigenvalues (then L and mu are its extremes).
    rotate : apply a random rotation (otherwise A is diagonal).
    distance : ||x0 - c|| with x0 = 0, the distance from the start to the unconstrained
        minimizer c (a random direction).
    radius, box : optional ball (centered at 0) or box constraint.
    seed : seed of the rotation and of the direction of c.
    """
    owner = "quadratic"
    d = _checks.integer(owner, "d", d, low=1)
    L = _checks.real(owner, "L", L, low=0, low_open=True)
    if kappa is not None:
        kappa = _checks.real(owner, "kappa", kappa, low=1)
        if mu is not None:
            _checks.fail(owner, "kappa", "be omitted when mu is given (kappa = L / mu)", kappa)
        mu = L / kappa
    mu = _checks.real(owner, "mu", 0.0 if mu is None else mu, low=0)
    if mu > L:
        _checks.fail(owner, "mu", f"be <= L={L}", mu)
    distance = _checks.real(owner, "distance", distance, low=0)
    seed = _checks.integer(owner, "seed", seed, low=0)
    if isinstance(spectrum, str):
        _checks.one_of(owner, "spectrum", spectrum, {"linear", "log"})
        if spectrum == "log":
            if mu <= 0:
                _checks.fail(owner, "mu", "be > 0 for a 'log' spectrum", mu)
            evals = np.geomspace(mu, L, d)
        else:
            evals = np.linspace(mu, L, d) if d > 1 else np.array([L])
    else:
        evals = np.asarray(spectrum, dtype=np.float64)
        if evals.shape != (d,) or (evals < 0).any() or evals.max() <= 0:
            _checks.fail(owner, "spectrum", f"be 'linear', 'log' or {d} nonnegative eigenvalues "
                         "with a positive maximum", spectrum)
    rng = np.random.default_rng(seed)
    Q = random_rotation(d, rng) if rotate else np.eye(d)
    A = (Q * evals) @ Q.T
    u = rng.standard_normal(d)
    center = distance * u / np.linalg.norm(u)
    spec = {"name": "quadratic", "d": d, "L": L, "mu": mu, "spectrum": spectrum if isinstance(spectrum, str)
            else evals.tolist(), "rotate": rotate, "distance": distance, "radius": radius, "box": box,
            "seed": seed}
    return Quadratic(A, center, eigenvalues=evals, domain=make_domain(d, radius, box), spec=spec)

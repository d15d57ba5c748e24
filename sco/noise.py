"""Gradient noise models with a controlled level: exact, additive (Gaussian, Student-t), mini-batches."""

from __future__ import annotations

import math

import torch

from . import _checks
from ._registry import Named, build


class Noise(Named):
    """How a stochastic gradient deviates from the worker's exact gradient.

    ``draw`` produces the randomness of one oracle call from a stream with one key per
    (run, worker), shape (R, k),
    ``grad`` turns it into gradients at any point, so the same draw can be evaluated at
    x_t and x_{t-1} (what STORM needs). ``constants`` reports sigma (a bound on
    sqrt(E||g - grad f_i||^2) over the analysis region, see :meth:`Oracle.constants`),
    sigma at x*, and sigma_L, each flagged exact or an upper bound.
    """

    name = "exact"

    def draw(self, stream, oracle, workers, dtype):
        return None

    def grad(self, oracle, x, drawn, workers):
        return oracle.worker_grad(x, workers)

    def constants(self, oracle) -> dict:
        return {"sigma": 0.0, "sigma_star": 0.0, "sigma_L": 0.0, "sigma_exact": True, "sigma_L_exact": True}



class Additive(Noise):
    """g(x; z) = grad f_i(x) + (sigma / sqrt(d)) z_1 + sigma_L z_2 * (x - c), z_1, z_2 iid unit-variance.

    .. math:: \\xi(x; z) = \\frac{\\sigma}{\\sqrt d} z_1 + \\sigma_L\\, z_2 \\odot (x - c)

    The first term is the additive noise, with E||xi||^2 = sigma^2 at x = c. The second is
    the gradient of the random quadratic (sigma_L/2) sum_k z_2k (x_k - c_k)^2, so that
    E||xi(x) - xi(y)||^2 = sigma_L^2 ||x - y||^2 exactly: the smoothness-variance assumption
    of mu^2-SGD [Lev23] holds with equality. Without it (sigma_L = 0) the noise does not
    depend on x and cancels exactly in STORM's correction g(x_t; z) - g(x_{t-1}; z).
    c is x* (x0 for nonconvex objectives), so E||xi(x)||^2 = sigma^2 + sigma_L^2 ||x - c||^2.
    """

    def __init__(self, sigma: float, sigma_L: float = 0.0):
        self.sigma = _checks.real(self.name, "sigma", sigma, low=0)
        self.sigma_L = _checks.real(self.name, "sigma_L", sigma_L, low=0)

    def _standard(self, stream, shape, dtype):
        raise NotImplementedError

    def draw(self, stream, oracle, workers, dtype):
        z1 = self._standard(stream.fold("additive"), (oracle.d,), dtype)  # (R, k, d)
        z2 = self._standard(stream.fold("multiplicative"), (oracle.d,), dtype) if self.sigma_L else None
        return z1, z2

    def grad(self, oracle, x, drawn, workers):
        z1, z2 = drawn
        # one (R, k, d) temporary, not two: the same two roundings, so the same bits
        g = ((self.sigma / math.sqrt(oracle.d)) * z1).add_(oracle.worker_grad(x, workers))
        if z2 is not None:
            g = g + self.sigma_L * z2 * (x - oracle.noise_center(x))
        return g

    def constants(self, oracle):
        R = oracle.region_radius()
        sigma = math.sqrt(self.sigma ** 2 + self.sigma_L ** 2 * R ** 2) if self.sigma_L else self.sigma
        return {"sigma": sigma, "sigma_star": self.sigma, "sigma_L": self.sigma_L,
                "sigma_exact": True, "sigma_L_exact": True}

    def params(self):
        return {"name": self.name, "sigma": self.sigma, "sigma_L": self.sigma_L}


class Gaussian(Additive):
    """Additive Gaussian noise of level sigma (see :class:`Additive`)."""

    name = "gaussian"

    def _standard(self, stream, shape, dtype):
        return stream.normal(shape, dtype)


class StudentT(Additive):
    """Heavy-tailed additive noise: Student-t with ``nu > 2`` degrees of freedom, scaled to
    unit variance, so sigma keeps its meaning while only moments below nu are finite.

    Drawn by Bailey's polar formula [Bai94], exact and rejection-free:
    T = sqrt(nu (U^{-2/nu} - 1)) cos(2 pi V), with U, V uniform on (0, 1).
    """

    name = "student_t"

    def __init__(self, sigma: float, nu: float = 3.0, sigma_L: float = 0.0):
        super().__init__(sigma, sigma_L)
        self.nu = _checks.real(self.name, "nu", nu, low=2, low_open=True)

    def _standard(self, stream, shape, dtype):
        u = stream.fold("u").uniform(shape, torch.float64)
        v = stream.fold("v").uniform(shape, torch.float64)
        t = torch.sqrt(self.nu * torch.expm1(-2.0 / self.nu * torch.log(u))) * torch.cos(2 * math.pi * v)
        return (t * math.sqrt((self.nu - 2) / self.nu)).to(dtype)

    def params(self):
        return {**super().params(), "nu": self.nu}


class MiniBatch(Noise):
    """Gradients of mini-batches of ``b`` samples drawn with replacement from the worker's
    sampling distribution (its data shard, or the sample weights of the finite sum).

    With replacement the variance is exactly Var_j(grad l_j(x)) / b, so sigma at x* is
    computed exactly. sigma_L is exact for least squares (the largest eigenvalue of the
    per-sample Hessian covariance) and an upper bound, E||grad l_j(x) - grad l_j(y)||^2 <=
    c_l^2 E||a_j||^4 ||x - y||^2, for other losses. sigma over the region is bounded by
    sigma_star + sigma_L R (Minkowski's inequality).
    """

    name = "minibatch"

    def __init__(self, b: int = 1):
        self.b = _checks.integer(self.name, "b", b, low=1)

    def draw(self, stream, oracle, workers, dtype):
        return oracle.sample_indices(stream.fold("minibatch"), workers, self.b)  # (R, k, b)

    def grad(self, oracle, x, drawn, workers):
        R, k = drawn.shape[:2]
        g = oracle.objective.grad_samples(x.expand(R, k, oracle.d), drawn)
        return oracle.add_shift(g, workers)

    def constants(self, oracle):
        sigma_star, sigma_L, exact = oracle.sampling_constants(self.b)
        return {"sigma": sigma_star + sigma_L * oracle.region_radius(), "sigma_star": sigma_star,
                "sigma_L": sigma_L, "sigma_exact": sigma_L == 0, "sigma_L_exact": exact}

    def params(self):
        return {"name": self.name, "b": self.b}


#: Noise models by name.
NOISES = {"exact": Noise, "gaussian": Gaussian, "student_t": StudentT, "minibatch": MiniBatch}


def make_noise(spec) -> Noise:
    """A Noise from an instance, None (exact gradients), a name, or a dict {"name": ..., **params}."""
    return Noise() if spec is None else build("make_noise", spec, NOISES, Noise, "noise")

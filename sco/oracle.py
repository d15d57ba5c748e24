"""The batched stochastic oracle: gradients of every worker of every run at once."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from . import _checks
from .backend import Constants
from .heterogeneity import Heterogeneity, Partition, Shift, make_heterogeneity
from .noise import MiniBatch, Noise, make_noise
from .objectives.base import Objective
from .objectives.data import Dataset, FiniteSum
from .objectives.glm import GLM, Squared


@dataclass(frozen=True)
class Sample:
    """The randomness of one oracle call: which workers, and their noise draw.

    Evaluating the same Sample at two points gives the same-sample gradient pair
    (grad f(x_t; z_t), grad f(x_{t-1}; z_t)) that STORM's correction needs.
    """

    workers: torch.Tensor | None  # (R, k) worker indices, or None for all m in order
    drawn: object


class Oracle:
    """Stochastic gradients of m workers whose objectives f_i average to ``objective``.

    Parameters
    ----------
    objective : the global objective f.
    noise : a :class:`~sco.noise.Noise`, a name, a dict, or None (exact gradients).
    heterogeneity : a :class:`~sco.heterogeneity.Heterogeneity`, a dict, or None (every
        worker optimizes f). A :class:`~sco.heterogeneity.Partition` splits a finite
        sum's data; then ``oracle.objective`` is the reweighted f = (1/m) sum_i f_i on the
        permuted data, with its own optimum.
    m : number of workers whose average defines f (in Byzantine runs, the honest ones).

    ``grad(x, sample)`` accepts x of shape (R, k, d) (one point per worker) or (R, 1, d)
    (all workers at the same point) and returns (R, k, d), in the dtype of x.
    """

    def __init__(self, objective: Objective, noise=None, heterogeneity=None, m: int = 1):
        if not isinstance(objective, Objective):
            _checks.fail("Oracle", "objective", "be an Objective", objective, kind=TypeError)
        self.m = _checks.integer("Oracle", "m", m, low=1)
        self.noise: Noise = make_noise(noise)
        self.heterogeneity: Heterogeneity = make_heterogeneity(heterogeneity)
        self.d = objective.d
        needs_data = isinstance(self.noise, MiniBatch) or isinstance(self.heterogeneity, Partition)
        if needs_data and not isinstance(objective, FiniteSum):
            raise ValueError(f"{self.noise!r} and data partitions need a finite-sum objective (a GLM or an MLP); "
                             f"got {objective!r}. Use Gaussian or Student-t noise and Shift heterogeneity.")
        self._c = Constants()
        self._P = None  # (m, n) sampling distribution of each worker, for partitions
        if isinstance(self.heterogeneity, Partition):
            objective = self._partition(objective)
        if isinstance(self.heterogeneity, Shift):
            self._c = Constants(b=self.heterogeneity.shifts(self.m, self.d))
        self.objective = objective
        # equal sample weights draw mini-batches by randint, others by categorical (fixed per oracle)
        self._uniform_samples = isinstance(objective, FiniteSum) and bool(
            (objective.sample_weights == objective.sample_weights[0]).all())

    def _partition(self, obj: GLM) -> GLM:
        owner = self.heterogeneity.assign(obj.data.A, obj.data.y, obj.data.task, self.m)
        order = np.argsort(owner, kind="stable")
        owner = owner[order]
        sizes = np.bincount(owner, minlength=self.m)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        ds = obj.data
        data = Dataset(ds.name, ds.A[order], ds.y[order], ds.task, ds.classes,
                       {**ds.spec, "partition": self.heterogeneity.params(), "m": self.m})
        P = torch.zeros(self.m, ds.n, dtype=torch.float64)
        P[torch.from_numpy(owner), torch.arange(ds.n)] = torch.from_numpy(1.0 / sizes[owner])
        self._P = P
        self._c = Constants(P=P, starts=torch.from_numpy(starts), sizes=torch.from_numpy(sizes))
        return obj.derive(data=data, sample_weights=P.sum(0) / self.m, heterogeneity=self.heterogeneity.params(),
                          m=self.m)

    # -- shapes and helpers ---------------------------------------------------------------

    def k(self, workers) -> int:
        """Number of workers in a call: m when ``workers`` is None."""
        return self.m if workers is None else workers.shape[-1]

    def _check_workers(self, workers):
        if workers is None:
            return
        if not isinstance(workers, torch.Tensor) or workers.dtype != torch.int64 or workers.dim() != 2:
            _checks.fail("Oracle", "workers", "be an int64 tensor of shape (R, k)", workers, kind=TypeError)
        if workers.numel() and (workers.min() < 0 or workers.max() >= self.m):
            _checks.fail("Oracle", "workers", f"hold indices in [0, m) with m={self.m}", workers)

    def add_shift(self, g: torch.Tensor, workers) -> torch.Tensor:
        """Add the Shift heterogeneity's b_i to gradients g of shape (R, k, d)."""
        if "b" not in self._c:
            return g
        b = self._c.like("b", g)  # (m, d)
        return g + (b if workers is None else b[workers])

    def worker_grad(self, x: torch.Tensor, workers=None) -> torch.Tensor:
        """Exact gradients grad f_i(x) of the workers, (R, k, d) from x (R, k|1, d)."""
        if self._P is None:
            g = self.objective.grad(x)
        else:
            P = self._c.like("P", x)  # (m, n)
            g = self.objective.grad_weighted(x, P if workers is None else P[workers])
        return self.add_shift(g, workers)

    def _reference_point(self) -> torch.Tensor:
        """x* (x0 for nonconvex objectives): where additive noise has level exactly sigma and
        where the sampling constants and a partition's zeta are measured."""
        return self.objective.x_star if self.objective.convex else self.objective.x0

    def noise_center(self, x: torch.Tensor) -> torch.Tensor:
        """The point c where additive noise has level exactly sigma: x* (x0 if nonconvex)."""
        key = ("center", x.dtype, x.device)
        c = self._c._cache.get(key)
        if c is None:
            c = self._reference_point().to(x)
            self._c._cache[key] = c
        return c

    def region_radius(self) -> float:
        """Radius of the region sigma is declared over: D (the domain's diameter, or
        ||x0 - x*|| for unbounded domains), which bounds ||x - x*|| on the domain."""
        return self.objective.D

    # -- oracle calls ---------------------------------------------------------------------

    def draw(self, stream, workers=None, dtype=torch.float64) -> Sample:
        """Draw the randomness of one call for ``len(stream)`` runs: ``workers`` (R, k) or
        None for all m workers.

        Worker i of run r draws from ``stream[r].fold(i)``: its sample depends only on the
        run's stream and its own index, not on which other workers are called with it (the
        synchronous and asynchronous simulators rely on this). ``stream`` may also carry one
        key per (run, worker) already, shape (R, k), e.g. folded with per-worker step counts.
        """
        self._check_workers(workers)
        return self._draw(stream, workers, dtype)

    def _draw(self, stream, workers, dtype) -> Sample:
        """:meth:`draw` for worker indices known to be valid (the simulator's, from arrivals
        validated by its Plan): checking their range would synchronize a GPU at every step."""
        if workers is None:
            workers_keyed = torch.arange(self.m, device=stream.device).expand(len(stream), self.m)
        else:
            if workers.shape[0] != len(stream):
                _checks.fail("Oracle.draw", "workers", f"have one row per run, shape ({len(stream)}, k)", workers)
            workers_keyed = workers.to(stream.device)
        if stream.shape not in ((len(stream),), tuple(workers_keyed.shape)):
            _checks.fail("Oracle.draw", "stream", f"have one key per run, or one per (run, worker) "
                         f"{tuple(workers_keyed.shape)}", stream.shape)
        return Sample(workers, self.noise.draw(stream.fold(workers_keyed), self, workers, dtype))

    def grad(self, x: torch.Tensor, sample: Sample) -> torch.Tensor:
        """Stochastic gradients at x for the workers of ``sample``: (R, k, d)."""
        _checks.last_dim("Oracle.grad", "x", x, self.d)
        if x.dim() != 3:
            _checks.fail("Oracle.grad", "x", "have shape (R, k, d) or (R, 1, d)", x)
        g = self.noise.grad(self, x, sample.drawn, sample.workers)
        R = x.shape[0]
        return g.expand(R, self.k(sample.workers), self.d)

    def sample_indices(self, stream, workers, b: int) -> torch.Tensor:
        """Mini-batch sample indices (R, k, b), with replacement, from each worker's
        distribution (uniform on its shard, or the finite sum's sample weights), given a
        stream with one key per (run, worker)."""
        obj = self.objective
        if self._P is not None:
            starts, sizes = self._c.like("starts", stream.keys), self._c.like("sizes", stream.keys)
            if workers is not None:
                starts, sizes = starts[workers], sizes[workers]  # (R, k)
            return starts[..., None] + stream.randint(sizes[..., None], (b,))
        if self._uniform_samples:
            return stream.randint(obj.n, (b,))
        return stream.categorical(obj.sample_weights, (b,))

    # -- declared and measured constants --------------------------------------------------

    def zeta_sq(self, x: torch.Tensor) -> torch.Tensor:
        """Heterogeneity at x: (1/m) sum_i ||grad f_i(x) - grad f(x)||^2, for x (..., d)."""
        _checks.last_dim("Oracle.zeta_sq", "x", x, self.d)
        lead = x.shape[:-1]
        xx = x.reshape(-1, 1, self.d)
        g = self.worker_grad(xx)  # (N, m, d)
        return (g - self.objective.grad(xx)).square().sum(-1).mean(-1).reshape(lead)

    def sampling_constants(self, b: int) -> tuple[float, float, bool]:
        """(sigma at x*, sigma_L, sigma_L exact?) of b-sample mini-batches, maximized over workers."""
        obj = self.objective
        x = self._reference_point()
        G = obj.grad_samples(x.expand(obj.n, obj.d), torch.arange(obj.n)[:, None])  # (n, d)
        P = self._P if self._P is not None else obj.sample_weights[None, :]  # (m|1, n)
        mean = P @ G
        var = (P @ G.square().sum(-1) - mean.square().sum(-1)).clamp_min(0)  # (m|1,)
        A = obj.data.A
        if not isinstance(obj, GLM):
            # no per-sample smoothness bound is known beyond linear models (an MLP is not
            # globally smooth): sigma_L is reported as infinite, an honest "unbounded"
            sL2, exact = torch.full((P.shape[0],), math.inf, dtype=torch.float64), False
        elif isinstance(obj.loss, Squared):
            # Cov of the per-sample Hessians a a^T applied to x - y: its top eigenvalue is sigma_L^2
            a2 = A.square().sum(-1)
            M = torch.einsum("in,n,np,nq->ipq", P, a2, A, A)
            H = torch.einsum("in,np,nq->ipq", P, A, A)
            sL2 = torch.linalg.eigvalsh(M - H @ H)[:, -1].clamp_min(0)
            exact = True
        else:
            sL2 = obj.loss.curvature ** 2 * (P @ A.square().sum(-1).square())
            exact = False
        return math.sqrt(float(var.max()) / b), math.sqrt(float(sL2.max()) / b), exact

    def constants(self) -> dict:
        """Everything a bound needs: the objective's d, L, mu, D (and f*), the noise's
        sigma, sigma_star, sigma_L with exactness flags, m and zeta.

        zeta is exact for Shift heterogeneity; for data partitions it is measured at x*
        (x0 for nonconvex objectives) and flagged ``zeta_exact=False``.
        """
        out = {**self.objective.constants(), **self.noise.constants(self), "m": self.m}
        if isinstance(self.heterogeneity, Shift):
            out.update(zeta=self.heterogeneity.zeta, zeta_exact=True)
        elif isinstance(self.heterogeneity, Partition):
            out.update(zeta=math.sqrt(float(self.zeta_sq(self._reference_point()))), zeta_exact=False)
        else:
            out.update(zeta=0.0, zeta_exact=True)
        return out

    def params(self) -> dict:
        return {"objective": self.objective.spec, "noise": self.noise.params(),
                "heterogeneity": self.heterogeneity.params(), "m": self.m}

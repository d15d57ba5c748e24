"""Finite sums of losses of linear predictions: least squares, logistic, Huber, and nonconvex variants."""

from __future__ import annotations

import torch

from .. import _checks
from ..backend import Constants
from ..domains import make_domain
from . import classify
from . import data as datasets
from .base import Objective, Optimum
from .losses import Cauchy, Huber, Logistic, Loss, Softmax, Squared  # noqa: F401  (re-exported)


class GLM(datasets.FiniteSum, Objective):
    """A weighted finite sum of losses of linear predictions, with optional regularizers.

    .. math::
        f(x) = \\sum_{j=1}^n w_j\\, \\ell(X^\\top a_j;\\, y_j) + \\frac{\\lambda}{2}\\|x\\|^2
               + \\rho \\sum_k \\frac{x_k^2}{1 + x_k^2}

    ``x`` (of dimension d = p K) is the row-major flattening of X in R^{p x K}; ``A`` holds
    the rows a_j, ``sample_weights`` the w_j (summing to 1, uniform by default), ``l2`` is
    lambda and ``rho`` the weight of the nonconvex regularizer (smooth, l'' in [-rho/2, 2 rho];
    used by [CO19]-style nonconvex benchmarks). Declared constants:

    .. math:: L = c_\\ell\\, \\lambda_{\\max}(A^\\top W A) + \\lambda + 2\\rho, \\qquad
              \\mu = \\lambda + \\lambda_{\\min}(A^\\top W A)\\,[\\ell \\text{ squared}]

    with c_l the loss's curvature bound (1 squared/Huber/Cauchy, 1/4 logistic, 1/2 softmax).
    L is attained by least squares everywhere, by logistic at z = 0 and by Huber where all
    residuals are below delta. The excess is the weighted sum of per-sample Bregman
    divergences plus the regularizer's and the linear term, each nonnegative on K:

    .. math:: f(x) - f^\\star = \\sum_j w_j D_\\ell(z_j, z^\\star_j) + \\frac{\\lambda}{2}\\|x - x^\\star\\|^2
              + \\nabla f(x^\\star)^\\top (x - x^\\star)
    """

    def __init__(self, data: datasets.Dataset, loss: Loss, *, l2: float = 0.0, rho: float = 0.0,
                 sample_weights=None, domain=None, x0=None, name: str = "glm", spec=None,
                 test_data: datasets.Dataset | None = None):
        owner = type(self).__name__
        self.name = name
        self.data, self.loss = data, loss
        # a held-out split (classification): its loss and accuracy are logged as extra metrics
        self.test_data = test_data
        self.l2 = _checks.real(owner, "l2", l2, low=0)
        self.rho = _checks.real(owner, "rho", rho, low=0)
        n, p, K = data.n, data.p, loss.outputs
        self.p, self.K = p, K
        w = datasets.sample_weights(owner, sample_weights, n)
        gram = (data.A * w[:, None]).T @ data.A  # (p, p): A^T W A
        ev = torch.linalg.eigvalsh(gram)
        convex = loss.convex and self.rho == 0
        L = loss.curvature * float(ev[-1]) + self.l2 + 2 * self.rho
        mu = self.l2 + (max(float(ev[0]), 0.0) if isinstance(loss, Squared) else 0.0) if convex else 0.0
        self._gram = gram  # reused by the least-squares normal equations
        super().__init__(p * K, L, mu, convex=convex, domain=domain, x0=x0, spec=spec)
        self._c = Constants(A=data.A, y=data.y, w=w)

    # -- evaluation ----------------------------------------------------------------------

    def _logits(self, x, A):
        """Predictions (logits) A X for x (..., d) and rows A (n, p) or (..., b, p): (..., n, K)."""
        return A @ x.reshape(*x.shape[:-1], self.p, self.K)

    def _reg_value(self, x):
        out = 0.5 * self.l2 * x.square().sum(-1)
        if self.rho:
            out = out + self.rho * (x.square() / (1 + x.square())).sum(-1)
        return out

    def _reg_grad(self, x):
        out = self.l2 * x
        if self.rho:
            out = out + self.rho * 2 * x / (1 + x.square()).square()
        return out

    def value(self, x):
        self._check_x(x)
        A, y, w = (self._c.like(k, x) for k in ("A", "y", "w"))
        return self.loss.value(self._logits(x, A), y) @ w + self._reg_value(x)

    def grad_weighted(self, x, w):
        """The gradient with sample weights ``w`` of shape (..., n) in place of w_j, e.g. a
        worker's shard distribution; leading shapes of ``x`` (..., d) and ``w`` broadcast."""
        A, y = self._c.like("A", x), self._c.like("y", x)
        dz = self.loss.deriv(self._logits(x, A), y) * w[..., None]  # (..., n, K)
        g = A.T @ dz  # (..., p, K)
        return g.reshape(*g.shape[:-2], self.d) + self._reg_grad(x)

    def grad_samples(self, x, idx):
        """Mean gradient of the per-sample objectives l_j + regularizers over ``idx``.

        ``x`` (..., d) and sample indices ``idx`` (..., b) with matching leading shape;
        returns (..., d). Sampling j with probability w_j makes it unbiased for grad f.
        """
        self._check_x(x, "grad_samples")
        A, y = self._c.like("A", x), self._c.like("y", x)
        Ab = A[idx]  # (..., b, p)
        dz = self.loss.deriv(self._logits(x, Ab), y[idx])  # (..., b, K)
        g = (Ab.transpose(-1, -2) @ dz) / idx.shape[-1]  # (..., p, K)
        return g.reshape(x.shape) + self._reg_grad(x)

    def hessian(self, x):
        self._check_x(x, "hessian")
        A, y, w = (self._c.like(k, x) for k in ("A", "y", "w"))
        h = self.loss.hess(self._logits(x, A), y) * w[:, None, None]  # (n, K, K)
        H = torch.einsum("jp,jq,jkl->pkql", A, A, h).reshape(self.d, self.d)
        H = H + self.l2 * torch.eye(self.d, dtype=x.dtype, device=x.device)
        if self.rho:
            H = H + torch.diag(self.rho * (2 - 6 * x.square()) / (1 + x.square()) ** 3)
        return H

    def excess(self, x):
        self._check_x(x, "excess")
        self._require_convex("excess")
        A, y, w = (self._c.like(k, x) for k in ("A", "y", "w"))
        x_star = self.x_star.to(x)
        z_star = self._logits(x_star, A)  # (n, K)
        e = x - x_star
        g_star = self.grad(x_star)
        return (self.loss.bregman(self._logits(x, A), z_star, y) @ w + 0.5 * self.l2 * e.square().sum(-1)
                + e @ g_star)

    def _optimum(self):
        if isinstance(self.loss, Squared) and self.mu > 0:
            # least squares: the normal equations (A^T W A + l2 I) x = A^T W y, exact
            A, y, w = self.data.A, self.data.y, self.sample_weights
            H = self._gram + self.l2 * torch.eye(self.d, dtype=torch.float64)
            x = torch.linalg.solve(H, A.T @ (w * y))
            if bool(self.domain.contains(x)):
                return Optimum(x, float(self.value(x)), "closed form",
                               kkt_residual=self.kkt_residual(x))
        return super()._optimum()

    def cvxpy_objective(self, var):
        import cvxpy as cp
        X = cp.reshape(var, (self.p, self.K), order="C")
        Z = self.data.A.numpy() @ X
        return (self.sample_weights.numpy() @ self.loss.cvxpy(Z, self.data.y.numpy())
                + 0.5 * self.l2 * cp.sum_squares(var))

    # -- derived problems ------------------------------------------------------------------

    def derive(self, *, data=None, sample_weights=None, name=None, **spec) -> GLM:
        """The same loss, regularizers and domain with other data or sample weights
        (used for label flipping and data partitions); ``spec`` records what changed."""
        return GLM(self.data if data is None else data, self.loss, l2=self.l2, rho=self.rho,
                   sample_weights=self.sample_weights if sample_weights is None else sample_weights,
                   domain=self.domain, x0=self.x0, name=name or self.name, spec={**self.spec, **spec},
                   test_data=self.test_data)

    def _fingerprint(self, h):
        for t in (self.data.A, self.data.y, self.sample_weights):
            h.update(t.contiguous().numpy().tobytes())


def _glm(name, loss_for, fixed_task, *, data, l2, rho, radius, box, test_fraction=0.0, split_seed=0,
         **options) -> GLM:
    if "task" in options:
        raise TypeError(f"The objective {name!r} fixes the task ({fixed_task}); do not pass 'task'.")
    ds = datasets.load(data, task=fixed_task, **options)
    if ds.task != fixed_task:
        raise ValueError(f"The objective {name!r} needs a {fixed_task} data set; {ds.name!r} is {ds.task}.")
    # test_fraction > 0 holds out a stratified test split (classification metrics are logged)
    ds, test = classify.split(ds, test_fraction, split_seed)
    loss = loss_for(ds)
    d = ds.p * loss.outputs
    spec = {"name": name, "data": ds.spec, "l2": l2, "rho": rho, "radius": radius, "box": box,
            **loss.params()}
    return GLM(ds, loss, l2=l2, rho=rho, domain=make_domain(d, radius, box), name=name, spec=spec, test_data=test)


def least_squares(data="synthetic", *, l2: float = 0.0, radius=None, box=None, **options) -> GLM:
    """Least squares f(x) = sum_j w_j (a_j^T x - y_j)^2 / 2 + (l2/2)||x||^2 (a quadratic:
    x* in closed form when unconstrained). ``options`` go to :func:`sco.objectives.data.synthetic`."""
    return _glm("least_squares", lambda ds: Squared(), "regression", data=data, l2=l2, rho=0.0,
                radius=radius, box=box, **options)


def logistic(data="synthetic", *, l2: float = 1e-3, radius=None, box=None, **options) -> GLM:
    """Binary logistic regression; l2 > 0 (or a constraint) keeps x* finite on separable data.

    ``test_fraction`` > 0 (with ``split_seed``) holds out a stratified test split: f is the
    training loss, and the training and test loss and accuracy are logged as extra metrics."""
    return _glm("logistic", lambda ds: Logistic(), "binary", data=data, l2=l2, rho=0.0,
                radius=radius, box=box, **options)


def multiclass_logistic(data="digits", *, l2: float = 1e-3, radius=None, box=None, **options) -> GLM:
    """Multiclass (softmax) logistic regression, d = p K; ``test_fraction`` as in :func:`logistic`."""
    return _glm("multiclass_logistic", lambda ds: Softmax(ds.classes), "multiclass", data=data,
                l2=l2, rho=0.0, radius=radius, box=box, **options)


def huber(data="synthetic", *, delta: float = 1.0, l2: float = 0.0, radius=None, box=None,
          **options) -> GLM:
    """Huber regression [Hub64]; synthetic data get 10% outliers unless ``outliers`` is given."""
    if data == "synthetic":
        options.setdefault("outliers", 0.1)
    return _glm("huber", lambda ds: Huber(delta), "regression", data=data, l2=l2, rho=0.0,
                radius=radius, box=box, **options)


def nonconvex_logistic(data="synthetic", *, rho: float = 0.1, l2: float = 0.0, radius=None, box=None,
                       **options) -> GLM:
    """Logistic regression plus the nonconvex regularizer rho sum_k x_k^2 / (1 + x_k^2)."""
    rho = _checks.real("nonconvex_logistic", "rho", rho, low=0, low_open=True)
    return _glm("nonconvex_logistic", lambda ds: Logistic(), "binary", data=data, l2=l2, rho=rho,
                radius=radius, box=box, **options)


def robust_regression(data="synthetic", *, c: float = 1.0, l2: float = 0.0, radius=None, box=None,
                      **options) -> GLM:
    """Regression with the smooth nonconvex Cauchy loss; synthetic data get 10% outliers."""
    if data == "synthetic":
        options.setdefault("outliers", 0.1)
    return _glm("robust_regression", lambda ds: Cauchy(c), "regression", data=data, l2=l2, rho=0.0,
                radius=radius, box=box, **options)

"""A one-hidden-layer perceptron classifier: the nonconvex model of the real-data experiments."""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import _checks
from ..backend import Constants
from . import classify
from . import data as datasets
from .base import Objective
from .glm import Softmax

ACTIVATIONS = ("tanh", "relu")


class MLP(datasets.FiniteSum, Objective):
    """Softmax cross-entropy of a one-hidden-layer perceptron, over the parameters flattened.

    .. math::
        f(x) = \\sum_{j=1}^n w_j\\, \\ell\\big(W_2^\\top \\phi(W_1^\\top a_j + b_1) + b_2;\\, y_j\\big)
               + \\frac{\\lambda}{2}\\|x\\|^2, \\qquad x = (W_1, b_1, W_2, b_2)

    with W_1 in R^{p x H}, b_1 in R^H, W_2 in R^{H x K}, b_2 in R^K flattened row-major in
    that order (d = pH + H + HK + K), phi = tanh (smooth, default) or ReLU, l the softmax loss
    (:class:`~sco.objectives.glm.Softmax`; K = 2 for binary tasks) and lambda = ``l2``.
    It stands in for the small networks of [DL24a, §4.5] and [DL24b] on data that ship with
    scikit-learn: nonconvex, so the simulator logs ||grad f||^2 and, with a held-out split
    (``test_data``), training and test loss and accuracy.

    Forward and backward passes are written by hand with batched matmuls over any leading
    shape of ``x`` (runs, workers): ``value``/``grad`` over the whole (weighted) sample,
    ``grad_samples`` over mini-batches of indices, ``grad_weighted`` over a worker's shard.

    .. note:: An MLP is not globally smooth: ``L`` is the largest absolute Hessian
       eigenvalue at ``x0`` (power iteration on Hessian-vector products), a local estimate
       for bounds' bookkeeping, not a certified constant; sigma_L is reported as infinite.
       The start ``x0`` is a Glorot-scaled normal draw from ``init_seed`` (x = 0 is a saddle
       point: every hidden unit would stay identical).
    """

    def __init__(self, data: datasets.Dataset, *, hidden: int = 32, activation: str = "tanh", l2: float = 1e-4,
                 sample_weights=None, test_data: datasets.Dataset | None = None, init_seed: int = 0,
                 L: float | None = None, x0=None, name: str = "mlp", spec=None):
        owner = "MLP"
        if data.task == "regression":
            _checks.fail(owner, "data", "be a classification data set (binary or multiclass)", data.name)
        self.name = name
        self.data, self.test_data = data, test_data
        self.hidden = _checks.integer(owner, "hidden", hidden, low=1)
        self.activation = _checks.one_of(owner, "activation", activation, set(ACTIVATIONS))
        self.l2 = _checks.real(owner, "l2", l2, low=0)
        self.init_seed = _checks.integer(owner, "init_seed", init_seed, low=0)
        self.loss = Softmax(data.classes if data.task == "multiclass" else 2)
        self.p, self.K = data.p, self.loss.outputs
        p, H, K = self.p, self.hidden, self.K
        self._sizes = (p * H, H, H * K, K)
        d = sum(self._sizes)
        n = data.n
        w = datasets.sample_weights(owner, sample_weights, n)
        self._c = Constants(A=data.A, y=data.y, w=w)
        if x0 is None:
            rng = np.random.default_rng(self.init_seed)
            x0 = np.concatenate([rng.standard_normal(p * H) / math.sqrt(p), np.zeros(H),
                                 rng.standard_normal(H * K) / math.sqrt(H), np.zeros(K)])
        x0 = torch.as_tensor(x0, dtype=torch.float64)
        # the base class validates x0 and L; L is estimated after, once the data are in place
        super().__init__(d, 1.0 if L is None else L, 0.0, convex=False, domain=None, x0=x0, spec=spec)
        if L is None:
            self.L = self._curvature(self.x0)

    # -- the network, batched over the leading shape of x -----------------------------------

    def _unpack(self, x):
        """W1 (..., p, H), b1 (..., H), W2 (..., H, K), b2 (..., K) from x (..., d)."""
        W1, b1, W2, b2 = torch.split(x, self._sizes, dim=-1)
        lead = x.shape[:-1]
        return W1.reshape(*lead, self.p, self.hidden), b1, W2.reshape(*lead, self.hidden, self.K), b2

    def _phi(self, z):
        return torch.tanh(z) if self.activation == "tanh" else torch.relu(z)

    def _forward(self, x, A):
        """Logits (..., n, K) and the hidden pre-activations and activations (..., n, H), for
        features A (n, p) shared by every leading index or (..., n, p) per index."""
        W1, b1, W2, b2 = self._unpack(x)
        Z1 = A @ W1 + b1[..., None, :]  # (..., n, H)
        H1 = self._phi(Z1)
        return H1 @ W2 + b2[..., None, :], Z1, H1  # (..., n, K)

    def _logits(self, x, A):
        return self._forward(x, A)[0]

    def _backward(self, x, A, dz, Z1, H1):
        """The gradient (..., d) of sum_j <dz_j, logits_j> (dz already weighted) plus the l2 term."""
        _, _, W2, _ = self._unpack(x)
        gW2 = H1.transpose(-1, -2) @ dz  # (..., H, K)
        dH = dz @ W2.transpose(-1, -2)  # (..., n, H)
        dZ = dH * (1 - H1.square()) if self.activation == "tanh" else dH * (Z1 > 0).to(dH.dtype)
        gW1 = A.transpose(-1, -2) @ dZ  # (..., p, H)
        lead = dz.shape[:-2]
        g = torch.cat([gW1.reshape(*lead, -1), dZ.sum(-2), gW2.reshape(*lead, -1), dz.sum(-2)], dim=-1)
        return g + self.l2 * x

    # -- the Objective interface --------------------------------------------------------------

    def value(self, x):
        self._check_x(x)
        A, y, w = (self._c.like(k, x) for k in ("A", "y", "w"))
        return self.loss.value(self._logits(x, A), y) @ w + 0.5 * self.l2 * x.square().sum(-1)

    def grad_weighted(self, x, w):
        """The gradient with sample weights ``w`` (..., n) in place of w_j (a worker's shard)."""
        A, y = self._c.like("A", x), self._c.like("y", x)
        z, Z1, H1 = self._forward(x, A)
        dz = self.loss.deriv(z, y) * w[..., None]  # (..., n, K)
        return self._backward(x, A, dz, Z1, H1)

    def grad_samples(self, x, idx):
        """Mean gradient of the per-sample objectives over the indices ``idx`` (..., b), with
        x (..., d) of the same leading shape; returns (..., d)."""
        self._check_x(x, "grad_samples")
        A, y = self._c.like("A", x), self._c.like("y", x)
        Ab = A[idx]  # (..., b, p)
        z, Z1, H1 = self._forward(x, Ab)
        dz = self.loss.deriv(z, y[idx]) / idx.shape[-1]  # (..., b, K)
        return self._backward(x, Ab, dz, Z1, H1)

    def _curvature(self, x, iters: int = 30) -> float:
        """Largest |eigenvalue| of the Hessian at x by power iteration (Hessian-vector
        products by autograd through :meth:`grad`)."""
        v = torch.ones(self.d, dtype=torch.float64) / math.sqrt(self.d)
        lam = 0.0
        for _ in range(iters):
            z = x.detach().clone().requires_grad_(True)
            (hv,) = torch.autograd.grad(self.grad(z) @ v, z)
            lam = float(hv.norm())
            if lam == 0:
                break
            v = hv / lam
        return max(lam, torch.finfo(torch.float64).eps)

    # -- derived problems ------------------------------------------------------------------

    def derive(self, *, data=None, sample_weights=None, name=None, **spec) -> MLP:
        """The same network, start and regularizer with other data or sample weights."""
        return MLP(self.data if data is None else data, hidden=self.hidden, activation=self.activation, l2=self.l2,
                   sample_weights=self.sample_weights if sample_weights is None else sample_weights,
                   test_data=self.test_data, init_seed=self.init_seed, L=self.L, x0=self.x0,
                   name=name or self.name, spec={**self.spec, **spec})

def _dataset(data, options) -> datasets.Dataset:
    """A classification data set without the intercept column (the network has biases)."""
    if isinstance(data, datasets.Dataset):
        return data
    _checks.one_of("mlp", "data", data, {"synthetic", "breast_cancer", "digits", "digits_binary"})
    if data == "synthetic":
        options = {"task": "multiclass", **options}
        if options["task"] == "regression":
            _checks.fail("mlp", "task", "be 'binary' or 'multiclass'", "regression")
        return datasets.synthetic(**options)
    if options:
        _checks.fail("mlp", "options", f"be empty for the bundled data set {data!r}", options)
    if data == "breast_cancer":
        return datasets.breast_cancer(intercept=False)
    return datasets.digits(binary=data == "digits_binary", intercept=False)


def mlp(data="synthetic", *, hidden: int = 32, activation: str = "tanh", l2: float = 1e-4, test_fraction: float = 0.0,
        split_seed: int = 0, init_seed: int = 0, **options) -> MLP:
    """A one-hidden-layer perceptron (:class:`MLP`) on a classification data set:
    "breast_cancer", "digits", "digits_binary" or "synthetic" (``options`` go to
    :func:`sco.objectives.data.synthetic`, multiclass by default). ``test_fraction`` > 0 holds
    out a stratified test split from ``split_seed`` (:func:`sco.objectives.classify.split`)."""
    ds = _dataset(data, dict(options))
    train, test = classify.split(ds, test_fraction, split_seed)
    spec = {"name": "mlp", "data": train.spec, "hidden": hidden, "activation": activation, "l2": l2,
            "init_seed": init_seed}
    return MLP(train, hidden=hidden, activation=activation, l2=l2, test_data=test, init_seed=init_seed,
               name="mlp", spec=spec)

"""ByzFL's constructors, inputs and output shapes over sco's aggregators and attacks (a drop-in for [ByzFL] v0.0.11)."""

from __future__ import annotations

import functools
import importlib.util
import math
import sys
import types

import numpy as np
import torch

from .. import _checks
from ..aggregators import bucketing, centered_clipping, cwmed, cwtm, krum, mean, multi_krum, nnm, rfa
from ..attacks import alie, gaussian, ipm, mimic, non_finite, sign_flip
from ..random import Stream

# How each class maps to sco (ByzFL's defaults kept):
#   Average -> mean; Median -> cwmed (numpy's median); TrMean(f) -> cwtm(lam=f/n);
#   GeometricMedian(nu, T) -> rfa(T=T, nu=nu); Krum(f), MultiKrum(f) -> krum/multi_krum(lam=f/n,
#   neighbors="byzfl"); CenteredClipping(m, L, tau) -> centered_clipping(center=m, tau, iters=L);
#   NNM(f) -> nnm's mixing; Bucketing(s) -> bucketing's bucket means;
#   SignFlipping, InnerProductManipulation(tau), ALittleIsEnough(tau), Mimic(epsilon), Inf,
#   Gaussian(mu, sigma) -> sign_flip, ipm(eps=tau), alie(z=-tau), mimic(target=epsilon),
#   non_finite(value=inf), gaussian(mu, sigma), one Byzantine row returned as (d,).


def _as_tensor(owner: str, vectors):
    """``vectors`` as a floating tensor (..., n, d), and how to give a result back in the
    caller's type: a numpy array for numpy input (or a list of arrays), a tensor otherwise."""
    name = "vectors"
    if isinstance(vectors, (list, tuple)):
        if not vectors:
            _checks.fail(owner, name, "hold at least one vector", vectors)
        if all(isinstance(v, np.ndarray) for v in vectors):
            vectors = np.stack(vectors)
        elif all(isinstance(v, torch.Tensor) for v in vectors):
            vectors = torch.stack(list(vectors))
        else:
            _checks.fail(owner, name, "be a list of numpy arrays or a list of torch tensors, not a mix",
                         [type(v).__name__ for v in vectors], kind=TypeError)
    if isinstance(vectors, np.ndarray):
        if vectors.dtype.kind not in "fiub":
            _checks.fail(owner, name, "hold real numbers", vectors.dtype, kind=TypeError)
        x = torch.from_numpy(np.ascontiguousarray(vectors if vectors.dtype.kind == "f" else vectors.astype(np.float64)))
        back = _to_numpy
    elif isinstance(vectors, torch.Tensor):
        x = vectors if vectors.is_floating_point() else vectors.to(torch.get_default_dtype())
        back = _identity
    else:
        _checks.fail(owner, name, "be a numpy array, a torch tensor, or a list of 1-D arrays or tensors",
                     type(vectors).__name__, kind=TypeError)
    if x.dim() < 2:
        _checks.fail(owner, name, "have shape (n, d): one row per worker", x,
                     hint="Pass a 2-D array or a list of 1-D vectors.")
    return x, back


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


def _f(owner: str, f) -> int:
    return _checks.integer(owner, "f", f, low=0)


def _lam(owner: str, f: int, x: torch.Tensor) -> float:
    """ByzFL's condition 2f < n, as sco's Byzantine fraction lam = f/n."""
    n = x.shape[-2]
    if 2 * f >= n:
        _checks.fail(owner, "f", f"satisfy 2f < n, the number of vectors (here n={n})", f,
                     hint="ByzFL tolerates fewer than half Byzantine vectors.")
    return f / n


def _seed(owner: str, seed) -> int:
    """An explicit seed, or one drawn from torch's global generator (so torch.manual_seed
    makes the draws reproducible, as it does for ByzFL's torch path)."""
    if seed is None:
        return int(torch.randint(0, 2**62, (), dtype=torch.int64))
    return _checks.integer(owner, "seed", seed, low=0)


class _Rule:
    """A ByzFL-style callable: parameters at construction, ``obj(vectors)`` -> result in the
    input's type (numpy in, numpy out; tensors keep their dtype and device)."""

    def __call__(self, vectors):
        x, back = _as_tensor(type(self).__name__, vectors)
        return back(self._apply(x))

    def _apply(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - every rule defines it
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


# -- aggregators: (n, d) -> (d,) ----------------------------------------------------------------


class Average(_Rule):
    """The mean of the vectors (ByzFL ``Average``; :func:`sco.aggregators.mean`)."""

    def _apply(self, x):
        return mean(x)


class Median(_Rule):
    """Coordinate-wise median, the middle two averaged for even n (ByzFL ``Median``, numpy's
    median; :func:`sco.aggregators.cwmed`)."""

    def _apply(self, x):
        return cwmed(x)


class TrMean(_Rule):
    """Coordinate-wise trimmed mean dropping the f largest and f smallest values (ByzFL
    ``TrMean(f)``; :func:`sco.aggregators.cwtm` with ``lam = f/n``) [YCRB18]."""

    def __init__(self, f: int = 0):
        self.f = _f("TrMean", f)

    def _apply(self, x):
        return cwtm(x, lam=_lam("TrMean", self.f, x))


class GeometricMedian(_Rule):
    """``T`` smoothed Weiszfeld steps from zero with smoothing ``nu`` (ByzFL
    ``GeometricMedian(nu=0.1, T=3)``; :func:`sco.aggregators.rfa`) [PKH22]."""

    def __init__(self, nu: float = 0.1, T: int = 3):
        self.nu = _checks.real("GeometricMedian", "nu", nu, low=0)
        self.T = _checks.integer("GeometricMedian", "T", T, low=0)

    def _apply(self, x):
        return rfa(x, T=self.T, nu=self.nu)


class Krum(_Rule):
    """The vector with the smallest sum of squared distances to its n - f - 1 nearest others
    (ByzFL ``Krum(f)``; :func:`sco.aggregators.krum` with ``neighbors="byzfl"``) [BEGS17]."""

    def __init__(self, f: int = 0):
        self.f = _f("Krum", f)

    def _apply(self, x):
        return krum(x, lam=_lam("Krum", self.f, x), neighbors="byzfl")


class MultiKrum(_Rule):
    """The mean of the n - f vectors of smallest Krum score (ByzFL ``MultiKrum(f)``;
    :func:`sco.aggregators.multi_krum` with ``neighbors="byzfl"``) [BEGS17]."""

    def __init__(self, f: int = 0):
        self.f = _f("MultiKrum", f)

    def _apply(self, x):
        return multi_krum(x, lam=_lam("MultiKrum", self.f, x), neighbors="byzfl")


class CenteredClipping(_Rule):
    r"""Centered clipping [KHJ21] around the previous output, ``L`` iterations, radius ``tau``
    (ByzFL ``CenteredClipping(m=None, L=1, tau=100.0)``; :func:`sco.aggregators.centered_clipping`).

    .. note:: ByzFL's object keeps the center between calls: :math:`v_0` = ``m`` (zeros when
       None) at the first call, then the previous output. This drop-in does the same and keeps
       it in the attribute ``m`` (in the input's type; set it, or set it to None to restart).
       sco's core rule holds no state: ``centered_clipping(x, center=v, tau=..., iters=...)``
       takes the center explicitly, and the simulator passes the previous aggregate. ByzFL
       0.0.11 raises TypeError for any ``m`` given to its constructor (its type check can
       never pass); here a numpy array or tensor of shape (d,) is accepted.
    """

    def __init__(self, m=None, L: int = 1, tau: float = 100.0):
        if m is not None and not isinstance(m, (np.ndarray, torch.Tensor)):
            _checks.fail("CenteredClipping", "m", "be None, a numpy array or a torch tensor", type(m).__name__,
                         kind=TypeError)
        self.m = m
        self.L = _checks.integer("CenteredClipping", "L", L, low=0)
        self.tau = _checks.real("CenteredClipping", "tau", tau, low=0, low_open=True)

    def __call__(self, vectors):
        x, back = _as_tensor("CenteredClipping", vectors)
        if self.m is None:
            center = torch.zeros(x.shape[-1], dtype=x.dtype, device=x.device)
        else:
            center = torch.as_tensor(self.m).to(dtype=x.dtype, device=x.device)
        out = centered_clipping(x, center=center, tau=self.tau, iters=self.L)
        self.m = back(out)
        return self.m


# -- pre-aggregators: (n, d) -> (n', d) ---------------------------------------------------------


def _rows(x, weights=None, *, lam):
    """The identity "aggregator": a meta-aggregator applied to it returns its own rows."""
    return x


class NNM(_Rule):
    """Nearest-neighbour mixing [AFG+23]: each vector replaced by the mean of its n - f nearest
    vectors, itself included (ByzFL ``NNM(f)``; the mixing step of :func:`sco.aggregators.nnm`).
    Returns (n, d). Ties in distance go to the lower index (ByzFL: argpartition's order)."""

    def __init__(self, f: int = 0):
        self.f = _f("NNM", f)
        self._mix = nnm(_rows)

    def _apply(self, x):
        n = x.shape[-2]
        if self.f >= n:
            _checks.fail("NNM", "f", f"be smaller than the number of vectors n={n}", self.f)
        return self._mix(x, lam=self.f / n)


class Bucketing(_Rule):
    """Bucketing [KHJ22]: the means of ceil(n/s) buckets of ``s`` vectors after a random
    permutation, the last bucket possibly smaller (ByzFL ``Bucketing(s)``; the bucket means of
    :func:`sco.aggregators.bucketing`). Returns (ceil(n/s), d).

    .. note:: ByzFL permutes with numpy's or torch's global generator. Here call k uses
       ``Stream([seed]).fold("Bucketing", k)``: ``seed`` fixed, or drawn once from torch's global
       generator when None (``torch.manual_seed`` then makes the buckets reproducible).
    """

    def __init__(self, s: int = 1, *, seed: int | None = None):
        self.s = _checks.integer("Bucketing", "s", s, low=1)
        self.seed = _seed("Bucketing", seed)
        self._calls = 0
        self._means = bucketing(_rows, s=self.s)

    def _apply(self, x):
        self._calls += 1
        return self._means(x, lam=0.0, generator=Stream([self.seed]).fold("Bucketing", self._calls))


# -- attacks: honest (h, d) -> one Byzantine vector (d,) ------------------------------------------


class _Attack(_Rule):
    def __call__(self, honest_vectors):
        x, back = _as_tensor(type(self).__name__, honest_vectors)
        return back(self._apply(x))

    def _apply(self, x):
        return self._row(x, n_byz=1).squeeze(-2)  # ByzFL returns one vector; the f Byzantine workers send it


class SignFlipping(_Attack):
    """Minus the honest mean (ByzFL ``SignFlipping``; :func:`sco.attacks.sign_flip`)."""

    def _row(self, x, n_byz):
        return sign_flip(x, n_byz=n_byz)


class InnerProductManipulation(_Attack):
    """IPM [XKG20]: -tau times the honest mean (ByzFL ``InnerProductManipulation(tau=2.0)``;
    :func:`sco.attacks.ipm` with ``eps = tau``)."""

    def __init__(self, tau: float = 2.0):
        self.tau = _checks.real("InnerProductManipulation", "tau", tau)

    def _row(self, x, n_byz):
        return ipm(x, n_byz=n_byz, eps=self.tau)


class ALittleIsEnough(_Attack):
    """ALIE [BBG19]: the honest mean plus tau times the coordinate-wise standard deviation
    (ddof = 1) (ByzFL ``ALittleIsEnough(tau=1.5)``; :func:`sco.attacks.alie` with ``z = -tau``)."""

    def __init__(self, tau: float = 1.5):
        self.tau = _checks.real("ALittleIsEnough", "tau", tau)

    def _row(self, x, n_byz):
        return alie(x, n_byz=n_byz, z=-self.tau)


class Mimic(_Attack):
    """A copy of honest vector number ``epsilon`` (ByzFL ``Mimic(epsilon=0)``; :func:`sco.attacks.mimic`)."""

    def __init__(self, epsilon: int = 0):
        self.epsilon = _checks.integer("Mimic", "epsilon", epsilon, low=0)

    def _row(self, x, n_byz):
        h = x.shape[-2]
        if self.epsilon >= h:
            _checks.fail("Mimic", "epsilon", f"be smaller than the number of honest vectors ({h})", self.epsilon)
        return mimic(x, n_byz=n_byz, target=self.epsilon)


class Inf(_Attack):
    """A vector of +inf (ByzFL ``Inf``; :func:`sco.attacks.non_finite` with ``value=inf``)."""

    def _row(self, x, n_byz):
        return non_finite(x, n_byz=n_byz, value=math.inf)


class Gaussian(_Attack):
    """A draw from N(mu, sigma^2 I_d) (ByzFL ``Gaussian(mu=0.0, sigma=1.0)``; :func:`sco.attacks.gaussian`).

    .. note:: Call k draws from ``Stream([seed]).fold("Gaussian", k)`` (``seed`` drawn once from
       torch's global generator when None), where ByzFL uses numpy's or torch's global generator.
    """

    def __init__(self, mu: float = 0.0, sigma: float = 1.0, *, seed: int | None = None):
        self.mu = _checks.real("Gaussian", "mu", mu)
        self.sigma = _checks.real("Gaussian", "sigma", sigma, low=0)
        self.seed = _seed("Gaussian", seed)
        self._calls = 0

    def _row(self, x, n_byz):
        self._calls += 1
        return gaussian(x, n_byz=n_byz, mu=self.mu, sigma=self.sigma,
                        generator=Stream([self.seed]).fold("Gaussian", self._calls))


@functools.cache
def original():
    """ByzFL's own classes (aggregators, pre-aggregators, attacks) when ByzFL is installed, else None.

    For parity checks and benchmarks against the peer library. ``import byzfl`` also imports its
    federated-learning framework, which needs torchvision and seaborn; the classes need neither,
    so the package is opened without running its ``__init__`` (install it with
    ``pip install --no-deps byzfl==0.0.11``).
    """
    if "byzfl" not in sys.modules:
        spec = importlib.util.find_spec("byzfl")
        if spec is None:
            return None
        pkg = types.ModuleType("byzfl")
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules["byzfl"] = pkg
    from byzfl.aggregators import aggregators, preaggregators
    from byzfl.attacks import attacks
    return types.SimpleNamespace(**{k: getattr(mod, k) for mod in (aggregators, preaggregators, attacks)
                                    for k in dir(mod) if k[0].isupper()})


__all__ = ["ALittleIsEnough", "Average", "Bucketing", "CenteredClipping", "GeometricMedian", "Gaussian", "Inf",
           "InnerProductManipulation", "Krum", "Median", "Mimic", "MultiKrum", "NNM", "SignFlipping", "TrMean"]

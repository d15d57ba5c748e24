"""Statistics of the honest rows that attacks are built from, each computed per run of a batch."""

from __future__ import annotations

import math

import torch

from . import _checks


def check(owner: str, honest, honest_weights, n_byz):
    """Validate an attack's common arguments; returns ``n_byz`` and the weights (..., h) or None."""
    if not isinstance(honest, torch.Tensor) or not honest.is_floating_point():
        _checks.fail(owner, "honest", "be a floating-point torch.Tensor of shape (..., h, d)", honest,
                     kind=TypeError)
    if honest.dim() < 2 or honest.shape[-2] < 1:
        _checks.fail(owner, "honest", "have shape (..., h, d) with h >= 1", honest,
                     hint="Stack the honest worker vectors along dim -2.")
    n_byz = _checks.integer(owner, "n_byz", n_byz, low=0)
    w = None
    if honest_weights is not None:
        if not isinstance(honest_weights, torch.Tensor):
            _checks.fail(owner, "honest_weights", "be None or a tensor of shape (..., h)", honest_weights,
                         kind=TypeError)
        try:
            w = honest_weights.to(honest.dtype).expand(honest.shape[:-1])
        except RuntimeError:
            _checks.fail(owner, "honest_weights", f"broadcast to {tuple(honest.shape[:-1])}", honest_weights)
        if (w < 0).any() or not torch.isfinite(w).all() or (w.sum(-1) <= 0).any():
            _checks.fail(owner, "honest_weights", "be finite, nonnegative, with a positive total", honest_weights)
    return n_byz, w


def rows(v: torch.Tensor, n_byz: int) -> torch.Tensor:
    """One vector (..., d) as ``n_byz`` identical Byzantine rows (..., n_byz, d)."""
    return v.unsqueeze(-2).expand(*v.shape[:-1], n_byz, v.shape[-1]).clone()


def weights_of(honest: torch.Tensor, honest_weights: torch.Tensor | None) -> torch.Tensor:
    """The honest weights expanded to (..., h), ones when None."""
    if honest_weights is None:
        return torch.ones(honest.shape[:-1], dtype=honest.dtype, device=honest.device)
    return honest_weights.to(honest.dtype).expand(honest.shape[:-1])


def weighted_mean(honest: torch.Tensor, honest_weights: torch.Tensor | None = None) -> torch.Tensor:
    r"""The honest target :math:`\bar x_G = \sum_i s_i x_i / \sum_i s_i`: (..., h, d) -> (..., d)."""
    w = weights_of(honest, honest_weights)
    return (w.unsqueeze(-1) * honest).sum(-2) / w.sum(-1, keepdim=True)


def honest_stats(honest: torch.Tensor, honest_weights: torch.Tensor | None = None, *, std: str = "unbiased"):
    r"""Weighted mean and coordinate-wise standard deviation of the honest rows, per run.

    .. math::

        \mu = \frac{\sum_i s_i x_i}{V_1},\qquad
        \sigma^2 = \frac{\sum_i s_i (x_i - \mu)^2}{V_1 - V_2/V_1}\ (\text{std="unbiased"}),\qquad
        \sigma^2 = \frac{\sum_i s_i (x_i - \mu)^2}{V_1}\ (\text{std="population"})

    with :math:`V_1 = \sum_i s_i,\ V_2 = \sum_i s_i^2`. "unbiased" is the estimate with
    reliability weights: equal weights give ``std(ddof=1)``, as ``torch.std`` in the
    authors' synchronous code [DL24a-code, alie.py] and ByzFL; scaling the weights changes
    nothing, and a single honest row has :math:`\sigma = 0`. "population" is the weighted
    std of the authors' asynchronous code [DL24b-code, attacks/alie.py] (equal weights give
    ``std(ddof=0)``).
    """
    _checks.one_of("honest_stats", "std", std, {"unbiased", "population"})
    w = weights_of(honest, honest_weights)
    V1 = w.sum(-1, keepdim=True)
    mu = weighted_mean(honest, w)  # (..., d)
    dev2 = (w.unsqueeze(-1) * (honest - mu.unsqueeze(-2)) ** 2).sum(-2)  # (..., d)
    denom = V1 if std == "population" else V1 - (w * w).sum(-1, keepdim=True) / V1
    var = torch.where(denom > 0, dev2 / torch.where(denom > 0, denom, torch.ones_like(denom)), torch.zeros_like(dev2))
    return mu, var.sqrt()


def spread(honest: torch.Tensor, honest_weights: torch.Tensor | None = None) -> torch.Tensor:
    r""":math:`\rho = \big(\frac{1}{V_1}\sum_i s_i \|x_i - \bar x_G\|^2\big)^{1/2}`, shape (...)."""
    w = weights_of(honest, honest_weights)
    mu = weighted_mean(honest, w)
    return ((w * ((honest - mu.unsqueeze(-2)) ** 2).sum(-1)).sum(-1) / w.sum(-1)).sqrt()


def alie_z(n, f):
    r"""ALIE's :math:`z_{\max} = \Phi^{-1}\big(\frac{n - f - s}{n - f}\big)`, :math:`s = \lfloor n/2 + 1\rfloor - f`
    [BBG19], as the authors' code computes it ([DL24a-code, alie.py]). (17, 8) gives 1.2206.

    Weighted (the authors' asynchronous code [DL24b-code, attacks/alie.py]): n = total weight
    (updates), f = Byzantine weight. Floats give a float; tensors (one n and f per run) a
    float64 tensor of z per run, so that no run's z depends on the others of its batch.
    """
    if not isinstance(n, torch.Tensor) and not isinstance(f, torch.Tensor):
        n = _checks.real("alie_z", "n", n, low=0.0, low_open=True)
        f = _checks.real("alie_z", "f", f, low=0.0)
        if f >= n:
            _checks.fail("alie_z", "f", f"be < n={n}", f)
        s = math.floor(n / 2 + 1) - f
        p = min(max((n - f - s) / (n - f), 1e-12), 1 - 1e-12)
        return float(torch.special.ndtri(torch.tensor(p, dtype=torch.float64)))
    n, f = (torch.as_tensor(v, dtype=torch.float64) for v in (n, f))
    n, f = torch.broadcast_tensors(n, f)
    if not (torch.isfinite(n).all() and torch.isfinite(f).all()) or (n <= 0).any() or (f < 0).any() or (f >= n).any():
        _checks.fail("alie_z", "f", "be finite with 0 <= f < n, n > 0, in every run", f)
    s = torch.floor(n / 2 + 1) - f
    p = ((n - f - s) / (n - f)).clamp(1e-12, 1 - 1e-12)
    return torch.special.ndtri(p)

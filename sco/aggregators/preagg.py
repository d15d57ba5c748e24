"""Clipping pre-aggregators: adaptive robust clipping (ARC) and static clipping, composed over a base rule."""

from __future__ import annotations

import math

import torch

from .. import _checks
from ._core import (Aggregator, as_aggregator, byzantine_mass, check_lam, check_weights, check_x, dispatch,
                    unit_weights)
from .meta import _options_suffix


def _norms(x: torch.Tensor) -> torch.Tensor:
    """Row norms (..., m); a finite row whose squared norm overflows (1e300) is rescaled by its largest
    entry first, so it gets ~1e300, not inf; a row holding NaN gets +inf."""
    n = torch.linalg.vector_norm(x, dim=-1)  # (..., m), one pass
    over = torch.isinf(n)
    if bool(over.any()):
        peak = torch.linalg.vector_norm(x, ord=math.inf, dim=-1)  # (..., m): max |x_ij|
        finite = over & torch.isfinite(peak)
        safe = torch.where(finite, peak, torch.ones((), dtype=x.dtype, device=x.device))
        n = torch.where(finite, peak * torch.linalg.vector_norm(x / safe.unsqueeze(-1), dim=-1), n)
    return torch.nan_to_num(n, nan=math.inf)


def _clip(x: torch.Tensor, norms: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Rows scaled by ``min(1, threshold/||x_i||)``; ``threshold`` broadcasts to (..., m).

    A row that holds NaN or inf keeps its values (it has no finite norm to scale): the base rule
    receives it as it is, as without the pre-aggregator.
    """
    keep = ~torch.isfinite(norms) | (norms <= threshold)
    scale = torch.where(keep, 1.0, threshold / torch.where(keep, 1.0, norms))  # (..., m)
    return x * scale.unsqueeze(-1).to(x.dtype)


def _wrap(name: str, base: Aggregator, pre) -> Aggregator:
    """The base rule applied to ``pre(x, w, lam)``, with the same weights, lam and extras."""

    def fn(x, weights=None, *, lam, center=None, generator=None):
        x = check_x(name, x)
        w = check_weights(name, weights, x)
        lam = check_lam(name, lam)
        return base(dispatch(lambda x, w: pre(x, w, lam), x, w), weights, lam=lam, center=center,
                    generator=generator)

    return Aggregator(name=name, fn=fn, needs_center=base.needs_center, needs_generator=base.needs_generator)


def arc(base) -> Aggregator:
    r"""ARC, adaptive robust clipping [AGG+24]: clip the largest rows to the norm of the next one, then ``base``.

    .. math::

        k = \Big\lfloor \frac{2f}{m}(m - f) \Big\rfloor,\qquad
        \|x_{\pi(1)}\| \ge \dots \ge \|x_{\pi(m)}\|,\qquad
        y_i = \min\Big(1, \frac{\|x_{\pi(k+1)}\|}{\|x_i\|}\Big) x_i,\qquad
        \mathrm{ARC}_A(x) = A(y)

    ``base`` is :math:`A` (a function, an :class:`Aggregator` or a name), called with the same
    ``weights``, ``lam`` and extras; ``lam`` = f/m. Weighted (ours, docs/theory.md): with the rows in
    non-increasing norm (ties by index) and :math:`C_j` the cumulative weight up to row j, the
    threshold is the norm of the first row with :math:`C_j > K`,
    :math:`K = 2F(S - F)/S` (:math:`F = \lambda S`; unweighted :math:`K = 2f(m-f)/m`); every
    row above it is clipped to it. Uniform weights give the unweighted rule exactly, zero
    weight is removal, integer weights are replication (replicas share a norm).

    Guarantee: [AGG+24] prove that ARC keeps a robust base robust, and improves its guarantee
    when the honest gradients are bounded (their main theorem on ARC; statement and constants
    recalled, not checked: [R]). ARC is scale-equivariant (the threshold scales), not
    translation-equivariant (norms are taken from the origin). Rows of NaN/inf norm sort first
    and pass through unchanged (the base handles them); a finite huge row is clipped.

    .. note::
        ByzFL's ``ARC(f)`` [ByzFL, preaggregators.py] computes k as ``int((2 * f / n) * (n - f))``
        in floating point and clips in place (it mutates its input); here k comes from the
        exact mass (:func:`~sco.aggregators._core.byzantine_mass`) and the input is never
        written.
    """
    base = as_aggregator(base)

    def pre(x, w, lam):
        ww = unit_weights(x) if w is None else w
        S = ww.sum(-1)
        F = byzantine_mass(lam, S)
        K = 2 * F * (S - F) / S  # (...)
        K = torch.where((K - K.round()).abs() <= 64 * torch.finfo(torch.float64).eps * S, K.round(), K)
        norms = _norms(x)  # (..., m)
        order = torch.sort(-norms, dim=-1, stable=True).indices  # largest first, ties by index
        C = torch.cumsum(ww.gather(-1, order), -1)  # (..., m)
        first = (C <= K.unsqueeze(-1)).sum(-1, keepdim=True).clamp(max=x.shape[-2] - 1)  # (..., 1)
        threshold = norms.gather(-1, order.gather(-1, first))  # (..., 1)
        return _clip(x, norms, torch.nan_to_num(threshold, nan=math.inf))

    return _wrap(f"arc({base.name})", base, pre)


def clipping(base, c: float = 2.0) -> Aggregator:
    r"""Static clipping: scale every row to norm at most ``c``, then ``base``.

    .. math::

        y_i = \min\Big(1, \frac{c}{\|x_i\|}\Big) x_i,\qquad \mathrm{Clipping}_A(x) = A(y)

    ``c`` > 0 is the threshold (ByzFL's ``Clipping(c=2.0)`` default); ``base`` as for
    :func:`arc`. The weights pass through to the base unchanged, so every weight property of
    the base holds. Not equivariant (``c`` is absolute, norms are from the origin).

    Guarantee: none by itself (a fixed threshold biases honest rows larger than ``c``); a
    pre-processing step whose guarantee is that of the base on the clipped rows, which all lie
    in the ball of radius ``c``. Rows holding NaN/inf pass through unchanged; a finite huge row
    is clipped to norm ``c``.

    .. note::
        ByzFL's ``Clipping`` [ByzFL, preaggregators.py] mutates its input in place; ours does not.
    """
    base = as_aggregator(base)
    c = _checks.real("clipping", "c", c, low=0.0, low_open=True)
    name = "clipping" + _options_suffix({"c": c} if c != 2.0 else {}) + f"({base.name})"
    threshold = torch.tensor(c, dtype=torch.float64)
    return _wrap(name, base, lambda x, w, lam: _clip(x, _norms(x), threshold.to(x.device)))

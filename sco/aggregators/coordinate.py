"""Mean and the coordinate-wise order-statistic rules (trimmed mean, median) on one sorted-weight core."""

from __future__ import annotations

import math

import torch

from .. import _checks
from ._core import (byzantine_mass, check_lam, check_weights, check_x, combine, dispatch, drop_slivers,
                    sorted_columns)

_MEDIAN_MODES = ("lower", "upper", "interpolate")


def mean(x: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    r"""Weighted mean of the rows (not robust).

    .. math::

        \bar x = \frac{\sum_{i=1}^m s_i x_i}{\sum_{i=1}^m s_i}

    with :math:`x_i` the rows of ``x`` (..., m, d) and :math:`s_i` the ``weights`` (..., m)
    (all ones when None). Returns (..., d).

    Guarantee: none against Byzantine rows; a single row holding NaN or inf makes the output
    non-finite, and one row at 1e300 moves it by 1e300/m. It is the honest target
    :math:`\bar x_G` of every robustness definition ([AFG+23], [DL24b]; [digest] §3.4, §5.3).
    Rows with zero weight are removed (their values, even NaN, are never read into the sum).
    """
    x = check_x("mean", x)
    w = check_weights("mean", weights, x)

    def compute(x, w):
        if w is None:
            return x.mean(-2)
        return combine((w / w.sum(-1, keepdim=True)).unsqueeze(-2), x, bad=w == 0).squeeze(-2)

    return dispatch(compute, x, w)


def _interval_share(before: torch.Tensor, upto: torch.Tensor, lo, hi) -> torch.Tensor:
    """Length of the overlap of each row's weight interval [before, upto] with [lo, hi]."""
    return (upto.clamp(max=hi) - before.clamp(min=lo)).clamp_min(0)


def _cumulative_weights(x, w):
    """The core shared by the coordinate-wise rules: sorted values and cumulative weights.

    Returns ``xs`` (..., d, m), each coordinate's values in ascending order (NaN last, so a
    non-finite row is always at an end), and ``before``, ``upto`` (..., d, m) float64, the
    cumulative weight strictly before and up to each sorted value. Unweighted they are
    0, ..., m-1 and 1, ..., m, shape (m,), for every coordinate.
    """
    m = x.shape[-2]
    if w is None:
        upto = torch.arange(1, m + 1, dtype=torch.float64, device=x.device)
        return sorted_columns(x), upto - 1, upto
    xs, idx = sorted_columns(x, with_indices=True)  # (..., d, m)
    ws = w.unsqueeze(-2).expand(xs.shape).gather(-1, idx.to(x.device))  # (..., d, m)
    upto = torch.cumsum(ws, dim=-1)
    return xs.to(x.device), upto - ws, upto


def cwtm(x: torch.Tensor, weights: torch.Tensor | None = None, *, lam: float) -> torch.Tensor:
    r"""Coordinate-wise (weighted) trimmed mean [YCRB18]; weighted form [D] of [DL24b].

    Problem: estimate the honest mean when a fraction ``lam`` of the weight is Byzantine.
    For each coordinate k, sort the values :math:`x_{(1)k} \le \dots \le x_{(m)k}` with their
    weights :math:`s_{(j)}`, let :math:`C_j = \sum_{l \le j} s_{(l)}`, :math:`S = C_m`,
    :math:`F = \lambda S`, and average the weight mass that lies in :math:`[F, S - F]`:

    .. math::

        \mathrm{CWTM}_\lambda(x)_k = \frac{1}{S - 2F} \sum_{j=1}^m
            \big|[C_{j-1}, C_j] \cap [F, S-F]\big| \; x_{(j)k}

    ``x`` (..., m, d) holds the :math:`x_i`, ``weights`` (..., m) the :math:`s_i` (ones when
    None), ``lam`` is :math:`\lambda \in [0, 1/2)`. Unweighted with ``lam = f/m`` this drops
    the f smallest and f largest values of each coordinate and averages the m - 2f others,
    exactly the classic rule; a non-integer ``lam * m`` trims the boundary values fractionally.
    Uniform weights give the unweighted result exactly; integer weights give the rule on the
    rows replicated (up to rounding of the sum).

    Guarantee: (f, kappa)-robust with
    :math:`\kappa = \frac{6f}{m-2f}\big(1 + \frac{f}{m-2f}\big)` [AFG+23, Table 1] ([digest]
    §3.4, [R], an upper bound; see :func:`sco.robustness.theoretical_kappa`). The output is
    finite whenever at most ``lam`` of the weight sits on rows holding NaN, +-inf or 1e300:
    such values sort to the ends (NaN last) and fall in the trimmed mass.

    .. note::
        The weighted form is [digest] §5.3 item 3 [D]: neither the released code of [DL24b]
        nor ByzFL has it. ByzFL's ``TrMean(f)`` and the authors' ``CWTrimmedMean`` take an
        integer f; :func:`cwmed` with ``mode="interpolate"`` is this rule's limit as
        ``lam -> 1/2`` (the trimmed interval shrinks to the weight midpoint).
    """
    x = check_x("cwtm", x)
    w = check_weights("cwtm", weights, x)
    lam = check_lam("cwtm", lam)

    def compute(x, w):
        xs, before, upto = _cumulative_weights(x, w)  # (..., d, m), (m,) or (..., d, m)
        if w is None:
            m = x.shape[-2]
            S = torch.tensor(float(m), dtype=torch.float64)
            F = float(byzantine_mass(lam, S))
            lo, hi = math.floor(F), m - math.floor(F)
            if F == lo:  # the classic rule: average the m - 2f middle values
                return xs[..., lo:hi].mean(-1)
            share = _interval_share(before, upto, F, m - F)[lo:hi]  # (hi - lo,)
            return xs[..., lo:hi] @ (share / (m - 2 * F)).to(x.dtype)
        S = upto[..., -1:]  # (..., d, 1)
        F = byzantine_mass(lam, S)
        share = drop_slivers(_interval_share(before, upto, F, S - F), S)  # (..., d, m)
        kept = torch.where(share > 0, xs, torch.zeros((), dtype=xs.dtype, device=xs.device))
        return (kept * (share / (S - 2 * F)).to(x.dtype)).sum(-1)

    return dispatch(compute, x, w)


def cwmed(x: torch.Tensor, weights: torch.Tensor | None = None, *, mode: str = "interpolate") -> torch.Tensor:
    r"""Coordinate-wise (weighted) median [YCRB18]; weighted form of [DL24b].

    For each coordinate k, with the values sorted and :math:`C_j` the cumulative weight as in
    :func:`cwtm` (:math:`S = C_m`):

    .. math::

        \text{lower: } x_{(j^-)k},\ j^- = \min\{j : C_j \ge S/2\};\qquad
        \text{upper: } x_{(j^+)k},\ j^+ = \min\{j : C_j > S/2\};\qquad
        \text{interpolate: } \tfrac12\big(x_{(j^-)k} + x_{(j^+)k}\big)

    ``x`` (..., m, d) holds the :math:`x_i`, ``weights`` (..., m) the :math:`s_i`; ``mode``
    picks the convention. Unweighted, ``lower`` is the lower median (``torch.median``),
    ``interpolate`` the average of the two middle values for even m (``numpy.median``),
    ``upper`` the upper median. Selection is exact: the output is one of the input values
    (``interpolate``: the mean of two). Zero-weight rows are never selected.

    Guarantee: (f, kappa)-robust with :math:`\kappa = 4(1 + \frac{f}{m-2f})^2` [AFG+23,
    Table 1] ([digest] §3.4 [R], an upper bound); finite output whenever less than half the
    weight, in particular at most ``lam``, sits on non-finite rows.

    .. note::
        The default, ``interpolate``, is the weighted median of [DL24b, §3.2] (the first
        :math:`j` with :math:`C_j > S/2`, and the mean of :math:`x_{(j)}` and :math:`x_{(j+1)}`
        when some :math:`C_j = S/2` exactly); at equal weights it is ``numpy.median`` and
        ByzFL's ``Median``, and the limit of :func:`cwtm` as ``lam -> 1/2``. ``lower`` is
        ``torch.median``, as in the authors' synchronous ``cwmed.py`` [DL24a-code]; ``upper``
        is the authors' ``weighted_cwmed.py`` [DL24b-code] (first cumulative weight > 1/2,
        without the tie rule), which returns the upper median at equal weights and even m, so
        their weighted and unweighted rules disagree there; ours agree in every mode.
    """
    x = check_x("cwmed", x)
    w = check_weights("cwmed", weights, x)
    _checks.one_of("cwmed", "mode", mode, _MEDIAN_MODES)

    return dispatch(lambda x, w: _cwmed(x, w, mode), x, w)


def _cwmed(x: torch.Tensor, w: torch.Tensor | None, mode: str) -> torch.Tensor:
    """:func:`cwmed` on validated input (also the start and scale of the geometric median)."""
    m = x.shape[-2]
    xs, _, upto = _cumulative_weights(x, w)  # (..., d, m)
    if w is None:
        lower, upper = xs[..., (m + 1) // 2 - 1], xs[..., m // 2]
    else:
        S = upto[..., -1:]
        j_lo = (2 * upto < S).sum(-1, keepdim=True).clamp_max(m - 1)  # (..., d, 1)
        j_hi = (2 * upto <= S).sum(-1, keepdim=True).clamp_max(m - 1)
        lower, upper = xs.gather(-1, j_lo).squeeze(-1), xs.gather(-1, j_hi).squeeze(-1)
    if mode == "lower":
        return lower
    if mode == "upper":
        return upper
    return (lower + upper) / 2

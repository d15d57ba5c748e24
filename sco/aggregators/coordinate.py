"""Mean and the coordinate-wise order-statistic rules (trimmed mean, median) on one sorted-weight core."""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import _checks
from ._core import (byzantine_mass, check_lam, check_weights, check_x, combine, dispatch, drop_slivers,
                    upcast_half)
from ._kernels import SortedRows, column_tiles, cumsum, numpy_path, rows_of, searchsorted

_MEDIAN_MODES = ("lower", "upper", "interpolate")


@upcast_half
def mean(x: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    r"""Weighted mean of the rows (not robust).

    .. math::

        \bar x = \frac{\sum_{i=1}^m s_i x_i}{\sum_{i=1}^m s_i}

    with :math:`x_i` the rows of ``x`` (..., m, d) and :math:`s_i` the ``weights`` (..., m)
    (all ones when None). Returns (..., d).

    Guarantee: none against Byzantine rows; a single row holding NaN or inf makes the output
    non-finite, and one row at 1e300 moves it by 1e300/m. It is the honest target
    :math:`\bar x_G` of every robustness definition ([AFG+23], [DL24b, Def. 3.1]).
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
    """The torch form of the coordinate-wise core (other devices, autograd, small instances):
    sorted values and cumulative weights.

    Returns ``xs`` (..., d, m), each coordinate's values in ascending order (NaN last, so a
    non-finite row is always at an end), and ``before``, ``upto`` (..., d, m) float64, the
    cumulative weight strictly before and up to each sorted value. Unweighted they are
    0, ..., m-1 and 1, ..., m, shape (m,), for every coordinate.
    """
    m = x.shape[-2]
    xt = x.transpose(-1, -2)  # (..., d, m)
    if w is None:
        upto = torch.arange(1, m + 1, dtype=torch.float64, device=x.device)
        return torch.sort(xt, dim=-1).values, upto - 1, upto
    # stable: equal values in row order, as the numpy kernels (the weights then add up in the same order)
    xs, idx = torch.sort(xt, dim=-1, stable=True)  # (..., d, m)
    ws = w.unsqueeze(-2).expand(xs.shape).gather(-1, idx)  # (..., d, m)
    upto = torch.cumsum(ws, dim=-1)
    return xs, upto - ws, upto


def _flat_weights(w: torch.Tensor, m: int) -> np.ndarray:
    return w.reshape(-1, m).numpy()


@upcast_half
def cwtm(x: torch.Tensor, weights: torch.Tensor | None = None, *, lam: float) -> torch.Tensor:
    r"""Coordinate-wise (weighted) trimmed mean [YCRB18], weighted in the sense of [DL24b].

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
    :math:`\kappa = \frac{6f}{m-2f}\big(1 + \frac{f}{m-2f}\big)` [AFG+23, Table 1] (an
    upper bound, as recalled: not yet checked against the paper's table; see
    :func:`sco.robustness.theoretical_kappa`). The output is
    finite whenever at most ``lam`` of the weight sits on rows holding NaN, +-inf or 1e300:
    such values sort to the ends (NaN last) and fall in the trimmed mass.

    .. note::
        The weighted form is ours (docs/theory.md): neither the released code of [DL24b]
        nor ByzFL has it. ByzFL's ``TrMean(f)`` and the authors' ``CWTrimmedMean`` take an
        integer f; :func:`cwmed` with ``mode="interpolate"`` is this rule's limit as
        ``lam -> 1/2`` (the trimmed interval shrinks to the weight midpoint).
    """
    x = check_x("cwtm", x)
    w = check_weights("cwtm", weights, x)
    lam = check_lam("cwtm", lam)

    def compute(x, w):
        m = x.shape[-2]
        if w is None:
            F = float(byzantine_mass(lam, torch.tensor(float(m), dtype=torch.float64)))
            lo, hi = math.floor(F), m - math.floor(F)
            upto = torch.arange(lo + 1, hi + 1, dtype=torch.float64)
            coef = None if F == lo else (_interval_share(upto - 1, upto, F, m - F) / (m - 2 * F))  # (hi - lo,)
            if numpy_path(x):
                return column_tiles(x, _trimmed_tile(lo, hi, coef))
            xs = _cumulative_weights(x, None)[0][..., lo:hi]  # (..., d, hi - lo)
            # F integer: the classic rule, the mean of the m - 2f middle values
            return xs.mean(-1) if coef is None else xs @ coef.to(device=x.device, dtype=x.dtype)
        S = w.sum(-1)  # (...)
        F = byzantine_mass(lam, S)
        if numpy_path(x):
            return column_tiles(x, _weighted_trimmed_tile(w, S, F))
        xs, before, upto = _cumulative_weights(x, w)  # (..., d, m)
        S, F = S[..., None, None], F[..., None, None]
        share = drop_slivers(_interval_share(before, upto, F, S - F), S)  # (..., d, m)
        kept = torch.where(share > 0, xs, torch.zeros((), dtype=xs.dtype, device=xs.device))
        return (kept * (share / (S - 2 * F)).to(x.dtype)).sum(-1)

    return dispatch(compute, x, w)


def _trimmed_tile(lo: int, hi: int, coef: torch.Tensor | None):
    """Unweighted CWTM on a (m, c) block: sort, then the mean (or the fractional shares) of
    the sorted values lo..hi-1."""
    cf = {} if coef is None else {dt: coef.numpy().astype(dt) for dt in (np.float32, np.float64)}

    def kernel(block, b):
        a = rows_of(block)
        a.sort(axis=-1)
        mid = a[:, lo:hi]
        if coef is None:  # torch's reduction order, so that the result is the torch form's to the bit
            return torch.from_numpy(mid).mean(-1).numpy()
        return (mid * cf[a.dtype.type]).sum(-1)  # no BLAS call (its threads) inside a tile's job
    return kernel


def _weighted_trimmed_tile(w: torch.Tensor, S: torch.Tensor, F: torch.Tensor):
    """Weighted CWTM on a (m, c) block: each sorted value's weight interval [C_{j-1}, C_j]
    clipped to [F, S - F]; ``S``, ``F`` per batch row."""
    m = w.shape[-1]
    wb, Sb, Fb = _flat_weights(w, m), S.reshape(-1).numpy(), F.reshape(-1).numpy()
    sliver = 64 * np.finfo(np.float64).eps

    def kernel(block, b):
        s = SortedRows(block)
        ws = wb[b][s.index]  # (c, m)
        upto = cumsum(ws)
        S, F = Sb[b], Fb[b]
        share = np.minimum(upto, S - F) - np.maximum(upto - ws, F)  # (c, m)
        keep = share > sliver * S  # drops negatives and rounding residue, as _core.drop_slivers
        # trimmed rows may hold inf/NaN: they are never multiplied
        kept = np.multiply(share, s.values(), where=keep, out=np.zeros_like(share))
        return kept.sum(-1) / (S - 2 * F)
    return kernel


@upcast_half
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
    Table 1] (an upper bound, as recalled: not yet checked against the paper's table); finite
    output whenever less than half the
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
    if numpy_path(x):
        return column_tiles(x, _median_tile(w, m, mode))
    xs, _, upto = _cumulative_weights(x, w)  # (..., d, m)
    if w is None:
        lower, upper = xs[..., (m + 1) // 2 - 1], xs[..., m // 2]
    else:
        S = upto[..., -1:]
        j_lo = (2 * upto < S).sum(-1, keepdim=True).clamp_max(m - 1)  # (..., d, 1)
        j_hi = (2 * upto <= S).sum(-1, keepdim=True).clamp_max(m - 1)
        lower, upper = xs.gather(-1, j_lo).squeeze(-1), xs.gather(-1, j_hi).squeeze(-1)
    return _pick(lower, upper, mode).contiguous()  # not a strided view keeping xs alive


def _pick(lower, upper, mode: str):
    if mode == "lower":
        return lower
    if mode == "upper":
        return upper
    return (lower + upper) / 2


def _median_tile(w: torch.Tensor | None, m: int, mode: str):
    """CWMed on a (m, c) block: the sorted values at the lower and upper medians (weighted:
    the first positions whose cumulative weight reaches and exceeds S/2)."""
    wb = None if w is None else _flat_weights(w, m)

    def kernel(block, b):
        if wb is None:
            a = rows_of(block)
            a.sort(axis=-1)
            return _pick(a[:, (m + 1) // 2 - 1], a[:, m // 2], mode)
        s = SortedRows(block)
        upto = cumsum(wb[b][s.index])  # (c, m)
        half = upto[:, -1:] / 2  # S/2, exact: C_j < S/2 iff 2 C_j < S
        j = np.concatenate([searchsorted(upto, half, False), searchsorted(upto, half, True)], axis=-1)
        v = s.values(j.clip(max=m - 1))  # (c, 2)
        return _pick(v[:, 0], v[:, 1], mode)
    return kernel

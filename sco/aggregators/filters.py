"""Filtering rules: mean around the median (Meamed), the covariance-bound agnostic filter (CAF), MoNNA."""

from __future__ import annotations

import math
import sys

import torch

from .. import _checks
from ._core import (byzantine_mass, check_lam, check_weights, check_x, combine, dispatch, keep_nearest,
                    unit_weights)
from ._kernels import dist_to, pairwise_sqdist
from .coordinate import _MEDIAN_MODES, _cwmed


def sorted_columns(x: torch.Tensor, with_indices: bool = False):
    """Each coordinate's values sorted ascending (NaN last): (..., m, d) -> (..., d, m), and the
    original row of each sorted value with ``with_indices``."""
    s = torch.sort(x.transpose(-1, -2), dim=-1, stable=True)
    return (s.values, s.indices) if with_indices else s.values

_TAU_MAX = ("active", "all")


def meamed(x: torch.Tensor, weights: torch.Tensor | None = None, *, lam: float,
           mode: str = "interpolate") -> torch.Tensor:
    r"""Mean around the median [XKG18]: per coordinate, the mean of the m - f values nearest the median.

    .. math::

        \mathrm{Meamed}(x)_k = \frac{1}{m - f} \sum_{j=1}^{m-f} x_{\pi_k(j)k},\qquad
        |x_{\pi_k(1)k} - \mathrm{med}_k| \le \dots \le |x_{\pi_k(m)k} - \mathrm{med}_k|

    with :math:`\mathrm{med}_k` the coordinate median (:func:`~sco.aggregators.cwmed` with
    ``mode``, default the interpolating median as ByzFL's ``Meamed``). ``x`` (..., m, d),
    ``lam`` = f/m; a non-integer ``lam * m`` keeps the farthest kept value fractionally. The
    m - f nearest values are a window of the sorted coordinate, found by sliding it while its
    left end is farther from the median than the next value on the right: O(m d) after the sort,
    with no second selection. Ties in distance go to the smaller value (so the rule is
    permutation-invariant even then; ByzFL's ``argpartition``/``topk`` order is unspecified, and
    on its 3-row docstring example both keep the smaller value).

    Weighted (ours, docs/theory.md; the extension of the weighted trimmed mean): :math:`\mathrm{med}_k`
    is the weighted median and the nearest values are taken up to weight :math:`M = (1-\lambda)
    S`, the farthest fractionally; uniform weights give the unweighted rule exactly, zero weight
    is removal, integer weights are replication.

    Guarantee: [XKG18] prove "generalized Byzantine resilience" of Meamed for m > 2f (their
    dimensional-resilience theorem, not read here); no (f, kappa) coefficient is recalled (none
    used). A value that is NaN or +-inf is at infinite distance from the median and is dropped
    first, so each coordinate is finite while at most ``lam`` of the weight is on such rows.
    """
    x = check_x("meamed", x)
    w = check_weights("meamed", weights, x)
    lam = check_lam("meamed", lam)
    _checks.one_of("meamed", "mode", mode, _MEDIAN_MODES)
    m = x.shape[-2]

    def compute(x, w):
        if w is not None:  # the nearest weight mass, on the sorted values (ties: the smaller value first)
            xs, idx = sorted_columns(x, with_indices=True)  # (..., d, m)
            xs, ws = xs.to(x.device), w.unsqueeze(-2).expand(xs.shape).gather(-1, idx.to(x.device))
            M = w.sum(-1) - byzantine_mass(lam, w.sum(-1))  # (...)
            keys = (xs - _cwmed(x, w, mode).unsqueeze(-1)).abs()  # (..., d, m)
            c = keep_nearest(keys, ws, M.unsqueeze(-1).expand(keys.shape[:-1]))  # (..., d, m)
            kept = torch.where(c > 0, xs, torch.zeros((), dtype=x.dtype, device=x.device))
            return (kept * (c / M[..., None, None]).to(x.dtype)).sum(-1)
        xs = torch.nan_to_num(sorted_columns(x), nan=math.inf).to(x.device)  # (..., d, m), NaN as +inf
        lower, upper = xs[..., (m + 1) // 2 - 1], xs[..., m // 2]  # cwmed's unweighted medians
        med = {"lower": lower, "upper": upper, "interpolate": (lower + upper) / 2}[mode].unsqueeze(-1)
        M = m - float(byzantine_mass(lam, torch.tensor(float(m), dtype=torch.float64)))
        K = math.ceil(M - 64 * torch.finfo(torch.float64).eps * m)  # values kept, the farthest by M - (K - 1)
        left, right = med - xs[..., :m - K], xs[..., K:] - med  # (..., d, m - K): each start's end vs the next
        start = (left > right).sum(-1, keepdim=True)  # (..., d, 1): slides while the left end is farther
        pos = torch.arange(m, device=x.device)
        window = (pos >= start) & (pos < start + K)  # (..., d, m)
        total = torch.where(window, xs, torch.zeros((), dtype=x.dtype, device=x.device)).sum(-1)
        if K - M > 64 * torch.finfo(torch.float64).eps * m:  # the farthest kept value counts fractionally
            lo, hi = xs.gather(-1, start).squeeze(-1), xs.gather(-1, start + K - 1).squeeze(-1)
            far = torch.where(hi - med.squeeze(-1) >= med.squeeze(-1) - lo, hi, lo)  # ties: the later (right)
            total = total - (K - M) * far
        return total / M

    return dispatch(compute, x, w)


def caf(x: torch.Tensor, weights: torch.Tensor | None = None, *, lam: float, tau_max: str = "active",
        max_iter: int | None = None) -> torch.Tensor:
    r"""Covariance-bound agnostic filter, CAF [AGS25], as ByzFL states it, with exact eigenvectors.

    Start from :math:`c_i = s_i` (ones unweighted); while :math:`\sum_i c_i > S - 2F`
    (:math:`S = \sum_i s_i`, :math:`F = \lambda S`; m - 2f unweighted):

    .. math::

        \mu_c = \frac{\sum_i c_i x_i}{\sum_i c_i},\quad
        \Sigma_c = \frac{\sum_i c_i (x_i - \mu_c)(x_i - \mu_c)^\top}{\sum_i c_i},\quad
        (\lambda_{\max}, v) = \text{top eigenpair of } \Sigma_c,\quad
        \tau_i = \big((x_i - \mu_c)^\top v\big)^2,\quad
        c_i \leftarrow c_i\Big(1 - \frac{\tau_i}{\max_j \tau_j}\Big)

    and return the :math:`\mu_c` of smallest :math:`\lambda_{\max}` met. ``x`` (..., m, d),
    ``lam`` = f/m. Everything runs on the m x m matrix of squared distances (from one Gram
    product, ``_core.pairwise_sqdist``): :math:`\Sigma_c` has the nonzero eigenvalues of
    :math:`P^{1/2} B P^{1/2}` with :math:`B = -\frac12 J D J^\top` the Gram matrix of the
    rows centered at :math:`\mu_c` and :math:`P = \mathrm{diag}(c)/\sum c`, and
    :math:`\tau_i = (B P^{1/2} u)_i^2 / \lambda_{\max}` for its top eigenvector :math:`u`. Cost
    O(m^2 d) once, then O(m^3) per step (``torch.linalg.eigh``).

    ``tau_max`` is the pool of :math:`\max_j \tau_j`: ``"active"`` (default), the rows still
    carrying weight (:math:`c_j > 0`), as the filters this rule descends from; each step then
    zeroes at least one row, so it stops within m steps. ``"all"``, every row of positive
    weight, ByzFL's literal ``tau.max()``: a row zeroed earlier but far away keeps
    :math:`\max_j \tau_j` large, each step then removes little, and the step count grows with its
    distance (ByzFL takes ~4 s at m = 10, d = 5 with three rows at 1e6; at m = 13, d = 1 with
    Gaussian rows we measured over 5000 steps). ``max_iter`` caps the steps and returns the best
    mean so far (default: m for ``"active"``, where it never binds; no cap for ``"all"``, as
    ByzFL).
    Stops early when :math:`\lambda_{\max} = 0` (the weighted rows coincide: their mean is exact).

    Weighted (ours, docs/theory.md): :math:`c` starts at the weights and the budget is :math:`2F` of weight;
    uniform weights give the unweighted rule exactly, zero weight is removal (such rows are in
    no pool), integer weights are replication (replicas share :math:`\tau`). Rows whose
    distances overflow (NaN, inf, 1e300) are removed before the first step, their weight
    charged to the budget: a row at infinity would have the largest :math:`\tau` and be
    zeroed by the first step; the output is finite while at most ``lam`` of the weight is on
    them.

    Guarantee: [AGS25] prove CAF is robust without a bound on the honest covariance (their
    main aggregation result, not read here; its constant is not recalled). With lam = 0 the
    loop does not run and the output is the mean.

    .. note::
        ByzFL's ``CAF(f)`` [ByzFL, aggregators.py] estimates :math:`v` and
        :math:`\lambda_{\max}` by *one* power-iteration step from a fresh random vector
        (``np.random.randn``) at every step, so its output is random in d > 1; in d = 1 it is
        exact and equals ``tau_max="all"``. At f = 0 it returns None. The paper's text was not
        available here: the rule follows ByzFL's docstring, the only statement read.
    """
    x = check_x("caf", x)
    w = check_weights("caf", weights, x)
    lam = check_lam("caf", lam)
    _checks.one_of("caf", "tau_max", tau_max, _TAU_MAX)
    m = x.shape[-2]
    if max_iter is None:
        max_iter = m if tau_max == "active" else sys.maxsize
    max_iter = _checks.integer("caf", "max_iter", max_iter, low=0)

    def compute(x, w):
        ww = unit_weights(x) if w is None else w
        S = ww.sum(-1)
        stop = S - 2 * byzantine_mass(lam, S)  # (...)
        D, bad, scale = pairwise_sqdist(x)  # (..., m, m) in units of scale^2
        D = D.to(torch.float64) * scale.to(torch.float64)[..., None, None] ** 2
        zero = torch.zeros((), dtype=torch.float64, device=x.device)
        D = torch.where(bad.unsqueeze(-1) | bad.unsqueeze(-2), zero, D.detach().to(torch.float64))
        c = torch.where(bad, zero, ww)  # (..., m)
        eligible = (ww > 0) & ~bad
        best, best_c = torch.full(S.shape, math.inf, dtype=torch.float64, device=x.device), c
        running = c.sum(-1) > stop
        for _ in range(max_iter):
            if not bool(running.any()):
                break
            p = c / c.sum(-1, keepdim=True)  # (..., m)
            Dp = (D @ p.unsqueeze(-1)).squeeze(-1)  # (..., m)
            pDp = (p * Dp).sum(-1, keepdim=True)
            B = -0.5 * (D - Dp.unsqueeze(-1) - Dp.unsqueeze(-2) + pDp.unsqueeze(-1))  # (..., m, m)
            sp = p.sqrt()
            evals, evecs = torch.linalg.eigh(sp.unsqueeze(-1) * B * sp.unsqueeze(-2))
            top, u = evals[..., -1].clamp_min(0), evecs[..., -1]  # (...), (..., m)
            proj = (B @ (sp * u).unsqueeze(-1)).squeeze(-1)  # (..., m): (x_i - mu_c) . v times sqrt(top)
            tau = proj ** 2 / torch.where(top > 0, top, 1.0).unsqueeze(-1)
            pool = (c > 0) if tau_max == "active" else eligible
            tmax = torch.where(pool, tau, -math.inf).amax(-1)  # (...)
            better = running & (top < best)
            best = torch.where(better, top, best)
            best_c = torch.where(better.unsqueeze(-1), c, best_c)
            flat = (top <= 0) | (tmax <= 0)
            shrink = (1 - tau / torch.where(tmax > 0, tmax, 1.0).unsqueeze(-1)).clamp(0, 1)
            c = torch.where((running & ~flat).unsqueeze(-1), c * shrink, c)
            running = running & ~flat & (c.sum(-1) > stop)
        return combine((best_c / best_c.sum(-1, keepdim=True)).unsqueeze(-2), x, bad).squeeze(-2)

    return dispatch(compute, x, w)


def monna(x: torch.Tensor, weights: torch.Tensor | None = None, *, lam: float, idx: int = 0) -> torch.Tensor:
    r"""MoNNA [FGG+23]: the mean of the m - f rows nearest to a designated (trusted) row.

    .. math::

        \mathrm{MoNNA}_{\mathrm{idx}}(x) = \frac{1}{m - f} \sum_{j \in N_{\mathrm{idx}}} x_j

    with :math:`N_{\mathrm{idx}}` the m - f rows nearest to :math:`x_{\mathrm{idx}}`
    (itself included, at distance 0); ``x`` (..., m, d), ``lam`` = f/m, ``idx`` the row index
    (ByzFL's ``MoNNA(f, idx)``). Weighted (ours, docs/theory.md): the nearest rows up to weight
    :math:`(1-\lambda)S`, fractional at the boundary, averaged with their weights; uniform
    weights give the unweighted rule exactly, zero weight is removal (of other rows: the
    designated row is the center whatever its weight), integer weights are replication. Ties in
    distance go to the lower index.

    Relation to NNM and worker momentum: MoNNA is row ``idx`` of nearest-neighbour mixing,
    :math:`\mathrm{MoNNA}_i(x) = \mathrm{NNM}(x)_i` (:func:`~sco.aggregators.nnm` mixes every
    row this way before a base rule). In [FGG+23] it is a peer-to-peer rule: each honest worker i
    runs it with ``idx`` = i on the *momentums* the workers send (worker momentum
    :math:`m_t = \beta m_{t-1} + (1-\beta) g_t`, sco's ``momentum`` estimator), which is what
    lets the neighbourhood average stay near the honest mean; on raw stochastic gradients the
    same rule has no such guarantee.

    Guarantee: [FGG+23] bound the error of MoNNA with worker momentum in the decentralized
    setting (theorem numbers not checked); no server-side (f, kappa) coefficient is recalled.
    Non-finite rows are at infinite distance from a finite designated row and are never
    averaged while at most ``lam`` of the weight is on them; the designated row must be honest
    (finite): it is trusted by definition.
    """
    x = check_x("monna", x)
    w = check_weights("monna", weights, x)
    lam = check_lam("monna", lam)
    idx = _checks.integer("monna", "idx", idx, low=0, high=x.shape[-2] - 1)

    def compute(x, w):
        ww = unit_weights(x) if w is None else w
        S = ww.sum(-1)
        M = S - byzantine_mass(lam, S)  # (...)
        r = dist_to(x, x[..., idx, :])  # (..., m), 0 at idx
        c = keep_nearest(r.unsqueeze(-2), ww.unsqueeze(-2), M.unsqueeze(-1))  # (..., 1, m)
        return combine(c / M[..., None, None], x, ~torch.isfinite(r)).squeeze(-2)

    return dispatch(compute, x, w)

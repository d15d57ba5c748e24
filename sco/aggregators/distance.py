"""Distance-based rules: geometric median (Weiszfeld, RFA), Krum, Multi-Krum, centered clipping."""

from __future__ import annotations

import math

import torch

from .. import _checks
from ._core import (byzantine_mass, check_lam, check_weights, check_x, combine, dispatch, keep_nearest,
                    nearest_sum, unit_weights, upcast_half)
from . import _kernels
from ._kernels import dist_to, pairwise_sqdist
from .coordinate import _cwmed

_INITS = ("median", "zero", "mean")


@upcast_half
def geometric_median(x: torch.Tensor, weights: torch.Tensor | None = None, *, tol: float | None = None,
                     max_iter: int = 1000, eps: float = 1e-10, nu: float | None = None,
                     init="median", return_iters: bool = False):
    r"""Weighted geometric median by the Weiszfeld iteration [Wei37] with the [VZ00] correction.

    Problem: :math:`\min_z \sum_{i=1}^m s_i \|z - x_i\|`. Iteration, from :math:`z_0`, with
    :math:`N_t = \{i : \|z_t - x_i\| \le \nu\}` the rows on :math:`z_t` (within a tolerance):

    .. math::

        \beta_i = \frac{s_i}{\|z_t - x_i\|}\ (i \notin N_t), \quad
        T = \frac{\sum_{i \notin N_t} \beta_i x_i}{\sum_{i \notin N_t} \beta_i}, \quad
        \gamma = \min\Big(1, \frac{\sum_{i \in N_t} s_i}{\|\sum_{i\notin N_t} \beta_i (x_i - z_t)\|}\Big),
        \quad z_{t+1} = (1-\gamma)\, T + \gamma\, z_t

    until :math:`\|z_{t+1} - z_t\| \le \mathrm{tol}\cdot r` or ``max_iter`` steps, with
    :math:`r` the weighted median of :math:`\|z_0 - x_i\|` (a robust scale, so that ``tol``
    and :math:`\nu` are relative and the rule is scale- and translation-equivariant up to
    ``tol``). This is Weiszfeld's step with the Vardi-Zhang correction [VZ00], which
    converges from any start, also when :math:`z_t` lands on an input (plain
    Weiszfeld stalls there; the cw-median start often *is* an input). ``x`` (..., m, d) holds
    the :math:`x_i`, ``weights`` (..., m) the :math:`s_i`; :math:`\nu` = ``eps * r``. With an
    absolute ``nu`` the rule is instead the *smoothed* Weiszfeld step of [PKH22],
    :math:`\beta_i = s_i/\max(\|z_t - x_i\|, \nu)`, :math:`z_{t+1} = \sum\beta_i x_i/\sum\beta_i`,
    which minimizes a smoothed objective (:func:`rfa`). :math:`z_0`
    is ``init``: ``"median"`` (the coordinate-wise lower median, robust and equivariant,
    default), ``"zero"``, ``"mean"``, or a tensor (..., d). ``tol`` defaults to 1e-10 in
    float64 and 1e-6 otherwise. With ``return_iters`` returns ``(z, iters)``, ``iters`` (...)
    the steps each batch row used (rows stop independently).

    Guarantee: the exact geometric median is (f, kappa)-robust with
    :math:`\kappa = 4(1 + \frac{f}{m-2f})^2` [AFG+23, Table 1] (an upper bound,
    as recalled: not yet checked against the paper's table); this routine approximates it to
    ``tol`` (with an absolute ``nu``, the smoothed
    objective's minimizer instead). Rows whose distance to :math:`z_0` is not finite (NaN, inf, overflow
    from 1e300) get :math:`\beta_i = 0`, the limit of a point at infinite distance, so the
    output stays finite when at most ``lam`` < 1/2 of the weight is on such rows.

    .. note::
        ByzFL's ``GeometricMedian`` and the authors' RFA run 3 steps from :math:`z_0 = 0` with
        :math:`\nu = 0.1` (async code :math:`\nu = 0`), a coarse approximation that is not
        translation-equivariant ([ByzFL, aggregators.py], [DL24a-code, rfa.py],
        [DL24b-code, weighted_rfa.py]): that is :func:`rfa`. Where
        ``nu=0`` and :math:`z_t` coincides with an input the authors divide by zero; we take
        the limit :math:`\nu \to 0^+` (:math:`z_{t+1} = z_t`).
    """
    x = check_x("geometric_median", x)
    w = check_weights("geometric_median", weights, x)
    if tol is None:
        tol = 1e-10 if x.dtype == torch.float64 else 1e-6
    tol = _checks.real("geometric_median", "tol", tol, low=0.0)
    max_iter = _checks.integer("geometric_median", "max_iter", max_iter, low=0)
    eps = _checks.real("geometric_median", "eps", eps, low=0.0)
    if nu is not None:
        nu = _checks.real("geometric_median", "nu", nu, low=0.0)
    if isinstance(init, torch.Tensor):
        _checks.last_dim("geometric_median", "init", init, x.shape[-1])
        init = init.to(x.dtype).expand(*x.shape[:-2], x.shape[-1])  # one row per run, sliced by dispatch
    else:
        _checks.one_of("geometric_median", "init", init, _INITS)

    def compute(x, w, init):
        ww = unit_weights(x) if w is None else w
        if isinstance(init, torch.Tensor):
            z = init
        elif init == "median":
            z = _cwmed(x, w, "lower")
        elif init == "zero":
            z = torch.zeros(x.shape[:-2] + x.shape[-1:], dtype=x.dtype, device=x.device)
        else:
            z = combine((ww / ww.sum(-1, keepdim=True)).unsqueeze(-2), x, ww == 0).squeeze(-2)
        r = dist_to(x, z)  # (..., m)
        bad = ~torch.isfinite(r)
        ww = torch.where(bad, torch.zeros((), dtype=ww.dtype, device=ww.device), ww)
        if nu is None or tol > 0:
            scale = _cwmed(r.detach().unsqueeze(-1), ww, "lower").squeeze(-1).to(torch.float64)  # (...)
        else:  # fixed steps with an absolute nu (RFA): no scale is needed
            scale = torch.ones(r.shape[:-1], dtype=torch.float64, device=x.device)
        floor = torch.full_like(scale, nu) if nu is not None else eps * scale
        iters = torch.zeros(scale.shape, dtype=torch.int64, device=x.device)
        # More than half the weight at z_0 makes z_0 the geometric median (and gives r = 0).
        done = (scale == 0) | (ww.sum(-1) == 0)
        for t in range(max_iter):
            if bool(done.all()):
                break
            if t > 0:
                r = dist_to(x, z)
            rr = r.to(torch.float64)
            zero = torch.zeros((), dtype=torch.float64, device=x.device)
            if nu is None:  # Vardi-Zhang: rows on z_t leave the sum and pull with their weight eta
                near = rr <= floor.unsqueeze(-1)  # (..., m)
                beta = torch.where(near, zero, ww / torch.where(near, torch.ones_like(rr), rr))
                eta = torch.where(near, ww, zero).sum(-1)  # (...)
            else:  # smoothed: nu = 0 with z_t on an input is the limit nu -> 0+, z stays
                # a zero-weight row is removed, also when it sits on z_t (0/0 otherwise)
                beta = torch.where(ww > 0, ww / torch.maximum(rr, floor.unsqueeze(-1)), zero)
                eta = torch.where(torch.isinf(beta).any(-1), math.inf, 0.0)
                beta = torch.where(torch.isinf(beta), zero, beta)
            total = beta.sum(-1)  # (...)
            safe = torch.where(total > 0, total, torch.ones_like(total))
            T = combine((beta / safe.unsqueeze(-1)).unsqueeze(-2), x, bad).squeeze(-2)  # (..., d)
            pull = total * _gap(T, z)  # ||R(z_t)||
            gamma = torch.where(pull > 0, (eta / torch.where(pull > 0, pull, torch.ones_like(pull))).clamp(max=1), 1.0)
            gamma = torch.where(done, 1.0, gamma).to(x.dtype).unsqueeze(-1)
            z_new = (1 - gamma) * T + gamma * z
            step = _gap(z_new, z)
            iters = iters + (~done).long()
            done = done | (step <= tol * scale)
            z = z_new
        return z, iters

    z, iters = dispatch(compute, x, w, init=init)
    return (z, iters) if return_iters else z


def _gap(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``||a - b||`` (..., d) -> (...) float64, at any scale (a plain norm of a 1e-160 step underflows)."""
    return dist_to(a.detach().unsqueeze(-2), b.detach()).squeeze(-1)


@upcast_half
def rfa(x: torch.Tensor, weights: torch.Tensor | None = None, *, T: int = 3, nu: float = 0.1) -> torch.Tensor:
    r"""RFA as ByzFL and the authors run it: ``T`` smoothed Weiszfeld steps from zero [PKH22].

    .. math::

        z_0 = 0,\qquad \beta_i = \frac{s_i/\sum_l s_l}{\max(\|z_t - x_i\|, \nu)},\qquad
        z_{t+1} = \frac{\sum_i \beta_i x_i}{\sum_i \beta_i},\quad t < T

    This is :func:`geometric_median` with ``init="zero"``, ``max_iter=T``, ``tol=0`` and an
    absolute ``nu``: ByzFL's ``GeometricMedian(nu=0.1, T=3)`` and the authors' sync ``rfa.py``
    (``nu=0.1``); their async ``rfa``/``weighted_rfa`` use ``nu=0`` ([DL24b-code,
    rfa.py, weighted_rfa.py]).

    Guarantee: none proved for 3 steps (a coarse approximation of the geometric median); it is
    not translation-equivariant (which makes it a good bug detector). Rows with
    non-finite distance get zero weight (ByzFL drops rows holding inf; NaN rows make its
    output NaN).
    """
    T = _checks.integer("rfa", "T", T, low=0)
    return geometric_median(x, weights, init="zero", max_iter=T, tol=0.0, nu=nu)


_NEIGHBORS = {"blanchard": 2, "byzfl": 1}


def _krum_keys(x: torch.Tensor, w: torch.Tensor | None, lam: float, neighbors: str, owner: str):
    """Krum scores, as sort keys (rows that must never be selected get +inf), and the masses.

    Row i's score sums the squared distances to its nearest other rows up to neighbour mass
    ``S (1 - lam) - off * S / m_+`` (``m - f - off`` rows unweighted), ``off`` = 2 (Blanchard)
    or 1 (ByzFL), fractional at the boundary. Scores are in the units of
    :func:`pairwise_sqdist` (a power of two per batch row), which leaves their order as it is.
    Returns (keys (..., m), S, F, m_+): numbers when ``w`` is None, tensors (...) otherwise.
    """
    off = _NEIGHBORS[neighbors]
    m = x.shape[-2]
    if w is None:
        S, mp = float(m), float(m)
        F = byzantine_mass(lam, S)
        K = (S - F) - off
        too_few = K <= 1e-12 * S
    else:
        S = w.sum(-1)  # (...)
        F = byzantine_mass(lam, S)
        mp = (w > 0).sum(-1).to(torch.float64)
        K = (S - F) - off * S / mp
        too_few = bool((K <= 1e-12 * S).any())
    if too_few:
        _checks.fail(owner, "lam", f"leave a positive neighbour count m - f - {off} (m(1 - lam) > {off})",
                     lam, hint=f"Krum needs more than 2f + {off} workers.")
    D, bad, _ = pairwise_sqdist(x)  # (..., m, m)
    # Row i itself goes last (key +inf, distance 0): it is reached only when its neighbourhood
    # mass exceeds the other rows' total, and then adds nothing to the score.
    if w is None and not D.requires_grad:  # D is not read again: in place (a copy took 1 ms at m = 1000)
        others = D
        others.diagonal(dim1=-2, dim2=-1).fill_(math.inf)
    else:
        others = D.masked_fill(torch.eye(m, dtype=torch.bool, device=x.device), math.inf)
    if w is None:
        score = nearest_sum(others, K)  # (..., m)
    else:
        c = keep_nearest(others, w.unsqueeze(-2), K.unsqueeze(-1).expand(w.shape))  # (..., m, m)
        if not _kernels.host(x) or bool(bad.any()):  # 0 * inf would be NaN
            D = torch.where(c > 0, D, torch.zeros((), dtype=D.dtype, device=D.device))
        score = (D * c.to(D.dtype)).sum(-1)  # (..., m)
    # A finite row whose neighbourhood reaches a non-finite row still ranks before every
    # non-finite row, so the selected row is finite whenever one exists.
    score = torch.nan_to_num(score, nan=torch.finfo(score.dtype).max, posinf=torch.finfo(score.dtype).max)
    never = bad if w is None else bad | (w == 0)
    keys = torch.where(never, torch.full((), math.inf, dtype=score.dtype, device=score.device), score)
    return keys, S, F, mp


@upcast_half
def krum(x: torch.Tensor, weights: torch.Tensor | None = None, *, lam: float,
         neighbors: str = "blanchard") -> torch.Tensor:
    r"""Krum [BEGS17]: the input row with the smallest sum of squared distances to its neighbours.

    .. math::

        i^\star = \arg\min_i \sum_{j \in N_i} \|x_i - x_j\|^2, \qquad \mathrm{Krum}(x) = x_{i^\star}

    with :math:`N_i` the :math:`m - f - 2` rows nearest to :math:`x_i` other than itself
    (``neighbors="blanchard"``, default) or :math:`m - f - 1` (``neighbors="byzfl"``).
    ``x`` (..., m, d), ``lam`` = f/m. Weighted (ours, docs/theory.md; no paper defines it):
    :math:`N_i` holds the nearest other rows up to weight mass
    :math:`S(1-\lambda) - \mathrm{off}\cdot S/m_+` (:math:`m_+` rows of positive weight,
    fractional at the boundary), so uniform weights give the unweighted rule and zero weight
    removes a row. Ties go to the lowest index. Selection is exact (the output is an input row).

    Guarantee: (f, kappa)-robust with :math:`\kappa = 6(1 + \frac{f}{m-2f})` [AFG+23,
    Table 1] (an upper bound, as recalled: not yet checked against the paper's table), for :math:`m
    > 2f + 2`. Non-finite rows are at
    infinite distance from all others and are never selected while a finite row exists.

    .. note::
        The "-2" counts workers, so integer weights are *not* the rule on replicated rows
        (replicas are each other's neighbours at distance 0); ByzFL's ``Krum`` uses
        :math:`m - f - 1` neighbours and averages instead of summing (same argmin).
    """
    x = check_x("krum", x)
    w = check_weights("krum", weights, x)
    lam = check_lam("krum", lam)
    _checks.one_of("krum", "neighbors", neighbors, _NEIGHBORS)

    def compute(x, w):
        keys, *_ = _krum_keys(x, w, lam, neighbors, "krum")
        i = keys.argmin(-1)  # (...); the first minimum, so ties go to the lowest index
        return x.gather(-2, i[..., None, None].expand(*i.shape, 1, x.shape[-1])).squeeze(-2)

    return dispatch(compute, x, w)


@upcast_half
def multi_krum(x: torch.Tensor, weights: torch.Tensor | None = None, *, lam: float, q: float | None = None,
               neighbors: str = "blanchard") -> torch.Tensor:
    r"""Multi-Krum [BEGS17]: the average of the ``q`` rows with the smallest Krum scores.

    .. math::

        \mathrm{MultiKrum}(x) = \frac1q \sum_{i \in Q} x_i, \quad Q = \text{the } q
        \text{ rows of smallest score } \textstyle\sum_{j \in N_i}\|x_i - x_j\|^2

    Scores as in :func:`krum`. ``q`` defaults to :math:`m - f` (ByzFL's ``MultiKrum``);
    weighted (ours, docs/theory.md), the rows of smallest score are taken up to weight mass :math:`q S / m_+`
    (default :math:`(1 - \lambda) S`), fractional at the boundary, and averaged with their
    weights. Ties by index.

    Guarantee: inherits Krum's [BEGS17]; no (f, kappa) value is tabulated in [AFG+23] that we
    rely on. Finite output while the selected mass avoids non-finite rows, which rank last.
    """
    x = check_x("multi_krum", x)
    w = check_weights("multi_krum", weights, x)
    lam = check_lam("multi_krum", lam)
    _checks.one_of("multi_krum", "neighbors", neighbors, _NEIGHBORS)
    if q is not None:
        q = _checks.real("multi_krum", "q", q, low=0.0, low_open=True)

    def compute(x, w):
        keys, S, F, mp = _krum_keys(x, w, lam, neighbors, "multi_krum")
        if w is None:
            Q = (S - F) if q is None else min(q, S)
            c = keep_nearest(keys.unsqueeze(-2), None, Q) / Q  # (..., 1, m)
        else:
            Q = (S - F) if q is None else torch.minimum(q * S / mp, S)  # (...)
            c = keep_nearest(keys.unsqueeze(-2), w.unsqueeze(-2), Q.unsqueeze(-1)) / Q[..., None, None]
        return combine(c, x, ~torch.isfinite(keys)).squeeze(-2)

    return dispatch(compute, x, w)


@upcast_half
def centered_clipping(x: torch.Tensor, weights: torch.Tensor | None = None, *, center: torch.Tensor,
                      tau: float, iters: int = 1) -> torch.Tensor:
    r"""Centered clipping [KHJ21]: move the previous aggregate by the mean clipped deviation.

    .. math::

        v_0 = \text{center},\qquad v_{l+1} = v_l + \frac{1}{S}\sum_{i=1}^m s_i\,
        (x_i - v_l)\min\Big(1, \frac{\tau}{\|x_i - v_l\|}\Big),\quad l < L

    ``x`` (..., m, d), ``weights`` :math:`s_i` (..., m), ``center`` :math:`v_0` (..., d) (the
    previous round's aggregate, held by the caller: no state is kept here), ``tau``
    :math:`\tau > 0`, ``iters`` :math:`L`. Uniform weights give the unweighted rule exactly,
    integer weights the rule on replicated rows. Translation-equivariant when ``center``
    moves with the rows; scale-equivariant only if ``tau`` scales too (it is absolute).

    Guarantee: [KHJ21] bound the error given a good center and a tuned :math:`\tau` (the
    theorem's number and constants not checked here); no instance-wise (f, kappa) value is used.
    Each row moves the output by
    at most :math:`\tau s_i / S`; a row at non-finite distance (NaN, inf, overflow) contributes
    nothing (its clipped direction is undefined), so the output is finite.

    .. note::
        ByzFL's ``CenteredClipping(m, L=1, tau=100)`` keeps the center as state between calls
        and starts from zero; epfml's ``Clipping(tau, n_iter=1)`` likewise. Here the simulator
        passes ``center``; the uniform call form is ``agg(x, w, lam=..., center=...)``.
    """
    x = check_x("centered_clipping", x)
    w = check_weights("centered_clipping", weights, x)
    if center is None:
        _checks.fail("centered_clipping", "center", "be given (the previous aggregate, zeros at first)",
                     center)
    _checks.last_dim("centered_clipping", "center", center, x.shape[-1])
    try:
        center = center.to(dtype=x.dtype, device=x.device).expand(*x.shape[:-2], x.shape[-1])
    except RuntimeError:
        _checks.fail("centered_clipping", "center", f"broadcast to {tuple(x.shape[:-2]) + (x.shape[-1],)}",
                     center)
    tau = _checks.real("centered_clipping", "tau", tau, low=0.0, low_open=True)
    iters = _checks.integer("centered_clipping", "iters", iters, low=0)

    def compute(x, w, center):
        ww = unit_weights(x) if w is None else w
        p = ww / ww.sum(-1, keepdim=True)  # (..., m)
        zero = torch.zeros((), dtype=torch.float64, device=x.device)
        v = center
        for _ in range(iters):
            r = dist_to(x, v)  # (..., m), +inf where NaN or overflow
            ok = torch.isfinite(r)
            shrink = torch.where(ok, p * (tau / r.to(torch.float64)).clamp(max=1.0), zero)  # (..., m)
            # v + sum_i c_i (x_i - v), without materializing the (..., m, d) differences
            v = v * (1 - shrink.sum(-1, keepdim=True)).to(x.dtype) + combine(shrink.unsqueeze(-2), x, ~ok).squeeze(-2)
        return v

    return dispatch(compute, x, w, center=center)

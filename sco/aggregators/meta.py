"""Meta-aggregators: CTMA (centered trimmed), NNM (nearest-neighbour mixing), bucketing."""

from __future__ import annotations

import math

import torch

from .. import _checks
from ..random import check_stream
from ._core import (Aggregator, as_aggregator, byzantine_mass, check_lam, check_weights, check_x,
                    combine, dispatch, keep_nearest, upcast_half)
from ._kernels import dist_to, pairwise_sqdist

_TIES = ("paper", "authors")


def _options_suffix(options: dict) -> str:
    return "[" + ",".join(f"{k}={v}" for k, v in sorted(options.items())) + "]" if options else ""


def ctma(base, *, ties: str = "paper") -> Aggregator:
    r"""CTMA, the Centered Trimmed Meta Aggregator [DL24a]; weighted w-CTMA [DL24b].

    Problem: upgrade a robust aggregator :math:`A` with an O(1) robustness coefficient to an
    O(lam) one at a cost of O(md) on top of :math:`A`. With weights :math:`s_i`,
    :math:`S = \sum_i s_i` and :math:`M = (1-\lambda) S`:

    .. math::

        x_0 = A(x, s), \qquad r_i = \|x_i - x_0\|, \qquad
        \mathrm{CTMA}(x) = \frac{1}{M} \sum_i c_i\, x_i

    where the rows are taken in increasing :math:`(r_i, i)` and :math:`c_i \le s_i` is the
    part of row i's weight inside the first :math:`M` of cumulative weight (fractional at the
    boundary, so that exactly :math:`(1-\lambda)S` is kept, as [DL24b, §3.3] keeps it).
    Unweighted with ``lam = f/m``: average the m - f rows nearest to the anchor [DL24a].
    ``base`` is :math:`A` (a function, an :class:`Aggregator` or a name), called with the
    same ``weights``, ``lam`` and extras;
    ``x`` (..., m, d), ``weights`` (..., m). Returns an :class:`Aggregator`.

    Guarantee: over a :math:`(c_\lambda, \lambda)`-weighted robust base, w-CTMA is
    :math:`(60\lambda(1 + c_\lambda), \lambda)`-robust [DL24b, Lemma 3.1]. A tighter
    instance-wise bound derived here (docs/theory.md, "Derivations"; checked on 20k instances), with
    :math:`q = \lambda/(1-\lambda)`,

    .. math::

        \frac{\|\mathrm{CTMA}(x) - \bar x_G\|^2}{\rho^2} \le 8q\Big(1 + q\,
        \frac{\|x_0 - \bar x_G\|^2}{\rho^2}\Big), \qquad \kappa_{\mathrm{CTMA}} \le 8q(1 + q\,\kappa_A),

    an upper bound, valid when the honest weight is exactly :math:`(1-\lambda)S`. Non-finite
    rows are at infinite distance and trimmed first, so the output is finite whenever at
    most ``lam`` of the weight is on them and the anchor is finite.

    .. note::
        ``ties="paper"`` (default) keeps exactly weight :math:`M`, ties broken by index. The
        authors' ``centered_trimmed.py`` keeps every row with
        :math:`r_i \le` the (m-f)-th smallest distance but still divides by m - f
        (:math:`x_0 + \sum_{kept}(x_i - x_0)/(m-f)`), which over-counts rows tied at the
        threshold [DL24a-code, centered_trimmed.py]; ``ties="authors"`` reproduces it
        (weighted: rows within the boundary distance, divided by :math:`M`). Weighted CTMA is not in the
        released code [DL24b-code].
    """
    base = as_aggregator(base)
    _checks.one_of("ctma", "ties", ties, _TIES)
    name = "ctma" + _options_suffix({"ties": ties} if ties != "paper" else {}) + f"({base.name})"

    @upcast_half
    def fn(x, weights=None, *, lam, center=None, generator=None):
        x = check_x(name, x)
        w = check_weights(name, weights, x)
        lam = check_lam(name, lam)
        anchor = base(x, weights, lam=lam, center=center, generator=generator)  # (..., d)

        def compute(x, w, anchor):
            r = dist_to(x, anchor)  # (..., m)
            bad = ~torch.isfinite(r)
            if w is None:  # the masses are numbers: nothing to ask the device
                M = x.shape[-2] - byzantine_mass(lam, float(x.shape[-2]))
                c = keep_nearest(r.unsqueeze(-2), None, M)  # (..., 1, m)
                ww, Mcol = torch.ones((), dtype=torch.float64, device=x.device), M
            else:
                S = w.sum(-1)
                M = S - byzantine_mass(lam, S)  # (...)
                c = keep_nearest(r.unsqueeze(-2), w.unsqueeze(-2), M.unsqueeze(-1))  # (..., 1, m)
                ww, Mcol = w, M.unsqueeze(-1)
            if ties == "paper":
                return combine(c / (M if w is None else M[..., None, None]), x, bad).squeeze(-2)
            r_kept = torch.where(c.squeeze(-2) > 0, r, torch.full((), -math.inf, dtype=r.dtype, device=r.device))
            keep = (r <= r_kept.amax(-1, keepdim=True)) & (ww > 0)  # every row tied at the threshold
            coef = torch.where(keep, ww, torch.zeros((), dtype=torch.float64, device=x.device)) / Mcol
            return (anchor * (1 - coef.sum(-1, keepdim=True)).to(x.dtype)
                    + combine(coef.unsqueeze(-2), x, bad).squeeze(-2))

        return dispatch(compute, x, w, anchor=anchor)

    return Aggregator(name=name, fn=fn, needs_center=base.needs_center,
                      needs_generator=base.needs_generator)


def nnm(base) -> Aggregator:
    r"""NNM, nearest-neighbour mixing [AFG+23]: replace each row by the mean of its nearest rows.

    .. math::

        y_i = \frac{1}{M} \sum_j c_{ij}\, x_j, \qquad \mathrm{NNM}_A(x) = A(y, s)

    with :math:`c_{ij} \le s_j` the weight of row j inside the first :math:`M = (1-\lambda)S`
    of cumulative weight when the rows are ordered by :math:`(\|x_i - x_j\|, j)` (row i itself
    first, at distance 0); unweighted, the m - f nearest rows including itself. The mixed rows
    keep their weights. Computed as a mixing matrix :math:`W = c/M` (..., m, m) times ``x``
    from the (m, m) squared-distance matrix (Gram form, centered; see
    ``_kernels.pairwise_sqdist``): O(m^2 d) time, never an (m, m, d) tensor.

    Guarantee: if :math:`A` is (f, kappa)-robust then :math:`A \circ \mathrm{NNM}` is
    (f, kappa')-robust with :math:`\kappa' \le \frac{8f}{m-f}(\kappa + 1)` [AFG+23] (their NNM
    theorem, as recalled: theorem number and constant not yet checked; an upper bound). Non-finite
    rows are at infinite distance from the
    others, so no honest row mixes them in while at most ``lam`` of the weight is on them.

    .. note::
        ByzFL's ``NNM(f)`` and the authors' ``nnm.py`` mix with the m - f nearest rows by
        ``argpartition`` of ``cdist`` (ties in arbitrary order) and materialize
        (m, m - f, d) ([ByzFL, preaggregators.py], [DL24a-code, nnm.py]). The authors' "nnm+ctma" anchors CTMA at
        :math:`A(\mathrm{NNM}(x))` and trims the *original* rows: that is
        ``ctma(nnm(A))``, spelled ``"nnm+ctma(A)"`` by :func:`parse`.
    """
    base = as_aggregator(base)
    name = f"nnm({base.name})"

    @upcast_half
    def fn(x, weights=None, *, lam, center=None, generator=None):
        x = check_x(name, x)
        w = check_weights(name, weights, x)
        lam = check_lam(name, lam)

        def mix(x, w):
            D, bad, _ = pairwise_sqdist(x)  # (..., m, m)
            if w is None:
                M = x.shape[-2] - byzantine_mass(lam, float(x.shape[-2]))
                return combine(keep_nearest(D, None, M) / M, x, bad)  # (..., m, d)
            S = w.sum(-1)
            M = S - byzantine_mass(lam, S)  # (...)
            c = keep_nearest(D, w.unsqueeze(-2), M.unsqueeze(-1).expand(w.shape))  # (..., m, m)
            return combine(c / M[..., None, None], x, bad)  # (..., m, d)

        return base(dispatch(mix, x, w), weights, lam=lam, center=center, generator=generator)

    return Aggregator(name=name, fn=fn, needs_center=base.needs_center,
                      needs_generator=base.needs_generator)


def bucket_size(lam: float, m: int) -> int:
    r"""Default bucket size: :math:`\lfloor 1/(2\lambda) \rfloor` [KHJ22] (the authors'
    :math:`\lfloor m/(2f) \rfloor`), lowered until the base sees a Byzantine fraction < 1/2.

    With ``lam = 0`` one bucket holds every row (the mean).
    """
    if lam == 0:
        return m
    s = max(1, min(m, math.floor(1 / (2 * lam))))
    while s > 1 and lam * m >= math.ceil(m / s) / 2:
        s -= 1
    return s


def bucketing(base, s: int | None = None) -> Aggregator:
    r"""Bucketing [KHJ22]: average random buckets of ``s`` rows, then apply ``base`` to the means.

    .. math::

        \pi \sim \mathrm{Unif}(S_m),\quad B_b = \{\pi(bs+1), \dots, \pi(bs+s)\},\quad
        y_b = \frac{\sum_{i \in B_b} s_i x_i}{\sum_{i \in B_b} s_i},\quad
        \mathrm{Bucketing}_A(x) = A\big(y, (\textstyle\sum_{i\in B_b} s_i)_b\big)

    ``s`` defaults to :func:`bucket_size` (``lam`` known at call time); the last bucket may be
    smaller (``ceil(m/s)`` buckets). The permutation comes from ``generator``, a
    :class:`sco.random.Stream` with one run per batch row of ``x`` (or a single run shared by
    all): ``generator.fold("bucketing").permutation(m)``; the base gets
    ``generator.fold("bucketing-base")``. Each Byzantine row spoils at most one bucket, so the
    base is called with ``lam_b = lam * m / ceil(m/s)`` (must be < 1/2).

    Guarantee: [KHJ22] (their bucketing theorem, in expectation over the permutation: an upper
    bound of order :math:`s\,\lambda\,\kappa_A`; as recalled, not checked against the paper).
    Weighted (ours, docs/theory.md): ``lam_b`` is the same count-based fraction, which bounds the Byzantine share of bucket *weight* only when weights are near-uniform.
    Zero-weight rows and empty buckets carry no weight; permutation invariance, removal and
    replication hold only in distribution (the buckets change).

    .. note::
        ByzFL's ``Bucketing(s)`` uses numpy/torch's global RNG; the authors' code uses
        ``s = floor(m/(2f))`` and refuses ``f > m/4`` ([DL24a-code, bucketing.py]), which our
        default reproduces when ``m/(2f)`` is not an integer and otherwise lowers by one.
    """
    base = as_aggregator(base)
    if s is not None:
        s = _checks.integer("bucketing", "s", s, low=1)
    name = "bucketing" + _options_suffix({"s": s} if s is not None else {}) + f"({base.name})"

    @upcast_half
    def fn(x, weights=None, *, lam, center=None, generator=None):
        x = check_x(name, x)
        w = check_weights(name, weights, x)
        lam = check_lam(name, lam)
        batch, (m, d) = x.shape[:-2], x.shape[-2:]
        runs = math.prod(batch)
        check_stream(name, generator, runs)
        size = bucket_size(lam, m) if s is None else min(s, m)
        nb = math.ceil(m / size)
        lam_b = lam * m / nb
        if lam_b >= 0.5:
            _checks.fail(name, "s", f"leave a Byzantine bucket fraction lam*m/ceil(m/s) < 1/2 (here {lam_b:.3g})",
                         s, hint="Use a smaller bucket size s or a smaller lam.")

        def compute(x, w, generator, center):
            batch = x.shape[:-2]
            perm = generator.fold("bucketing").permutation(m).to(x.device)  # (R, m)
            perm = perm.reshape(*batch, m) if len(generator) > 1 else perm.reshape(m).expand(*batch, m)
            base_gen = generator.fold("bucketing-base")
            runs = math.prod(batch)
            if w is None:  # bucket sums by one scatter-add of x's rows: no permuted copy of x
                slot = torch.argsort(perm, dim=-1) // size  # (..., m): the bucket of each row
                slot = slot + torch.arange(0, runs * nb, nb, device=x.device).reshape(*batch, 1)
                sums = x.new_zeros(runs * nb, d).index_add_(0, slot.reshape(-1), x.reshape(-1, d))
                counts = torch.full((nb, 1), float(size), dtype=x.dtype, device=x.device)
                counts[-1] = m - (nb - 1) * size  # the smaller last bucket
                means = sums.reshape(*batch, nb, d).div_(counts)  # (..., nb, d), in place: one big temporary
                return base(means, None, lam=lam_b, center=center, generator=base_gen)
            first = torch.arange(0, runs * m, m, device=x.device).reshape(*batch, 1)
            xp = x.reshape(-1, d).index_select(0, (perm + first).reshape(-1)).reshape(*batch, m, d)  # bucket order
            pad = nb * size - m
            ww = w.gather(-1, perm)  # (..., m)
            if pad:
                xp = torch.cat([xp, xp.new_zeros(*batch, pad, d)], dim=-2)
                ww = torch.cat([ww, ww.new_zeros(*batch, pad)], dim=-1)
            wb = ww.reshape(*batch, nb, size)  # (..., nb, s)
            mass = wb.sum(-1)  # (..., nb)
            coef = wb / torch.where(mass > 0, mass, torch.ones((), dtype=mass.dtype, device=mass.device)).unsqueeze(-1)
            means = combine(coef.unsqueeze(-2), xp.reshape(*batch, nb, size, d), wb == 0).squeeze(-2)  # (..., nb, d)
            return base(means, mass.to(x.dtype), lam=lam_b, center=center, generator=base_gen)

        return dispatch(compute, x, w, generator=generator, center=center)

    return Aggregator(name=name, fn=fn, needs_center=base.needs_center, needs_generator=True)

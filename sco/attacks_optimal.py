"""ByzFL's optimized attacks: IPM and ALIE with the attack scale chosen by a 1-D search through the actual rule."""

from __future__ import annotations

import torch

from . import _checks
from .random import Stream, check_stream


def scale_search(objective, shape, *, evals: int, start: float, delta: float, ratio: float,
                 like: torch.Tensor) -> torch.Tensor:
    r"""ByzFL's expansion-contraction line search for the scale :math:`\tau` maximizing ``objective``, per run.

    From :math:`\tau_0` = ``start``: propose :math:`\tau^\star + \delta`; while proposals improve,
    take them and double :math:`\delta`; from the first failure on, multiply :math:`\delta` by
    ``ratio`` after every proposal (taking it when it improves), until ``evals`` evaluations in
    all (the start included). Proposals always step by :math:`+\delta` (ByzFL never searches
    below the current best; a negative ``delta`` searches the other way).

    ``objective`` maps scales of shape ``shape`` (one per run) to values of that shape; each
    run keeps its own :math:`\tau^\star, \delta` and phase, so a run's result does not depend
    on the other runs of its batch. A NaN value never improves (as Python's ``>`` in ByzFL).
    Returns :math:`\tau^\star` (``shape``, float64).
    """
    tau = torch.full(shape, start, dtype=torch.float64, device=like.device)
    best = objective(tau)
    step = torch.full(shape, delta, dtype=torch.float64, device=like.device)
    expanding = torch.ones(shape, dtype=torch.bool, device=like.device)
    for _ in range(evals - 1):
        prop = tau + step
        val = objective(prop)
        better = val > best
        tau, best = torch.where(better, prop, tau), torch.where(better, val, best)
        step = torch.where(better & expanding, 2 * step, ratio * step)
        expanding = expanding & better
    return tau


def _optimal(owner: str, honest, honest_weights, n_byz, generator, agg, lam, byz_weights, center,
             evals, start, delta, ratio):
    """The search shared by both attacks: rows ``base + tau * direction`` (..., n_byz, d) at the best scale per run."""
    from .aggregators import as_aggregator
    from .attacks import _check, _rows, honest_stats, joint_weights, weighted_mean  # attacks.py imports this module

    n_byz, w = _check(owner, honest, honest_weights, n_byz)
    if agg is None:
        _checks.fail(owner, "agg", "be given: the attack searches through the aggregator it faces", agg,
                     hint="The simulator binds the run's aggregator; pass agg='cwtm' (a name, spec or function).")
    agg = as_aggregator(agg)
    evals = _checks.integer(owner, "evals", evals, low=1)
    start = _checks.real(owner, "start", start)
    delta = _checks.real(owner, "delta", delta)
    if delta == 0:
        _checks.fail(owner, "delta", "be nonzero", delta)
    ratio = _checks.real(owner, "ratio", ratio, low=0.5, high=1.0, low_open=True, high_open=True)
    batch = honest.shape[:-2]
    if n_byz == 0:
        return honest.new_zeros(*batch, 0, honest.shape[-1])
    weights, share = joint_weights(honest, w, n_byz, byz_weights)
    lam = share if lam is None else lam
    if owner == "optimal_ipm":  # -tau * mu
        mu = weighted_mean(honest, w)  # (..., d)
        base, unit = torch.zeros_like(mu), -mu
    else:  # mu + tau * sigma
        mu, unit = honest_stats(honest, w)
        base = mu

    def direction(tau):  # (...) -> (..., d)
        return base + tau.to(honest.dtype).unsqueeze(-1) * unit

    center = mu if center is None else center
    runs = max(1, honest[..., 0, 0].numel())
    agg_gen = check_stream(owner, generator, runs).fold(owner, "aggregator") if generator is not None else Stream(0)

    def objective(tau):  # (...) -> (...)
        x = torch.cat([honest, _rows(direction(tau), n_byz)], dim=-2)
        with torch.no_grad():
            out = agg(x, weights, lam=lam, center=center, generator=agg_gen)
        return torch.linalg.vector_norm((out - mu).to(torch.float64), dim=-1)

    tau = scale_search(objective, batch, evals=evals, start=start, delta=delta, ratio=ratio, like=honest)
    return _rows(direction(tau), n_byz)


def optimal_ipm(honest, honest_weights=None, *, n_byz: int, generator: Stream | None = None, agg=None,
                lam: float | None = None, byz_weights: torch.Tensor | None = None, center: torch.Tensor | None = None,
                evals: int = 20, start: float = 0.0, delta: float = 10.0, ratio: float = 0.8) -> torch.Tensor:
    r"""Optimized inner-product manipulation (ByzFL's ``Optimal_InnerProductManipulation``) [XKG20], [AFG+23].

    Every Byzantine row is :math:`-\tau^\star \bar x_G` (the IPM row, :func:`sco.attacks.ipm` with
    ``eps`` = :math:`\tau`), with :math:`\tau^\star` chosen per run by :func:`scale_search` to
    maximize

    .. math::

        \big\| \mathrm{agg}\big(x_G \cup \{-\tau \bar x_G\}^{n_{byz}}\big) - \bar x_G \big\|

    through the actual rule ``agg`` (a name, spec, :class:`~sco.aggregators.Aggregator` or
    function, pre-aggregators included: ``"nnm(cwtm)"``, ``"clipping(mean)"``). ``agg`` and
    ``lam`` are bound by the simulator as for :func:`sco.attacks.worst_case`; ``lam`` defaults
    to the Byzantine share of the weight, ``byz_weights`` as there, ``center`` (centered
    clipping) to the honest mean. :math:`\bar x_G` is the weighted honest mean. ``evals``,
    ``start``, ``delta``, ``ratio`` are ByzFL's (20, 0.0, 10.0, 0.8). A randomized rule
    (bucketing) draws from ``generator.fold("optimal_ipm", "aggregator")`` at every
    evaluation, so the searched function of :math:`\tau` is deterministic per run. Returns
    (..., n_byz, d).

    .. note::
        ByzFL's default ``agg`` is ``Average`` with ``Clipping(2.0)`` as pre-aggregator; here
        ``agg`` must be given (there is no sensible default rule to attack). Its search
        compares Python floats of a float32 evaluation for torch input; ours evaluates in the
        input dtype and compares in float64.
    """
    return _optimal("optimal_ipm", honest, honest_weights, n_byz, generator, agg, lam, byz_weights, center,
                    evals, start, delta, ratio)


def optimal_alie(honest, honest_weights=None, *, n_byz: int, generator: Stream | None = None, agg=None,
                 lam: float | None = None, byz_weights: torch.Tensor | None = None, center: torch.Tensor | None = None,
                 evals: int = 20, start: float = 0.0, delta: float = 10.0, ratio: float = 0.8) -> torch.Tensor:
    r"""Optimized A Little Is Enough (ByzFL's ``Optimal_ALittleIsEnough``) [BBG19], [AFG+23].

    Every Byzantine row is :math:`\mu + \tau^\star \sigma` (:math:`\mu, \sigma` the honest
    weighted mean and coordinate-wise unbiased std, :func:`sco.attacks.honest_stats`; ByzFL's
    ``ALittleIsEnough(tau)``, :func:`sco.attacks.alie` with ``z`` = :math:`-\tau`), with
    :math:`\tau^\star` chosen per run by :func:`scale_search` to maximize
    :math:`\|\mathrm{agg}(x_G \cup \{\mu + \tau\sigma\}^{n_{byz}}) - \mu\|` through the actual
    rule. Arguments as :func:`optimal_ipm`.
    """
    return _optimal("optimal_alie", honest, honest_weights, n_byz, generator, agg, lam, byz_weights, center,
                    evals, start, delta, ratio)

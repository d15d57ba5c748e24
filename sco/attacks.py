"""Byzantine attacks: rows computed from the honest rows, plus a worst-case search through an aggregator."""

from __future__ import annotations

import functools
import inspect
import math

import torch

from . import _checks
from ._attack_core import alie_z, check as _check, honest_stats, rows as _rows, spread, weighted_mean
from ._attack_core import weights_of as _weights
from ._registry import check_options, lookup, spec_parts
from .random import Stream, check_stream

__all__ = ["ATTACKS", "alie", "alie_z", "far_point", "gaussian", "honest_stats", "ipm", "joint_weights", "label_flip",
           "make_attack", "mimic", "non_finite", "sign_flip", "spread", "weighted_mean", "worst_case"]


def sign_flip(honest, honest_weights=None, *, n_byz: int, generator=None, scale: float = 1.0,
              own: torch.Tensor | None = None) -> torch.Tensor:
    r"""Sign flipping: each Byzantine row is :math:`-c\,\mu` (ByzFL ``SignFlipping``, c = 1).

    ``scale`` is :math:`c`; :math:`\mu` the weighted honest mean. With ``own`` (..., n_byz, d),
    the Byzantine workers' own honest-style vectors, returns :math:`-c` times them: the
    authors' ``sf`` (each Byzantine worker sends minus its own momentum, [DL24a-code, sf.py]).
    """
    n_byz, w = _check("sign_flip", honest, honest_weights, n_byz)
    scale = _checks.real("sign_flip", "scale", scale)
    if own is not None:
        _checks.last_dim("sign_flip", "own", own, honest.shape[-1])
        if own.shape[-2] != n_byz:
            _checks.fail("sign_flip", "own", f"have n_byz={n_byz} rows", own)
        return -scale * own
    mu = weighted_mean(honest, w)
    return _rows(-scale * mu, n_byz)


def alie(honest, honest_weights=None, *, n_byz: int, generator=None, z: float | None = None,
         byz_weight=None, std: str = "unbiased") -> torch.Tensor:
    r"""A Little Is Enough [BBG19]: every Byzantine row is :math:`\mu - z\,\sigma`.

    :math:`\mu, \sigma` are the honest (weighted) mean and coordinate-wise std of each run
    (:func:`honest_stats`, ``std`` "unbiased" or "population"); ``z`` defaults to
    :func:`alie_z` with n = h + n_byz and f = n_byz, or, with ``honest_weights``, per run with
    n = that run's total weight and f = ``byz_weight`` (a number, or a tensor (...) of one
    Byzantine weight per run; default ``n_byz`` times the run's mean honest weight), as the
    authors' asynchronous code recomputes z from the updates [DL24b-code, attacks/alie.py].
    Every statistic is per run: a run's rows never depend on the other runs of its batch.

    .. note::
        The authors' asynchronous code divides the weighted variance by the total weight
        (``std="population"``) and takes f = the Byzantine rows' own update counts
        (``byz_weight``); the default here is the unbiased std of [BBG19], as their
        synchronous code and ByzFL use. ByzFL's ``ALittleIsEnough(tau=1.5)`` returns
        :math:`\mu + \tau\sigma`: that is ``z = -tau`` (the alias ``"ALittleIsEnough"`` sets
        ``z=-1.5``).
    """
    n_byz, w = _check("alie", honest, honest_weights, n_byz)
    h = honest.shape[-2]
    if z is not None:
        z = _checks.real("alie", "z", z)
    elif w is None:
        z = alie_z(h + n_byz, n_byz)
    else:
        total_h = w.sum(-1).to(torch.float64)  # (...)
        if byz_weight is None:
            fw = n_byz * total_h / h
        elif isinstance(byz_weight, torch.Tensor):
            fw = byz_weight.to(total_h.device, torch.float64)
            if fw.shape != total_h.shape[len(total_h.shape) - fw.dim():] or not torch.isfinite(fw).all() \
                    or (fw < 0).any():
                _checks.fail("alie", "byz_weight", f"be finite, >= 0 and broadcast to the batch "
                             f"{tuple(total_h.shape)}", byz_weight)
        else:
            fw = torch.full_like(total_h, _checks.real("alie", "byz_weight", byz_weight, low=0.0))
        z = alie_z(total_h + fw, fw.expand_as(total_h)).to(honest.dtype).unsqueeze(-1)  # (..., 1)
    mu, sigma = honest_stats(honest, w, std=std)
    return _rows(mu - z * sigma, n_byz)


def ipm(honest, honest_weights=None, *, n_byz: int, generator=None, eps: float = 0.5) -> torch.Tensor:
    r"""Inner-product manipulation, "empire" [XKG20]: every Byzantine row is :math:`-\epsilon\,\mu`.

    ``eps`` = 0.5 is the authors' sync default, 0.1 their async one ([DL24a-code, ipm.py],
    [DL24b-code, attacks/ipm.py]);
    ByzFL's ``InnerProductManipulation(tau=2.0)`` is ``eps=2.0`` (the alias's preset).
    """
    n_byz, w = _check("ipm", honest, honest_weights, n_byz)
    eps = _checks.real("ipm", "eps", eps)
    mu = weighted_mean(honest, w)
    return _rows(-eps * mu, n_byz)


def _normal(generator, label: str, batch, shape, like: torch.Tensor) -> torch.Tensor:
    runs = math.prod(batch)
    check_stream("attack", generator, runs)
    g = generator.fold(label).normal(shape, dtype=like.dtype).to(like.device)  # (R, *shape)
    if len(generator) == runs:
        return g.reshape(*batch, *shape)
    return g.reshape(shape).expand(*batch, *shape)  # one run shared by every batch row


def gaussian(honest, honest_weights=None, *, n_byz: int, generator: Stream, mu: float = 0.0,
             sigma: float = 1.0) -> torch.Tensor:
    r"""Gaussian noise: independent rows :math:`\mathcal N(\mu, \sigma^2 I_d)` (ByzFL ``Gaussian``).

    Drawn from ``generator`` (a :class:`sco.random.Stream`, one run per batch row or one for
    all) as ``generator.fold("gaussian").normal((n_byz, d))``. ByzFL draws one vector and
    repeats it; here the rows are independent.
    """
    n_byz, _ = _check("gaussian", honest, honest_weights, n_byz)
    mu = _checks.real("gaussian", "mu", mu)
    sigma = _checks.real("gaussian", "sigma", sigma, low=0.0)
    z = _normal(generator, "gaussian", honest.shape[:-2], (n_byz, honest.shape[-1]), honest)
    return mu + sigma * z


def mimic(honest, honest_weights=None, *, n_byz: int, generator=None, target: int = 0) -> torch.Tensor:
    """Mimic: every Byzantine row copies honest row ``target`` (ByzFL ``Mimic(epsilon=target)``)."""
    n_byz, _ = _check("mimic", honest, honest_weights, n_byz)
    target = _checks.integer("mimic", "target", target, low=0, high=honest.shape[-2] - 1)
    return _rows(honest[..., target, :], n_byz)


def far_point(honest, honest_weights=None, *, n_byz: int, generator=None, distance: float = 100.0,
              direction: torch.Tensor | None = None) -> torch.Tensor:
    r"""A far point: every Byzantine row is :math:`\mu + t\,\rho\,u`, ``t`` = ``distance``.

    :math:`\rho^2 = \frac{1}{V_1}\sum_i s_i\|x_i - \mu\|^2` is the honest spread (the
    denominator of kappa) and :math:`u` the unit ``direction`` (default
    :math:`(1, \dots, 1)/\sqrt d`). An outlier far outside the honest spread, which
    trimming rules must remove entirely.
    """
    n_byz, w = _check("far_point", honest, honest_weights, n_byz)
    distance = _checks.real("far_point", "distance", distance)
    d = honest.shape[-1]
    u = torch.ones(d, dtype=honest.dtype, device=honest.device) if direction is None \
        else _checks.last_dim("far_point", "direction", direction, d).to(honest.dtype)
    u = u / torch.linalg.vector_norm(u, dim=-1, keepdim=True)
    mu = weighted_mean(honest, w)
    return _rows(mu + distance * spread(honest, w).unsqueeze(-1) * u, n_byz)


def non_finite(honest, honest_weights=None, *, n_byz: int, generator=None, value: float = math.nan) -> torch.Tensor:
    """Rows filled with ``value``: NaN (default), +-inf (ByzFL ``Inf``), or a huge finite number."""
    n_byz, _ = _check("non_finite", honest, honest_weights, n_byz)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _checks.fail("non_finite", "value", "be a real number (NaN and inf allowed)", value, kind=TypeError)
    return torch.full((*honest.shape[:-2], n_byz, honest.shape[-1]), value, dtype=honest.dtype, device=honest.device)


def label_flip(*args, **kwargs):
    """Label flipping is objective-level: it has no formula over honest vectors.

    Byzantine workers run the honest estimator on a corrupted objective (labels y -> K-1-y,
    [DL24a-code, lf.py]) and send what it produces: the simulator calls
    ``objective.flip_labels()`` for the Byzantine workers. Calling this raises; check
    ``ATTACKS[name].objective_level`` instead. (ByzFL's ``LabelFlipping`` likewise only
    averages vectors already computed on flipped labels.)
    """
    _checks.fail("label_flip", "attack", "be run by the simulator on the objective "
                 "(objective.flip_labels()), not on vectors", "label_flip", kind=TypeError)


label_flip.objective_level = True


def joint_weights(honest, honest_weights, n_byz: int, byz_weights=None):
    """Weights of honest + Byzantine rows, (..., h + n_byz) or None when both are None, and the
    Byzantine share of the weight as a default ``lam`` (below 1/2; the largest over the batch
    when ``byz_weights`` give the runs different shares).

    Byzantine rows weigh one each, or the mean honest weight of their run when
    ``honest_weights`` are given: then the share is n_byz / (h + n_byz) in every run, exactly.
    """
    h = honest.shape[-2]
    if byz_weights is None:
        share = min(n_byz / (n_byz + h), 0.5 - 1e-9)
        if honest_weights is None:
            return None, share
    hw = _weights(honest, honest_weights)
    batch = honest.shape[:-2]
    bw = hw.mean(-1, keepdim=True).expand(*batch, n_byz) if byz_weights is None \
        else byz_weights.to(honest.dtype).expand(*batch, n_byz)
    weights = torch.cat([hw, bw], dim=-1)
    if byz_weights is None:
        return weights, share
    return weights, min(float((bw.sum(-1) / weights.sum(-1)).max()), 0.5 - 1e-9)


def _per_run_share(weights: torch.Tensor, h: int) -> bool:
    """Whether every run of the batch has the same Byzantine share of the weight."""
    share = weights[..., h:].sum(-1) / weights.sum(-1)  # (...)
    return bool((share == share.reshape(-1)[0]).all())


def _tiled(gen: Stream, K: int) -> Stream:
    """A stream of R runs as one of K * R runs, run r's key at every k * R + r: the K
    candidates of a run all see that run's randomness, never another run's."""
    return gen if len(gen) == 1 else Stream._from_keys(gen.keys.repeat(K, *([1] * (gen.keys.dim() - 1))))


def worst_case(honest, honest_weights=None, *, n_byz: int, generator: Stream, agg, lam: float | None = None,
               byz_weights: torch.Tensor | None = None, steps: int = 60, restarts: int = 8,
               radius: float = 10.0, lr: float = 0.3, center: torch.Tensor | None = None) -> torch.Tensor:
    r"""Search the Byzantine rows that push ``agg`` farthest from the honest mean.

    .. math::

        \max_{y_1..y_f \in B(\bar x_G, r\rho)} \big\|\mathrm{agg}(x_G \cup y) - \bar x_G\big\|

    with :math:`\bar x_G`, :math:`\rho` the honest weighted mean and spread (:func:`spread`)
    and :math:`r` = ``radius``. Candidates: the structured attacks (ALIE, IPM at several
    eps, sign flip, far points in random directions and along the honest extremes) and
    ``restarts`` random points, each improved by ``steps`` of projected gradient ascent
    through ``agg`` (autograd, normalized steps of ``lr * r * rho`` decaying as 1/sqrt(t)),
    batched over the candidates; the best is returned, (..., n_byz, d).

    Exact where the rule allows: for coordinate-wise rules that are monotone in each input
    (mean, CWTM, CWMed) the candidate putting every Byzantine value at the end of the honest
    range that moves each coordinate most (evaluated with all values above, then all below)
    is the exact maximizer over Byzantine rows beyond the honest range, which is the
    supremum for CWTM and CWMed (their output stops moving there).

    ``agg`` is an aggregator (name, :class:`sco.aggregators.Aggregator` or function) called as
    ``agg(x, weights, lam=lam, center=center, generator=...)`` (each run with its own stream);
    ``lam`` defaults to the Byzantine share of the weight; ``byz_weights`` (..., n_byz) default to ones, or to the
    mean honest weight when ``honest_weights`` are given; ``center`` (centered clipping)
    defaults to the honest mean. This is a heuristic lower bound on the true worst case.
    """
    from .aggregators import as_aggregator

    n_byz, w = _check("worst_case", honest, honest_weights, n_byz)
    steps = _checks.integer("worst_case", "steps", steps, low=0)
    restarts = _checks.integer("worst_case", "restarts", restarts, low=0)
    radius = _checks.real("worst_case", "radius", radius, low=0.0, low_open=True)
    lr = _checks.real("worst_case", "lr", lr, low=0.0, low_open=True)
    agg = as_aggregator(agg)
    batch, (h, d) = honest.shape[:-2], honest.shape[-2:]
    weights, share = joint_weights(honest, w, n_byz, byz_weights)
    if lam is None and byz_weights is not None and not _per_run_share(weights, h):
        _checks.fail("worst_case", "lam", "be given when byz_weights give the runs of the batch different "
                     "Byzantine shares (a default would tie each run's search to the others)", lam)
    lam = share if lam is None else lam
    mu = weighted_mean(honest, w)  # (..., d)
    R = radius * spread(honest, w)  # (...)
    R = torch.where(R > 0, R, torch.ones_like(R))
    center = mu if center is None else center
    check_stream("worst_case", generator, math.prod(batch))
    agg_gen = generator.fold("worst_case", "aggregator")  # one run, or one per batch row

    def project(y):  # (K, ..., n_byz, d)
        off = y - mu.unsqueeze(-2)
        n = torch.linalg.vector_norm(off, dim=-1, keepdim=True)
        return mu.unsqueeze(-2) + off * (R[..., None, None] / n.clamp_min(1e-300)).clamp(max=1.0)

    def objective(y):  # (K, ..., n_byz, d) -> (K, ...)
        K = y.shape[0]
        x = torch.cat([honest.expand(K, *honest.shape), y], dim=-2)
        ww = None if weights is None else weights.expand(K, *weights.shape)
        out = agg(x, ww, lam=lam, center=center.expand(K, *center.shape), generator=_tiled(agg_gen, K))
        return torch.linalg.vector_norm(out - mu, dim=-1)

    # structured candidates, each (..., n_byz, d)
    lo, hi = honest.amin(-2), honest.amax(-2)  # (..., d)
    margin = (hi - lo).clamp_min(1e-12)
    up, down = _rows(hi + margin, n_byz), _rows(lo - margin, n_byz)
    with torch.no_grad():
        du, dd = (agg(torch.cat([honest, y], -2), weights, lam=lam, center=center, generator=agg_gen) - mu
                  for y in (up, down))
    mixed = torch.where((du.abs() >= dd.abs()).unsqueeze(-2), up, down)
    cands = [mixed, up, down, alie(honest, w, n_byz=n_byz), sign_flip(honest, w, n_byz=n_byz)]
    cands += [ipm(honest, w, n_byz=n_byz, eps=e) for e in (0.5, 2.0)]
    if h > 1:
        cands.append(alie(honest, w, n_byz=n_byz, z=-alie_z(h + n_byz, n_byz) if n_byz < h else -1.0))
    if restarts:
        u = _normal(generator, "worst_case", batch, (restarts, n_byz, d), honest)  # (..., K, n_byz, d)
        u = u / torch.linalg.vector_norm(u, dim=-1, keepdim=True).clamp_min(1e-300)
        rand = mu[..., None, None, :] + R[..., None, None, None] * u
        cands += list(rand.movedim(-3, 0))
    y = project(torch.stack(cands))  # (K, ..., n_byz, d)
    if n_byz == 0:
        return y[0]
    best_y, best = y.detach().clone(), objective(y.detach()).detach()
    for t in range(steps):
        y = y.detach().requires_grad_(True)
        val = objective(y)
        (g,) = torch.autograd.grad(val.sum(), y)
        with torch.no_grad():
            better = val > best
            best = torch.where(better, val, best)
            best_y = torch.where(better[..., None, None], y, best_y)
            gn = torch.linalg.vector_norm(g, dim=(-2, -1), keepdim=True)
            step = lr * R[..., None, None] / math.sqrt(t + 1)
            y = project(y + step * g / gn.clamp_min(1e-300))
    with torch.no_grad():
        if steps:  # the last step's point (with no steps it is the start, evaluated above)
            val = objective(y)
            better = val > best
            best = torch.where(better, val, best)
            best_y = torch.where(better[..., None, None], y, best_y)
        k = best.argmax(0)  # (...)
        return best_y.gather(0, k[None, ..., None, None].expand(1, *best_y.shape[1:])).squeeze(0)


from .attacks_optimal import optimal_alie, optimal_ipm  # noqa: E402  (it builds on the attacks above)

ATTACKS = {
    "sign_flip": sign_flip,
    "alie": alie,
    "ipm": ipm,
    "gaussian": gaussian,
    "mimic": mimic,
    "far_point": far_point,
    "non_finite": non_finite,
    "label_flip": label_flip,
    "worst_case": worst_case,
    # the authors' names ([DL24a-code, attacks/], [DL24b-code, attacks/]) and common spellings
    "sf": sign_flip, "little": alie, "empire": ipm, "lf": label_flip, "nan": non_finite,
    # ByzFL class names, with ByzFL's defaults ([ByzFL] v0.0.11, conventions table)
    "SignFlipping": sign_flip,
    "ALittleIsEnough": functools.partial(alie, z=-1.5),
    "InnerProductManipulation": functools.partial(ipm, eps=2.0),
    "Gaussian": gaussian,
    "Mimic": mimic,
    "Inf": functools.partial(non_finite, value=math.inf),
    "LabelFlipping": label_flip,
    "optimal_ipm": optimal_ipm, "optimal_alie": optimal_alie,
}
"""Attacks by name: ``attack(honest, honest_weights=None, *, n_byz, generator, **params)`` -> (..., n_byz, d)."""


_CALL = ("honest", "honest_weights", "n_byz", "generator")


def make_attack(spec, **bind):
    """An attack with its parameters bound, from a name of :data:`ATTACKS`, a spec
    ``{"name": ..., **params}`` (ByzFL's ``{"name": ..., "parameters": {...}}`` is the same
    spec; an option given both ways raises), or a callable (returned as is). ``bind`` adds
    parameters the caller owns (the simulator binds the aggregator and lam of the worst-case
    attack) where the attack takes them. The result is called as
    ``attack(honest, honest_weights, *, n_byz, generator)``.
    """
    if callable(spec) and not isinstance(spec, (str, dict)):
        return spec
    if not isinstance(spec, (str, dict)):
        _checks.fail("make_attack", "spec", "be a name, a dict with a 'name' key, or a callable", spec,
                     kind=TypeError)
    name, params = spec_parts("make_attack", spec)
    fn = lookup(name, ATTACKS, "attack")
    if getattr(fn, "objective_level", False):
        _checks.fail("make_attack", "spec", "name a vector attack; label flipping is run by the simulator "
                     "on the flipped objective", name)
    base = fn.func if isinstance(fn, functools.partial) else fn
    accepted = set(inspect.signature(base).parameters)
    bound = {k: v for k, v in bind.items() if k in accepted and k not in params}
    check_options("make_attack", name, base, params, reserved=_CALL + tuple(bound))
    attack = functools.partial(fn, **params, **bound)
    attack.__name__ = name
    return attack

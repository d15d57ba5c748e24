"""Shared cores of the aggregators: validation, half precision, weight bookkeeping, nearest-mass selection."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from typing import Callable

import numpy as np
import torch

from .. import _checks
from ..random import Stream
from . import _kernels

# -- validation ----------------------------------------------------------------------------


def check_x(owner: str, x) -> torch.Tensor:
    """``x`` must be a floating tensor of shape (..., m, d) with m >= 1 and d >= 1."""
    if not isinstance(x, torch.Tensor):
        _checks.fail(owner, "x", "be a torch.Tensor of shape (..., m, d)", x, kind=TypeError)
    if not x.is_floating_point():
        _checks.fail(owner, "x", "be a floating-point tensor", x, kind=TypeError)
    if x.dim() < 2:
        _checks.fail(owner, "x", "have shape (..., m, d), at least 2 dimensions", x,
                     hint="Stack the worker vectors along dim -2.")
    if x.shape[-2] < 1 or x.shape[-1] < 1:
        _checks.fail(owner, "x", "have at least one worker (m >= 1) and one coordinate (d >= 1)", x)
    return x


_HALF = (torch.float16, torch.bfloat16)


def upcast_half(fn: Callable) -> Callable:
    """Compute float16/bfloat16 rows in float32 and return the result in the input dtype.

    Distances and sums of squares overflow half precision at 256 (float16's largest value
    is 65504) and torch sorts neither dtype quickly on CPU; the upcast costs one copy of x.
    """
    @functools.wraps(fn)
    def wrapper(x, *args, **kwargs):
        if not (isinstance(x, torch.Tensor) and x.dtype in _HALF):
            return fn(x, *args, **kwargs)
        out = fn(x.float(), *args, **kwargs)
        if isinstance(out, tuple):  # (z, iters) of geometric_median
            return tuple(o.to(x.dtype) if o.is_floating_point() else o for o in out)
        return out.to(x.dtype)
    return wrapper


def check_lam(owner: str, lam) -> float:
    """``lam`` is the Byzantine fraction of the total weight: ``0 <= lam < 1/2``."""
    lam = _checks.real(owner, "lam", lam, low=0.0)
    if lam >= 0.5:
        _checks.fail(owner, "lam", "be < 1/2", lam,
                     hint="lam is the Byzantine fraction of the total weight (f/m when unweighted).")
    return lam


def check_weights(owner: str, weights, x: torch.Tensor) -> torch.Tensor | None:
    """Nonnegative finite weights broadcastable to ``x.shape[:-1]`` with a positive total per batch row.

    Returns the weights expanded to ``x.shape[:-1]`` in float64 (mass bookkeeping is kept in
    float64 so that integer counts add up exactly), or None.
    """
    if weights is None:
        return None
    if not isinstance(weights, torch.Tensor):
        _checks.fail(owner, "weights", "be None or a torch.Tensor of shape (..., m)", weights,
                     kind=TypeError)
    if weights.is_complex() or weights.dtype == torch.bool:
        _checks.fail(owner, "weights", "be a real tensor", weights, kind=TypeError)
    batch = x.shape[:-1]
    ok = weights.shape == batch  # the simulator's case; torch.broadcast_shapes costs ~100 us a call
    if not ok:
        try:
            ok = torch.broadcast_shapes(weights.shape, batch) == batch
        except RuntimeError:
            ok = False
    if weights.dim() < 1 or not ok:
        _checks.fail(owner, "weights", f"have shape (..., m) broadcastable to {tuple(batch)}", weights,
                     hint="Give one weight per worker row of x.")
    w = weights.detach().to(device=x.device, dtype=torch.float64).expand(batch)
    # one host synchronisation for the three conditions; which one failed is looked up only then
    if not bool((torch.isfinite(w).all() & (w >= 0).all() & (w.sum(-1) > 0).all())):
        if not torch.isfinite(w).all():
            _checks.fail(owner, "weights", "be finite", weights)
        if (w < 0).any():
            _checks.fail(owner, "weights", "be nonnegative", weights)
        _checks.fail(owner, "weights", "have a positive total in every batch row (not all zero)",
                     weights)
    return w


def byzantine_mass(lam: float, total):
    """``lam * total``, snapped to an integer when within rounding of one.

    With ``lam = f/m`` the product can land an ulp away from ``f``; snapping makes the unweighted
    rule with ``lam = f/m`` exactly the classic rule with ``f`` Byzantine inputs. ``total`` is a
    float64 tensor or, for the unweighted rules, a number (the result is then a float).
    """
    if not isinstance(total, torch.Tensor):
        F = lam * total
        Fr = float(round(F))  # half to even, as torch.round
        return Fr if abs(F - Fr) <= 64 * torch.finfo(torch.float64).eps * total else F
    F = lam * total
    Fr = torch.round(F)
    return torch.where((F - Fr).abs() <= 64 * torch.finfo(torch.float64).eps * total, Fr, F)


def uniform_rows(w: torch.Tensor) -> torch.Tensor:
    """Batch rows whose weights are all equal (such rows are computed by the unweighted path)."""
    return (w == w[..., :1]).all(-1)


def dispatch(compute: Callable, x: torch.Tensor, w: torch.Tensor | None, **per_run):
    """Call ``compute(x, w, **per_run)`` so that uniform weights give exactly the unweighted result.

    Rows of the batch with equal weights go through ``compute(..., None)``; when a batch mixes
    uniform and non-uniform rows both paths run, each on its own rows. ``compute`` returns a
    tensor (..., *) or a tuple of them. ``per_run`` holds
    arguments with one entry per batch row (a center of shape (..., d), a Stream), which are
    sliced along with ``x``.
    """
    if w is None:
        return compute(x, None, **per_run)
    uni = uniform_rows(w)
    if bool(uni.all()):
        return compute(x, None, **per_run)
    out = compute(x, w, **per_run)
    if bool(uni.any()):
        batch = x.shape[:-2]
        flat = uni.reshape(-1)
        sub = {k: _take_runs(v, flat, batch) for k, v in per_run.items()}
        part = compute(x[uni], None, **sub)
        if isinstance(out, tuple):
            out = tuple(o.clone() for o in out)
            for o, p in zip(out, part):
                o[uni] = p
        else:
            out = out.clone()
            out[uni] = part
    return out


def _take_runs(v, flat_mask: torch.Tensor, batch):
    if v is None:
        return None
    if isinstance(v, Stream):
        return v[flat_mask.to(v.device)] if len(v) > 1 else v
    if isinstance(v, torch.Tensor):
        return v.expand(*batch, v.shape[-1])[flat_mask.reshape(batch)]
    return v


def accepted_keywords(fn) -> set[str]:
    """Keyword names a callable accepts (all of them when it takes ``**kwargs``)."""
    if isinstance(fn, Aggregator):
        return {"lam", "center", "generator"}
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return {"lam", "center", "generator"}
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return {"lam", "center", "generator"}
    return {p.name for p in params}


# -- the uniform call form -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Aggregator:
    """An aggregator with one call form, as the simulator calls every rule.

    ``agg(x, weights=None, *, lam, center=None, generator=None)`` over ``x: (..., m, d)`` and
    ``weights: (..., m)`` returns ``(..., d)``. ``name`` is deterministic (the canonical spelling
    of :func:`sco.aggregators.parse`); ``needs_center`` says that the rule needs the previous
    aggregate (centered clipping), ``needs_generator`` that it draws random numbers
    (bucketing) from a :class:`sco.random.Stream`.
    """

    name: str
    fn: Callable = dataclasses.field(repr=False, compare=False)
    options: tuple = ()
    needs_center: bool = False
    needs_generator: bool = False
    # the keywords fn accepts, read from its signature once: the simulator calls every round
    _accepted: frozenset = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_accepted", frozenset(accepted_keywords(self.fn)))

    def __call__(self, x, weights=None, *, lam, center=None, generator=None):
        if self.needs_center and center is None:
            _checks.fail(self.name, "center", "be given: this rule clips around the previous aggregate",
                         center, hint="Pass center= the last round's output (zeros at the first round).")
        if self.needs_generator and generator is None:
            _checks.fail(self.name, "generator", "be a sco.random.Stream: this rule is randomized",
                         generator, hint="Pass generator=stream.fold('aggregate', t).")
        kw = dict(self.options)
        acc = self._accepted
        if "lam" in acc:
            kw["lam"] = lam
        else:
            check_lam(self.name, lam)
        if "center" in acc:
            kw["center"] = center
        if "generator" in acc:
            kw["generator"] = generator
        return self.fn(x, weights, **kw)


def as_aggregator(base) -> Aggregator:
    """An :class:`Aggregator` from an Aggregator, a registered name or spec, or a plain function."""
    if isinstance(base, Aggregator):
        return base
    if isinstance(base, (str, dict)):
        from .registry import parse
        return parse(base)
    if callable(base):
        acc = accepted_keywords(base)
        return Aggregator(name=getattr(base, "__name__", repr(base)), fn=base,
                          needs_center="center" in acc and _required(base, "center"),
                          needs_generator="generator" in acc and _required(base, "generator"))
    _checks.fail("as_aggregator", "base", "be an aggregator function, an Aggregator or a name", base,
                 kind=TypeError)


def _required(fn, name: str) -> bool:
    try:
        p = inspect.signature(fn).parameters.get(name)
    except (TypeError, ValueError):
        return False
    return p is not None and p.default is inspect.Parameter.empty


# -- keep the nearest rows up to a weight mass ---------------------------------------------------

_EPS = torch.finfo(torch.float64).eps


def keep_nearest(keys: torch.Tensor, w: torch.Tensor | None, mass) -> torch.Tensor:
    """Coefficients of the rows nearest in ``keys`` up to weight ``mass``, fractional at the boundary.

    keys: (..., n, m) with +inf for rows that must come last (NaN is treated as +inf);
    w: (..., 1, m) or (..., n, m) float64 weights, or None when every row weighs 1 (then
    ``mass`` is one number, known on the host); mass: (..., n) float64 otherwise. Rows are
    taken in the order of (key, index), a stable sort, so ties are broken by index and never
    over-counted. Returns c: (..., n, m) float64 with ``0 <= c_ij <= w_ij`` and
    ``sum_j c_ij = mass_i`` (the boundary row contributes the remaining fraction of its
    weight): ``c_ij = clamp(mass_i - (weight before j in that order), 0, w_ij)``.
    """
    keys = torch.nan_to_num(keys.detach(), nan=math.inf, posinf=math.inf)
    if w is None:
        return _keep_nearest_units(keys, float(mass))
    order = torch.sort(keys, dim=-1, stable=True).indices  # (..., n, m)
    ws = w.expand(keys.shape).gather(-1, order)  # (..., n, m)
    before = torch.cumsum(ws, dim=-1) - ws
    cs = torch.minimum(ws, (mass.unsqueeze(-1) - before).clamp_min(0))  # (..., n, m)
    return torch.zeros_like(cs).scatter_(-1, order, drop_slivers(cs, mass.unsqueeze(-1)))


def _kth(keys: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th smallest key along the last axis, keepdim (numpy's SIMD partition on CPU)."""
    if _kernels.host(keys) and keys.dtype in (torch.float32, torch.float64):
        return torch.from_numpy(np.partition(keys.numpy(), k - 1, axis=-1)[..., k - 1:k])  # (..., n, 1)
    return torch.kthvalue(keys, k, dim=-1, keepdim=True).values


def _units_k(m: int, mass: float) -> int:
    return min(m, max(1, math.ceil(mass - 64 * _EPS * mass)))


def _keep_nearest_units(keys: torch.Tensor, mass: float) -> torch.Tensor:
    """:func:`keep_nearest` with unit weights and one mass: a selection instead of a sort.

    Row j's rank r_j in the (key, index) order gives ``c_j = clamp(mass - r_j, 0, 1)``,
    nonzero only for ranks below ``K = ceil(mass)``. With t the K-th smallest key, rows with
    key < t are all taken whole (their ranks are at most K - 2 < mass - 1) and rows tied at t
    are ranked by index, so only the K-th order statistic is needed. Everything about the
    mass is known on the host, so no step synchronizes a device.
    """
    k = _units_k(keys.shape[-1], mass)
    t = _kth(keys, k)
    lt, eq = keys < t, keys == t  # (..., n, m)
    one = torch.ones((), dtype=torch.float64, device=keys.device)
    zero = torch.zeros((), dtype=torch.float64, device=keys.device)
    if _kernels.host(keys) and bool((eq.sum(-1) == 1).all()):  # the usual case: t unique, of rank k-1
        frac = min(1.0, max(0.0, mass - (k - 1)))
        frac = 0.0 if frac <= 64 * _EPS * mass else frac
        return torch.where(lt, one, torch.where(eq, torch.full((), frac, dtype=torch.float64), zero))
    rank = lt.sum(-1, keepdim=True) + torch.cumsum(eq, dim=-1) - 1  # rank of each tied row
    c = torch.where(eq, (mass - rank.to(torch.float64)).clamp(0, 1), zero)
    return torch.where(lt, one, drop_slivers(c, mass))


def nearest_sum(keys: torch.Tensor, mass: float) -> torch.Tensor:
    """``sum_j c_ij keys_ij`` for the unit-weight coefficients of :func:`keep_nearest`
    (keys (..., n, m) -> (..., n) float64), without forming them.

    With k = ceil(mass), the k - 1 smallest keys are taken whole and the k-th with the
    fraction ``mass - (k - 1)``; which of several tied keys is taken does not change the sum.
    One partial selection gives both (numpy's partition on CPU, topk elsewhere).
    """
    keys = torch.nan_to_num(keys.detach(), nan=math.inf, posinf=math.inf)
    k = _units_k(keys.shape[-1], mass)
    if _kernels.host(keys) and keys.dtype in (torch.float32, torch.float64):
        part = np.partition(keys.numpy(), k - 1, axis=-1)
        # numpy sums the strided selection in float64 without torch's float64 copy of it
        inside = torch.from_numpy(part[..., :k - 1].sum(-1, dtype=np.float64))  # (..., n)
        t = torch.from_numpy(part[..., k - 1])
    else:
        low = torch.topk(keys, k, dim=-1, largest=False, sorted=True).values
        inside, t = low[..., :k - 1].sum(-1, dtype=torch.float64), low[..., k - 1]
    rest = mass - (k - 1)
    if rest <= 64 * _EPS * mass:  # rounding residue, as drop_slivers
        return inside
    return inside + rest * t.to(torch.float64)


def drop_slivers(share: torch.Tensor, total) -> torch.Tensor:
    """Zero the shares that are rounding residue (below 64 ulps of the total mass).

    ``lam * S`` rarely equals the Byzantine weight to the last bit; without this a boundary row
    just outside the kept mass could enter with weight 1e-16 and, at 1e300, move the output.
    """
    residue = share <= 64 * _EPS * total
    return torch.where(residue, torch.zeros((), dtype=share.dtype, device=share.device), share)


def combine(c: torch.Tensor, x: torch.Tensor, bad: torch.Tensor | None = None) -> torch.Tensor:
    """``sum_j c_ij x_j``: (..., n, m) coefficients times (..., m, d) rows -> (..., n, d).

    Rows flagged in ``bad`` (..., m) (non-finite or overflowing) are replaced by zeros first:
    they carry zero coefficient whenever the Byzantine weight is within the rule's budget, and
    ``0 * inf`` would otherwise be NaN. (On the CPU only when some row is bad; elsewhere
    always, since asking would synchronize the device.)
    """
    if bad is not None and (not _kernels.host(x) or bool(bad.any())):
        x = torch.where(bad.unsqueeze(-1), torch.zeros((), dtype=x.dtype, device=x.device), x)
    return c.to(x.dtype) @ x


def unit_weights(x: torch.Tensor) -> torch.Tensor:
    """Weights of the unweighted rule: one per row, float64, shape (..., m)."""
    return torch.ones(x.shape[:-1], dtype=torch.float64, device=x.device)

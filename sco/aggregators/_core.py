"""Shared cores of the aggregators: validation, weight bookkeeping, nearest-mass selection, distances, sorting."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import inspect
import math
from typing import Callable

import numpy as np
import torch

from .. import _checks
from ..random import Stream

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
    try:
        ok = torch.broadcast_shapes(weights.shape, batch) == batch
    except RuntimeError:
        ok = False
    if weights.dim() < 1 or not ok:
        _checks.fail(owner, "weights", f"have shape (..., m) broadcastable to {tuple(batch)}", weights,
                     hint="Give one weight per worker row of x.")
    w = weights.detach().to(device=x.device, dtype=torch.float64).expand(batch)
    if not torch.isfinite(w).all():
        _checks.fail(owner, "weights", "be finite", weights)
    if (w < 0).any():
        _checks.fail(owner, "weights", "be nonnegative", weights)
    if (w.sum(-1) <= 0).any():
        _checks.fail(owner, "weights", "have a positive total in every batch row (not all zero)",
                     weights)
    return w


def byzantine_mass(lam: float, total: torch.Tensor) -> torch.Tensor:
    """``lam * total``, snapped to an integer when within rounding of one.

    With ``lam = f/m`` the product can land an ulp away from ``f``; snapping makes the unweighted
    rule with ``lam = f/m`` exactly the classic rule with ``f`` Byzantine inputs.
    """
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


def keep_nearest(keys: torch.Tensor, w: torch.Tensor, mass: torch.Tensor) -> torch.Tensor:
    """Coefficients of the rows nearest in ``keys`` up to weight ``mass``, fractional at the boundary.

    keys: (..., n, m) with +inf for rows that must come last (NaN is treated as +inf);
    w: (..., 1, m) or (..., n, m) float64 weights; mass: (..., n) float64. Rows are taken in the
    order of (key, index), a stable sort, so ties are broken by index and never over-counted.
    Returns c: (..., n, m) float64 with ``0 <= c_ij <= w_ij`` and ``sum_j c_ij = mass_i``
    (the boundary row contributes the remaining fraction of its weight):
    ``c_ij = clamp(mass_i - (weight before j in that order), 0, w_ij)``.
    """
    keys = torch.nan_to_num(keys.detach(), nan=math.inf, posinf=math.inf)
    if w.shape[-2] == 1 and bool(uniform_rows(w).all()):
        c = _keep_nearest_equal(keys, w[..., :1], mass)
        if c is not None:
            return c
    order = torch.sort(keys, dim=-1, stable=True).indices  # (..., n, m)
    ws = w.expand(keys.shape).gather(-1, order)  # (..., n, m)
    before = torch.cumsum(ws, dim=-1) - ws
    cs = torch.minimum(ws, (mass.unsqueeze(-1) - before).clamp_min(0))  # (..., n, m)
    return torch.zeros_like(cs).scatter_(-1, order, drop_slivers(cs, mass.unsqueeze(-1)))


def _keep_nearest_equal(keys: torch.Tensor, u: torch.Tensor, mass: torch.Tensor) -> torch.Tensor | None:
    """:func:`keep_nearest` when every row weighs ``u``: one selection instead of a sort.

    Row j's rank r_j in the (key, index) order gives ``c_j = u * clamp(mass/u - r_j, 0, 1)``,
    nonzero only for ranks below ``K = ceil(mass/u)``. With t the K-th smallest key, rows with
    key < t are all taken whole (their ranks are at most K - 2 < mass/u - 1) and rows tied at t
    are ranked by index, so only the K-th order statistic is needed (numpy's SIMD partition on
    CPU, torch.kthvalue elsewhere). Returns None when K differs between rows.
    """
    units = mass.unsqueeze(-1) / u  # (..., n, 1)
    m = keys.shape[-1]
    K = torch.ceil(units - 64 * torch.finfo(torch.float64).eps * units).clamp(1, m).long()
    k = int(K.reshape(-1)[0])
    if bool((K != k).any()):
        return None
    if keys.device.type == "cpu" and keys.dtype in (torch.float32, torch.float64):
        t = torch.from_numpy(np.partition(keys.numpy(), k - 1, axis=-1)[..., k - 1:k])  # (..., n, 1)
    else:
        t = torch.kthvalue(keys, k, dim=-1, keepdim=True).values
    lt, eq = keys < t, keys == t  # (..., n, m)
    zero = torch.zeros((), dtype=torch.float64, device=keys.device)
    if bool((eq.sum(-1) == 1).all()):  # the usual case: the K-th key is unique, of rank K - 1
        frac = drop_slivers(u * (units - (k - 1)).clamp(0, 1), mass.unsqueeze(-1))  # (..., n, 1)
        return torch.where(lt, u, torch.where(eq, frac, zero))
    rank = lt.sum(-1, keepdim=True) + torch.cumsum(eq, dim=-1) - 1  # rank of each tied row
    c = torch.where(eq, u * (units - rank).clamp(0, 1), zero)
    return torch.where(lt, u, drop_slivers(c, mass.unsqueeze(-1)))


def drop_slivers(share: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """Zero the shares that are rounding residue (below 64 ulps of the total mass).

    ``lam * S`` rarely equals the Byzantine weight to the last bit; without this a boundary row
    just outside the kept mass could enter with weight 1e-16 and, at 1e300, move the output.
    """
    residue = share <= 64 * torch.finfo(torch.float64).eps * total
    return torch.where(residue, torch.zeros((), dtype=share.dtype, device=share.device), share)


def combine(c: torch.Tensor, x: torch.Tensor, bad: torch.Tensor | None = None) -> torch.Tensor:
    """``sum_j c_ij x_j``: (..., n, m) coefficients times (..., m, d) rows -> (..., n, d).

    Rows flagged in ``bad`` (..., m) (non-finite or overflowing) are replaced by zeros first:
    they carry zero coefficient whenever the Byzantine weight is within the rule's budget, and
    ``0 * inf`` would otherwise be NaN.
    """
    if bad is not None and bool(bad.any()):
        x = torch.where(bad.unsqueeze(-1), torch.zeros((), dtype=x.dtype, device=x.device), x)
    return c.to(x.dtype) @ x


def unit_weights(x: torch.Tensor) -> torch.Tensor:
    """Weights of the unweighted rule: one per row, float64, shape (..., m)."""
    return torch.ones(x.shape[:-1], dtype=torch.float64, device=x.device)


# -- distances ---------------------------------------------------------------------------------


def dist_to(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Euclidean distances ``||x_i - z||``: (..., m, d) and (..., d) -> (..., m).

    Computed from the differences (``cdist`` without the Gram expansion, which cancels in
    float32 when ``z`` is near the rows; no (m, d) temporary). A row holding NaN, or whose
    distance overflows (1e300 entries), gets +inf.
    """
    batch, (m, d) = x.shape[:-2], x.shape[-2:]
    r = torch.cdist(x.reshape(-1, m, d), z.reshape(-1, 1, d), compute_mode="donot_use_mm_for_euclid_dist")
    return torch.nan_to_num(r.reshape(*batch, m), nan=math.inf, posinf=math.inf)


def pairwise_sqdist(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared distances between rows, (..., m, d) -> D (..., m, m), and bad rows (..., m).

    Uses the Gram expansion ``|y_i|^2 + |y_j|^2 - 2 y_i.y_j`` (one matrix product, no
    (m, m, d) tensor) on rows centered at the row of median norm: distances do not change, and
    centering keeps the expansion's cancellation at the scale of the spread of the rows instead
    of their norm (honest gradients share a large common mean; float32 keeps ~7 digits). If
    that row is itself far, the error is at most that of the uncentered expansion times ~4.
    Rows whose centered squared norm is not finite (NaN, inf, or overflow from 1e300 entries)
    are ``bad``: their distance to every other row is +inf, to themselves 0.
    """
    m, d = x.shape[-2:]
    norms = torch.nan_to_num(torch.linalg.vector_norm(x.detach(), dim=-1), nan=math.inf, posinf=math.inf)
    mid = torch.sort(norms, dim=-1, stable=True).indices[..., (m - 1) // 2:(m - 1) // 2 + 1]  # (..., 1)
    center = x.detach().gather(-2, mid.unsqueeze(-1).expand(*mid.shape, d))  # (..., 1, d)
    y = x - center  # (..., m, d)
    G = y @ y.mT  # (..., m, m)
    sq = G.diagonal(dim1=-2, dim2=-1)  # (..., m)
    bad = ~torch.isfinite(sq.detach())
    D = (sq.unsqueeze(-1) + sq.unsqueeze(-2) - 2 * G).clamp_min(0)  # (..., m, m)
    D.diagonal(dim1=-2, dim2=-1).zero_()  # exact zeros (clamp_min saves its input, not D)
    if bool(bad.any()):
        eye = torch.eye(m, dtype=torch.bool, device=x.device)
        D = torch.where((bad.unsqueeze(-1) | bad.unsqueeze(-2)) & ~eye, math.inf,
                        torch.where(eye, 0.0, D).to(D.dtype)).to(D.dtype)
    return D, bad


# -- coordinate-wise sorting -------------------------------------------------------------------

_POOL: concurrent.futures.ThreadPoolExecutor | None = None


def _numpy_path(x: torch.Tensor) -> bool:
    # numpy's SIMD sort (x86-simd-sort) is 5-10x faster than torch.sort on CPU; it cannot carry
    # autograd, so tensors that need gradients take torch's path (same values, NaN last in both).
    return (x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
            and not (x.requires_grad and torch.is_grad_enabled()))


def _np_sort_(a: np.ndarray) -> None:
    """Sort the rows of a C-contiguous 2-D array in place, split over torch's CPU threads."""
    global _POOL
    threads = max(1, min(torch.get_num_threads(), a.shape[0] // 1024))
    if threads == 1:
        a.sort(axis=-1)
        return
    if _POOL is None or _POOL._max_workers < threads:
        _POOL = concurrent.futures.ThreadPoolExecutor(max_workers=threads)
    chunks = np.array_split(a, threads, axis=0)
    list(_POOL.map(lambda c: c.sort(axis=-1), chunks))  # numpy releases the GIL while sorting


def sorted_columns(x: torch.Tensor, with_indices: bool = False):
    """Each coordinate's values sorted ascending, NaN last: (..., m, d) -> (..., d, m).

    With ``with_indices`` also the original row index of each sorted value, (..., d, m) int64.
    The transposed layout puts each coordinate's m values contiguously, which both the sort
    and the reductions over m want.
    """
    xt = x.transpose(-1, -2)  # (..., d, m)
    if not _numpy_path(x):
        s = torch.sort(xt, dim=-1)
        return (s.values, s.indices) if with_indices else s.values
    m = x.shape[-2]
    if with_indices:
        a = xt.detach().contiguous().numpy().reshape(-1, m)
        idx = np.argsort(a, axis=-1)
        vals = np.take_along_axis(a, idx, axis=-1)
        shape = xt.shape
        return (torch.from_numpy(vals).reshape(shape), torch.from_numpy(idx).reshape(shape))
    out = xt.detach().clone(memory_format=torch.contiguous_format)  # a copy: x is never written
    _np_sort_(out.numpy().reshape(-1, m))
    return out

"""CPU kernels of the aggregators: per-coordinate work in cache-sized tiles, distances stable at any scale."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .._parallel import run_jobs

# A tile of x^T (coordinates x workers) is this many bytes: with the sort's and the weighted
# path's temporaries (about 6 times the tile) it stays in a core's L2 cache. One (m, d) pass
# through memory per rule, instead of a transposed copy of x and full-size temporaries.
TILE_BYTES = 1 << 17
# Column blocks of the Gram product: a temporary of 4 MiB (float32) stays in cache and below
# glibc's 32 MiB mmap threshold, above which every call would page-fault a fresh one.
BLOCK_ELEMENTS = 1 << 20


def _l2_bytes(default: int = 1 << 20) -> int:
    """A core's L2 cache in bytes, as Linux reports it (``default`` where it does not)."""
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            if (index / "level").read_text().strip() == "2":
                size = (index / "size").read_text().strip().upper()
                scale = {"K": 1 << 10, "M": 1 << 20}.get(size[-1:], 1)
                return int(size.rstrip("KM")) * scale
        except (OSError, ValueError):
            break
    return default


# Columns of a distance tile: float32 squares are summed by torch's cascade within a tile
# and in float64 across tiles.
DIST_COLS = 1 << 18
# Elements of a distance tile: rows of up to DIST_COLS columns filling a core's L2 cache in
# float32 (1 MiB where the size is unknown). Fixed sizes measured: on an earlier machine
# 2**18 was fastest (a mean at (100, 1e5) took 2.5x less than with 4 MiB tiles); on a 2 MiB
# L2, 2**19 took 7.9/15.7/1.0 ms where 2**18 took 10.8/19.1/1.2 ms at (100, 1e5), (17, 1e6),
# (1000, 1e3). The rows of a tile change how torch splits a row's sum between threads, so
# machines with other caches can differ in the last bits (~3e-8 relative at d = 1e6), as they
# do through BLAS.
DIST_TILE = min(1 << 20, max(1 << 16, _l2_bytes() // 4))
#: instances of at most this many entries (m * d) take the torch forms, the whole batch in a
#: handful of ops: the numpy kernels' loop over batch rows and tiles costs more than their
#: arithmetic there (a tile's job, about 100 us, was half of a small asynchronous simulation's
#: step; the tiles' recheck of rows at 0, 70% of a Weiszfeld loop over small inputs). Decided
#: per instance, never per batch, so that a run gives the same numbers alone and batched.
SMALL = 1 << 12

def host(t: torch.Tensor) -> bool:
    """Whether ``t`` is on the CPU: there asking a tensor for a value costs nothing and the
    numpy kernels run; elsewhere every step stays on the device without synchronizing. (Tests
    set this to ``lambda t: False`` to run the accelerator forms on the CPU.)"""
    return t.device.type == "cpu"


def numpy_path(x: torch.Tensor) -> bool:
    """Whether ``x`` (..., m, d) takes the numpy kernels: CPU float32/float64 not recording
    gradients, instances of more than :data:`SMALL` entries.

    numpy's SIMD sort (x86-simd-sort) is 5-10x faster than torch.sort on CPU; numpy cannot
    carry autograd, so tensors that need gradients (and other devices) take torch's path.
    """
    return (host(x) and x.dtype in (torch.float32, torch.float64)
            and not (x.requires_grad and torch.is_grad_enabled()) and x.shape[-2] * x.shape[-1] > SMALL)


def column_tiles(x: torch.Tensor, kernel: Callable, out_dtype=None) -> torch.Tensor:
    """``kernel`` on every coordinate's m values, a tile of coordinates at a time.

    x: (..., m, d) on the numpy path. For each batch row b (of the flattened batch) and
    block of c coordinates, ``kernel(block, b)`` gets ``block`` (m, c), a view of x (never
    to be written), and returns (c,) values. Returns (..., d) in ``out_dtype`` (default x's
    dtype). Kernels transpose their block in cache (:func:`rows_of`, :class:`SortedRows`)
    rather than x as one (d, m) array.
    """
    *batch, m, d = x.shape
    xb = x.detach().reshape(-1, m, d).numpy()
    out = np.empty((xb.shape[0], d), dtype=xb.dtype if out_dtype is None else out_dtype)
    cols = max(1, min(d, TILE_BYTES // (m * xb.itemsize)))

    def job(j):
        b, c0 = j
        c1 = min(d, c0 + cols)
        out[b, c0:c1] = kernel(xb[b, :, c0:c1], b)

    run_jobs([(b, c0) for b in range(xb.shape[0]) for c0 in range(0, d, cols)], job, work=xb.size)
    return torch.from_numpy(out).reshape(*batch, d)


def rows_of(block: np.ndarray) -> np.ndarray:
    """A C-contiguous (c, m) copy of a (m, c) block: each coordinate's values together.

    Always a copy: the kernels sort it in place, and for one column (or one row) the transpose
    is already contiguous, so ``np.ascontiguousarray`` would return a view of the caller's x."""
    return np.array(block.T, order="C", copy=True)


def cumsum(a: np.ndarray) -> np.ndarray:
    """Cumulative sums along the last axis (torch's scan is ~5x numpy's on short rows)."""
    return torch.cumsum(torch.from_numpy(a), dim=-1).numpy()


def searchsorted(sorted_rows: np.ndarray, v: np.ndarray, right: bool) -> np.ndarray:
    """Per row, how many entries are < v (``right``: <= v); sorted_rows (c, m), v (c, 1)."""
    return torch.searchsorted(torch.from_numpy(sorted_rows), torch.from_numpy(v), right=right).numpy()


# -- sorting with weights -----------------------------------------------------------------------

_SIGN32 = np.uint32(0x80000000)


class SortedRows:
    """Each coordinate's values sorted ascending (NaN last), with the original row index of
    every sorted value: from a (m, c) block, ``index`` (c, m), ``values()`` all the sorted
    values or ``values(j)`` those at positions j (c, k) only.

    float32 values travel with their row index in one 64-bit key (the value's bits made
    order-preserving in the high half, the index in the low half, written transposed
    straight from the block), so one SIMD sort of integers replaces an argsort (~3x slower
    than a sort) and a gather; NaN keys are made the largest. Equal values come out in index
    order (the low half breaks ties), except that -0.0 precedes +0.0. float64 values take
    numpy's stable argsort.
    """

    def __init__(self, block: np.ndarray):
        m, c = block.shape
        if block.dtype == np.float32:
            u = block.view(np.uint32)
            # negative floats: flip every bit; others: flip the sign bit -> unsigned order = float order
            flip = (u.view(np.int32) >> 31).view(np.uint32) | _SIGN32
            keys = np.empty((c, m, 2), dtype=np.uint32)
            np.bitwise_xor(u, flip, out=keys[:, :, 1].T)
            nan = np.isnan(block)
            if nan.any():
                keys[:, :, 1].T[nan] = 0xFFFFFFFF  # every NaN after +inf, as np.sort/torch.sort
            keys[:, :, 0] = np.arange(m, dtype=np.uint32)
            k64 = keys.view(np.uint64).reshape(c, m)
            k64.sort(axis=-1)
            self._hi = keys[:, :, 1]
            self.index = keys[:, :, 0]
            self._a = None
        else:
            self._a = rows_of(block)
            self.index = np.argsort(self._a, axis=-1, kind="stable")

    def values(self, j: np.ndarray | None = None) -> np.ndarray:
        if self._a is not None:
            idx = self.index if j is None else np.take_along_axis(self.index, j, axis=-1)
            return np.take_along_axis(self._a, idx, axis=-1)
        hi = self._hi if j is None else np.take_along_axis(self._hi, j, axis=-1)
        back = np.where(hi & _SIGN32, _SIGN32, np.uint32(0xFFFFFFFF))  # undo the flip
        return np.bitwise_xor(hi, back).view(np.float32)


# -- distances --------------------------------------------------------------------------------


def dist_to(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Euclidean distances ``||x_i - z||``: (..., m, d) and (..., d) -> (..., m) float64.

    From the differences, never the Gram expansion (which cancels when z is near the rows),
    summed by torch's cascade (float32 keeps ~7 digits at d = 1e6, where cdist's running sum
    lost 4), and correct at any scale: a row whose plain sum of squares overflows or may have
    underflowed (below 2**-60 of the dtype's range) is recomputed in float64 scaled by its
    largest difference. Small instances (m * d <= SMALL) are scaled whole; larger ones, on
    the CPU, a (rows, d) tile at a time, one pass over x with no (m, d) temporary. A row
    holding NaN, or whose distance exceeds float64's range, gets +inf.
    """
    *batch, m, d = x.shape
    z = z.to(x.dtype).expand(*batch, d)
    if numpy_path(x):
        r = _dist_tiles(x.detach().reshape(-1, m, d), z.detach().reshape(-1, d)).reshape(*batch, m)
    else:
        r = _dist_scaled(x, z)
    return torch.nan_to_num(r, nan=math.inf, posinf=math.inf)


def _dist_scaled(x, z):
    """Distances with every row scaled by its largest difference (off the CPU, for autograd,
    and for the rows the tiles could not represent)."""
    diff = x - z.unsqueeze(-2)  # (..., m, d)
    a = diff.detach().abs().amax(-1, keepdim=True).to(torch.float64)  # (..., m, 1)
    a = torch.where(a > 0, a, torch.ones((), dtype=a.dtype, device=a.device))
    return a.squeeze(-1) * torch.linalg.vector_norm(diff.to(torch.float64) / a, dim=-1)


def _dist_tiles(x, z):
    """CPU distances from (B, m, d) rows and (B, d) points, a tile of at most DIST_TILE
    elements (a core's L2 cache of float32) and DIST_COLS columns at a time through one reused
    buffer; squares summed by torch's cascade in x's dtype within a tile, in float64 across
    tiles, then checked. Small problems put several runs in one tile (a search over many small
    inputs would otherwise pay a Python loop step per run)."""
    B, m, d = x.shape
    cols = min(d, DIST_COLS)
    rows = max(1, min(m, DIST_TILE // cols))
    # several runs to a tile, but never one-row runs: torch splits a tile's sum between threads
    # when it has one output row and not when it has several, so a run of one row would sum
    # differently alone and batched
    runs = max(1, DIST_TILE // (rows * cols)) if rows == m > 1 else 1
    sq = torch.zeros(B, m, dtype=torch.float64)
    buf = torch.empty(min(runs, B), rows, cols, dtype=x.dtype)
    for b0 in range(0, B, runs):  # each op still spans many rows
        b1 = min(B, b0 + runs)
        for r0 in range(0, m, rows):
            r1 = min(m, r0 + rows)
            for c0 in range(0, d, cols):
                xs = x[b0:b1, r0:r1, c0:c0 + cols]
                diff = torch.sub(xs, z[b0:b1, None, c0:c0 + cols], out=buf[:b1 - b0, :r1 - r0, :xs.shape[-1]])
                sq[b0:b1, r0:r1] += diff.square_().sum(-1)
    tiny = 2.0 ** (math.log2(torch.finfo(x.dtype).tiny) + 60)
    redo = ~(sq >= tiny) | torch.isinf(sq)  # possible underflow (zeros too), overflow, NaN
    r = sq.sqrt_()
    if bool(redo.any()):
        b, i = redo.nonzero(as_tuple=True)
        r[b, i] = _dist_scaled(x[b, i].unsqueeze(-2), z[b]).squeeze(-1)  # only the rows that need it
    return r


def pairwise_sqdist(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Squared distances between rows in units of a per-batch-row scale, and the bad rows.

    (..., m, d) -> D (..., m, m), bad (..., m), scale (...): ``D * scale**2`` are the squared
    distances. One Gram product ``|y_i|^2 + |y_j|^2 - 2 y_i.y_j`` (no (m, m, d) tensor) on
    the rows centered at the row of median norm, ``y = (x - x_c) / scale``: centering keeps
    the cancellation at the scale of the rows' spread rather than their norm (float32 keeps
    ~7 digits), and ``scale`` keeps the squares representable at any scale of the input
    (rows at 1e160 or 1e-160 give the D of rows at 1). On the CPU ``scale`` is 1 unless the
    median squared norm of y is outside the middle half of the dtype's exponent range, and
    the product is accumulated over column blocks of y (no (m, d) temporary); elsewhere
    ``scale`` is the power of two nearest the median of the rows' largest centered entries.
    Rows whose scaled squared norm is not finite (NaN, inf, or a row ~1e150 times farther
    than the median row in float64, 1e19 in float32) are ``bad``: their distance to every
    other row is +inf, to themselves 0.
    """
    *batch, m, d = x.shape
    norms = torch.nan_to_num(torch.linalg.vector_norm(x.detach(), dim=-1), nan=math.inf)  # (..., m)
    mid = torch.sort(norms, dim=-1, stable=True).indices[..., (m - 1) // 2:(m - 1) // 2 + 1]  # (..., 1)
    center = x.detach().gather(-2, mid.unsqueeze(-1).expand(*mid.shape, d))  # (..., 1, d)
    G = None
    if host(x):
        G = _centered_gram_blocks(x, center)
        e = int(math.log2(torch.finfo(x.dtype).max)) // 2  # |y|^2 in [2**-e, 2**e]
        med = G.diagonal(dim1=-2, dim2=-1).median(-1).values
        if bool(((med >= 2.0 ** -e) & (med <= 2.0 ** e)).all()):
            scale = torch.ones(batch, dtype=x.dtype)
        else:
            G = None
    if G is None:
        y = x - center  # (..., m, d)
        spread = torch.nan_to_num(y.detach().abs().amax(-1), nan=math.inf)  # (..., m)
        s = spread.median(-1).values
        s = torch.where(torch.isfinite(s) & (s > 0), s, torch.ones((), dtype=s.dtype, device=s.device))
        scale = torch.exp2(torch.round(torch.log2(s)))  # a power of two: scaling is exact
        y = y / scale[..., None, None]
        G = y @ y.mT  # (..., m, m)
    sq = G.diagonal(dim1=-2, dim2=-1)  # (..., m)
    bad = ~torch.isfinite(sq.detach())
    if G.requires_grad:
        D = (sq.unsqueeze(-1) + sq.unsqueeze(-2) - 2 * G).clamp_min(0)  # (..., m, m)
    else:  # the same arithmetic in place: four passes over (m, m), no temporaries
        sq = sq.clone()
        D = G.mul_(-2).add_(sq.unsqueeze(-1)).add_(sq.unsqueeze(-2)).clamp_min_(0)
    D.diagonal(dim1=-2, dim2=-1).zero_()  # exact zeros (clamp_min saves its input, not D)
    if not host(x) or bool(bad.any()):
        eye = torch.eye(m, dtype=torch.bool, device=x.device)
        D = torch.where((bad.unsqueeze(-1) | bad.unsqueeze(-2)) & ~eye, math.inf,
                        torch.where(eye, 0.0, D).to(D.dtype)).to(D.dtype)
    return D, bad, scale


def _centered_gram_blocks(x: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
    """``(x - c)(x - c)^T`` summed over blocks: (..., m, d), (..., 1, d) -> (..., m, m).

    A block is a chunk of runs (batch rows) times a chunk of columns, at most BLOCK_ELEMENTS
    entries, through one reused buffer: whole runs while m * d fits, so that each run's
    product is the BLAS call it would be alone (the blocks of a run never depend on the batch:
    the same bits alone and batched), and column chunks of each run beyond. Splitting the
    columns by the batch's size made 16 runs of (100, 1e4) 16 thin products each, slower than
    a loop over the runs.
    """
    *batch, m, d = x.shape
    B = math.prod(batch)
    cols = max(1, min(d, BLOCK_ELEMENTS // m))
    runs = max(1, min(B, BLOCK_ELEMENTS // (m * cols)))
    if x.requires_grad or (runs == B and cols == d):
        return _gram(x - center)
    xb, cb = x.reshape(B, m, d), center.reshape(B, 1, d)
    buf = x.new_empty(runs, m, cols)  # a fresh temporary per block would page-fault once it is large
    G = x.new_empty(B, m, m)
    for b0 in range(0, B, runs):
        b1 = min(B, b0 + runs)
        acc = None
        for c0 in range(0, d, cols):
            y = torch.sub(xb[b0:b1, :, c0:c0 + cols], cb[b0:b1, :, c0:c0 + cols],
                          out=buf[:b1 - b0, :, :min(cols, d - c0)])
            acc = _gram(y) if acc is None else acc.add_(_gram(y))
        G[b0:b1] = acc
    return G.reshape(*batch, m, m)


def _gram(y: torch.Tensor) -> torch.Tensor:
    """``y @ y.mT`` computing only the blocks on and above the diagonal when m >= 512 (torch
    has no symmetric rank-k product; four row blocks do 5/8 of the multiply-adds)."""
    m = y.shape[-2]
    if m < 512:
        return y @ y.mT
    edges = [round(i * m / 4) for i in range(5)]
    G = y.new_empty(*y.shape[:-2], m, m)
    for i in range(4):
        a = y[..., edges[i]:edges[i + 1], :]
        for j in range(i, 4):
            blk = a @ y[..., edges[j]:edges[j + 1], :].mT
            G[..., edges[i]:edges[i + 1], edges[j]:edges[j + 1]] = blk
            if j > i:
                G[..., edges[j]:edges[j + 1], edges[i]:edges[i + 1]] = blk.mT
    return G

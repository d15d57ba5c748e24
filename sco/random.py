"""Counter-based random numbers: a run's draws depend only on its seed and on the draw's name.

Every run ``r`` of a batch holds a 64-bit key derived from its seed. A draw is named
by folding labels into the keys (``stream.fold("noise", t)``); element ``j`` of run
``r`` is then SplitMix64 of ``key_r + (j + 1) * gamma``. Nothing depends on which
other runs share the batch, on the batch size, or on the order of draws, which is
what lets R seeds run as one tensor program and still reproduce a seed run alone
(DESIGN.md: "Results do not depend on how runs are batched together"). Integer
arithmetic is exact, so the raw bits are also identical on CPU and CUDA.

References: [SLF14] Steele, Lea & Flood, "Fast splittable pseudorandom number
generators", OOPSLA 2014 (SplitMix64); [SMDS11] Salmon et al., "Parallel random
numbers: as easy as 1, 2, 3", SC 2011 (counter-based generators).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch

from . import _checks
from ._parallel import run_jobs

_M64 = (1 << 64) - 1


def _signed(u: int) -> int:
    """A 64-bit pattern as the int64 value torch stores."""
    u &= _M64
    return u - (1 << 64) if u >> 63 else u


_GAMMA = _signed(0x9E3779B97F4A7C15)
_C1 = _signed(0xBF58476D1CE4E5B9)
_C2 = _signed(0x94D049BB133111EB)
# Elements generated per block on CPU: small enough that the ~10 element-wise passes of
# the mixer stay in cache (measured: 2.4x faster than one pass over 16M elements).
_CPU_BLOCK = 1 << 15


def splitmix64(z: int) -> int:
    """Reference SplitMix64 finalizer on a Python int (unsigned 64-bit result) [SLF14]."""
    z &= _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _mix_(x: torch.Tensor) -> torch.Tensor:
    """SplitMix64 finalizer, in place, on an int64 tensor.

    torch shifts int64 arithmetically, so each right shift is masked to act as the
    logical shift of the unsigned algorithm; int64 products wrap modulo 2**64. On the CPU
    the same bits come from numpy's unsigned arithmetic on the tensor's memory: five ops
    instead of eight, each a fraction of a torch op's dispatch on the small key arrays that
    :meth:`Stream.fold` mixes at every simulated step (54 -> 16 us a call).
    """
    if x.device.type != "cpu":
        return _mix_torch_(x)
    u = x.numpy().view(_U64)
    _mix_np_(u, np.empty_like(u))
    return x


def _mix_np_(h: np.ndarray, tmp: np.ndarray, last_shift: bool = True) -> None:
    """:func:`_mix_` in numpy's unsigned arithmetic, in place on the uint64 array ``h``, with
    ``tmp`` (its shape) for the shifts; ``last_shift=False`` skips the final xor-shift (by 31),
    which leaves the top 33 bits as they are."""
    h ^= np.right_shift(h, _U64(30), out=tmp)
    h *= _NP_C1
    h ^= np.right_shift(h, _U64(27), out=tmp)
    h *= _NP_C2
    if last_shift:
        h ^= np.right_shift(h, _U64(31), out=tmp)


def _mix_torch_(x: torch.Tensor) -> torch.Tensor:
    """:func:`_mix_` in torch's signed arithmetic (other devices)."""
    x ^= (x >> 30) & ((1 << 34) - 1)
    x *= _C1
    x ^= (x >> 27) & ((1 << 37) - 1)
    x *= _C2
    x ^= (x >> 31) & ((1 << 33) - 1)
    return x


def _label(v) -> int:
    """A 64-bit integer for a fold label: ints as they are, strings by a stable hash."""
    if isinstance(v, str):
        return int.from_bytes(hashlib.blake2b(v.encode(), digest_size=8).digest(), "little")
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"Stream.fold labels must be int, str or an int64 tensor. Got {v!r}.")
    return v & _M64


class Stream:
    """Independent random streams for ``R`` runs, one 64-bit key per run.

    Parameters
    ----------
    seeds : int, sequence of int, or int64 tensor of shape (R,)
        One seed per run; seeds must be in ``[0, 2**63)``.
    device : torch.device, optional
        Where draws are produced (default: the device of ``seeds`` or CPU).

    Draws return tensors of shape ``(R, *shape)``. ``stream[i]`` (or a slice) selects
    runs and gives exactly the numbers those runs get inside the batch. Folding a tensor
    label of shape (R, k) gives one key per (run, k) -- for example one per worker -- and
    draws of shape (R, k, *shape).
    """

    def __init__(self, seeds, device=None):
        if isinstance(seeds, torch.Tensor):
            if seeds.dtype != torch.int64 or seeds.dim() != 1:
                _checks.fail("Stream", "seeds", "be a 1-D int64 tensor", seeds)
            if (seeds < 0).any():
                _checks.fail("Stream", "seeds", "hold seeds >= 0", seeds)
            device = seeds.device if device is None else torch.device(device)
            seeds = seeds.to(device)
        else:
            if isinstance(seeds, int) and not isinstance(seeds, bool):
                seeds = [seeds]
            seeds = [_checks.integer("Stream", "seeds", s, low=0, high=(1 << 63) - 1) for s in seeds]
            if not seeds:
                _checks.fail("Stream", "seeds", "hold at least one seed", seeds)
            device = torch.device("cpu") if device is None else torch.device(device)
            seeds = torch.tensor(seeds, dtype=torch.int64, device=device)
        self.keys = _mix_(seeds ^ _signed(splitmix64(0x5C0)))  # (R,)

    @classmethod
    def _from_keys(cls, keys: torch.Tensor) -> Stream:
        s = cls.__new__(cls)
        s.keys = keys
        return s

    # -- structure -----------------------------------------------------------------------

    def __len__(self) -> int:
        return self.keys.shape[0]

    @property
    def device(self) -> torch.device:
        return self.keys.device

    @property
    def shape(self) -> tuple:
        """Shape of the key array: (R,) or (R, k, ...) after folding tensor labels."""
        return tuple(self.keys.shape)

    def __getitem__(self, idx) -> Stream:
        keys = self.keys[idx]
        if keys.dim() < self.keys.dim():  # an integer index keeps its run axis
            keys = keys.unsqueeze(0)
        return Stream._from_keys(keys)

    def to(self, device) -> Stream:
        return Stream._from_keys(self.keys.to(device))

    def fold(self, *labels) -> Stream:
        """A new, independent stream named by ``labels``: ints, strings, or int64 tensors
        whose shape extends the key shape (R, ...) to the right, e.g. (R, k) worker indices."""
        keys = self.keys.clone()
        for v in labels:
            if isinstance(v, torch.Tensor):
                lead = keys.shape[:min(keys.dim(), v.dim())]
                if v.dtype != torch.int64 or v.shape[:len(lead)] != lead:
                    raise ValueError(
                        f"A tensor label of Stream.fold must be int64 with a shape that starts with the "
                        f"key shape {tuple(keys.shape)} (one entry per run). Got shape {tuple(v.shape)} "
                        f"and dtype {v.dtype}.")
                lab = _mix_(v.to(keys.device) + _GAMMA)  # as splitmix64(label + gamma) below
                while keys.dim() < lab.dim():
                    keys = keys.unsqueeze(-1)
                while lab.dim() < keys.dim():
                    lab = lab.unsqueeze(-1)
                keys = _mix_(keys ^ lab)
            else:
                keys = _mix_(keys ^ _signed(splitmix64(_label(v) + 0x9E3779B97F4A7C15)))
        return Stream._from_keys(keys)

    # -- raw generation ------------------------------------------------------------------

    def _generate(self, shape, dtype, kind: str) -> torch.Tensor:
        """Draws of ``kind`` ("bits", "uniform", "normal", "exponential") over the (keys, N)
        grid of counters: element j of key r is a function of SplitMix64(key_r + (j+1) gamma)
        alone, however the grid is cut into blocks."""
        shape = tuple(int(s) for s in shape)
        keys = self.keys.reshape(-1)
        R, N = keys.shape[0], math.prod(shape)
        out = torch.empty((R, N), dtype=dtype, device=self.device)
        if R and N:
            if self.device.type == "cpu":
                _generate_numpy(keys, out, kind)
            else:
                _generate_torch(keys, out, kind)
        return out.view(*self.keys.shape, *shape)

    def bits(self, shape) -> torch.Tensor:
        """Raw 64-bit patterns, int64 of shape (R, *shape)."""
        return self._generate(shape, torch.int64, "bits")

    # -- distributions -------------------------------------------------------------------

    def uniform(self, shape, dtype=torch.float64) -> torch.Tensor:
        """Uniform on the open interval (0, 1): 53 random bits in float64, 24 in float32."""
        return self._generate(shape, dtype, "uniform")

    def normal(self, shape, dtype=torch.float64) -> torch.Tensor:
        """Standard normal by inversion of the uniform, so one key gives one value.

        float64 uses ``ndtri`` on 53-bit uniforms; float32 uses sqrt(2) erfinv(2u - 1), 4.6x
        faster than float32 ``ndtri`` on this CPU, on 24-bit uniforms, which truncates the
        tails at |z| ~ 5.4 (either way).
        """
        return self._generate(shape, dtype, "normal")

    def exponential(self, shape, dtype=torch.float64) -> torch.Tensor:
        """Exponential with mean 1."""
        return self._generate(shape, dtype, "exponential")

    def randint(self, high, shape) -> torch.Tensor:
        """Integers uniform on ``[0, high)``; ``high`` an int or an int64 tensor broadcastable
        to (*key shape, *shape) (for example each worker's shard size)."""
        u = self.uniform(shape)
        high_t = torch.as_tensor(high, device=self.device)
        # an int bound is checked on the host: a tensor test would synchronize a GPU
        if (high < 1) if isinstance(high, int) else bool((high_t < 1).any()):
            raise ValueError(f"randint needs high >= 1. Got high={high}.")
        # 53-bit uniforms: the bias of flooring is below 2**-53 * high.
        return torch.minimum((u * high_t).long(), high_t - 1)

    def permutation(self, n: int) -> torch.Tensor:
        """A uniformly random permutation of ``range(n)`` per run, shape (R, n)."""
        return self.uniform((n,)).argsort(dim=-1)

    def categorical(self, probs: torch.Tensor, shape=()) -> torch.Tensor:
        """Indices drawn with probabilities ``probs``, of shape (c,) shared by all runs or
        (R, c) per run (for keys of shape (R,)); result (*key shape, *shape)."""
        cdf = torch.cumsum(probs.to(device=self.device, dtype=torch.float64), dim=-1)
        cdf = cdf / cdf[..., -1:]
        u = self.uniform(shape)
        if cdf.dim() == 1:
            idx = torch.searchsorted(cdf, u.reshape(-1), right=True).reshape(u.shape)
        else:
            idx = torch.searchsorted(cdf, u.reshape(len(self), -1), right=True).reshape(u.shape)
        return idx.clamp_(max=probs.shape[-1] - 1)


def _to_unit(h: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Map 64 random bits to (k + 1/2) / 2**b in (0, 1), with b the dtype's mantissa bits.

    k + 1/2 needs b + 1 bits, so from k = 2**(b-1) on it rounds (to even), and the largest k
    rounds to 2**b: u = 1 exactly, whose normal is +inf (one float32 draw in 2**24, about
    once per step of a 16 x 1000 x 1000 simulation). That one value is clamped to the
    largest float below 1, 1 - 2**-b; every other value is as before.
    """
    bits = 53 if out.dtype == torch.float64 else 24
    out.copy_((h >> (64 - bits)) & ((1 << bits) - 1))
    return out.add_(0.5).mul_(2.0 ** -bits).clamp_(max=1 - 2.0 ** -bits)


def _finish_(out: torch.Tensor, kind: str) -> None:
    """The transcendental step of a distribution, in place on uniforms (always torch's
    kernels, so that every device path gives the same values)."""
    if kind == "normal":
        if out.dtype == torch.float64:
            torch.special.ndtri(out, out=out)
        else:  # out holds 2u - 1
            torch.erfinv(out, out=out).mul_(math.sqrt(2))
    elif kind == "exponential":
        out.log_().neg_()


# Elements per block of the torch path (GPUs): its int64 temporaries stay near 1 GiB each.
_DEVICE_BLOCK = 1 << 27


def _generate_torch(keys: torch.Tensor, out: torch.Tensor, kind: str) -> None:
    """The grid in blocks of keys, each in one pass of torch integer ops (GPUs); the
    reference form of the CPU path."""
    R, N = out.shape
    ctr = torch.arange(1, N + 1, dtype=torch.int64, device=keys.device) * _GAMMA  # (N,)
    rows = max(1, _DEVICE_BLOCK // N)
    for r0 in range(0, R, rows):
        h = _mix_torch_(keys[r0:r0 + rows, None] + ctr)  # (rows, N)
        o = out[r0:r0 + rows]
        if kind == "bits":
            o.copy_(h)
            continue
        _to_unit(h, o)
        if kind == "normal" and out.dtype != torch.float64:
            o.mul_(2).sub_(1)
        _finish_(o, kind)


_U64 = np.uint64
_NP_GAMMA, _NP_C1, _NP_C2 = _U64(0x9E3779B97F4A7C15), _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)


def _generate_numpy(keys: torch.Tensor, out: torch.Tensor, kind: str) -> None:
    """The CPU path: SplitMix64 in numpy's unsigned 64-bit arithmetic (logical shifts, wrapping
    products: ~4x torch's signed emulation with its masked shifts), block by block on torch's
    thread count, each block small enough that its passes stay in cache.

    The float steps repeat :func:`_to_unit` exactly (an integer below 2**24 or 2**53 converts
    exactly; + 1/2 rounds the same in every IEEE library; powers of two scale exactly, and
    the clamp commutes with them); the
    transcendental step is torch's, on the whole output. float32 draws use the top 24 bits,
    which the mixer's last xor-shift (by 31) does not touch, so it is skipped for them.
    """
    R, N = out.shape
    k = keys.numpy().view(_U64)
    o = out.numpy()
    if kind == "bits":
        o = o.view(_U64)
    bits = 53 if out.dtype == torch.float64 else 24
    last_shift = kind == "bits" or bits == 53
    cols = min(N, _CPU_BLOCK)
    rows = max(1, _CPU_BLOCK // cols)
    scale = 2.0 ** -bits * (2 if kind == "normal" and bits == 24 else 1)  # 2u - 1 for erfinv, exactly
    top = (1 - 2.0 ** -bits) * (2 if kind == "normal" and bits == 24 else 1)

    def job(j):
        c0, ra, rb = j
        c1 = min(N, c0 + cols)
        ctr = np.arange(c0 + 1, c1 + 1, dtype=_U64)
        np.multiply(ctr, _NP_GAMMA, out=ctr)  # (cols,), shared by every key
        h = np.empty((rows, c1 - c0), dtype=_U64)
        t = np.empty_like(h)
        for r0 in range(ra, rb, rows):
            r1 = min(rb, r0 + rows)
            hh, tt = h[:r1 - r0], t[:r1 - r0]
            np.add(ctr[None, :], k[r0:r1, None], out=hh)
            _mix_np_(hh, tt, last_shift)
            dst = o[r0:r1, c0:c1]
            if kind == "bits":
                dst[...] = hh
                continue
            np.right_shift(hh, _U64(64 - bits), out=tt)
            dst[...] = tt.view(np.int64)  # exact: fewer than 2**24 (2**53) values
            dst += 0.5
            dst *= scale
            np.minimum(dst, top, out=dst)  # u = 1 from rounding -> 1 - 2**-bits, as _to_unit
            if kind == "normal" and bits == 24:
                dst -= 1

    # row ranges of whole blocks, enough of them to keep every thread busy when N is small
    blocks = math.ceil(R / rows)
    per = max(1, math.ceil(blocks * math.ceil(N / cols) / (8 * torch.get_num_threads())))
    per = min(per, blocks)
    jobs = [(c0, r0, min(R, r0 + per * rows)) for c0 in range(0, N, cols) for r0 in range(0, R, per * rows)]
    run_jobs(jobs, job, work=R * N)
    if kind != "bits" and kind != "uniform":
        _finish_(out, kind)


def check_stream(owner: str, generator, runs: int) -> Stream:
    """``generator`` as a randomized rule or attack needs it: a :class:`Stream` with one run
    shared by the batch, or one run per batch row (``runs`` of them)."""
    if not isinstance(generator, Stream):
        _checks.fail(owner, "generator", "be a sco.random.Stream", generator, kind=TypeError,
                     hint="Randomness comes from the run's counter-based stream, never torch's global RNG.")
    if len(generator) not in (1, runs):
        _checks.fail(owner, "generator", f"have 1 run or one per batch row ({runs})",
                     f"Stream with {len(generator)} runs")
    return generator

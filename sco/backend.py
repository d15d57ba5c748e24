"""Default device and dtype, and moving constant tensors to where the data lives."""

from __future__ import annotations

import torch


def default_device() -> torch.device:
    """CUDA when present, else CPU (DESIGN.md, conventions)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def default_dtype(device=None) -> torch.dtype:
    """float64 on CPU, where exact checks matter more than speed; float32 on accelerators."""
    device = torch.device(device) if device is not None else default_device()
    return torch.float64 if device.type == "cpu" else torch.float32


def resolve(device=None, dtype=None) -> tuple[torch.device, torch.dtype]:
    """Fill in the defaults for an optional (device, dtype) pair."""
    device = torch.device(device) if device is not None else default_device()
    dtype = dtype if dtype is not None else default_dtype(device)
    if not dtype.is_floating_point:
        raise TypeError(f"The 'dtype' parameter must be a floating-point torch dtype. Got dtype={dtype}.")
    return device, dtype


class Constants:
    """Tensors of a problem, converted lazily to the dtype and device of each input.

    Objectives store their data once (float64, CPU) and compute in the dtype and
    device of the point they are evaluated at, so float64 in gives float64 out and
    a CUDA input is served from a cached CUDA copy.
    """

    def __init__(self, **tensors):
        self._base = dict(tensors)
        self._cache: dict = {}

    def like(self, name: str, x: torch.Tensor) -> torch.Tensor:
        key = (name, x.dtype, x.device)
        t = self._cache.get(key)
        if t is None:
            base = self._base[name]
            t = base.to(device=x.device, dtype=x.dtype if base.is_floating_point() else base.dtype)
            self._cache[key] = t
        return t

    def __getitem__(self, name: str) -> torch.Tensor:
        return self._base[name]

    def __contains__(self, name: str) -> bool:
        return name in self._base

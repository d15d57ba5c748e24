"""Validation of user input at the boundary, with one message form for every error."""

from __future__ import annotations

import math
import numbers

import torch


def _fmt(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return repr(value)


def fail(owner: str, name: str, expected: str, got, hint: str | None = None, kind=ValueError):
    """Raise ``kind`` with the message "The 'name' parameter of owner must ... Got ...".

    The form follows scikit-learn's parameter validation: say what was expected,
    what came and, when it helps, how to fix it.
    """
    msg = f"The '{name}' parameter of {owner} must {expected}. Got {name}={_fmt(got)}."
    if hint:
        msg += f" {hint}"
    raise kind(msg)


def real(owner: str, name: str, value, *, low=None, high=None, low_open=False,
         high_open=False, finite=True) -> float:
    """Check that ``value`` is a real number in the given interval and return it as float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(owner, name, "be a real number", value, kind=TypeError)
    value = float(value)
    if math.isnan(value) or (finite and math.isinf(value)):
        fail(owner, name, "be a finite real number", value)
    if low is not None and (value < low or (low_open and value == low)):
        fail(owner, name, f"be {'>' if low_open else '>='} {low}", value)
    if high is not None and (value > high or (high_open and value == high)):
        fail(owner, name, f"be {'<' if high_open else '<='} {high}", value)
    return value


def integer(owner: str, name: str, value, *, low=None, high=None) -> int:
    """Check that ``value`` is an integer in ``[low, high]`` and return it as int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(owner, name, "be an integer", value, kind=TypeError)
    value = int(value)
    if low is not None and value < low:
        fail(owner, name, f"be >= {low}", value)
    if high is not None and value > high:
        fail(owner, name, f"be <= {high}", value)
    return value


def one_of(owner: str, name: str, value, options) -> str:
    """Check that ``value`` is one of ``options``."""
    if value not in options:
        fail(owner, name, f"be one of {sorted(options)}", value)
    return value


def tensor(owner: str, name: str, value, *, min_dim=0) -> torch.Tensor:
    """Check that ``value`` is a floating-point tensor with at least ``min_dim`` dimensions."""
    if not isinstance(value, torch.Tensor):
        fail(owner, name, "be a torch.Tensor", value, kind=TypeError)
    if not value.is_floating_point():
        fail(owner, name, "be a floating-point tensor", value, kind=TypeError)
    if value.dim() < min_dim:
        fail(owner, name, f"have at least {min_dim} dimension(s)", value)
    return value


def last_dim(owner: str, name: str, value: torch.Tensor, d: int, what="d") -> torch.Tensor:
    """Check that the last dimension of ``value`` is ``d``."""
    tensor(owner, name, value, min_dim=1)
    if value.shape[-1] != d:
        fail(owner, name, f"have shape (..., {what}) with {what}={d}", value)
    return value

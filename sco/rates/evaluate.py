"""Numeric evaluation of sympy expressions on floats, numpy arrays and torch tensors."""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np
import sympy
import torch

from .. import _checks
from .expr import FUNCTIONS


class _NumpyOps:
    sqrt, exp, log, abs = np.sqrt, np.exp, np.log, np.abs
    minimum, maximum = np.minimum, np.maximum

    @staticmethod
    def heaviside(x):
        return np.heaviside(x, 0.5)


class _TorchOps:
    sqrt, exp, log, abs = torch.sqrt, torch.exp, torch.log, torch.abs
    minimum, maximum = torch.minimum, torch.maximum

    @staticmethod
    def heaviside(x):
        return torch.heaviside(x, torch.full_like(x, 0.5))


def _backend(values: Mapping):
    """Convert values to one array type: torch if any value is a tensor, else float64 numpy."""
    tensors = [v for v in values.values() if isinstance(v, torch.Tensor)]
    if tensors:
        ref = tensors[0]
        dtype = ref.dtype if ref.is_floating_point() else torch.float64
        conv = {k: torch.as_tensor(v, dtype=dtype, device=ref.device) for k, v in values.items()}
        return conv, _TorchOps, "torch"
    scalar = all(np.ndim(v) == 0 for v in values.values())
    return {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}, _NumpyOps, \
        "float" if scalar else "numpy"


def _walk(e, env, ops):
    if e.is_Symbol:
        return env[e.name]
    if e.is_Number or e.is_NumberSymbol:
        return float(e)
    args = e.args
    if e.is_Add:
        out = _walk(args[0], env, ops)
        for a in args[1:]:
            out = out + _walk(a, env, ops)
        return out
    if e.is_Mul:
        out = _walk(args[0], env, ops)
        for a in args[1:]:
            out = out * _walk(a, env, ops)
        return out
    if e.is_Pow:
        base, ex = args
        if ex == sympy.Rational(1, 2):
            return ops.sqrt(_walk(base, env, ops))
        if ex.is_Integer:
            return _walk(base, env, ops) ** int(ex)
        return _walk(base, env, ops) ** _walk(ex, env, ops)
    if isinstance(e, (sympy.Min, sympy.Max)):
        fn = ops.minimum if isinstance(e, sympy.Min) else ops.maximum
        out = _walk(args[0], env, ops)
        for a in args[1:]:
            b = _walk(a, env, ops)
            out = fn(*_as_pair(out, b))
        return out
    fns = {sympy.exp: ops.exp, sympy.log: ops.log, sympy.Abs: ops.abs, sympy.Heaviside: ops.heaviside}
    fn = fns.get(type(e))
    if fn is not None:
        x = _walk(args[0], env, ops)
        return fn(_as_array(x, ops))
    raise TypeError(f"Cannot evaluate {type(e).__name__} in {e}: bounds use + - * / ** and "
                    f"{sorted(FUNCTIONS)} only.")


def _as_array(x, ops):
    if isinstance(x, float):
        return np.float64(x) if ops is _NumpyOps else torch.tensor(x, dtype=torch.float64)
    return x


def _as_pair(a, b):
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        ref = a if isinstance(a, torch.Tensor) else b
        return (torch.as_tensor(a, dtype=ref.dtype, device=ref.device),
                torch.as_tensor(b, dtype=ref.dtype, device=ref.device))
    return np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)


def _finish(x, kind):
    if kind == "float":
        return float(x)
    if kind == "numpy":
        return np.asarray(x, dtype=np.float64)
    return x



def _evaluate(e, env):
    """Evaluate a sympy expression on a dict name -> value, in the values' array type."""
    conv, ops, kind = _backend({k: env[k] for k in (s.name for s in e.free_symbols)})
    return _finish(_walk(e, conv, ops), kind)


#: Parameters that count something and must be positive; the others must be nonnegative.
POSITIVE = frozenset({"T", "t", "m", "s", "t_G", "n", "K", "p", "tau_max", "mu_max"})


def _check_value(owner, name, v):
    """A parameter value: a real number, array or tensor, finite, >= 0 (> 0 for counts)."""
    if isinstance(v, bool) or not isinstance(v, (numbers.Real, np.ndarray, torch.Tensor, list, tuple)):
        _checks.fail(owner, name, "be a real number, a numpy array or a torch tensor", v, kind=TypeError)
    if isinstance(v, torch.Tensor):
        arr = v.detach().cpu().to(torch.float64).numpy()
    else:
        try:
            arr = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            _checks.fail(owner, name, "be a real number, a numpy array or a torch tensor", v, kind=TypeError)
    shown = v if arr.ndim == 0 else f"array of shape {arr.shape}"
    if not np.isfinite(arr).all():
        _checks.fail(owner, name, "be finite (not NaN or inf)", shown)
    if name in POSITIVE and not (arr > 0).all():
        _checks.fail(owner, name, "be positive", shown)
    if (arr < 0).any():
        _checks.fail(owner, name, "be nonnegative (every parameter of a bound is)", shown)

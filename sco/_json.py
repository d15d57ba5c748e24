"""JSON-ready values: numpy and torch numbers and arrays as Python ones, non-finite floats as strings."""

from __future__ import annotations

import math

import numpy as np


def jsonable(v):
    """``v`` with dicts, lists and tuples walked, arrays and tensors as lists, numpy scalars as
    Python numbers, and NaN/inf as the strings "nan", "inf", "-inf" (JSON has no such numbers)."""
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if hasattr(v, "detach") and hasattr(v, "tolist"):  # a torch tensor, without importing torch
        return jsonable(v.detach().cpu().tolist())
    if isinstance(v, np.ndarray):
        return jsonable(v.tolist())
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else str(v)
    return v

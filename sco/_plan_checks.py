"""Checks of an experiment's plain fields (seeds, device, dtype, log) and of the memory a run needs."""

from __future__ import annotations

import numbers
import os

import numpy as np
import torch

from . import _checks

DTYPES = {"float64": torch.float64, "float32": torch.float32, "double": torch.float64, "float": torch.float32}


def seeds(seeds) -> list[int]:
    owner, top = "Experiment", (1 << 63) - 1  # seeds are 63-bit keys of sco.random.Stream
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool):
        n = _checks.integer(owner, "seeds", seeds, low=1)
        return list(range(n))
    if isinstance(seeds, (str, bytes, dict)) or not hasattr(seeds, "__iter__"):
        _checks.fail(owner, "seeds", "be a positive int n (seeds 0..n-1) or a list of seeds", seeds, kind=TypeError)
    seeds = list(seeds)
    if not seeds:
        _checks.fail(owner, "seeds", "hold at least one seed", seeds)
    out = [_checks.integer(owner, "seeds", s, low=0, high=top) for s in seeds]
    if len(set(out)) != len(out):
        _checks.fail(owner, "seeds", "hold distinct seeds (a repeated seed would run the same run twice)", seeds)
    return out


def device(device):
    """The experiment's device, checked: one this machine has, or None for the default."""
    if device is None:
        return None
    expected = "be 'cpu', 'cuda', 'cuda:N' or a torch.device of this machine"
    if not isinstance(device, (str, torch.device)):
        _checks.fail("Experiment", "device", expected, device, kind=TypeError)
    try:
        dev = torch.device(device)
    except RuntimeError:
        _checks.fail("Experiment", "device", expected, device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            _checks.fail("Experiment", "device", "name a device that this machine has (it has no CUDA GPU)", device,
                         hint="Use device='cpu', or leave device unset for the default.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            _checks.fail("Experiment", "device", f"name one of the {torch.cuda.device_count()} CUDA devices", device)
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            _checks.fail("Experiment", "device", "name a device that this machine has (it has no MPS)", device)
    elif dev.type != "cpu":
        _checks.fail("Experiment", "device", expected, device)
    return dev


def dtype(dtype):
    if dtype is None:
        return None
    if isinstance(dtype, str):
        _checks.one_of("Experiment", "dtype", dtype, set(DTYPES))
        return DTYPES[dtype]
    if dtype not in (torch.float32, torch.float64):
        _checks.fail("Experiment", "dtype", f"be one of {sorted(DTYPES)} or torch.float32/float64", dtype,
                     kind=ValueError if isinstance(dtype, torch.dtype) else TypeError)
    return dtype


def log(log, T: int):
    """The ``log`` option checked exactly (a float or a list of floats is not truncated)."""
    expected = "be 'geometric', an int k >= 1 (every k-th step) or a list of integer steps in [1, T]"
    if isinstance(log, str):
        return _checks.one_of("Experiment", "log", log, {"geometric"})
    if isinstance(log, numbers.Integral) and not isinstance(log, bool):
        return _checks.integer("Experiment", "log", log, low=1)
    if not isinstance(log, (list, tuple, np.ndarray)):
        _checks.fail("Experiment", "log", expected, log, kind=TypeError)
    steps = list(log)
    if not steps:
        _checks.fail("Experiment", "log", expected, log)
    for t in steps:
        if isinstance(t, bool) or not isinstance(t, numbers.Integral):
            _checks.fail("Experiment", "log", expected, log, kind=TypeError)
        if not 1 <= t <= T:
            _checks.fail("Experiment", "log", expected + f" (T={T})", log)
    return [int(t) for t in steps]


def available_bytes(device: torch.device) -> int | None:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(need, device: torch.device):
    """Refuse a run whose arrays would not fit: ``need`` is a byte count or a dict of them by
    part (see :meth:`Plan._memory`), checked against what ``device`` (and, for a GPU, the host)
    has available."""
    parts = need if isinstance(need, dict) else {"state": need}
    host = {"metrics", "arrival copies"} if device.type != "cpu" else set()
    for where, keys in ((device, set(parts) - host), (torch.device("cpu"), host & set(parts))):
        total = sum(parts[k] for k in keys)
        avail = available_bytes(where)
        if keys and avail is not None and total > 0.9 * avail:
            detail = ", ".join(f"{k} {parts[k] / 2**30:.2f} GiB" for k in sorted(keys))
            raise MemoryError(
                f"This run needs about {total / 2**30:.2f} GiB of {where.type} memory ({detail}) "
                f"and has {avail / 2**30:.2f} GiB available. Reduce the number of seeds, workers m or "
                f"the dimension d (state), the horizon T (asynchronous arrays), or use dtype='float32'.")

"""Sweeps: grids of experiments x seeds, run locally or on Ray, into a store that survives interruption."""

import importlib

# loaded on first use, so that `sco --help` and the CLI's parser do not import torch
_EXPORTS = {"Cell": "spec", "RunName": "spec", "Sweep": "spec", "parse_run_name": "spec", "Store": "store",
            "StoreError": "store", "code_version": "store", "Summary": "run", "run_sweep": "run"}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

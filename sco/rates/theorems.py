"""The registry of statements: every bound a claim, a table or a report evaluates, by name."""

from __future__ import annotations

from .background import BACKGROUND
from .bound import Bound
from .dl24 import DL24

BOUNDS: dict[str, Bound] = {b.name: b for b in DL24 + BACKGROUND}
"""Statements by name: DL24b as printed (and its restatements of DL24a, Lev23), then those derived
here and the recalled background. Claims read this dict at run time."""

if len(BOUNDS) != len(DL24) + len(BACKGROUND):  # pragma: no cover - a registration error
    raise RuntimeError("Two statements share a name.")

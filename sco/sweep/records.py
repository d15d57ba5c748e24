"""The identity of a stored run (its canonical config and code version) and traces split per seed."""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..trace import Trace

#: Meta entries of a trace that hold one value per run (split and joined with the runs).
PER_RUN_META = ("realized_lam", "diverged_at")


@functools.cache
def code_version() -> str:
    """``sco.__version__`` plus a hash of the sco package's source files (every ``*.py`` under
    ``sco/``): a run's key includes it, so that changed code never silently reuses old results."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return f"{__version__}+{h.hexdigest()[:12]}"


def canonical_json(obj) -> str:
    """JSON with sorted keys and no spaces: equal configs give equal text, hence equal keys."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                      default=_plain)


def _plain(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"The store keys runs by their config as JSON, and a config value of type "
                    f"{type(o).__name__} has no JSON form. Got {o!r}. Give the experiment as plain data.")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class RunKey:
    """The identity of one run (one cell, one seed): its canonical config and the keys."""

    config: str  # canonical JSON
    seed: int
    code: str

    @property
    def config_hash(self) -> str:
        return _sha(self.config)

    @property
    def key(self) -> str:
        return _sha(canonical_json({"config": json.loads(self.config), "code": self.code}))


# -- traces per seed ---------------------------------------------------------------------------------


def split(trace: Trace) -> list[Trace]:
    """One trace per run of a batched trace, each with ``seeds = [seed]``; ``meta["batch"]``
    keeps the seeds that ran together."""
    out = []
    for r, seed in enumerate(trace.seeds):
        meta = {k: ([v[r]] if k in PER_RUN_META else v) for k, v in trace.meta.items()}
        meta["batch"] = list(trace.seeds)
        out.append(Trace({**trace.config, "seeds": [seed]}, [seed], trace.steps.copy(),
                         {k: v[r:r + 1].copy() for k, v in trace.metrics.items()},
                         {k: v[r:r + 1].copy() for k, v in trace.events.items()},
                         dict(trace.constants), meta))
    return out


def join(traces: list[Trace]) -> Trace:
    """The traces of single runs joined into one (R = len(traces)), in the given order; the
    seconds are summed over the distinct batches they came from."""
    first = traces[0]
    for t in traces[1:]:
        if not np.array_equal(t.steps, first.steps) or set(t.metrics) != set(first.metrics):
            raise ValueError("Traces can be joined only when they log the same steps and metrics.")
    meta = dict(first.meta)
    for k in PER_RUN_META:
        if any(k in t.meta for t in traces):  # a trace from before an entry existed has None there
            meta[k] = [x for t in traces for x in (t.meta.get(k) or [None] * t.R)]
    batches = {tuple(t.meta.get("batch", t.seeds)): t.meta.get("seconds", math.nan) for t in traces}
    meta["seconds"] = float(sum(batches.values()))
    seeds = [s for t in traces for s in t.seeds]
    return Trace({**first.config, "seeds": seeds}, seeds, first.steps.copy(),
                 {k: np.concatenate([t.metrics[k] for t in traces]) for k in first.metrics},
                 {k: np.concatenate([t.events[k] for t in traces]) for k in first.events},
                 dict(first.constants), meta)

"""What a run measured: metrics per logged step and run, per-message events, and the config."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Metrics a simulation logs, with their meaning (all per run and logged step).
METRICS = {
    "excess": "f(x_out) - f*, computed without cancellation (convex objectives)",
    "grad_norm_sq": "||grad f(x_out)||^2 (the stationarity measure)",
    "estimator_error": "||d_hat_t - grad f(x_t)||^2: aggregate vs the true gradient at the query point",
    "honest_error": "||dbar_G - grad f(x_t)||^2: (weighted) honest mean vs the true gradient",
    "aggregation_error": "||d_hat_t - dbar_G||^2: aggregate vs the (weighted) honest mean",
    "honest_spread": "(weighted) mean of ||d_i - dbar_G||^2 over honest messages",
    "staleness": "mean staleness of the messages in the server's table (weighted like the aggregate)",
    "byzantine_weight": "share of the aggregation weight held by Byzantine rows",
    # plus the objective's own extra metrics (Objective.extra_metric_names), e.g. accuracy
}


class DivergedWarning(RuntimeWarning):
    """Runs of a simulation diverged: their iterate (or an error metric) became inf or NaN
    (see :attr:`Trace.diverged_at`)."""


class DivergedError(ValueError):
    """A diverged run was given where finite numbers are needed: a rate fit, a claim."""


@dataclass
class Trace:
    """The record of one simulation (R runs).

    ``steps`` (n,) are the logged server steps t (metrics are taken after the t-th update
    for the output point, before it for the messages); ``metrics[name]`` is (R, n);
    ``events[name]`` holds per-step arrays (R, T) of asynchronous runs (arriving worker,
    staleness of its message, arrival time) and ``final_weights`` (R, m); ``config`` is
    the full configuration that produced it and ``constants`` the declared constants of
    the problem (L, D, sigma, ...). ``meta["diverged_at"]`` holds, per run, the first step
    whose iterate was not finite (None for a run that stayed finite): see :attr:`diverged_at`.
    """

    config: dict
    seeds: list
    steps: np.ndarray
    metrics: dict
    events: dict = field(default_factory=dict)
    constants: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def R(self) -> int:
        return len(self.seeds)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.metrics[name]

    def final(self, name: str) -> np.ndarray:
        """The metric at the last logged step, one value per run: (R,)."""
        return self.metrics[name][:, -1]

    def at(self, name: str, t: int) -> np.ndarray:
        """The metric at logged step t: (R,)."""
        idx = np.flatnonzero(self.steps == t)
        if idx.size == 0:
            raise ValueError(f"Step t={t} was not logged. Logged steps: {self.steps.tolist()}.")
        return self.metrics[name][:, idx[0]]

    # -- divergence ------------------------------------------------------------------------

    @property
    def diverged_at(self) -> list:
        """Per run, the first server step whose iterate was inf or NaN, or None (stayed finite)."""
        return list(self.meta.get("diverged_at") or [None] * self.R)

    @property
    def diverged(self) -> np.ndarray:
        """Whether each run diverged: (R,) bool."""
        return np.array([t is not None for t in self.diverged_at], dtype=bool)

    def divergence(self) -> str:
        """What diverged, in words ("" when no run did)."""
        bad = [(s, t) for s, t in zip(self.seeds, self.diverged_at) if t is not None]
        if not bad:
            return ""
        name = " + ".join(str(self.meta[k]) for k in ("aggregator", "algorithm") if k in self.meta) or "the trace"
        runs = ", ".join(f"seed {s} at step {t}" for s, t in bad)
        return (f"{len(bad)} of {self.R} runs of {name} diverged (the iterate, or an error metric, became inf or "
                f"NaN): {runs}. A smaller step size eta usually prevents it.")

    def require_finite(self, what: str = "this fit") -> Trace:
        """Return self, or raise :class:`DivergedError` naming the diverged runs and their first
        non-finite step: rates, fits and claims call it before using the numbers."""
        if self.diverged.any():
            raise DivergedError(f"{what} cannot use diverged runs. {self.divergence()}")
        return self

    def to_table(self) -> list[dict]:
        """A tidy table: one row {seed, step, metric, value} per logged number."""
        rows = []
        for name, arr in self.metrics.items():
            for r, seed in enumerate(self.seeds):
                for j, t in enumerate(self.steps.tolist()):
                    rows.append({"seed": seed, "step": t, "metric": name, "value": float(arr[r, j])})
        return rows

    # -- persistence: .npz with the arrays and a JSON header ------------------------------

    def save(self, path) -> Path:
        """Save to ``path`` (.npz), atomically: a reader never sees a half-written file. The file's
        permissions follow the umask, as the store's database does (readable by colleagues under
        the usual 022)."""
        path = Path(path)
        arrays = {"steps": self.steps}
        arrays.update({f"metric/{k}": v for k, v in self.metrics.items()})
        arrays.update({f"event/{k}": v for k, v in self.events.items()})
        header = {"config": self.config, "seeds": list(self.seeds), "constants": self.constants,
                  "meta": self.meta, "format": 1}
        arrays["header"] = np.array(json.dumps(header, default=_json_default))
        path.parent.mkdir(parents=True, exist_ok=True)
        # not mkstemp, which creates 0600 whatever the umask: O_EXCL under a fresh name is as safe
        tmp = path.parent / f".{path.stem}-{uuid.uuid4().hex[:8]}.tmp.npz"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez_compressed(fh, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path) -> Trace:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            metrics = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("metric/")}
            events = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("event/")}
            steps = z["steps"]
        return cls(header["config"], header["seeds"], steps, metrics, events, header["constants"], header["meta"])


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return repr(o)


def log_steps(T: int, spec="geometric", points: int = 48) -> np.ndarray:
    """The steps to log: about ``points`` geometrically spaced steps in [1, T] (always with
    T), every ``spec``-th step for an int, or an explicit list."""
    if isinstance(spec, str):
        if spec != "geometric":
            raise ValueError(f"The 'log' option must be 'geometric', an int or a list of steps. Got {spec!r}.")
        steps = np.unique(np.round(np.geomspace(1, T, num=min(points, T))).astype(np.int64))
    elif isinstance(spec, int) and not isinstance(spec, bool):
        if spec < 1:
            raise ValueError(f"The 'log' option must be >= 1 when an int. Got log={spec}.")
        steps = np.arange(spec, T + 1, spec, dtype=np.int64)
    else:
        steps = np.unique(np.asarray(spec, dtype=np.int64))
        if steps.size == 0 or steps.min() < 1 or steps.max() > T:
            raise ValueError(f"Logged steps must lie in [1, T={T}]. Got {spec!r}.")
    return np.union1d(steps, [T])

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
    # asynchronous runs: the quantities of DL24b's Lemma B.1, Thm. 4.1, Lemma 4.1 and Thm. 4.2
    "delay_max": "tau_t^max: the largest delay (staleness + 1) of the messages in the table",
    "mu_max": "(1/t) sum_{s <= t} tau_s^max; at t = T it is DL24b's mu_max",
    "honest_steps": "t_G: the number of honest arrivals up to t",
    "query_drift": "max over honest workers of ||x_t - x^(i)|| / tau_t^(i), x^(i) the point their message was "
                   "computed at",
    "worker_error": "per honest worker (R, n, h): ||d^(i) - grad f(x^(i))||^2, its error at its own query point",
    "weighted_worker_error": "||sum_G s_i eps_i / sum_G s_i||^2 with the counts s_i",
    "worker_counts": "per worker (R, n, m): its number of updates s_t^(i) (its count weight)",
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
        """A tidy table: one row {seed, step, metric, value} per logged number (and ``worker``
        for per-worker metrics), as :meth:`columns` gives them."""
        c = self.columns([])
        names = ["seed", "step"] + (["worker"] if "worker" in c else []) + ["metric", "value"]
        rows = [dict(zip(names, vals)) for vals in zip(*(c[k].tolist() for k in names))]
        return [{k: v for k, v in r.items() if not (k == "worker" and v < 0)} for r in rows]

    # -- tidy export: one row per (run, logged step[, worker], metric) --------------------------

    def columns(self, keys=None) -> dict:
        """The trace in long form as columns (numpy arrays of one length): ``run`` (0..R-1),
        ``seed``, the config ``keys``, ``step``, ``worker`` (only when a metric is per worker,
        (R, n_log, m); empty for per-run metrics), ``metric`` and ``value``.

        ``keys`` are config paths ("aggregator", "algorithm.eta", "noise.sigma", ...), each a
        column holding its value (dicts and lists as JSON text); None takes the grid keys the
        trace records (``meta["grid"]``, set for a sweep's runs), else none.
        """
        if keys is None:
            keys = list(self.meta.get("grid") or {})
        keys = [keys] if isinstance(keys, str) else list(keys)
        reserved = {"run", "seed", "step", "worker", "metric", "value"}
        for k in keys:
            if not isinstance(k, str) or k in reserved:
                raise ValueError(f"The 'keys' parameter of Trace.columns must hold config paths (str) other than "
                                 f"{sorted(reserved)}. Got {k!r}.")
        R, n = self.R, len(self.steps)
        seeds = np.asarray(self.seeds, dtype=np.int64)
        per_worker = any(np.ndim(v) == 3 for v in self.metrics.values())
        parts = {c: [] for c in ("run", "step", "worker", "metric", "value")}
        for name, arr in self.metrics.items():
            arr = np.asarray(arr, dtype=np.float64)
            if arr.ndim not in (2, 3) or arr.shape[:2] != (R, n):
                raise ValueError(f"Metric {name!r} has shape {arr.shape}; a trace of R={R} runs logged at "
                                 f"{n} steps holds (R, n_log) or per worker (R, n_log, m).")
            m = arr.shape[2] if arr.ndim == 3 else 1
            size = R * n * m
            run, step, worker = np.meshgrid(np.arange(R), self.steps.astype(np.int64), np.arange(m), indexing="ij")
            parts["run"].append(run.ravel())
            parts["step"].append(step.ravel())
            parts["worker"].append(worker.ravel() if arr.ndim == 3 else np.full(size, -1))
            parts["metric"].append(np.full(size, name, dtype=object))
            parts["value"].append(arr.reshape(size))
        cat = {c: (np.concatenate(v) if v else np.zeros(0, dtype=object if c == "metric" else
                                                   np.float64 if c == "value" else np.int64))
               for c, v in parts.items()}
        out = {"run": cat["run"], "seed": seeds[cat["run"]]}
        for k in keys:
            v = _config_value(self.config, k)
            out[k] = np.full(len(cat["run"]), v if _scalar(v) else json.dumps(v, default=_json_default), dtype=object)
        out["step"] = cat["step"]
        if per_worker:
            out["worker"] = cat["worker"]
        out["metric"], out["value"] = cat["metric"], cat["value"]
        return out

    def to_frame(self, keys=None):
        """A pandas DataFrame in long form (see :meth:`columns`): columns run, seed, the config
        ``keys``, step, worker (per-worker metrics only; <NA> for the others), metric, value.
        Needs pandas."""
        try:
            import pandas as pd
        except ModuleNotFoundError:
            raise ModuleNotFoundError("Trace.to_frame needs pandas: pip install pandas "
                                      "(Trace.columns gives the same table as numpy arrays).") from None
        cols = self.columns(keys)
        frame = pd.DataFrame({k: v for k, v in cols.items() if k != "worker"})
        if "worker" in cols:
            w = pd.array(cols["worker"], dtype="Int64")
            w[cols["worker"] < 0] = pd.NA
            frame.insert(list(cols).index("worker"), "worker", w)
        return frame

    def to_csv(self, path, keys=None) -> Path:
        """Write the long form (see :meth:`columns`) as CSV with a header; floats are written
        with repr (they read back exactly), a per-run metric's worker cell is empty. No pandas
        needed. Returns the path."""
        import csv

        path = Path(path)
        cols = self.columns(keys)
        names = list(cols)
        fmt = {k: (_csv_float if k == "value" else _csv_worker if k == "worker" else _csv_text) for k in names}
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(names)
            w.writerows(zip(*(map(fmt[k], cols[k].tolist()) for k in names)))
        return path

    def to_parquet(self, path, keys=None) -> Path:
        """Write the long form (see :meth:`columns`) as a Parquet file (pyarrow: ``pip install
        'sco[parquet]'``); a per-run metric's worker is null. Returns the path."""
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ModuleNotFoundError:
            raise ModuleNotFoundError("Trace.to_parquet needs pyarrow: pip install 'sco[parquet]' "
                                      "(or pip install pyarrow).") from None
        path = Path(path)
        cols = self.columns(keys)
        arrays = {}
        for k, v in cols.items():
            if k == "worker":
                arrays[k] = pa.array(v, mask=v < 0, type=pa.int64())
            elif v.dtype == object:
                arrays[k] = pa.array(v.tolist())
            else:
                arrays[k] = pa.array(v)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(arrays), path)
        return path

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


def _config_value(config: dict, key: str):
    """The value at a dotted path of a config ("algorithm.eta"); None when absent."""
    v = config
    for part in key.split("."):
        if not isinstance(v, dict) or part not in v:
            return None
        v = v[part]
    return v


def _scalar(v) -> bool:
    return v is None or isinstance(v, (str, bool, int, float, np.integer, np.floating))


def _csv_float(v: float) -> str:
    return repr(float(v))


def _csv_text(v) -> str:
    return "" if v is None else str(v)


def _csv_worker(v: int) -> str:
    return "" if v < 0 else str(v)


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

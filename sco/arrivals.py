"""Who arrives when in asynchronous training: worker speeds, event-simulated compute times, replay."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from . import _checks
from ._registry import Named, build

PROFILES = ("uniform", "id", "id2")


def profile(spec, n: int, owner: str = "arrivals") -> torch.Tensor:
    """Relative speeds of n workers (float64, summing to 1): "uniform", "id" (p_i ∝ i),
    "id2" (p_i ∝ i^2) with 1-based ids as in the authors' samplers [DL24b-code,
    worker_sampler.py], or n positive numbers."""
    if isinstance(spec, str):
        _checks.one_of(owner, "speeds", spec, set(PROFILES))
        i = torch.arange(1, n + 1, dtype=torch.float64)
        p = {"uniform": torch.ones(n, dtype=torch.float64), "id": i, "id2": i * i}[spec]
    else:
        p = torch.as_tensor(speeds(owner, spec), dtype=torch.float64)
        if p.shape != (n,):
            _checks.fail(owner, "speeds", f"be one of {list(PROFILES)} or {n} positive numbers (one per worker)",
                         spec)
    return p / p.sum()


def speeds(owner: str, spec):
    """``spec`` checked as a profile name or a sequence of finite positive numbers (its length is
    checked where the number of workers is known)."""
    expected = f"be one of {list(PROFILES)} or a list of positive numbers, one per worker"
    if isinstance(spec, str):
        return _checks.one_of(owner, "speeds", spec, set(PROFILES))
    if isinstance(spec, torch.Tensor):
        spec = spec.tolist()
    if not isinstance(spec, (list, tuple, np.ndarray)) or np.ndim(spec) != 1 or len(spec) == 0:
        _checks.fail(owner, "speeds", expected, spec, kind=TypeError)
    for v in spec:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            _checks.fail(owner, "speeds", expected, spec, kind=TypeError)
        if not (math.isfinite(v) and v > 0):
            _checks.fail(owner, "speeds", expected, spec)
    return [float(v) for v in spec]


@dataclass(frozen=True)
class Arrivals:
    """An arrival sequence: ``workers`` (R, T) int64, the worker whose message arrives at
    each server step (ids >= h are Byzantine), or (R, T, k) when k distinct workers arrive
    per step, and ``times`` (R, T) float64 wall-clock times."""

    workers: torch.Tensor
    times: torch.Tensor


class ArrivalModel(Named):
    """Generates :class:`Arrivals` for R runs from a stream: ``generate(stream, T, h, f)``
    with h honest workers (ids 0..h-1) and f Byzantine ones (ids h..h+f-1)."""

    name = "arrivals"
    #: the expected fraction of Byzantine arrivals, when the model sets it (else None)
    lam: float | None = None

    def generate(self, stream, T: int, h: int, f: int) -> Arrivals:
        raise NotImplementedError

    def validate(self, T: int, h: int, f: int, R: int):
        """Check that the model can generate T arrivals of R runs for h honest and f
        Byzantine workers; the simulator calls it before the first step."""

    def per_step(self, h: int, f: int) -> int:
        """How many workers arrive at each server step (the last dimension k of ``workers``)."""
        return 1


class Speeds(ArrivalModel):
    """The authors' sampler [DL24b; DL24b-code, worker_sampler.py]: at each step the arriving honest worker is
    drawn iid with probabilities p (``speeds``), and a Byzantine worker arrives instead with
    probability ``lam`` (``byzantine="random"``) or at every ceil(1/lam)-th step
    (``byzantine="schedule"``, the authors' code: realized fraction 1/ceil(1/lam), e.g. 1/3
    for lam = 0.4 [DL24b-code, trainer/async_trainer.py]). The Byzantine worker is drawn with the same profile
    over the Byzantine ids.

    .. note:: iid arrivals with probabilities p are the event simulation of exponential
       compute times with rates p (memorylessness): :class:`ComputeTimes` generalizes it.
    """

    name = "speeds"

    def __init__(self, speeds="uniform", lam: float = 0.0, byzantine: str = "random"):
        self.speeds = _speeds("Speeds", speeds)
        self.lam = _checks.real("Speeds", "lam", lam, low=0, high=1, high_open=True)
        self.byzantine = _checks.one_of("Speeds", "byzantine", byzantine, {"random", "schedule"})
        if self.byzantine == "schedule" and self.lam > 0:
            self.lam = 1.0 / math.ceil(1.0 / self.lam)

    def validate(self, T, h, f, R):
        profile(self.speeds, h, "Speeds")
        if self.lam > 0 and not f:
            _checks.fail("Speeds", "lam", "be 0 when there are no Byzantine workers (f = 0)", self.lam)

    def generate(self, stream, T, h, f):
        self.validate(T, h, f, len(stream))
        p = profile(self.speeds, h, "Speeds")
        workers = stream.fold("honest").categorical(p, (T,))  # (R, T)
        if f and self.lam > 0:
            if self.byzantine == "random":
                byz = stream.fold("is_byzantine").uniform((T,)) < self.lam
            else:
                period = round(1 / self.lam)
                t = torch.arange(1, T + 1, device=stream.device)
                byz = (t % period == 0).expand(len(stream), T)
            pb = profile(self.speeds if isinstance(self.speeds, str) else "uniform", f, "Speeds")
            which = h + stream.fold("byzantine").categorical(pb, (T,))
            workers = torch.where(byz, which, workers)
        times = torch.arange(1, T + 1, dtype=torch.float64, device=stream.device).expand(len(stream), T)
        return Arrivals(workers, times.clone())

    def params(self):
        return {"name": self.name, "speeds": self.speeds if isinstance(self.speeds, str) else list(self.speeds),
                "lam": self.lam, "byzantine": self.byzantine}


class ComputeTimes(ArrivalModel):
    """An event simulation: each worker computes for a random time, then its message arrives
    and it starts again; the server steps at every arrival.

    Compute times of worker i have mean 1/r_i with relative rates r = ``speeds`` over all
    workers, and the law ``dist``: "exponential", "deterministic", "lognormal" (log-sd
    ``shape``) or "pareto" (tail index ``shape`` > 1, heavy-tailed; infinite variance for
    shape <= 2). With ``lam`` given, the Byzantine workers' rates are scaled so that their
    long-run share of arrivals is lam (by the renewal theorem the arrival rate of a worker
    is 1/E[compute time], whatever the law); otherwise all workers follow ``speeds``.
    Deterministic equal times give round-robin arrivals (ties go to the lowest id).
    """

    name = "compute_times"
    DISTS = ("exponential", "deterministic", "lognormal", "pareto")

    def __init__(self, dist: str = "exponential", speeds="uniform", lam: float | None = None,
                 shape: float = 1.0):
        self.dist = _checks.one_of("ComputeTimes", "dist", dist, set(self.DISTS))
        self.speeds = _speeds("ComputeTimes", speeds)
        self.lam = None if lam is None else _checks.real("ComputeTimes", "lam", lam, low=0, high=1, high_open=True)
        self.shape = _checks.real("ComputeTimes", "shape", shape, low=0, low_open=True)
        if dist == "pareto" and self.shape <= 1:
            _checks.fail("ComputeTimes", "shape", "be > 1 for Pareto times (a finite mean)", shape)

    def rates(self, h: int, f: int) -> torch.Tensor:
        """Arrival rates of the h + f workers (mean compute time 1 / rate)."""
        if self.lam is None:
            return profile(self.speeds, h + f, "ComputeTimes") * (h + f)
        r = profile(self.speeds, h, "ComputeTimes") * h
        if f == 0:
            if self.lam > 0:
                _checks.fail("ComputeTimes", "lam", "be 0 or None when there are no Byzantine workers", self.lam)
            return r
        rb = profile("uniform", f) * (self.lam / (1 - self.lam) * float(r.sum()))
        return torch.cat([r, rb])

    def _draw(self, stream, shape) -> torch.Tensor:
        """Compute times with mean 1, shape (R, *shape)."""
        if self.dist == "deterministic":
            return torch.ones(len(stream), *shape, dtype=torch.float64, device=stream.device)
        if self.dist == "exponential":
            return stream.exponential(shape)
        if self.dist == "lognormal":
            s = self.shape
            return torch.exp(s * stream.normal(shape) - 0.5 * s * s)
        a = self.shape  # Pareto(a) with minimum (a-1)/a: mean 1
        # u**(-1/a) as exp(log(u) (-1/a)): torch's vectorized pow rounds differently from its
        # scalar tail (AMD EPYC, torch 2.13), so a run's draws changed with the batch's shape;
        # exp and log give the same bits at every position
        return (a - 1) / a * torch.exp(torch.log(stream.uniform(shape)) * (-1.0 / a))

    def validate(self, T, h, f, R):
        self.rates(h, f)

    def generate(self, stream, T, h, f):
        mean = 1.0 / self.rates(h, f).to(stream.device)  # (m,)
        finish = self._draw(stream.fold("start"), (h + f,)) * mean  # (R, m)
        # the compute time started at step t is the t-th draw of the run: all drawn at once
        draws = self._draw(stream.fold("compute"), (T,))  # (R, T)
        workers = torch.empty(len(stream), T, dtype=torch.int64, device=stream.device)
        times = torch.empty(len(stream), T, dtype=torch.float64, device=stream.device)
        rows = torch.arange(len(stream), device=stream.device)
        for t in range(T):
            now, i = finish.min(dim=1)  # ties: the first index
            workers[:, t], times[:, t] = i, now
            finish[rows, i] = now + draws[:, t] * mean[i]
        return Arrivals(workers, times)

    def params(self):
        return {"name": self.name, "dist": self.dist, "shape": self.shape, "lam": self.lam,
                "speeds": self.speeds if isinstance(self.speeds, str) else list(self.speeds)}


class Replay(ArrivalModel):
    """A recorded trace of (worker, time) pairs, shape (T,) shared by every run or (R, T)."""

    name = "replay"

    def __init__(self, workers, times=None):
        expected = "be a non-empty sequence (T,) or array (R, T) of integer worker ids"
        w = _array("Replay", "workers", workers, expected)
        if w.dtype.kind not in "iu" or w.ndim not in (1, 2) or w.size == 0:
            kind = TypeError if w.dtype.kind not in "iu" else ValueError
            _checks.fail("Replay", "workers", expected, workers, kind=kind)
        self.workers = torch.as_tensor(w, dtype=torch.int64)
        if times is None:
            times = torch.arange(1, self.workers.shape[-1] + 1, dtype=torch.float64).expand(self.workers.shape)
        t = _array("Replay", "times", times, "be real numbers of the shape of workers")
        if t.dtype.kind not in "iuf" or not np.isfinite(t).all():
            _checks.fail("Replay", "times", "be finite real numbers of the shape of workers", times)
        self.times = torch.as_tensor(t, dtype=torch.float64)
        if self.times.shape != self.workers.shape:
            _checks.fail("Replay", "times", f"have the shape of workers {tuple(self.workers.shape)}", self.times)
        if (self.times.diff(dim=-1) < 0).any():
            _checks.fail("Replay", "times", "be nondecreasing along each trace", times)

    def validate(self, T, h, f, R):
        if self.workers.shape[-1] < T:
            _checks.fail("Replay", "workers", f"hold at least T={T} arrivals", self.workers)
        if self.workers.dim() == 2 and self.workers.shape[0] != R:
            _checks.fail("Replay", "workers", f"have one row per run (R={R}) or be 1-D", self.workers)
        if self.workers.min() < 0 or self.workers.max() >= h + f:
            _checks.fail("Replay", "workers", f"hold ids in [0, m) with m={h + f}", self.workers)

    def generate(self, stream, T, h, f):
        R = len(stream)
        self.validate(T, h, f, R)
        w = self.workers[..., :T].expand(R, T).to(stream.device)
        return Arrivals(w.clone(), self.times[..., :T].expand(R, T).to(stream.device).clone())

    def params(self):
        return {"name": self.name, "workers": self.workers.tolist(), "times": self.times.tolist()}


class Rounds(ArrivalModel):
    """Every worker arrives at every step: the synchronous model, run through the
    asynchronous machinery (all staleness 0, all counts equal). ``workers`` is (R, T, m)."""

    name = "rounds"

    def per_step(self, h, f):
        return h + f

    def generate(self, stream, T, h, f):
        R, m = len(stream), h + f
        workers = torch.arange(m, device=stream.device).expand(R, T, m).clone()
        times = torch.arange(1, T + 1, dtype=torch.float64, device=stream.device).expand(R, T).clone()
        return Arrivals(workers, times)


def _speeds(owner, spec):
    return spec if isinstance(spec, str) and spec in PROFILES else speeds(owner, spec)


def _array(owner: str, name: str, value, expected: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.cpu().numpy()
    try:
        out = np.asarray(value)
    except ValueError:  # ragged
        _checks.fail(owner, name, expected, value)
    if out.dtype == bool or out.dtype.kind not in "iuf":
        _checks.fail(owner, name, expected, value, kind=TypeError)
    return out


ARRIVALS = {"speeds": Speeds, "compute_times": ComputeTimes, "replay": Replay, "rounds": Rounds}
"""Arrival models by name."""


def make_arrivals(spec) -> ArrivalModel:
    """An ArrivalModel from an instance, a name, or a dict {"name": ..., **params}."""
    return build("make_arrivals", spec, ARRIVALS, ArrivalModel, "arrival model")

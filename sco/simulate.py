"""The batched simulator: R runs x m workers x d as one tensor program, synchronous or asynchronous."""

from __future__ import annotations

import dataclasses
import functools
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch

from . import _checks
from . import progress as progress_bar
from ._registry import close_matches, load_toml
from .aggregators import parse as parse_aggregator
from .arrivals import ArrivalModel, make_arrivals
from .backend import resolve
from .estimators import make_algorithm
from .objectives import Objective, make_objective
from .oracle import Oracle
from ._plan_checks import DTYPES as _DTYPES  # noqa: F401 (sweep specs name dtypes by these)
from ._plan_checks import check_memory as _check_memory, device as _device, dtype as _dtype, log as _log
from ._plan_checks import seeds as _seeds
from .trace import DivergedWarning, Trace, log_steps

LABEL_FLIP = ("label_flip", "lf", "LabelFlipping")
# metrics that are >= 0 by definition: +inf or NaN there is an overflow of the run, not of the metric


@dataclass
class Experiment:
    """A complete experiment configuration, as a TOML file or a dict would give it.

    Parameters
    ----------
    objective : a name of :data:`sco.objectives.OBJECTIVES`, a dict {"name": ..., **params},
        or an :class:`~sco.objectives.Objective`.
    noise, heterogeneity : see :class:`~sco.oracle.Oracle` (names, dicts or objects).
    m : total number of workers; f : how many of them are Byzantine (ids m-f..m-1).
    attack : the Byzantine behaviour (a name of :data:`sco.attacks.ATTACKS`, a dict, or
        "label_flip": Byzantine workers run the algorithm on the label-flipped objective).
    aggregator : a spec of :func:`sco.aggregators.parse` ("ctma(cwmed)", ...).
    lam : the Byzantine fraction declared to the aggregator (default: f/m synchronously,
        the arrival model's expected Byzantine share asynchronously).
    algorithm : a dict {"name": ..., "eta": ..., **params} of :data:`sco.estimators.ALGORITHMS`.
    T : number of server steps. seeds : an int n (seeds 0..n-1) or a list of seeds: one run each.
    arrivals : None for synchronous training, else an arrival model (a dict or object of
        :mod:`sco.arrivals`): one message arrives per server step [DL24b].
    weights : asynchronous aggregation weights: "counts" (each worker's number of updates,
        [DL24b]), "uniform", or m numbers.
    log : "geometric" (about 48 steps), an int k (every k-th step) or a list of steps.
    device, dtype : where and in what precision to run (defaults: CUDA if present; float64
        on CPU, float32 on GPU).
    progress : show a progress bar with an ETA (default: when stderr is a terminal, or in Jupyter
        with ipywidgets; see :mod:`sco.progress`).
    """

    objective: Any = "quadratic"
    noise: Any = None
    heterogeneity: Any = None
    m: int = 1
    f: int = 0
    attack: Any = None
    aggregator: Any = "mean"
    lam: float | None = None
    algorithm: Any = field(default_factory=lambda: {"name": "mu2sgd", "eta": 0.1})
    T: int = 100
    seeds: Any = 1
    arrivals: Any = None
    weights: Any = "counts"
    log: Any = "geometric"
    device: str | None = None
    dtype: str | None = None
    progress: bool | None = None

    @classmethod
    def from_dict(cls, d: dict) -> Experiment:
        if not isinstance(d, dict):
            _checks.fail("Experiment.from_dict", "d", "be a dict of Experiment fields", d, kind=TypeError)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"Unknown experiment keys {unknown}. Known keys: {sorted(names)}."
                             f"{close_matches(unknown[0], names)}")
        return cls(**d)

    @classmethod
    def from_toml(cls, path) -> Experiment:
        return cls.from_dict(load_toml(path))

    def replace(self, **changes) -> Experiment:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """A JSON-able description (objects are replaced by their parameters)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Objective):
                v = v.spec
            elif hasattr(v, "params") and callable(v.params):
                v = v.params()
            elif hasattr(v, "name") and not isinstance(v, (str, dict, list)):
                v = v.name
            out[f.name] = v
        return out


class Plan:
    """An :class:`Experiment` resolved and validated: every object built, every size checked,
    and one trial call of the aggregator and the attack on a tiny table, before a single step
    runs, so that whatever the run would reject is rejected here, naming the parameter."""

    def __init__(self, exp: Experiment):
        if not isinstance(exp, Experiment):
            _checks.fail("Plan", "exp", "be an Experiment (Experiment.from_dict turns a dict into one)", exp,
                         kind=TypeError)
        self.exp = exp
        owner = "Experiment"
        self.m = _checks.integer(owner, "m", exp.m, low=1)
        self.f = _checks.integer(owner, "f", exp.f, low=0, high=self.m - 1)
        self.h = self.m - self.f
        self.T = _checks.integer(owner, "T", exp.T, low=1)
        self.seeds = _seeds(exp.seeds)
        self.device, self.dtype = resolve(_device(exp.device), _dtype(exp.dtype))
        obj = exp.objective
        if isinstance(obj, dict) and "name" not in obj:
            _checks.fail(owner, "objective", "have a 'name' key", obj)
        if isinstance(obj, (str, dict)):
            obj = make_objective(obj)
        elif not isinstance(obj, Objective):
            _checks.fail(owner, "objective", "be a name, a dict or an Objective", obj, kind=TypeError)
        self.oracle = Oracle(obj, exp.noise, exp.heterogeneity, m=self.h)
        self.objective = self.oracle.objective
        self.algorithm = make_algorithm(exp.algorithm, domain=self.objective.domain)
        self.aggregator = parse_aggregator(exp.aggregator)
        self.arrivals: ArrivalModel | None = None if exp.arrivals is None else make_arrivals(exp.arrivals)
        if self.arrivals is not None:
            self.arrivals.validate(self.T, self.h, self.f, len(self.seeds))
        self.label_flip = isinstance(exp.attack, str) and exp.attack in LABEL_FLIP or (
            isinstance(exp.attack, dict) and exp.attack.get("name") in LABEL_FLIP)
        self.attack = None
        if self.f and exp.attack is None:
            _checks.fail(owner, "attack", f"be given when f={self.f} workers are Byzantine", None)
        if not self.f and exp.attack is not None:
            _checks.fail(owner, "attack", "be None when f = 0 (no Byzantine workers)", exp.attack)
        if exp.lam is not None:
            self.lam = _checks.real(owner, "lam", exp.lam, low=0, high=0.5, high_open=True)
        elif self.arrivals is None or self.arrivals.lam is None:
            self.lam = self.f / self.m
            if self.lam >= 0.5:
                _checks.fail(owner, "f", f"be < m/2 = {self.m / 2:g}, so that the Byzantine fraction lam = f/m "
                             "declared to the aggregator is below 1/2", self.f,
                             hint="Declare a smaller lam (lam=...) to study a rule beyond its breakdown point.")
        else:
            self.lam = self.arrivals.lam
            if self.lam >= 0.5:
                _checks.fail(owner, "arrivals", f"declare a Byzantine share of arrivals lam < 1/2 (got lam="
                             f"{self.lam:g}), the fraction declared to the aggregator", exp.arrivals,
                             hint="Give lam=... to the experiment to declare another fraction.")
        if self.f and not self.label_flip:
            from .attacks import make_attack
            # the worst-case attack searches through the run's own aggregator
            self.attack = make_attack(exp.attack, agg=self.aggregator, lam=self.lam)
        self.byz_oracle = None
        if self.label_flip:
            if not hasattr(obj, "flip_labels"):
                _checks.fail(owner, "attack", "be used with a classification objective (a GLM)", exp.attack)
            self.byz_oracle = Oracle(obj.flip_labels(), exp.noise, None, m=self.f)
        self.weights = None
        if self.arrivals is not None:
            w = exp.weights
            if isinstance(w, str):
                _checks.one_of(owner, "weights", w, {"counts", "uniform"})
                self.weights = w
            else:
                expected = f"be 'counts', 'uniform' or {self.m} finite nonnegative numbers with a positive sum"
                try:
                    wt = torch.as_tensor(w, dtype=torch.float64)
                except (TypeError, ValueError, RuntimeError):
                    _checks.fail(owner, "weights", expected, w, kind=TypeError)
                if wt.shape != (self.m,) or not torch.isfinite(wt).all() or (wt < 0).any() or wt.sum() <= 0:
                    _checks.fail(owner, "weights", expected, w)
                self.weights = wt
        self.log = log_steps(self.T, _log(exp.log, self.T))
        if exp.progress is not None and not isinstance(exp.progress, bool):
            _checks.fail(owner, "progress", "be True, False or None (a bar on a terminal or in Jupyter)", exp.progress,
                         kind=TypeError)
        self.progress = progress_bar.auto() if exp.progress is None else exp.progress
        self.state_bytes = self._state_bytes()
        _check_memory(self._memory(), self.device)
        self._trial()

    def _state_bytes(self) -> int:
        """Bytes of the largest tensors the loop keeps: messages, estimator states, and in
        asynchronous runs the table and each worker's previous query point, plus about three
        (R, m, d) temporaries for gradients and aggregation."""
        R, d, item = len(self.seeds), self.objective.d, torch.finfo(self.dtype).bits // 8
        n = 5 + (3 if self.arrivals is not None else 0)
        return n * R * self.m * d * item

    def _memory(self) -> dict:
        """What the run holds, in bytes, by part: the state (:meth:`_state_bytes`), the
        asynchronous arrays (arriving workers and staleness, int64, and times, float64, each
        (R, T) or (R, T, k) with k arrivals per step: made on the device, copied to the host at
        the end) and the logged metrics (host)."""
        R = len(self.seeds)
        per_step = 16 + (3 * self.m if self.arrivals is not None else 0)  # per-worker metrics asynchronously
        out = {"state": self.state_bytes, "metrics": per_step * R * len(self.log) * 8}
        if self.arrivals is not None:
            k = self.arrivals.per_step(self.h, self.f)
            out["arrivals"] = out["arrival copies"] = R * self.T * (16 * k + 8)  # on the device, then on the host
        return out

    def _trial(self) -> None:
        """Call the attack and the aggregator once on a tiny table of the run's shape (m rows of
        dimension 1, one run; uniform and unequal weights when asynchronous): what they would
        reject at the first step is rejected before it."""
        from .attacks import worst_case
        from .random import Stream

        s = Stream([0]).fold("validate")
        x = s.fold("x").normal((self.m, 1), dtype=self.dtype)  # (1, m, 1)
        weights = [None]
        if self.arrivals is not None and not (isinstance(self.weights, str) and self.weights == "uniform"):
            given = self.weights if isinstance(self.weights, torch.Tensor) else \
                torch.arange(1, self.m + 1, dtype=torch.float64)
            weights = [None, given.to(self.dtype)[None]]  # (1, m)
        try:
            for w in weights:
                if self.attack is not None:
                    attack = self.attack
                    if getattr(attack, "func", None) is worst_case:  # its parameters, not its search
                        attack = functools.partial(attack, steps=0, restarts=0)
                    hw = None if w is None else w[:, :self.h]
                    rows = attack(x[:, :self.h], hw, n_byz=self.f, generator=s.fold("attack"))
                    if not isinstance(rows, torch.Tensor) or rows.shape != (1, self.f, 1):
                        _checks.fail("Experiment", "attack", f"return the Byzantine rows (..., n_byz, d), here "
                                     f"(1, {self.f}, 1)", rows, kind=TypeError)
                self.aggregator(x, w, lam=self.lam, center=torch.zeros(1, 1, dtype=self.dtype),
                                generator=s.fold("aggregate"))
        except RuntimeError as e:
            if "memory" not in str(e).lower():
                raise
            raise MemoryError(f"The aggregator {self.aggregator.name} needs more memory than there is for m="
                              f"{self.m} workers ({e}). Use fewer workers or a rule with a smaller "
                              "footprint.") from None

    def run(self) -> Trace:
        sim = _Simulation(self)
        trace = sim.run()
        sim._mark(trace)
        if trace.diverged.any():
            warnings.warn(trace.divergence(), DivergedWarning, stacklevel=2)
        return trace


def run(exp) -> Trace:
    """Run an :class:`Experiment` (a dict of its fields, or the path of a TOML file of them) and
    return its :class:`~sco.trace.Trace`. A run that diverges (its iterate becomes inf or NaN)
    is a result: its trace marks it (:attr:`Trace.diverged_at`) and a
    :class:`~sco.trace.DivergedWarning` says so."""
    if isinstance(exp, dict):
        exp = Experiment.from_dict(exp)
    elif isinstance(exp, (str, os.PathLike)):
        exp = Experiment.from_toml(exp)
    elif not isinstance(exp, Experiment):
        _checks.fail("run", "exp", "be an Experiment, a dict of its fields or the path of a TOML file", exp,
                     kind=TypeError)
    return Plan(exp).run()


from .simulation import _Simulation, delay_ratio  # noqa: E402,F401  (the loop; re-exported for tests and mutants)

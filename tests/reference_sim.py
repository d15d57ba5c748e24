"""A slow reference of the simulator: one run, one step and one worker at a time, in float64 loops."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from sco import reference as ref
from sco.arrivals import Replay
from sco.domains import Ball, Box, Unconstrained
from sco.random import Stream
from sco.simulate import Experiment, Plan

# It shares with sco.simulate only what defines the experiment, not how it is computed: the
# resolved config (Plan), the randomness (each draw is keyed by the run's seed and a name, so the
# reference can ask for exactly the numbers the batched run gets), the oracle at one point for one
# worker, the arrival sequence, the attack's formula and the rules that have no loop reference in
# sco.reference. The protocol, the worker estimators, the server rules, projection, clipping,
# the bookkeeping of the asynchronous table and every metric are written out again below.

# -- the methods of sco.estimators.ALGORITHMS ------------------------------------------------------

@dataclass(frozen=True)
class Rules:
    """What the workers run (the estimator) and what the server runs (the step), per algorithm."""

    estimator: str  # "sgd", "momentum" or "storm"
    beta: object = None  # momentum's or STORM's beta: a number, "1/t" or a callable of the count
    form: str = "ema"  # momentum: "ema" or "heavy_ball"
    beta_code: bool = False  # STORM's beta as the authors' code rounds it
    server: str = "sgd"  # "sgd" (projected SGD) or "anytime"
    eta: object = 0.1
    average: bool = False  # projected SGD: output the average of the iterates
    gamma: float | None = None  # AnyTime: a fixed mixing weight instead of 2/(t+2)
    step: str = "eta_alpha"  # AnyTime: step eta * alpha_t (the paper) or eta (the authors' code)
    gamma_code: bool = False  # AnyTime: the mixing weight as the authors' sync code rounds it
    clip: float | None = None  # per-worker gradient clipping to this norm


_ALGORITHMS = {  # the defaults of each name, written out again
    "sgd": lambda average=False, clip=None: Rules("sgd", average=average, clip=clip),
    "momentum": lambda beta=0.9, form="ema", clip=None: Rules("momentum", beta, form, clip=clip),
    "storm": lambda beta=0.1, clip=None: Rules("storm", beta, clip=clip),
    "anytime_sgd": lambda clip=None: Rules("sgd", server="anytime", clip=clip),
    "mu2sgd": lambda clip=None: Rules("storm", "1/t", server="anytime", clip=clip),
    "mu2sgd_code_sync": lambda clip=2.0: Rules("storm", "1/t", beta_code=True, server="anytime", step="eta",
                                               gamma_code=True, clip=clip),
    "mu2sgd_code_async": lambda beta=0.25, gamma=0.1, clip=None: Rules("storm", beta, server="anytime",
                                                                       gamma=gamma, step="eta", clip=clip),
}


def rules(spec: dict) -> Rules:
    params = dict(spec)
    name, eta = params.pop("name"), params.pop("eta")
    return dataclasses.replace(_ALGORITHMS[name](**params), eta=eta)


def code_round(v: float) -> float:
    """The authors' ``max(round(v, 3), 0.01)``, with Python's round [DL24a-code, worker.py, anytime_sgd.py]."""
    return max(round(v, 3), 0.01)


def storm_beta(r: Rules, k: int) -> float:
    b = 1.0 / k if r.beta == "1/t" else float(r.beta(torch.tensor(k))) if callable(r.beta) else float(r.beta)
    return code_round(b) if r.beta_code else b


def next_message(r: Rules, d, g, g_prev, k: int):
    """A worker's k-th message (k >= 2; its first is d_1 = g_1) from its previous one d, its
    k-th gradient g at its new query point and g_prev at its previous one, on the same sample."""
    if r.estimator == "sgd":
        return g
    if r.estimator == "momentum":  # worker momentum [KHJ21]
        return r.beta * d + ((1 - r.beta) if r.form == "ema" else 1.0) * g
    # STORM [CO19]: d_k = g(x_k; z_k) + (1 - beta_k)(d_{k-1} - g(x_{k-1}; z_k)), beta_k = 1/k in
    # mu^2-SGD [Lev23]; asynchronously k and x_{k-1} are the worker's own [DL24b, Alg. 2]
    return g + (1 - storm_beta(r, k)) * (d - g_prev)


def project(domain, w):
    if isinstance(domain, Unconstrained):
        return w
    if isinstance(domain, Ball):
        c, radius = domain.center.numpy(), domain.radius
        n = np.sqrt(((w - c) ** 2).sum())
        return w if n <= radius else c + (w - c) * (radius / n)
    if isinstance(domain, Box):
        return np.clip(w, domain.params()["lo"], domain.params()["hi"])
    raise NotImplementedError(f"No reference projection onto {domain!r}.")


def clip(g, c):
    """Clip a worker's gradient to norm c (the authors' sync code clips at 2.0 [DL24a-code])."""
    n = np.sqrt((g * g).sum())
    return g if c is None or n == 0 else g * min(1.0, c / n)


class Server:
    """The server's iterates: w (the online learner), x (the query point), out (the output)."""

    def __init__(self, r: Rules, domain, x1):
        self.r, self.domain = r, domain
        self.t, self.w, self.x, self.out = 0, x1, x1, x1
        self.ws = [x1]  # w_1 .. w_{t+1}

    def step(self, d_hat):
        self.t += 1
        r, t = self.r, self.t
        eta = float(r.eta(t)) if callable(r.eta) else r.eta
        if r.server == "sgd":  # projected SGD, queried at w; average: the uniform mean of w_1..w_{t+1}
            self.w = project(self.domain, self.w - eta * d_hat)
            self.ws.append(self.w)
            self.x = self.w
            self.out = np.mean(self.ws, axis=0) if r.average else self.w
            return
        # AnyTime SGD [Cut19] with alpha_t = t [DL24b, Alg. 2]: w_{t+1} = Pi_K(w_t - eta alpha_t d_hat_t);
        # the authors' code steps by eta [DL24a-code, anytime_sgd.py]
        self.w = project(self.domain, self.w - (eta * t if r.step == "eta_alpha" else eta) * d_hat)
        self.ws.append(self.w)
        if r.gamma is None and not r.gamma_code:
            # x_{t+1} = sum_{k <= t+1} alpha_k w_k / sum_{k <= t+1} alpha_k
            alpha = np.arange(1, t + 2, dtype=np.float64)
            self.x = sum(a * w for a, w in zip(alpha, self.ws)) / alpha.sum()
        else:  # the authors' codes: x = (1 - gamma) x + gamma w, gamma fixed or max(round(2/(t+1), 3), 0.01)
            gamma = r.gamma if r.gamma is not None else code_round(2 / (t + 1))
            self.x = (1 - gamma) * self.x + gamma * self.w
        self.out = self.x


# -- workers ---------------------------------------------------------------------------------------

@dataclass
class Worker:
    """One worker: its message ``d`` (in flight until its next arrival), the number ``k`` of
    gradients folded into it, and the query point ``at`` it was computed at, with that point's
    step index ``step`` (x_1 is step 1). Its next STORM correction is taken at ``at``."""

    oracle: object
    label: str  # the name of its gradient draws: "grad", or "grad-byzantine" for label flippers
    index: int  # its index in its oracle
    d: np.ndarray = None
    k: int = 0
    at: np.ndarray = None
    step: int = 0


def gradients(run, worker: Worker, k: int, points):
    """The worker's k-th stochastic gradient at each of ``points``, all on ONE sample, clipped.

    The sample of worker i's k-th gradient in run r is keyed by stream[r].fold(label, k).fold(i)
    (Oracle.draw): the draw of the batched simulator, whatever else it computes at once."""
    sample = worker.oracle.draw(Stream([run.seed]).fold(worker.label, k), torch.tensor([[worker.index]]))
    return [clip(worker.oracle.grad(torch.from_numpy(x).view(1, 1, -1), sample)[0, 0].numpy(), run.rules.clip)
            for x in points]


def compute(run, worker: Worker, x, step: int):
    """The worker computes its next message at the query point x (step index ``step``)."""
    k = worker.k + 1
    if run.rules.estimator == "storm":
        g, g_prev = gradients(run, worker, k, [x, worker.at])
    else:
        (g,), g_prev = gradients(run, worker, k, [x]), None
    worker.d = next_message(run.rules, worker.d, g, g_prev, k)
    worker.k, worker.at, worker.step = k, x, step


# -- aggregation and attacks -----------------------------------------------------------------------

def _reference_rule(agg):
    """The loop reference of sco.reference for the rule, or None: then the library's rule
    is called (iterative solvers and randomized rules, which their own tests pin)."""
    if agg.name == "ctma(cwmed)":
        return lambda x, w, lam, c: ref.ref_ctma(x, w, lam, anchor=ref.ref_cwmed(x, w))
    if "(" in agg.name:
        return None
    o = dict(agg.options)
    return {
        "mean": lambda x, w, lam, c: ref.ref_mean(x, w),
        "cwmed": lambda x, w, lam, c: ref.ref_cwmed(x, w, o.get("mode", "interpolate")),
        "cwtm": lambda x, w, lam, c: ref.ref_cwtm(x, w, lam),
        "krum": lambda x, w, lam, c: ref.ref_krum(x, w, lam, o.get("neighbors", "blanchard")),
        "centered_clipping": lambda x, w, lam, c: ref.ref_centered_clipping(x, w, center=c, tau=o["tau"],
                                                                            iters=o.get("iters", 1)),
    }.get(agg.name.split("[")[0])


def aggregate(run, rows, weights, t: int):
    """The server's aggregate of the table ``rows`` (m vectors) with ``weights`` (None: unweighted).
    Centered clipping clips around the previous aggregate (zeros at the first step)."""
    p, x = run.plan, np.array(rows)  # (m, d)
    rule = _reference_rule(p.aggregator)
    if rule is not None:
        out = rule(x, weights, p.lam, run.center)
    else:
        gen = Stream([run.seed]).fold("aggregate", t) if p.aggregator.needs_generator else None
        out = p.aggregator(torch.from_numpy(x), None if weights is None else torch.from_numpy(weights),
                           lam=p.lam, center=torch.from_numpy(run.center), generator=gen).numpy()
    run.center = out
    return out


def attack(run, honest_rows, honest_weights, n: int, t: int):
    """n rows of the omniscient attack on the honest rows, drawn (if random) from the step's stream."""
    w = None if honest_weights is None else torch.tensor(honest_weights, dtype=torch.float64)
    out = run.plan.attack(torch.from_numpy(np.array(honest_rows)), w, n_byz=n,
                          generator=Stream([run.seed]).fold("attack", t))  # (n, d)
    return list(out.numpy())


# -- metrics: each one small function of what the server holds at a logged step --------------------

@dataclass
class Table:
    """The server's table: one row per worker (honest first), the step index and the point of
    the query its row was computed at, and (asynchronously) its update count."""

    rows: list
    steps: list
    points: list
    counts: np.ndarray | None = None


@dataclass
class Snapshot:
    """A logged step t: the query point ``x`` = x_t (where the messages estimate the gradient),
    the output ``out`` after the update, the aggregate ``d_hat`` of the ``table`` with
    ``weights`` (None: unweighted), and the honest workers."""

    plan: Plan
    t: int
    x: np.ndarray
    out: np.ndarray
    d_hat: np.ndarray
    table: Table
    weights: np.ndarray | None
    workers: list
    delay_sum: int = 0  # asynchronously: sum over steps s <= t of tau_s^max (DL24b's delay, staleness + 1)
    honest_steps: int = 0  # t_G


def _sq(v) -> float:
    return float((v * v).sum())


def _at(fn, x):  # an objective's function at one point
    return fn(torch.from_numpy(x)).numpy()


def _honest(s: Snapshot):
    """The honest rows with their normalized weights p_i (equal when unweighted)."""
    h = s.plan.h
    w = np.ones(h) if s.weights is None else s.weights[:h]
    return list(zip(w / w.sum(), s.table.rows[:h]))


def _honest_mean(s: Snapshot):
    """dbar_G = sum_i p_i d_i over the honest rows."""
    return sum(p * row for p, row in _honest(s))


def _weights(s: Snapshot):  # all rows'
    return np.ones(len(s.table.rows)) if s.weights is None else s.weights


METRICS = {
    "excess": lambda s: float(_at(s.plan.objective.excess, s.out)),
    "grad_norm_sq": lambda s: float(_at(s.plan.objective.grad_norm_sq, s.out)),
    "estimator_error": lambda s: _sq(s.d_hat - _at(s.plan.objective.grad, s.x)),
    "honest_error": lambda s: _sq(_honest_mean(s) - _at(s.plan.objective.grad, s.x)),
    "aggregation_error": lambda s: _sq(s.d_hat - _honest_mean(s)),
    "honest_spread": lambda s: sum(p * _sq(row - _honest_mean(s)) for p, row in _honest(s)),
    # asynchronous only: the rows' mean age and the Byzantine rows' share, weighted like the aggregate
    "staleness": lambda s: float((_weights(s) * (s.t - np.array(s.table.steps))).sum() / _weights(s).sum()),
    "byzantine_weight": lambda s: float(_weights(s)[s.plan.h:].sum() / _weights(s).sum()),
    # the quantities of DL24b's Lemma B.1, Thm. 4.1, Lemma 4.1 and Thm. 4.2
    "delay_max": lambda s: float(s.t - min(s.table.steps) + 1),
    "mu_max": lambda s: s.delay_sum / s.t,
    "honest_steps": lambda s: float(s.honest_steps),
    "query_drift": lambda s: max(float(np.sqrt(_sq(s.x - s.table.points[i]))) / (s.t - s.table.steps[i] + 1)
                                 for i in range(s.plan.h)),
    "worker_error": lambda s: [_sq(_eps(s, i)) for i in range(s.plan.h)],
    "weighted_worker_error": lambda s: _sq(sum(s.table.counts[i] * _eps(s, i) for i in range(s.plan.h))
                                           / s.table.counts[:s.plan.h].sum()),
    "worker_counts": lambda s: list(s.table.counts),
}
ASYNC_METRICS = ("staleness", "byzantine_weight", "delay_max", "mu_max", "honest_steps", "query_drift",
                 "worker_error", "weighted_worker_error", "worker_counts")


def _eps(s: Snapshot, i: int):
    """Honest worker i's error at the point its message was computed at."""
    return s.table.rows[i] - _at(s.plan.objective.grad, s.table.points[i])


def measure(s: Snapshot) -> dict:
    p = s.plan
    names = [k for k in METRICS if (p.arrivals is not None or k not in ASYNC_METRICS)
             and (p.objective.convex or k != "excess")]
    out = {k: METRICS[k](s) for k in names}
    out.update({k: float(v) for k, v in p.objective.extra_metrics(torch.from_numpy(s.out)).items()})
    return out


# -- the protocol ----------------------------------------------------------------------------------

@dataclass
class Run:
    plan: Plan
    index: int  # of the run in the experiment's seeds
    seed: int
    rules: Rules
    server: Server
    center: np.ndarray  # the previous aggregate (centered clipping's center)
    logged: list  # one dict of metrics per logged step


def _workers(run, x1):
    """The honest workers and the label-flipping Byzantine ones (which run the honest algorithm on
    the flipped objective); omniscient Byzantine workers have no state (None)."""
    p = run.plan
    honest = [Worker(p.oracle, "grad", i) for i in range(p.h)]
    byz = [Worker(p.byz_oracle, "grad-byzantine", j) if p.label_flip else None for j in range(p.f)]
    for w in honest + byz:
        if w is not None:  # d_1 = g(x_1; z_1)
            (w.d,), w.k, w.at, w.step = gradients(run, w, 1, [x1]), 1, x1, 1
    return honest, byz


def _step(run, t, table, weights, honest, **extra):
    """Aggregate, step the server, and log."""
    x_t = run.server.x
    d_hat = aggregate(run, table.rows, weights, t)
    run.server.step(d_hat)
    if t in run.plan.log:
        run.logged.append(measure(Snapshot(run.plan, t, x_t, run.server.out, d_hat, table, weights, honest,
                                           **extra)))


def run_sync(run, x1) -> dict:
    """Synchronous training: at every step every worker sends its message, computed at x_t."""
    p = run.plan
    honest, byz = _workers(run, x1)
    for t in range(1, p.T + 1):
        rows = [w.d for w in honest]
        if p.f:
            rows += [w.d for w in byz] if p.label_flip else attack(run, rows, None, p.f, t)
        _step(run, t, Table(rows, [t] * p.m, [run.server.x] * p.m), None, honest)
        if t < p.T:
            for w in honest + byz:
                if w is not None:
                    compute(run, w, run.server.x, t + 1)
    return {}


def run_async(run, x1) -> dict:
    """Asynchronous training [DL24b, Alg. 2], one arrival (or a few distinct ones) per step."""
    p = run.plan
    if isinstance(p.arrivals, Replay) and p.arrivals.workers.dim() == 2:  # a recorded trace per run
        who, times = p.arrivals.workers[run.index, :p.T].tolist(), p.arrivals.times[run.index, :p.T].numpy()
    else:  # drawn for this run alone
        arr = p.arrivals.generate(Stream([run.seed]).fold("arrivals"), p.T, p.h, p.f)
        who, times = arr.workers[0].tolist(), arr.times[0].numpy()  # per step: one worker id, or a list
    honest, byz = _workers(run, x1)
    workers = honest + byz  # by id: honest 0..h-1, Byzantine h..m-1
    # warm-up, as the authors' code [DL24b-code]: the table holds every worker's d_1 (computed at
    # x_1) with count 1, and d_1 is also each worker's message in flight, delivered at its first
    # arrival; omniscient Byzantine rows start as the attack on the honest d_1
    rows = [w.d for w in honest]
    if p.f:
        rows += [w.d for w in byz] if p.label_flip else attack(run, rows, None, p.f, 0)
    table = Table(rows, [1] * p.m, [x1] * p.m, np.ones(p.m))
    stale, delay_sum, honest_steps = [], 0, 0
    for t in range(1, p.T + 1):
        arriving = who[t - 1] if isinstance(who[t - 1], list) else [who[t - 1]]
        # 1. the arriving workers deliver their in-flight messages and their counts grow by one
        for i in arriving:
            table.counts[i] += 1
            if workers[i] is not None:
                table.rows[i], table.steps[i], table.points[i] = workers[i].d, workers[i].step, workers[i].at
        # ... then the omniscient attacker sees every honest row of the table, this step's
        # deliveries included, with the honest counts, and computes one row per Byzantine worker
        # (as synchronously); each arriving Byzantine worker delivers its own
        omniscient = [i for i in arriving if workers[i] is None]
        if omniscient:
            fresh = attack(run, table.rows[:p.h], table.counts[:p.h], p.f, t)
            for i in omniscient:
                table.rows[i], table.steps[i], table.points[i] = fresh[i - p.h], t, run.server.x
        stale.append([t - table.steps[i] for i in arriving])
        delay_sum += t - min(table.steps) + 1
        honest_steps += sum(i < p.h for i in arriving)
        # 2.-3. aggregate with the step's weights, and step
        given = not isinstance(p.weights, str)
        weights = p.weights.numpy() if given else table.counts if p.weights == "counts" else None
        _step(run, t, table, weights, honest, delay_sum=delay_sum, honest_steps=honest_steps)
        # 4. the arriving workers compute their next message at x_{t+1}
        if t < p.T:
            for i in arriving:
                if workers[i] is not None:
                    compute(run, workers[i], run.server.x, t + 1)
    several = isinstance(who[0], list)
    return {"worker": np.array(who), "staleness": np.array(stale if several else [s[0] for s in stale]),
            "time": times, "final_weights": table.counts}


@dataclass
class Result:
    steps: np.ndarray
    metrics: dict  # name -> (R, len(steps))
    events: dict  # name -> (R, T) (or (R, T, k)), final_weights (R, m)


def simulate(exp: Experiment | dict) -> Result:
    """Run ``exp`` through the reference, seed after seed."""
    exp = Experiment.from_dict(exp) if isinstance(exp, dict) else exp
    plan = Plan(exp.replace(device="cpu", dtype="float64", progress=False))
    per_run_metrics, per_run_events = [], []
    for index, seed in enumerate(plan.seeds):
        x1 = plan.objective.x0.numpy().copy()
        r = rules(plan.exp.algorithm)
        run = Run(plan, index, seed, r, Server(r, plan.objective.domain, x1), np.zeros(plan.objective.d), [])
        per_run_events.append(run_sync(run, x1) if plan.arrivals is None else run_async(run, x1))
        per_run_metrics.append(run.logged)
    metrics = {k: np.array([[step[k] for step in logged] for logged in per_run_metrics])
               for k in per_run_metrics[0][0]}
    events = {k: np.stack([e[k] for e in per_run_events]) for k in per_run_events[0]}
    return Result(plan.log.copy(), metrics, events)

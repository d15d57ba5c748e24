"""The batched simulator's loop: R runs x m workers x d as one tensor program, synchronous or asynchronous."""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from . import __version__
from . import progress as progress_bar
from ._json import jsonable
from .estimators import EstimatorState
from .random import Stream
from .trace import Trace

# the metrics that are >= 0 by definition: inf or NaN there is divergence
_ERRORS = ("excess", "grad_norm_sq", "estimator_error", "honest_error", "aggregation_error", "honest_spread")


class _Simulation:
    """The loop over time steps. Everything inside a step is batched over runs and workers.

    Step t (1-based), for every run at once:
      1. the arriving workers (all of them, synchronously) deliver their messages to the
         server's table; Byzantine arrivals deliver the attack's rows, computed now from
         the honest rows (omniscient attacker);
      2. the aggregator combines the table (weights: counts, uniform or given);
      3. the server updates (step, projection, AnyTime averaging): x_{t+1};
      4. the arriving honest workers compute their next message at x_{t+1}: a fresh sample
         z, the gradient there and, for STORM, at their previous query point on z.
    Synchronously every message is fresh (staleness 0); asynchronously a message waits in
    flight until its worker's next arrival, and its staleness is the number of steps since
    the query point it was computed at.
    """

    def __init__(self, plan):  # a sco.simulate.Plan
        self.p = plan
        self.R = len(plan.seeds)
        self.stream = Stream(plan.seeds, device=plan.device)
        self.dev, self.dt = plan.device, plan.dtype
        self.d = plan.objective.d
        self.est = plan.algorithm.estimator
        self.rows = torch.arange(self.R, device=self.dev)

    # -- oracle calls: fresh samples for given workers at given points ------------------------

    def _grads(self, oracle, x, x_prev, k, workers, stream=None):
        """The k-th gradients of ``workers`` at x (and at x_prev on the same sample):
        each (R, w, d). k is an int (synchronous) or a per-run tensor (asynchronous);
        ``stream`` defaults to the runs' stream (a subset of its keys for compacted calls)."""
        # `is None`, not `or`: a compacted stream with no active (run, worker) pair has length 0
        label = "grad" if oracle is self.p.oracle else "grad-byzantine"
        s = (self.stream if stream is None else stream).fold(label, k)
        sample = oracle._draw(s, workers, dtype=self.dt)
        g = self._clip(oracle.grad(x, sample))
        g_prev = self._clip(oracle.grad(x_prev, sample)) if x_prev is not None and self.est.needs_prev_grad else None
        return g, g_prev

    def _clip(self, g):
        c = self.p.algorithm.clip
        if c is None:
            return g
        return g * torch.clamp(c / g.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(g.dtype).tiny), max=1.0)

    # -- the run --------------------------------------------------------------------------------

    def run(self) -> Trace:
        p, R, d = self.p, self.R, self.d
        start = time.perf_counter()
        x1 = p.objective.x0.to(self.dev, self.dt).expand(R, d).clone()
        self.srv = p.algorithm.server.init(x1)
        self.center = torch.zeros(R, d, dtype=self.dt, device=self.dev)  # centered clipping's v_0
        # every worker's first message is computed at x_1
        g, _ = self._grads(p.oracle, x1[:, None, :], None, 1, None)
        self.honest = self.est.init(g)  # (R, h, d)
        self.byz = None
        if p.byz_oracle is not None:
            g, _ = self._grads(p.byz_oracle, x1[:, None, :], None, 1, None)
            self.byz = self.est.init(g)  # (R, f, d)
        self.log_idx = {int(t): j for j, t in enumerate(p.log)}
        self.metrics = {k: np.full((R, len(p.log)) + self._worker_axis(k), np.nan) for k in self._metric_names()}
        events = self._run_sync() if p.arrivals is None else self._run_async()
        constants = p.oracle.constants()
        constants.update(lam=p.lam, f=p.f, m_total=p.m)
        meta = {"sco_version": __version__, "seconds": time.perf_counter() - start, "device": str(self.dev),
                "dtype": str(self.dt).replace("torch.", ""), "aggregator": p.aggregator.name,
                "algorithm": p.algorithm.name, "state_bytes": p.state_bytes}
        if p.arrivals is not None:
            byz = events["worker"] >= p.h
            meta["realized_lam"] = byz.mean(axis=1).tolist()
            meta["K"] = delay_ratio(events["worker"], events["staleness"], p.h).tolist()
        config = p.exp.to_dict()
        config["aggregator"] = p.aggregator.name
        return Trace(config, p.seeds, p.log.copy(), self.metrics, events, jsonable(constants), meta)

    def _metric_names(self):
        names = ["excess", "grad_norm_sq", "estimator_error", "honest_error", "aggregation_error", "honest_spread"]
        if self.p.arrivals is not None:
            names += ["staleness", "byzantine_weight", "delay_max", "mu_max", "honest_steps", "query_drift",
                      "worker_error", "weighted_worker_error", "worker_counts"]
        if not self.p.objective.convex:
            names.remove("excess")
        return names + list(self.p.objective.extra_metric_names)

    def _progress(self):
        if self.p.state_bytes > 2**30:
            print(f"sco: state of about {self.p.state_bytes / 2**30:.2f} GiB "
                  f"(R={self.R}, m={self.p.m}, d={self.d}, {self.dt})", file=sys.stderr)
        return progress_bar.bar(range(1, self.p.T + 1), desc="sco", unit="step", enabled=self.p.progress)

    def _aggregate(self, table, weights, t):
        p = self.p
        gen = self.stream.fold("aggregate", t) if p.aggregator.needs_generator else None
        d_hat = p.aggregator(table, weights, lam=p.lam, center=self.center, generator=gen)
        self.center = d_hat
        return d_hat

    def _attack_rows(self, honest_msgs, honest_w, n, t):
        return self.p.attack(honest_msgs, honest_w, n_byz=n, generator=self.stream.fold("attack", t))

    # -- synchronous --------------------------------------------------------------------------

    def _run_sync(self) -> dict:
        p = self.p
        for t in self._progress():
            msgs = self.honest.d  # (R, h, d)
            if p.f:
                byz = self.byz.d if self.byz is not None else self._attack_rows(msgs, None, p.f, t)
                table = torch.cat([msgs, byz.to(msgs.dtype)], dim=1)  # (R, m, d)
            else:
                table = msgs
            x_t = self.srv.x
            d_hat = self._aggregate(table, None, t)
            self.srv = p.algorithm.server.update(self.srv, d_hat)
            self._watch(t)
            if t in self.log_idx:
                self._log(t, x_t, d_hat, msgs, None, None)
            if t == p.T:
                break
            x_next = self.srv.x[:, None, :]
            g, g_prev = self._grads(p.oracle, x_next, x_t[:, None, :], t + 1, None)
            self.honest = self.est.update(self.honest, g, g_prev)
            if self.byz is not None:
                g, g_prev = self._grads(p.byz_oracle, x_next, x_t[:, None, :], t + 1, None)
                self.byz = self.est.update(self.byz, g, g_prev)
        return {}

    # -- asynchronous ---------------------------------------------------------------------------

    def _run_async(self) -> dict:
        p, R, h = self.p, self.R, self.p.h
        arr = p.arrivals.generate(self.stream.fold("arrivals"), p.T, h, p.f)
        workers = arr.workers.to(self.dev)
        if workers.dim() == 2:
            workers = workers[..., None]  # (R, T, k): k workers arrive per step (k = 1 here)
        k_arr = workers.shape[-1]
        x1 = self.srv.x
        # warm-up, as the authors' code [DL24b-code, trainer/async_trainer.py]: each worker's
        # first message d_1, computed at x_1, is in the table with weight 1 and is also the
        # message in flight, delivered at the worker's first arrival (so that "every worker
        # arrives every step" is exactly the synchronous model).
        table = torch.empty(R, p.m, self.d, dtype=self.dt, device=self.dev)
        table[:, :h] = self.honest.d
        if p.f:
            table[:, h:] = self.byz.d if self.byz is not None else \
                self._attack_rows(self.honest.d, None, p.f, 0).to(self.dt)
        counts = torch.ones(R, p.m, dtype=torch.float64, device=self.dev)
        computed_at = torch.ones(R, p.m, dtype=torch.int64, device=self.dev)  # query-point index of messages
        in_table_at = computed_at.clone()  # ... of the message now in the table
        self.prev_point = x1[:, None, :].expand(R, h, self.d).clone()  # each honest worker's last query point
        # the query point of each message in the table (rows >= h unused), indexed like the table
        self.table_point = x1[:, None, :].expand(R, p.m, self.d).clone()
        self.delay_sum = torch.zeros(R, dtype=torch.int64, device=self.dev)  # sum over steps of tau_max_t
        self.honest_steps = torch.zeros(R, dtype=torch.int64, device=self.dev)  # t_G
        self.byz_prev = None if self.byz is None else x1[:, None, :].expand(R, p.f, self.d).clone()
        staleness = torch.zeros(R, p.T, k_arr, dtype=torch.int64, device=self.dev)
        given = None if isinstance(p.weights, str) else p.weights.to(self.dev, self.dt).expand(R, p.m)
        for t in self._progress():
            w_t = workers[:, t - 1]  # (R, k)
            is_byz = w_t >= h
            ih = torch.where(is_byz, 0, w_t)
            # 1. deliver the in-flight messages of the arriving workers; an omniscient attack then
            # sees every honest message of the table, this step's included
            # (the workers of a step are distinct, so each slot is written once per phase)
            rows = self.rows[:, None]
            counts[rows, w_t] += 1
            table[rows, w_t] = torch.where(is_byz[..., None], table[rows, w_t], self.honest.d[rows, ih])
            self.table_point[rows, w_t] = torch.where(is_byz[..., None], self.table_point[rows, w_t],
                                                      self.prev_point[rows, ih])
            self.honest_steps += (~is_byz).sum(-1)
            if p.f:  # no .any() test: it would synchronize a GPU at every step
                if self.byz is not None:
                    byz_rows = self.byz.d[rows, torch.where(is_byz, w_t - h, 0)]
                else:  # one row per Byzantine worker, as synchronously; the arriving ones are delivered
                    rows_f = self._attack_rows(table[:, :h], counts[:, :h].to(self.dt), p.f, t).to(self.dt)
                    byz_rows = rows_f[rows, torch.where(is_byz, w_t - h, 0)]  # (R, k, d)
                table[rows, w_t] = torch.where(is_byz[..., None], byz_rows, table[rows, w_t])
            if p.f and self.byz is None:  # an omniscient attack computes its rows now: fresh
                computed_at[rows, w_t] = torch.where(is_byz, t, computed_at[rows, w_t])
            in_table_at[rows, w_t] = computed_at[rows, w_t]
            staleness[:, t - 1] = t - computed_at[rows, w_t]
            # DL24b's delay of the table's messages: sco's staleness + 1 (see delay_ratio)
            tau_max = (t - in_table_at).amax(-1) + 1  # (R,)
            self.delay_sum += tau_max
            # 2.-3. aggregate and step
            weights = self._weights(counts, given)
            x_t = self.srv.x
            d_hat = self._aggregate(table, weights, t)
            self.srv = p.algorithm.server.update(self.srv, d_hat)
            self._watch(t)
            if t in self.log_idx:
                wh = None if weights is None else weights[:, :h]
                self._log(t, x_t, d_hat, table[:, :h], wh, (weights, t - in_table_at))
                self._log_theorem(t, x_t, table[:, :h], counts, t - in_table_at[:, :h] + 1, tau_max)
            if t == p.T:
                break
            # 4. the arriving workers start their next computation at x_{t+1}
            x_next = self.srv.x[:, None, :]
            self._advance(p.oracle, "honest", torch.where(is_byz, -1, w_t), x_next)
            if self.byz is not None:
                self._advance(p.byz_oracle, "byz", torch.where(is_byz, w_t - h, -1), x_next)
            computed_at[rows, w_t] = t + 1
        final = counts.cpu().numpy()
        staleness = staleness.cpu().numpy()
        return {"worker": workers[..., 0].cpu().numpy() if k_arr == 1 else workers.cpu().numpy(),
                "staleness": staleness[..., 0] if k_arr == 1 else staleness,
                "time": arr.times.cpu().numpy(), "final_weights": final}

    def _weights(self, counts, given):
        """This step's aggregation weights: the counts, None (uniform) or the ``given`` ones."""
        if given is not None:
            return given
        return counts.to(self.dt) if self.p.weights == "counts" else None

    def _advance(self, oracle, group, who, x_next):
        """Workers ``who`` (R, k) of ``group`` (-1: none in that run) compute their next
        message at x_next (R, 1, d), with their own step counts."""
        state = self.honest if group == "honest" else self.byz
        prev = self.prev_point if group == "honest" else self.byz_prev
        active = who >= 0  # (R, k)
        if who.shape[1] > 1:
            # several workers per step: keep only the (run, worker) pairs that compute, so no
            # state row is written twice (a masked write would alias inactive entries)
            r, i = self.rows[:, None].expand_as(who)[active], who[active]  # (N,)
            old = EstimatorState(state.d[r, i][:, None], state.k[r, i][:, None])  # (N, 1, d), (N, 1)
            sub = Stream._from_keys(self.stream.keys[r])
            g, g_prev = self._grads(oracle, x_next[r], prev[r, i][:, None], old.k[:, 0] + 1, i[:, None], sub)
            upd = self.est.update(old, g, g_prev)
            state.d[r, i], state.k[r, i], prev[r, i] = upd.d[:, 0], upd.k[:, 0], x_next[r, 0]
            return
        i = who.clamp_min(0)
        rows = self.rows[:, None]
        old = EstimatorState(state.d[rows, i], state.k[rows, i])  # (R, 1, d), (R, 1)
        g, g_prev = self._grads(oracle, x_next, prev[rows, i], old.k + 1, i)
        upd = self.est.update(old, g, g_prev)
        # written back in place: the loop owns these tensors, and copying (R, m, d) per step
        # would cost more than the step itself when m is large
        state.d[rows, i] = torch.where(active[..., None], upd.d, old.d)
        state.k[rows, i] = torch.where(active, upd.k, old.k)
        prev[rows, i] = torch.where(active[..., None], x_next.expand_as(g), prev[rows, i])

    # -- divergence -------------------------------------------------------------------------------

    def _watch(self, t: int) -> None:
        """Keep each run's first step whose iterate is not finite; on the device, without a host
        synchronization (read once, by :meth:`_mark`)."""
        bad = ~torch.isfinite(self.srv.x).all(-1)  # (R,)
        first = getattr(self, "_first_bad", None)
        if first is None:
            first = self._first_bad = torch.zeros(self.R, dtype=torch.int64, device=self.dev)
        self._first_bad = torch.where(bad & (first == 0), t, first)

    def _mark(self, trace: Trace) -> None:
        """Record in ``trace.meta["diverged_at"]`` each run's first non-finite step: of its
        iterate, or the first logged step where an error metric (nonnegative by definition)
        overflowed to +inf or NaN, whichever comes first."""
        first = getattr(self, "_first_bad", None)
        step = np.zeros(self.R, dtype=np.int64) if first is None else first.cpu().numpy()
        errors = [v for k, v in trace.metrics.items() if k in _ERRORS]
        if errors:
            bad = np.any([np.isnan(v) | np.isposinf(v) for v in errors], axis=0)  # (R, n)
            logged = np.where(bad.any(1), trace.steps[bad.argmax(1)], 0)
            step = np.where((step == 0) | ((logged > 0) & (logged < step)), logged, step)
        trace.meta["diverged_at"] = [int(t) if t else None for t in step]

    # -- metrics ----------------------------------------------------------------------------------

    _PER_WORKER = {"worker_error": "h", "worker_counts": "m"}

    def _worker_axis(self, name) -> tuple:
        """The trailing axis of a per-worker metric: (h,) or (m,); () for the others."""
        n = self._PER_WORKER.get(name)
        return () if n is None else (self.p.h if n == "h" else self.p.m,)

    def _log_theorem(self, t, x_t, honest, counts, tau, tau_max):
        """What DL24b's Lemma B.1, Thm. 4.1, Lemma 4.1 and Thm. 4.2 are stated in: each honest
        worker's error at the point its message was computed, eps_t^(i) = d^(i) - grad f(x^(i));
        their count-weighted mean; the counts s_t^(i); tau_t^max; mu_max so far; t_G; and the
        largest drift per step of delay, max_i ||x_t - x^(i)|| / tau_t^(i)."""
        j, m = self.log_idx[t], self.metrics
        with torch.no_grad():
            R, h, d = honest.shape
            g = self.p.objective.grad(self.table_point[:, :h].reshape(R * h, d)).reshape(R, h, d)
            eps = honest - g  # (R, h, d)
            s = counts[:, :h].to(eps.dtype)  # (R, h)
            m["worker_error"][:, j] = _np(eps.square().sum(-1))
            m["weighted_worker_error"][:, j] = _np(((s[..., None] * eps).sum(1) / s.sum(-1, keepdim=True))
                                                   .square().sum(-1))
            m["worker_counts"][:, j] = _np(counts)
            m["delay_max"][:, j] = _np(tau_max)
            m["mu_max"][:, j] = _np(self.delay_sum.to(torch.float64) / t)
            m["honest_steps"][:, j] = _np(self.honest_steps)
            drift = (x_t[:, None, :] - self.table_point[:, :h]).norm(dim=-1)  # (R, h)
            m["query_drift"][:, j] = _np((drift / tau.to(drift.dtype)).amax(-1))

    def _log(self, t, x_t, d_hat, honest, wh, stale):
        j = self.log_idx[t]
        obj = self.p.objective
        out = self.srv.out
        m = self.metrics
        with torch.no_grad():
            if "excess" in m:
                m["excess"][:, j] = _np(obj.excess(out))
            m["grad_norm_sq"][:, j] = _np(obj.grad_norm_sq(out))
            for name, v in obj.extra_metrics(out).items():
                m[name][:, j] = _np(v)
            g_true = obj.grad(x_t)  # (R, d)
            if wh is None:
                dbar = honest.mean(1)
                spread = (honest - dbar[:, None]).square().sum(-1).mean(-1)
            else:
                pw = wh / wh.sum(-1, keepdim=True)  # (R, h)
                dbar = (pw[..., None] * honest).sum(1)
                spread = (pw * (honest - dbar[:, None]).square().sum(-1)).sum(-1)
            m["estimator_error"][:, j] = _np((d_hat - g_true).square().sum(-1))
            m["honest_error"][:, j] = _np((dbar - g_true).square().sum(-1))
            m["aggregation_error"][:, j] = _np((d_hat - dbar).square().sum(-1))
            m["honest_spread"][:, j] = _np(spread)
            if stale is not None:
                weights, age = stale
                w = torch.ones_like(age, dtype=torch.float64) if weights is None else weights.to(torch.float64)
                m["staleness"][:, j] = _np((w * age).sum(-1) / w.sum(-1))
                m["byzantine_weight"][:, j] = _np(w[:, self.p.h:].sum(-1) / w.sum(-1))


def delay_ratio(workers: np.ndarray, staleness: np.ndarray, h: int) -> np.ndarray:
    """K of [DL24b, Eq. (5)] for each run: the largest, over honest workers, ratio of their
    longest to shortest delay, from the delivery events (R, T) (one arrival per step).

    A delay is counted as DL24b counts it, sco's staleness + 1: DL24b's worker is sent x_t
    when it delivers at t, sco's is sent x_{t+1} (one step fresher), so delays are >= 1 and a
    round robin over m workers has delay m and K = 1 (DL24b, Remark 4.2). Workers that never
    arrived are left out; a run without arrivals has K = 1.
    """
    if workers.ndim != 2:  # several arrivals per step (rounds): every delay is 1
        return np.ones(workers.shape[0])
    out = np.ones(workers.shape[0])
    for r in range(workers.shape[0]):
        tau = staleness[r] + 1
        for i in np.unique(workers[r][workers[r] < h]):
            d = tau[workers[r] == i]
            out[r] = max(out[r], d.max() / d.min())
    return out


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()

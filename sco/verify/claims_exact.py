"""Exactness claims: values the theory gives exactly, for the estimators, the server rules, PEP's worst case and the delays."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..rates import BOUNDS, CheckResult, check_bound, check_exact, check_ratio
from ..simulate import Plan
from .core import Figure, Series, claim, experiment, run
from .moments import Rule, moments

# d = 16: the metrics are sums over coordinates, whose relative spread shrinks like sqrt(2/d)
_DIAG = {"name": "quadratic", "d": 16, "L": 1.0, "mu": 0.2, "rotate": False, "seed": 3}
_SCHEDULE_P = (0.15, 0.25, 0.6)  # a skewed deterministic schedule over three workers
_T = 100

# (label, sco algorithm spec, the same algorithm as a moments.Rule)
_ALGS = (
    ("sgd", {"name": "sgd", "eta": 0.1}, Rule("sgd", "sgd", 0.1)),
    ("sgd, averaged", {"name": "sgd", "eta": 0.1, "average": True}, Rule("sgd", "sgd", 0.1, average=True)),
    ("momentum (EMA)", {"name": "momentum", "eta": 0.1, "beta": 0.9}, Rule("ema", "sgd", 0.1, beta=0.9)),
    ("momentum (heavy ball)", {"name": "momentum", "eta": 0.05, "beta": 0.5, "form": "heavy_ball"},
     Rule("heavy_ball", "sgd", 0.05, beta=0.5)),
    ("storm", {"name": "storm", "eta": 0.1, "beta": 0.3}, Rule("storm", "sgd", 0.1, beta=0.3)),
    ("anytime_sgd", {"name": "anytime_sgd", "eta": 1 / (4 * _T)}, Rule("sgd", "anytime", 1 / (4 * _T))),
    ("mu2sgd", {"name": "mu2sgd", "eta": 1 / (4 * _T)}, Rule("storm", "anytime", 1 / (4 * _T), beta="1/t")),
    ("mu2sgd_code_sync", {"name": "mu2sgd_code_sync", "eta": 0.05, "clip": None},
     Rule("storm", "anytime", 0.05, beta="1/t", alpha_step=False, rounding=True)),
    ("mu2sgd_code_async", {"name": "mu2sgd_code_async", "eta": 0.05},
     Rule("storm", "anytime", 0.05, beta=0.25, alpha_step=False, gamma=0.1)),
)


def _schedule(ctx, T):
    return np.random.default_rng(1000 * ctx.seed + 7).choice(len(_SCHEDULE_P), size=T, p=_SCHEDULE_P)


@claim("moments_exact",
       "On linear-Gaussian problems (a diagonal quadratic, additive noise, shifted workers, mean aggregation) every "
       "algorithm's expected excess and estimator error follow exact moment recursions: synchronously and "
       "asynchronously on a fixed arrival schedule, with count or uniform weights, the seed means match them "
       "within their standard errors at every logged step.",
       family="exact", bounds=(), seconds=3,
       covers=("algorithm:sgd", "algorithm:momentum", "algorithm:storm", "algorithm:anytime_sgd", "algorithm:mu2sgd",
               "algorithm:mu2sgd_code_sync", "algorithm:mu2sgd_code_async", "estimator:sgd", "estimator:momentum",
               "estimator:storm", "server:projected_sgd", "server:anytime", "noise:gaussian", "noise:student_t",
               "heterogeneity:shift", "arrivals:sync", "arrivals:replay", "weights:counts", "weights:uniform",
               "aggregator:mean", "aggregator:mean[weighted]"))
def _moments(ctx):
    seeds = ctx.seeds(96)
    m, noise = 3, {"name": "gaussian", "sigma": 1.0}
    schedule = _schedule(ctx, _T)
    cases = [(f"{label}, synchronous", spec, rule, None, "counts", noise) for label, spec, rule in _ALGS]
    cases += [(f"{label}, asynchronous", spec, rule, schedule, "counts", noise) for label, spec, rule in _ALGS
              if label in ("sgd", "momentum (EMA)", "storm", "mu2sgd", "mu2sgd_code_async")]
    cases += [("mu2sgd, asynchronous, uniform weights", _ALGS[6][1], _ALGS[6][2], schedule, "uniform", noise),
              ("mu2sgd, Student-t noise (nu = 5)", _ALGS[6][1], _ALGS[6][2], None, "counts",
               {"name": "student_t", "sigma": 1.0, "nu": 5.0})]
    checks, series = [], []
    for label, spec, rule, sched, weights, nz in cases:
        exp = experiment(ctx, objective=_DIAG, noise=nz, heterogeneity={"name": "shift", "zeta": 0.5}, m=m, T=_T,
                         seeds=seeds, algorithm=spec, weights=weights,
                         arrivals=None if sched is None else {"name": "replay", "workers": sched.tolist()})
        plan = Plan(exp)
        tr = run(ctx, exp)
        obj = plan.objective
        exact = moments(rule, a=obj.eigenvalues.numpy(), c=obj.center.numpy(),
                        offsets=plan.oracle.heterogeneity.shifts(m, obj.d).numpy(), sigma=1.0, T=_T, log=tr.steps,
                        schedule=sched, weights=weights)
        gaussian = nz["name"] == "gaussian"
        for metric in ("excess", "estimator_error"):
            mean, sd = exact[metric]
            checks.append(check_exact(tr[metric], mean, sd=sd if gaussian else None, alpha=1e-4, grid=tr.steps,
                                      claim=f"{label}: E[{metric}] equals its moment recursion",
                                      statistic="max |mean - exact| / standard error", param="t",
                                      source="derived here (sco.verify.moments)"))
        if label.startswith("mu2sgd,") or label == "mu2sgd, synchronous":
            series.append(Series(label, tr.steps, tr["excess"], None, exact["excess"][0], "exact expectation"))
    return checks, Figure("step t", "f(x_out) - f*", series,
                          caption="Seed mean and 10-90% band over seeds; dashed: the exact expectation from the "
                                  "moment recursion.")


def _pep_huber(T: int, L: float = 1.0, D: float = 1.0):
    """The worst case of AnyTime-GD with eta = 1/(4LT) over L-smooth convex functions (the PEP solution,
    proofs_check.pep_anytime): f(x) = huber_r(sqrt(L) x + sqrt(L) D) with r = D/(1 + 2 L h_T), x_1 = 0."""
    from ..objectives import Dataset, huber
    h_T = (T - 1) * (3 * T + 2) / (48 * L * T)  # the effective step of T - 1 AnyTime updates
    r = D / (1 + 2 * L * h_T)
    A = torch.tensor([[math.sqrt(L)]], dtype=torch.float64)
    ds = Dataset("pep_huber", A, torch.tensor([-math.sqrt(L) * D], dtype=torch.float64), "regression",
                 spec={"data": "pep_huber", "T": T, "L": L, "D": D})
    return huber(ds, delta=math.sqrt(L) * r)


@claim("pep_tight_instance",
       "On the worst-case function that PEP yields for noiseless AnyTime-GD with eta = 1/(4 L T), the simulated "
       "f(x_T) - f* equals the PEP value 12 L D^2 T / (3 T^2 + 23 T - 2) to 1e-6 relative.",
       family="exact", bounds=("anytime_pep_value",), seconds=1,
       covers=("server:anytime", "algorithm:mu2sgd", "algorithm:anytime_sgd", "noise:exact"))
def _pep(ctx):
    Ts = np.array([2, 3, 4, 6, 8])
    checks, series = [], []
    for alg in ("mu2sgd", "anytime_sgd"):
        y = []
        for T in Ts:
            # x_T uses the gradients at x_1..x_{T-1}: T - 1 server steps
            exp = experiment(ctx, objective=_pep_huber(int(T)), m=1, T=int(T) - 1, seeds=[0],
                             algorithm={"name": alg, "eta": 1 / (4 * T)}, log=[int(T) - 1])
            y.append(Plan(exp).run().final("excess")[0])
        y = np.array(y)[None]
        vals = {"L": 1.0, "D": 1.0, "T": Ts}
        checks.append(check_bound(y, BOUNDS["anytime_pep_value"], vals, instancewise=True, tol=1e-6, param="T",
                                  claim=f"{alg}: f(x_T) - f* = the PEP worst case, T = 2..8"))
        series.append(Series(alg, Ts, y, None, BOUNDS["anytime_pep_value"](vals), "PEP value"))
    return checks, Figure("horizon T", "f(x_T) - f*", series,
                          caption="Deterministic runs; dashed: the PEP worst case (equal to 1e-6 for T <= 8).")


def _staleness_runs(tr, h):
    """Per run: the total staleness and the number of honest deliveries, (R,) each."""
    w, s = tr.events["worker"], tr.events["staleness"]
    honest = w < h
    return (s * honest).sum(1).astype(float), honest.sum(1).astype(float)


def _stat(name, claim_text, ok, measured, predicted, detail, source="derived here (renewal theory)"):
    return CheckResult(claim=claim_text, statistic=name, empirical=float(measured), interval=None,
                       theoretical=float(predicted), relation="==", verdict="pass" if ok else "fail", source=source,
                       detail=detail)


@claim("arrival_statistics",
       "Each arrival model delivers what it predicts: iid speeds give a mean staleness n/(1 - lam) - 1 and update "
       "counts proportional to (1 - lam) p_i with a Byzantine share lam; deterministic compute times are a round "
       "robin (staleness m - 1, equal counts); exponential compute times share the arrivals as their rates; a "
       "replayed schedule is delivered as given; rounds have no staleness.",
       family="async", bounds=("iid_arrival_staleness",), seconds=15,
       covers=("arrivals:speeds", "arrivals:compute_times", "arrivals:replay", "arrivals:rounds"))
def _arrivals(ctx):
    from scipy.stats import binomtest, chisquare
    from ..arrivals import profile
    T, h, f, lam = ctx.size(2000, 8000), 6, 2, 0.2
    seeds = ctx.seeds(16)
    base = dict(objective={"name": "quadratic", "d": 2, "seed": 1}, T=T, seeds=seeds, log=[T],
                algorithm={"name": "sgd", "eta": 0.01})
    checks = []
    tr = run(ctx, experiment(ctx, **base, m=h + f, f=f, attack="sign_flip",
                             arrivals={"name": "speeds", "speeds": "id", "lam": lam}))
    num, den = _staleness_runs(tr, h)
    checks.append(check_ratio(num, den, BOUNDS["iid_arrival_staleness"], {"n": h, "lam": lam}, tol=0.02,
                              claim="speeds: mean staleness of honest deliveries = n/(1 - lam) - 1",
                              statistic="mean staleness", detail=f"n = {h}, lam = {lam}, T = {T}; tol 0.02 covers the "
                                                                  "edge effects of a finite horizon."))
    w = tr.events["worker"]
    counts = np.stack([(w == i).sum() for i in range(h + f)]).astype(float)
    expected_h = (1 - lam) * profile("id", h).numpy() * w.size
    p_chi = chisquare(counts[:h], expected_h * counts[:h].sum() / expected_h.sum()).pvalue
    p_byz = binomtest(int(counts[h:].sum()), w.size, lam).pvalue
    checks.append(_stat("chi-square p-value", "speeds: honest counts ∝ p_i", p_chi > 1e-4, p_chi, 1e-4,
                        "Pearson's test of the pooled honest counts against p_i ∝ i; fails below 1e-4 (its false-"
                        "failure probability)."))
    checks.append(_stat("binomial p-value", "speeds: Byzantine share = lam", p_byz > 1e-4, p_byz, 1e-4,
                        f"Exact binomial test of {int(counts[h:].sum())} Byzantine arrivals in {w.size}."))
    m = 5
    tr = run(ctx, experiment(ctx, **base, m=m, arrivals={"name": "compute_times", "dist": "deterministic"}))
    s, w = tr.events["staleness"][:, m:], tr.events["worker"]
    ok = bool((s == m - 1).all()) and np.ptp(tr.events["final_weights"], axis=1).max() <= 1
    checks.append(_stat("max |staleness - (m - 1)|", "compute_times (deterministic): a round robin", ok,
                        np.abs(s - (m - 1)).max(), 0, f"m = {m}: after the first round every delivery is m - 1 = "
                                                      f"{m - 1} steps stale and the counts differ by at most one."))
    rates = np.array([1.0, 2.0, 3.0, 4.0])
    tr = run(ctx, experiment(ctx, **base, m=4, arrivals={"name": "compute_times", "dist": "exponential",
                                                           "speeds": rates.tolist()}))
    w = tr.events["worker"]
    counts = np.stack([(w == i).sum() for i in range(4)]).astype(float)
    p = chisquare(counts, rates / rates.sum() * counts.sum()).pvalue
    checks.append(_stat("chi-square p-value", "compute_times (exponential): arrival shares ∝ rates", p > 1e-4, p,
                        1e-4, "Pearson's test of the pooled counts; memoryless compute times make the arrivals iid."))
    sched = _schedule(ctx, T)
    tr = run(ctx, experiment(ctx, **base, m=3, arrivals={"name": "replay", "workers": sched.tolist()}))
    last = {}
    gap = np.empty(T, dtype=np.int64)
    for t, i in enumerate(sched, 1):  # staleness = steps since the worker's query point x_{t'+1}
        gap[t - 1] = t - (last[i] + 1) if i in last else t - 1
        last[i] = t
    ok = bool((tr.events["worker"] == sched).all() and (tr.events["staleness"] == gap).all())
    checks.append(_stat("mismatches", "replay: the schedule and its staleness, exactly", ok,
                        int((tr.events["staleness"] != gap).sum()), 0, "Staleness recomputed from the schedule."))
    tr = run(ctx, experiment(ctx, **base, m=3, arrivals={"name": "rounds"}))
    ok = bool((tr.events["staleness"] == 0).all() and (tr.events["final_weights"] == T + 1).all())
    checks.append(_stat("max staleness", "rounds: every worker every step, staleness 0", ok,
                        tr.events["staleness"].max(), 0, "Counts T + 1 (warm-up included) for every worker."))
    return checks, None

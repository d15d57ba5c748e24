"""The registry of claims that ``sco verify`` runs, one function per claim."""

from __future__ import annotations

import numpy as np
import torch

from ..arrivals import profile
from ..random import Stream
from ..robustness import indistinguishable_kappa, worst_case_kappa
from ..rates.bounds import BOUNDS
from ..rates.fit import check_bound
from .core import Figure, Series, claim, exponent_check, experiment, ratio_check, run_final, sweep

# Problems shared by the claims: a convex quadratic on a ball (so D is the diameter and the
# drift bound of AnyTime holds) with Gaussian noise whose smoothness variance is exact.
BALL_QUAD = {"name": "quadratic", "d": 20, "L": 1.0, "mu": 0.0, "radius": 1.0, "seed": 2}
QUAD = {"name": "quadratic", "d": 20, "L": 1.0, "mu": 0.0, "seed": 2}
NOISE = {"name": "gaussian", "sigma": 1.0, "sigma_L": 0.5}


def _predicted(name: str, param: str, values=None, term=None) -> float:
    """The exponent the registered bound predicts in ``param`` (a false theory planted in
    BOUNDS changes it, which the tests use to show the claims can fail)."""
    return float(np.mean(BOUNDS[name].exponent(param, values or {}, term=term)))


def _T_grid(ctx, quick=(100, 200, 400, 800, 1600), full=(100, 200, 400, 800, 1600, 3200, 6400, 12800)):
    return np.array(ctx.size(quick, full))


# -- mu^2-SGD: the estimator and the rates -----------------------------------------------------


def _estimator_error(ctx, algorithm: str, bound_name: str, label: str, bound_label: str, noise=NOISE):
    """One worker on the ball quadratic with eta = 1/(4 L T): the estimator error over t held
    against its bound with constants and its exponent in t."""
    T = ctx.size(1000, 4000)
    _, tr = run_final(ctx, experiment(ctx, objective=BALL_QUAD, noise=noise, m=1, T=T, seeds=ctx.seeds(32),
                                      algorithm={"name": algorithm, "eta": 1 / (4 * T)}), "estimator_error")
    t, y, c = tr.steps, tr["estimator_error"], tr.constants
    bound = BOUNDS[bound_name]
    values = {"sigma": c["sigma"], "sigma_L": c["sigma_L"], "D": c["D"], "t": t}
    # tol 0.1: SGD's error equals its bound in expectation, so the check allows the Monte Carlo
    # resolution (it fails only if the whole simultaneous interval lies 10% above the bound)
    chk_bound = check_bound(y, bound, values, param="t", tol=0.1, claim=f"E||error_t||^2 <= {bound_label}")
    chk_rate = exponent_check(t, y, _predicted(bound_name, "t", values), tol=0.1, mask=t >= 10,
                              claim=f"E||error_t||^2 ~ t^a ({bound_label})", statistic="exponent in t",
                              source=bound.source, detail="Fitted for t >= 10.")
    fig = Figure("step t", "E||d_t - grad f(x_t)||^2", [Series(label, t, y, chk_rate.fit, bound(values), bound_label)])
    return [chk_bound, chk_rate], fig


@claim("mu2sgd_estimator_error",
       "With beta_t = 1/t the STORM estimate of mu^2-SGD has error E||d_t - grad f(x_t)||^2 <= "
       "(2 sigma^2 + 8 D^2 sigma_L^2)/t along AnyTime iterates: it decays like 1/t.",
       "[Lev23]; [digest §3.3, §7.3 item 1, D]", "mu2sgd")
def _mu2sgd_estimator_error(ctx):
    return _estimator_error(ctx, "mu2sgd", "mu2sgd_estimator_error", "mu^2-SGD", "(2 sigma^2 + 8 D^2 sigma_L^2)/t")


@claim("sgd_estimator_error",
       "Without the STORM correction (AnyTime-SGD, same query points) the estimator error does not decay: "
       "it stays at the noise level sigma^2.",
       "[digest §7.3 item 2]", "mu2sgd")
def _sgd_estimator_error(ctx):
    # additive noise only: its level is sigma^2 at every point, so the control is exactly flat
    return _estimator_error(ctx, "anytime_sgd", "sgd_estimator_error", "AnyTime-SGD", "sigma^2",
                            noise={"name": "gaussian", "sigma": 1.0})


@claim("mu2sgd_noiseless_rate",
       "Noiseless AnyTime-GD with eta = 1/(4 L T) has f(x_T) - f* <= 4 L D^2 / T, the worst case over L-smooth "
       "convex functions computed by PEP (tight on a Huber function); benign instances are faster.",
       "[Cut19]; [Lev23]; proofs_check.pep_anytime [THG17, GMT+22]", "mu2sgd")
def _noiseless(ctx):
    Ts = _T_grid(ctx)
    series, checks = [], []
    for obj in (QUAD, {"name": "logistic", "n": 200, "d": 10, "l2": 1e-3, "seed": 1}):
        y = sweep(ctx, Ts, lambda T: experiment(ctx, objective=obj, m=1, T=int(T), seeds=ctx.seeds(2, 2),
                                                algorithm={"name": "mu2sgd", "eta": 1 / (4 * T)}), "excess")
        plan_c = run_final(ctx, experiment(ctx, objective=obj, m=1, T=1, seeds=[0],
                                           algorithm={"name": "mu2sgd", "eta": 1.0}), "excess")[1].constants
        bound = BOUNDS["anytime_noiseless_pep"]
        values = {"L": plan_c["L"], "D": plan_c["D"], "T": Ts}
        checks.append(check_bound(y, bound, values, instancewise=True, param="T",
                                  claim=f"{obj['name']}: f(x_T) - f* <= 4 L D^2 / T"))
        chk = exponent_check(Ts, y, _predicted("anytime_noiseless_pep", "T"), tol=0.1, relation="<=",
                             claim=f"{obj['name']}: rate at least 1/T", statistic="exponent in T",
                             source=bound.source)
        checks.append(chk)
        series.append(Series(obj["name"], Ts, y, chk.fit, bound(values), "4 L D^2 / T"))
    return checks, Figure("horizon T (steps)", "f(x_T) - f*", series)


@claim("mu2sgd_noisy_rate",
       "With noise, mu^2-SGD with eta = 1/(4 L T) converges at least as fast as O(L D^2/T + sigma_tilde D/sqrt(T)) "
       "(a worst-case bound: strongly convex directions of a quadratic converge faster).",
       "[Lev23]; [digest §3.3, §7.4 item 2]", "mu2sgd")
def _noisy(ctx):
    Ts = _T_grid(ctx)
    y = sweep(ctx, Ts, lambda T: experiment(ctx, objective=QUAD, noise={"name": "gaussian", "sigma": 1.0}, m=1,
                                            T=int(T), seeds=ctx.seeds(16),
                                            algorithm={"name": "mu2sgd", "eta": 1 / (4 * T)}), "excess")
    predicted = _predicted("mu2sgd", "T", {"L": 1.0, "D": 1.0, "sigma": 1.0, "sigma_L": 0.0, "T": 1e9})
    chk = exponent_check(Ts, y, predicted, tol=0.1, relation="<=", claim="excess at least as fast as T^-1/2",
                         statistic="exponent in T", source=BOUNDS["mu2sgd"].source,
                         detail="Predicted: the exponent of the noise term sigma_tilde D / sqrt(T), which "
                                "dominates for large T.")
    return [chk], Figure("horizon T (steps)", "f(x_T) - f*", [Series("mu^2-SGD, sigma = 1", Ts, y, chk.fit)])


# -- synchronous Byzantine training ------------------------------------------------------------------


@claim("honest_average_scaling",
       "Averaging m honest workers' mu^2-SGD estimates divides the estimator error by m: "
       "E||dbar_t - grad f(x_t)||^2 <= sigma_tilde^2 / (m t).",
       "[DL24a]; [digest §4.4, §7.3 item 3]", "sync")
def _honest_average(ctx):
    ms = np.array(ctx.size((1, 2, 4, 8, 16, 32), (1, 2, 4, 8, 16, 32, 64, 128)))
    T = 200
    y = sweep(ctx, ms, lambda m: experiment(ctx, objective=BALL_QUAD, noise=NOISE, m=int(m), T=T,
                                            seeds=ctx.seeds(32), algorithm={"name": "mu2sgd", "eta": 1 / (4 * T)},
                                            log=[T]), "estimator_error")
    bound = BOUNDS["mu2sgd_estimator_error_mean"]
    chk = exponent_check(ms, y, _predicted("mu2sgd_estimator_error_mean", "m"), tol=0.1,
                         claim="E||dbar - grad f||^2 ~ 1/m at fixed t", statistic="exponent in m",
                         source=bound.source, detail=f"At t = {T}, mean aggregation, no attack.")
    return [chk], Figure("honest workers m", f"E||dbar_t - grad f(x_t)||^2 at t = {T}",
                         [Series("mu^2-SGD, mean of m workers", ms, y, chk.fit)])


@claim("momentum_under_attack",
       "Under the 'a little is enough' attack, the aggregated mu^2-SGD estimate keeps its 1/t error "
       "(2(kappa + 1/|G|) sigma_tilde^2 / t), while SGD's stays at a floor: double momentum makes the honest "
       "spread shrink, so the Byzantine rows can hide in less and less.",
       "[DL24a]; [KHJ21]; [digest §4.4, §7.3 item 4]", "sync")
def _momentum_under_attack(ctx):
    T = ctx.size(1000, 4000)
    checks, series = [], []
    for alg, name in (("mu2sgd", "mu2sgd_estimator_error_aggregated"), ("anytime_sgd", "sgd_estimator_error")):
        _, tr = run_final(ctx, experiment(ctx, objective=BALL_QUAD, noise=NOISE, m=17, f=4, attack="alie",
                                          aggregator="ctma(cwmed)", T=T, seeds=ctx.seeds(16),
                                          algorithm={"name": alg, "eta": 1 / (4 * T)}), "estimator_error")
        t, y = tr.steps, tr["estimator_error"]
        chk = exponent_check(t, y, _predicted(name, "t", {"kappa": 1.0, "delta": 4 / 17, "m": 17, "sigma": 1.0, "sigma_tilde": 1.0, "t": 100.0}), tol=0.15,
                             mask=t >= 20, claim=f"{alg}: aggregated error exponent under ALIE",
                             statistic="exponent in t", source=BOUNDS[name].source,
                             detail="m = 17, f = 4, ALIE, CTMA(CWMed); fitted for t >= 20.")
        checks.append(chk)
        series.append(Series(alg, t, y, chk.fit))
    return checks, Figure("step t", "E||d_hat_t - grad f(x_t)||^2", series)


@claim("byzantine_sync_rate",
       "Synchronous mu^2-SGD with CTMA(CWMed) under attack converges at least as fast as the Byzantine rate "
       "O(L D^2/T + sigma_tilde D/sqrt(mT) + sigma_tilde D sqrt(kappa/T)) in T.",
       "[DL24a, main theorem, R]; [digest §4.4]", "sync")
def _byzantine_rate(ctx):
    Ts = _T_grid(ctx)
    y = sweep(ctx, Ts, lambda T: experiment(ctx, objective=QUAD, noise={"name": "gaussian", "sigma": 1.0}, m=17,
                                            f=4, attack="alie", aggregator="ctma(cwmed)", T=int(T),
                                            seeds=ctx.seeds(8), algorithm={"name": "mu2sgd", "eta": 1 / (4 * T)},
                                            log=[int(T)]), "excess")
    vals = {"L": 1.0, "D": 1.0, "sigma": 1.0, "sigma_L": 0.0, "m": 17, "kappa": 1.0, "T": 1e9}
    chk = exponent_check(Ts, y, _predicted("byzantine_sync", "T", vals), tol=0.1, relation="<=",
                         claim="excess under ALIE at least as fast as T^-1/2", statistic="exponent in T",
                         source=BOUNDS["byzantine_sync"].source, detail="m = 17, f = 4, ALIE, CTMA(CWMed).")
    return [chk], Figure("horizon T (steps)", "f(x_T) - f*", [Series("mu^2-SGD + CTMA(CWMed), ALIE", Ts, y,
                                                                     chk.fit)])


@claim("dimension_free",
       "At a fixed noise level E||xi||^2 = sigma^2, the error the Byzantine workers induce does not grow with "
       "the dimension d (CTMA over CWMed under ALIE).",
       "[DL24b, abstract, V-text]; [digest §7.4 item 6]", "sync")
def _dimension_free(ctx):
    ds = np.array(ctx.size((10, 30, 100, 300, 1000), (10, 30, 100, 300, 1000, 3000)))
    T = 100
    y = sweep(ctx, ds, lambda d: experiment(ctx, objective={"name": "quadratic", "d": int(d), "rotate": False,
                                                            "seed": 2},
                                            noise={"name": "gaussian", "sigma": 1.0}, m=17, f=4, attack="alie",
                                            aggregator="ctma(cwmed)", T=T, seeds=ctx.seeds(16),
                                            algorithm={"name": "mu2sgd", "eta": 1 / (4 * T)}, log=[T]),
              "aggregation_error")
    chk = exponent_check(ds, y, 0.0, tol=0.15, relation="<=", claim="aggregation error does not grow with d",
                         statistic="exponent in d", source="[DL24b]; [digest §7.4 item 6]",
                         detail=f"||d_hat - dbar_G||^2 at t = {T}, m = 17, f = 4.")
    return [chk], Figure("dimension d", f"||d_hat_t - dbar_G||^2 at t = {T}",
                         [Series("CTMA(CWMed) under ALIE", ds, y, chk.fit)])


@claim("ctma_robustness",
       "CTMA turns CWMed's O(1) robustness coefficient into O(delta): the worst-case kappa of bare CWMed does "
       "not shrink as the Byzantine fraction delta -> 0, CTMA(CWMed)'s shrinks like delta, and no rule beats "
       "the lower bound f/(m - 2f).",
       "[DL24a]; [AFG+23]; [digest §4.2, §7.2]", "robustness")
def _ctma_robustness(ctx):
    m, d = 40, 5
    fs = np.array(ctx.size((1, 2, 4, 8), (1, 2, 3, 4, 6, 8, 10, 13)))
    delta = fs / m
    seeds = ctx.seeds(8)
    lower = BOUNDS["robustness_lower"]
    series, worst = [], {}
    for agg in ("cwmed", "ctma(cwmed)"):
        ys = []
        for f in fs:
            h = m - int(f)
            s = Stream(seeds)
            # two balanced clusters: the honest input on which coordinate-wise medians are worst
            side = torch.where(torch.arange(h) % 2 == 0, 1.0, -1.0).to(torch.float64)[None, :, None]
            honest = side + 0.05 * s.fold("honest", int(f)).normal((h, d))
            searched, _ = worst_case_kappa(agg, honest, n_byz=int(f), generator=s.fold("search", int(f)))
            # the sup over inputs is at least the best of the search and the lower-bound construction
            ys.append(np.maximum(searched.numpy(), indistinguishable_kappa(agg, m, int(f), d)))
        worst[agg] = np.stack(ys, axis=1)
        series.append(Series(agg, delta, worst[agg]))
    detail = (f"kappa = max(attack search on two-cluster honest inputs, the indistinguishable construction), "
              f"m = {m}, d = {d}: a lower estimate of the sup over inputs.")
    chk_med = exponent_check(delta, worst["cwmed"], 0.0, tol=0.15, claim="CWMed: worst-case kappa is Theta(1)",
                             statistic="exponent in delta", source="[AFG+23]; [digest §7.2 item 4]", detail=detail)
    # between the lower bound f/(m - 2f) and the CTMA bound 8q(1 + q kappa_A), both linear at small delta.
    # The fit is one least-squares slope over the grid, so the prediction is the bound's own slope over
    # the same grid, not the mean of its local exponents (1 + 2f/(m - 2f) grows fast as f -> m/2)
    lower_vals = np.asarray(lower({"f": fs, "m": m}), dtype=np.float64)
    predicted = float(np.polyfit(np.log(delta), np.log(lower_vals), 1)[0])
    chk_ctma = exponent_check(delta, worst["ctma(cwmed)"], predicted, tol=0.2,
                              claim="CTMA(CWMed): worst-case kappa is Theta(delta)", statistic="exponent in delta",
                              source="[DL24a]; [digest §4.2, D]; [AFG+23]",
                              detail=detail + " Predicted: the slope of f/(m - 2f) over the grid.")
    series[0].fit, series[1].fit = chk_med.fit, chk_ctma.fit
    rules = ("cwmed", "cwtm", "krum", "geometric_median", "ctma(cwmed)")
    ratios = np.array([[indistinguishable_kappa(r, m, int(f)) for f in fs] for r in rules])
    # the construction attains the bound exactly, so only rounding may separate them
    chk_low = check_bound(ratios, lower, {"f": fs, "m": m}, instancewise=True, param="f", tol=1e-9,
                          claim="every rule's kappa >= f/(m - 2f) on the indistinguishable instances")
    series.append(Series("lower bound f/(m-2f)", delta, lower_vals[None]))
    return [chk_med, chk_ctma, chk_low], Figure("Byzantine fraction delta = f/m", "worst-case kappa found", series)


# -- asynchronous training ------------------------------------------------------------------------


@claim("count_weights",
       "With skewed arrivals, weighting each worker by its number of updates lowers the variance of the "
       "aggregate by the factor (1/n^2) sum_i 1/p_i >= 1 relative to uniform weights.",
       "[DL24b]; [digest §5.2, §7.4 item 5, D]", "async")
def _count_weights(ctx):
    n, T, d = 8, ctx.size(3000, 12000), 64
    seeds = ctx.seeds(64)
    base = experiment(ctx, objective={"name": "quadratic", "d": d, "seed": 3}, noise={"name": "gaussian", "sigma": 1.0},
                      m=n, T=T, seeds=seeds, algorithm={"name": "mu2sgd", "eta": 1e-12},
                      arrivals={"name": "speeds", "speeds": "id"})
    counts, tr_c = run_final(ctx, base, "estimator_error")
    uniform, tr_u = run_final(ctx, base.replace(weights="uniform"), "estimator_error")
    p = profile("id", n).numpy()
    bound = BOUNDS["count_weight_variance_ratio"]
    chk = ratio_check(uniform, counts, float(bound({"p": p})), tol=0.1, claim="Var_uniform / Var_counts",
                      statistic="ratio of mean errors at T", source=bound.source,
                      detail=f"n = {n} workers arriving with p_i ∝ i, T = {T}, no staleness (the point is held "
                             f"fixed: eta = 1e-12), {len(seeds)} seeds; the asymptotic prediction holds up to "
                             f"finite-count terms of order 1/(p_min T).")
    keep = tr_c.steps >= 10 * n
    fig = Figure("step t", "E||d_hat_t - grad f(x_t)||^2", [
        Series("uniform weights", tr_u.steps[keep], tr_u["estimator_error"][:, keep]),
        Series("count weights", tr_c.steps[keep], tr_c["estimator_error"][:, keep])])
    return [chk], fig


@claim("byzantine_async_rate",
       "Asynchronous mu^2-SGD with count-weighted CTMA(CWMed), under ALIE and skewed arrivals, converges at "
       "least as fast as the optimal O(sigma_tilde D/sqrt(T)) rate, with the delay term in the fast 1/T part.",
       "[DL24b, main theorem, R]; [digest §5.5, §3.8]", "async")
def _async_rate(ctx):
    Ts = _T_grid(ctx)
    y = sweep(ctx, Ts, lambda T: experiment(ctx, objective=QUAD, noise={"name": "gaussian", "sigma": 1.0}, m=9,
                                            f=2, attack="alie", aggregator="ctma(cwmed)", T=int(T),
                                            seeds=ctx.seeds(16), algorithm={"name": "mu2sgd", "eta": 1 / (4 * T)},
                                            arrivals={"name": "speeds", "speeds": "id", "lam": 0.2}, log=[int(T)]),
              "excess")
    vals = {"L": 1.0, "D": 1.0, "sigma": 1.0, "sigma_L": 0.0, "lam": 0.2, "tau_bar": 8.0, "T": 1e9}
    chk = exponent_check(Ts, y, _predicted("byzantine_async", "T", vals), tol=0.1, relation="<=",
                         claim="asynchronous excess at least as fast as T^-1/2", statistic="exponent in T",
                         source=BOUNDS["byzantine_async"].source,
                         detail="7 honest workers arriving with p_i ∝ i, 2 Byzantine arriving in 20% of the "
                                "steps, count weights.")
    return [chk], Figure("horizon T (steps)", "f(x_T) - f*", [Series("async mu^2-SGD + w-CTMA(CWMed)", Ts, y,
                                                                     chk.fit)])


# -- heterogeneity --------------------------------------------------------------------------------


@claim("heterogeneity_floor",
       "With heterogeneous workers (dissimilarity zeta), robust aggregation under attack leaves an error floor "
       "that does not vanish with t and grows like kappa zeta^2.",
       "[KHJ22]; [digest §4.4 extended]", "heterogeneity")
def _heterogeneity(ctx):
    zetas = np.array(ctx.size((0.25, 0.5, 1.0, 2.0, 4.0), (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)))
    T = ctx.size(400, 1600)
    floors, last = [], None
    for z in zetas:
        _, tr = run_final(ctx, experiment(ctx, objective=QUAD, noise={"name": "gaussian", "sigma": 0.5},
                                          heterogeneity={"name": "shift", "zeta": float(z)}, m=17, f=4,
                                          attack="alie", aggregator="ctma(cwmed)", T=T, seeds=ctx.seeds(8),
                                          algorithm={"name": "mu2sgd", "eta": 1 / (4 * T)}), "aggregation_error")
        floors.append(tr.final("aggregation_error"))
        last = tr
    y = np.stack(floors, axis=1)
    chk_z = exponent_check(zetas, y, _predicted("heterogeneity_floor", "zeta", {"kappa": 1.0, "sigma_tilde": 0.0,
                                                                                  "t": 1e9, "m": 17}, term=0),
                           tol=0.15, claim="floor ~ zeta^2", statistic="exponent in zeta",
                           source=BOUNDS["heterogeneity_floor"].source,
                           detail=f"||d_hat - dbar_G||^2 at t = {T}, m = 17, f = 4, ALIE, CTMA(CWMed).")
    t, yt = last.steps, last["aggregation_error"]
    chk_t = exponent_check(t, yt, 0.0, tol=0.1, mask=t >= T // 10, claim="the floor does not vanish",
                           statistic="exponent in t", source=BOUNDS["heterogeneity_floor"].source,
                           detail=f"At zeta = {zetas[-1]:g}, for t >= {T // 10}.")
    return [chk_z, chk_t], Figure("heterogeneity zeta", f"||d_hat_t - dbar_G||^2 at t = {T}",
                                  [Series("CTMA(CWMed) under ALIE", zetas, y, chk_z.fit)])


# -- nonconvex ------------------------------------------------------------------------------------


@claim("nonconvex_rates",
       "On a smooth nonconvex problem, STORM with eta ~ T^-1/3 and beta ~ T^-2/3 reaches E||grad f|| = "
       "O(T^-1/3), better than SGD's worst-case O(T^-1/4).",
       "[CO19]; [GL13]", "nonconvex")
def _nonconvex(ctx):
    Ts = _T_grid(ctx, quick=(100, 200, 400, 800, 1600, 3200))
    obj = {"name": "robust_regression", "n": 400, "d": 10, "seed": 1}
    checks, series = [], []
    for alg, name, algo in (
            ("storm", "storm_nonconvex", lambda T: {"name": "storm", "eta": 0.5 * T ** (-1 / 3),
                                                    "beta": min(1.0, 2 * T ** (-2 / 3))}),
            ("sgd", "sgd_nonconvex", lambda T: {"name": "sgd", "eta": 0.5 * T ** (-1 / 2)})):
        y = np.sqrt(sweep(ctx, Ts, lambda T: experiment(ctx, objective=obj, noise={"name": "minibatch", "b": 1},
                                                        m=1, T=int(T), seeds=ctx.seeds(16), algorithm=algo(T),
                                                        log=[int(T)]), "grad_norm_sq"))
        vals = {"L": 1.0, "Delta": 1.0, "sigma": 1.0, "T": 1e12}
        chk = exponent_check(Ts, y, _predicted(name, "T", vals), tol=0.1, relation="<=",
                             claim=f"{alg}: ||grad f(x_T)|| rate", statistic="exponent in T",
                             source=BOUNDS[name].source,
                             detail="Robust regression with the Cauchy loss, mini-batches of 1; the last iterate.")
        checks.append(chk)
        series.append(Series(alg, Ts, y, chk.fit))
    return checks, Figure("horizon T (steps)", "||grad f(x_T)||", series)

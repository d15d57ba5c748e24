"""Claims on mu^2-SGD's estimator and rates, synchronous Byzantine training, heterogeneity and nonconvex rates."""

from __future__ import annotations

import numpy as np

from ..rates import BOUNDS, check_bound, check_rate
from .core import Figure, Series, claim, experiment, predicted_slope, run, sweep

# Problems shared by the claims: a convex quadratic on a ball (so D is the diameter and the
# drift bound of AnyTime holds) with Gaussian noise whose smoothness variance is exact.
BALL_QUAD = {"name": "quadratic", "d": 20, "L": 1.0, "mu": 0.0, "radius": 1.0, "seed": 2}
QUAD = {"name": "quadratic", "d": 20, "L": 1.0, "mu": 0.0, "seed": 2}
NOISE = {"name": "gaussian", "sigma": 1.0, "sigma_L": 0.5}
PLAIN = {"name": "gaussian", "sigma": 1.0}
_BAND = ("Markers: the seed mean; band: the 10-90% range over seeds; thick line: the fitted power law "
         "(its slope and 95% interval in the legend); dashed: the bound.")


def T_grid(ctx, quick=(100, 200, 400, 800, 1600), full=(100, 200, 400, 800, 1600, 3200, 6400, 12800)):
    return np.array(ctx.size(quick, full))


def rate(x, y, bound, param, values, *, tol, claim, detail="", mask=None, **kw):
    """The claims' exponent check: every grid point fitted, predicted by the bound's own slope
    over them, the relation the bound's (:func:`sco.rates.check_rate` with ``share=None``)."""
    return check_rate(x, y, bound=BOUNDS[bound], param=param, values=values, tol=tol, share=None, mask=mask,
                      n_boot=1000, claim=claim, detail=detail, **kw)


# -- mu^2-SGD: the estimator and the rates -----------------------------------------------------


@claim("mu2sgd_estimator_error",
       "With beta_t = 1/t the STORM estimate of mu^2-SGD has error E||d_t - grad f(x_t)||^2 <= "
       "(2 sigma^2 + 8 D^2 sigma_L^2)/t along AnyTime iterates: it decays like 1/t.",
       family="mu2sgd", bounds=("mu2sgd_estimator_error", "lev23_restated"), seconds=1, uses=("algorithm",),
       covers=("estimator:storm", "server:anytime", "algorithm:mu2sgd", "noise:gaussian"))
def _mu2sgd_estimator_error(ctx):
    T = ctx.size(1000, 4000)
    tr = run(ctx, experiment(ctx, objective=BALL_QUAD, noise=NOISE, m=1, T=T, seeds=ctx.seeds(32),
                             algorithm={"name": ctx.algorithm, "eta": 1 / (4 * T)}))
    t, y, c = tr.steps, tr["estimator_error"], tr.constants
    values = {"sigma": c["sigma"], "sigma_L": c["sigma_L"], "D": c["D"], "t": t}
    bound = BOUNDS["mu2sgd_estimator_error"]
    chk_bound = check_bound(y, bound, values, param="t", claim="E||error_t||^2 <= (2 sigma^2 + 8 D^2 sigma_L^2)/t")
    chk_rate = rate(t, y, "lev23_restated", "t", values, tol=0.1, mask=t >= 10,
                    claim="E||error_t||^2 = O(sigma_tilde^2/t)", detail="Fitted for t >= 10.")
    fig = Figure("step t", "E||d_t - grad f(x_t)||^2",
                 [Series("mu^2-SGD", t, y, chk_rate.fit, bound(values), "(2 sigma^2 + 8 D^2 sigma_L^2)/t")],
                 caption=_BAND)
    return [chk_bound, chk_rate], fig


@claim("mu2sgd_noiseless_rate",
       "Noiseless AnyTime-GD with eta = 1/(4 L T) has f(x_T) - f* <= 4 L D^2 / T, the worst case over L-smooth "
       "convex functions computed by PEP; benign instances are faster.",
       family="mu2sgd", bounds=("anytime_noiseless_pep",), seconds=4,
       covers=("noise:exact", "server:anytime", "algorithm:mu2sgd"))
def _noiseless(ctx):
    Ts = T_grid(ctx)
    series, checks = [], []
    for obj in (QUAD, {"name": "logistic", "n": 200, "d": 10, "l2": 1e-3, "seed": 1}):
        # exact gradients: the runs are deterministic, one seed is the whole distribution
        trs = [run(ctx, experiment(ctx, objective=obj, m=1, T=int(T), seeds=ctx.seeds(1)[:1],
                                   algorithm={"name": "mu2sgd", "eta": 1 / (4 * T)}, log=[int(T)])) for T in Ts]
        y = np.stack([tr.final("excess") for tr in trs], axis=1)
        c = trs[0].constants
        values = {"L": c["L"], "D": c["D"], "T": Ts}
        bound = BOUNDS["anytime_noiseless_pep"]
        checks.append(check_bound(y, bound, values, instancewise=True, param="T",
                                  claim=f"{obj['name']}: f(x_T) - f* <= 4 L D^2 / T"))
        chk = rate(Ts, y, "anytime_noiseless_pep", "T", values, tol=0.1, deterministic=True,
                   claim=f"{obj['name']}: rate at least 1/T")
        checks.append(chk)
        series.append(Series(obj["name"], Ts, y, chk.fit, bound(values), "4 L D^2 / T"))
    return checks, Figure("horizon T (steps)", "f(x_T) - f*", series,
                          caption="Deterministic runs (exact gradients); dashed: the PEP worst case 4 L D^2/T.")


@claim("mu2sgd_noisy_rate",
       "With noise, mu^2-SGD with eta = 1/(4 L T) converges at least as fast as DL24b Theorem 4.2's "
       "O((G* D + L D^2 mu_max)/T + D sigma_tilde/sqrt(T)) with one worker and no Byzantine update.",
       family="mu2sgd", bounds=("dl24b_thm42",), seconds=3, covers=("algorithm:mu2sgd", "noise:gaussian"),
       uses=("algorithm",))
def _noisy(ctx):
    Ts = T_grid(ctx)
    y = sweep(ctx, Ts, lambda T: experiment(ctx, objective=QUAD, noise=PLAIN, m=1, T=int(T), seeds=ctx.seeds(16),
                                            algorithm={"name": ctx.algorithm, "eta": 1 / (4 * T)}, log=[int(T)]),
              "excess")
    # one worker arriving every step: delay 1 (DL24b's convention), K = 1, c_lam = 0
    vals = {"G_star": 0.0, "L": 1.0, "D": 1.0, "sigma": 1.0, "sigma_L": 0.0, "K": 1.0, "m": 1, "c_lam": 0.0,
            "mu_max": 1.0}
    chk = rate(Ts, y, "dl24b_thm42", "T", vals, tol=0.1, claim="excess at least as fast as Thm. 4.2 in T",
               detail="One worker, synchronous (mu_max = 1, K = 1, c_lam = 0).")
    return [chk], Figure("horizon T (steps)", "f(x_T) - f*", [Series("mu^2-SGD, sigma = 1", Ts, y, chk.fit, **predicted_slope(chk))],
                         caption=_BAND)


# -- synchronous Byzantine training ------------------------------------------------------------------


@claim("honest_average_scaling",
       "Averaging m honest workers' mu^2-SGD estimates divides the estimator error by m: "
       "E||dbar_t - grad f(x_t)||^2 <= sigma_tilde^2 / (m t).",
       family="sync", bounds=("mu2sgd_estimator_error_mean",), seconds=2, covers=("aggregator:mean",),
       uses=("algorithm",))
def _honest_average(ctx):
    ms = np.array(ctx.size((1, 2, 4, 8, 16, 32), (1, 2, 4, 8, 16, 32, 64, 128)))
    T = 200
    trs = [run(ctx, experiment(ctx, objective=BALL_QUAD, noise=NOISE, m=int(m), T=T, seeds=ctx.seeds(32),
                               algorithm={"name": ctx.algorithm, "eta": 1 / (4 * T)}, log=[T])) for m in ms]
    y = np.stack([tr.final("estimator_error") for tr in trs], axis=1)
    c = trs[0].constants
    vals = {"sigma": c["sigma"], "sigma_L": c["sigma_L"], "D": c["D"], "t": float(T), "m": ms}
    bound = BOUNDS["mu2sgd_estimator_error_mean"]
    chk_b = check_bound(y, bound, vals, param="m", claim=f"E||dbar - grad f||^2 <= sigma_tilde^2/(m t) at t = {T}")
    chk = rate(ms, y, "mu2sgd_estimator_error_mean", "m", vals, tol=0.1, claim="E||dbar - grad f||^2 ~ 1/m at fixed t",
               detail=f"At t = {T}, mean aggregation, no attack.")
    return [chk_b, chk], Figure("honest workers m", f"E||dbar_t - grad f(x_t)||^2 at t = {T}",
                                [Series("mu^2-SGD, mean of m workers", ms, y, chk.fit, bound(vals),
                                        "sigma_tilde^2/(m t)")], caption=_BAND)


@claim("momentum_under_attack",
       "Under the 'a little is enough' attack, the aggregated mu^2-SGD estimate keeps its O(1/t) error "
       "(2(kappa + 1/|G|) sigma_tilde^2 / t): double momentum makes the honest spread shrink, so the Byzantine "
       "rows can hide in less and less (AnyTime-SGD, drawn for contrast, stays at a floor).",
       family="sync", bounds=("mu2sgd_estimator_error_aggregated",), seconds=6, uses=("aggregator", "algorithm"),
       covers=("attack:alie", "meta:ctma", "aggregator:cwmed", "algorithm:anytime_sgd"))
def _momentum_under_attack(ctx):
    T = ctx.size(1000, 4000)
    series, checks = [], []
    for alg in (ctx.algorithm, "anytime_sgd"):
        tr = run(ctx, experiment(ctx, objective=BALL_QUAD, noise=NOISE, m=17, f=4, attack="alie",
                                 aggregator=ctx.aggregator, T=T, seeds=ctx.seeds(16),
                                 algorithm={"name": alg, "eta": 1 / (4 * T)}))
        t, y = tr.steps, tr["estimator_error"]
        fit = None
        if alg == ctx.algorithm:
            vals = {"kappa": 1.0, "delta": 4 / 17, "m": 17, "sigma": 1.0, "sigma_L": 0.5, "D": 2.0, "t": t}
            chk = rate(t, y, "mu2sgd_estimator_error_aggregated", "t", vals, tol=0.15, mask=t >= 20,
                       claim="mu2sgd: aggregated error at least as fast as 1/t under ALIE",
                       detail="m = 17, f = 4, ALIE, CTMA(CWMed); fitted for t >= 20.")
            checks.append(chk)
            fit = chk.fit
        series.append(Series(alg, t, y, fit))
    return checks, Figure("step t", "E||d_hat_t - grad f(x_t)||^2", series, caption=_BAND)


@claim("byzantine_sync_rate",
       "Synchronous mu^2-SGD with CTMA(CWMed) under attack converges at least as fast as DL24a's rate, as "
       "DL24b Remark 4.5 restates it: O(L D^2 m/T + D sigma_tilde sqrt(1 + m c_lam)/sqrt(T)).",
       family="sync", bounds=("dl24a_remark45",), seconds=6, covers=("meta:ctma", "attack:alie"),
       uses=("aggregator", "algorithm"))
def _byzantine_rate(ctx):
    Ts = T_grid(ctx)
    y = sweep(ctx, Ts, lambda T: experiment(ctx, objective=QUAD, noise=PLAIN, m=17, f=4, attack="alie",
                                            aggregator=ctx.aggregator, T=int(T), seeds=ctx.seeds(8),
                                            algorithm={"name": ctx.algorithm, "eta": 1 / (4 * T)}, log=[int(T)]),
              "excess")
    c_lam = ctx.c_lam(lam=4 / 17)
    # DL24b's T counts samples: m per synchronous step
    vals = {"L": 1.0, "D": 1.0, "sigma": 1.0, "sigma_L": 0.0, "K": 1.0, "m": 17, "c_lam": c_lam}
    chk = rate(17 * Ts, y, "dl24a_remark45", "T", vals, tol=0.1, claim="excess under ALIE at least as fast as T^-1/2",
               detail=f"m = 17, f = 4, ALIE, CTMA(CWMed) with DL24b's printed c_lam = {c_lam:.3g}; DL24b's T = m "
                      f"times sco's steps.")
    return [chk], Figure("horizon T (steps)", "f(x_T) - f*", [Series("mu^2-SGD + CTMA(CWMed), ALIE", Ts, y,
                                                                     chk.fit, **predicted_slope(chk))], caption=_BAND)


@claim("dimension_free",
       "At a fixed noise level E||xi||^2 = sigma^2, the error the Byzantine workers induce does not grow with "
       "the dimension d (DL24b Remark 4.4; CTMA over CWMed under ALIE).",
       family="sync", bounds=("dl24b_thm42",), seconds=3, covers=("meta:ctma",), uses=("aggregator",))
def _dimension_free(ctx):
    ds = np.array(ctx.size((10, 30, 100, 300, 1000), (10, 30, 100, 300, 1000, 3000)))
    T = 100
    y = sweep(ctx, ds, lambda d: experiment(ctx, objective={"name": "quadratic", "d": int(d), "rotate": False,
                                                            "seed": 2},
                                            noise=PLAIN, m=17, f=4, attack="alie", aggregator=ctx.aggregator, T=T,
                                            seeds=ctx.seeds(16), algorithm={"name": "mu2sgd", "eta": 1 / (4 * T)},
                                            log=[T]), "aggregation_error")
    vals = {"G_star": 0.0, "L": 1.0, "D": 1.0, "sigma": 1.0, "sigma_L": 0.0, "K": 1.0, "m": 17, "c_lam": 1.0,
            "mu_max": 1.0, "T": float(T)}
    chk = rate(ds, y, "dl24b_thm42", "d", vals, tol=0.15, claim="aggregation error does not grow with d",
               detail=f"||d_hat - dbar_G||^2 at t = {T}, m = 17, f = 4; Thm. 4.2 does not depend on d.")
    return [chk], Figure("dimension d", f"||d_hat_t - dbar_G||^2 at t = {T}",
                         [Series("CTMA(CWMed) under ALIE", ds, y, chk.fit, **predicted_slope(chk))], caption=_BAND)


# -- heterogeneity and nonconvex problems ------------------------------------------------------------


@claim("heterogeneity_floor",
       "With heterogeneous workers (dissimilarity zeta), robust aggregation under attack leaves an error floor "
       "that does not vanish with t and grows like kappa zeta^2.",
       family="heterogeneity", bounds=("heterogeneity_floor", "heterogeneity_floor_lower"), seconds=5,
       covers=("heterogeneity:shift",), uses=("aggregator",))
def _heterogeneity(ctx):
    zetas = np.array(ctx.size((0.25, 0.5, 1.0, 2.0, 4.0), (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)))
    T = ctx.size(400, 1600)
    trs = [run(ctx, experiment(ctx, objective=QUAD, noise={"name": "gaussian", "sigma": 0.5},
                               heterogeneity={"name": "shift", "zeta": float(z)}, m=17, f=4, attack="alie",
                               aggregator=ctx.aggregator, T=T, seeds=ctx.seeds(8),
                               algorithm={"name": "mu2sgd", "eta": 1 / (4 * T)})) for z in zetas]
    y = np.stack([tr.final("aggregation_error") for tr in trs], axis=1)
    # the floor term alone: at t -> infinity the other terms vanish
    vals = {"kappa": 1.0, "sigma": 0.0, "sigma_L": 0.0, "D": 1.0, "t": 1e9, "m": 17}
    chk_z = rate(zetas, y, "heterogeneity_floor", "zeta", vals, tol=0.15, claim="floor ~ zeta^2",
                 detail=f"||d_hat - dbar_G||^2 at t = {T}, m = 17, f = 4, ALIE, CTMA(CWMed).")
    t, yt = trs[-1].steps, trs[-1]["aggregation_error"]
    chk_t = rate(t, yt, "heterogeneity_floor_lower", "t", {"delta": 4 / 17, "zeta": float(zetas[-1])}, tol=0.1,
                 mask=t >= T // 10, claim="the floor does not vanish",
                 detail=f"At zeta = {zetas[-1]:g}, for t >= {T // 10}: the error must not decay.")
    return [chk_z, chk_t], Figure("heterogeneity zeta", f"||d_hat_t - dbar_G||^2 at t = {T}",
                                  [Series("CTMA(CWMed) under ALIE", zetas, y, chk_z.fit, **predicted_slope(chk_z))], caption=_BAND)


@claim("nonconvex_rates",
       "On a smooth nonconvex problem, STORM with eta ~ T^-1/3 and beta ~ T^-2/3 reaches E||grad f|| = "
       "O(T^-1/3), better than SGD's worst-case O(T^-1/4).",
       family="nonconvex", bounds=("storm_nonconvex", "sgd_nonconvex"), seconds=13,
       covers=("algorithm:storm", "algorithm:sgd", "estimator:sgd", "server:projected_sgd", "noise:minibatch"))
def _nonconvex(ctx):
    Ts = T_grid(ctx, quick=(100, 200, 400, 800, 1600, 3200))
    obj = {"name": "robust_regression", "n": 400, "d": 10, "seed": 1}
    checks, series = [], []
    for alg, name, algo in (
            ("storm", "storm_nonconvex", lambda T: {"name": "storm", "eta": 0.5 * T ** (-1 / 3),
                                                    "beta": min(1.0, 2 * T ** (-2 / 3))}),
            ("sgd", "sgd_nonconvex", lambda T: {"name": "sgd", "eta": 0.5 * T ** (-1 / 2)})):
        y = np.sqrt(sweep(ctx, Ts, lambda T: experiment(ctx, objective=obj, noise={"name": "minibatch", "b": 1},
                                                        m=1, T=int(T), seeds=ctx.seeds(16), algorithm=algo(T),
                                                        log=[int(T)]), "grad_norm_sq"))
        vals = {"L": 1.0, "Delta": 1.0, "sigma": 1.0}
        chk = rate(Ts, y, name, "T", vals, tol=0.1, claim=f"{alg}: ||grad f(x_T)|| rate",
                   detail="Robust regression with the Cauchy loss, mini-batches of 1; the last iterate.")
        checks.append(chk)
        series.append(Series(alg, Ts, y, chk.fit, **predicted_slope(chk)))
    return checks, Figure("horizon T (steps)", "||grad f(x_T)||", series, caption=_BAND)

"""The planted bugs in the machinery: the simulator, arrivals, noise, heterogeneity, statistics and theory."""

from __future__ import annotations

from unittest import mock

import torch

from . import mutant


# -- the simulator and the arrivals --------------------------------------------------------------


@mutant("messages_never_stale", "simulator", "Every honest worker recomputes at the new iterate each step: "
        "asynchronous messages carry no delay.", ["moments_exact"])
def _no_delay():
    from ...simulate import _Simulation
    advance = _Simulation._advance

    def planted(self, oracle, group, who, x_next):
        if group != "honest":
            return advance(self, oracle, group, who, x_next)
        for j in range(self.p.h):
            advance(self, oracle, group, torch.full_like(who, j), x_next)
    with mock.patch.object(_Simulation, "_advance", planted):
        yield


@mutant("previous_point_never_updated", "simulator", "A worker's previous query point stays x_1: STORM's "
        "correction is taken at the wrong point.", ["moments_exact", "dl24b_thm41"])
def _frozen():
    from ...simulate import _Simulation
    advance = _Simulation._advance

    def planted(self, oracle, group, who, x_next):
        prev = self.prev_point if group == "honest" else self.byz_prev
        kept = prev.clone()
        advance(self, oracle, group, who, x_next)
        prev.copy_(kept)
    with mock.patch.object(_Simulation, "_advance", planted):
        yield


@mutant("counts_never_incremented", "simulator", "The count weights stay at the warm-up's 1.",
        ["moments_exact", "count_weights"])
def _counts():
    from ...simulate import _Simulation
    weights = _Simulation._weights
    with mock.patch.object(_Simulation, "_weights", lambda self, counts, given: weights(
            self, torch.ones_like(counts), given)):
        yield


@mutant("uniform_instead_of_count_weights", "simulator", "The server forgets the counts and aggregates uniformly.",
        ["count_weights"])
def _uniform():
    from ...simulate import _Simulation
    aggregate = _Simulation._aggregate
    with mock.patch.object(_Simulation, "_aggregate", lambda self, table, weights, t: aggregate(self, table, None, t)):
        yield


@mutant("workers_share_one_sample", "simulator", "Every worker draws worker 0's sample.",
        ["moments_exact", "honest_average_scaling"])
def _share():
    from ... import oracle
    draw = oracle.Oracle._draw

    def same(self, stream, workers, dtype):
        w = torch.zeros(len(stream), self.k(workers), dtype=torch.int64, device=stream.device)
        return oracle.Sample(workers, draw(self, stream, w, dtype).drawn)
    with mock.patch.object(oracle.Oracle, "_draw", same):
        yield


@mutant("speeds_ignore_the_profile", "arrivals", "iid arrivals are uniform whatever the speeds.",
        ["arrival_statistics"])
def _profile():
    from ... import arrivals
    profile = arrivals.profile
    with mock.patch.object(arrivals, "profile", lambda spec, n, owner="arrivals": profile("uniform", n, owner)):
        yield


@mutant("byzantine_arrive_too_often", "arrivals", "Byzantine workers arrive with probability 1.5 lam.",
        ["arrival_statistics"])
def _byz_rate():
    from ...arrivals import Speeds
    generate = Speeds.generate

    def wrong(self, stream, T, h, f):
        lam = self.lam
        self.lam = min(0.99, 1.5 * lam)
        try:
            return generate(self, stream, T, h, f)
        finally:
            self.lam = lam
    with mock.patch.object(Speeds, "generate", wrong):
        yield


@mutant("compute_times_not_deterministic", "arrivals", "Deterministic compute times are drawn exponential.",
        ["arrival_statistics"])
def _compute():
    from ...arrivals import ComputeTimes
    draw = ComputeTimes._draw

    def wrong(self, stream, shape):
        if self.dist == "deterministic":
            return stream.exponential(shape)
        return draw(self, stream, shape)
    with mock.patch.object(ComputeTimes, "_draw", wrong):
        yield


# -- noise and heterogeneity ----------------------------------------------------------------------


@mutant("noise_not_normalized", "noise", "Per-coordinate noise sigma instead of sigma/sqrt(d).",
        ["problem_calibration", "moments_exact"])
def _unnormalized():
    from ... import noise
    grad = noise.Additive.grad

    def bad(self, oracle, x, drawn, workers):
        z1, z2 = drawn
        return grad(self, oracle, x, (z1 * oracle.d ** 0.5, z2), workers)
    with mock.patch.object(noise.Additive, "grad", bad):
        yield


@mutant("smoothness_noise_dropped", "noise", "The sigma_L part of additive noise is never added.",
        ["problem_calibration"])
def _no_sigma_L():
    from ... import noise
    grad = noise.Additive.grad
    with mock.patch.object(noise.Additive, "grad", lambda self, oracle, x, drawn, workers: grad(
            self, oracle, x, (drawn[0], None), workers)):
        yield


@mutant("heterogeneity_not_applied", "heterogeneity", "The workers' shifts b_i are dropped.",
        ["problem_calibration", "moments_exact"])
def _no_shift():
    from ...oracle import Oracle
    with mock.patch.object(Oracle, "add_shift", lambda self, g, workers: g):
        yield


@mutant("partition_workers_see_all_data", "heterogeneity", "Every worker of a data partition samples the whole "
        "data set.", ["problem_calibration"])
def _partition():
    from ...oracle import Oracle
    worker_grad = Oracle.worker_grad

    def wrong(self, x, workers=None):
        P = self._P
        self._P = None
        try:
            return worker_grad(self, x, workers)
        finally:
            self._P = P
    with mock.patch.object(Oracle, "worker_grad", wrong):
        yield


# -- statistics and theory --------------------------------------------------------------------------


@mutant("equality_check_always_true", "statistics", "The '==' exponent relation is rewritten with 'or' (always "
        "true).", ["verdict_power"])
def _eq_or():
    from ...rates import fit
    with mock.patch.object(fit.PowerLawFit, "contains", lambda self, exponent, tol=0.0: True):
        yield


@mutant("bound_check_too_lenient", "statistics", "check_bound lets the seed mean exceed the bound by 100%.",
        ["verdict_power"])
def _bound_lenient():
    from ...rates import checks
    check = checks.check_bound
    with mock.patch.object(checks, "check_bound", lambda y, bound, values=None, *, tol=0.0, **kw: check(
            y, bound, values, tol=tol + 1.0, **kw)):
        with mock.patch("sco.verify.claims_stats.check_bound", checks.check_bound):
            yield


@mutant("bootstrap_resamples_one_seed", "statistics", "The bootstrap resamples the first seed only.",
        ["verdict_power"])
def _one_seed():
    from ...rates import bootstrap
    boot = bootstrap._bootstrap

    def wrong(Z, stat, *, n_boot, seed, label):
        est, b, jack = boot(Z, stat, n_boot=n_boot, seed=seed, label=label)
        return est, np_repeat(stat(bootstrap._averages(Z, [[0] * len(Z)])), n_boot), jack
    with mock.patch.object(bootstrap, "_bootstrap", wrong):
        yield


def np_repeat(row, n):
    import numpy as np
    return np.repeat(row, n, axis=0)


@mutant("printed_median_constant_mistyped", "theory", "DL24b Lemma C.3's c_lam transcribed as (lam/(1 - 2 lam))^2.",
        ["robustness_constants"])
def _mistyped():
    from ...rates import BOUNDS, theorems
    b = BOUNDS["dl24b_lemma_c3"]
    import dataclasses
    wrong = dataclasses.replace(b, expr="(lam/(1 - 2*lam))**2", terms=())
    with mock.patch.dict(theorems.BOUNDS, {"dl24b_lemma_c3": wrong}):
        yield

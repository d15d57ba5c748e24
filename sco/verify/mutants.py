"""Our own mutation suite: realistic bugs planted one at a time; ``sco verify``'s default suite must fail on each.

``python -m sco.verify.mutants`` plants every mutant and runs the whole default suite (quick sizes)
under it, printing which claims caught it; ``--fast`` runs only each mutant's listed claims (what the
tests run). A mutant is caught when some claim does not pass (fails, or is inconclusive).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
import time
from dataclasses import dataclass
from typing import Callable
from unittest import mock

import torch


@dataclass(frozen=True)
class Mutant:
    """A planted bug: ``plant()`` is a context manager that installs it; ``catches`` the claims
    expected to catch it (the fast subset); ``area`` what part of sco it breaks."""

    name: str
    area: str
    description: str
    plant: Callable
    catches: tuple


MUTANTS: dict[str, Mutant] = {}


def mutant(name, area, description, catches):
    def deco(fn):
        MUTANTS[name] = Mutant(name, area, description, contextlib.contextmanager(fn), tuple(catches))
        return fn
    return deco


def _patch_rule(name, fn):
    from ..aggregators import AGGREGATORS
    return mock.patch.dict(AGGREGATORS, {name: fn})


# -- aggregators -------------------------------------------------------------------------------


@mutant("krum_picks_the_highest_score", "aggregators", "Krum (and Multi-Krum) rank rows by the largest score.",
        ["aggregator_definitions"])
def _krum_max():
    from ..aggregators import distance
    keys = distance._krum_keys

    def wrong(*a, **k):
        ks, *rest = keys(*a, **k)
        return (torch.where(torch.isfinite(ks), -ks, ks), *rest)
    with mock.patch.object(distance, "_krum_keys", wrong):
        yield


@mutant("geometric_median_one_step", "aggregators", "The geometric median returns after one Weiszfeld step.",
        ["aggregator_definitions"])
def _gm_one_step():
    from ..aggregators import geometric_median
    with _patch_rule("geometric_median", functools.partial(geometric_median, max_iter=1)):
        yield


@mutant("weighted_median_ignores_weights", "aggregators", "The weighted coordinate-wise median drops its weights.",
        ["aggregator_definitions", "robustness_constants"])
def _cwmed_no_weights():
    from ..aggregators import cwmed

    def wrong(x, weights=None, *, mode="interpolate"):
        return cwmed(x, None, mode=mode)
    with _patch_rule("cwmed", wrong):
        yield


@mutant("trimmed_mean_trims_one_side", "aggregators", "CWTM drops the lam share of the smallest values only.",
        ["aggregator_definitions"])
def _cwtm_one_side():
    def wrong(x, weights=None, *, lam):
        m = x.shape[-2]
        f = round(lam * m)
        return x.sort(-2).values[..., f:, :].mean(-2)
    with _patch_rule("cwtm", wrong):
        yield


@mutant("ctma_keeps_the_farthest_rows", "aggregators", "CTMA trims the rows nearest to the anchor instead.",
        ["aggregator_definitions", "ctma_robustness"])
def _ctma_far():
    from ..aggregators import meta
    dist = meta.dist_to
    with mock.patch.object(meta, "dist_to", lambda x, z: -dist(x, z)):
        yield


@mutant("weighted_mean_divides_by_m", "aggregators", "The weighted mean divides by the number of rows, not the "
        "total weight.", ["aggregator_definitions", "moments_exact"])
def _mean_by_m():
    def wrong(x, weights=None):
        if weights is None:
            return x.mean(-2)
        return (weights.to(x.dtype)[..., None] * x).sum(-2) / x.shape[-2]
    with _patch_rule("mean", wrong):
        yield


@mutant("median_lower_by_default", "aggregators", "CWMed takes the lower value at an exact half of the weight.",
        ["aggregator_definitions"])
def _median_lower():
    from ..aggregators import cwmed
    with _patch_rule("cwmed", functools.partial(cwmed, mode="lower")):
        yield


# -- attacks ------------------------------------------------------------------------------------


def _patch_attack(name, fn):
    from .. import attacks
    return mock.patch.dict(attacks.ATTACKS, {name: fn})


@mutant("alie_sign_flipped", "attacks", "ALIE sends mu + z sigma.", ["attack_calibration"])
def _alie_sign():
    from ..attacks import alie, weighted_mean

    @functools.wraps(alie)
    def wrong(honest, honest_weights=None, **kw):
        rows = alie(honest, honest_weights, **kw)
        return 2 * weighted_mean(honest, honest_weights).unsqueeze(-2) - rows
    with _patch_attack("alie", wrong):
        yield


@mutant("ipm_sign_flipped", "attacks", "IPM sends +eps mu.", ["attack_calibration"])
def _ipm_sign():
    from ..attacks import ipm

    @functools.wraps(ipm)
    def wrong(honest, honest_weights=None, **kw):
        return -ipm(honest, honest_weights, **kw)
    with _patch_attack("ipm", wrong):
        yield


@mutant("label_flip_does_not_flip", "attacks", "Label-flip workers keep the true labels.", ["attack_calibration"])
def _no_flip():
    from ..objectives.data import FiniteSum
    with mock.patch.object(FiniteSum, "flip_labels", lambda self: self):
        yield


@mutant("worst_case_without_search", "attacks", "The worst-case attack returns ALIE's rows without searching.",
        ["attack_calibration"])
def _no_search():
    from .. import attacks
    with mock.patch.object(attacks, "worst_case",
                           lambda honest, honest_weights=None, *, n_byz, **kw: attacks.alie(honest, honest_weights,
                                                                                          n_byz=n_byz)):
        with mock.patch("sco.robustness.worst_case", attacks.worst_case):
            yield


# -- estimators and server rules ---------------------------------------------------------------


@mutant("storm_correction_on_a_fresh_sample", "estimators", "STORM's correction evaluates a new sample, not z_t.",
        ["moments_exact", "mu2sgd_estimator_error"])
def _fresh():
    from ..simulate import _Simulation

    def grads(self, oracle, x, x_prev, k, workers, stream=None):
        s = (self.stream if stream is None else stream).fold("grad", k)
        g = self._clip(oracle.grad(x, oracle._draw(s, workers, dtype=self.dt)))
        if x_prev is None or not self.est.needs_prev_grad:
            return g, None
        return g, self._clip(oracle.grad(x_prev, oracle._draw(s.fold("fresh"), workers, dtype=self.dt)))
    with mock.patch.object(_Simulation, "_grads", grads):
        yield


@mutant("storm_beta_off_by_one", "estimators", "STORM's beta_t is 1/(t + 1) instead of 1/t.", ["moments_exact"])
def _beta_shift():
    from .. import estimators
    beta_at = estimators._beta_at
    with mock.patch.object(estimators, "_beta_at", lambda beta, k, code: beta_at(beta, k + 1, code)):
        yield


@mutant("momentum_without_damping", "estimators", "The EMA momentum adds g instead of (1 - beta) g.",
        ["moments_exact"])
def _ema():
    from .. import estimators
    momentum = estimators.momentum
    with mock.patch.object(estimators, "momentum", lambda beta=0.9, *, form="ema": momentum(beta, form="heavy_ball")):
        yield


@mutant("anytime_weight_off_by_one", "server rules", "AnyTime mixes with 2/(t + 1) instead of 2/(t + 2).",
        ["moments_exact", "pep_tight_instance"])
def _anytime():
    from .. import estimators
    anytime = estimators.anytime

    def wrong(eta, domain=None, **kw):
        server = anytime(eta, domain, **kw)

        def update(state, d_hat):  # the same step with the next step's mixing weight 2/(t + 1)
            new = server.update(state, d_hat)
            g_right, g_wrong = 2.0 / (new.t + 2), 2.0 / (new.t + 1)
            x = state.x + (g_wrong / g_right) * (new.x - state.x)
            return estimators.ServerState(new.w, x, x, new.t)
        return estimators.Server(server.name, server.init, update)
    with mock.patch.object(estimators, "anytime", wrong):
        yield


@mutant("polyak_average_off_by_one", "server rules", "Averaged SGD divides by t instead of t + 1.",
        ["moments_exact"])
def _polyak():
    from .. import estimators
    projected = estimators.projected_sgd

    def wrong(eta, domain=None, *, average=False):
        server = projected(eta, domain, average=average)
        if not average:
            return server

        def update(state, d_hat):
            new = server.update(state, d_hat)
            out = state.out + (new.w - state.out) / max(new.t, 1)
            return estimators.ServerState(new.w, new.x, out, new.t)
        return estimators.Server(server.name, server.init, update)
    with mock.patch.object(estimators, "projected_sgd", wrong):
        yield


# -- the simulator and the arrivals --------------------------------------------------------------


@mutant("messages_never_stale", "simulator", "Every honest worker recomputes at the new iterate each step: "
        "asynchronous messages carry no delay.", ["moments_exact"])
def _no_delay():
    from ..simulate import _Simulation
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
    from ..simulate import _Simulation
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
    from ..simulate import _Simulation
    weights = _Simulation._weights
    with mock.patch.object(_Simulation, "_weights", lambda self, counts, given: weights(
            self, torch.ones_like(counts), given)):
        yield


@mutant("uniform_instead_of_count_weights", "simulator", "The server forgets the counts and aggregates uniformly.",
        ["count_weights"])
def _uniform():
    from ..simulate import _Simulation
    aggregate = _Simulation._aggregate
    with mock.patch.object(_Simulation, "_aggregate", lambda self, table, weights, t: aggregate(self, table, None, t)):
        yield


@mutant("workers_share_one_sample", "simulator", "Every worker draws worker 0's sample.",
        ["moments_exact", "honest_average_scaling"])
def _share():
    from .. import oracle
    draw = oracle.Oracle._draw

    def same(self, stream, workers, dtype):
        w = torch.zeros(len(stream), self.k(workers), dtype=torch.int64, device=stream.device)
        return oracle.Sample(workers, draw(self, stream, w, dtype).drawn)
    with mock.patch.object(oracle.Oracle, "_draw", same):
        yield


@mutant("speeds_ignore_the_profile", "arrivals", "iid arrivals are uniform whatever the speeds.",
        ["arrival_statistics"])
def _profile():
    from .. import arrivals
    profile = arrivals.profile
    with mock.patch.object(arrivals, "profile", lambda spec, n, owner="arrivals": profile("uniform", n, owner)):
        yield


@mutant("byzantine_arrive_too_often", "arrivals", "Byzantine workers arrive with probability 1.5 lam.",
        ["arrival_statistics"])
def _byz_rate():
    from ..arrivals import Speeds
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
    from ..arrivals import ComputeTimes
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
    from .. import noise
    grad = noise.Additive.grad

    def bad(self, oracle, x, drawn, workers):
        z1, z2 = drawn
        return grad(self, oracle, x, (z1 * oracle.d ** 0.5, z2), workers)
    with mock.patch.object(noise.Additive, "grad", bad):
        yield


@mutant("smoothness_noise_dropped", "noise", "The sigma_L part of additive noise is never added.",
        ["problem_calibration"])
def _no_sigma_L():
    from .. import noise
    grad = noise.Additive.grad
    with mock.patch.object(noise.Additive, "grad", lambda self, oracle, x, drawn, workers: grad(
            self, oracle, x, (drawn[0], None), workers)):
        yield


@mutant("heterogeneity_not_applied", "heterogeneity", "The workers' shifts b_i are dropped.",
        ["problem_calibration", "moments_exact"])
def _no_shift():
    from ..oracle import Oracle
    with mock.patch.object(Oracle, "add_shift", lambda self, g, workers: g):
        yield


@mutant("partition_workers_see_all_data", "heterogeneity", "Every worker of a data partition samples the whole "
        "data set.", ["problem_calibration"])
def _partition():
    from ..oracle import Oracle
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
    from ..rates import fit
    with mock.patch.object(fit.PowerLawFit, "contains", lambda self, exponent, tol=0.0: True):
        yield


@mutant("bound_check_too_lenient", "statistics", "check_bound lets the seed mean exceed the bound by 100%.",
        ["verdict_power"])
def _bound_lenient():
    from ..rates import checks
    check = checks.check_bound
    with mock.patch.object(checks, "check_bound", lambda y, bound, values=None, *, tol=0.0, **kw: check(
            y, bound, values, tol=tol + 1.0, **kw)):
        with mock.patch("sco.verify.claims_stats.check_bound", checks.check_bound):
            yield


@mutant("bootstrap_resamples_one_seed", "statistics", "The bootstrap resamples the first seed only.",
        ["verdict_power"])
def _one_seed():
    from ..rates import bootstrap
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
    from ..rates import BOUNDS, theorems
    b = BOUNDS["dl24b_lemma_c3"]
    import dataclasses
    wrong = dataclasses.replace(b, expr="(lam/(1 - 2*lam))**2", terms=())
    with mock.patch.dict(theorems.BOUNDS, {"dl24b_lemma_c3": wrong}):
        yield


# -- running ------------------------------------------------------------------------------------------


def run_mutant(mt: Mutant, claims, ctx) -> dict:
    """Run ``claims`` under the mutant: {claim: verdict}."""
    from .core import CLAIMS, ClaimResult
    out = {}
    with mt.plant():
        for name in claims:
            try:
                out[name] = CLAIMS[name].run(ctx).verdict
            except Exception:  # a crash under a planted bug counts as caught
                out[name] = ClaimResult(CLAIMS[name], [], None, 0.0, error="crashed").verdict
    return out


def main(argv=None) -> int:
    from .core import CLAIMS, Context
    parser = argparse.ArgumentParser(prog="python -m sco.verify.mutants", description=__doc__)
    parser.add_argument("--fast", action="store_true", help="run each mutant's listed claims only")
    parser.add_argument("--seed", type=int, default=0, help="base seed of the suite")
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    args = parser.parse_args(argv)
    ctx = Context(seed=args.seed)
    names = args.names or list(MUTANTS)
    caught, start = 0, time.perf_counter()
    for name in names:
        mt = MUTANTS[name]
        verdicts = run_mutant(mt, mt.catches if args.fast else list(CLAIMS), ctx)
        by = [c for c, v in verdicts.items() if v != "pass"]
        caught += bool(by)
        print(f"{'caught' if by else 'MISSED'}  {name:<36} {mt.area:<14} by {', '.join(by) or '-'}", flush=True)
    print(f"\n{caught}/{len(names)} mutants caught by the default suite ({time.perf_counter() - start:.0f} s).")
    return 0 if caught == len(names) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

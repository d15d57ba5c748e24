"""The planted bugs in the methods: aggregators, attacks, estimators and server rules."""

from __future__ import annotations

import functools
from unittest import mock

import torch

from . import mutant


def _patch_rule(name, fn):
    from ...aggregators import AGGREGATORS
    return mock.patch.dict(AGGREGATORS, {name: fn})


# -- aggregators -------------------------------------------------------------------------------


@mutant("krum_picks_the_highest_score", "aggregators", "Krum (and Multi-Krum) rank rows by the largest score.",
        ["aggregator_definitions"])
def _krum_max():
    from ...aggregators import distance
    keys = distance._krum_keys

    def wrong(*a, **k):
        ks, *rest = keys(*a, **k)
        return (torch.where(torch.isfinite(ks), -ks, ks), *rest)
    with mock.patch.object(distance, "_krum_keys", wrong):
        yield


@mutant("geometric_median_one_step", "aggregators", "The geometric median returns after one Weiszfeld step.",
        ["aggregator_definitions"])
def _gm_one_step():
    from ...aggregators import geometric_median
    with _patch_rule("geometric_median", functools.partial(geometric_median, max_iter=1)):
        yield


@mutant("weighted_median_ignores_weights", "aggregators", "The weighted coordinate-wise median drops its weights.",
        ["aggregator_definitions", "robustness_constants"])
def _cwmed_no_weights():
    from ...aggregators import cwmed

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
    from ...aggregators import meta
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
    from ...aggregators import cwmed
    with _patch_rule("cwmed", functools.partial(cwmed, mode="lower")):
        yield


# -- attacks ------------------------------------------------------------------------------------


def _patch_attack(name, fn):
    from ... import attacks
    return mock.patch.dict(attacks.ATTACKS, {name: fn})


@mutant("alie_sign_flipped", "attacks", "ALIE sends mu + z sigma.", ["attack_calibration"])
def _alie_sign():
    from ...attacks import alie, weighted_mean

    @functools.wraps(alie)
    def wrong(honest, honest_weights=None, **kw):
        rows = alie(honest, honest_weights, **kw)
        return 2 * weighted_mean(honest, honest_weights).unsqueeze(-2) - rows
    with _patch_attack("alie", wrong):
        yield


@mutant("ipm_sign_flipped", "attacks", "IPM sends +eps mu.", ["attack_calibration"])
def _ipm_sign():
    from ...attacks import ipm

    @functools.wraps(ipm)
    def wrong(honest, honest_weights=None, **kw):
        return -ipm(honest, honest_weights, **kw)
    with _patch_attack("ipm", wrong):
        yield


@mutant("label_flip_does_not_flip", "attacks", "Label-flip workers keep the true labels.", ["attack_calibration"])
def _no_flip():
    from ...objectives.data import FiniteSum
    with mock.patch.object(FiniteSum, "flip_labels", lambda self: self):
        yield


@mutant("worst_case_without_search", "attacks", "The worst-case attack returns ALIE's rows without searching.",
        ["attack_calibration"])
def _no_search():
    from ... import attacks
    with mock.patch.object(attacks, "worst_case",
                           lambda honest, honest_weights=None, *, n_byz, **kw: attacks.alie(honest, honest_weights,
                                                                                          n_byz=n_byz)):
        with mock.patch("sco.robustness.worst_case", attacks.worst_case):
            yield


# -- estimators and server rules ---------------------------------------------------------------


@mutant("storm_correction_on_a_fresh_sample", "estimators", "STORM's correction evaluates a new sample, not z_t.",
        ["moments_exact", "mu2sgd_estimator_error"])
def _fresh():
    from ...simulate import _Simulation

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
    from ... import estimators
    beta_at = estimators._beta_at
    with mock.patch.object(estimators, "_beta_at", lambda beta, k, code: beta_at(beta, k + 1, code)):
        yield


@mutant("momentum_without_damping", "estimators", "The EMA momentum adds g instead of (1 - beta) g.",
        ["moments_exact"])
def _ema():
    from ... import estimators
    momentum = estimators.momentum
    with mock.patch.object(estimators, "momentum", lambda beta=0.9, *, form="ema": momentum(beta, form="heavy_ball")):
        yield


@mutant("anytime_weight_off_by_one", "server rules", "AnyTime mixes with 2/(t + 1) instead of 2/(t + 2).",
        ["moments_exact", "pep_tight_instance"])
def _anytime():
    from ... import estimators
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
    from ... import estimators
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

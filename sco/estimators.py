"""Gradient estimators (worker side) and server rules, as (init, update) pairs with explicit state."""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch

from . import _checks
from ._registry import build, spec_parts
from .domains import Domain, Unconstrained

# -- schedules -------------------------------------------------------------------------------


def _schedule(owner: str, name: str, value, *, allowed=("1/t",)):
    """A constant in (0, 1], a named schedule ("1/t"), or a callable of the count."""
    if callable(value) or (isinstance(value, str) and value in allowed):
        return value
    if isinstance(value, str):
        _checks.fail(owner, name, f"be a number in (0, 1] or one of {list(allowed)}", value)
    return _checks.real(owner, name, value, low=0, low_open=True, high=1)


def _rounded(v: float) -> float:
    """The authors' code form of a schedule value: ``max(round(v, 3), 0.01)`` with Python's
    ``round`` (exact decimal rounding of the float, ties to even) [DL24a-code, worker.py,
    optimizer/anytime_sgd.py]. ``torch.round(v, decimals=3)`` rounds ``v * 1000`` instead and
    differs where that product is a tie: 1/80 = 0.0125000000000000007 is 0.013 here, 0.012 there.
    """
    return max(round(float(v), 3), 0.01)


# max(round(1/k, 3), 0.01) for k = 1..256; from k = 96 on it is the floor 0.01, so k > 256 clamps
_ONE_OVER_K = [_rounded(1 / k) for k in range(1, 257)]
_TABLES: dict = {}


def _rounded_inverse(k: torch.Tensor) -> torch.Tensor:
    """``max(round(1/k, 3), 0.01)`` for integer counts k (a tensor), looked up in a table: exact
    and without a Python loop over workers."""
    table = _TABLES.get(k.device)
    if table is None:
        table = _TABLES[k.device] = torch.tensor(_ONE_OVER_K, dtype=torch.float64, device=k.device)
    return table[k.clamp(1, len(_ONE_OVER_K)) - 1]


def _beta_at(beta, k: torch.Tensor, code_rounding: bool) -> torch.Tensor:
    """beta_k for per-worker counts k (a tensor), as a tensor broadcastable over (..., d)."""
    if beta == "1/t":
        b = _rounded_inverse(k) if code_rounding else 1.0 / k.to(torch.float64)
    elif callable(beta):
        b = torch.as_tensor(beta(k), dtype=torch.float64)
    else:
        b = torch.full(k.shape, _rounded(beta) if code_rounding else float(beta), dtype=torch.float64,
                       device=k.device)
    return b[..., None]


# -- worker estimators -----------------------------------------------------------------------


class EstimatorState(NamedTuple):
    """A worker's estimate ``d`` (..., d) and the number ``k`` (...) of gradients it has seen."""

    d: torch.Tensor
    k: torch.Tensor


class Estimator(NamedTuple):
    """A gradient estimator run by each worker, optax style.

    ``init(g)`` starts from the first stochastic gradient (d_1 = g_1, k = 1);
    ``update(state, g, g_prev)`` folds in the gradient g at the new query point and, when
    ``needs_prev_grad``, the gradient g_prev at the worker's previous query point on the
    SAME sample. Both act on tensors (..., d): every worker of every run at once. The
    message a worker sends is ``state.d``.
    """

    name: str
    init: Callable
    update: Callable
    needs_prev_grad: bool = False


def _init(g: torch.Tensor) -> EstimatorState:
    return EstimatorState(g.clone(), torch.ones(g.shape[:-1], dtype=torch.int64, device=g.device))


def sgd() -> Estimator:
    """The stochastic gradient itself: d_t = g_t. (STORM with beta = 1.)"""
    def update(state, g, g_prev=None):
        return EstimatorState(g.clone(), state.k + 1)
    return Estimator("sgd", _init, update)


def momentum(beta: float = 0.9, *, form: str = "ema") -> Estimator:
    """Worker momentum [KHJ21]: exponential moving average of the worker's gradients.

    .. math:: m_t = \\beta m_{t-1} + (1 - \\beta) g_t  \\quad(\\text{form="ema"}),\\qquad
              m_t = \\beta m_{t-1} + g_t \\quad(\\text{form="heavy_ball"}),\\qquad m_1 = g_1

    ``beta`` is the momentum parameter (the authors' code uses 0.9 [DL24a-code, worker.py]).

    .. note:: Its error does not vanish with t: the EMA of iid noise has variance
       (1 - beta)/(1 + beta) sigma^2 at stationarity, plus a bias from the moving point.
    """
    beta = _checks.real("momentum", "beta", beta, low=0, high=1, high_open=True)
    _checks.one_of("momentum", "form", form, {"ema", "heavy_ball"})
    scale = 1.0 if form == "heavy_ball" else 1.0 - beta

    def update(state, g, g_prev=None):
        return EstimatorState(beta * state.d + scale * g, state.k + 1)
    return Estimator(f"momentum[beta={beta}]" + ("" if form == "ema" else "[heavy_ball]"), _init, update)


def storm(beta="1/t", *, code_rounding: bool = False) -> Estimator:
    """STORM corrected momentum [CO19], with the schedule of mu^2-SGD [Lev23] by default.

    .. math:: d_t = g(x_t; z_t) + (1 - \\beta_t)\\,\\big(d_{t-1} - g(x_{t-1}; z_t)\\big), \\qquad d_1 = g(x_1; z_1)

    Both gradients use the same sample z_t (``g``, ``g_prev``). ``beta`` is a constant in
    (0, 1], ``"1/t"`` (beta_t = 1/t, which makes t eps_t a martingale sum and
    E||d_t - grad f(x_t)||^2 <= (2 sigma^2 + 8 D^2 sigma_L^2)/t along AnyTime iterates
    [Lev23; D] (docs/theory.md)) or a callable of the worker's count k (a tensor). t counts the
    worker's own gradients, so asynchronous workers follow their own schedule.

    ``code_rounding=True`` reproduces the authors' code: beta_t = max(round(beta_t, 3), 0.01)
    with Python's ``round`` (:func:`_rounded`), which is the constant 0.01 from t = 96 on
    [DL24a-code, worker.py].

    .. note:: With beta = 1 this is SGD exactly (the correction is multiplied by 0).
    """
    beta = _schedule("storm", "beta", beta)
    if code_rounding and callable(beta):
        _checks.fail("storm", "beta", "be '1/t' or a constant with code_rounding=True (the authors' code "
                     "rounds those schedules; a callable one has no code form)", beta)

    def update(state, g, g_prev):
        k = state.k + 1
        # one (R, h, d) temporary instead of three (the same operations, the same bits); the state is not written
        c = (1 - _beta_at(beta, k, code_rounding)).to(g.dtype)
        return EstimatorState(torch.sub(state.d, g_prev).mul_(c).add_(g), k)
    tag = "" if beta == "1/t" else f"[beta={beta if not callable(beta) else getattr(beta, '__name__', 'fn')}]"
    return Estimator("storm" + tag + ("[code]" if code_rounding else ""), _init, update, needs_prev_grad=True)


ESTIMATORS = {"sgd": sgd, "momentum": momentum, "storm": storm}
"""Worker estimators by name: ``ESTIMATORS[name](**params)``."""


# -- server rules ------------------------------------------------------------------------------


class ServerState(NamedTuple):
    """The server's iterates: ``w`` (R, d) the online learner's point, ``x`` (R, d) the query
    point sent to workers, ``out`` (R, d) the output the guarantees are about, ``t`` the
    number of updates made."""

    w: torch.Tensor
    x: torch.Tensor
    out: torch.Tensor
    t: int


class Server(NamedTuple):
    """A server rule: ``init(x1)`` and ``update(state, d_hat)`` over (R, d) tensors."""

    name: str
    init: Callable
    update: Callable


def _step_size(eta, t: int) -> float:
    return float(eta(t)) if callable(eta) else eta


def projected_sgd(eta, domain: Domain | None = None, *, average: bool = False) -> Server:
    """Projected stochastic gradient step: w_{t+1} = Pi_K(w_t - eta_t d_hat_t), queried at w.

    ``eta`` is a constant or a callable of t (1-based). ``average=True`` outputs the
    uniform average of w_1..w_{t+1} (Polyak-Ruppert), the point of the classical convex
    SGD guarantee [Bub15, §6.1]; otherwise the last iterate.
    """
    if not callable(eta):
        eta = _checks.real("projected_sgd", "eta", eta, low=0, low_open=True)

    def init(x1):
        return ServerState(x1, x1, x1, 0)

    def update(state, d_hat):
        t = state.t + 1
        w = state.w - _step_size(eta, t) * d_hat
        w = domain.project(w) if domain is not None else w
        out = state.out + (w - state.out) / (t + 1) if average else w
        return ServerState(w, w, out, t)
    return Server("sgd" + ("[avg]" if average else ""), init, update)


def anytime(eta, domain: Domain | None = None, *, gamma=None, step: str = "eta_alpha",
            code_rounding: bool = False) -> Server:
    """AnyTime-SGD [Cut19] with alpha_t = t: gradients are queried at the weighted average.

    .. math::
        w_{t+1} = \\Pi_K(w_t - \\eta\\,\\alpha_t\\,\\hat d_t), \\qquad
        x_{t+1} = \\frac{\\alpha_{1:t}}{\\alpha_{1:t+1}} x_t + \\frac{\\alpha_{t+1}}{\\alpha_{1:t+1}} w_{t+1}
        = x_t + \\gamma_{t+1} (w_{t+1} - x_t), \\qquad \\gamma_{t+1} = \\frac{2}{t + 2}

    so x_t = sum_{s<=t} s w_s / (t(t+1)/2) and ||x_{t+1} - x_t|| <= 2 D/(t + 2) [Cut19; D] (docs/theory.md).
    ``eta`` is the base step; ``step="eta_alpha"`` is the paper's eta alpha_t,
    ``step="eta"`` the authors' code's plain eta [DL24a-code, optimizer/anytime_sgd.py]. ``gamma`` (a constant)
    replaces 2/(t+2), as in the authors' asynchronous code (gamma = 0.1). ``code_rounding``
    reproduces the synchronous code's mixing weight max(round(2/(t+1), 3), 0.01) (Python's
    ``round``) at its t-th step (that is alpha_t = t - 1: x_2 = w_2) [DL24a-code,
    optimizer/anytime_sgd.py].

    .. note:: The authors' repositories do not project; here w is projected whenever the
       objective has a constraint set.
    """
    if not callable(eta):
        eta = _checks.real("anytime", "eta", eta, low=0, low_open=True)
    _checks.one_of("anytime", "step", step, {"eta_alpha", "eta"})
    if gamma is not None:
        gamma = _checks.real("anytime", "gamma", gamma, low=0, low_open=True, high=1)

    def init(x1):
        return ServerState(x1, x1, x1, 0)

    def update(state, d_hat):
        t = state.t + 1
        lr = _step_size(eta, t) * (t if step == "eta_alpha" else 1)
        w = state.w - lr * d_hat
        w = domain.project(w) if domain is not None else w
        if gamma is not None:
            g = gamma
        elif code_rounding:
            g = _rounded(2.0 / (t + 1))
        else:
            g = 2.0 / (t + 2)
        x = state.x + g * (w - state.x)
        return ServerState(w, x, x, t)
    tag = (f"[gamma={gamma}]" if gamma is not None else "") + ("[step=eta]" if step == "eta" else "") \
        + ("[code]" if code_rounding else "")
    return Server("anytime" + tag, init, update)


# -- algorithms = estimator + server ------------------------------------------------------------


class Algorithm(NamedTuple):
    """A worker estimator, a server rule, and optional per-worker gradient clipping
    (the authors' synchronous code clips each worker's gradient to norm 2.0)."""

    name: str
    estimator: Estimator
    server: Server
    clip: float | None = None


def _clip(clip):
    return None if clip is None else _checks.real("algorithm", "clip", clip, low=0, low_open=True)


def _alg(name, est, server, clip=None):
    return Algorithm(name, est, server, _clip(clip))


ALGORITHMS = {
    "sgd": lambda eta, domain=None, average=False, clip=None: _alg(
        "sgd", sgd(), projected_sgd(eta, domain, average=average), clip),
    "momentum": lambda eta, domain=None, beta=0.9, form="ema", clip=None: _alg(
        f"momentum[beta={beta}]", momentum(beta, form=form), projected_sgd(eta, domain), clip),
    "storm": lambda eta, domain=None, beta=0.1, clip=None: _alg(
        f"storm[beta={beta}]", storm(beta), projected_sgd(eta, domain), clip),
    "anytime_sgd": lambda eta, domain=None, clip=None: _alg("anytime_sgd", sgd(), anytime(eta, domain), clip),
    "mu2sgd": lambda eta, domain=None, clip=None: _alg("mu2sgd", storm("1/t"), anytime(eta, domain), clip),
    # The authors' synchronous code [DL24a-code, trainer/sync_trainer.py]: step eta without alpha_t, rounded and floored
    # schedules, per-worker clipping at 2.0.
    "mu2sgd_code_sync": lambda eta, domain=None, clip=2.0: _alg(
        "mu2sgd_code_sync", storm("1/t", code_rounding=True),
        anytime(eta, domain, step="eta", code_rounding=True), clip),
    # The authors' asynchronous code [DL24b-code, trainer/async_trainer.py]: fixed beta = 0.25 and
    # gamma = 0.1, step eta.
    "mu2sgd_code_async": lambda eta, domain=None, beta=0.25, gamma=0.1, clip=None: _alg(
        "mu2sgd_code_async", storm(beta), anytime(eta, domain, gamma=gamma, step="eta"), clip),
}
"""Algorithms by name: ``ALGORITHMS[name](eta=..., domain=..., **params)``."""


def make_algorithm(spec, *, domain: Domain | None = None) -> Algorithm:
    """An Algorithm from an instance or a spec {"name": ..., "eta": ..., **params} of
    :data:`ALGORITHMS` (:func:`sco._registry.spec_parts`: ByzFL's "parameters" form too);
    ``domain`` is the constraint set the server projects on."""
    if isinstance(spec, (str, dict)):
        name, options = spec_parts("make_algorithm", spec)
        if "eta" not in options:
            _checks.fail("make_algorithm", "eta", f"be given for {name!r} (the step size)", None)
        spec = {"name": name, **options}
    # the server projects on the objective's domain: the caller's, never the spec's
    return build("make_algorithm", spec, ALGORITHMS, Algorithm, "algorithm",
                 extra={"domain": None if isinstance(domain, Unconstrained) else domain})

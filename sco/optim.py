"""torch.optim optimizers for training an nn.Module: mu^2-SGD, AnyTime-SGD and STORM, as sco's estimators + servers."""

from __future__ import annotations

from typing import Callable

import torch

from . import _checks

# The closure protocol (Mu2SGD, STORM; optional for AnyTimeSGD)
# -------------------------------------------------------------
# ``step(closure)``: ``closure()`` computes the loss ON THE CURRENT MINI-BATCH at the model's
# current parameters, calls ``loss.backward()`` and returns the loss. The optimizer zeroes the
# gradients before every call and may call it twice per step: once with the parameters set to
# the previous query point x_{t-1} (the STORM correction's g(x_{t-1}; z_t)) and once at the
# current one x_t (g(x_t; z_t), whose loss ``step`` returns and whose gradients stay in .grad).
# Both calls must see the same sample z_t: draw the mini-batch OUTSIDE the closure, and keep any
# randomness inside the model (dropout) identical between the two calls or switch it off.


def _beta(owner: str, beta):
    if isinstance(beta, str):
        return _checks.one_of(owner, "beta", beta, {"1/t"})
    return _checks.real(owner, "beta", beta, low=0, low_open=True, high=1)


def _gamma(owner: str, gamma):
    return None if gamma is None else _checks.real(owner, "gamma", gamma, low=0, low_open=True, high=1)


class _Optimizer(torch.optim.Optimizer):
    """The one code path: a STORM-corrected or plain gradient (worker side) and a plain or
    AnyTime step (server side), per parameter tensor, as sco.estimators' pairs do per run.

    Per-parameter state: ``step`` (t, the number of updates made), ``d`` (the estimate, when
    corrected), ``x_prev`` (x_{t-1}, when corrected), ``w`` (the online iterate, AnyTime).
    The parameters themselves always hold the query point x_t.
    """

    _correct = False  # STORM correction: needs g(x_{t-1}; z_t), hence the closure
    _anytime = False  # AnyTime server: query at the alpha_t-weighted average of the w's

    def __init__(self, params, lr: float, **defaults):
        owner = type(self).__name__
        if isinstance(lr, torch.Tensor):
            _checks.fail(owner, "lr", "be a Python number (a tensor lr is not supported)", lr, kind=TypeError)
        lr = _checks.real(owner, "lr", lr, low=0, low_open=True)
        super().__init__(params, dict(lr=lr, **defaults))

    def _gradients(self, closure: Callable):
        """Zero the gradients, run the closure with autograd on, return (loss, gradients)."""
        params = [p for group in self.param_groups for p in group["params"]]
        for p in params:
            p.grad = None
        with torch.enable_grad():
            loss = closure()
        grads = []
        for p in params:
            if p.grad is not None and p.grad.is_sparse:
                _checks.fail(type(self).__name__, "params", "have dense gradients", "a sparse gradient",
                             kind=TypeError)
            grads.append(torch.zeros_like(p) if p.grad is None else p.grad)  # unused this step: zero
        return loss, grads

    @torch.no_grad()
    def step(self, closure: Callable | None = None):
        owner = type(self).__name__
        params = [p for group in self.param_groups for p in group["params"]]
        if closure is None and self._correct:
            _checks.fail(f"{owner}.step", "closure", "be a callable that recomputes the loss on the current "
                         "mini-batch and calls backward()", None,
                         "The STORM correction needs the gradient at the previous point on the same "
                         "sample: opt.step(lambda: loss_fn(model(xb), yb).backward() or ...). See sco.optim.",
                         kind=TypeError)
        # parameters with a previous point (all but at t = 1, or those added by add_param_group)
        moved = [p for p in params if "x_prev" in self.state[p]]
        g_prev = None
        if self._correct and moved:
            x_t = [p.clone() for p in moved]
            for p in moved:
                p.copy_(self.state[p]["x_prev"])
            _, g_prev = self._gradients(closure)  # g(x_{t-1}; z_t)
            for p, x in zip(moved, x_t):
                p.copy_(x)
        if closure is not None:
            loss, grads = self._gradients(closure)  # g(x_t; z_t)
        else:
            loss = None
            grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
        i = 0
        for group in self.param_groups:
            for p in group["params"]:
                self._update(group, p, self.state[p], grads[i], None if g_prev is None else g_prev[i])
                i += 1
        return loss

    def _update(self, group, p, s, g, g_prev):
        if not s:
            s["step"] = 0
            if self._anytime:
                s["w"] = p.detach().clone()  # w_1 = x_1
        t = s["step"] + 1
        # worker side: the estimate d_t
        if self._correct:
            if t == 1:
                s["d"] = g.clone()  # d_1 = g_1
            else:
                beta = 1.0 / t if group["beta"] == "1/t" else group["beta"]
                s["d"].sub_(g_prev).mul_(1 - beta).add_(g)  # d_t = g_t + (1 - beta_t)(d_{t-1} - g~_{t-1})
            s["x_prev"] = p.detach().clone()
            d = s["d"]
        else:
            d = g
        # server side: the step
        if self._anytime:
            lr = group["lr"] * (t if group["step_rule"] == "eta_alpha" else 1)
            s["w"].add_(d, alpha=-lr)  # w_{t+1} = w_t - eta alpha_t d_t
            gamma = 2.0 / (t + 2) if group["gamma"] is None else group["gamma"]
            p.lerp_(s["w"], gamma)  # x_{t+1} = x_t + gamma_{t+1} (w_{t+1} - x_t)
        else:
            p.add_(d, alpha=-group["lr"])  # x_{t+1} = x_t - eta d_t
        s["step"] = t


class Mu2SGD(_Optimizer):
    r"""mu^2-SGD [Lev23]: STORM-corrected gradients [CO19] queried at AnyTime averages [Cut19].

    .. math::
        d_1 = g(x_1; z_1),\qquad d_t = g(x_t; z_t) + (1 - \beta_t)\big(d_{t-1} - g(x_{t-1}; z_t)\big),
        \qquad \beta_t = 1/t

        w_{t+1} = w_t - \eta\,\alpha_t\, d_t,\qquad
        x_{t+1} = x_t + \gamma_{t+1}(w_{t+1} - x_t),\qquad \alpha_t = t,\ \gamma_{t+1} = \frac{2}{t+2}

    with w_1 = x_1 the initial parameters; the model's parameters hold x_t (the point the
    guarantees are about, and the one to evaluate). ``lr`` is :math:`\eta`: the step actually
    taken on w grows like :math:`\eta t`, so choose :math:`\eta` for the horizon T you train
    for; the convex theory takes :math:`\eta \le 1/(4LT)` [DL24b, Thm 4.2], a largest step
    :math:`\eta\alpha_T = 1/(4L)`, and :math:`E\|d_t - \nabla f(x_t)\|^2 \le \tilde\sigma^2/t`
    follows from :math:`\beta_t = 1/t` [Lev23], restated in [DL24b, §4] and [DL24a] (equation
    numbers of [Lev23] were not available here). This is exactly sco's
    ``ALGORITHMS["mu2sgd"]`` (``sco.estimators.storm("1/t")`` + ``sco.estimators.anytime(eta)``)
    for one worker, unconstrained; ``tests/test_optim.py`` checks it against them to 1e-12.

    ``step(closure)`` needs the closure (see the protocol at the top of ``sco.optim``): each
    step calls it twice, at x_{t-1} and at x_t, on the same mini-batch.

    Options: ``beta`` a constant in (0, 1] instead of 1/t; ``gamma`` a constant instead of
    2/(t+2); ``step="eta"`` steps w by :math:`\eta` instead of :math:`\eta\alpha_t`.

    .. note:: The authors' code [Lev23-code, mu2sgd.py] steps w by ``lr * d`` (``step="eta"``);
       their asynchronous code [DL24b-code] uses ``beta=0.25, gamma=0.1, step="eta"``. The
       paper's form is the default. Memory: three extra copies of the parameters (w, d,
       x_{t-1}) plus two transient ones during a step.

    Examples
    --------
    >>> opt = Mu2SGD(model.parameters(), lr=1e-4)          # doctest: +SKIP
    >>> for xb, yb in batches:                              # doctest: +SKIP
    ...     def closure():
    ...         loss = loss_fn(model(xb), yb)
    ...         loss.backward()
    ...         return loss
    ...     loss = opt.step(closure)
    """

    _correct = True
    _anytime = True

    def __init__(self, params, lr: float, *, beta="1/t", gamma: float | None = None, step: str = "eta_alpha"):
        super().__init__(params, lr, beta=_beta("Mu2SGD", beta), gamma=_gamma("Mu2SGD", gamma),
                         step_rule=_checks.one_of("Mu2SGD", "step", step, {"eta_alpha", "eta"}))


class AnyTimeSGD(_Optimizer):
    r"""AnyTime-SGD [Cut19]: SGD steps on w, gradients queried at the alpha_t-weighted average.

    .. math::
        w_{t+1} = w_t - \eta\,\alpha_t\, g(x_t; z_t),\qquad
        x_{t+1} = x_t + \gamma_{t+1}(w_{t+1} - x_t),\qquad \alpha_t = t,\ \gamma_{t+1} = \frac{2}{t+2}

    so x_t is the average of w_1..w_t with weights alpha; the anytime guarantee bounds
    :math:`\alpha_{1:T}(f(x_T) - f^*)` by the weighted regret of the w's [Cut19, Thm 1]. This
    is mu^2-SGD without the STORM correction, sco's ``ALGORITHMS["anytime_sgd"]``. ``lr`` is
    :math:`\eta`, options ``gamma`` and ``step`` as in :class:`Mu2SGD`.

    One gradient per step: call ``loss.backward()`` then ``step()`` as with torch.optim.SGD,
    or pass a closure (the optimizer then zeroes the gradients before calling it).
    """

    _anytime = True

    def __init__(self, params, lr: float, *, gamma: float | None = None, step: str = "eta_alpha"):
        super().__init__(params, lr, gamma=_gamma("AnyTimeSGD", gamma),
                         step_rule=_checks.one_of("AnyTimeSGD", "step", step, {"eta_alpha", "eta"}))


class STORM(_Optimizer):
    r"""STORM, recursive momentum [CO19, Alg. 1] with a constant step and correction weight.

    .. math::
        d_1 = g(x_1; z_1),\qquad d_t = g(x_t; z_t) + (1 - \beta)\big(d_{t-1} - g(x_{t-1}; z_t)\big),
        \qquad x_{t+1} = x_t - \eta\, d_t

    ``lr`` is :math:`\eta`, ``beta`` is :math:`\beta` in (0, 1] (or ``"1/t"``), [CO19]'s
    :math:`a`. This is sco's ``ALGORITHMS["storm"]`` (default beta 0.1). With ``beta=1`` it is
    SGD exactly. ``step(closure)`` needs the closure, as :class:`Mu2SGD`.

    .. note:: [CO19, Alg. 1] adapts both: :math:`\eta_t = k/(w + \sum_i \|g_i\|^2)^{1/3}` and
       :math:`a_{t+1} = c\,\eta_t^2`. Constants are what sco's claims use (``eta ~ T^-1/3``,
       ``beta ~ T^-2/3`` for a horizon T on nonconvex problems).
    """

    _correct = True

    def __init__(self, params, lr: float, *, beta=0.1):
        super().__init__(params, lr, beta=_beta("STORM", beta))


__all__ = ["AnyTimeSGD", "Mu2SGD", "STORM"]

"""The notation of the bounds: every symbol a statement may use, and the symbols defined from others."""

from __future__ import annotations

from typing import NamedTuple

import sympy


class Param(NamedTuple):
    """A symbol a bound may use: its LaTeX form, meaning, and where its value comes from."""
    name: str
    latex: str
    meaning: str
    source: str  # "objective", "noise", "run", "aggregator", "arrivals" or "derived"


PARAMS: dict[str, Param] = {p.name: p for p in (
    Param("m", "m", "number of workers", "run"),
    Param("f", "f", "number of Byzantine workers", "run"),
    Param("delta", r"\delta", "Byzantine fraction of workers, f/m", "run"),
    Param("lam", r"\lambda", "Byzantine fraction of updates, or of the aggregation weight", "run"),
    Param("d", "d", "dimension", "objective"),
    Param("T", "T", "horizon (number of iterations)", "run"),
    Param("t", "t", "step, 1-based", "run"),
    Param("L", "L", "smoothness constant", "objective"),
    Param("mu", r"\mu", "strong-convexity constant", "objective"),
    Param("D", "D", "diameter of the domain, or ||x_1 - x*||", "objective"),
    Param("G_star", "G^*", "||grad f(x*)||, nonzero when x* is on the boundary of the domain", "objective"),
    Param("Delta", r"\Delta", "initial suboptimality f(x_1) - f* (nonconvex)", "objective"),
    Param("zeta", r"\zeta", "heterogeneity, zeta^2 = mean_i ||grad f_i - grad f||^2", "objective"),
    Param("sigma", r"\sigma", "gradient noise: E||grad f(x;z) - grad f(x)||^2 <= sigma^2", "noise"),
    Param("sigma_L", r"\sigma_L", "smoothness variance", "noise"),
    Param("sigma_tilde", r"\tilde{\sigma}", "DL24b's effective noise, sigma_tilde^2 = 2 sigma^2 + 32 D^2 K^2 sigma_L^2",
          "derived"),
    Param("sigma_tilde_sync", r"\tilde{\sigma}_1", "synchronous effective noise derived here, "
          "sigma_tilde_sync^2 = 2 sigma^2 + 8 D^2 sigma_L^2", "derived"),
    Param("tau", r"\tau", "delay of a message (DL24b's convention: sco's staleness + 1)", "arrivals"),
    Param("tau_max", r"\tau^{\max}_t", "largest delay over the workers' messages in the server's table at t",
          "arrivals"),
    Param("mu_max", r"\mu_{\max}", "(1/T) sum_t tau_max_t, the mean over steps of the largest delay", "arrivals"),
    Param("K", "K", "delay variability: tau_min^(i) <= tau_t^(i) <= K tau_min^(i) for every worker i", "arrivals"),
    Param("s", "s", "a worker's number of updates s_t^(i) (its count weight)", "arrivals"),
    Param("t_G", "t_G", "number of honest iterations up to t", "arrivals"),
    Param("kappa", r"\kappa", "robustness coefficient of the aggregator, (f, kappa) form", "aggregator"),
    Param("kappa_base", r"\kappa_A", "robustness coefficient of CTMA's anchor aggregator A", "aggregator"),
    Param("c_lam", r"c_\lambda", "weighted robustness coefficient of the aggregator [DL24b, Def. 3.1]", "aggregator"),
    Param("rho", r"\rho", "weighted honest spread, rho^2 = (1/S_G) sum_G s_i rho_i^2 [DL24b, Def. 3.1]", "run"),
    Param("eta", r"\eta", "step size", "run"),
    Param("n", "n", "honest workers in the arrival pool", "arrivals"),
    Param("p", "p", "arrival probabilities p_i of the honest workers (a vector, last axis)", "arrivals"),
    Param("inv_p_sum", r"\sum_i p_i^{-1}", "sum over the honest workers of 1/p_i", "derived"),
)}

_SYMBOLS: dict[str, sympy.Symbol] = {}


def symbol(name: str) -> sympy.Symbol:
    """The canonical sympy symbol of a parameter; every parameter is a positive real."""
    s = _SYMBOLS.get(name)
    if s is None:
        s = _SYMBOLS[name] = sympy.Symbol(name, positive=True)
    return s


def _s(*names):
    return (symbol(n) for n in names)


_sigma, _D, _sigma_L, _K = _s("sigma", "D", "sigma_L", "K")

#: Scalars computed from other scalars when not given: name -> definition. The one place
#: each definition lives: bounds, claims and reports evaluate these, nothing repeats them.
DERIVED: dict[str, sympy.Expr] = {
    # [DL24b, Thm. 4.1]: the asynchronous variance, with the delay-variability factor K
    "sigma_tilde": sympy.sqrt(2 * _sigma ** 2 + 32 * _D ** 2 * _K ** 2 * _sigma_L ** 2),
    # derived here (docs/theory.md; proofs_check.storm): the synchronous constant, from
    # ||x_t - x_{t-1}|| <= 2D/(t+1) instead of DL24b's 4D tau/t
    "sigma_tilde_sync": sympy.sqrt(2 * _sigma ** 2 + 8 * _D ** 2 * _sigma_L ** 2),
    "delta": symbol("f") / symbol("m"),
}


def _reduce_n(p):
    return float(p.shape[-1])


def _reduce_inv_p_sum(p):
    return (1 / p).sum(-1)


#: Scalars computed from a vector parameter (its last axis) when not given: name -> (vector, fn).
#: A bound therefore takes either the vector itself (p=[...]) or the precomputed scalars.
REDUCTIONS: dict[str, tuple[str, object]] = {
    "n": ("p", _reduce_n),
    "inv_p_sum": ("p", _reduce_inv_p_sum),
}
VECTORS = frozenset(v for v, _ in REDUCTIONS.values())

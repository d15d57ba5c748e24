"""CTMA [DL24a] and weighted CTMA [DL24b]: the instance-wise inequality ||xhat - xbar_G||^2 <= 8 q (rho^2 + q ||x0 - xbar_G||^2)."""

from __future__ import annotations

import itertools
from typing import Callable, NamedTuple

import sympy as sp
import torch

from ._core import Result, is_zero, nonneg_polynomial_coefficients, record

# An aggregator in sco's call form: agg(x: (R, m, d), weights: (R, m), *, lam: float) -> (R, d).
Agg = Callable[..., torch.Tensor]

# (m, f) of the searched instances: near the breakdown point, a mid-range and a small delta
CONFIGS = ((9, 4), (10, 2), (17, 8))
D_DIM = 3
N_SAMPLED = 20_000  # random instances per configuration
N_RESTARTS = 200  # optimized instances per configuration: the best sampled ones, then fresh ones
N_STEPS = 150  # Adam steps per restart
LR = 0.2  # Adam step, relative to the honest spread (instances are renormalized every step)
# Rounding allowance: the output x0 + sum (x_i - x0)/n_h carries an error of a few ulps of the
# largest vector involved, so lhs is compared with rhs + (ROUNDING * eps * scale)^2 (scale: the
# largest of ||x_i - xbar_G||, ||x0 - xbar_G||). It also keeps the ratio finite when q = 0.
ROUNDING = 64


def bound_statement(q, rho2, r2, constant=8):
    """The right-hand side 8 q (rho^2 + q ||x0 - xbar_G||^2) of [digest §4.2, D]."""
    return constant * q * (rho2 + q * r2)


class Instance(NamedTuple):
    """Worker vectors with the honest rows first: x (R, m, d), weights (R, m), n_h honest rows, lam."""

    x: torch.Tensor
    weights: torch.Tensor
    n_h: int
    lam: float


def kept_mass(x, weights, x0, lam):
    """Mass of each row that a (fractional) trimmed mean around x0 keeps: the nearest rows up to (1-lam) S.

    With unit weights and lam = f/m this keeps exactly the m - f rows nearest to x0
    [digest §4.2 and §5.3, step 3].
    """
    dist = (x - x0.unsqueeze(-2)).norm(dim=-1)  # (R, m)
    order = dist.argsort(dim=-1)
    w_sorted = weights.gather(-1, order)
    budget = (1 - lam) * weights.sum(-1, keepdim=True)  # (R, 1)
    before = w_sorted.cumsum(-1) - w_sorted
    take_sorted = (budget - before).clamp(min=0).minimum(w_sorted)
    return torch.zeros_like(weights).scatter(-1, order, take_sorted)


def ratio(ctma: Agg, anchor: Agg, inst: Instance, bound=bound_statement):
    """||xhat - xbar_G||^2 / (8 q (rho^2 + q ||x0 - xbar_G||^2)) per instance, q = kept Byzantine mass / S_G.

    The statement's k (number, or mass, of Byzantine rows among the kept ones) is
    recomputed here from the anchor, so that a CTMA that keeps a different set, or
    divides by a different count, shows up as a violation.
    """
    x, w, n_h, lam = inst
    w_h, x_h = w[..., :n_h], x[..., :n_h, :]
    S_G = w_h.sum(-1)  # (R,)
    xbar = (w_h.unsqueeze(-1) * x_h).sum(-2) / S_G.unsqueeze(-1)  # (R, d)
    rho2 = (w_h * (x_h - xbar.unsqueeze(-2)).pow(2).sum(-1)).sum(-1) / S_G  # (R,)
    x0 = anchor(x, w, lam=lam)  # (R, d)
    with torch.no_grad():
        q = kept_mass(x, w, x0, lam)[..., n_h:].sum(-1) / S_G  # (R,)
    lhs = (ctma(x, w, lam=lam) - xbar).pow(2).sum(-1)
    r2 = (x0 - xbar).pow(2).sum(-1)
    rhs = bound(q, rho2, r2)
    with torch.no_grad():
        scale2 = torch.maximum((x - xbar.unsqueeze(-2)).pow(2).sum(-1).amax(-1), r2)
        allowance = (ROUNDING * torch.finfo(x.dtype).eps) ** 2 * scale2
    return lhs / (rhs + allowance)


def sample_instances(m: int, f: int, n: int, weighted: bool, gen: torch.Generator) -> Instance:
    """Random instances from four families of Byzantine rows; the Byzantine share of mass is exactly lam.

    Families: all Byzantine rows at one point at distance c (ALIE-like when c is
    near the honest spread), a Gaussian cluster around a shifted centre, near-copies of
    honest rows, and far outliers; honest rows are anisotropic Gaussians.
    """
    n_h = m - f
    opts = dict(dtype=torch.float64, generator=gen)
    honest = torch.randn(n, n_h, D_DIM, **opts) * torch.rand(n, 1, D_DIM, **opts).mul(2).add(0.1)
    direction = torch.nn.functional.normalize(torch.randn(n, 1, D_DIM, **opts), dim=-1)
    c = torch.rand(n, 1, 1, **opts) * 4
    point = c * direction
    cluster = point + 0.3 * torch.randn(n, f, D_DIM, **opts)
    copies = honest[:, torch.randint(n_h, (f,), generator=gen)] + 0.1 * torch.randn(n, f, D_DIM, **opts)
    far = 10 * c * direction + torch.randn(n, f, D_DIM, **opts)
    family = torch.randint(4, (n, 1, 1), generator=gen)
    byz = torch.where(family == 0, point.expand(-1, f, -1),
                      torch.where(family == 1, cluster, torch.where(family == 2, copies, far)))
    x = torch.cat([honest, byz], dim=-2)
    if not weighted:  # unit weights already put exactly lam = f/m of the mass on the Byzantine rows
        return Instance(x, torch.ones(n, m, dtype=torch.float64), n_h, f / m)
    return Instance(x, _byzantine_share(torch.exp(torch.randn(n, m, **opts)), n_h, f / m), n_h, f / m)


def _byzantine_share(weights, n_h, lam):
    """Rescale the Byzantine weights so that they carry exactly the fraction lam of the total mass."""
    w_h, w_b = weights[..., :n_h], weights[..., n_h:]
    scale = lam / (1 - lam) * w_h.sum(-1, keepdim=True) / w_b.sum(-1, keepdim=True)
    return torch.cat([w_h, w_b * scale], dim=-1)


def _normalize(x, weights, n_h):
    """Centre the honest weighted mean at 0 and scale the honest spread to 1 (the ratio is invariant)."""
    w_h = weights[..., :n_h]
    xbar = (w_h.unsqueeze(-1) * x[..., :n_h, :]).sum(-2, keepdim=True) / w_h.sum(-1)[..., None, None]
    rho2 = (w_h * (x[..., :n_h, :] - xbar).pow(2).sum(-1)).sum(-1) / w_h.sum(-1)
    return (x - xbar) / rho2.sqrt()[..., None, None]


def ascend(ctma: Agg, anchor: Agg, inst: Instance, weighted: bool, gen: torch.Generator,
           bound=bound_statement, steps=N_STEPS):
    """Adam ascent on log(ratio) over all rows, batched over restarts; weights by random search.

    Aggregators may treat weights as data (sco's detach them), so the weights are not
    moved by gradients: each step proposes multiplicative noise on the weights of every
    restart and keeps it where the ratio grows. Returns the largest ratio seen per
    restart; every iterate is a valid instance, so this is a lower bound on the worst case.
    """
    n_h, lam = inst.n_h, inst.lam
    w = inst.weights
    x = _normalize(inst.x, w, n_h).clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=LR, maximize=True)
    best = torch.zeros(x.shape[0], dtype=x.dtype)
    for _ in range(steps):
        r = ratio(ctma, anchor, Instance(x, w, n_h, lam), bound)
        best = torch.maximum(best, r.detach().nan_to_num(nan=0.0))
        opt.zero_grad()
        r.clamp(min=1e-300).log().sum().backward()
        x.grad.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
        with torch.no_grad():
            if weighted:  # a weight proposal at the current rows, kept where it raises the ratio
                noise = torch.exp(0.3 * torch.randn(w.shape, dtype=w.dtype, generator=gen))
                proposal = _byzantine_share(w * noise, n_h, lam)
                r_new = ratio(ctma, anchor, Instance(x, proposal, n_h, lam), bound).nan_to_num(nan=0.0)
                best = torch.maximum(best, r_new)
                w = torch.where((r_new > r.detach()).unsqueeze(-1), proposal, w)
            opt.step()
            x.copy_(_normalize(x, w, n_h))
    return best


def search(ctma: Agg, anchor: Agg, m: int, f: int, weighted: bool, bound=bound_statement, seed: int = 0,
           n_sampled=N_SAMPLED, n_restarts=N_RESTARTS, steps=N_STEPS):
    """Largest ratio over sampled instances and optimized restarts (deterministic for a seed)."""
    gen = torch.Generator().manual_seed(seed)
    inst = sample_instances(m, f, n_sampled, weighted, gen)
    with torch.no_grad():
        sampled = ratio(ctma, anchor, inst, bound).nan_to_num(nan=float("inf"))
    top = sampled.argsort(descending=True)[: n_restarts // 2]
    fresh = sample_instances(m, f, n_restarts - top.numel(), weighted, gen)
    starts = Instance(torch.cat([inst.x[top], fresh.x]), torch.cat([inst.weights[top], fresh.weights]),
                      inst.n_h, inst.lam)
    optimized = ascend(ctma, anchor, starts, weighted, gen, bound, steps)
    return float(sampled.max()), float(optimized.max())


def check_search(ctma: Agg, anchor: Agg, *, name: str, weighted: bool, configs=CONFIGS,
                 bound=bound_statement, **search_kwargs) -> Result:
    r"""Adversarial search: no instance with ``||xhat - xbar_G||^2 > 8 q (rho^2 + q ||x0 - xbar_G||^2)``.

    Statement [digest §4.2 (unweighted, q = k/n_h) and §5.3 (weighted, q = kept
    Byzantine mass / S_G, fractional boundary), D]. Numeric: for each (m, f), 20,000
    random instances, then Adam ascent (torch autograd through the aggregator) on
    the 100 worst of them and 100 fresh ones, all rows and (weighted) all weights
    free, with the honest mass fixed at (1 - lam) S as the statement requires.
    """
    rows, worst = [], 0.0
    for m, f in configs:
        sampled, optimized = search(ctma, anchor, m, f, weighted, bound, **search_kwargs)
        worst = max(worst, sampled, optimized)
        rows.append(f"(m,f)=({m},{f}): {max(sampled, optimized):.3g}")
    n_s = search_kwargs.get("n_sampled", N_SAMPLED)
    n_r = search_kwargs.get("n_restarts", N_RESTARTS)
    detail = (f"max ratio {worst:.3g} over {n_s:,} instances + {n_r} optimized restarts per config "
              f"[{'; '.join(rows)}]")
    lemma = f"{'w-CTMA' if weighted else 'CTMA'} instance-wise inequality [{name}]"
    return record(lemma, "numeric", worst <= 1 + 1e-9, detail)


def check_algebra(constant=8, divisor=lambda n_h, k: n_h) -> Result:
    r"""The algebra of the proof [digest §4.2, D], on symbolic scalars; the weighted form reads n_h as S_G, k as k_w.

    1. pairing: with |S| = |G| = n_h (the trimmed mean divides by ``divisor``),
       xhat - xbar_G = (1/n_h) [sum_{S∩B} (x_i - xbar_G) - sum_{G\S} (x_j - xbar_G)],
       an identity in the symbolic sums and counts (k terms on each side);
    2. ||a_i - b_j|| <= ||a_i|| + ||b_j|| <= 2||b_j|| + 2r (triangle inequality and the
       trimming rule; stated) and (2 beta + 2 r)^2 <= 8 beta^2 + 8 r^2: the slack is
       4 (beta - r)^2 (symbolic);
    3. Cauchy-Schwarz for k weighted terms: (sum pi)(sum pi v^2) - (sum pi v)^2 =
       sum_{p<q} pi_p pi_q (v_p - v_q)^2 (symbolic for k = 1..5; unit pi is the
       unweighted case);
    4. assembly: (k/n_h^2)(8 n_h rho^2 + 8 k r^2) <= constant (k/n_h)(rho^2 + (k/n_h) r^2),
       by nonnegative coefficients.
    """
    n_h, k, rho2, r2, beta, r = sp.symbols("n_h k rho2 r2 beta r", positive=True)
    A, Bk, C = sp.symbols("A B_k C", real=True)  # sums over G∩S, S∩B, G\S
    xbar = (A + C) / n_h
    pairing = (A + Bk) / divisor(n_h, k) - xbar - ((Bk - k * xbar) - (C - k * xbar)) / n_h
    ok_pair = is_zero(pairing)
    ok_split = is_zero(8 * beta**2 + 8 * r**2 - (2 * beta + 2 * r) ** 2 - 4 * (beta - r) ** 2)
    ok_cs = True
    for kk in range(1, 6):
        pi, v = sp.symbols(f"pi1:{kk + 1}", positive=True), sp.symbols(f"v1:{kk + 1}", real=True)
        lhs = sum(pi) * sum(p_ * v_**2 for p_, v_ in zip(pi, v)) - sum(p_ * v_ for p_, v_ in zip(pi, v)) ** 2
        rhs = sum(pi[a] * pi[b] * (v[a] - v[b]) ** 2 for a, b in itertools.combinations(range(kk), 2))
        ok_cs &= is_zero(lhs - rhs)
    derived = k / n_h**2 * (8 * n_h * rho2 + 8 * k * r2)
    ok_assembly = nonneg_polynomial_coefficients(bound_statement(k / n_h, rho2, r2, constant) - derived,
                                                 [n_h, k, rho2, r2])
    ok = ok_pair and ok_split and ok_cs and ok_assembly
    detail = "; ".join(f"{what} {'holds' if good else 'FAILS'}" for what, good in (
        ("pairing identity", ok_pair), ("(2b+2r)^2 <= 8b^2+8r^2", ok_split),
        ("weighted Cauchy-Schwarz k=1..5", ok_cs), (f"assembly with constant {constant}", ok_assembly)))
    return record("CTMA: pairing + Cauchy-Schwarz algebra", "symbolic", ok, detail)


def check_kappa(c1=12, c2=18, delta_max=sp.Rational(1, 3)) -> Result:
    r"""``8 q (1 + q kappa) <= 12 delta + 18 delta^2 kappa`` for ``q = delta/(1-delta)``, ``0 < delta <= 1/3``.

    Statement [digest §4.2, D]: the robustness coefficient of CTMA over a (delta,
    kappa)-robust anchor. Symbolic for all such delta: delta = 1/(1/delta_max + v) with
    v >= 0, and the difference is a ratio of polynomials in (v, kappa) with
    nonnegative coefficients.
    """
    v, kappa = sp.symbols("v kappa", positive=True)
    delta = 1 / (1 / delta_max + v)
    q = delta / (1 - delta)
    ok = nonneg_polynomial_coefficients(c1 * delta + c2 * delta**2 * kappa - 8 * q * (1 + q * kappa), [v, kappa])
    return record("CTMA: kappa <= 12 delta + 18 delta^2 kappa (delta <= 1/3)", "symbolic", ok,
                  f"claim {c1} delta + {c2} delta^2 kappa, delta <= {delta_max}: "
                  f"{'proved' if ok else 'NOT proved'} by nonnegative coefficients in (v, kappa)")


def run() -> list[Result]:
    return [check_algebra(), check_kappa()]

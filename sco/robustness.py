"""Robustness coefficients: empirical kappa, theoretical tables, worst-case search, the lower-bound instance."""

from __future__ import annotations

import dataclasses
import math
import re

import torch

from . import _checks
from .attacks import joint_weights, spread, weighted_mean, worst_case
from .random import Stream


def kappa_of(out: torch.Tensor, honest: torch.Tensor, honest_weights: torch.Tensor | None = None) -> torch.Tensor:
    r"""The ratio of an aggregate to the honest spread, shape (...).

    .. math::

        R = \frac{\|\hat x - \bar x_G\|^2}{\frac{1}{S_G}\sum_{i \in G} s_i \|x_i - \bar x_G\|^2},
        \qquad \bar x_G = \frac{1}{S_G}\sum_{i\in G} s_i x_i

    ``out`` (..., d) is :math:`\hat x`, ``honest`` (..., h, d) the rows of :math:`G`,
    ``honest_weights`` (..., h) the :math:`s_i` (ones when None: the unweighted ratio of
    [AFG+23]; weighted: [DL24b, Def. 3.1] on deterministic inputs). A zero spread gives 0 when
    :math:`\hat x = \bar x_G` and +inf otherwise.
    """
    rho2 = spread(honest, honest_weights) ** 2  # (...)
    err = ((out - weighted_mean(honest, honest_weights)) ** 2).sum(-1)  # (...)
    zero = rho2 == 0
    return torch.where(zero, torch.where(err == 0, 0.0, math.inf).to(err.dtype), err / torch.where(zero, 1.0, rho2))


def empirical_kappa(agg, honest: torch.Tensor, byzantine: torch.Tensor, honest_weights=None, byz_weights=None, *,
                    lam: float | None = None, center=None, generator: Stream | None = None) -> torch.Tensor:
    r"""Empirical kappa of one instance (or a batch): :func:`kappa_of` of ``agg`` on honest + Byzantine rows.

    ``honest`` (..., h, d), ``byzantine`` (..., f, d); weights as in :func:`sco.attacks.worst_case`
    (Byzantine rows default to weight one, or to the mean honest weight when honest weights
    are given); ``lam`` defaults to the Byzantine share of the weight. Returns (...).
    """
    from .aggregators import as_aggregator
    agg = as_aggregator(agg)
    weights, share = joint_weights(honest, honest_weights, byzantine.shape[-2], byz_weights)
    lam = share if lam is None else lam
    x = torch.cat([honest, byzantine], dim=-2)
    if center is None:
        center = torch.zeros(x.shape[:-2] + x.shape[-1:], dtype=x.dtype)
    out = agg(x, weights, lam=lam, center=center, generator=generator if generator is not None else Stream(0))
    return kappa_of(out, honest, honest_weights)


def worst_case_kappa(agg, honest: torch.Tensor, honest_weights=None, *, n_byz: int, generator: Stream, **search):
    """The largest empirical kappa that :func:`sco.attacks.worst_case` finds: (kappa (...), rows).

    A lower bound on the rule's true worst case (the search is a heuristic, exact for the
    coordinate-wise rules); ``search`` goes to :func:`~sco.attacks.worst_case`.
    """
    rows = worst_case(honest, honest_weights, n_byz=n_byz, generator=generator, agg=agg, **search)
    center = search.get("center")
    if center is None:
        center = weighted_mean(honest, honest_weights)
    return empirical_kappa(agg, honest, rows, honest_weights, search.get("byz_weights"), lam=search.get("lam"),
                           center=center, generator=generator.fold("worst_case", "aggregator")), rows


# -- theory: the statements of sco.rates.BOUNDS about each rule ---------------------------------------


@dataclasses.dataclass(frozen=True)
class KappaBound:
    """A theoretical robustness coefficient of a rule: its value and the statement it comes from.

    ``kind`` is "upper" (the rule is robust with this coefficient) or "lower" (no rule does
    better); ``bound`` names the :data:`sco.rates.BOUNDS` entry (for a meta-aggregator, the
    composition ``"dl24b_lemma_31(dl24b_lemma_c3)"``), ``verified`` whether every statement in
    it was transcribed from its paper.
    """

    value: float
    kind: str
    bound: str
    source: str
    provenance: str
    verified: bool
    assumptions: str


#: The statements about each base rule and meta-aggregator, the paper's printed one first.
#: Every value is read as a function of lam (f/(m - 2f) = lam/(1 - 2 lam) when lam = f/m).
RULE_BOUNDS = {
    "cwmed": ("dl24b_lemma_c3", "cwmed_kappa"),
    "geometric_median": ("dl24b_lemma_c1", "w_gm_kappa_classical"),
    "cwtm": ("cwtm_kappa",),
    "krum": ("krum_kappa",),
}
#: meta-aggregator -> (statement, the symbol holding the anchor's coefficient) pairs
META_BOUNDS = {
    "ctma": (("dl24b_lemma_31", "c_lam"), ("ctma_kappa", "kappa_base")),
    "nnm": (("nnm_kappa", "kappa_base"),),
}


def _lam(m, f, lam, owner):
    """The Byzantine fraction, from lam or from (m, f)."""
    if lam is not None:
        return _checks.real(owner, "lam", lam, low=0.0, high=0.5, high_open=True)
    if m is None or f is None:
        _checks.fail(owner, "lam", "be given, or both m and f", lam)
    m = _checks.integer(owner, "m", m, low=1)
    f = _checks.integer(owner, "f", f, low=0)
    if 2 * f >= m:
        _checks.fail(owner, "f", f"satisfy 2f < m={m}", f)
    return f / m


def lower_bound(*, m: int | None = None, f: int | None = None, lam: float | None = None) -> KappaBound:
    r"""No aggregator is robust with :math:`\kappa < \frac{f}{m-2f} = \frac{\lambda}{1-2\lambda}`
    (``BOUNDS["robustness_lower"]``), reached by :func:`indistinguishable_instance`."""
    from .rates import BOUNDS
    b = BOUNDS["robustness_lower"]
    lam = _lam(m, f, lam, "lower_bound")
    return KappaBound(float(b(lam=lam)), "lower", b.name, b.source, b.provenance, b.verified, b.assumptions)


def _base_name(rule, owner):
    name = getattr(rule, "name", rule)
    if not isinstance(name, str):
        _checks.fail(owner, "rule", "be a name or an Aggregator", rule, kind=TypeError)
    return re.sub(r"\[[^\]]*\]", "", name.replace(" ", ""))  # options do not change the statements


def kappa_bounds(rule, *, m: int | None = None, f: int | None = None, lam: float | None = None) -> list[KappaBound]:
    """Every statement known about ``rule``'s robustness coefficient, evaluated at lam.

    Base rules: :data:`RULE_BOUNDS` (DL24b's printed constant first where the paper has one).
    ``ctma(A)`` and ``nnm(A)``: each statement of :data:`META_BOUNDS` applied to each of A's.
    An empty list for rules without a statement (mean: no finite coefficient; rfa,
    multi_krum, centered_clipping, bucketing: none stated).
    """
    from .rates import BOUNDS
    owner = "kappa_bounds"
    lam = _lam(m, f, lam, owner)
    name = _base_name(rule, owner)
    outer = re.fullmatch(r"(ctma|nnm)\((.*)\)", name)
    if outer:
        out = []
        for inner in kappa_bounds(outer.group(2), lam=lam):
            for key, arg in META_BOUNDS[outer.group(1)]:
                b = BOUNDS[key]
                out.append(KappaBound(float(b(lam=lam, **{arg: inner.value})), "upper", f"{key}({inner.bound})",
                                      f"{b.source} on {inner.source}", b.provenance, b.verified and inner.verified,
                                      "; ".join(x for x in (b.assumptions, inner.assumptions) if x)))
        return out
    out = []
    for key in RULE_BOUNDS.get(name, ()):
        b = BOUNDS[key]
        out.append(KappaBound(float(b(lam=lam)), "upper", key, b.source, b.provenance, b.verified, b.assumptions))
    return out


def theoretical_kappa(rule, *, m: int | None = None, f: int | None = None, lam: float | None = None) -> KappaBound:
    """The first statement of :func:`kappa_bounds` (the paper's printed constant where there is
    one); ValueError for rules without a statement."""
    bounds = kappa_bounds(rule, m=m, f=f, lam=lam)
    if not bounds:
        _checks.fail("theoretical_kappa", "rule", f"have a stated coefficient: {sorted(RULE_BOUNDS)} or "
                     f"{sorted(META_BOUNDS)}(...) of them", _base_name(rule, "theoretical_kappa"))
    return bounds[0]


def indistinguishable_instance(m: int, f: int, d: int = 1, dtype=torch.float64):
    r"""The lower-bound instance: f rows at :math:`+e_1`, m - 2f at 0, f at :math:`-e_1`.

    Either the first m - f rows or the last m - f can be the honest set :math:`G`; their means
    are :math:`\pm\mu e_1`, :math:`\mu = \frac{f}{m-f}`, their spreads
    :math:`\rho^2 = \mu(1-\mu)`. Whatever the aggregate :math:`z`, one of the two ratios is at
    least :math:`\mu^2/\rho^2 = \frac{f}{m-2f}` (derived here, docs/theory.md; proofs_check.lower_bound). Returns
    ``x`` (m, d) and the two honest index sets.
    """
    m = _checks.integer("indistinguishable_instance", "m", m, low=1)
    f = _checks.integer("indistinguishable_instance", "f", f, low=1)
    if 2 * f >= m:
        _checks.fail("indistinguishable_instance", "f", f"satisfy 2f < m={m}", f)
    x = torch.zeros(m, d, dtype=dtype)
    x[:f, 0] = 1.0
    x[m - f:, 0] = -1.0
    return x, [torch.arange(0, m - f), torch.arange(f, m)]


def indistinguishable_kappa(agg, m: int, f: int, d: int = 1, dtype=torch.float64) -> float:
    """The larger empirical kappa of ``agg`` over the two honest sets of :func:`indistinguishable_instance`.

    At least :func:`lower_bound` for every aggregator (the rows do not tell it which set is honest).
    """
    from .aggregators import as_aggregator
    agg = as_aggregator(agg)
    x, sets = indistinguishable_instance(m, f, d, dtype)
    out = agg(x, None, lam=f / m, center=torch.zeros(d, dtype=dtype), generator=Stream(0))
    return max(float(kappa_of(out, x[g])) for g in sets)


# -- the search for the supremum over inputs ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Worst:
    """The worst instance a search found: its ratio and the rows (one instance, unbatched)."""

    kappa: float
    family: str
    honest: torch.Tensor
    byzantine: torch.Tensor
    honest_weights: torch.Tensor | None
    byz_weights: torch.Tensor | None

    def to_dict(self) -> dict:
        """The instance as lists (for a report)."""
        def lst(v):
            return None if v is None else v.tolist()
        return {"kappa": self.kappa, "family": self.family, "honest": lst(self.honest),
                "byzantine": lst(self.byzantine), "honest_weights": lst(self.honest_weights),
                "byz_weights": lst(self.byz_weights)}


def honest_families(h: int, f: int, d: int, lam: float, *, weighted: bool, generator: Stream):
    r"""The honest inputs the search starts from: name -> (rows (B, h, d), weights (B, h) or None),
    with B = len(generator) random instances per random family.

    * ``gaussian``: standard normal rows; weighted with lognormal weights (log-sd 1);
    * ``clusters``: two balanced clusters at :math:`\pm e_1`, where coordinate-wise medians are worst;
    * ``two_point``: mass p at :math:`e_1` and 1 - p at 0 with p just above the split
      :math:`p^\star = \frac{1 - 2\lambda}{2(1 - \lambda)}` at which a Byzantine share lam moves a
      median across the gap (Cantelli's extremal law; the supremum of w-CWMed's ratio,
      ``BOUNDS["cwmed_exact_sup"]``); unweighted, k of the h rows at :math:`e_1` for every k;
    * ``light_extreme`` (weighted): h - 1 rows at 0 of weight 1 and one at :math:`e_1` of weight
      0.05, where a rule that ignores the weights is far off;
    * ``construction``: each of the two honest sets of :func:`indistinguishable_instance`
      (the lower-bound instance, with the Byzantine rows left to the search); weighted, honest
      mass lam at :math:`e_1` and 1 - 2 lam at 0, and its mirror.
    """
    dt = torch.float64
    g = generator.fold("families")
    out = {"gaussian": (g.fold("gaussian").normal((h, d), dtype=dt),
                        torch.exp(g.fold("weights").normal((h,), dtype=dt)) if weighted else None)}
    side = torch.where(torch.arange(h) % 2 == 0, 1.0, -1.0).to(dt)[None, :, None]
    clusters = side + 0.05 * g.fold("clusters").normal((h, d), dtype=dt)
    out["clusters"] = (clusters, out["gaussian"][1])
    e1 = torch.zeros(h, d, dtype=dt)
    if weighted:
        # a heavy center and one light honest row at e_1: a rule that ignores the weights sees the
        # light row (and the light Byzantine ones) as a share of the count, and moves to it
        heavy = torch.zeros(h, d, dtype=dt)
        heavy[-1, 0] = 1.0
        out["light_extreme"] = (heavy[None], torch.where(torch.arange(h) == h - 1, 0.05, 1.0).to(dt)[None])
        k = max(1, h // 2)
        p_star = (1 - 2 * lam) / (2 * (1 - lam))
        ps = torch.tensor([p_star * (1 + 1e-6), p_star * (1 + 1e-3), p_star * 1.02, p_star * 1.1], dtype=dt)
        rows = e1.clone()
        rows[:k, 0] = 1.0
        w = torch.where(torch.arange(h) < k, ps[:, None] / k, (1 - ps[:, None]) / (h - k))  # (4, h)
        out["two_point"] = (rows.expand(len(ps), h, d).clone(), w)
        # the lower-bound instance in weights: honest mass lam at e_1 and 1 - 2 lam at 0 (or its
        # mirror at -e_1), the Byzantine mass lam left to the search
        k = max(1, h // 4)
        rows = e1.clone()
        rows[:k, 0] = 1.0
        w = torch.where(torch.arange(h) < k, lam / k, (1 - 2 * lam) / (h - k)).to(dt)
        out["construction"] = (torch.stack([rows, -rows]), torch.stack([w, w]))
    else:
        ks = torch.arange(1, h)
        rows = torch.zeros(len(ks), h, d, dtype=dt)
        rows[..., 0] = (torch.arange(h)[None] < ks[:, None]).to(dt)
        out["two_point"] = (rows, None)
        if 2 * f < h + f:
            x, sets = indistinguishable_instance(h + f, f, d)
            out["construction"] = (torch.stack([x[s] for s in sets]), None)
    return out


def search_sup(agg, *, h: int, f: int, d: int, lam: float, weighted: bool, generator: Stream, steps: int = 20,
               radius: float = 100.0, center=None) -> Worst:
    """The largest ratio (:func:`kappa_of`) over :func:`honest_families` with the Byzantine rows
    searched by :func:`sco.attacks.worst_case` through ``agg``: a lower estimate of the rule's
    supremum over inputs.

    Weighted, the f Byzantine rows share exactly a ``lam`` fraction of the total weight (each
    ``lam / (1 - lam) * S_G / f``); unweighted, lam is f/(h + f). ``center`` (centered
    clipping's) is a fixed point (default 0), not the honest mean, so that the rule is a
    function of its inputs and the lower bound applies to it. The Byzantine rows stay within
    ``radius`` honest spreads of the honest mean, so an unbounded rule (the mean) shows a ratio
    of order (lam radius)^2.
    """
    best = None
    for name, (honest, hw) in honest_families(h, f, d, lam, weighted=weighted, generator=generator).items():
        B = honest.shape[0]
        bw = None if hw is None else (lam / (1 - lam) * hw.sum(-1, keepdim=True) / f).expand(B, f)
        c = torch.zeros(B, d, dtype=honest.dtype) if center is None else center.expand(B, d)
        gen = generator.fold("search", name)[torch.arange(B) % len(generator)]  # one key per instance
        kap, rows = worst_case_kappa(agg, honest, hw, n_byz=f, generator=gen, lam=lam, byz_weights=bw, steps=steps,
                                     radius=radius, center=c)
        kap = torch.nan_to_num(kap, nan=math.inf)
        j = int(kap.argmax())
        if best is None or float(kap[j]) > best.kappa:
            best = Worst(float(kap[j]), name, honest[j], rows[j], None if hw is None else hw[j],
                         None if bw is None else bw[j])
    return best

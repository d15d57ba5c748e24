"""Exact subset rules by enumeration: minimum-diameter averaging (MDA), smallest maximum eigenvalue averaging (SMEA)."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import torch

from .. import _checks
from ._core import byzantine_mass, check_lam, check_weights, check_x, combine, dispatch, unit_weights
from ._kernels import pairwise_sqdist

MAX_SUBSETS = 100_000
"""Default limit on the number of subsets MDA and SMEA enumerate (C(m, f) unweighted)."""

# subsets scored per chunk: R * chunk * k^2 doubles stay near 2^24 (128 MB)
_CHUNK_ELEMENTS = 1 << 24


@functools.lru_cache(maxsize=32)
def _combinations(m: int, k: int) -> torch.Tensor:
    """All k-subsets of range(m) in lexicographic order (itertools' order, as ByzFL enumerates): (C(m, k), k)."""
    flat = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(m), k)), dtype=np.int64,
                       count=math.comb(m, k) * k)
    return torch.from_numpy(flat.reshape(-1, k))


def _sizes(w: torch.Tensor | None, lam: float, m: int) -> tuple[range, torch.Tensor | None, torch.Tensor | None]:
    """Subset sizes to enumerate, the kept mass M = (1 - lam) S (...) and the tolerance on it.

    Unweighted the subsets have m - floor(lam m) rows (m - f). Weighted they are the *minimal*
    subsets T carrying at least M: ``s(T) >= M`` and ``s(T) - min_{i in T} s_i < M``; their
    sizes run from the fewest heaviest rows reaching M to one more than the most lightest
    positive rows staying below M.
    """
    if w is None:
        F = float(byzantine_mass(lam, torch.tensor(float(m), dtype=torch.float64)))
        k = m - math.floor(F)
        return range(k, k + 1), None, None
    S = w.sum(-1)  # (...)
    M = S - byzantine_mass(lam, S)
    tol = 64 * torch.finfo(torch.float64).eps * S
    heavy = torch.cumsum(w.sort(-1, descending=True).values, -1)  # (..., m)
    k_lo = int(((heavy < (M - tol).unsqueeze(-1)).sum(-1) + 1).min())
    light = torch.cumsum(torch.where(w > 0, w, math.inf).sort(-1).values, -1)
    k_hi = int(((light < (M - tol).unsqueeze(-1)).sum(-1) + 1).clamp(max=m).max())
    return range(k_lo, k_hi + 1), M, tol


def _best_subset(owner: str, x, w, lam: float, score, max_subsets: int):
    """Coefficients (..., 1, m) of the (weighted) mean of the subset minimizing ``score``, and the bad rows (..., m).

    ``score(D, idx)`` gets the squared-distance matrix D (R, m, m) (bad rows' entries set to
    0) and a chunk of subsets ``idx`` (K, k) and returns the criterion (R, K). Subsets holding a
    non-finite row score +inf; weighted, non-minimal subsets (see :func:`_sizes`) too. Ties go to
    the first subset in (size, lexicographic) order, as ByzFL's strict ``<`` scan.
    """
    batch, m = x.shape[:-2], x.shape[-2]
    sizes, M, tol = _sizes(w, lam, m)
    count = sum(math.comb(m, k) for k in sizes)
    if count > max_subsets:
        f = m - sizes.start
        _checks.fail(owner, "lam", f"leave at most max_subsets={max_subsets} subsets to enumerate; "
                     f"C(m, f) = C({m}, {f}) gives {count} with m={m} workers", lam,
                     hint=f"{owner} is exact by enumeration (cost grows as C(m, f)): pass max_subsets=... to "
                     "allow more, or use a polynomial-time rule (cwtm, ctma, nnm).")
    D, bad, _ = pairwise_sqdist(x)  # (..., m, m) in units of a per-row scale^2, which orders subsets alike
    R = math.prod(batch)
    D = D.reshape(R, m, m).to(torch.float64)
    bad = bad.reshape(R, m)
    D = torch.where(bad.unsqueeze(-1) | bad.unsqueeze(-2), 0.0, D)
    ww = unit_weights(x).reshape(R, m) if w is None else w.reshape(R, m)
    if M is not None:
        M, tol = M.reshape(R, 1), tol.reshape(R, 1)
    best = torch.full((R,), math.inf, dtype=torch.float64, device=x.device)
    best_set = torch.zeros((R, m), dtype=torch.bool, device=x.device)
    for k in sizes:
        subsets = _combinations(m, k).to(x.device)
        step = max(1, _CHUNK_ELEMENTS // (R * k * k))
        for lo in range(0, len(subsets), step):
            idx = subsets[lo:lo + step]  # (K, k)
            crit = score(D, idx)  # (R, K)
            crit = torch.where(bad[:, idx].any(-1), math.inf, crit)
            if M is not None:
                sw = ww[:, idx]  # (R, K, k)
                tot = sw.sum(-1)
                minimal = (tot >= M - tol) & (tot - sw.amin(-1) < M - tol)
                crit = torch.where(minimal, crit, math.inf)
            val, j = crit.min(-1)  # the first minimum within the chunk
            better = val < best  # strict: an earlier chunk or size keeps its tie
            best = torch.where(better, val, best)
            chosen = torch.zeros((R, m), dtype=torch.bool, device=x.device).scatter_(-1, idx[j], True)
            best_set = torch.where(better.unsqueeze(-1), chosen, best_set)
    c = torch.where(best_set, ww, 0.0)
    c = c / c.sum(-1, keepdim=True)
    return c.reshape(*batch, 1, m), bad.reshape(*batch, m)


def _diameter(D: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Largest squared distance within each subset: (R, m, m), (K, k) -> (R, K)."""
    return D[:, idx.unsqueeze(-1), idx.unsqueeze(-2)].amax((-2, -1))


def _top_eigenvalue(D: torch.Tensor, idx: torch.Tensor, ww: torch.Tensor) -> torch.Tensor:
    r"""Largest eigenvalue of each subset's (weighted) covariance, from squared distances alone.

    With :math:`p = s_T / s(T)` and :math:`J = I - \mathbf 1 p^\top`, the centered Gram matrix
    is :math:`B = -\tfrac12 J D_T J^\top` (classical scaling), and the covariance
    :math:`\sum_{i \in T} p_i (x_i - \mu_T)(x_i - \mu_T)^\top` has the nonzero eigenvalues of
    :math:`P^{1/2} B P^{1/2}` (k x k), whatever d is.
    """
    DT = D[:, idx.unsqueeze(-1), idx.unsqueeze(-2)]  # (R, K, k, k)
    p = ww[:, idx]
    p = p / p.sum(-1, keepdim=True)  # (R, K, k)
    Dp = DT @ p.unsqueeze(-1)  # (R, K, k, 1)
    pDp = (p.unsqueeze(-2) @ Dp).squeeze(-1)  # (R, K, 1)
    B = -0.5 * (DT - Dp - Dp.mT + pDp.unsqueeze(-1))  # (R, K, k, k)
    sp = p.sqrt()
    return torch.linalg.eigvalsh(sp.unsqueeze(-1) * B * sp.unsqueeze(-2))[..., -1]


def mda(x: torch.Tensor, weights: torch.Tensor | None = None, *, lam: float,
        max_subsets: int = MAX_SUBSETS) -> torch.Tensor:
    r"""Minimum-diameter averaging [EGG+20]: the mean of the m - f rows of smallest diameter.

    .. math::

        S^\star \in \arg\min_{S \subset [m],\ |S| = m - f}\ \max_{i, j \in S} \|x_i - x_j\|,
        \qquad \mathrm{MDA}(x) = \frac{1}{m - f} \sum_{i \in S^\star} x_i

    exact, by enumerating the :math:`\binom{m}{f}` subsets; ``x`` (..., m, d), ``lam`` = f/m
    (:math:`m - \lfloor \lambda m \rfloor` rows are kept). The minimizer is often not unique
    (one pair sets a subset's diameter, and rows within that diameter of the rest can be
    swapped): ties go to the first subset in lexicographic order, as ByzFL's scan of
    ``itertools.combinations``, so the output is permutation-invariant only up to such ties
    (the diameter is invariant, the chosen mean may not be). Raises ValueError when
    more than ``max_subsets`` (default :data:`MAX_SUBSETS` = 100 000) subsets would be
    enumerated: (m, f) = (17, 4) gives 2380, (25, 6) 177 100, (30, 7) 2 035 800.

    Weighted (ours, docs/theory.md; no paper defines it): :math:`S^\star` minimizes the diameter over the *minimal*
    subsets carrying at least :math:`(1-\lambda)S` of the weight (no row can leave without the
    subset dropping below it; the diameter never shrinks when a row is added, so the minimum
    over all subsets carrying that weight is the same), and the output is their weighted mean.
    Uniform weights give the unweighted rule exactly; zero weight is removal; integer weights
    are *not* replication (a subset of replicas may split a row). The weighted sizes
    :math:`k` enumerated are all those a minimal subset can have, counted against ``max_subsets``.

    Guarantee: El Mhamdi et al. [EGG+20] use MDA as a Byzantine-resilient rule for
    :math:`m > 2f`; no (f, kappa) coefficient is recalled here (none used). Selection: a row
    holding NaN/inf, or whose distances overflow, is at infinite distance from the others, so
    any subset holding it has infinite diameter and the output avoids it while at most f rows
    (``lam`` of the weight) are such.

    .. note::
        ByzFL's ``MDA(f)`` [ByzFL, aggregators.py] is this rule (Euclidean ``cdist``; we compare
        squared distances from the Gram form, the same order up to rounding ties).
    """
    x = check_x("mda", x)
    w = check_weights("mda", weights, x)
    lam = check_lam("mda", lam)
    max_subsets = _checks.integer("mda", "max_subsets", max_subsets, low=1)

    def compute(x, w):
        c, bad = _best_subset("mda", x, w, lam, _diameter, max_subsets)
        return combine(c, x, bad).squeeze(-2)

    return dispatch(compute, x, w)


def smea(x: torch.Tensor, weights: torch.Tensor | None = None, *, lam: float,
         max_subsets: int = MAX_SUBSETS) -> torch.Tensor:
    r"""Smallest maximum eigenvalue averaging [AGG+23]: the mean of the m - f rows of least spread.

    .. math::

        S^\star \in \arg\min_{|S| = m - f} \lambda_{\max}\Big(\frac{1}{|S|}\sum_{i \in S}
        (x_i - \bar x_S)(x_i - \bar x_S)^\top\Big), \qquad \mathrm{SMEA}(x) = \bar x_{S^\star}

    exact: every subset's top eigenvalue comes from its (m - f) x (m - f) centered Gram
    matrix (``torch.linalg.eigvalsh``, see :func:`_top_eigenvalue`), for
    :math:`\binom{m}{f}` subsets, with the limit ``max_subsets`` of :func:`mda`. ``x``
    (..., m, d), ``lam`` = f/m. Ties go to the first subset in lexicographic order.

    Weighted (ours, docs/theory.md): the minimal subsets carrying at least :math:`(1-\lambda)S` (as :func:`mda`;
    here the restriction to minimal subsets matters: adding a row near the mean can lower the
    top eigenvalue, and without it uniform weights would not give the classic rule), scored by
    the top eigenvalue of their weighted covariance; the output is their weighted mean. Uniform
    weights give the unweighted rule exactly, zero weight is removal, integer weights are not
    replication.

    Guarantee: [AGG+23] show SMEA is (f, kappa)-robust for the spectral-norm version of
    robustness with kappa of order f/m (recalled, [R]: the constant and the proposition number
    were not checked against the paper). Subsets holding a non-finite row score +inf, so the
    output is finite while at most f rows (``lam`` of the weight) are non-finite.

    .. note::
        ByzFL's ``SMEA(f)`` [ByzFL, aggregators.py] scores each subset with *one* power-iteration
        step from a fresh random vector (``np.random.randn``), :math:`\|S\,\Sigma_S v\|` with
        :math:`S = m - f`, a random lower bound on :math:`S\lambda_{\max}`; its choice is random
        in d > 1 (its own 3-row docstring example is a tie it breaks at random). Here the
        eigenvalue is exact; in d = 1 the two agree.
    """
    x = check_x("smea", x)
    w = check_weights("smea", weights, x)
    lam = check_lam("smea", lam)
    max_subsets = _checks.integer("smea", "max_subsets", max_subsets, low=1)

    def compute(x, w):
        ww = (unit_weights(x) if w is None else w).reshape(-1, x.shape[-2])
        c, bad = _best_subset("smea", x, w, lam, lambda D, idx: _top_eigenvalue(D, idx, ww), max_subsets)
        return combine(c, x, bad).squeeze(-2)

    return dispatch(compute, x, w)

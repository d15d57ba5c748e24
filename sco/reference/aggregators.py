"""The papers' definitions of the aggregators, as plain numpy loops over one instance (no sco code).

These are the slow references the fast, batched rules are checked against: by the tests, and by
the ``aggregator_definitions`` claim of ``sco verify``. Written for clarity, not speed.
"""

from __future__ import annotations

import numpy as np

# x: (m, d) float64 array of rows, w: (m,) nonnegative weights or None (all ones), lam:
# Byzantine fraction of the total weight.


def _w(x, w):
    return np.ones(len(x)) if w is None else np.asarray(w, dtype=float)


def _byz(lam, S):
    F = lam * S
    return round(F) if abs(F - round(F)) <= 1e-12 * max(S, 1) else F


def ref_mean(x, w=None):
    w = _w(x, w)
    keep = w > 0
    return (w[keep, None] * x[keep]).sum(0) / w[keep].sum()


def ref_cwmed(x, w=None, mode="interpolate"):
    """Per coordinate: sort the values, walk the cumulative weight, pick by the mode's rule."""
    w = _w(x, w)
    m, d = x.shape
    out = np.empty(d)
    for k in range(d):
        order = sorted(range(m), key=lambda i: x[i, k])
        S = w.sum()
        cum, lower, upper = 0.0, None, None
        for i in order:
            if w[i] == 0:
                continue
            cum += w[i]
            if lower is None and 2 * cum >= S:
                lower = x[i, k]
            if upper is None and 2 * cum > S:
                upper = x[i, k]
        out[k] = {"lower": lower, "upper": upper, "interpolate": (lower + upper) / 2}[mode]
    return out


def ref_cwtm(x, w=None, lam=0.0):
    """Per coordinate: trim weight lam*S from each end of the sorted values, average the rest."""
    w = _w(x, w)
    m, d = x.shape
    S = w.sum()
    F = _byz(lam, S)
    out = np.empty(d)
    for k in range(d):
        order = sorted(range(m), key=lambda i: x[i, k])
        cum, acc = 0.0, 0.0
        for i in order:
            lo, hi = cum, cum + w[i]
            share = max(0.0, min(hi, S - F) - max(lo, F))
            if share > 0:
                acc += share * x[i, k]
            cum = hi
        out[k] = acc / (S - 2 * F)
    return out


def ref_geometric_median(x, w=None):
    """argmin_z sum_i w_i ||z - x_i||: cvxpy (Clarabel, interior point) to ~1e-6, then polished
    by the plain Weiszfeld loop to a fixed point (the conic solver alone stops ~1e-6 away)."""
    import cvxpy as cp
    w = _w(x, w)
    keep = w > 0
    z = cp.Variable(x.shape[1])
    cost = sum(wi * cp.norm(z - xi) for wi, xi in zip(w[keep], x[keep]))
    cp.Problem(cp.Minimize(cost)).solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10,
                                        tol_feas=1e-10)
    z = np.asarray(z.value)
    for _ in range(20000):
        z_new = ref_weiszfeld(x, w, z0=z, steps=1, nu=1e-300)
        if np.abs(z_new - z).max() <= 1e-15 * (1 + np.abs(z).max()):
            break
        z = z_new
    return z


def ref_weiszfeld(x, w=None, *, z0, steps, nu):
    """The plain smoothed Weiszfeld loop for a fixed number of steps (RFA)."""
    w = _w(x, w)
    z = np.array(z0, dtype=float)
    for _ in range(steps):
        num, den = np.zeros_like(z), 0.0
        for xi, wi in zip(x, w):
            beta = wi / max(np.sqrt(((z - xi) ** 2).sum()), nu)
            num += beta * xi
            den += beta
        z = num / den
    return z


def _nearest_mass(dists, w, mass):
    """Coefficients taking rows in (distance, index) order until their weight reaches mass."""
    c = np.zeros(len(dists))
    left = mass
    for i in sorted(range(len(dists)), key=lambda i: (dists[i], i)):
        take = min(w[i], max(left, 0.0))
        c[i] = take
        left -= take
    return c


def _krum_scores(x, w, lam, off):
    m = len(x)
    S = w.sum()
    mp = (w > 0).sum()
    K = (S - _byz(lam, S)) - off * S / mp
    scores = np.empty(m)
    for i in range(m):
        d2 = np.array([((x[i] - x[j]) ** 2).sum() for j in range(m)])
        wo = w.copy()
        wo[i] = 0.0
        c = _nearest_mass(d2, wo, K)
        scores[i] = (c * d2).sum() if w[i] > 0 else np.inf
    return scores


def ref_krum(x, w=None, lam=0.0, neighbors="blanchard"):
    """Brute force over all rows: the squared distances to every other row, sorted."""
    w = _w(x, w)
    scores = _krum_scores(x, w, lam, {"blanchard": 2, "byzfl": 1}[neighbors])
    return x[int(np.argmin(scores))].copy()


def ref_krum_unweighted(x, f, neighbors="blanchard"):
    """Textbook Krum [BEGS17]: sum over the m - f - 2 (or - 1) nearest other rows."""
    m = len(x)
    k = m - f - {"blanchard": 2, "byzfl": 1}[neighbors]
    best, arg = np.inf, None
    for i in range(m):
        d2 = sorted(((x[i] - x[j]) ** 2).sum() for j in range(m) if j != i)
        score = sum(d2[:k])
        if score < best:
            best, arg = score, i
    return x[arg].copy()


def ref_multi_krum(x, w=None, lam=0.0, q=None, neighbors="blanchard"):
    w = _w(x, w)
    scores = _krum_scores(x, w, lam, {"blanchard": 2, "byzfl": 1}[neighbors])
    S = w.sum()
    Q = S - _byz(lam, S) if q is None else min(q * S / (w > 0).sum(), S)
    c = _nearest_mass(scores, w, Q)
    return (c[:, None] * x).sum(0) / Q


def ref_centered_clipping(x, w=None, *, center, tau, iters):
    w = _w(x, w)
    v = np.array(center, dtype=float)
    for _ in range(iters):
        step = np.zeros_like(v)
        for xi, wi in zip(x, w):
            u = xi - v
            n = np.sqrt((u ** 2).sum())
            step += wi * u * (min(1.0, tau / n) if n > 0 else 1.0)
        v = v + step / w.sum()
    return v


def ref_ctma(x, w=None, lam=0.0, *, anchor, ties="paper"):
    """Sort the rows by distance to the anchor, keep weight (1 - lam) S, average."""
    w = _w(x, w)
    S = w.sum()
    M = S - _byz(lam, S)
    r = np.array([np.sqrt(((xi - anchor) ** 2).sum()) for xi in x])
    if ties == "paper":
        c = _nearest_mass(r, w, M)
        return (c[:, None] * x).sum(0) / M
    c = _nearest_mass(r, w, M)
    threshold = max(r[i] for i in range(len(x)) if c[i] > 0)
    out = np.array(anchor, dtype=float)
    for i in range(len(x)):
        if r[i] <= threshold and w[i] > 0:
            out += w[i] * (x[i] - anchor) / M
    return out


def ref_nnm_rows(x, w=None, lam=0.0):
    """Each row replaced by the average of its nearest rows (itself first) up to weight (1 - lam) S."""
    w = _w(x, w)
    S = w.sum()
    M = S - _byz(lam, S)
    y = np.empty_like(x)
    for i in range(len(x)):
        d2 = np.array([((x[i] - xj) ** 2).sum() for xj in x])
        c = _nearest_mass(d2, w, M)
        y[i] = (c[:, None] * x).sum(0) / M
    return y


def ref_bucket_means(x, w, perm, s):
    """Buckets of s consecutive rows of x[perm] (the last may be smaller): means and weights."""
    w = _w(x, w)
    means, weights = [], []
    for b in range(0, len(x), s):
        idx = perm[b:b + s]
        W = w[idx].sum()
        means.append((w[idx, None] * x[idx]).sum(0) / W if W > 0 else np.zeros(x.shape[1]))
        weights.append(W)
    return np.array(means), np.array(weights)

__all__ = ["ref_mean", "ref_cwmed", "ref_cwtm", "ref_geometric_median", "ref_weiszfeld", "ref_krum", "ref_krum_unweighted", "ref_multi_krum", "ref_centered_clipping", "ref_ctma", "ref_nnm_rows", "ref_bucket_means"]

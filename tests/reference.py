"""Slow, independent references (plain numpy loops, one instance at a time, no sco code) for the tests."""

from __future__ import annotations

import itertools

import numpy as np

# =============================================================================================
# aggregators
# =============================================================================================
# x: (m, d) float64 array of rows, w: (m,) nonnegative weights or None (all ones), lam:
# Byzantine fraction of the total weight. Written for clarity, not speed; each section of this
# file belongs to one part of the library.


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


# -- the rest of ByzFL's catalogue, MoNNA, the Flag Aggregator (tests/test_catalogue.py) ----------


def _bad_rows(x):
    return [not np.all(np.isfinite(xi)) or not np.isfinite((xi.astype(float) ** 2).sum()) for xi in x]


def _minimal_subsets(w, lam):
    """Index tuples in (size, lexicographic) order: the subsets of m - floor(lam m) rows unweighted,
    else every subset T with s(T) >= M > s(T) - min_T s, M = (1 - lam) S."""
    m = len(w)
    S = w.sum()
    M = S - _byz(lam, S)
    tol = 1e-12 * S
    out = []
    for k in range(1, m + 1):
        for T in itertools.combinations(range(m), k):
            tot = sum(w[i] for i in T)
            if tot >= M - tol and tot - min(w[i] for i in T) < M - tol:
                out.append(T)
    return out


def _subset_rule(x, w, lam, criterion):
    w = _w(x, w)
    bad = _bad_rows(x)
    best, arg = np.inf, None
    for T in _minimal_subsets(w, lam):
        val = np.inf if any(bad[i] for i in T) else criterion(x, w, T)
        if val < best:
            best, arg = val, T
    return sum(w[i] * x[i] for i in arg) / sum(w[i] for i in arg)


def ref_mda(x, w=None, lam=0.0):
    """Brute force over every minimal subset: the largest pairwise distance, by plain loops."""
    def diameter(x, w, T):
        return max((np.sqrt(((x[i] - x[j]) ** 2).sum()) for i in T for j in T), default=0.0)
    return _subset_rule(x, w, lam, diameter)


def ref_smea(x, w=None, lam=0.0):
    """Brute force over every minimal subset: the top eigenvalue of its d x d weighted covariance."""
    def top(x, w, T):
        W = sum(w[i] for i in T)
        mu = sum(w[i] * x[i] for i in T) / W
        cov = sum(w[i] * np.outer(x[i] - mu, x[i] - mu) for i in T) / W
        return np.linalg.eigvalsh(cov)[-1]
    return _subset_rule(x, w, lam, top)


def ref_meamed(x, w=None, lam=0.0, mode="interpolate"):
    """Per coordinate: the weighted median, then the values nearest it up to weight (1 - lam) S,
    taken in (distance, value, index) order."""
    w = _w(x, w)
    x = np.nan_to_num(x, nan=np.inf)
    med = ref_cwmed(x, w, mode)
    S = w.sum()
    M = S - _byz(lam, S)
    out = np.empty(x.shape[1])
    for k in range(x.shape[1]):
        order = sorted(range(len(x)), key=lambda i: (abs(x[i, k] - med[k]), x[i, k], i))
        left, acc = M, 0.0
        for i in order:
            take = min(w[i], max(left, 0.0))
            if take > 0:
                acc += take * x[i, k]
            left -= take
        out[k] = acc / M
    return out


def ref_caf(x, w=None, lam=0.0, tau_max="active", max_iter=None):
    """The filter loop in d dimensions: weighted covariance, numpy's eigh, multiplicative downweighting."""
    w = _w(x, w)
    bad = _bad_rows(x)
    S = w.sum()
    stop = S - 2 * _byz(lam, S)
    c = np.array([0.0 if bad[i] else w[i] for i in range(len(x))])
    good = [i for i in range(len(x)) if not bad[i]]
    best, best_c = np.inf, c.copy()
    steps = itertools.count() if max_iter is None else range(max_iter)
    for _ in steps:
        if c.sum() <= stop:
            break
        mu = sum(c[i] * x[i] for i in good) / c.sum()
        cov = sum(c[i] * np.outer(x[i] - mu, x[i] - mu) for i in good) / c.sum()
        vals, vecs = np.linalg.eigh(cov)
        top, v = vals[-1], vecs[:, -1]
        if top < best:
            best, best_c = top, c.copy()
        tau = {i: float((x[i] - mu) @ v) ** 2 for i in good}
        pool = [i for i in good if (c[i] > 0 if tau_max == "active" else w[i] > 0)]
        tmax = max(tau[i] for i in pool)
        if top <= 0 or tmax <= 0:
            break
        for i in good:
            c[i] = c[i] * min(1.0, max(0.0, 1 - tau[i] / tmax))
    return sum(best_c[i] * x[i] for i in good) / best_c.sum()


def ref_monna(x, w=None, lam=0.0, idx=0):
    """The rows nearest to row idx (itself first) up to weight (1 - lam) S, averaged."""
    w = _w(x, w)
    S = w.sum()
    M = S - _byz(lam, S)
    dist = [np.sqrt(((xi - x[idx]) ** 2).sum()) if np.all(np.isfinite(xi)) else np.inf for xi in x]
    c = _nearest_mass(dist, w, M)
    return sum(c[i] * x[i] for i in range(len(x)) if c[i] > 0) / M


def ref_flag(x, w=None, r=1, iters=100, eps=1e-7, tol=1e-13):
    """FlagIRLS in d dimensions: Y = top-r eigenvectors of sum_i a_i xh_i xh_i^T, with
    a_i = s_i / sqrt(1 - |Y^T xh_i|^2 + eps), from a = s; output (m_+ / (r S)) sum_i s_i Y Y^T xh_i."""
    w = _w(x, w).copy()
    xh = np.zeros_like(x, dtype=float)
    for i, xi in enumerate(x):
        if np.all(np.isfinite(xi)) and np.abs(xi).max() > 0:
            z = xi / np.abs(xi).max()
            xh[i] = z / np.sqrt((z ** 2).sum())
        else:
            w[i] = 0.0

    def fit(a):
        A = sum(ai * np.outer(v, v) for ai, v in zip(a, xh))
        vals, vecs = np.linalg.eigh(A)
        keep = [j for j in range(len(vals) - r, len(vals)) if vals[j] > 1e-12 * max(vals[-1], 1e-300)]
        Y = vecs[:, keep]
        q = np.array([min(1.0, ((Y.T @ v) ** 2).sum()) for v in xh])
        return Y, q

    def objective(q):
        return sum(wi * np.sqrt(1 - qi + eps) for wi, qi in zip(w, q))

    Y, q = fit(w)
    obj = objective(q)
    for _ in range(iters):
        Y_new, q_new = fit(w / np.sqrt(1 - q + eps))
        new = objective(q_new)
        Y, q = Y_new, q_new
        if obj - new <= tol * abs(obj):
            break
        obj = new
    v = sum(wi * xi for wi, xi in zip(w, xh))
    return (w > 0).sum() / (r * w.sum()) * (Y @ (Y.T @ v))


def ref_arc_rows(x, w=None, lam=0.0):
    """ARC's clipped rows: in non-increasing norm order (ties by index), the rows whose cumulative
    weight stays within K = 2F(S - F)/S are clipped to the norm of the first row beyond it."""
    w = _w(x, w)
    S = w.sum()
    F = _byz(lam, S)
    K = 2 * F * (S - F) / S
    K = round(K) if abs(K - round(K)) <= 1e-12 * S else K
    norms = [np.sqrt((xi ** 2).sum()) if np.all(np.isfinite(xi)) else np.inf for xi in x]
    order = sorted(range(len(x)), key=lambda i: (-norms[i], i))
    cum, threshold = 0.0, None
    for i in order:
        cum += w[i]
        if cum > K + 1e-12 * S:
            threshold = norms[i]
            break
    return ref_clipping_rows(x, threshold)


def ref_clipping_rows(x, c):
    """Every finite row scaled to norm at most c; non-finite rows unchanged (weights do not enter)."""
    out = np.array(x, dtype=float)
    for i, xi in enumerate(x):
        n = np.sqrt((xi ** 2).sum())
        if np.all(np.isfinite(xi)) and n > c:
            out[i] = xi * (c / n)
    return out


def ref_optimal_attack(honest, agg, n_byz, kind, evals=20, start=0.0, delta=10.0, ratio=0.8):
    """ByzFL's Optimal_IPM / Optimal_ALIE as written there, phase by phase, for one instance;
    ``agg(x)`` is a numpy aggregator over honest + Byzantine rows. Returns the Byzantine row."""
    mu = honest.mean(0)
    sd = honest.std(0, ddof=1)

    def row(tau):
        return -tau * mu if kind == "ipm" else mu + tau * sd

    def value(tau):
        x = np.vstack([honest] + [row(tau)] * n_byz)
        return float(np.sqrt(((agg(x) - mu) ** 2).sum()))

    best_x, best_y = start, value(start)
    left = evals - 1
    while left > 0:  # expansion
        prop = best_x + delta
        y = value(prop)
        left -= 1
        if y > best_y:
            best_x, best_y = prop, y
            delta *= 2
        else:
            delta *= ratio
            break
    while left > 0:  # contraction
        prop = best_x + delta
        y = value(prop)
        left -= 1
        if y > best_y:
            best_x, best_y = prop, y
        delta *= ratio
    return row(best_x)

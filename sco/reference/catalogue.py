"""References for the rest of ByzFL's catalogue, MoNNA and the Flag Aggregator: plain loops over one instance."""

from __future__ import annotations

import itertools

import numpy as np

from .aggregators import _byz, _nearest_mass, _w, ref_cwmed


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

__all__ = ["ref_mda", "ref_smea", "ref_meamed", "ref_caf", "ref_monna", "ref_flag", "ref_arc_rows", "ref_clipping_rows"]

"""The one bootstrap over seeds (clusters = seed rows) that every interval of sco uses, and its input checks."""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import ndtr, ndtri
from scipy.stats import t as student_t

from .. import _checks
from ..random import Stream

METHODS = ("bca", "percentile")

class _Shape:
    """Shown in error messages instead of a whole array."""

    def __init__(self, a):
        self.text = f"array of shape {tuple(np.shape(a))}"

    def __repr__(self):
        return self.text


def _array(owner, name, v, *, ndim=None) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().to(torch.float64).numpy()
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        _checks.fail(owner, name, "be an array of real numbers (list, numpy array or torch tensor)", v,
                     kind=TypeError)
    if ndim is not None and a.ndim not in ndim:
        _checks.fail(owner, name, f"have {' or '.join(map(str, ndim))} dimension(s)", _Shape(a))
    return a


def _mask(owner, mask, k):
    used = np.ones(k, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if used.shape != (k,):
        _checks.fail(owner, "mask", f"be a boolean array of shape (n_grid,) = ({k},)", _Shape(used))
    return used


def _table(owner, x, y, seeds, baseline=None, deterministic: bool = False):
    """Grid values (k,) and a (n_seeds, k) table of y - baseline, NaN where a seed lacks a point."""
    x = _array(owner, "x", x, ndim=(1,))
    y = _array(owner, "y", y, ndim=(1, 2))
    if seeds is None:
        if y.ndim == 1:
            _checks.fail(owner, "y", f"have shape (n_seeds, n_grid) with n_grid=len(x)={len(x)}", _Shape(y),
                         "One row per seed is needed for a bootstrap interval; for long-form data "
                         "pass the seed of each value as seeds=.")
        if y.shape[1] != len(x):
            _checks.fail(owner, "y", f"have shape (n_seeds, n_grid) with n_grid=len(x)={len(x)}", _Shape(y))
        if not np.isfinite(y).all():
            _checks.fail(owner, "y", "hold finite values", _Shape(y),
                         f"{int((~np.isfinite(y)).sum())} value(s) are inf or NaN; a diverged run is a "
                         "result to report, not to drop silently.")
        if len(np.unique(x)) != len(x):
            _checks.fail(owner, "x", "hold distinct grid values (one column of y each)", _Shape(x))
        xg, table = x, y
    else:
        seeds = np.asarray(seeds.detach().cpu() if isinstance(seeds, torch.Tensor) else seeds)
        if y.ndim != 1 or seeds.shape != y.shape or x.shape != y.shape:
            _checks.fail(owner, "seeds", f"have the shape of x and y (long form, {len(y)} values)",
                         _Shape(seeds))
        if not np.isfinite(y).all():
            _checks.fail(owner, "y", "hold finite values", _Shape(y))
        xg, xi = np.unique(x, return_inverse=True)
        labels, si = np.unique(seeds, return_inverse=True)
        table = np.full((len(labels), len(xg)), np.nan)
        if len(np.unique(si * len(xg) + xi)) != len(y):
            _checks.fail(owner, "seeds", "give each (seed, x) pair at most once", _Shape(seeds))
        table[si, xi] = y
    if not (np.isfinite(xg).all() and (xg > 0).all()):
        _checks.fail(owner, "x", "hold finite positive values (they are fitted in log scale)", _Shape(xg))
    if deterministic:
        if table.shape[0] > 1 and not np.allclose(table, table[:1], rtol=1e-12, atol=0, equal_nan=True):
            _checks.fail(owner, "y", "hold identical rows when deterministic=True", _Shape(table),
                         "The seeds gave different curves, so the runs are random: fit them with a bootstrap.")
    elif table.shape[0] < 2:
        _checks.fail(owner, "y", "hold at least 2 seeds (rows)", _Shape(table),
                     "The intervals resample seeds; pass deterministic=True for noiseless runs.")
    if baseline is not None:
        b = _array(owner, "baseline", baseline, ndim=(0, 1, 2))
        b = b[:, None] if b.ndim == 1 else b
        try:
            table = table - np.broadcast_to(b, table.shape)
        except ValueError:
            _checks.fail(owner, "baseline", f"broadcast against y's (n_seeds, n_grid) = {table.shape}",
                         _Shape(b), "Give one value per seed, shape (n_seeds,), or a full table.")
    return xg, table


def _settings(owner, level, n_boot, method, seed):
    level = _checks.real(owner, "level", level, low=0, high=1, low_open=True, high_open=True)
    n_boot = _checks.integer(owner, "n_boot", n_boot, low=100)
    _checks.one_of(owner, "method", method, METHODS)
    seed = _checks.integer(owner, "seed", seed, low=0, high=(1 << 63) - 1)
    return level, n_boot, method, seed


def _averages(Z, idx):
    """Per-column means of the rows ``idx`` of Z, ignoring NaN: (r, k) for idx (r, n)."""
    G = Z[idx]  # (r, n, k)
    ok = ~np.isnan(G)
    cnt = ok.sum(1)
    s = np.where(ok, G, 0.0).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan)


def _bootstrap(Z, stat, *, n_boot, seed, label):
    """Point estimate, bootstrap replicates and jackknife values of ``stat`` (cluster = seed row).

    ``Z`` is (n_seeds, k); ``stat`` maps per-column averages (r, k) to statistics (r, q).
    Resampling indices come from the counter-based `Stream`, so the result depends only on
    ``seed`` and ``label``.
    """
    n = Z.shape[0]
    idx = Stream(seed).fold("bootstrap", label).randint(n, (n_boot, n))[0].numpy()  # (B, n)
    est = stat(_averages(Z, np.arange(n)[None]))[0]
    boot = stat(_averages(Z, idx))
    jack = stat(_averages(Z, np.array([np.delete(np.arange(n), i) for i in range(n)])))
    return est, boot, jack


def _interval(est, boot, jack, level, method):
    r"""Two-sided interval per column: percentile, or BCa [Efr87] with jackknife acceleration.

    .. math::

        \alpha_{1,2} = \Phi\Big(z_0 + \frac{z_0 + z_{\alpha}}{1 - a (z_0 + z_{\alpha})}\Big),
        \quad z_0 = \Phi^{-1}\big(\#\{\theta^* < \hat\theta\} / B\big),
        \quad a = \frac{\sum_i (\bar\theta - \theta_{(i)})^3}{6 [\sum_i (\bar\theta - \theta_{(i)})^2]^{3/2}}.

    Replicates that are NaN (undefined statistic) are left out.
    """
    q, n = est.shape[0], jack.shape[0]
    lo, hi = np.full(q, np.nan), np.full(q, np.nan)
    # Expanded quantiles [Hes15]: n seeds make bootstrap intervals too narrow by about
    # sqrt((n-1)/n) and by z vs t_{n-1}; widen the normal quantile to match.
    z = np.sqrt(n / (n - 1)) * student_t.ppf(np.array([(1 - level) / 2, (1 + level) / 2]), n - 1)
    for c in range(q):
        b = boot[:, c][~np.isnan(boot[:, c])]
        if len(b) == 0 or np.isnan(est[c]):
            continue
        alphas = ndtr(z)
        if method == "bca":
            prop = (np.sum(b < est[c]) + 0.5 * np.sum(b == est[c])) / len(b)
            prop = min(max(prop, 1 / (len(b) + 1)), len(b) / (len(b) + 1))
            z0 = ndtri(prop)
            j = jack[:, c]
            d = np.nanmean(j) - j
            den = 6 * np.nansum(d ** 2) ** 1.5
            a = np.nansum(d ** 3) / den if den > 0 and not np.isnan(j).any() else 0.0
            alphas = ndtr(z0 + (z0 + z) / (1 - a * (z0 + z)))
        lo[c], hi[c] = np.quantile(b, alphas)
    return lo, hi



def bootstrap_interval(Z, stat, *, level: float, n_boot: int, method: str, seed: int, label: str):
    """Point estimate and two-sided interval of ``stat`` over a (n_seeds, k) table, per output column.

    ``stat`` maps per-column seed averages (r, k) to statistics (r, q); returns (est, lo, hi),
    each (q,), plus the bootstrap replicates (n_boot, q).
    """
    est, boot, jack = _bootstrap(Z, stat, n_boot=n_boot, seed=seed, label=label)
    lo, hi = _interval(est, boot, jack, level, method)
    return est, lo, hi, boot

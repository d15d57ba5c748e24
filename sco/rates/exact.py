"""Checks against predicted values: a ratio of seed means, exact expectations step by step."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

from .. import _checks
from .bootstrap import _Shape, _array, bootstrap_interval
from .bound import Bound
from .checks import MIN_SEEDS, CheckResult, _min_seeds, _provenance, _too_few


def check_ratio(num, den, bound: Bound, values: Mapping | None = None, *, tol: float, claim: str, statistic: str,
                detail: str = "", level: float = 0.95, n_boot: int = 2000, seed: int = 0,
                min_seeds: int = MIN_SEEDS) -> CheckResult:
    """mean(num) / mean(den) over the same seeds against an exact bound's value, to a relative ``tol``.

    The interval is the shared seed bootstrap (resampling seeds, pairs kept together); the
    check passes when the interval meets ``[B (1 - tol), B (1 + tol)]``: ``tol`` is the
    model's own approximation (finite-count terms), the interval the Monte Carlo error.
    """
    owner = "check_ratio"
    if not isinstance(bound, Bound) or bound.kind != "exact":
        _checks.fail(owner, "bound", "be an exact Bound (a predicted value)", getattr(bound, "name", bound))
    tol = _checks.real(owner, "tol", tol, low=0)
    min_seeds = _min_seeds(owner, min_seeds)
    Z = np.stack([_array(owner, "num", num, ndim=(1,)), _array(owner, "den", den, ndim=(1,))], axis=1)
    predicted = float(bound(values or {}))
    est, lo, hi, _ = bootstrap_interval(Z, lambda A: A[:, :1] / A[:, 1:], level=level, n_boot=n_boot,
                                        method="percentile", seed=seed, label="check_ratio")
    ok = lo[0] <= predicted * (1 + tol) and hi[0] >= predicted * (1 - tol)
    verdict = "pass" if ok else "fail"
    text = (f"{level:.0%} expanded percentile bootstrap over {len(Z)} seeds; the interval must meet the prediction "
            f"widened by {tol:.0%}.")
    if len(Z) < min_seeds:
        verdict, text = "inconclusive", _too_few(len(Z), min_seeds) + text
    return CheckResult(claim=claim, statistic=statistic, empirical=float(est[0]), interval=(float(lo[0]), float(hi[0])),
                       theoretical=predicted, relation="==", verdict=verdict, tol=tol * predicted, level=level,
                       n_seeds=len(Z), detail=(detail + " " if detail else "") + text, **_provenance(bound))


def check_exact(y, exact, *, sd=None, claim: str, statistic: str, source: str, detail: str = "",
                alpha: float = 1e-3, min_seeds: int = 16, param: str = "step", grid=None) -> CheckResult:
    r"""Seed means against exact expected values at every grid point, within their standard error.

    ``y`` (n_seeds, k) and ``exact`` (k,). With ``sd`` (k,), the exact standard deviation of one
    seed's value (a moment recursion gives it), the statistic at point j is
    :math:`z_j = (\bar y_j - \mu_j) / (\mathrm{sd}_j/\sqrt n)` against the normal quantile;
    without it the sample standard deviation and Student's t with n - 1 degrees of freedom.
    The check fails when some :math:`|z_j|` exceeds the two-sided quantile at level
    :math:`1 - \alpha/k` (Bonferroni), so its false-failure probability is at most ``alpha``
    when the expectations are right (up to the normal approximation of a mean of n seeds).
    """
    owner = "check_exact"
    Y = _array(owner, "y", y, ndim=(2,))
    mu = _array(owner, "exact", exact, ndim=(1,))
    n, k = Y.shape
    if mu.shape != (k,):
        _checks.fail(owner, "exact", f"hold one value per grid point ({k})", _Shape(mu))
    min_seeds = _min_seeds(owner, min_seeds)
    if sd is None:
        s = Y.std(0, ddof=1)
        q = float(student_t.ppf(1 - alpha / (2 * k), n - 1))
        how = f"sample standard errors, Student t_{n - 1}"
    else:
        s = np.broadcast_to(_array(owner, "sd", sd, ndim=(0, 1)), (k,))
        q = float(norm.ppf(1 - alpha / (2 * k)))
        how = "exact standard deviations from the moment recursion, normal quantile"
    se = s / np.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (Y.mean(0) - mu) / np.where(se > 0, se, 1.0), np.where(Y.mean(0) == mu, 0.0, np.inf))
    j = int(np.argmax(np.abs(z)))
    verdict = "pass" if np.abs(z).max() <= q else "fail"
    where = f" at {param}={grid[j]:.4g}" if grid is not None else ""
    text = (f"|mean - exact| / standard error must be <= {q:.2f} at all {k} points (Bonferroni, false-failure "
            f"probability <= {alpha:g}; {how}, {n} seeds); worst {abs(z[j]):.2f}{where}.")
    if n < min_seeds:
        verdict, text = "inconclusive", _too_few(n, min_seeds) + text
    return CheckResult(claim=claim, statistic=statistic, empirical=float(abs(z[j])), interval=None, theoretical=q,
                       relation="<=", verdict=verdict, source=source, level=1 - alpha, n_seeds=n,
                       detail=(detail + " " if detail else "") + text,
                       data={"mean": Y.mean(0), "exact": mu, "se": se, "z": z})

"""Assertions for test suites: measured rates and values held against bounds (pytest-friendly)."""

from __future__ import annotations

from collections.abc import Mapping

from . import _checks
from .rates import Bound, CheckResult, check_bound, check_rate


def assert_check(result: CheckResult) -> CheckResult:
    """Raise AssertionError, showing predicted vs measured with its interval, unless ``result`` passed."""
    __tracebackhide__ = True
    if not isinstance(result, CheckResult):
        _checks.fail("assert_check", "result", "be a CheckResult", result, kind=TypeError)
    if not result.passed:
        raise AssertionError(str(result))
    return result


def assert_rate(x, y, *, tol: float, expected_exponent: float | None = None, bound: Bound | None = None,
                param: str | None = None, values: Mapping | None = None, **options) -> CheckResult:
    """Assert that y ~ x**a with a (from ``expected_exponent`` or ``bound``'s term) within ``tol``.

    ``y`` is (n_seeds, n_grid); the exponent's bootstrap interval over seeds, widened by
    ``tol``, must contain the prediction. Options are those of `sco.rates.check_rate`
    (``term``, ``share``, ``mask``, ``baseline``, ``baseline_at``, ``level``, ``seed``, ...).

    Examples
    --------
    >>> assert_rate(T, err, expected_exponent=-1.0, tol=0.05)              # doctest: +SKIP
    >>> assert_rate(T, excess, bound=BOUNDS["dl24b_thm42"], param="T",
    ...             values=dict(L=1, D=2, sigma=1, sigma_L=0), tol=0.1)  # doctest: +SKIP
    """
    __tracebackhide__ = True
    return assert_check(check_rate(x, y, tol=tol, expected_exponent=expected_exponent, bound=bound,
                                   param=param, values=values, **options))


def assert_below_bound(y, bound: Bound, values: Mapping | None = None, *, tol: float = 0.0,
                       **options) -> CheckResult:
    """Assert that the measured y stays below ``bound`` (with its stated constants) at every point.

    ``y`` is (n_seeds, n_grid); fails only where a simultaneous bootstrap interval of
    mean(y)/bound lies entirely above ``1 + tol`` (or, with ``instancewise=True``, where any
    sample exceeds it). Options are those of `sco.rates.check_bound`.
    """
    __tracebackhide__ = True
    if bound.relation != "<=":
        _checks.fail("assert_below_bound", "bound", "be an upper bound (relation '<=')", bound.name,
                     f"It relates as {bound.relation!r}; use assert_check(check_bound(...)).")
    return assert_check(check_bound(y, bound, values, tol=tol, **options))

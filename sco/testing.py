"""Assertions for test suites: measured rates and values held against bounds (pytest-friendly)."""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np

from . import _checks
from .rates import Bound, CheckResult, check_bound, check_rate
from .trace import Trace


def assert_check(result: CheckResult) -> CheckResult:
    """Raise AssertionError, showing predicted vs measured with its interval, unless ``result`` passed."""
    __tracebackhide__ = True
    if not isinstance(result, CheckResult):
        _checks.fail("assert_check", "result", "be a CheckResult", result, kind=TypeError)
    if not result.passed:
        raise AssertionError(str(result))
    return result


def trace_values(trace: Trace) -> dict:
    """The numbers a bound can be evaluated at from a trace: its declared constants (L, D,
    sigma, sigma_L, m, lam, ...) and the horizon T."""
    vals = {k: float(v) for k, v in trace.constants.items()
            if isinstance(v, numbers.Real) and not isinstance(v, bool)}
    if isinstance(trace.config.get("T"), numbers.Integral):
        vals["T"] = int(trace.config["T"])
    return vals


def _from_trace(owner: str, trace: Trace, metric, steps_from):
    """(logged steps, metric (R, n), values) of a trace, from step ``steps_from`` on."""
    if not isinstance(metric, str):
        _checks.fail(owner, "metric", "name a metric of the trace (a str) when the first argument is a Trace",
                     metric, kind=TypeError)
    if metric not in trace.metrics:
        _checks.fail(owner, "metric", f"be one of the trace's metrics {sorted(trace.metrics)}", metric)
    y = np.asarray(trace[metric], dtype=float)
    if y.ndim != 2:
        _checks.fail(owner, "metric", "be a per-run metric of shape (runs, logged steps)", metric,
                     hint=f"It has shape {y.shape}; for a per-worker metric pass an array, "
                          f"e.g. trace[{metric!r}][..., i], in the array form.")
    steps_from = _checks.integer(owner, "steps_from", steps_from, low=1)
    keep = trace.steps >= steps_from
    return trace.steps[keep], y[:, keep], trace_values(trace)


def assert_rate(x, y=None, *, tol: float, expected_exponent: float | None = None, bound: Bound | None = None,
                param: str | None = None, values: Mapping | None = None, steps_from: int = 1,
                **options) -> CheckResult:
    """Assert that y ~ x**a with a (from ``expected_exponent`` or ``bound``'s term) within ``tol``.

    Two forms:

    - ``assert_rate(x, y, ...)``: ``y`` is (n_seeds, n_grid) measured at ``x`` (n_grid,).
    - ``assert_rate(trace, "metric", ...)``: the metric of a :class:`~sco.trace.Trace` over its
      logged steps (from ``steps_from`` on, to skip a transient); its runs are the seeds,
      ``param`` defaults to ``"t"`` and ``values`` to the trace's declared constants and T
      (:func:`trace_values`), updated by the ``values`` given.

    The exponent's bootstrap interval over seeds, widened by ``tol``, must contain the
    prediction. Options are those of `sco.rates.check_rate` (``term``, ``share``, ``mask``,
    ``baseline``, ``baseline_at``, ``level``, ``seed``, ...).

    Examples
    --------
    >>> assert_rate(T, err, expected_exponent=-1.0, tol=0.05)              # doctest: +SKIP
    >>> assert_rate(T, excess, bound=BOUNDS["dl24b_thm42"], param="T",
    ...             values=dict(L=1, D=2, sigma=1, sigma_L=0), tol=0.1)  # doctest: +SKIP
    >>> assert_rate(trace, "estimator_error", bound=BOUNDS["mu2sgd_estimator_error"],
    ...             tol=0.1, steps_from=10)                                # doctest: +SKIP
    """
    __tracebackhide__ = True
    if isinstance(x, Trace):
        x, y, vals = _from_trace("assert_rate", x, y, steps_from)
        values, param = {**vals, **(values or {})}, param or "t"
    elif y is None:
        _checks.fail("assert_rate", "y", "be given: assert_rate(x, y, ...) or assert_rate(trace, metric, ...)", y,
                     kind=TypeError)
    return assert_check(check_rate(x, y, tol=tol, expected_exponent=expected_exponent, bound=bound,
                                   param=param, values=values, **options))


def assert_below_bound(y, *args, bound: Bound | None = None, values: Mapping | None = None, tol: float = 0.0,
                       steps_from: int = 1, **options) -> CheckResult:
    """Assert that the measured y stays below ``bound`` (with its stated constants) at every point.

    Two forms:

    - ``assert_below_bound(y, bound, values)``: ``y`` is (n_seeds, n_grid) and ``values`` the
      bound's parameters (arrays broadcast to (n_grid,)).
    - ``assert_below_bound(trace, "metric", bound, values=None)``: the metric of a
      :class:`~sco.trace.Trace` at each logged step t (from ``steps_from`` on), the bound
      evaluated at t and the trace's declared constants and T (:func:`trace_values`),
      updated by the ``values`` given.

    Fails only where a simultaneous bootstrap interval of mean(y)/bound lies entirely above
    ``1 + tol`` (or, with ``instancewise=True``, where any sample exceeds it). Options are
    those of `sco.rates.check_bound`.
    """
    __tracebackhide__ = True
    owner = "assert_below_bound"
    is_trace = isinstance(y, Trace)
    names = ("metric", "bound", "values") if is_trace else ("bound", "values")
    if len(args) > len(names):
        _checks.fail(owner, "args", f"be at most {len(names)} positional arguments after y ({', '.join(names)})",
                     len(args), kind=TypeError)
    given = dict(zip(names, args))
    for key, v in (("bound", bound), ("values", values)):
        if v is not None:
            if key in given:
                _checks.fail(owner, key, "be given once (positionally or by keyword)", v, kind=TypeError)
            given[key] = v
    bound, values = given.get("bound"), given.get("values")
    if not isinstance(bound, Bound):
        _checks.fail(owner, "bound", "be a Bound (see sco.rates.BOUNDS)", bound, kind=TypeError,
                     hint="Call assert_below_bound(trace, metric, bound) or assert_below_bound(y, bound, values).")
    if is_trace:
        t, y, vals = _from_trace(owner, y, given.get("metric"), steps_from)
        values = {**vals, "t": t, **(values or {})}
        options.setdefault("param", "t")
    if bound.relation != "<=":
        _checks.fail(owner, "bound", "be an upper bound (relation '<=')", bound.name,
                     f"It relates as {bound.relation!r}; use assert_check(check_bound(...)).")
    return assert_check(check_bound(y, bound, values, tol=tol, **options))

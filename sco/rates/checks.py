"""Checks of measurements against statements: one result type, the relation and constants read from the `Bound`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from .. import _checks
from .._json import jsonable
from .bootstrap import _Shape, _array, _mask, _settings, _table, bootstrap_interval
from .bound import Bound
from .fit import PowerLawFit, _ols, _term_constants, fit_power_law, regime_mask

VERDICTS = ("pass", "fail", "inconclusive")
RELATIONS = ("==", "<=", ">=")
# Above this fraction of bootstrap resamples with an undefined statistic (a nonpositive
# mean excess), the interval is not trusted and an exponent check is "inconclusive".
MAX_INVALID = 0.05
#: Fewest seeds for a bootstrap interval whose coverage was measured (0.94 for a nominal 0.95
#: at 8 seeds, see fit_power_law); statistics with fewer are inconclusive, not passed or failed.
MIN_SEEDS = 8
#: The finding a check reports when a statement transcribed from a paper is violated.
PRINTED_VIOLATED = "printed constant violated"
_RELATION_WORDS = {"<=": "at most", ">=": "at least", "==": "equal to"}


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One check: the measured statistic with its interval, the theory's value, and a verdict.

    ``relation`` says how they must compare: ``"=="`` (within ``tol``), ``"<="`` or
    ``">="``; it is the bound's own relation (:attr:`Bound.relation`). ``bound``,
    ``provenance`` and ``verified`` name the statement held against and how it was
    obtained; ``finding`` is set when a statement transcribed from a paper is violated
    (:data:`PRINTED_VIOLATED`), with the instance in ``data["instance"]``. ``row()`` gives
    the cells of a report table and ``to_dict()`` a JSON-ready record; ``fit`` (exponent
    checks) carries what a plot needs.
    """

    claim: str
    statistic: str
    empirical: float
    interval: tuple[float, float] | None
    theoretical: float
    relation: str
    verdict: str
    detail: str
    source: str = ""
    tol: float = 0.0
    level: float | None = None
    bound: str = ""
    provenance: str = ""
    verified: bool = False
    n_seeds: int | None = None
    finding: str = ""
    data: Mapping = dataclasses.field(default_factory=dict, repr=False)
    fit: PowerLawFit | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self):
        _checks.one_of("CheckResult", "verdict", self.verdict, VERDICTS)
        _checks.one_of("CheckResult", "relation", self.relation, RELATIONS)

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def _measured(self):
        s = f"{self.empirical:.4g}"
        if self.interval is not None:
            s += f" [{self.interval[0]:.4g}, {self.interval[1]:.4g}]"
        return s

    def _predicted(self):
        rel = "" if self.relation == "==" else f"{self.relation} "
        s = f"{rel}{self.theoretical:.4g}"
        return s + (f" ± {self.tol:g}" if self.tol else "")

    def row(self) -> dict[str, str]:
        """Cells of a report table row."""
        return {"claim": self.claim, "source": self.source, "statistic": self.statistic,
                "predicted": self._predicted(), "measured": self._measured(), "verdict": self.verdict,
                "bound": self.bound, "provenance": self.provenance, "verified": "yes" if self.verified else "no",
                "finding": self.finding}

    def to_dict(self) -> dict:
        """A JSON-ready record (non-finite numbers as strings)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "fit"}
        out["data"] = dict(self.data)
        out["fit"] = self.fit.to_dict() if self.fit is not None else None
        return jsonable(out)

    def __str__(self):
        head = f"{self.verdict.upper()}: {self.claim}" + (f" ({self.source})" if self.source else "")
        if self.finding:
            head += f" [{self.finding}]"
        return (f"{head}\n  {self.statistic}: measured {self._measured()}, predicted {self._predicted()}"
                f"\n  {self.detail}")


def _provenance(bound: Bound | None) -> dict:
    if bound is None:
        return {}
    return {"bound": bound.name, "provenance": bound.provenance, "verified": bound.verified,
            "source": bound.source}


def _too_few(n: int, min_seeds: int) -> str:
    return (f"Inconclusive: this statistic needs at least {min_seeds} seeds for its stated confidence and got {n}; "
            f"rerun with --seeds {min_seeds} or more. ")


def _min_seeds(owner, min_seeds):
    return _checks.integer(owner, "min_seeds", min_seeds, low=2)


def check_exponent(fit: PowerLawFit, predicted: float, *, tol: float, relation: str, claim: str = "",
                   statistic: str = "exponent", source: str = "", detail: str = "", data=None,
                   bound: Bound | None = None, min_seeds: int = MIN_SEEDS) -> CheckResult:
    """Hold the fitted exponent against ``predicted``.

    ``relation="=="`` (the theory is tight): pass when ``predicted`` lies in the fit's interval
    widened by ``tol`` on each side. ``"<="`` (a worst-case upper bound, an O(.) rate that
    benign instances beat): pass unless the whole interval lies above ``predicted + tol``,
    i.e. unless the measured rate is significantly slower. ``">="`` mirrors it. A
    deterministic fit (``fit.method == "exact"``) compares its exponent itself.

    "inconclusive", never pass or fail, when the fit has fewer than ``min_seeds`` seeds, a
    zero-width interval (the seeds did not vary: no evidence either way), or more than 5% of
    bootstrap resamples with an undefined exponent (a nonpositive mean).
    """
    owner = "check_exponent"
    tol = _checks.real(owner, "tol", tol, low=0)
    predicted = _checks.real(owner, "predicted", predicted)
    _checks.one_of(owner, "relation", relation, RELATIONS)
    min_seeds = _min_seeds(owner, min_seeds)
    lo, hi = fit.interval
    verdict = None
    if fit.method != "exact":
        if fit.n_seeds < min_seeds:
            verdict, detail = "inconclusive", _too_few(fit.n_seeds, min_seeds) + detail
        elif not hi > lo:
            verdict = "inconclusive"
            detail = ("Inconclusive: the interval has zero width (every seed gave the same curve); a random "
                      "statistic needs varying seeds, a deterministic one a deterministic fit. " + detail)
        elif fit.n_invalid > MAX_INVALID * fit.n_boot:
            verdict = "inconclusive"
            detail = (f"{fit.n_invalid} of {fit.n_boot} bootstrap resamples had a nonpositive mean, so the "
                      f"interval is unreliable; use more seeds or a larger effect. " + detail)
    if verdict is None:
        if relation == "==":
            verdict = "pass" if fit.contains(predicted, tol) else "fail"
        elif relation == "<=":
            verdict = "pass" if lo <= predicted + tol else "fail"
        else:
            verdict = "pass" if hi >= predicted - tol else "fail"
    prov = _provenance(bound)
    prov.setdefault("source", source)
    return CheckResult(
        claim=claim, statistic=statistic, empirical=fit.exponent, interval=fit.interval,
        theoretical=predicted, relation=relation, verdict=verdict, tol=tol,
        level=None if fit.method == "exact" else fit.level, n_seeds=fit.n_seeds,
        detail=(detail + " " if detail else "") + fit.description + ".", data=dict(data or {}), fit=fit, **prov)


def check_rate(x, y, *, tol: float, bound: Bound | None = None, expected_exponent: float | None = None,
               relation: str | None = None, param: str | None = None, values: Mapping | None = None, term=None,
               share: float | None = 0.8, mask=None, seeds=None, baseline=None, baseline_at: float | None = None,
               calibrate: bool = False, average: str = "mean", level: float = 0.95, n_boot: int = 2000,
               method: str = "percentile", deterministic: bool = False, predict: str | None = None,
               limit: str = "infinity", seed: int = 0,
               min_seeds: int = MIN_SEEDS, claim: str | None = None, detail: str = "") -> CheckResult:
    """Fit the exponent of y in x and hold it against a bound (its relation, its constants).

    With ``bound``: ``param`` names the swept parameter (x holds its values) and ``values``
    the other parameters (scalars, or arrays aligned with the grid in the order
    `fit_power_law` uses: x's order in wide form, sorted in long form). The relation is the
    bound's (:attr:`Bound.relation`: ``<=`` for an upper bound or an O(.) shape, ``==`` for an
    exact statement or a Theta shape).

    - ``share=None``: every grid point (or ``mask``) is fitted. For a bound with stated
      constants the prediction is the least-squares slope of log B over the same points (the
      statistic the fit measures); for a shape bound, whose written constants are
      placeholders, it is the asymptotic exponent (the local exponent as ``param`` grows
      without bound: the dominant term's), the rate the O(.) statement is about.
      ``predict="slope"`` or ``"asymptotic"`` chooses explicitly (a shape's local slope over
      a grid of lam, say, where lam cannot grow without bound).
    - ``share=s``: the fit keeps the points where the tested term (``term``, or the one largest
      at most grid points) carries at least ``s`` of the bound (`regime_mask`), and the
      prediction is that term's log-derivative in ``param`` averaged over the kept points.

    With a ``baseline`` (runs at ``param = baseline_at``), y - baseline is fitted against
    ``bound.excess(param, baseline_at)``, so terms that do not move with ``param`` drop out.
    ``calibrate=True`` first scales a shape bound's terms by nonnegative constants fitted to
    the seed means (`calibrate_terms`), so that its crossovers sit where the curve has them.
    ``deterministic=True`` fits noiseless runs without a bootstrap (`fit_power_law`).

    An inequality between power laws orders their exponents in the direction of the limit it is
    about: y <= B as ``param`` grows (``limit="infinity"``: T, t, m, d) asks the measured
    exponent to be at most the bound's; as it shrinks (``limit="zero"``: lam, delta -> 0) at
    least the bound's. ``limit="zero"`` therefore flips the bound's ``<=``/``>=``.

    With ``expected_exponent`` (no bound) the caller states the exponent and the ``relation``.
    """
    owner = "check_rate"
    tol = _checks.real(owner, "tol", tol, low=0)
    if (bound is None) == (expected_exponent is None):
        _checks.fail(owner, "bound", "be given, or else expected_exponent, but not both", bound,
                     f"Got expected_exponent={expected_exponent!r}.")
    fit_kw = dict(seeds=seeds, baseline=baseline, average=average, level=level, n_boot=n_boot,
                  method=method, seed=seed, deterministic=deterministic)
    chk_kw = dict(tol=tol, min_seeds=min_seeds)
    if bound is None:
        predicted = _checks.real(owner, "expected_exponent", expected_exponent)
        relation = _checks.one_of(owner, "relation", "==" if relation is None else relation, RELATIONS)
        fit = fit_power_law(x, y, mask=mask, **fit_kw)
        name = param or "x"
        return check_exponent(fit, predicted, relation=relation, claim=claim or f"y ~ {name}^{predicted:g}",
                              statistic=f"exponent in {name}", detail=detail, **chk_kw)
    if not isinstance(bound, Bound):
        _checks.fail(owner, "bound", "be a Bound (see sco.rates.BOUNDS)", bound, kind=TypeError)
    if relation is not None:
        _checks.fail(owner, "relation", "not be given with a bound (the bound's own relation is used)", relation,
                     f"Bound {bound.name!r} relates as {bound.relation!r}.")
    if not isinstance(param, str):
        _checks.fail(owner, "param", "name the swept parameter of the bound", param, kind=TypeError)
    original = bound
    if baseline is not None:
        if baseline_at is None:
            _checks.fail(owner, "baseline_at", "give the parameter value of the baseline runs", baseline_at,
                         f"The excess over the baseline is fitted against bound.excess('{param}', baseline_at).")
        bound = bound.excess(param, baseline_at)
    grid, table = _table(owner, x, y, seeds, baseline, deterministic=deterministic)  # fit_power_law's order
    vals = dict(values or {})
    vals.pop(param, None)
    term_texts = [str(t) for t in bound.terms]  # as the theory writes them, before calibration
    constants = None
    if calibrate:
        with np.errstate(invalid="ignore"):
            constants = _term_constants(bound, param, grid, np.nanmean(table, 0), vals)
        bound = bound.scaled(constants)
    if share is None:
        keep, k = _mask(owner, mask, len(grid)), None
        if keep.sum() < 2:
            _checks.fail(owner, "mask", "keep at least 2 grid points", _Shape(keep))
    else:
        in_regime, k = regime_mask(bound, param, grid, vals, term=term, share=share)
        keep = in_regime & _mask(owner, mask, len(grid))
        if keep.sum() < 2:
            try:
                reg = bound.regime(param, k, vals, share=share)
            except ValueError:
                reg = None
            where = f"it holds for {reg}" if reg is not None else "no regime could be computed"
            _checks.fail(owner, "x", f"have at least 2 grid points where the term {term_texts[k]} carries >= "
                         f"{share:.0%} of the bound", _Shape(grid),
                         f"{int(keep.sum())} of {len(grid)} do; {where}. Extend the grid or lower share=.")
    fit = fit_power_law(x, y, mask=keep, **fit_kw)
    # values given per grid point follow the grid into the fitted points
    pts = {n: (np.asarray(v)[keep] if np.ndim(v) == 1 and len(v) == len(grid) else v) for n, v in vals.items()}
    pts[param] = grid[keep]
    b_vals = np.broadcast_to(np.asarray(bound(pts), dtype=np.float64), grid[keep].shape)
    bound_slope = float(_ols(np.log(grid[keep]), np.log(b_vals)[None])[0, 0])
    data = {"param": param, "grid": grid, "fitted": keep, "bound_slope": bound_slope, "bound": bound.name,
            "calibrated": calibrate, "term_constants": constants,
            # for a plot's bound overlay: the bound used (excess, calibrated) on the grid
            "bound_values": np.broadcast_to(np.asarray(bound({**vals, param: grid}), dtype=np.float64),
                                            grid.shape)}
    if predict is None:
        predict = "asymptotic" if bound.kind == "shape" else "slope"
    _checks.one_of(owner, "predict", predict, ("slope", "asymptotic"))
    if k is None and predict == "slope":
        predicted = bound_slope
        where = (f"Fitted {int(keep.sum())} of {len(grid)} grid points; predicted: the bound's own least-squares "
                 f"slope over them.")
    elif k is None:
        far = {n: (v[-1] if np.ndim(v) == 1 else v) for n, v in pts.items()}
        far[param] = 1e12 * float(grid.max())
        predicted = float(bound.exponent(param, far))
        where = (f"Fitted {int(keep.sum())} of {len(grid)} grid points; predicted: the shape's asymptotic exponent "
                 f"in {param} (its written constants are placeholders).")
    else:
        # exponents of the terms present (a calibrated constant can be 0)
        a_all = {j: np.broadcast_to(np.asarray(bound.exponent(param, pts, term=j), dtype=np.float64),
                                    grid[keep].shape) for j, t in enumerate(bound.terms) if t != 0}
        predicted = float(np.mean(a_all[k]))
        spread = max(float(np.max(np.abs(aj - a_all[k]))) for aj in a_all.values())
        data.update(term=term_texts[k], term_index=k, share=share, in_regime=in_regime,
                    max_curvature_bias=(1 - share) * spread)
        where = (f"Fitted {int(keep.sum())} of {len(grid)} grid points, where the term {term_texts[k]} carries "
                 f">= {share:.0%} of the bound (there the bound's own slope is {bound_slope:+.3f}).")
    _checks.one_of(owner, "limit", limit, ("infinity", "zero"))
    relation = original.relation if limit == "infinity" else {"<=": ">=", ">=": "<=", "==": "=="}[original.relation]
    if limit == "zero":
        where += f" As {param} -> 0 the bound's relation {original.relation!r} orders the exponents as {relation!r}."
    return check_exponent(fit, predicted, relation=relation, claim=claim or original.claim,
                          statistic=f"exponent in {param}", detail=(detail + " " if detail else "") + where,
                          data=data, bound=original, **chk_kw)


def _bound_values(owner, bound, values, n, k):
    """The bound at every grid point, (k,), or at every (seed, point) when values vary by seed, (n, k)."""
    B = _array(owner, "values", bound(values or {}))
    try:
        B = np.broadcast_to(B, (k,)) if B.ndim <= 1 else np.broadcast_to(B, (n, k)) if B.ndim == 2 else None
    except ValueError:
        B = None
    if B is None:
        _checks.fail(owner, "values", f"make the bound a scalar, a vector of n_grid={k} values or an (n_seeds, "
                     f"n_grid) = ({n}, {k}) table",
                     _Shape(bound(values or {})),
                     "y of shape (n,) is read as n seeds at one point; give (n_seeds, n_grid)." if k == 1 else None)
    if not (np.isfinite(B).all() and (B > 0).all()):
        _checks.fail(owner, "values", "make the bound finite and positive at every grid point", _Shape(B))
    return B


def _verdict_words(relation):
    return {"<=": "max", ">=": "min", "==": "worst"}[relation]


def check_bound(y, bound: Bound, values: Mapping | None = None, *, instancewise: bool = False, tol: float = 0.0,
                param: str | None = None, level: float = 0.95, n_boot: int = 2000, method: str = "percentile",
                seed: int = 0, min_seeds: int = MIN_SEEDS, claim: str | None = None, detail: str = "",
                instances=None) -> CheckResult:
    r"""Hold measured values against a bound with stated constants, point by point.

    ``y`` is (n_seeds, n_grid) (or (n_seeds,) for one point); the bound is evaluated at
    ``values``, whose arrays broadcast to (n_grid,). The statistic is the ratio
    :math:`r_j = \bar y_j / B_j` of the seed mean to the bound at each grid point, and the
    relation is the bound's (upper ``<=``, lower ``>=``, exact ``==``). When the values differ
    by seed (a bound evaluated at each run's own delays: (n_seeds, n_grid)), the statistic is
    the seed mean of :math:`y_{sj}/B_{sj}`, which the bound holds at 1 conditionally on each
    run's arrivals.

    - Expectation bounds (default): each :math:`r_j` gets a bootstrap interval over seeds
      at the simultaneous (Bonferroni) level ``1 - (1 - level)/n_grid``. For ``"<="`` the
      check fails only where the whole interval lies above ``1 + tol`` (evidence of a
      violation, with false-failure probability at most ``1 - level`` when the bound
      holds); ``">="`` mirrors it; ``"=="`` fails where the interval misses
      ``[1 - tol, 1 + tol]``. Fewer than ``min_seeds`` seeds: inconclusive.
    - ``instancewise=True``: the bound holds for every sample (a deterministic inequality on
      every input), so every :math:`y_{sj}/B_j` must satisfy the relation up to ``tol``;
      ``instances`` (one per sample, e.g. the input rows) lets the result carry the worst one.

    A violated transcribed statement is reported with ``finding`` "printed constant violated".
    Shape bounds have no constants to check: use `check_rate`.
    """
    owner = "check_bound"
    if not isinstance(bound, Bound):
        _checks.fail(owner, "bound", "be a Bound (see sco.rates.BOUNDS)", bound, kind=TypeError)
    if bound.kind == "shape":
        _checks.fail(owner, "bound", "have stated constants (kind 'exact', 'upper' or 'lower')", bound.name,
                     "A shape bound is tested through its exponents: use check_rate.")
    relation = bound.relation
    tol = _checks.real(owner, "tol", tol, low=0)
    level, n_boot, method, seed = _settings(owner, level, n_boot, method, seed)
    min_seeds = _min_seeds(owner, min_seeds)
    Y = _array(owner, "y", y, ndim=(1, 2))
    Y = Y[:, None] if Y.ndim == 1 else Y
    if not np.isfinite(Y).all():
        _checks.fail(owner, "y", "hold finite values", _Shape(Y))
    n, k = Y.shape
    B = _bound_values(owner, bound, values, n, k)
    if B.ndim == 2:  # a bound per seed (it depends on the run's own arrivals): hold y/B against 1
        Y, B = Y / B, np.ones(k)
    words = _RELATION_WORDS[relation]
    extra = {}
    if instancewise:
        R = Y / B  # (n, k)
        bad = (R > 1 + tol) if relation == "<=" else (R < 1 - tol) if relation == ">=" else (abs(R - 1) > tol)
        pick = {"<=": np.argmax, ">=": np.argmin, "==": lambda r: np.argmax(abs(r - 1))}[relation]
        i, j = np.unravel_index(pick(R), R.shape)
        empirical, interval, verdict = float(R[i, j]), None, "fail" if bad.any() else "pass"
        statistic = f"{_verdict_words(relation)} y/bound over {n * k} samples"
        text = (f"Instance-wise: every sample must be {words} the bound"
                f"{f' within tol {tol:g}' if tol else ''}; {int(bad.sum())} of {n * k} are not.")
        data = {"bound_values": B, "ratios": R, "violations": bad}
        if instances is not None:
            extra["instance"] = instances[i] if np.ndim(instances) and len(instances) == n else instances
    else:
        est, lo, hi, _ = bootstrap_interval(Y, lambda A: A / B, level=1 - (1 - level) / k, n_boot=n_boot,
                                            method=method, seed=seed, label="check_bound")
        bad = (lo > 1 + tol) if relation == "<=" else (hi < 1 - tol) if relation == ">=" else \
            ((lo > 1 + tol) | (hi < 1 - tol))
        j = int({"<=": np.argmax, ">=": np.argmin, "==": lambda e: np.argmax(abs(np.log(e)))}[relation](est))
        empirical, interval = float(est[j]), (float(lo[j]), float(hi[j]))
        statistic = f"{_verdict_words(relation)} over {k} point(s) of mean(y)/bound"
        name = {"bca": "BCa", "percentile": "percentile"}[method]
        text = (f"The seed mean must be {words} the bound at every point: {int(bad.sum())} of {k} point(s) "
                f"are shown otherwise by {level:.0%} simultaneous (Bonferroni) expanded {name} bootstrap "
                f"intervals over {n} seeds{f' with tol {tol:g}' if tol else ''}.")
        data = {"bound_values": B, "mean": Y.mean(0), "ratio": est, "lower": lo, "upper": hi, "violations": bad}
        verdict = "fail" if bad.any() else "pass"
        if n < min_seeds:
            verdict, text = "inconclusive", _too_few(n, min_seeds) + text
    if param is not None and values is not None and np.ndim(values.get(param, 0)) == 1:
        text += f" Worst at {param}={np.asarray(values[param])[j]:.4g}."
    finding = PRINTED_VIOLATED if verdict == "fail" and bound.verified else ""
    return CheckResult(
        claim=claim or bound.claim, statistic=statistic, empirical=empirical, interval=interval,
        theoretical=1.0, relation=relation, verdict=verdict, detail=(detail + " " if detail else "") + text,
        tol=tol, level=None if instancewise else level, n_seeds=n, finding=finding,
        data={"kind": bound.kind, **data, **extra}, **_provenance(bound))

"""sco.testing: the assertions users put in their own suites, used here on a small simulation."""

import numpy as np
import pytest

from sco.rates import BOUNDS, CheckResult
from sco.testing import assert_below_bound, assert_check, assert_rate

# A 1-D noisy quadratic f(x) = x^2/2 on K = [-1, 1] (D = 2) with grad f(x; z) = a x + b,
# a ~ N(1, s_L^2), b ~ N(0, s_b^2): the noise variance at x is s_b^2 + s_L^2 x^2 <= sigma^2 :=
# s_b^2 + s_L^2, and the smoothness variance is sigma_L = s_L ([DL24b, Eq. (4)]).
S_B, S_L, D = 0.5, 0.5, 2.0
FAST = dict(n_boot=500)  # 200 seeds: 500 resamples keep the test quick
CONSTANTS = dict(sigma=float(np.sqrt(S_B ** 2 + S_L ** 2)), sigma_L=S_L, D=D)
STEPS = np.unique(np.geomspace(10, 1000, 8).round())


def estimator_errors(kind, *, n_seeds=200, T=1000, seed=0):
    """Squared error (d_t - grad f(x_t))^2 per seed at t in STEPS, shape (n_seeds, len(STEPS)).

    The query points follow AnyTime averaging with alpha_t = t, so |x_t - x_{t-1}| <= 2D/(t+1);
    ``kind`` is "mu2sgd" (beta_t = 1/t, one sample at both points), "fresh" (the same with a
    fresh sample for the correction: a planted bug) or "sgd" (no momentum).
    """
    rng = np.random.default_rng(seed)
    a = 1 + S_L * rng.standard_normal((T + 1, n_seeds))
    b = S_B * rng.standard_normal((T + 1, n_seeds))
    a2 = 1 + S_L * rng.standard_normal((T + 1, n_seeds))
    b2 = S_B * rng.standard_normal((T + 1, n_seeds))
    x_prev = x = 0.9
    d = a[1] * x + b[1]
    out = []
    for t in range(1, T + 1):
        if t > 1:
            w = (-1.0) ** t
            x_prev, x = x, x + 2 / (t + 1) * (w - x)
            g = a[t] * x + b[t]
            if kind == "sgd":
                d = g
            else:
                ca, cb = (a[t], b[t]) if kind == "mu2sgd" else (a2[t], b2[t])
                d = g + (1 - 1 / t) * (d - (ca * x_prev + cb))
        if t in STEPS:
            out.append((d - x) ** 2)
    return np.stack(out, axis=1)


def test_mu2sgd_estimator_error_stays_below_its_bound_and_decays_like_1_over_t():
    y = estimator_errors("mu2sgd")
    bound = BOUNDS["mu2sgd_estimator_error"]
    res = assert_below_bound(y, bound, dict(CONSTANTS, t=STEPS), param="t", **FAST)
    assert isinstance(res, CheckResult) and res.empirical < 1
    rate = assert_rate(STEPS, y, bound=bound, param="t", values=CONSTANTS, tol=0.1, **FAST)
    assert rate.theoretical == -1.0


def test_a_fresh_sample_in_the_correction_is_caught():
    y = estimator_errors("fresh")
    with pytest.raises(AssertionError, match=r"FAIL: .*\n  exponent in t: measured [01][.\d]* \[.*\], "
                                             r"predicted <= -1 ± 0.1"):
        assert_rate(STEPS, y, bound=BOUNDS["mu2sgd_estimator_error"], param="t", values=CONSTANTS, tol=0.1, **FAST)
    with pytest.raises(AssertionError, match=r"max over 8 point\(s\) of mean\(y\)/bound: measured .* predicted <= 1"):
        assert_below_bound(y, BOUNDS["mu2sgd_estimator_error"], dict(CONSTANTS, t=STEPS), **FAST)


def test_sgd_error_does_not_decay():
    y = estimator_errors("sgd")
    assert_below_bound(y, BOUNDS["dl24b_eq2"], CONSTANTS, **FAST)
    assert_rate(STEPS, y, bound=BOUNDS["dl24b_eq2"], param="t", values=CONSTANTS, tol=0.05, **FAST)
    with pytest.raises(AssertionError, match="predicted -1"):
        assert_rate(STEPS, y, expected_exponent=-1.0, param="t", tol=0.1, **FAST)


def test_assert_rate_with_a_plain_exponent_and_its_message():
    rng = np.random.default_rng(1)
    x = np.geomspace(1, 100, 6)
    y = 2 * x ** -0.5 * np.exp(0.1 * rng.standard_normal((8, 6)))
    assert assert_rate(x, y, expected_exponent=-0.5, tol=0.02).passed
    with pytest.raises(AssertionError) as e:
        assert_rate(x, y, expected_exponent=-1.0, tol=0.05)
    msg = str(e.value)
    assert msg.startswith("FAIL: y ~ x^-1") and "exponent in x: measured -0.48" in msg
    assert "predicted -1 ± 0.05" in msg and "95% expanded percentile bootstrap over 8 seeds" in msg


def test_assert_check_needs_a_check_result():
    with pytest.raises(TypeError, match="The 'result' parameter of assert_check must be a CheckResult"):
        assert_check(True)
    failed = CheckResult("claim", "stat", 2.0, (1.5, 2.5), 1.0, "<=", "fail", "detail")
    with pytest.raises(AssertionError, match="FAIL: claim\n  stat: measured 2 \\[1.5, 2.5\\], predicted <= 1"):
        assert_check(failed)


# -- the Trace forms ---------------------------------------------------------------------------


def as_trace(y):
    from sco.trace import Trace

    return Trace({"T": 1000}, list(range(y.shape[0])), STEPS.astype(int), {"estimator_error": y,
                 "worker_error": np.repeat(y[..., None], 3, axis=2)}, constants={**CONSTANTS, "convex": True})


def test_the_trace_form_is_the_array_form():
    y = estimator_errors("mu2sgd")
    bound = BOUNDS["mu2sgd_estimator_error"]
    tr = as_trace(y)
    a = assert_below_bound(tr, "estimator_error", bound, **FAST)
    b = assert_below_bound(y, bound, dict(CONSTANTS, t=STEPS), param="t", **FAST)
    assert (a.empirical, a.interval, a.detail) == (b.empirical, b.interval, b.detail)
    a = assert_rate(tr, "estimator_error", bound=bound, tol=0.1, **FAST)
    b = assert_rate(STEPS, y, bound=bound, param="t", values=CONSTANTS, tol=0.1, **FAST)
    assert (a.empirical, a.interval, a.theoretical) == (b.empirical, b.interval, b.theoretical)
    # steps_from drops the first logged steps, as a mask would
    a = assert_rate(tr, "estimator_error", expected_exponent=-1.0, tol=0.1, steps_from=50, **FAST)
    b = assert_rate(STEPS, y, expected_exponent=-1.0, tol=0.1, mask=STEPS >= 50, **FAST)
    assert (a.empirical, a.interval) == (b.empirical, b.interval)


def test_the_trace_form_catches_the_planted_bug_and_says_what_is_wrong():
    tr = as_trace(estimator_errors("fresh"))
    bound = BOUNDS["mu2sgd_estimator_error"]
    with pytest.raises(AssertionError, match=r"exponent in t: measured [01][.\d]* \[.*\], predicted <= -1 ± 0.1"):
        assert_rate(tr, "estimator_error", bound=bound, tol=0.1, **FAST)
    with pytest.raises(AssertionError, match=r"mean\(y\)/bound: measured .* predicted <= 1"):
        assert_below_bound(tr, "estimator_error", bound=bound, **FAST)
    with pytest.raises(ValueError, match=r"The 'metric' parameter of assert_rate must be one of the trace's "
                                         r"metrics \['estimator_error', 'worker_error'\]. Got metric='loss'"):
        assert_rate(tr, "loss", expected_exponent=-1.0, tol=0.1)
    with pytest.raises(ValueError, match=r"must be a per-run metric of shape \(runs, logged steps\).*"
                                         r"trace\['worker_error'\]\[\.\.\., i\]"):
        assert_below_bound(tr, "worker_error", bound)
    with pytest.raises(TypeError, match=r"The 'bound' parameter of assert_below_bound must be a Bound"):
        assert_below_bound(tr, "estimator_error", "mu2sgd_estimator_error")
    with pytest.raises(TypeError, match=r"The 'bound' parameter of assert_below_bound must be given once"):
        assert_below_bound(tr, "estimator_error", bound, bound=bound)
    with pytest.raises(TypeError, match=r"The 'y' parameter of assert_rate must be given"):
        assert_rate(STEPS, tol=0.1, expected_exponent=-1.0)

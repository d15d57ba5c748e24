"""The simulator: metamorphic identities, seeds, statistics of the estimators, traces, config errors."""

import math

import numpy as np
import pytest
import torch

from sco.arrivals import profile
from sco.rates.fit import fit_power_law
from sco.simulate import Experiment, Plan, run
from sco.trace import Trace

QUAD = {"name": "quadratic", "d": 8, "L": 1.0, "mu": 0.0, "seed": 1}
NOISY = {"name": "gaussian", "sigma": 1.0, "sigma_L": 0.4}


def base(**kw):
    cfg = dict(objective=QUAD, noise=NOISY, m=4, T=60, seeds=3, algorithm={"name": "mu2sgd", "eta": 0.01})
    cfg.update(kw)
    return cfg


def _close(a: Trace, b: Trace, rtol=1e-12):
    assert a.metrics.keys() <= b.metrics.keys() or b.metrics.keys() <= a.metrics.keys()
    for k in set(a.metrics) & set(b.metrics):
        # quantities that are 0 up to rounding (an aggregate equal to the honest mean) get an
        # absolute tolerance at the scale of the metric
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=rtol * np.abs(a[k]).max(), err_msg=k)


@pytest.mark.parametrize("alg", ["mu2sgd", "sgd", "momentum", "storm", "mu2sgd_code_sync"])
def test_synchronous_training_is_asynchronous_training_where_everyone_arrives_every_step(alg):
    # the synchronous fast path vs the asynchronous machinery (arrivals, tables, count weights,
    # per-worker counts and keys) with equal speeds and all workers per round
    sync = run(base(algorithm={"name": alg, "eta": 0.01}))
    rounds = run(base(algorithm={"name": alg, "eta": 0.01}, arrivals={"name": "rounds"}))
    _close(sync, rounds)
    assert (rounds.events["staleness"] == 0).all()


def test_storm_with_beta_one_is_sgd_in_the_simulator():
    a = run(base(algorithm={"name": "storm", "eta": 0.05, "beta": 1.0}))
    b = run(base(algorithm={"name": "sgd", "eta": 0.05}))
    for k in a.metrics:
        assert np.array_equal(a[k], b[k]), k


@pytest.mark.parametrize("arrivals", [None, {"name": "speeds", "speeds": "id2"},
                                      {"name": "compute_times", "dist": "lognormal", "speeds": "id"}])
def test_a_seed_gives_the_same_run_alone_or_batched(arrivals):
    cfg = base(arrivals=arrivals, seeds=[5, 2, 7], heterogeneity={"name": "shift", "zeta": 0.5})
    batch = run(cfg)
    alone = run({**cfg, "seeds": [2]})
    for k in batch.metrics:
        # same random numbers bit for bit; the arithmetic may differ in the last bits (BLAS
        # and reductions order sums by shape), which 60 contracting steps keep at 1e-12
        np.testing.assert_allclose(batch[k][1], alone[k][0], rtol=1e-10, atol=1e-300, err_msg=k)
    for k in batch.events:
        if k != "final_weights":
            assert np.array_equal(batch.events[k][1], alone.events[k][0])


def _estimator_error(alg, T=1000, seeds=64):
    # a fixed smooth problem and a single worker; eta = 1/(4 L T) as in the theory [DL24b, Thm. 4.2]
    tr = run(dict(objective={"name": "quadratic", "d": 20, "L": 1.0, "mu": 0.0, "seed": 2},
                  noise={"name": "gaussian", "sigma": 1.0, "sigma_L": 0.5}, m=1, T=T, seeds=seeds,
                  algorithm={"name": alg, "eta": 1 / (4 * T)}, log="geometric"))
    keep = tr.steps >= 10
    return fit_power_law(tr.steps[keep], tr["estimator_error"][:, keep], n_boot=400, seed=0)


def test_mu2sgd_estimator_error_decays_like_one_over_t():
    # E|eps_t|^2 <= sigma_tilde^2 / t [DL24b, §4] restating [Lev23]; constant derived here
    # (docs/theory.md, "Derivations"). The fitted exponent's bootstrap sd is
    # about 0.01 here; the acceptance band [-1.15, -0.85] is > 10 sd wide on each side, so a
    # different seed set fails with negligible probability.
    fit = _estimator_error("mu2sgd")
    assert -1.15 <= fit.exponent <= -0.85, fit
    assert fit.interval[1] - fit.interval[0] < 0.1


def test_sgd_estimator_error_does_not_decay():
    fit = _estimator_error("anytime_sgd")  # same query points, no correction: error sigma^2
    assert abs(fit.exponent) < 0.1, fit


def test_count_weights_beat_uniform_weights_by_the_predicted_ratio():
    # Derived here (docs/theory.md, "Derivations"): with no staleness and no attack (the
    # query point does not move: eta tiny), worker i's mu^2-SGD message averages its k_i
    # samples, and the count-weighted mean pools them: Var_uniform / Var_counts ->
    # (1/n^2) sum_i 1/p_i.
    n, T, R, d, sigma = 8, 3000, 64, 64, 1.0
    cfg = dict(objective={"name": "quadratic", "d": d, "seed": 3}, noise={"name": "gaussian", "sigma": sigma},
               m=n, T=T, seeds=R, algorithm={"name": "mu2sgd", "eta": 1e-12},
               arrivals={"name": "speeds", "speeds": "id"}, log=[T])
    counts, uniform = run(cfg), run({**cfg, "weights": "uniform"})
    # exact expectation given the realized counts s_i: the message in the table holds
    # k_i = s_i - 1 samples (the warm-up message is delivered again at the first arrival,
    # as in the authors' code), each coordinate with variance sigma^2 / d
    s = counts.events["final_weights"]
    k = np.maximum(s - 1, 1)
    exp_counts = sigma ** 2 * ((s ** 2 / k).sum(1) / s.sum(1) ** 2).mean()
    exp_uniform = sigma ** 2 * ((1 / k).sum(1) / n ** 2).mean()
    # |error|^2 is sigma^2/d times a chi^2_d-like sum: relative sd sqrt(2 / (d R)) = 0.022
    tol = 6 * math.sqrt(2 / (d * R))
    assert abs(counts.final("estimator_error").mean() / exp_counts - 1) < tol
    assert abs(uniform.final("estimator_error").mean() / exp_uniform - 1) < tol
    ratio = uniform.final("estimator_error").mean() / counts.final("estimator_error").mean()
    p = profile("id", n).numpy()
    predicted = (1 / p).sum() / n ** 2
    assert predicted == pytest.approx(1.529, abs=1e-3)  # derived value for n = 8 (proofs_check.count_weights)
    # the asymptotic prediction holds up to the finite-count terms (about 2% at s_1 ~ 80)
    assert abs(ratio / predicted - 1) < 2 * tol + 0.03, (ratio, predicted)


def test_asynchronous_bookkeeping():
    T, m = 300, 5
    tr = run(base(m=m, T=T, arrivals={"name": "speeds", "speeds": "id"}, algorithm={"name": "sgd", "eta": 0.01}))
    w = tr.events["final_weights"]
    assert (w.sum(1) == m + T).all()  # one for the warm-up, one per arrival [DL24b-code, trainer/async_trainer.py]
    for r in range(tr.R):
        counts = np.bincount(tr.events["worker"][r], minlength=m) + 1
        assert np.array_equal(counts, w[r])
    # staleness: steps since the worker's previous arrival (its first: since the warm-up at x_1)
    r = 0
    last = {}
    for t, i in enumerate(tr.events["worker"][r], start=1):
        expected = t - (last[i] + 1) if i in last else t - 1
        assert tr.events["staleness"][r, t - 1] == expected
        last[i] = t


def test_trace_round_trip_and_tidy_table(tmp_path):
    tr = run(base(arrivals={"name": "speeds"}))
    path = tr.save(tmp_path / "run.npz")
    back = Trace.load(path)
    assert back.config == tr.config and back.seeds == tr.seeds and back.constants == tr.constants
    for k in tr.metrics:
        assert np.array_equal(back[k], tr[k])
    for k in tr.events:
        assert np.array_equal(back.events[k], tr.events[k])
    rows = tr.to_table()
    # one row per logged number: per-worker metrics (R, n, m) give m rows per run and step
    assert len(rows) == sum(np.size(v) for v in tr.metrics.values())
    assert set(rows[0]) == {"seed", "step", "metric", "value"}
    assert {"seed", "step", "worker", "metric", "value"} in [set(r) for r in rows]
    assert tr.config["algorithm"] == {"name": "mu2sgd", "eta": 0.01} and tr.config["aggregator"] == "mean"
    assert tr.constants["sigma_L"] == 0.4 and tr.constants["m"] == 4


def test_toml_config(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text('T = 20\nm = 3\nseeds = [1, 2]\n'
                    '[objective]\nname = "logistic"\nn = 50\nd = 3\n'
                    '[noise]\nname = "minibatch"\nb = 2\n'
                    '[algorithm]\nname = "sgd"\neta = 0.1\n')
    tr = run(Experiment.from_toml(path))
    assert tr.R == 2 and tr.steps[-1] == 20 and np.isfinite(tr["excess"]).all()
    path.write_text("T = [")
    with pytest.raises(ValueError, match="malformed TOML"):
        Experiment.from_toml(path)


def test_nonconvex_runs_log_stationarity():
    tr = run(base(objective={"name": "robust_regression", "n": 60, "d": 4},
                  noise={"name": "minibatch", "b": 4}, algorithm={"name": "sgd", "eta": 0.05}))
    assert "excess" not in tr.metrics and np.isfinite(tr["grad_norm_sq"]).all()


def test_heterogeneous_data_partition_runs():
    tr = run(base(objective={"name": "logistic", "n": 80, "d": 3}, noise={"name": "minibatch", "b": 2},
                  heterogeneity={"name": "partition", "kind": "dirichlet", "alpha": 0.3}, m=4,
                  algorithm={"name": "sgd", "eta": 0.5}, T=200))
    assert tr.constants["zeta"] > 0 and not tr.constants["zeta_exact"]
    assert tr.final("excess").max() < tr["excess"][:, 0].min()


@pytest.mark.parametrize("changes, exc, msg", [
    (dict(m=3, f=3), ValueError, "The 'f' parameter of Experiment must be <= 2. Got f=3."),
    (dict(T=0), ValueError, "The 'T' parameter of Experiment must be >= 1"),
    (dict(seeds=[]), ValueError, "The 'seeds' parameter of Experiment must hold at least one seed"),
    (dict(f=1), ValueError, "The 'attack' parameter of Experiment must be given when f=1"),
    (dict(attack="sign_flip"), ValueError, "The 'attack' parameter of Experiment must be None when f = 0"),
    (dict(lam=0.5), ValueError, "The 'lam' parameter of Experiment must be < 0.5"),
    (dict(dtype="float16"), ValueError, "The 'dtype' parameter of Experiment must be one of"),
    (dict(aggregator="ctma(nope)"), ValueError, "'spec' parameter of parse"),
    (dict(algorithm={"name": "sgd"}), ValueError, "The 'eta' parameter of make_algorithm must be given"),
    (dict(objective={"d": 3}), ValueError, "The 'objective' parameter of Experiment must have a 'name' key"),
    (dict(weights="inverse", arrivals={"name": "speeds"}), ValueError, "The 'weights' parameter of Experiment"),
    (dict(log=0), ValueError, "The 'log' parameter of Experiment must be >= 1"),
    (dict(arrivals={"name": "speeds", "lam": 0.2}), ValueError, "The 'lam' parameter of Speeds must be 0 when"),
    (dict(arrivals={"name": "replay", "workers": [0, 1]}), ValueError, "hold at least T=60 arrivals"),
    (dict(arrivals={"name": "compute_times", "speeds": [1.0, 2.0]}), ValueError, "'speeds' parameter of ComputeTimes"),
])
def test_invalid_configs_fail_before_the_run(changes, exc, msg):
    with pytest.raises(exc, match=msg):
        Plan(Experiment.from_dict(base(**changes)))


def test_unknown_keys_and_impossible_sizes_fail_clearly():
    with pytest.raises(ValueError, match="Unknown experiment keys \\['steps'\\]"):
        Experiment.from_dict({"steps": 3})
    with pytest.raises(MemoryError, match="needs about .* GiB .* Reduce the number of seeds"):
        Plan(Experiment.from_dict(base(objective={"name": "quadratic", "d": 10, "rotate": False}, m=10**6,
                                       seeds=10**4)))


def test_no_progress_output_when_not_a_terminal(capsys):
    run(base())
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.parametrize("attack", ["sign_flip", {"name": "ipm", "eps": 0.5}])
def test_byzantine_synchronous_training_is_the_all_arrive_asynchronous_limit(attack):
    # deterministic omniscient attacks see the same honest rows in both paths; the async
    # path passes equal count weights, which weighted rules must treat as unweighted.
    # (Not ALIE: its weighted form recomputes z from the total and Byzantine weight
    # [DL24b-code, attacks/alie.py], so it differs from the unweighted attack even with equal counts.)
    cfg = base(m=9, f=2, attack=attack, aggregator="ctma(cwmed)")
    _close(run(cfg), run({**cfg, "arrivals": {"name": "rounds"}}), rtol=1e-10)


def test_label_flip_workers_run_the_algorithm_on_flipped_labels():
    cfg = dict(objective={"name": "logistic", "n": 120, "d": 3, "seed": 4}, noise={"name": "minibatch", "b": 4},
               m=5, f=2, attack="label_flip", aggregator="mean", T=150, seeds=4,
               algorithm={"name": "sgd", "eta": 0.5})
    flipped = run(cfg)
    honest_only = run({**cfg, "m": 3, "f": 0, "attack": None})
    # averaging in 2 of 5 workers pulling towards the flipped problem's optimum costs excess
    assert flipped.final("excess").min() > 3 * honest_only.final("excess").max()
    assert np.isfinite(run({**cfg, "arrivals": {"name": "speeds", "lam": 0.3}}).final("excess")).all()
    with pytest.raises(ValueError, match="The 'attack' parameter of Experiment must be used with a classification"):
        Plan(Experiment.from_dict(base(f=1, attack="label_flip")))


def test_a_robust_rule_resists_an_attack_that_breaks_the_mean():
    cfg = base(m=10, f=3, attack={"name": "far_point", "distance": 100.0}, T=100, seeds=2)
    broken = run({**cfg, "aggregator": "mean"})
    robust = run({**cfg, "aggregator": "ctma(cwmed)"})
    assert robust.final("excess").max() < 1e-2 * broken.final("excess").min()
    assert (robust.final("aggregation_error") < robust.final("honest_spread")).all()


def test_asynchronous_byzantine_share_and_staleness_are_recorded():
    tr = run(base(m=8, f=2, attack="sign_flip", aggregator="ctma(cwmed)", T=400, seeds=3,
                  arrivals={"name": "speeds", "speeds": "id", "lam": 0.25, "byzantine": "schedule"}))
    assert tr.meta["realized_lam"] == [0.25, 0.25, 0.25]  # every 4th step [DL24b-code, trainer/async_trainer.py]
    # count weights give the Byzantine workers the realized share of the updates
    bw = tr["byzantine_weight"][:, -1]
    assert np.allclose(bw, (2 + 100) / (8 + 400))
    st, who = tr.events["staleness"], tr.events["worker"]
    assert st.shape == (3, 400) and st[who < 6].max() > 0
    assert (st[who >= 6] == 0).all()  # omniscient rows are computed when they are delivered
    given = run(base(m=3, T=30, seeds=1, arrivals={"name": "speeds"}, weights=[1.0, 0.0, 2.0],
                     aggregator="mean"))
    assert np.isfinite(given.final("excess")).all()

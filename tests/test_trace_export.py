"""Trace.columns / to_frame / to_csv / to_parquet: the long form, checked against plain loops over the arrays."""

import csv
import math

import numpy as np
import pytest

from sco.trace import Trace


def small_trace():
    rng = np.random.default_rng(0)
    steps = np.array([1, 2, 5])
    metrics = {"excess": rng.standard_normal((2, 3)), "worker_counts": rng.integers(0, 9, (2, 3, 4)).astype(float)}
    metrics["excess"][1, 2] = np.nan  # a diverged or unlogged value stays NaN
    config = {"aggregator": "ctma(cwmed)", "algorithm": {"name": "mu2sgd", "eta": 0.01}, "m": 4, "T": 5,
              "noise": {"name": "gaussian", "sigma": 1.0}}
    return Trace(config, [7, 11], steps, metrics, meta={"grid": {"aggregator": "ctma(cwmed)", "algorithm.eta": 0.01}})


def expected_rows(tr, keys):
    """The long form by plain loops: (run, seed, key values..., step, worker or None, metric, value)."""
    rows = []
    for name, arr in tr.metrics.items():
        for r, seed in enumerate(tr.seeds):
            for j, t in enumerate(tr.steps):
                if arr.ndim == 2:
                    rows.append((r, seed, *keys, int(t), None, name, arr[r, j]))
                else:
                    for i in range(arr.shape[2]):
                        rows.append((r, seed, *keys, int(t), i, name, arr[r, j, i]))
    return rows


def same(a, b):
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def test_columns_are_the_long_form():
    tr = small_trace()
    cols = tr.columns()
    assert list(cols) == ["run", "seed", "aggregator", "algorithm.eta", "step", "worker", "metric", "value"]
    got = list(zip(*(c.tolist() for c in cols.values())))
    want = expected_rows(tr, ["ctma(cwmed)", 0.01])
    assert len(got) == len(want) == 2 * 3 + 2 * 3 * 4
    for g, w in zip(got, want):
        g = tuple(None if (k == 5 and v == -1) else v for k, v in enumerate(g))
        assert all(same(x, y) for x, y in zip(g, w)), (g, w)


def test_keys_are_config_paths_and_no_worker_column_without_per_worker_metrics():
    tr = small_trace()
    del tr.metrics["worker_counts"]
    cols = tr.columns(keys=["noise.sigma", "noise", "missing.key"])
    assert list(cols) == ["run", "seed", "noise.sigma", "noise", "missing.key", "step", "metric", "value"]
    assert set(cols["noise.sigma"]) == {1.0}
    assert set(cols["noise"]) == {'{"name": "gaussian", "sigma": 1.0}'}
    assert set(cols["missing.key"]) == {None}
    tr.meta = {}
    assert list(tr.columns()) == ["run", "seed", "step", "metric", "value"]  # no grid recorded: no keys
    with pytest.raises(ValueError, match=r"The 'keys' parameter of Trace.columns must hold config paths"):
        tr.columns(keys=["step"])


def test_to_frame():
    pd = pytest.importorskip("pandas")
    tr = small_trace()
    df = tr.to_frame()
    assert list(df.columns) == ["run", "seed", "aggregator", "algorithm.eta", "step", "worker", "metric", "value"]
    assert str(df["worker"].dtype) == "Int64"
    per_run = df[df.metric == "excess"]
    assert per_run["worker"].isna().all() and len(per_run) == 6
    w = df[df.metric == "worker_counts"].set_index(["run", "step", "worker"])["value"]
    for r in range(2):
        for j, t in enumerate(tr.steps):
            for i in range(4):
                assert w.loc[(r, t, i)] == tr["worker_counts"][r, j, i]
    assert df.loc[(df.metric == "excess") & (df.run == 1) & (df.step == 5), "value"].isna().all()
    assert pd.api.types.is_integer_dtype(df["seed"]) and set(df["seed"]) == {7, 11}


def test_to_csv_reads_back_exactly(tmp_path):
    tr = small_trace()
    path = tr.to_csv(tmp_path / "sub" / "trace.csv")
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["run", "seed", "aggregator", "algorithm.eta", "step", "worker", "metric", "value"]
    want = expected_rows(tr, ["ctma(cwmed)", "0.01"])
    assert len(rows) - 1 == len(want)
    for row, w in zip(rows[1:], want):
        assert [int(row[0]), int(row[1]), row[2], row[3], int(row[4])] == [w[0], w[1], w[2], w[3], w[4]]
        assert row[5] == ("" if w[5] is None else str(w[5]))
        assert row[6] == w[6]
        assert same(float(row[7]), float(w[7]))  # repr round-trips the float exactly


def test_to_parquet_reads_back(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    tr = small_trace()
    table = pq.read_table(tr.to_parquet(tmp_path / "trace.parquet"))
    assert table.column_names == ["run", "seed", "aggregator", "algorithm.eta", "step", "worker", "metric", "value"]
    got = list(zip(*(table.column(c).to_pylist() for c in table.column_names)))
    want = expected_rows(tr, ["ctma(cwmed)", 0.01])
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert all(same(x, y) for x, y in zip(g, w)), (g, w)


def test_export_of_a_simulated_trace(tmp_path):
    from sco.simulate import run

    tr = run(dict(objective={"name": "quadratic", "d": 3, "L": 1.0, "mu": 0.0, "seed": 1}, m=2, T=8, seeds=[3, 4],
                  algorithm={"name": "sgd", "eta": 0.1}, log=4, progress=False))
    cols = tr.columns(keys=["algorithm.eta"])
    n = sum(a.size for a in tr.metrics.values())
    assert len(cols["value"]) == n and set(cols["step"]) == {4, 8} and set(cols["seed"]) == {3, 4}
    assert np.array_equal(cols["value"][cols["metric"] == "excess"], tr["excess"].ravel())
    assert tr.to_csv(tmp_path / "t.csv").stat().st_size > 0


def test_missing_optional_packages_say_what_to_install(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_extras(name, *args, **kw):
        if name.split(".")[0] in ("pandas", "pyarrow"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_extras)
    tr = small_trace()
    with pytest.raises(ModuleNotFoundError, match=r"Trace.to_frame needs pandas: pip install pandas"):
        tr.to_frame()
    with pytest.raises(ModuleNotFoundError, match=r"Trace.to_parquet needs pyarrow: pip install 'sco\[parquet\]'"):
        tr.to_parquet("x.parquet")

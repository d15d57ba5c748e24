"""Sweeps: spec expansion and names, up-front validation, batching, the store, executors, the CLI."""

import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sco import cli, simulate
from sco.simulate import run
from sco.sweep import Store, Sweep, run_sweep
from sco.sweep.executors import Batch, ProcessExecutor
from sco.sweep.store import RunKey, join, split
from sweep_helpers import (assert_same_traces, db_rows, hammer, stored, sweep_cmd, sweep_env, tiny_spec,
                           toml_text)

ROOT_SCO = Path(simulate.__file__).parent


@pytest.fixture
def count_runs(monkeypatch):
    """Counts the simulations that start in this process (and can make chosen ones fail)."""
    calls = []
    real = simulate.Plan.run
    fail_if = []

    def counted(plan):
        calls.append((plan.exp.lam, plan.exp.algorithm, list(plan.seeds)))
        for pred in fail_if:
            if pred(plan.exp):
                raise RuntimeError("boom: a planted failure")
        return real(plan)

    monkeypatch.setattr(simulate.Plan, "run", counted)
    counted.calls, counted.fail_if = calls, fail_if
    return counted


@pytest.fixture
def spec_file(tmp_path):
    """The tiny sweep as a TOML file."""
    path = tmp_path / "s.toml"
    path.write_text(toml_text(tiny_spec()))
    return path


# -- specs: expansion and names ------------------------------------------------------------------


def test_cells_are_the_grid_product_named_from_the_varied_keys():
    sw = Sweep.from_dict({"name": "s", "base": {"m": 5, "f": 1, "attack": "alie", "seeds": 4,
                                                 "algorithm": {"name": "mu2sgd", "eta": 0.1}},
                          "grid": {"aggregator": ["cwmed", "ctma(cwmed)"], "lam": [0.2],
                                   "algorithm": {"eta": [0.1, 1e-05]}}})
    names = [c.name for c in sw.cells]
    assert names == ["cwmed lam=0.2 | mu2sgd eta=0.1", "cwmed lam=0.2 | mu2sgd eta=1e-05",
                     "ctma(cwmed) lam=0.2 | mu2sgd eta=0.1", "ctma(cwmed) lam=0.2 | mu2sgd eta=1e-05"]
    cell = sw.cells[2]
    assert cell.run_name(3) == "ctma(cwmed) lam=0.2 | mu2sgd eta=0.1 | seed=3"
    assert cell.grid == {"aggregator": "ctma(cwmed)", "lam": 0.2, "algorithm.eta": 0.1}
    assert cell.config["algorithm"] == {"name": "mu2sgd", "eta": 0.1}
    assert cell.seeds == [0, 1, 2, 3] and cell.config["lam"] == 0.2 and cell.config["m"] == 5
    # the dotted key is the nested table
    flat = Sweep.from_dict({"base": {}, "grid": {"algorithm.eta": [0.1, 1e-05]}})
    assert [c.name for c in flat.cells] == ["mean | mu2sgd eta=0.1", "mean | mu2sgd eta=1e-05"]


def test_zipped_axes_tables_seeds_in_the_grid_and_no_axes():
    sw = Sweep.from_dict({"base": {"attack": "sign_flip", "objective": "quadratic"},
                          "grid": {"m,f": [[4, 1], [8, 2]], "objective.d": [3],
                                   "attack": [{"name": "alie"}, {"name": "gaussian", "sigma": 2.0}],
                                   "seeds": [7, 9]}})
    assert [c.name for c in sw.cells] == [
        "mean m=4 f=1 objective.d=3 attack=alie | mu2sgd",
        "mean m=4 f=1 objective.d=3 attack=gaussian[sigma=2.0] | mu2sgd",
        "mean m=8 f=2 objective.d=3 attack=alie | mu2sgd",
        "mean m=8 f=2 objective.d=3 attack=gaussian[sigma=2.0] | mu2sgd"]
    assert sw.cells[3].config["objective"] == {"name": "quadratic", "d": 3}
    assert sw.cells[3].grid["attack"] == "gaussian[sigma=2.0]" and sw.cells[0].seeds == [7, 9]
    one = Sweep({"seeds": 3})
    assert len(one) == 1 and one.cells[0].name == "mean | mu2sgd" and one.cells[0].seeds == [0, 1, 2]


def test_toml_and_dict_specs_are_the_same_sweep(tmp_path):
    spec = tiny_spec()
    spec["grid"]["m,f"] = [[6, 1], [7, 2]]
    path = tmp_path / "s.toml"
    path.write_text(toml_text(spec))
    a, b = Sweep.from_toml(path), Sweep.from_dict(spec)
    assert [(c.name, c.config) for c in a.cells] == [(c.name, c.config) for c in b.cells]
    assert len(a) == 8 and a.name == "tiny"


# -- bad specs fail before any cell runs, naming the key and the cell -----------------------------------


BAD = [
    ("unknown aggregator", {"grid": {"aggregator": ["cwmed", "nope"]}}, ValueError,
     r"Cell 'nope \| mu2sgd' of sweep 'tiny' is invalid: .*registered aggregator.*Got spec='nope'"),
    ("lam >= 1/2", {"grid": {"lam": [0.2, 0.5]}}, ValueError,
     r"Cell 'cwmed lam=0.5 \| mu2sgd' .*The 'lam' parameter of Experiment must be < 0.5. Got lam=0.5"),
    ("a list where a number is needed", {"base": {"lam": [0.1, 0.2]}}, TypeError,
     r"'lam' parameter of Experiment must be a real number. Got lam=\[0.1, 0.2\]. base.lam is a list: "
     r"to sweep over its values, move it to \[grid\]"),
    ("a list inside an axis", {"grid": {"algorithm.eta": [0.1, [0.2]]}}, TypeError,
     r"Cell 'cwmed \| mu2sgd eta=\(0.2\)' .*'eta' parameter of anytime must be a real number"),
    ("an axis that is not a list", {"grid": {"lam": 0.2}}, TypeError,
     r"The 'grid.lam' parameter of the sweep spec must be a non-empty list of values"),
    ("an unknown key", {"grid": {"lamda": [0.1]}}, ValueError,
     r"The 'grid.lamda' parameter of the sweep spec must start with an Experiment field"),
    ("an unknown base key", {"base": {"T": 5, "sedes": 3}}, ValueError, r"'base' parameter .* Got base='sedes'"),
    ("a misplaced key", {"lam": 0.1}, ValueError, r"The 'lam' parameter of the sweep spec must be one of the spec"),
    ("zipped values of the wrong length", {"grid": {"m,f": [[4, 1], [8]]}}, TypeError,
     r"'grid.m,f' parameter .* must hold lists of 2 values"),
    ("repeated seeds", {"base": {"seeds": [1, 1]}}, ValueError, r"'base.seeds' .* must hold distinct seeds"),
    ("an unknown attack", {"grid": {"attack": ["alie", "zz"]}}, ValueError, r"Cell .*attack=zz.*Unknown attack 'zz'"),
    ("a CUDA cell without a GPU", {"base": {"device": "cuda"}}, ValueError,
     r"'device' parameter of Experiment must name a device that the executor has"),
]


@pytest.mark.parametrize("what, change, kind, match", BAD, ids=[b[0] for b in BAD])
def test_bad_specs_fail_before_any_cell_runs(what, change, kind, match, tmp_path, count_runs):
    if what == "a CUDA cell without a GPU" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    spec = {"name": "tiny", "base": {"m": 5, "f": 1, "attack": "alie", "T": 5, "aggregator": "cwmed"}}
    for k, v in change.items():
        spec[k] = {**spec.get(k, {}), **v} if isinstance(v, dict) else v
    with pytest.raises(kind, match=match):
        run_sweep(spec, tmp_path / "store")
    assert count_runs.calls == []
    assert not (tmp_path / "store").exists()


def test_malformed_toml_fails_naming_the_file_and_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\n[base]\nT = 20\nlam = 0.1,\n')
    with pytest.raises(ValueError, match=r"bad.toml: malformed TOML: .*line 4"):
        Sweep.from_toml(path)
    assert cli.main(["sweep", str(path), "--store", str(tmp_path / "store")]) == 2
    assert "malformed TOML" in capsys.readouterr().err
    assert not (tmp_path / "store").exists()


# -- batching and the store ------------------------------------------------------------------------------


def test_seeds_of_a_cell_run_as_one_batch_and_equal_their_runs_alone(tmp_path, count_runs):
    spec = tiny_spec(seeds=(4, 0, 2), grid={"aggregator": ["cwmed", "ctma(cwmed)"]})
    summary = run_sweep(spec, tmp_path)
    assert summary.ok and len(summary.done) == 6 and summary.skipped == []
    assert [c[2] for c in count_runs.calls] == [[4, 0, 2], [4, 0, 2]]  # one batch per cell
    store = Store(tmp_path)
    for row in store.runs("tiny"):
        assert row["status"] == "done" and row["device"] == "cpu"
        tr = store.load(row)
        assert tr.seeds == [row["seed"]] and tr.meta["batch"] == [4, 0, 2]
        alone = run({**spec["base"], "aggregator": row["aggregator"], "seeds": [row["seed"]], "progress": False})
        # the same random draws bit for bit; arithmetic may differ in the last bits with the batch
        # shape (reduction order), which 20 contracting steps keep far below 1e-10
        for k in alone.metrics:
            np.testing.assert_allclose(tr[k], alone[k], rtol=1e-10, atol=1e-300, err_msg=k)


def test_a_rerun_skips_finished_runs_and_new_seeds_run_alone(tmp_path, count_runs):
    run_sweep(tiny_spec(seeds=(0, 1)), tmp_path)
    n = len(count_runs.calls)
    again = run_sweep(tiny_spec(seeds=(0, 1)), tmp_path)
    assert len(count_runs.calls) == n and again.done == [] and len(again.skipped) == 8
    more = run_sweep(tiny_spec(seeds=(0, 1, 2, 3)), tmp_path)
    assert len(more.done) == 8 and len(more.skipped) == 8
    assert [c[2] for c in count_runs.calls[n:]] == [[2, 3]] * 4
    assert len(Store(tmp_path).runs("tiny")) == 16  # the sweep is now its latest definition


def test_batch_size_splits_the_seeds_of_a_cell(tmp_path, count_runs):
    spec = {**tiny_spec(seeds=(0, 1, 2, 3, 4), grid={"lam": [0.1]}), "batch": 2}
    run_sweep(spec, tmp_path)
    assert [c[2] for c in count_runs.calls] == [[0, 1], [2, 3], [4]]


def test_a_failing_cell_is_recorded_the_sweep_goes_on_and_a_rerun_retries_it(spec_file, tmp_path, count_runs,
                                                                            capsys):
    count_runs.fail_if.append(lambda exp: exp.algorithm["eta"] == 0.02)
    assert cli.main(["sweep", str(spec_file), "--store", str(tmp_path / "store")]) == 1
    out = capsys.readouterr()
    assert "4 done, 0 skipped (done before), 4 failed" in out.out
    assert "FAILED   cwmed | mu2sgd eta=0.02 | seed=0: RuntimeError: boom: a planted failure" in out.out
    runs = Store(tmp_path / "store").runs("tiny")
    failed = [r for r in runs if r["status"] == "failed"]
    assert len(failed) == 4 and all("Traceback" in r["error"] and "boom" in r["error"] for r in failed)
    # a dry run lists them (and exits 0: it ran nothing)
    assert cli.main(["sweep", str(spec_file), "--store", str(tmp_path / "store"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "4 runs to run, 4 done before, 4 failed before" in out and "boom" in out
    count_runs.fail_if.clear()
    summary = run_sweep(spec_file, tmp_path / "store")
    assert len(summary.done) == 4 and len(summary.skipped) == 4 and summary.ok
    assert {r["status"] for r in Store(tmp_path / "store").runs("tiny")} == {"done"}


def test_a_death_between_trace_file_and_commit_leaves_no_finished_run(tmp_path, monkeypatch):
    from sco.sweep import store as store_mod

    class Died(BaseException):
        pass

    def die(path):
        raise Died  # the trace file is on disk; the row never commits

    monkeypatch.setattr(store_mod, "_fsync", die)
    with pytest.raises(Died):
        run_sweep(tiny_spec(), tmp_path)
    monkeypatch.undo()
    store = Store(tmp_path)
    assert [r["status"] for r in store.runs("tiny")] == ["pending"] * 8
    orphans = list((tmp_path / "traces").rglob("*.npz"))
    assert len(orphans) == 1
    assert run_sweep(tiny_spec(), tmp_path).ok
    assert store.check() == [] and len(db_rows(tmp_path)) == 8
    assert store.prune(older_than=3600) == 0 and orphans[0].exists()  # young files may be a writer's
    assert store.prune(older_than=0) == 1 and not orphans[0].exists()
    assert len(list((tmp_path / "traces").rglob("*.npz"))) == 8


def test_a_run_whose_trace_file_was_deleted_runs_again(tmp_path, count_runs):
    run_sweep(tiny_spec(), tmp_path)
    store = Store(tmp_path)
    lost = store.runs("tiny")[5]
    (tmp_path / lost["trace"]).unlink()
    assert store.check() == [f"run {lost['key'][:12]}: trace file {lost['trace']} is missing"]
    assert store.runs("tiny")[5]["status"] == "damaged"
    again = run_sweep(tiny_spec(), tmp_path)
    assert again.done == [f"{lost['cell']} | seed={lost['seed']}"] and count_runs.calls[-1][2] == [lost["seed"]]
    assert store.check() == [] and len(db_rows(tmp_path)) == 8


def test_changed_code_does_not_reuse_results_unless_asked(tmp_path, count_runs):
    run_sweep(tiny_spec(), tmp_path)
    n = len(count_runs.calls)
    other = Store(tmp_path)
    other.code = "0.0.0+edited"
    assert len(run_sweep(tiny_spec(), other).skipped) == 0 and len(count_runs.calls) == n + 4
    anycode = Store(tmp_path, any_code=True)
    anycode.code = "0.0.0+later"
    assert len(run_sweep(tiny_spec(), anycode).skipped) == 8 and len(count_runs.calls) == n + 4
    codes = {r["code"] for r in Store(tmp_path).runs()}
    assert len(codes) == 1  # this version's results are preferred where there are several


def test_code_version_hashes_the_package_source(tmp_path):
    import shutil

    from sco.sweep import code_version

    shutil.copytree(ROOT_SCO, tmp_path / "sco", ignore=shutil.ignore_patterns("__pycache__"))
    probe = [sys.executable, "-c", "from sco.sweep.store import code_version; print(code_version())"]
    env = {**sweep_env(), "PYTHONPATH": str(tmp_path)}
    before = subprocess.run(probe, env=env, cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert before == code_version()
    with open(tmp_path / "sco" / "noise.py", "a") as fh:
        fh.write("\n# an edit\n")
    after = subprocess.run(probe, env=env, cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert after != before and after.split("+")[0] == before.split("+")[0]


def test_table_has_a_row_per_run_step_and_metric_with_the_grid_as_columns(tmp_path):
    run_sweep(tiny_spec(), tmp_path)
    store = Store(tmp_path)
    rows = store.table("tiny")
    first = rows[0]
    assert list(first) == ["sweep", "cell", "seed", "aggregator", "algorithm.eta", "step", "metric", "value"]
    tr = store.load(store.runs("tiny")[0])
    assert len(rows) == 8 * len(tr.metrics) * len(tr.steps)
    final = store.table("tiny", metrics="excess", final=True)
    assert len(final) == 8 and {r["step"] for r in final} == {20}
    by_run = {(r["cell"], r["seed"]): r["value"] for r in final}
    for run_row in store.runs("tiny"):
        assert by_run[(run_row["cell"], run_row["seed"])] == store.load(run_row).final("excess")[0]
    frame = store.table("tiny", final=True, frame=True)
    assert set(frame["aggregator"]) == {"cwmed", "ctma(cwmed)"} and len(frame) == 8 * len(tr.metrics)
    assert store.sweeps() == ["tiny"]


def test_get_or_run_reads_what_is_stored_and_runs_only_missing_seeds(tmp_path, count_runs):
    exp = {**tiny_spec()["base"], "aggregator": "ctma(cwmed)", "seeds": [0, 1], "progress": False}
    store = Store(tmp_path)
    a = store.get_or_run(exp)
    b = store.get_or_run(exp)
    assert len(count_runs.calls) == 1
    assert_same_traces({0: a}, {0: b})
    c = store.get_or_run({**exp, "seeds": [2, 1, 0]})
    assert count_runs.calls[-1][2] == [2] and c.seeds == [2, 1, 0]
    direct = run({**exp, "seeds": [2, 1, 0]})
    for k in direct.metrics:
        np.testing.assert_allclose(c[k], direct[k], rtol=1e-10, atol=1e-300, err_msg=k)
    # a sweep cell with the same config is the same run ("median" is "cwmed")
    spec = tiny_spec(grid={"aggregator": ["ctma(median)"]})
    assert len(run_sweep(spec, store).skipped) == 2
    count_runs.fail_if.append(lambda e: True)
    with pytest.raises(RuntimeError, match=r"Run ctma\(cwmed\) \| mu2sgd \| seed=5 failed: RuntimeError: boom"):
        store.get_or_run({**exp, "seeds": [5]})


def test_split_and_join_are_inverse():
    tr = run({**tiny_spec()["base"], "seeds": [3, 1, 2], "arrivals": {"name": "speeds", "speeds": "id2"},
              "progress": False})
    parts = split(tr)
    assert [p.seeds for p in parts] == [[3], [1], [2]]
    back = join(parts)
    assert back.seeds == [3, 1, 2] and back.meta["realized_lam"] == tr.meta["realized_lam"]
    assert_same_traces({0: back}, {0: tr})


# -- executors and concurrent writers -----------------------------------------------------------------


def test_the_process_pool_gives_the_in_process_results(tmp_path):
    local = run_sweep(tiny_spec(), tmp_path / "local")
    ex = ProcessExecutor(2)
    try:
        pool = run_sweep(tiny_spec(), tmp_path / "pool", executor=ex)
        assert pool.executor == "process" and sorted(pool.done) == sorted(local.done)
        assert_same_traces(stored(tmp_path / "local"), stored(tmp_path / "pool"))
        # a batch that fails in a worker process is recorded by that process (the batch skips
        # the sweep's validation, which would have caught it)
        store = Store(tmp_path / "pool")
        bad = Batch("bad", {**tiny_spec()["base"], "aggregator": "nope", "seeds": [0], "device": "cpu",
                            "progress": False}, [RunKey('{"bad":0}', 0, store.code)])
        [(_, out)] = list(ex.map([bad], store))
    finally:
        ex.close()
    assert not out.ok and "registered aggregator" in out.error
    assert store.status([bad.keys[0].config_hash])[bad.keys[0].config_hash]["status"] == "failed"


def test_concurrent_writers_never_corrupt_the_store_nor_store_a_run_twice(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=hammer, args=(tmp_path, w, 100, barrier)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    (s0, e0), (s1, e1) = (json.loads((tmp_path / f"writer{w}.json").read_text()) for w in range(2))
    assert max(s0, s1) < min(e0, e1)  # they did write at the same time
    rows = db_rows(tmp_path)
    assert len(rows) == 200 and {r[1] for r in rows} == {"done"}  # failures never overwrite a done run
    files = {p.relative_to(tmp_path).as_posix() for p in (tmp_path / "traces").rglob("*.npz")}
    assert files == {r[2] for r in rows}  # each loser removed its own file
    assert Store(tmp_path).check() == []


def test_two_sweep_processes_on_one_store(tmp_path):
    # two drivers of the same sweep at once: every run stored once, nothing corrupt, the numbers
    # of an undisturbed run
    spec = tiny_spec(T=200, grid={"aggregator": ["cwmed", "ctma(cwmed)"], "lam": [0.1, 0.2, 0.3]})
    (tmp_path / "a.toml").write_text(toml_text(spec))
    procs = [subprocess.Popen(sweep_cmd(tmp_path / "a.toml", tmp_path / "s"), env=sweep_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    rows = db_rows(tmp_path / "s")
    assert len(rows) == 12 and {r[1] for r in rows} == {"done"}
    assert len(list((tmp_path / "s" / "traces").rglob("*.npz"))) == 12
    run_sweep(spec, tmp_path / "ref")
    assert_same_traces(stored(tmp_path / "s"), stored(tmp_path / "ref"))


# -- the command line -------------------------------------------------------------------------------


def test_cli_dry_run_lists_batches_and_writes_nothing(spec_file, tmp_path, capsys):
    assert cli.main(["sweep", str(spec_file), "--store", str(tmp_path / "store"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "8 runs to run, 0 done before" in out and "to run   ctma(cwmed) | mu2sgd eta=0.02 | seeds=0,1" in out
    assert not (tmp_path / "store").exists()
    assert cli.main(["sweep", str(spec_file), "--store", str(tmp_path / "store")]) == 0
    assert "8 done, 0 skipped" in capsys.readouterr().out
    assert cli.main(["sweep", str(spec_file), "--store", str(tmp_path / "store"), "--dry-run"]) == 0
    assert "0 runs to run, 8 done before" in capsys.readouterr().out


def test_cli_rejects_options_of_other_executors(spec_file, tmp_path, capsys):
    assert cli.main(["sweep", str(spec_file), "--executor", "local", "--workers", "2"]) == 2
    assert "'workers' parameter of sweep must be given with executor='process' only" in capsys.readouterr().err
    assert cli.main(["sweep", str(tmp_path / "missing.toml")]) == 2
    assert "No such file" in capsys.readouterr().err


def test_progress_is_one_log_line_per_batch_off_a_terminal(spec_file, tmp_path, capsys):
    assert cli.main(["sweep", str(spec_file), "--store", str(tmp_path / "store")]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"sco sweep tiny: 8 runs in 4 batches to run, 0 done before (store {tmp_path / 'store'}, " \
                       "executor local)"
    assert lines[1] == "sco sweep tiny: [1/4] start cwmed | mu2sgd eta=0.1 | seeds=0,1"
    assert sum("] start " in ln for ln in lines) == 4 and sum("] done " in ln for ln in lines) == 4


def test_ctrl_c_keeps_what_finished_and_says_how_to_resume(spec_file, tmp_path, count_runs, capsys):
    count_runs.fail_if.append(lambda exp: len(count_runs.calls) == 3 and _interrupt())
    assert cli.main(["sweep", str(spec_file), "--store", str(tmp_path / "store")]) == 130
    assert "interrupted; 4 runs finished now are in" in capsys.readouterr().err
    assert [r["status"] for r in Store(tmp_path / "store").runs("tiny")] == ["done"] * 4 + ["pending"] * 4


def _interrupt():
    raise KeyboardInterrupt


# -- names round-trip, options given flat are kept ------------------------------------------------------


def test_run_names_read_back_and_their_aggregator_part_parses():
    from sco.aggregators import parse
    from sco.sweep import RunName, parse_run_name

    sw = Sweep.from_dict({"base": {"m": 9, "f": 2, "attack": "alie", "objective": "quadratic",
                                   "noise": {"name": "gaussian", "sigma": 1.0}},
                          "grid": {"aggregator": ["nnm+ctma(cwmed)", {"name": "cwtm"}, "bucketing[s=2](krum)"],
                                   "attack": [{"name": "gaussian", "sigma": 2.0}, "a b|c%d"],
                                   "noise.sigma": [1e-05, 1.0],
                                   "algorithm": [{"name": "storm", "eta": 0.1, "beta": 0.5}],
                                   "seeds": [0, 12]}})
    assert sw.cells[0].name == "ctma(nnm(cwmed)) attack=gaussian[sigma=2.0] noise.sigma=1e-05 | storm eta=0.1 beta=0.5"
    for cell in sw.cells:
        for seed in cell.seeds:
            name = cell.run_name(seed)
            back = parse_run_name(name)
            assert str(back) == name and back.seed == seed and str(parse_run_name(cell.name)) == cell.name
            assert parse(back.aggregator).name == back.aggregator  # the grammar reads it (no '+' or '[...]' added)
            assert back.keys["noise.sigma"] == cell.grid["noise.sigma"] and back.algorithm_keys["beta"] == 0.5
    assert parse_run_name(sw.cells[2].name).keys["attack"] == "a b|c%d"  # escaped in the name, read back
    assert str(RunName("cwmed", {"lam": 0.2}, "sgd", {"eta": 0.1}, 3)) == "cwmed lam=0.2 | sgd eta=0.1 | seed=3"


def test_an_option_swept_through_a_dotted_key_gives_distinct_rules(tmp_path, count_runs):
    spec = tiny_spec(grid={"aggregator.mode": ["interpolate", "upper", "lower"]})
    spec["base"]["aggregator"] = {"name": "cwmed"}
    sw = Sweep.from_dict(spec)
    assert [c.name for c in sw.cells] == ["cwmed | mu2sgd", "cwmed[mode=upper] | mu2sgd", "cwmed[mode=lower] | mu2sgd"]
    assert run_sweep(spec, tmp_path).ok
    traces = stored(tmp_path)
    a, b = (traces[(f"cwmed{m} | mu2sgd", 0)] for m in ("", "[mode=upper]"))
    assert a.meta["aggregator"] == "cwmed" and b.meta["aggregator"] == "cwmed[mode=upper]"
    assert len(db_rows(tmp_path)) == 6  # three rules, three keys


def test_cli_rejects_zero_workers_and_a_stray_argument(spec_file, tmp_path, capsys):
    assert cli.main(["sweep", str(spec_file), "--workers", "0", "--store", str(tmp_path / "s")]) == 2
    assert "'workers' parameter of ProcessExecutor must be >= 1. Got workers=0" in capsys.readouterr().err
    assert cli.main(["sweep", str(spec_file), "extra", "--store", str(tmp_path / "s")]) == 2
    assert "unexpected argument 'extra'" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()

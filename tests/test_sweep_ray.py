"""The Ray executor on a local Ray instance started here: the same results as in-process, failures recorded."""

from pathlib import Path

import pytest

import sco
from sco.sweep import Store, run_sweep
from sco.sweep.executors import Batch, RayExecutor
from sco.sweep.store import RunKey
from sweep_helpers import assert_same_traces, stored, tiny_spec

ray = pytest.importorskip("ray", reason="the cluster extra (ray) is not installed")


@pytest.fixture(scope="module")
def local_ray():
    # one instance for the module: starting Ray takes seconds. The workers get this checkout's
    # sco package, as RayExecutor gives a cluster it connects to itself.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"py_modules": [str(Path(sco.__file__).parent)]})
    yield
    ray.shutdown()


def test_a_sweep_on_ray_gives_the_in_process_results(local_ray, tmp_path):
    spec = tiny_spec(grid={"aggregator": ["cwmed", "ctma(cwmed)"], "lam": [0.1, 0.3]})
    on_ray = run_sweep(spec, tmp_path / "ray", executor="ray")
    local = run_sweep(spec, tmp_path / "local")
    assert on_ray.executor == "ray" and on_ray.ok and sorted(on_ray.done) == sorted(local.done)
    assert {r["device"] for r in Store(tmp_path / "ray").runs()} == {"cpu"}
    # bit for bit: the same draws, the same shapes, and d = 5 is far below any size at which
    # torch splits a reduction over threads (Ray's workers run one thread, this process more)
    assert_same_traces(stored(tmp_path / "ray"), stored(tmp_path / "local"))
    # the keys agree too: a rerun on either executor skips everything
    assert len(run_sweep(spec, tmp_path / "ray").skipped) == 8


def test_a_failing_task_on_ray_is_recorded_with_its_error(local_ray, tmp_path):
    store = Store(tmp_path)
    bad = Batch("bad", {**tiny_spec()["base"], "aggregator": "nope", "seeds": [0, 1], "device": "cpu",
                        "progress": False}, [RunKey(f'{{"bad":{s}}}', s, store.code) for s in (0, 1)])
    [(_, out)] = list(RayExecutor().map([bad], store))
    assert not out.ok and "registered aggregator" in out.error
    rows = store.status([k.config_hash for k in bad.keys])
    assert [rows[k.config_hash]["status"] for k in bad.keys] == ["failed", "failed"]


def test_cuda_cells_need_a_cluster_with_gpus(local_ray, tmp_path):
    # validated before anything runs: a task asking for a GPU the cluster lacks would wait forever
    with pytest.raises(ValueError, match=r"'device' parameter of Experiment must name a device that the executor "
                                         r"has \(it has no CUDA GPU\). Got device='cuda'"):
        run_sweep({**tiny_spec(), "base": {**tiny_spec()["base"], "device": "cuda"}}, tmp_path, executor="ray")
    assert not tmp_path.joinpath("sco.sqlite").exists()

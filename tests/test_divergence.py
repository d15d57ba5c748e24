"""Divergence is a result: the first non-finite step is recorded, warned about, and refused by fits."""

import warnings

import numpy as np
import pytest

from sco.simulate import run
from sco.sweep.records import join, split
from sco.trace import DivergedError, DivergedWarning, Trace

QUAD = {"name": "quadratic", "d": 4, "L": 1.0, "mu": 0.1, "seed": 1}


def _cfg(**kw):
    cfg = dict(objective=QUAD, noise={"name": "gaussian", "sigma": 1.0}, m=3, T=120, seeds=[0, 1],
               algorithm={"name": "mu2sgd", "eta": 1000.0}, log=1, progress=False)
    cfg.update(kw)
    return cfg


def _quiet(cfg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergedWarning)
        return run(cfg)


@pytest.mark.parametrize("arrivals", [None, {"name": "speeds", "speeds": "id"}])
def test_the_first_non_finite_step_is_recorded_and_warned(arrivals):
    with pytest.warns(DivergedWarning, match=r"2 of 2 runs of mean \+ mu2sgd diverged .*seed 0 at step \d+.*eta"):
        tr = run(_cfg(arrivals=arrivals))
    assert tr.diverged.all()
    for r, t in enumerate(tr.diverged_at):
        # metamorphic: the same run stopped one step earlier stays finite, and stopped there diverges there
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            before = run(_cfg(arrivals=arrivals, T=t - 1, seeds=[tr.seeds[r]]))
        assert before.diverged_at == [None] and all(np.isfinite(v).all() for v in before.metrics.values())
        at = _quiet(_cfg(arrivals=arrivals, T=t, seeds=[tr.seeds[r]]))
        assert at.diverged_at == [t]
        j = int(np.flatnonzero(tr.steps == t)[0])
        assert np.isfinite(tr["grad_norm_sq"][r, :j]).all() and not np.isfinite(tr["grad_norm_sq"][r, j:]).all()


def test_a_finite_run_is_not_marked_and_the_marking_survives_save_split_and_join(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fine = run(_cfg(algorithm={"name": "mu2sgd", "eta": 0.01}))
    assert fine.diverged_at == [None, None] and fine.require_finite() is fine
    bad = _quiet(_cfg())
    back = Trace.load(bad.save(tmp_path / "t.npz"))
    assert back.diverged_at == bad.diverged_at
    parts = split(bad)
    assert [p.diverged_at for p in parts] == [[t] for t in bad.diverged_at]
    mixed = join([split(fine)[0], parts[1]])
    assert mixed.diverged_at == [None, bad.diverged_at[1]]
    with pytest.raises(DivergedError, match=rf"the fit cannot use diverged runs. 1 of 2 runs .*seed 1 at step "
                                            rf"{bad.diverged_at[1]}"):
        mixed.require_finite("the fit")
    # a trace saved before the marking existed reads as finite
    old = Trace(fine.config, fine.seeds, fine.steps, fine.metrics)
    assert old.diverged_at == [None, None] and not old.diverged.any()

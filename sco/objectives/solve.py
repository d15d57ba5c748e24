"""Optima without closed form: an exact convex solve with cvxpy, polished by Newton, cached on disk."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from .base import Objective, Optimum

#: Clarabel's gap and feasibility tolerances for the interior-point solve.
SOLVER_TOL = 1e-9
#: Newton polishing stops when the gradient mapping norm falls below this (relative to L D).
POLISH_TOL = 1e-13
_CACHE_FORMAT = 1


def cache_dir() -> Path:
    """``$SCO_CACHE_DIR`` if set, else ``~/.cache/sco``."""
    return Path(os.environ.get("SCO_CACHE_DIR") or Path.home() / ".cache" / "sco")


def cache_key(obj: Objective) -> str:
    """A hash of everything the optimum depends on: the objective's class and parameters,
    its domain, its data (for finite sums) and the solver settings."""
    h = hashlib.sha256()
    desc = {"class": type(obj).__name__, "spec": obj.spec, "domain": obj.domain.params(),
            "d": obj.d, "format": _CACHE_FORMAT, "tol": SOLVER_TOL}
    h.update(json.dumps(desc, sort_keys=True, default=str).encode())
    fingerprint = getattr(obj, "_fingerprint", None)
    if fingerprint is not None:
        fingerprint(h)
    else:
        for name in ("A", "center"):
            t = getattr(obj, name, None)
            if isinstance(t, torch.Tensor):
                h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def _scale(x: torch.Tensor) -> float:
    return max(float(x.norm()), 1.0)


def _load(path: Path, obj: Objective) -> Optimum | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            x = torch.from_numpy(z["x_star"].copy())
            meta = json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError):
        return None  # unreadable or foreign file: solve again
    if x.shape != (obj.d,):
        return None
    # a cache entry is trusted only if the point still satisfies the optimality conditions
    kkt = obj.kkt_residual(x)
    if not kkt <= max(10 * meta["kkt_residual"], 1e-8 * obj.L * _scale(x)):
        return None
    return Optimum(x, float(obj.value(x)), meta["method"], meta["tolerance"], kkt, meta)


def _save(path: Path, opt: Optimum):
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"method": opt.method, "tolerance": opt.tolerance, "kkt_residual": opt.kkt_residual,
            "f_star": opt.f_star, "sco_version": __version__, **opt.info}
    # write then rename: readers never see a half-written file, concurrent writers race harmlessly
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, x_star=opt.x_star.numpy(), meta=np.array(json.dumps(meta)))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _newton_polish(obj: Objective, x: torch.Tensor, max_iter: int = 30) -> tuple[torch.Tensor, float, int]:
    """Newton steps on the optimality conditions (the active constraints' KKT system, see
    ``Domain.newton_step``) from the interior-point solution: the solver stops near its
    tolerance, Newton converges quadratically to machine precision from there. A step is
    kept only if it lowers the gradient-mapping norm. Returns the point, its KKT residual and
    the number of steps taken."""
    target = POLISH_TOL * obj.L * _scale(x)
    res, steps = obj.kkt_residual(x), 0
    for _ in range(max_iter):
        if res <= target:
            break
        try:
            cand = obj.domain.project(x + obj.domain.newton_step(x, obj.grad(x), obj.hessian(x)))
        except RuntimeError:  # singular system: keep the solver's point
            break
        cand_res = obj.kkt_residual(cand)
        if not cand_res < res:
            break
        x, res, steps = cand, cand_res, steps + 1
    return x, res, steps


def solve_cvxpy(obj: Objective, *, use_cache: bool = True) -> Optimum:
    """Minimize ``obj`` over its domain with cvxpy (Clarabel, tolerance ``SOLVER_TOL``).

    The solution is then polished by Newton's method on the exact Hessian (on the KKT
    system of active constraints). The result is cached under :func:`cache_dir`, keyed by
    :func:`cache_key`, and re-verified (gradient mapping) when read back.
    """
    path = cache_dir() / f"{obj.name}-{cache_key(obj)[:24]}.npz"
    if use_cache and path.exists():
        hit = _load(path, obj)
        if hit is not None:
            return hit
    import cvxpy as cp

    var = cp.Variable(obj.d)
    problem = cp.Problem(cp.Minimize(obj.cvxpy_objective(var)), obj.domain.cvxpy_constraints(var))
    try:
        with warnings.catch_warnings():
            # "Solution may be inaccurate": the status is recorded and Newton polishing follows
            warnings.simplefilter("ignore", UserWarning)
            problem.solve(solver=cp.CLARABEL, tol_gap_abs=SOLVER_TOL, tol_gap_rel=SOLVER_TOL,
                          tol_feas=SOLVER_TOL, max_iter=500)
    except cp.error.SolverError as e:
        raise RuntimeError(f"cvxpy could not minimize {obj!r}: {e}") from e
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or var.value is None:
        raise RuntimeError(
            f"cvxpy could not minimize {obj!r}: status {problem.status!r}. An unconstrained logistic "
            "loss on separable data has no finite minimizer: add l2 > 0 or a radius.")
    x = obj.domain.project(torch.from_numpy(np.asarray(var.value, dtype=np.float64)))
    method, info = "cvxpy", {"solver": "CLARABEL", "status": problem.status,
                             "solver_iterations": problem.solver_stats.num_iters}
    x, res, steps = _newton_polish(obj, x)
    if steps:
        method, info = "cvxpy+newton", {**info, "newton_steps": steps}
    opt = Optimum(x, float(obj.value(x)), method, SOLVER_TOL, res, info)
    if use_cache:
        _save(path, opt)
    return opt

"""Objectives with declared constants: quadratics and finite sums over data."""

from .. import _checks
from .._registry import call, check_options, lookup, spec_parts
from .base import Objective, Optimum
from .data import Dataset
from .glm import (GLM, Cauchy, Huber, Logistic, Loss, Softmax, Squared, huber, least_squares, logistic,
                  multiclass_logistic, nonconvex_logistic, robust_regression)
from .mlp import MLP, mlp
from .quadratic import Quadratic, quadratic

#: Objective constructors by name; ``make_objective(name, **params)`` calls them.
OBJECTIVES = {
    "quadratic": quadratic,
    "least_squares": least_squares,
    "logistic": logistic,
    "multiclass_logistic": multiclass_logistic,
    "huber": huber,
    "nonconvex_logistic": nonconvex_logistic,
    "robust_regression": robust_regression,
    "mlp": mlp,
}


def make_objective(name, **params) -> Objective:
    """The objective registered as ``name``, built with ``params``; ``name`` may also be a spec
    ``{"name": ..., **params}`` (the protocol of every registry, :func:`sco._registry.spec_parts`:
    ByzFL's ``{"name": ..., "parameters": {...}}`` too). An option given twice, unknown or
    missing raises, naming it."""
    if isinstance(name, dict):
        spec_name, options = spec_parts("make_objective", name)
        both = sorted(set(options) & set(params))
        if both:
            _checks.fail("make_objective", "spec", "give each option once, in the spec or as a keyword", name,
                         hint=f"{both} appear in both places.")
        name, params = spec_name, {**options, **params}
    elif isinstance(name, str):
        name, params = spec_parts("make_objective", {"name": name, **params})
    else:
        _checks.fail("make_objective", "name", "be a name or a spec {'name': ..., **params}", name, kind=TypeError)
    fn = lookup(name, OBJECTIVES, "objective")
    return call("make_objective", name, fn, check_options("make_objective", name, fn, params))


__all__ = ["OBJECTIVES", "GLM", "MLP", "Cauchy", "Dataset", "Huber", "Logistic", "Loss", "Objective", "Optimum",
           "Quadratic", "Softmax", "Squared", "huber", "least_squares", "logistic", "make_objective",
           "mlp", "multiclass_logistic", "nonconvex_logistic", "quadratic", "robust_regression"]

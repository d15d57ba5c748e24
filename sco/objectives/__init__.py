"""Objectives with declared constants: quadratics and finite sums over data."""

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


def make_objective(name: str, **params) -> Objective:
    """The objective registered as ``name``, built with ``params``."""
    if name not in OBJECTIVES:
        raise ValueError(f"Unknown objective {name!r}. Known objectives: {sorted(OBJECTIVES)}.")
    return OBJECTIVES[name](**params)


__all__ = ["OBJECTIVES", "GLM", "MLP", "Cauchy", "Dataset", "Huber", "Logistic", "Loss", "Objective", "Optimum",
           "Quadratic", "Softmax", "Squared", "huber", "least_squares", "logistic", "make_objective",
           "mlp", "multiclass_logistic", "nonconvex_logistic", "quadratic", "robust_regression"]

"""Data sets for finite-sum objectives: planted synthetic data and scikit-learn's bundled sets."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .. import _checks

TASKS = ("regression", "binary", "multiclass")


@dataclass(frozen=True)
class Dataset:
    """Features ``A`` (n, p) and targets ``y`` (n,), float64 on CPU.

    ``task`` is "regression" (real y), "binary" (y in {0, 1}) or "multiclass"
    (y in {0, ..., classes - 1}, stored as float64 integers).
    """

    name: str
    A: torch.Tensor
    y: torch.Tensor
    task: str
    classes: int = 2
    spec: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.A.shape[0]

    @property
    def p(self) -> int:
        return self.A.shape[1]


class FiniteSum:
    """What objectives that are a weighted sum over a :class:`Dataset` ``data`` (GLMs, MLPs)
    share: the number of samples, the sample weights (kept in ``self._c["w"]``), the gradient,
    the held-out metrics and label flipping. A subclass gives ``_logits(x, A)`` (..., n, K),
    ``grad_weighted(x, w)``, ``derive(...)``, ``loss`` and ``test_data``. The oracle draws
    mini-batches and data partitions from any FiniteSum."""

    @property
    def sample_weights(self) -> torch.Tensor:
        return self._c["w"]

    @property
    def n(self) -> int:
        return self.data.n

    def grad(self, x):
        self._check_x(x, "grad")
        return self.grad_weighted(x, self._c.like("w", x))

    @property
    def extra_metric_names(self) -> tuple:
        from . import classify  # classify imports this module
        return classify.METRICS if self.test_data is not None else ()

    def extra_metrics(self, x):
        """Training and test loss and accuracy (:func:`sco.objectives.classify.metrics`) when
        the objective was built with a held-out split (``test_fraction > 0``)."""
        if self.test_data is None:
            return {}
        from . import classify
        return classify.metrics(lambda A: self._logits(x, A), self.loss, self.data, self.test_data, x)

    def flip_labels(self):
        """The label-flipped problem a label-flip Byzantine worker optimizes [DL24a, §4.5]:
        y -> 1 - y for binary tasks, y -> K - 1 - y for K classes (the authors' 9 - y); a
        regression has no labels to flip (ValueError)."""
        from . import classify
        return self.derive(data=classify.flip(self.data), name=self.name + "[flipped]", flipped=True)


def sample_weights(owner: str, weights, n: int) -> torch.Tensor:
    """Sample weights of a finite sum over n samples, summing to 1: uniform for None, else n
    nonnegative finite numbers with a positive sum, rescaled."""
    if weights is None:
        return torch.full((n,), 1.0 / n, dtype=torch.float64)
    w = torch.as_tensor(weights, dtype=torch.float64)
    if w.shape != (n,) or (w < 0).any() or not torch.isfinite(w).all() or w.sum() <= 0:
        _checks.fail(owner, "sample_weights", f"be {n} nonnegative finite numbers with a positive sum", w)
    return w / w.sum()


def _standardize(A: np.ndarray, intercept: bool) -> np.ndarray:
    """Zero-mean, unit-variance columns; constant columns (blank pixels of digits) are
    dropped since they carry no information and would make the Hessian singular."""
    std = A.std(axis=0)
    keep = std > 0
    A = (A[:, keep] - A[:, keep].mean(axis=0)) / std[keep]
    if intercept:
        A = np.hstack([A, np.ones((A.shape[0], 1))])
    return A


def synthetic(task: str = "regression", *, n: int = 1000, d: int = 20, classes: int = 3,
              noise: float = 0.5, signal: float = 2.0, outliers: float = 0.0, seed: int = 0) -> Dataset:
    """Planted data: Gaussian features A ~ N(0, I_d) and a planted parameter of norm ``signal``.

    regression: y = A x + noise * N(0, 1), then a fraction ``outliers`` of the targets is
    replaced by +-10 std(y) (for Huber and robust regression); binary: y ~ Bernoulli(s(A x));
    multiclass: y ~ Categorical(softmax(A W)) with W of Frobenius norm ``signal``.
    """
    owner = "synthetic"
    _checks.one_of(owner, "task", task, set(TASKS))
    n = _checks.integer(owner, "n", n, low=1)
    d = _checks.integer(owner, "d", d, low=1)
    noise = _checks.real(owner, "noise", noise, low=0)
    signal = _checks.real(owner, "signal", signal, low=0)
    outliers = _checks.real(owner, "outliers", outliers, low=0, high=1)
    seed = _checks.integer(owner, "seed", seed, low=0)
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, d))
    k = _checks.integer(owner, "classes", classes, low=2) if task == "multiclass" else 1
    W = rng.standard_normal((d, k))
    W *= signal / np.linalg.norm(W)
    Z = A @ W
    if task == "regression":
        y = Z[:, 0] + noise * rng.standard_normal(n)
        n_out = int(round(outliers * n))
        if n_out:
            idx = rng.choice(n, n_out, replace=False)
            y[idx] = 10 * y.std() * rng.choice([-1.0, 1.0], n_out)
    elif task == "binary":
        y = (rng.random(n) < 1 / (1 + np.exp(-Z[:, 0]))).astype(np.float64)
    else:
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        y = (P.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1).astype(np.float64)
    spec = {"data": "synthetic", "task": task, "n": n, "d": d, "noise": noise, "signal": signal,
            "outliers": outliers, "seed": seed}
    if task == "multiclass":
        spec["classes"] = k
    return Dataset("synthetic", torch.from_numpy(A), torch.from_numpy(y), task,
                   classes=k if task == "multiclass" else 2, spec=spec)


def _sklearn():
    try:
        import sklearn.datasets as sd
    except ImportError as e:  # pragma: no cover - scikit-learn is a dependency
        raise ImportError("The bundled data sets need scikit-learn: pip install scikit-learn") from e
    return sd


def breast_cancer(*, intercept: bool = True) -> Dataset:
    """Wisconsin breast cancer (569 x 30, binary), standardized, plus an intercept column."""
    raw = _sklearn().load_breast_cancer()
    A = _standardize(raw.data.astype(np.float64), intercept)
    return Dataset("breast_cancer", torch.from_numpy(A), torch.from_numpy(raw.target.astype(np.float64)),
                   "binary", spec={"data": "breast_cancer", "intercept": intercept})


def digits(*, binary: bool = False, intercept: bool = True) -> Dataset:
    """Handwritten digits (1797 x 64 pixels; 61 non-constant), standardized, plus an intercept.

    ``binary=True`` is the task "digit >= 5" (classes {0..4} vs {5..9}); otherwise ten classes.
    """
    raw = _sklearn().load_digits()
    A = _standardize(raw.data.astype(np.float64), intercept)
    y = raw.target.astype(np.float64)
    name = "digits_binary" if binary else "digits"
    if binary:
        return Dataset(name, torch.from_numpy(A), torch.from_numpy((y >= 5).astype(np.float64)), "binary",
                       spec={"data": name, "intercept": intercept})
    return Dataset(name, torch.from_numpy(A), torch.from_numpy(y), "multiclass", classes=10,
                   spec={"data": name, "intercept": intercept})


def load(data="synthetic", task: str = "regression", **options) -> Dataset:
    """A Dataset by name ("synthetic", "breast_cancer", "digits", "digits_binary"), or a
    Dataset passed through. ``options`` go to :func:`synthetic`."""
    if isinstance(data, Dataset):
        return data
    _checks.one_of("load", "data", data, {"synthetic", "breast_cancer", "digits", "digits_binary"})
    if data == "synthetic":
        return synthetic(task, **options)
    if options:
        _checks.fail("load", "options", f"be empty for the bundled data set {data!r} "
                     "(n, d and the rest are fixed by the data)", options)
    if data == "breast_cancer":
        return breast_cancer()
    return digits(binary=data == "digits_binary")

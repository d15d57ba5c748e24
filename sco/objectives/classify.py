"""Held-out splits, label flipping and accuracy metrics shared by the classifiers (GLMs and MLPs)."""

from __future__ import annotations

import numpy as np
import torch

from .. import _checks
from .data import Dataset

#: The extra metrics a classifier with a held-out split logs (see :meth:`Objective.extra_metrics`).
METRICS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")


def split(ds: Dataset, test_fraction: float = 0.0, seed: int = 0) -> tuple[Dataset, Dataset | None]:
    """Split ``ds`` into a training and a held-out test set, deterministically from ``seed``.

    The split is stratified: each class (each target for regression: one stratum) keeps
    its share in both parts, so a small test set of a skewed data set still holds every
    class. ``test_fraction = 0`` returns ``(ds, None)`` unchanged.
    """
    owner = "split"
    test_fraction = _checks.real(owner, "test_fraction", test_fraction, low=0, high=1, high_open=True)
    seed = _checks.integer(owner, "seed", seed, low=0)
    if test_fraction == 0:
        return ds, None
    rng = np.random.default_rng(seed)
    y = ds.y.numpy()
    strata = y if ds.task != "regression" else np.zeros_like(y)
    test = []
    for c in np.unique(strata):
        idx = rng.permutation(np.flatnonzero(strata == c))
        test.append(idx[:int(round(test_fraction * len(idx)))])
    test = np.sort(np.concatenate(test))
    train = np.setdiff1d(np.arange(ds.n), test)
    if len(test) == 0 or len(train) == 0:
        _checks.fail(owner, "test_fraction", f"leave both parts of the n={ds.n} samples non-empty", test_fraction)
    spec = {**ds.spec, "test_fraction": test_fraction, "split_seed": seed}

    def part(idx, which):
        sel = torch.from_numpy(idx)
        return Dataset(ds.name, ds.A[sel], ds.y[sel], ds.task, ds.classes, {**spec, "part": which})
    return part(train, "train"), part(test, "test")


def flip(ds: Dataset) -> Dataset:
    """The label-flipped data set of a label-flip attacker [DL24a, §4.5]: y -> 1 - y for
    binary tasks, y -> K - 1 - y for K classes (the authors' 9 - y)."""
    if ds.task == "regression":
        raise ValueError(f"Label flipping needs a classification task; the data set {ds.name!r} is a regression.")
    top = 1 if ds.task == "binary" else ds.classes - 1
    return Dataset(ds.name + "_flipped", ds.A, top - ds.y, ds.task, ds.classes, {**ds.spec, "flipped": True})


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of correct predictions: logits (..., n, K) against labels y (n,); K = 1 is
    a binary logit (class 1 when positive), K >= 2 predicts the largest logit. (...)"""
    pred = (logits[..., 0] > 0).to(y.dtype) if logits.shape[-1] == 1 else logits.argmax(-1).to(y.dtype)
    return (pred == y).to(logits.dtype).mean(-1)


def metrics(logits_of, loss, train: Dataset, test: Dataset, like: torch.Tensor) -> dict:
    """Mean loss (no regularizer, every sample counted once) and accuracy on the training
    and the test set. ``logits_of(A)`` gives the logits (..., n, K) of the features A (n, p);
    ``loss`` is a :class:`~sco.objectives.glm.Loss`; tensors follow ``like``'s dtype and device."""
    out = {}
    for name, ds in (("train", train), ("test", test)):
        A, y = ds.A.to(like), ds.y.to(like)
        z = logits_of(A)  # (..., n, K)
        out[f"{name}_loss"] = loss.value(z, y).mean(-1)
        out[f"{name}_accuracy"] = accuracy(z, y)
    return out

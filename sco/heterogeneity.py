"""Heterogeneity: per-worker objectives f_i whose average is f, by linear shifts or data partitions."""

from __future__ import annotations

import numpy as np
import torch

from . import _checks
from ._registry import Named, build


class Heterogeneity(Named):
    """How the m workers' objectives f_i differ; their average is always the global f."""

    name = "iid"


class Shift(Heterogeneity):
    """f_i(x) = f(x) + <b_i, x> with sum_i b_i = 0 and (1/m) sum_i ||b_i||^2 = zeta^2 exactly.

    .. math:: \\nabla f_i(x) - \\nabla f(x) = b_i, \\qquad
              \\zeta^2 = \\frac1m \\sum_i \\|\\nabla f_i(x) - \\nabla f(x)\\|^2 \\text{ for every } x

    For a quadratic this is the "shifted optima" model: f_i has minimizer x* - A^{-1} b_i.
    Any objective can be shifted; the b_i are a centered, rescaled Gaussian draw.
    """

    name = "shift"

    def __init__(self, zeta: float, seed: int = 0):
        self.zeta = _checks.real("Shift", "zeta", zeta, low=0)
        self.seed = _checks.integer("Shift", "seed", seed, low=0)

    def shifts(self, m: int, d: int) -> torch.Tensor:
        """The b_i, float64 of shape (m, d)."""
        if self.zeta == 0:
            return torch.zeros(m, d, dtype=torch.float64)
        if m < 2:
            _checks.fail("Shift", "m", "be >= 2 for zeta > 0 (one worker's shift must be 0)", m)
        b = np.random.default_rng(self.seed).standard_normal((m, d))
        b -= b.mean(axis=0)
        b *= self.zeta / np.sqrt((b ** 2).sum() / m)
        return torch.from_numpy(b)

    def params(self):
        return {"name": self.name, "zeta": self.zeta, "seed": self.seed}


class Partition(Heterogeneity):
    """Each worker owns a shard of a finite sum's data; f_i is the mean loss on its shard and
    f = (1/m) sum_i f_i (sample j weighted 1/(m n_i)). zeta^2 is measured, not set.

    kind "iid": a random split into nearly equal shards. kind "dirichlet": label skew
    [HQB19]: each class (regression: each decile of y) is split among workers with
    proportions drawn from Dirichlet(alpha); small alpha, strong skew. kind "sorted":
    feature skew: samples sorted by their projection on the first principal component,
    then split into contiguous, nearly equal shards.
    """

    name = "partition"
    KINDS = ("iid", "dirichlet", "sorted")

    def __init__(self, kind: str = "dirichlet", alpha: float = 0.5, seed: int = 0, max_tries: int = 100):
        self.kind = _checks.one_of("Partition", "kind", kind, set(self.KINDS))
        self.alpha = _checks.real("Partition", "alpha", alpha, low=0, low_open=True)
        self.seed = _checks.integer("Partition", "seed", seed, low=0)
        self.max_tries = _checks.integer("Partition", "max_tries", max_tries, low=1)

    def assign(self, A: torch.Tensor, y: torch.Tensor, task: str, m: int) -> np.ndarray:
        """The worker (0..m-1) of each sample; every worker gets at least one sample."""
        n = A.shape[0]
        if m > n:
            _checks.fail("Partition", "m", f"be <= the number of samples n={n}", m)
        rng = np.random.default_rng(self.seed)
        if self.kind == "iid":
            return _split_evenly(rng.permutation(n), m)
        if self.kind == "sorted":
            X = A.numpy() - A.numpy().mean(axis=0)
            pc = np.linalg.svd(X, full_matrices=False)[2][0]
            return _split_evenly(np.argsort(X @ pc, kind="stable"), m)
        labels = y.numpy()
        if task == "regression":
            labels = np.searchsorted(np.quantile(labels, np.linspace(0.1, 0.9, 9)), labels)
        for _ in range(self.max_tries):
            owner = np.empty(n, dtype=np.int64)
            for c in np.unique(labels):
                idx = rng.permutation(np.flatnonzero(labels == c))
                cuts = (np.cumsum(rng.dirichlet(np.full(m, self.alpha)))[:-1] * len(idx)).astype(int)
                for i, part in enumerate(np.split(idx, cuts)):
                    owner[part] = i
            if np.bincount(owner, minlength=m).min() > 0:
                return owner
        raise ValueError(
            f"Partition(kind='dirichlet', alpha={self.alpha}) left a worker without data in {self.max_tries} "
            f"draws for m={m} workers and n={n} samples. Increase alpha or decrease m.")

    def params(self):
        return {"name": self.name, "kind": self.kind, "alpha": self.alpha, "seed": self.seed}


def _split_evenly(order: np.ndarray, m: int) -> np.ndarray:
    owner = np.empty(len(order), dtype=np.int64)
    for i, part in enumerate(np.array_split(order, m)):
        owner[part] = i
    return owner


def make_heterogeneity(spec) -> Heterogeneity:
    """A Heterogeneity from an instance, None (iid), or a dict {"name": "shift"|"partition", ...}."""
    kinds = {"iid": Heterogeneity, "shift": Shift, "partition": Partition}
    return Heterogeneity() if spec is None else build("make_heterogeneity", spec, kinds, Heterogeneity,
                                                      "heterogeneity")

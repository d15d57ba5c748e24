"""Robust aggregators, weighted and unweighted, meta-aggregators and the registry of names."""

from ._core import Aggregator, as_aggregator
from .coordinate import cwmed, cwtm, mean
from .distance import centered_clipping, geometric_median, krum, multi_krum, rfa
from .filters import caf, meamed, monna
from .flag import flag
from .meta import bucket_size, bucketing, ctma, nnm
from .preagg import arc, clipping
from .subset import mda, smea
from .registry import AGGREGATORS, ALIASES, META_AGGREGATORS, parse

__all__ = [
    "AGGREGATORS", "ALIASES", "Aggregator", "META_AGGREGATORS", "as_aggregator", "bucket_size",
    "bucketing", "centered_clipping", "ctma", "cwmed", "cwtm", "geometric_median", "krum", "mean",
    "multi_krum", "nnm", "parse", "rfa",
    # the rest of ByzFL's catalogue, MoNNA and the Flag Aggregator
    "arc", "caf", "clipping", "flag", "mda", "meamed", "monna", "smea",
]

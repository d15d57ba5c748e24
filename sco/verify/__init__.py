"""Claims of the papers, run as experiments and held against their bounds: the engine of ``sco verify``."""

from . import claims as _claims  # noqa: F401  (registers the claims)
from .core import CLAIMS, SUITES, Claim, ClaimResult, Context, Figure, Series, claim
from .report import format_table, summary, write_report

__all__ = ["CLAIMS", "SUITES", "Claim", "ClaimResult", "Context", "Figure", "Series", "claim", "format_table",
           "summary", "write_report"]

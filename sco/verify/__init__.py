"""Claims of the papers, run as experiments and held against their bounds: the engine of ``sco verify``."""

# the claims register on import, in the report's order
from . import claims_stats, claims_rates, claims_exact, claims_methods, claims_robust, claims_async  # noqa: F401
from .core import CLAIMS, SUITES, Claim, ClaimResult, Context, Figure, Series, claim
from .report import format_table, summary, write_report

__all__ = ["CLAIMS", "SUITES", "Claim", "ClaimResult", "Context", "Figure", "Series", "claim", "format_table",
           "summary", "write_report"]

"""Rates against bounds: statements as data (`Bound`, `BOUNDS`), power-law fits and checks."""

from .bound import PROVENANCE, Bound
from .analysis import Regime
from .checks import MIN_SEEDS, PRINTED_VIOLATED, CheckResult, check_bound, check_exponent, check_rate
from .exact import check_exact, check_ratio
from .expr import parse_expression
from .fit import PowerLawFit, calibrate_terms, fit_power_law, regime_mask
from .params import DERIVED, PARAMS, REDUCTIONS, Param, symbol
from .theorems import BOUNDS

__all__ = [
    "BOUNDS", "DERIVED", "PARAMS", "PROVENANCE", "REDUCTIONS", "Bound", "Param", "Regime", "parse_expression",
    "symbol", "MIN_SEEDS", "PRINTED_VIOLATED", "CheckResult", "PowerLawFit", "calibrate_terms", "check_bound",
    "check_exact", "check_exponent", "check_rate", "check_ratio", "fit_power_law", "regime_mask",
]

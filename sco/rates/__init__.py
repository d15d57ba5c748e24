"""Rates against bounds: theorems as data (`Bound`, `BOUNDS`), power-law fits and checks."""

from .bounds import BOUNDS, DERIVED, PARAMS, REDUCTIONS, Bound, Param, Regime, parse_expression, symbol
from .fit import (CheckResult, PowerLawFit, calibrate_terms, check_bound, check_exponent, check_rate,
                  fit_power_law, regime_mask)

__all__ = [
    "BOUNDS", "DERIVED", "PARAMS", "REDUCTIONS", "Bound", "Param", "Regime", "parse_expression", "symbol",
    "CheckResult", "PowerLawFit", "calibrate_terms", "check_bound", "check_exponent", "check_rate", "fit_power_law",
    "regime_mask",
]

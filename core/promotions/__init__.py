"""Promotions: rules HQ publishes, evaluated the same way at the lane and at HQ.

`rules` compiles and indexes a bundle; `effects` is what one rule kind gives; `engine.evaluate` picks
the promotions a cart gets. `bundle` signs and verifies the bundle as it travels.
"""

from core.promotions.engine import (
    Applied, CartLine, Context, LineAllocation, Result, evaluate, evaluate_naive,
)
from core.promotions.rules import ActiveRules, compile_rules, normalize_code, parse_local

__all__ = ["ActiveRules", "Applied", "CartLine", "Context", "LineAllocation", "Result",
           "compile_rules", "evaluate", "evaluate_naive", "normalize_code", "parse_local"]

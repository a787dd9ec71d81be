"""A till session's cash as a pure fold: what the drawer should hold, and the rules of the
blind close. No database, no clock: the projection and the tests call the same functions.

The drawer's expected cash is `float + cash in − cash out`, where cash in is what sales left
(cash tendered − change, cash rounding included) and pay-ins, and cash out is cash refunds,
drops, pickups and pay-outs. Every step is one `Movement`; `totals` folds them in any order
(a sum does not depend on the order, and a test proves the fold equals that sum).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from core.errors import InvalidInput
from schemas.cash import DenominationCount, TillTotals

MovementKind = Literal["sale", "refund", "drop", "pickup", "pay_in", "pay_out", "no_sale"]
# Sign of each kind's amount on the drawer.
SIGN: dict[str, int] = {"sale": 1, "pay_in": 1, "refund": -1, "drop": -1, "pickup": -1,
                        "pay_out": -1, "no_sale": 0}


@dataclass(frozen=True, slots=True)
class Movement:
    kind: MovementKind
    amount_minor: int  # >= 0; the kind gives the direction
    sale_total_minor: int = 0  # a sale's total over all tenders
    rounding_minor: int = 0  # a sale's cash rounding (inside amount_minor)


def count_total(count: Iterable[DenominationCount], denominations: frozenset[int]) -> int:
    """The value of a count by denomination; every denomination must be one the store's
    currency has, and none may be counted twice."""
    seen: set[int] = set()
    total = 0
    for c in count:
        if c.value_minor not in denominations:
            raise InvalidInput(f"{c.value_minor} is not a denomination of the store's currency "
                               f"(known: {sorted(denominations, reverse=True)})", field="count")
        if c.value_minor in seen:
            raise InvalidInput(f"denomination {c.value_minor} counted twice", field="count")
        seen.add(c.value_minor)
        total += c.value_minor * c.pieces
    return total


def totals(float_minor: int, movements: Iterable[Movement]) -> TillTotals:
    sums = dict.fromkeys(SIGN, 0)
    sales = sales_total = rounding = no_sales = 0
    for m in movements:
        assert m.amount_minor >= 0 or m.kind == "sale", m
        sums[m.kind] += m.amount_minor
        if m.kind == "sale":
            sales += 1
            sales_total += m.sale_total_minor
            rounding += m.rounding_minor
        elif m.kind == "no_sale":
            no_sales += 1
    expected = float_minor + sum(SIGN[k] * v for k, v in sums.items())
    return TillTotals(
        float_minor=float_minor, sales_count=sales, sales_total_minor=sales_total,
        cash_sales_minor=sums["sale"], cash_refunds_minor=sums["refund"],
        rounding_minor=rounding, drops_minor=sums["drop"], pickups_minor=sums["pickup"],
        pay_ins_minor=sums["pay_in"], pay_outs_minor=sums["pay_out"], no_sales=no_sales,
        expected_minor=expected,
    )


def over_short(counted_minor: int, expected_minor: int) -> int:
    """Counted − expected: positive is over, negative is short."""
    return counted_minor - expected_minor


def needs_approval(over_short_minor: int, threshold_minor: int) -> bool:
    """A difference above the threshold (either way) needs a manager's approval."""
    return abs(over_short_minor) > threshold_minor


def safe_drop_recommended(expected_minor: int, threshold_minor: int) -> bool:
    """The drawer holds more than the store wants at a till: drop to the safe."""
    return threshold_minor > 0 and expected_minor > threshold_minor


def sale_movement(cash_tendered_minor: int, change_minor: int, total_minor: int,
                  noncash_minor: int) -> Movement:
    """What a sale leaves in its lane's drawer: cash tendered less the change, and the part of
    that which is cash rounding (what was kept beyond the total)."""
    kept = cash_tendered_minor - change_minor
    rounding = (kept + noncash_minor - total_minor) if cash_tendered_minor else 0
    return Movement("sale", kept, sale_total_minor=total_minor, rounding_minor=rounding)

"""The return policy as pure functions over plain values (property-tested, no database).

Invariants:
- `returnable(sold, taken)` is never negative, and `take` refuses any quantity above it, so
  Σ quantity taken back from a line (refunds and returns, from any lane) ≤ quantity sold.
- `value_of` prices a returned quantity by cumulative rounding of the line's total: the parts
  of any sequence of returns of one line add up to at most its total (exactly the total once
  all of it is back), so returns never pay out more than the customer paid for a line.
- A fee is never negative and never above what was paid for the line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.errors import Conflict, InvalidInput
from core.money import div_round_half_up
from edge.returns.settings import ReturnsConfig, RestockingFee


class ReturnRefused(Conflict):
    slug, title = "return-refused", "This return cannot be made"


class OverReturn(Conflict):
    slug, title = "return-exceeds-returnable", "More than is left to return on a line"


class FinalSale(Conflict):
    slug, title = "final-sale", "A final-sale item cannot be returned"


class CardNotOriginal(Conflict):
    slug, title = "card-not-original", "Money back goes only to the card that paid"


def _shown(pan: str) -> tuple[str, str]:
    """The digits a masked PAN shows at its start and at its end."""
    lead = pan[:len(pan) - len(pan.lstrip("0123456789"))]
    trail = pan[len(pan.rstrip("0123456789")):]
    return lead, trail


def same_card(presented_pan: str, presented_code: str | None, stored_pan: str | None,
              stored_code: str | None) -> bool:
    """Whether a card as the customer shows it (masked PAN, optional approval code) is the
    stored one: the last four digits are shown by both and equal (and any more both show at
    the end), the leading digits both show agree, and the approval codes agree when given."""
    if not stored_pan or presented_pan.isdigit() or stored_pan.isdigit():
        return False
    (lead_a, trail_a), (lead_b, trail_b) = _shown(presented_pan), _shown(stored_pan)
    n = min(len(trail_a), len(trail_b))
    m = min(len(lead_a), len(lead_b))
    if n < 4 or trail_a[-n:] != trail_b[-n:] or lead_a[:m] != lead_b[:m]:
        return False
    return presented_code is None or (stored_code or "").upper() == presented_code.upper()


def card_refund(presented_pan: str, presented_code: str | None,
                cards: list[tuple[int, str | None, str | None, bool]], other_card: str) -> bool:
    """Judge money back asked onto a presented card, given the card tenders the refund rules
    put money onto: (tender_id, masked PAN, approval code, has a terminal reference). True
    if it is a card that paid (goes by its reference); False if it is another card and the
    policy lets a manager make it (`card_not_original`). Refuses (CardNotOriginal) a card
    that did not pay under `other_card = "refuse"`, and always when no card tender takes the
    money or one has no terminal reference (a card refund goes only by reference)."""
    if not cards:
        raise CardNotOriginal(
            "no card paid what goes back here (it goes to the order's other tenders): money "
            "back goes onto a card only by the reference of a card that paid "
            "(card_not_original)")
    blind = [tid for tid, _, _, has_ref in cards if not has_ref]
    if blind:
        raise CardNotOriginal(
            f"card tenders {blind} have no terminal reference: a card refund goes only by "
            "reference to the original card; give store credit instead (card_not_original)")
    if any(same_card(presented_pan, presented_code, pan, code) for _, pan, code, _ in cards):
        return True
    shown = [pan for _, pan, _, _ in cards if pan]
    if other_card != "manager":
        raise CardNotOriginal(
            f"card {presented_pan} did not pay this order: money back goes only to the card "
            f"that paid ({', '.join(shown) or 'by its reference'}), by its terminal reference "
            "(card_not_original)")
    return False


def returnable(sold_milli: int, taken_milli: int) -> int:
    """What is left of a line to take back: sold minus everything refunded or returned."""
    assert sold_milli >= 0 and taken_milli >= 0
    return max(0, sold_milli - taken_milli)


def take(line_no: int, sold_milli: int, taken_milli: int, qty_milli: int) -> None:
    """Refuses a quantity above what is left of the line (or a non-positive one)."""
    if qty_milli <= 0:
        raise InvalidInput(f"line {line_no}: the quantity must be positive", field="lines")
    left = returnable(sold_milli, taken_milli)
    if qty_milli > left:
        raise OverReturn(f"line {line_no}: {qty_milli / 1000:g} asked back, {left / 1000:g} "
                         "left to return (sold minus everything already refunded or returned)",
                         lines=[line_no])


def value_of(total_minor: int, sold_milli: int, before_milli: int, qty_milli: int) -> int:
    """What `qty_milli` of a line is worth, after `before_milli` of it already went back:
    the line's total (after discounts) pro rata, by cumulative rounding half up."""
    assert sold_milli > 0 and 0 <= before_milli and before_milli + qty_milli <= sold_milli
    upto = div_round_half_up(total_minor * (before_milli + qty_milli), sold_milli)
    return upto - div_round_half_up(total_minor * before_milli, sold_milli)


def rule_for(rules, sku: str, category: str | None):
    """The SKU's own rule, else its category's, else None."""
    by_sku = [r for r in rules if r.sku == sku]
    if by_sku:
        return by_sku[0]
    by_cat = [r for r in rules if category is not None and r.category == category]
    return by_cat[0] if by_cat else None


def restocking_fee(paid_minor: int, rule: RestockingFee | None, reason: str,
                   cfg: ReturnsConfig) -> int:
    """Percent of what was paid plus a fixed amount, capped by the rule and by `paid_minor`."""
    if rule is None or reason in cfg.fee_free_reasons or paid_minor <= 0:
        return 0
    fee = div_round_half_up(paid_minor * rule.percent_bp, 10_000) + rule.amount_minor
    if rule.cap_minor is not None:
        fee = min(fee, rule.cap_minor)
    return max(0, min(fee, paid_minor))


def is_final_sale(sku: str, category: str | None, cfg: ReturnsConfig) -> bool:
    return sku in cfg.final_sale_skus or (category is not None
                                          and category in cfg.final_sale_categories)


def window_days(sku: str, category: str | None, cfg: ReturnsConfig) -> int:
    rule = rule_for(cfg.window_overrides, sku, category)
    return rule.window_days if rule is not None else cfg.window_days


def age_days(sold_business_date: str, today_business_date: str) -> int:
    """Business days between the sale and today, both store-local business dates."""
    return max(0, (date.fromisoformat(today_business_date)
                   - date.fromisoformat(sold_business_date)).days)


def check_reason(reason: str, cfg: ReturnsConfig) -> None:
    if reason not in cfg.reasons:
        raise InvalidInput(f"unknown return reason {reason!r}; one of {cfg.reasons}",
                           field="reason")


@dataclass(frozen=True, slots=True)
class Velocity:
    """A customer's receiptless returns inside the velocity window (from the store's log)."""

    count: int
    amount_minor: int


def velocity_exceeded(before: Velocity, amount_minor: int, cfg: ReturnsConfig) -> bool:
    """True if one more return of `amount_minor` goes over either limit."""
    return (before.count + 1 > cfg.velocity_max_returns
            or before.amount_minor + amount_minor > cfg.velocity_max_minor)


def lowest_price(history: list[tuple[int, int]], since_ms: int, now_ms: int) -> int | None:
    """The lowest unit price in force at any time in [since_ms, now_ms], from
    (effective_at_ms, amount_minor) versions; None if none was in force."""
    in_force_at_start = [p for p in history if p[0] <= since_ms]
    candidates = [a for at, a in history if since_ms < at <= now_ms]
    if in_force_at_start:
        candidates.append(max(in_force_at_start)[1])
    return min(candidates) if candidates else None

"""Cart and order totals: discounts, tax, per-line rounding. Pure functions over plain data.

Invariants (property-tested in tests/edge/test_pricing.py):
- every amount is an integer number of minor units, never negative;
- Σ line totals == order total, Σ line tax == order tax, Σ line discounts == order discount;
- a cart discount is allocated over lines pro rata and the parts add up to it exactly;
- exclusive tax: total = subtotal − discount + tax; inclusive tax: total = subtotal − discount;
- promotions come off first, then the manual line discount, then the cart discount (each on
  what the previous left).
Rounding is `money.div_round_half_up`, applied once per line per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.money import allocate, div_round_half_up

PPM = 1_000_000
BASIS_POINTS = 10_000
MILLI = 1_000


@dataclass(frozen=True, slots=True)
class Discount:
    kind: Literal["amount", "percent"]
    value: int  # amount: minor units; percent: basis points

    def __post_init__(self) -> None:
        assert self.value >= 0
        assert self.kind == "amount" or self.value <= BASIS_POINTS

    def amount_off(self, base_minor: int) -> int:
        if self.kind == "amount":
            return min(self.value, base_minor)
        return min(div_round_half_up(base_minor * self.value, BASIS_POINTS), base_minor)


@dataclass(frozen=True, slots=True)
class LineInput:
    line_id: int
    unit_price_minor: int
    qty_milli: int
    tax_rate_ppm: int
    discount: Discount | None = None
    # What promotions (core.promotions) took off this line: applied first; a manual line or
    # cart discount applies to what is left.
    promo_minor: int = 0


@dataclass(frozen=True, slots=True)
class PricedLine:
    line_id: int
    gross_minor: int
    discount_minor: int
    net_minor: int
    tax_minor: int
    total_minor: int


@dataclass(frozen=True, slots=True)
class Totals:
    lines: tuple[PricedLine, ...]
    subtotal_minor: int
    discount_minor: int
    tax_minor: int
    total_minor: int


def line_gross_minor(unit_price_minor: int, qty_milli: int) -> int:
    return div_round_half_up(unit_price_minor * qty_milli, MILLI)


def line_tax_minor(net_minor: int, rate_ppm: int, tax_mode: str) -> int:
    if tax_mode == "exclusive":
        return div_round_half_up(net_minor * rate_ppm, PPM)
    # Inclusive: the net already contains the tax; extract it.
    return div_round_half_up(net_minor * rate_ppm, PPM + rate_ppm)


def price(lines: list[LineInput], cart_discount: Discount | None, tax_mode: str) -> Totals:
    assert tax_mode in ("inclusive", "exclusive")
    gross = [line_gross_minor(ln.unit_price_minor, ln.qty_milli) for ln in lines]
    promo = [min(ln.promo_minor, g) for ln, g in zip(lines, gross)]
    after_promo = [g - p for g, p in zip(gross, promo)]
    line_off = [ln.discount.amount_off(a) if ln.discount else 0
                for ln, a in zip(lines, after_promo)]
    after_line = [a - d for a, d in zip(after_promo, line_off)]
    cart_off_total = cart_discount.amount_off(sum(after_line)) if cart_discount else 0
    cart_off = allocate(cart_off_total, after_line)

    priced: list[PricedLine] = []
    for ln, g, p, d_line, d_cart in zip(lines, gross, promo, line_off, cart_off):
        discount = p + d_line + d_cart
        net = g - discount
        tax = line_tax_minor(net, ln.tax_rate_ppm, tax_mode)
        total = net + tax if tax_mode == "exclusive" else net
        assert 0 <= discount <= g and 0 <= tax <= max(total, 0)
        priced.append(PricedLine(ln.line_id, g, discount, net, tax, total))

    return Totals(
        lines=tuple(priced),
        subtotal_minor=sum(p.gross_minor for p in priced),
        discount_minor=sum(p.discount_minor for p in priced),
        tax_minor=sum(p.tax_minor for p in priced),
        total_minor=sum(p.total_minor for p in priced),
    )


def within_discount_limit(kind: str, value: int, base_minor: int, limit_bp: int) -> bool:
    """The cashier's discount limit, applied to what the cashier keyed, never to a rounded
    amount: a percent discount is within the limit when its basis points are at most
    `limit_bp` (20.00 % keyed on any price is 20.00 %); an amount discount when it is at most
    `limit_bp` of what it applies to, compared exactly (`value / base <= limit_bp / 10000`,
    in integers). A discount on nothing (base 0) is within the limit only when it is 0."""
    if kind == "percent":
        return value <= limit_bp
    if base_minor <= 0:
        return value <= 0
    return value * BASIS_POINTS <= limit_bp * base_minor


def keyed_share_text(kind: str, value: int, base_minor: int) -> str:
    """What the cashier keyed, as a percentage of its base, for a refusal's message (an amount's
    share rounded up, so a share just over the limit never reads as equal to it)."""
    return f"{keyed_share_bp(kind, value, base_minor) / 100:.2f} %"


def keyed_share_bp(kind: str, value: int, base_minor: int) -> int:
    """What the cashier keyed as basis points of its base: a percent as keyed, an amount's
    share rounded up. `keyed_share_bp(...) <= limit_bp` is exactly `within_discount_limit`
    (for an integer limit), so rules that compare a share with a limit judge what was keyed."""
    if kind == "percent":
        return value
    if base_minor <= 0:
        return BASIS_POINTS if value > 0 else 0
    return -(-value * BASIS_POINTS // base_minor)


def discount_share_bp(amount_off_minor: int, base_minor: int) -> int:
    """How big a discount is relative to what it applies to, in basis points (for approvals)."""
    if base_minor <= 0:
        return BASIS_POINTS if amount_off_minor > 0 else 0
    return div_round_half_up(amount_off_minor * BASIS_POINTS, base_minor)

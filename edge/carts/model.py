"""The cart as commands and views see it: its lines with their locked prices, its discount,
and every tender as a payment (`edge.payments.machine.Payment`), loaded from the read models.
A completed cart's lines are read from its sale's `order_lines` (the orders projection of the
same `sale.completed`: line n of the order is the cart's n-th line) joined with what only the
cart knew of them, kept on its row (`carts.closed_lines`, `edge.carts.projection`).

`Policy` is the slice of configuration the checkout rules (carts, tenders, orders, receipts)
depend on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import apsw
import msgspec

from core import pricing
from core.errors import NotFound
from core.price_lock import LockedPrice
from core.pricing import Discount
from edge.errors import CartClosed, Forbidden
from edge.lanes import Principal
from edge.payments import rows as payment_rows
from edge.payments.machine import PAID_STATES, Payment
from edge.promotions.evaluation import SegmentOf, no_segment
from edge.store.writer import Tx
from schemas import events as ev
from schemas import promotion_events as pe

MAX_LINES_PER_CART = 500
MAX_TENDERS_PER_CART = 20


@dataclass(frozen=True, slots=True)
class Policy:
    """The slice of configuration checkout rules depend on."""

    store_id: str
    store_name: str
    currency: str
    tax_mode: str
    lock_ttl_ms: int
    on_expiry: str
    manager_threshold_bp: int
    cash_increment_minor: int = 1
    refund_manager_above_minor: int = 5_000
    promotion_region: str = ""
    refuse_negative_stock: bool = False  # [inventory] on_negative = "refuse"
    # Who a cart is for, for segment-only promotions (the loyalty tier, bound by edge.compose).
    segment_of: SegmentOf = no_segment


@dataclass(frozen=True, slots=True)
class Line:
    line_id: int
    sku: str
    product_id: str
    name: str
    sold_by: str
    qty_milli: int
    unit_price_minor: int
    price_version: int
    lock_expires_at_ms: int
    tax_class: str
    tax_rate_ppm: int
    discount: Discount | None

    @property
    def locked_price(self) -> LockedPrice:
        return LockedPrice(self.unit_price_minor, self.price_version, self.lock_expires_at_ms)

    def pricing_input(self, promo_minor: int = 0) -> pricing.LineInput:
        return pricing.LineInput(
            self.line_id, self.unit_price_minor, self.qty_milli, self.tax_rate_ppm, self.discount,
            promo_minor,
        )


@dataclass(slots=True)
class Cart:
    """Not changed in place once loaded: the writer's memo may hold it (`fetch`); a change is
    a new Cart (`folded`)."""

    cart_id: str
    lane_id: str
    status: str
    currency: str
    discount: Discount | None
    next_line_id: int
    next_tender_id: int
    order_id: str | None
    lines: list[Line] = field(default_factory=list)
    # Every tender of the cart as a payment state machine (edge.payments.machine), in order.
    payments: list[Payment] = field(default_factory=list)
    # The seq of the last event that changed the cart (the `carts.version` it was read at).
    version: int = 0
    # The promotions it gets (the last `cart.promotions_applied`) and the coupons entered.
    promotions: tuple[pe.AppliedPromotion, ...] = ()
    promotion_bundle_version: int | None = None
    coupons: tuple[tuple[str, str], ...] = ()  # (code, rule_id), in the order entered

    def line(self, line_id: int) -> Line:
        for ln in self.lines:
            if ln.line_id == line_id:
                return ln
        raise NotFound(f"cart {self.cart_id} has no line {line_id}")

    def promo_by_line(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for a in self.promotions:
            for al in a.lines:
                out[al.line_id] = out.get(al.line_id, 0) + al.discount_minor
        return out

    def totals(self, tax_mode: str) -> pricing.Totals:
        if not self.promotions:
            return pricing.price([ln.pricing_input() for ln in self.lines], self.discount,
                                 tax_mode)
        promo = self.promo_by_line()
        return pricing.price([ln.pricing_input(promo.get(ln.line_id, 0)) for ln in self.lines],
                             self.discount, tax_mode)

    @property
    def tendered_minor(self) -> int:
        return sum(p.captured_minor for p in self.payments if p.state in PAID_STATES)

    def payment(self, tender_id: int) -> Payment:
        for p in self.payments:
            if p.tender_id == tender_id:
                return p
        raise NotFound(f"cart {self.cart_id} has no tender {tender_id}")


_PROMOTIONS = msgspec.json.Decoder(tuple[pe.AppliedPromotion, ...])


def _discount(kind: str | None, value: int | None) -> Discount | None:
    return Discount(kind, value) if kind is not None and value is not None else None  # type: ignore[arg-type]


# [line_id, sold_by, lock_expires_at_ms] or, with a discount or a scanned code,
# [..., discount_kind, discount_value, scanned_code] (`edge.carts.projection.CLOSED_LINES`).
_CLOSED = msgspec.json.Decoder(list[list[int | str | None]])


def _completed_lines(conn: apsw.Connection, order_id: str, closed_lines: str) -> list[Line]:
    """A completed cart's lines: its sale's lines (`order_lines`, line n is the cart's n-th
    line) with what only the cart knew of each (`carts.closed_lines`, `edge.carts.projection`)."""
    own = [(*line, None, None, None)[:6] for line in _CLOSED.decode(closed_lines)]
    sold = conn.execute(
        "SELECT sku, product_id, name, qty_milli, unit_price_minor, price_version, tax_class, "
        "tax_rate_ppm FROM order_lines WHERE order_id = ? ORDER BY line_no", (order_id,),
    ).fetchall()
    assert len(own) == len(sold), (order_id, len(own), len(sold))
    return [Line(line_id, sku, product_id, name, sold_by, qty, unit, version,  # type: ignore[arg-type]
                 lock, tax_class, rate, _discount(dkind, dvalue))  # type: ignore[arg-type]
            for (line_id, sold_by, lock, dkind, dvalue, _scanned),
                (sku, product_id, name, qty, unit, version, tax_class, rate) in zip(own, sold)]


def load(conn: apsw.Connection, cart_id: str, *, with_items: bool = True) -> Cart | None:
    """The cart; `with_items=False` reads only its header row (commands that append and then
    reload need no more to decide)."""
    rows = conn.execute(
        "SELECT cart_id, lane_id, status, currency, discount_kind, discount_value, next_line_id, "
        "next_tender_id, order_id, version, closed_lines FROM carts WHERE cart_id = ?",
        (cart_id,),
    ).fetchall()
    if not rows:
        return None
    (cid, lane, status, currency, dkind, dvalue, next_line, next_tender, order_id, version,
     closed_lines) = rows[0]
    cart = Cart(cid, lane, status, currency, _discount(dkind, dvalue), next_line, next_tender,
                order_id, version=version)
    if not with_items:
        return cart
    if closed_lines is not None:
        cart.lines.extend(_completed_lines(conn, order_id, closed_lines))
    for row in conn.execute(
        "SELECT line_id, sku, product_id, name, sold_by, qty_milli, unit_price_minor, "
        "price_version, lock_expires_at_ms, tax_class, tax_rate_ppm, discount_kind, "
        "discount_value FROM cart_lines WHERE cart_id = ? ORDER BY line_id",
        (cart_id,),
    ):
        cart.lines.append(Line(*row[:11], _discount(row[11], row[12])))
    cart.payments = payment_rows.of_cart(conn, cart_id)
    for bundle_version, applied in conn.execute(
        "SELECT bundle_version, promotions FROM cart_promotions WHERE cart_id = ?", (cart_id,)
    ):
        cart.promotion_bundle_version = bundle_version
        cart.promotions = _PROMOTIONS.decode(applied)
    cart.coupons = tuple(conn.execute(
        "SELECT code, rule_id FROM cart_coupons WHERE cart_id = ? ORDER BY entered_seq",
        (cart_id,)).fetchall())
    # Cash tenders recorded before tenders became payments (cart.tender_added events).
    for tid, kind, amount in conn.execute(
        "SELECT tender_id, tender_type, amount_minor FROM cart_tenders WHERE cart_id = ? "
        "ORDER BY tender_id", (cart_id,),
    ):
        cart.payments.append(Payment(
            payment_id=f"{cart_id}/{tid}", cart_id=cart_id, tender_id=tid, lane_id=cart.lane_id,
            tender_type=kind, currency=cart.currency, amount_minor=amount, request_key="",
            state="captured", captured_minor=amount))
    cart.payments.sort(key=lambda p: p.tender_id)
    return cart


def _checked(cart: Cart | None, cart_id: str, who: Principal, must_be_open: bool) -> Cart:
    if cart is None:
        raise NotFound(f"no cart {cart_id}")
    if cart.lane_id != who.lane_id and not who.is_manager:
        raise Forbidden(f"cart {cart_id} belongs to lane {cart.lane_id}, not {who.lane_id}")
    if must_be_open and cart.status != "open":
        raise CartClosed(f"cart {cart_id} is {cart.status}")
    return cart


def load_for(
    conn: apsw.Connection, cart_id: str, who: Principal, *, must_be_open: bool,
    with_items: bool = True,
) -> Cart:
    """A reader's look at a cart the lane may see."""
    return _checked(load(conn, cart_id, with_items=with_items), cart_id, who, must_be_open)


# --- the writer's carts: remembered between commands --------------------------------------
# A cart is read once and then kept in the writer's memo with the version it was read (or
# folded) at; each later command checks that version against the `carts` row (one indexed
# read) and takes the remembered cart when nothing changed it since. Whatever changes a cart
# (its own commands, a tender, a payment's terminal outcome, the sale) moves the row's
# version in its projection, so a remembered cart is never stale: it is reread.


def _memo_key(cart_id: str) -> tuple[str, str]:
    return ("cart", cart_id)


def fetch(tx: Tx, cart_id: str) -> Cart | None:
    rows = tx.conn.execute("SELECT version FROM carts WHERE cart_id = ?", (cart_id,)).fetchall()
    if not rows:
        return None
    kept: Cart | None = tx.memo.get(_memo_key(cart_id))
    if kept is not None and kept.version == rows[0][0]:
        return kept
    cart = load(tx.conn, cart_id)
    assert cart is not None
    remember(tx, cart)
    return cart


def fetch_for(tx: Tx, cart_id: str, who: Principal, *, must_be_open: bool) -> Cart:
    """`load_for` inside the writer, through the memo."""
    return _checked(fetch(tx, cart_id), cart_id, who, must_be_open)


def remember(tx: Tx, cart: Cart) -> None:
    if cart.status == "open":
        tx.memo.put(_memo_key(cart.cart_id), cart)
    else:
        tx.memo.forget(_memo_key(cart.cart_id))  # closed carts are not worked on again


def folded(cart: Cart, body: ev.EventBody, seq: int) -> Cart:
    """The cart after one of its own line events, at version `seq` (the same rules as its
    projection, `edge.carts.projection`; `tests/edge/carts/test_memo.py` holds them equal)."""
    lines = cart.lines
    discount = cart.discount
    next_line_id = cart.next_line_id
    if isinstance(body, pe.CartPromotionsApplied):
        return replace(cart, promotions=body.promotions,
                       promotion_bundle_version=body.bundle_version, version=seq)
    if isinstance(body, pe.CartCouponEntered):
        return replace(cart, coupons=(*cart.coupons, (body.code, body.rule_id)), version=seq)
    if isinstance(body, ev.CartLineAdded):
        lines = [*lines, Line(body.line_id, body.sku, body.product_id, body.name, body.sold_by,
                              body.qty_milli, body.unit_price_minor, body.price_version,
                              body.lock_expires_at_ms, body.tax_class, body.tax_rate_ppm, None)]
        next_line_id = body.line_id + 1
    elif isinstance(body, ev.CartLineQtyChanged):
        lines = [replace(ln, qty_milli=body.qty_milli) if ln.line_id == body.line_id else ln
                 for ln in lines]
    elif isinstance(body, ev.CartLineRemoved):
        lines = [ln for ln in lines if ln.line_id != body.line_id]
    elif isinstance(body, ev.CartDiscountApplied):
        d = Discount(body.kind, body.value)
        if body.line_id is None:
            discount = d
        else:
            lines = [replace(ln, discount=d) if ln.line_id == body.line_id else ln
                     for ln in lines]
    elif isinstance(body, ev.CartRepriced):
        new = {r.line_id: r for r in body.lines}
        lines = [replace(ln, unit_price_minor=new[ln.line_id].unit_price_minor,
                         price_version=new[ln.line_id].price_version,
                         lock_expires_at_ms=new[ln.line_id].lock_expires_at_ms)
                 if ln.line_id in new else ln for ln in lines]
    else:
        raise AssertionError(f"not a cart line event: {body.TYPE}")
    return replace(cart, lines=lines, discount=discount, next_line_id=next_line_id,
                   version=seq)

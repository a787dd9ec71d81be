"""Carts: open, scan, change, discount, re-price, tender, void. Commands run inside the writer.

Each command loads the cart from its projection, checks the rules, and appends events; it
never writes a read model itself (projections do). Every rule failure raises a DomainError
before anything is appended, and the writer's savepoint discards the command whole anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import apsw

from core import price_lock, pricing
from edge.catalog import lookup
from core.clock import from_ms
from core.errors import InvalidInput, NotFound
from edge.errors import CartClosed, Forbidden, ManagerRequired, UnknownItem
from core.ids import uuid7
from edge.lanes import Principal
from core.price_lock import LockedPrice, PricePoint
from core.pricing import Discount
from edge.store.writer import Tx
from edge.tender import rows as payment_rows
from edge.tender import settlement
from edge.tender.machine import PAID_STATES, Payment
from edge.tender.views import tender_view
from schemas import api
from schemas import events as ev

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


@dataclass(slots=True)
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

    def pricing_input(self) -> pricing.LineInput:
        return pricing.LineInput(
            self.line_id, self.unit_price_minor, self.qty_milli, self.tax_rate_ppm, self.discount
        )


@dataclass(slots=True)
class Cart:
    cart_id: str
    lane_id: str
    status: str
    currency: str
    discount: Discount | None
    next_line_id: int
    next_tender_id: int
    order_id: str | None
    lines: list[Line] = field(default_factory=list)
    # Every tender of the cart as a payment state machine (edge.tender.machine), in order.
    payments: list[Payment] = field(default_factory=list)

    def line(self, line_id: int) -> Line:
        for ln in self.lines:
            if ln.line_id == line_id:
                return ln
        raise NotFound(f"cart {self.cart_id} has no line {line_id}")

    def totals(self, tax_mode: str) -> pricing.Totals:
        return pricing.price([ln.pricing_input() for ln in self.lines], self.discount, tax_mode)

    @property
    def tendered_minor(self) -> int:
        return sum(p.captured_minor for p in self.payments if p.state in PAID_STATES)

    def payment(self, tender_id: int) -> Payment:
        for p in self.payments:
            if p.tender_id == tender_id:
                return p
        raise NotFound(f"cart {self.cart_id} has no tender {tender_id}")


def _discount(kind: str | None, value: int | None) -> Discount | None:
    return Discount(kind, value) if kind is not None and value is not None else None  # type: ignore[arg-type]


def load(conn: apsw.Connection, cart_id: str, *, with_items: bool = True) -> Cart | None:
    """The cart; `with_items=False` reads only its header row (commands that append and then
    reload need no more to decide)."""
    rows = conn.execute(
        "SELECT cart_id, lane_id, status, currency, discount_kind, discount_value, next_line_id, "
        "next_tender_id, order_id FROM carts WHERE cart_id = ?",
        (cart_id,),
    ).fetchall()
    if not rows:
        return None
    cid, lane, status, currency, dkind, dvalue, next_line, next_tender, order_id = rows[0]
    cart = Cart(cid, lane, status, currency, _discount(dkind, dvalue), next_line, next_tender, order_id)
    if not with_items:
        return cart
    for row in conn.execute(
        "SELECT line_id, sku, product_id, name, sold_by, qty_milli, unit_price_minor, "
        "price_version, lock_expires_at_ms, tax_class, tax_rate_ppm, discount_kind, "
        "discount_value FROM cart_lines WHERE cart_id = ? ORDER BY line_id",
        (cart_id,),
    ):
        cart.lines.append(Line(*row[:11], _discount(row[11], row[12])))
    cart.payments = payment_rows.of_cart(conn, cart_id)
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


def load_for(
    conn: apsw.Connection, cart_id: str, who: Principal, *, must_be_open: bool,
    with_items: bool = True,
) -> Cart:
    cart = load(conn, cart_id, with_items=with_items)
    if cart is None:
        raise NotFound(f"no cart {cart_id}")
    if cart.lane_id != who.lane_id and not who.is_manager:
        raise Forbidden(f"cart {cart_id} belongs to lane {cart.lane_id}, not {who.lane_id}")
    if must_be_open and cart.status != "open":
        raise CartClosed(f"cart {cart_id} is {cart.status}")
    return cart


# --- views -------------------------------------------------------------------------------


def view(conn: apsw.Connection, cart: Cart, policy: Policy, now_ms: int) -> api.CartView:
    totals = cart.totals(policy.tax_mode)
    points = lookup.price_points_for(conn, {ln.sku for ln in cart.lines})
    lines, to_reprice = [], []
    for ln, priced in zip(cart.lines, totals.lines):
        lv = price_lock.view(ln.locked_price, points[ln.sku], now_ms)
        if lv.would_reprice and not lv.locked:
            to_reprice.append(ln.line_id)
        lines.append(
            api.CartLineView(
                line_id=ln.line_id, sku=ln.sku, product_id=ln.product_id, name=ln.name,
                sold_by=ln.sold_by, qty_milli=ln.qty_milli,  # type: ignore[arg-type]
                unit_price_minor=ln.unit_price_minor, price_version=ln.price_version,
                price_lock=api.PriceLockView(
                    expires_at=from_ms(ln.lock_expires_at_ms), locked=lv.locked,
                    would_reprice=lv.would_reprice,
                    current_unit_price_minor=lv.current.amount_minor if lv.current else None,
                    current_price_version=lv.current.version if lv.current else None,
                ),
                discount=api.DiscountView(ln.discount.kind, ln.discount.value) if ln.discount else None,
                tax_rate_ppm=ln.tax_rate_ppm, gross_minor=priced.gross_minor,
                discount_minor=priced.discount_minor, tax_minor=priced.tax_minor,
                total_minor=priced.total_minor,
            )
        )
    settled = settlement.preview(totals.total_minor, cart.payments, policy.cash_increment_minor)
    return api.CartView(
        cart_id=cart.cart_id, lane_id=cart.lane_id, status=cart.status,  # type: ignore[arg-type]
        currency=cart.currency, tax_mode=policy.tax_mode,  # type: ignore[arg-type]
        lines=lines,
        discount=api.DiscountView(cart.discount.kind, cart.discount.value) if cart.discount else None,
        tenders=[tender_view(p) for p in cart.payments],
        subtotal_minor=totals.subtotal_minor, discount_minor=totals.discount_minor,
        tax_minor=totals.tax_minor, total_minor=totals.total_minor,
        tendered_minor=settled.tendered_minor, amount_due_minor=settled.amount_due_minor,
        change_due_minor=settled.change_due_minor, lines_to_reprice=to_reprice,
        order_id=cart.order_id, rounding_minor=settled.rounding_minor,
    )


# --- commands ----------------------------------------------------------------------------


def _stream(cart_id: str) -> str:
    return f"cart:{cart_id}"


def open_cart(tx: Tx, who: Principal, policy: Policy) -> Cart:
    cart_id = uuid7()
    tx.append(
        ev.CartOpened(cart_id=cart_id, lane_id=who.lane_id, currency=policy.currency,
                      opened_at_ms=tx.now_ms),
        stream=_stream(cart_id), lane_id=who.lane_id,
    )
    cart = load(tx.conn, cart_id)
    assert cart is not None
    return cart


def _qty_milli(sold_by: str, qty: int | None, qty_milli: int | None) -> int:
    if sold_by == "weight":
        if qty_milli is None or qty is not None:
            raise InvalidInput("this product is sold by weight: give qty_milli (grams), not qty",
                               field="qty_milli")
        return qty_milli
    if qty_milli is not None:
        raise InvalidInput("this product is sold by the unit: give qty, not qty_milli", field="qty")
    return (qty if qty is not None else 1) * 1000


def add_line(tx: Tx, who: Principal, policy: Policy, cart_id: str, req: api.AddLine) -> Cart:
    if (req.sku is None) == (req.barcode is None):
        raise InvalidInput("give exactly one of sku or barcode", field="sku")
    cart = load_for(tx.conn, cart_id, who, must_be_open=True, with_items=False)
    if cart.next_line_id > MAX_LINES_PER_CART:  # counts removed lines too: a bound on work
        raise InvalidInput(f"a cart takes at most {MAX_LINES_PER_CART} line additions")
    item = lookup.by_sku(tx.conn, req.sku) if req.sku else lookup.by_barcode(tx.conn, req.barcode or "")
    if item is None:
        what = f"SKU {req.sku}" if req.sku else f"barcode {req.barcode}"
        raise UnknownItem(f"no product with {what}", field="sku" if req.sku else "barcode")
    qty_milli = _qty_milli(item.sold_by, req.qty, req.qty_milli)
    point = price_lock.current_price(lookup.price_points(tx.conn, item.sku), tx.now_ms)
    if point is None:
        raise UnknownItem(f"{item.sku} has no price in effect", field="sku")
    locked = price_lock.lock(point, tx.now_ms, policy.lock_ttl_ms)
    tx.append(
        ev.CartLineAdded(
            cart_id=cart_id, line_id=cart.next_line_id, sku=item.sku, product_id=item.product_id,
            name=item.name, sold_by=item.sold_by,  # type: ignore[arg-type]
            qty_milli=qty_milli, unit_price_minor=locked.unit_price_minor,
            price_version=locked.price_version, lock_expires_at_ms=locked.lock_expires_at_ms,
            tax_class=item.tax_class, tax_rate_ppm=item.tax_rate_ppm, scanned_code=req.barcode,
        ),
        stream=_stream(cart_id), lane_id=who.lane_id,
    )
    return _reload(tx, cart_id)


def change_qty(tx: Tx, who: Principal, cart_id: str, line_id: int, req: api.ChangeQty) -> Cart:
    cart = load_for(tx.conn, cart_id, who, must_be_open=True)
    line = cart.line(line_id)
    qty_milli = _qty_milli(line.sold_by, req.qty, req.qty_milli)
    if qty_milli != line.qty_milli:
        tx.append(ev.CartLineQtyChanged(cart_id=cart_id, line_id=line_id, qty_milli=qty_milli),
                  stream=_stream(cart_id), lane_id=who.lane_id)
    return _reload(tx, cart_id)


def remove_line(tx: Tx, who: Principal, cart_id: str, line_id: int) -> Cart:
    cart = load_for(tx.conn, cart_id, who, must_be_open=True)
    cart.line(line_id)
    tx.append(ev.CartLineRemoved(cart_id=cart_id, line_id=line_id),
              stream=_stream(cart_id), lane_id=who.lane_id)
    return _reload(tx, cart_id)


def apply_discount(tx: Tx, who: Principal, policy: Policy, cart_id: str, req: api.ApplyDiscount) -> Cart:
    if req.kind == "percent" and req.value > pricing.BASIS_POINTS:
        raise InvalidInput("a percent discount is at most 10000 basis points (100 %)", field="value")
    cart = load_for(tx.conn, cart_id, who, must_be_open=True)
    discount = Discount(req.kind, req.value)
    totals = cart.totals(policy.tax_mode)
    if req.line_id is not None:
        line_id = cart.line(req.line_id).line_id  # NotFound for a line the cart does not have
        base = next(p.gross_minor for p in totals.lines if p.line_id == line_id)
    else:
        base = sum(
            p.gross_minor - (ln.discount.amount_off(p.gross_minor) if ln.discount else 0)
            for ln, p in zip(cart.lines, totals.lines)
        )
    if req.kind == "amount" and req.value > base:
        raise InvalidInput(f"discount {req.value} exceeds the {base} it applies to", field="value")
    share_bp = pricing.discount_share_bp(discount.amount_off(base), base)
    if share_bp > policy.manager_threshold_bp and not who.is_manager:
        raise ManagerRequired(
            f"a discount of {share_bp / 100:.2f} % exceeds the cashier limit of "
            f"{policy.manager_threshold_bp / 100:.2f} %; a manager token must apply it"
        )
    tx.append(
        ev.CartDiscountApplied(cart_id=cart_id, line_id=req.line_id, kind=req.kind, value=req.value,
                               approved_by_role=who.role, reason=req.reason),
        stream=_stream(cart_id), lane_id=who.lane_id,
    )
    return _reload(tx, cart_id)


def reprice_lines(cart: Cart, points: dict[str, list[PricePoint]], now_ms: int, ttl_ms: int,
                  *, only_expired: bool) -> list[ev.LineRepriced]:
    """Lines whose price moved get the current price and a fresh lock."""
    out = []
    for ln in cart.lines:
        lv = price_lock.view(ln.locked_price, points[ln.sku], now_ms)
        if lv.current is None or not lv.would_reprice or (only_expired and lv.locked):
            continue
        fresh = price_lock.lock(lv.current, now_ms, ttl_ms)
        out.append(ev.LineRepriced(ln.line_id, fresh.unit_price_minor, fresh.price_version,
                                   fresh.lock_expires_at_ms))
    return out


def reprice(tx: Tx, who: Principal, policy: Policy, cart_id: str) -> Cart:
    """The lane accepts current prices for every line whose lock expired and whose price moved."""
    cart = load_for(tx.conn, cart_id, who, must_be_open=True)
    points = lookup.price_points_for(tx.conn, {ln.sku for ln in cart.lines})
    changed = reprice_lines(cart, points, tx.now_ms, policy.lock_ttl_ms, only_expired=True)
    if changed:
        tx.append(ev.CartRepriced(cart_id=cart_id, lines=tuple(changed)),
                  stream=_stream(cart_id), lane_id=who.lane_id)
    return _reload(tx, cart_id)


def add_tender(tx: Tx, who: Principal, cart_id: str, req: api.AddTender,
               policy: Policy | None = None, request_key: str = "") -> Cart:
    """A cash, voucher or "other" tender, taken at the till in one step (a payment created
    and captured). Card tenders need the terminal: `edge.tender.service` runs those."""
    from edge.tender import commands  # the tender commands build on carts

    assert policy is not None or req.tender_type == "cash", "non-cash tenders check the total"
    commands.add_local(tx, who, cart_id, req, policy.tax_mode if policy else None, request_key)
    return _reload(tx, cart_id)


def void(tx: Tx, who: Principal, cart_id: str, req: api.VoidCart) -> Cart:
    from edge.tender import commands

    cart = load_for(tx.conn, cart_id, who, must_be_open=True)
    commands.void_local_tenders(tx, who, cart)  # refuses while a card is held or charged
    tx.append(ev.CartVoided(cart_id=cart_id, reason=req.reason),
              stream=_stream(cart_id), lane_id=who.lane_id)
    return _reload(tx, cart_id)


def _reload(tx: Tx, cart_id: str) -> Cart:
    cart = load(tx.conn, cart_id)
    assert cart is not None
    return cart



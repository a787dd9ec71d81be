"""Cart commands: open, scan, change a quantity, remove, discount, re-price. Each runs inside
the writer: it loads the cart, checks the rules, and appends events; it never writes a read
model itself (projections do). Every refusal is a typed `DomainError` raised before anything
is appended, and the writer's savepoint discards the command whole anyway.

The decisions are pure functions of the cart, the catalog facts and the request
(`line_to_add`, `discount_share`, `reprice_lines`), so they are tested without a database.
"""

from __future__ import annotations

from core import price_lock, pricing
from core.errors import InvalidInput
from core.ids import uuid7
from core.price_lock import PricePoint
from edge.carts.model import MAX_LINES_PER_CART, Cart, Policy, fetch_for, folded, remember
from edge.catalog import lookup
from edge.errors import ManagerRequired, UnknownItem
from edge.lanes import Principal
from edge.store.writer import Tx
from schemas import api
from schemas import events as ev


def _stream(cart_id: str) -> str:
    return f"cart:{cart_id}"


# --- decisions (pure) ------------------------------------------------------------------------


def qty_milli_for(sold_by: str, qty: int | None, qty_milli: int | None) -> int:
    """The quantity a request asks for, in milli-units: each-items by `qty` (default 1),
    weighed items by `qty_milli` (grams)."""
    if sold_by == "weight":
        if qty_milli is None or qty is not None:
            raise InvalidInput("this product is sold by weight: give qty_milli (grams), not qty",
                               field="qty_milli")
        return qty_milli
    if qty_milli is not None:
        raise InvalidInput("this product is sold by the unit: give qty, not qty_milli", field="qty")
    return (qty if qty is not None else 1) * 1000


def line_to_add(cart: Cart, item: lookup.Item, points: list[PricePoint], req: api.AddLine,
                policy: Policy, now_ms: int) -> ev.CartLineAdded:
    """The line a scan adds: the item's current price, locked for the policy's TTL."""
    if cart.next_line_id > MAX_LINES_PER_CART:  # counts removed lines too: a bound on work
        raise InvalidInput(f"a cart takes at most {MAX_LINES_PER_CART} line additions")
    qty_milli = qty_milli_for(item.sold_by, req.qty, req.qty_milli)
    point = price_lock.current_price(points, now_ms)
    if point is None:
        raise UnknownItem(f"{item.sku} has no price in effect", field="sku")
    locked = price_lock.lock(point, now_ms, policy.lock_ttl_ms)
    return ev.CartLineAdded(
        cart_id=cart.cart_id, line_id=cart.next_line_id, sku=item.sku,
        product_id=item.product_id, name=item.name, sold_by=item.sold_by,  # type: ignore[arg-type]
        qty_milli=qty_milli, unit_price_minor=locked.unit_price_minor,
        price_version=locked.price_version, lock_expires_at_ms=locked.lock_expires_at_ms,
        tax_class=item.tax_class, tax_rate_ppm=item.tax_rate_ppm, scanned_code=req.barcode,
    )


def discount_to_apply(cart: Cart, req: api.ApplyDiscount, policy: Policy,
                      who: Principal) -> ev.CartDiscountApplied:
    """A line or cart discount, refused above what it applies to, and above the cashier limit
    for anyone but a manager."""
    if req.kind == "percent" and req.value > pricing.BASIS_POINTS:
        raise InvalidInput("a percent discount is at most 10000 basis points (100 %)", field="value")
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
    limit = policy.manager_threshold_bp
    if not who.is_manager and not pricing.within_discount_limit(req.kind, req.value, base, limit):
        raise ManagerRequired(
            f"a discount of {pricing.keyed_share_text(req.kind, req.value, base)} exceeds the "
            "cashier limit of "
            f"{policy.manager_threshold_bp / 100:.2f} %; a manager token must apply it"
        )
    return ev.CartDiscountApplied(cart_id=cart.cart_id, line_id=req.line_id, kind=req.kind,
                                  value=req.value, approved_by_role=who.role, reason=req.reason)


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


# --- commands (in the writer) ----------------------------------------------------------------


def open_cart(tx: Tx, who: Principal, policy: Policy) -> Cart:
    cart_id = uuid7()
    stored = tx.append(
        ev.CartOpened(cart_id=cart_id, lane_id=who.lane_id, currency=policy.currency,
                      opened_at_ms=tx.now_ms),
        stream=_stream(cart_id), lane_id=who.lane_id,
    )
    cart = Cart(cart_id, who.lane_id, "open", policy.currency, None, 1, 1, None,
                version=stored.seq)
    remember(tx, cart)
    return cart


def add_line(tx: Tx, who: Principal, policy: Policy, cart_id: str, req: api.AddLine) -> Cart:
    if (req.sku is None) == (req.barcode is None):
        raise InvalidInput("give exactly one of sku or barcode", field="sku")
    cart = fetch_for(tx, cart_id, who, must_be_open=True)
    item = lookup.by_sku(tx, req.sku) if req.sku else lookup.by_barcode(tx, req.barcode or "")
    if item is None:
        what = f"SKU {req.sku}" if req.sku else f"barcode {req.barcode}"
        raise UnknownItem(f"no product with {what}", field="sku" if req.sku else "barcode")
    return _append(tx, cart, line_to_add(cart, item, lookup.price_points(tx, item.sku), req,
                                         policy, tx.now_ms), who)


def change_qty(tx: Tx, who: Principal, cart_id: str, line_id: int, req: api.ChangeQty) -> Cart:
    cart = fetch_for(tx, cart_id, who, must_be_open=True)
    line = cart.line(line_id)
    qty_milli = qty_milli_for(line.sold_by, req.qty, req.qty_milli)
    if qty_milli == line.qty_milli:
        return cart
    return _append(tx, cart, ev.CartLineQtyChanged(cart_id=cart_id, line_id=line_id,
                                                   qty_milli=qty_milli), who)


def remove_line(tx: Tx, who: Principal, cart_id: str, line_id: int) -> Cart:
    cart = fetch_for(tx, cart_id, who, must_be_open=True)
    cart.line(line_id)
    return _append(tx, cart, ev.CartLineRemoved(cart_id=cart_id, line_id=line_id), who)


def apply_discount(tx: Tx, who: Principal, policy: Policy, cart_id: str,
                   req: api.ApplyDiscount) -> Cart:
    cart = fetch_for(tx, cart_id, who, must_be_open=True)
    return _append(tx, cart, discount_to_apply(cart, req, policy, who), who)


def reprice(tx: Tx, who: Principal, policy: Policy, cart_id: str) -> Cart:
    """The lane accepts current prices for every line whose lock expired and whose price moved."""
    cart = fetch_for(tx, cart_id, who, must_be_open=True)
    points = lookup.price_points_for(tx, {ln.sku for ln in cart.lines})
    changed = reprice_lines(cart, points, tx.now_ms, policy.lock_ttl_ms, only_expired=True)
    if not changed:
        return cart
    return _append(tx, cart, ev.CartRepriced(cart_id=cart_id, lines=tuple(changed)), who)


def _append(tx: Tx, cart: Cart, body: ev.EventBody, who: Principal) -> Cart:
    """Append one of the cart's line events; the cart after it, remembered by the writer."""
    stored = tx.append(body, stream=_stream(cart.cart_id), lane_id=who.lane_id)
    after = folded(cart, body, stored.seq)
    remember(tx, after)
    return after

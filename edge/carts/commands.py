"""Cart commands: open, scan, change a quantity, remove, discount, re-price. Each runs inside
the writer: it loads the cart, checks the rules, and appends events; it never writes a read
model itself (projections do). Every refusal is a typed `DomainError` raised before anything
is appended, and the writer's savepoint discards the command whole anyway.

The decisions are pure functions of the cart, the catalog facts and the request
(`line_to_add`, `discount_to_apply`, `reprice_lines`), so they are tested without a database;
whether a discount needs a manager is the approvals domain's rules (`edge.approvals.require`).
"""

from __future__ import annotations

from core import price_lock, pricing
from core.errors import InvalidInput
from core.ids import uuid7
from core.price_lock import PricePoint
from core.pricing import Discount
from edge.approvals.commands import require
from edge.approvals.rules import ApprovalPolicy, Facts, legacy
from edge.carts.model import MAX_LINES_PER_CART, Cart, Policy, fetch_for, folded, remember
from edge.catalog import lookup
from edge.errors import UnknownItem
from edge.lanes import Principal
from edge.promotions import book, ledger
from edge.promotions import evaluation as promotion_evaluation
from edge.store.writer import Tx
from schemas import api
from schemas import events as ev
from schemas import promotion_events as pe


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
                      who: Principal) -> tuple[ev.CartDiscountApplied, Facts, str]:
    """A line or cart discount, refused above what it applies to; with the facts the
    approval rules judge (amount off, share of what it applies to) and its subject."""
    if req.kind == "percent" and req.value > pricing.BASIS_POINTS:
        raise InvalidInput("a percent discount is at most 10000 basis points (100 %)", field="value")
    discount = Discount(req.kind, req.value)
    totals = cart.totals(policy.tax_mode)
    # Manual discounts come after promotions: their base, and the cashier limit, are taken
    # of what the promotions left.
    promo = cart.promo_by_line()
    after_promo = [p.gross_minor - min(promo.get(p.line_id, 0), p.gross_minor)
                   for p in totals.lines]
    if req.line_id is not None:
        line_id = cart.line(req.line_id).line_id  # NotFound for a line the cart does not have
        base = next(a for p, a in zip(totals.lines, after_promo) if p.line_id == line_id)
    else:
        base = sum(
            a - (ln.discount.amount_off(a) if ln.discount else 0)
            for ln, a in zip(cart.lines, after_promo)
        )
    if req.kind == "amount" and req.value > base:
        raise InvalidInput(f"discount {req.value} exceeds the {base} it applies to", field="value")
    off = discount.amount_off(base)
    # The limit applies to what the cashier keyed, never to the rounded amount off.
    share_bp = pricing.keyed_share_bp(req.kind, req.value, base)
    body = ev.CartDiscountApplied(cart_id=cart.cart_id, line_id=req.line_id, kind=req.kind,
                                  value=req.value, approved_by_role=who.role, reason=req.reason)
    if req.line_id is not None:
        facts = Facts("line_discount", amount_minor=off, share_bp=share_bp)
        return body, facts, f"cart:{cart.cart_id}/line:{req.line_id}"
    return body, Facts("cart_discount", amount_minor=off, share_bp=share_bp), f"cart:{cart.cart_id}"


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
                                         policy, tx.now_ms), who, policy)


def change_qty(tx: Tx, who: Principal, cart_id: str, line_id: int, req: api.ChangeQty,
               policy: Policy | None = None) -> Cart:
    cart = fetch_for(tx, cart_id, who, must_be_open=True)
    line = cart.line(line_id)
    qty_milli = qty_milli_for(line.sold_by, req.qty, req.qty_milli)
    if qty_milli == line.qty_milli:
        return cart
    return _append(tx, cart, ev.CartLineQtyChanged(cart_id=cart_id, line_id=line_id,
                                                   qty_milli=qty_milli), who, policy)


def remove_line(tx: Tx, who: Principal, cart_id: str, line_id: int,
                policy: Policy | None = None) -> Cart:
    cart = fetch_for(tx, cart_id, who, must_be_open=True)
    cart.line(line_id)
    return _append(tx, cart, ev.CartLineRemoved(cart_id=cart_id, line_id=line_id), who, policy)


def apply_discount(tx: Tx, who: Principal, policy: Policy, cart_id: str,
                   req: api.ApplyDiscount, approvals: ApprovalPolicy | None = None,
                   token: str | None = None) -> Cart:
    """A discount above the rules' limits needs a manager: a manager token, or an approval
    token for exactly this discount (edge.approvals). Without the store's approval policy,
    the cart policy's threshold is the rule."""
    if approvals is None:
        approvals = ApprovalPolicy(legacy(policy.manager_threshold_bp,
                                          policy.refund_manager_above_minor))
    cart = fetch_for(tx, cart_id, who, must_be_open=True)
    body, facts, subject = discount_to_apply(cart, req, policy, who)
    share = f"{(facts.share_bp or 0) / 100:.2f} %"
    require(tx, who, approvals, facts, subject, token, reason=req.reason,
            detail=f"a discount of {share} ({facts.amount_minor} off) exceeds the cashier limit")
    return _append(tx, cart, body, who)


def reprice(tx: Tx, who: Principal, policy: Policy, cart_id: str) -> Cart:
    """The lane accepts current prices for every line whose lock expired and whose price moved."""
    cart = fetch_for(tx, cart_id, who, must_be_open=True)
    points = lookup.price_points_for(tx, {ln.sku for ln in cart.lines})
    changed = reprice_lines(cart, points, tx.now_ms, policy.lock_ttl_ms, only_expired=True)
    if not changed:
        return cart
    return _append(tx, cart, ev.CartRepriced(cart_id=cart_id, lines=tuple(changed)), who,
                   policy)


def enter_coupon(tx: Tx, who: Principal, policy: Policy, cart_id: str,
                 req: api.EnterCoupon) -> Cart:
    """A coupon code on the cart: known to the active bundle and not used up at this store
    (the local ledger); the promotion it unlocks applies from this change on."""
    cart = fetch_for(tx, cart_id, who, must_be_open=True)
    cr = ledger.check(tx.conn, book.active(tx, policy.promotion_region), req.code)
    assert cr.coupon_code is not None
    if any(code == cr.coupon_code for code, _ in cart.coupons):
        return cart
    return _append(tx, cart, pe.CartCouponEntered(cart_id=cart_id, code=cr.coupon_code,
                                                  rule_id=cr.rule_id), who, policy)


def promotions_now(tx: Tx, cart: Cart, policy: Policy) -> pe.CartPromotionsApplied | None:
    """The promotions event the cart needs now, or None when what it has is still right.
    With no bundle active and none recorded: one memo look-up, nothing else."""
    active = book.active(tx, policy.promotion_region)
    if active is None and not cart.promotions:
        return None
    result = promotion_evaluation.evaluate(
        active,
        (promotion_evaluation.LineFacts(ln.line_id, ln.sku, ln.unit_price_minor, ln.qty_milli,
                                        ln.sold_by, ln.lock_expires_at_ms) for ln in cart.lines),
        (code for code, _ in cart.coupons), store_id=tx.store_id, tz=tx.identity.tz,
        lock_ttl_ms=policy.lock_ttl_ms, now_ms=tx.now_ms,
        segment=promotion_evaluation.segment_for(active, policy.segment_of, tx.conn,
                                                 cart.cart_id))
    applied = promotion_evaluation.recorded(result)
    version = result.bundle_version if applied else cart.promotion_bundle_version
    if applied == cart.promotions and version == cart.promotion_bundle_version:
        return None
    return pe.CartPromotionsApplied(cart_id=cart.cart_id, bundle_version=version,
                                    promotions=applied)


def refresh_promotions(tx: Tx, who: Principal, policy: Policy, cart: Cart) -> Cart:
    body = promotions_now(tx, cart, policy)
    if body is None:
        return cart
    stored = tx.append(body, stream=_stream(cart.cart_id), lane_id=who.lane_id)
    after = folded(cart, body, stored.seq)
    remember(tx, after)
    return after


def _append(tx: Tx, cart: Cart, body: ev.EventBody, who: Principal,
            policy: Policy | None = None) -> Cart:
    """Append one of the cart's line events; the cart after it, remembered by the writer.
    With `policy`, the cart's promotions are evaluated again after the change."""
    stored = tx.append(body, stream=_stream(cart.cart_id), lane_id=who.lane_id)
    after = folded(cart, body, stored.seq)
    remember(tx, after)
    if policy is not None:
        after = refresh_promotions(tx, who, policy, after)
    return after

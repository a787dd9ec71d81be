"""Read models as projections of the event log.

`apply` is the only code that writes projection tables. The live path calls it in the same
transaction that appends the event; `edge.store.rebuild` calls it while replaying the log into
a scratch database. So a rebuild equals the live state by construction, and a test proves it.
Projections must depend on the event alone (never on the clock or on config).
"""

from __future__ import annotations

from collections.abc import Callable

import apsw
import msgspec

from core.clock import to_ms
from schemas.envelope import Event
from edge.tender import machine, settlement
from edge.tender import rows as payment_rows
from schemas import events as ev

_json = msgspec.json.Encoder(order="sorted")

Handler = Callable[[apsw.Connection, Event, ev.EventBody], None]
_HANDLERS: dict[type, Handler] = {}


def _on(cls: type) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _HANDLERS[cls] = fn
        return fn

    return register


def apply(conn: apsw.Connection, stored: Event, body: ev.EventBody) -> None:
    handler = _HANDLERS.get(type(body))
    assert handler is not None, f"no projection for {stored.type}"
    handler(conn, stored, body)


# --- catalog -----------------------------------------------------------------------------


@_on(ev.TaxClassSet)
def _tax_class(conn, _stored, body: ev.TaxClassSet) -> None:
    t = body.tax_class
    conn.execute(
        "INSERT INTO tax_classes(code, rate_ppm, name) VALUES (?,?,?) "
        "ON CONFLICT(code) DO UPDATE SET rate_ppm=excluded.rate_ppm, name=excluded.name",
        (t.code, t.rate_ppm, t.name),
    )


@_on(ev.ProductUpserted)
def _product(conn, _stored, body: ev.ProductUpserted) -> None:
    p = body.product
    conn.execute(
        "INSERT INTO products(product_id, name, tax_class, sold_by) VALUES (?,?,?,?) "
        "ON CONFLICT(product_id) DO UPDATE SET name=excluded.name, "
        "tax_class=excluded.tax_class, sold_by=excluded.sold_by",
        (p.product_id, p.name, p.tax_class, p.sold_by),
    )
    # The product's variant set and barcodes are replaced wholesale by the new version.
    conn.execute(
        "DELETE FROM barcodes WHERE sku IN (SELECT sku FROM variants WHERE product_id=?)",
        (p.product_id,),
    )
    conn.execute("DELETE FROM variants WHERE product_id=?", (p.product_id,))
    for v in p.variants:
        conn.execute(
            "INSERT INTO variants(sku, product_id, attributes) VALUES (?,?,?)",
            (v.sku, p.product_id, _json.encode(v.attributes).decode()),
        )
        for code in v.barcodes:
            conn.execute("INSERT INTO barcodes(code, sku) VALUES (?,?)", (code, v.sku))


@_on(ev.PriceSet)
def _price(conn, _stored, body: ev.PriceSet) -> None:
    p = body.price
    conn.execute(
        "INSERT INTO prices(sku, version, amount_minor, effective_at_ms) VALUES (?,?,?,?) "
        "ON CONFLICT(sku, version) DO UPDATE SET amount_minor=excluded.amount_minor, "
        "effective_at_ms=excluded.effective_at_ms",
        (p.sku, p.version, p.amount_minor, to_ms(p.effective_at)),
    )


# --- carts -------------------------------------------------------------------------------


@_on(ev.CartOpened)
def _cart_opened(conn, _stored, body: ev.CartOpened) -> None:
    conn.execute(
        "INSERT INTO carts(cart_id, lane_id, status, currency, opened_at_ms, next_line_id, "
        "next_tender_id) VALUES (?,?,'open',?,?,1,1)",
        (body.cart_id, body.lane_id, body.currency, body.opened_at_ms),
    )


@_on(ev.CartLineAdded)
def _line_added(conn, _stored, b: ev.CartLineAdded) -> None:
    conn.execute(
        "INSERT INTO cart_lines(cart_id, line_id, sku, product_id, name, sold_by, qty_milli, "
        "unit_price_minor, price_version, lock_expires_at_ms, tax_class, tax_rate_ppm, "
        "scanned_code) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (b.cart_id, b.line_id, b.sku, b.product_id, b.name, b.sold_by, b.qty_milli,
         b.unit_price_minor, b.price_version, b.lock_expires_at_ms, b.tax_class,
         b.tax_rate_ppm, b.scanned_code),
    )
    conn.execute("UPDATE carts SET next_line_id=? WHERE cart_id=?", (b.line_id + 1, b.cart_id))


@_on(ev.CartLineQtyChanged)
def _qty(conn, _stored, b: ev.CartLineQtyChanged) -> None:
    conn.execute(
        "UPDATE cart_lines SET qty_milli=? WHERE cart_id=? AND line_id=?",
        (b.qty_milli, b.cart_id, b.line_id),
    )


@_on(ev.CartLineRemoved)
def _removed(conn, _stored, b: ev.CartLineRemoved) -> None:
    conn.execute("DELETE FROM cart_lines WHERE cart_id=? AND line_id=?", (b.cart_id, b.line_id))


@_on(ev.CartDiscountApplied)
def _discount(conn, _stored, b: ev.CartDiscountApplied) -> None:
    if b.line_id is None:
        conn.execute(
            "UPDATE carts SET discount_kind=?, discount_value=? WHERE cart_id=?",
            (b.kind, b.value, b.cart_id),
        )
    else:
        conn.execute(
            "UPDATE cart_lines SET discount_kind=?, discount_value=? WHERE cart_id=? AND line_id=?",
            (b.kind, b.value, b.cart_id, b.line_id),
        )


@_on(ev.CartRepriced)
def _repriced(conn, _stored, b: ev.CartRepriced) -> None:
    for ln in b.lines:
        conn.execute(
            "UPDATE cart_lines SET unit_price_minor=?, price_version=?, lock_expires_at_ms=? "
            "WHERE cart_id=? AND line_id=?",
            (ln.unit_price_minor, ln.price_version, ln.lock_expires_at_ms, b.cart_id, ln.line_id),
        )


@_on(ev.CartTenderAdded)
def _tender(conn, _stored, b: ev.CartTenderAdded) -> None:
    conn.execute(
        "INSERT INTO cart_tenders(cart_id, tender_id, tender_type, amount_minor) VALUES (?,?,?,?)",
        (b.cart_id, b.tender_id, b.tender_type, b.amount_minor),
    )
    conn.execute("UPDATE carts SET next_tender_id=? WHERE cart_id=?", (b.tender_id + 1, b.cart_id))


@_on(ev.CartVoided)
def _voided(conn, stored: Event, b: ev.CartVoided) -> None:
    conn.execute(
        "UPDATE carts SET status='voided', closed_at_seq=? WHERE cart_id=?", (stored.seq, b.cart_id)
    )


# --- sales -------------------------------------------------------------------------------


@_on(ev.SaleCompleted)
def _sale(conn, stored: Event, s: ev.SaleCompleted) -> None:
    conn.execute(
        "INSERT INTO orders(order_id, cart_id, receipt_number, lane_id, completed_at_ms, "
        "business_date, currency, tax_mode, subtotal_minor, discount_minor, tax_minor, "
        "total_minor, tendered_minor, change_due_minor, event_seq) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (s.order_id, s.cart_id, s.receipt_number, s.lane_id, s.completed_at_ms, s.business_date,
         s.currency, s.tax_mode, s.subtotal_minor, s.discount_minor, s.tax_minor, s.total_minor,
         s.tendered_minor, s.change_due_minor, stored.seq),
    )
    for ln in s.lines:
        conn.execute(
            "INSERT INTO order_lines(order_id, line_no, sku, product_id, name, qty_milli, "
            "unit_price_minor, price_version, sold_under_lock, tax_class, tax_rate_ppm, "
            "gross_minor, discount_minor, tax_minor, total_minor) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (s.order_id, ln.line_no, ln.sku, ln.product_id, ln.name, ln.qty_milli,
             ln.unit_price_minor, ln.price_version, int(ln.sold_under_lock), ln.tax_class,
             ln.tax_rate_ppm, ln.gross_minor, ln.discount_minor, ln.tax_minor, ln.total_minor),
        )
    for t in s.tenders:
        conn.execute(
            "INSERT INTO order_tenders(order_id, tender_no, tender_type, amount_minor) "
            "VALUES (?,?,?,?)",
            (s.order_id, t.tender_no, t.tender_type, t.amount_minor),
        )
    conn.execute(
        "UPDATE carts SET status='completed', order_id=?, closed_at_seq=? WHERE cart_id=?",
        (s.order_id, stored.seq, s.cart_id),
    )
    conn.execute(
        "INSERT INTO counters(name, value) VALUES ('receipts', 1) "
        "ON CONFLICT(name) DO UPDATE SET value=value+1"
    )
    _settle_payments(conn, stored, s)


# --- payments ----------------------------------------------------------------------------
# Each payment event is folded through the pure state machine (`edge.tender.machine.step`),
# the same function the commands validate with, so live state and a rebuild cannot differ.


def _settle_payments(conn, stored: Event, s: ev.SaleCompleted) -> None:
    tenders = [p for p in payment_rows.of_cart(conn, s.cart_id) if p.state in machine.PAID_STATES]
    if not tenders:
        return  # a sale paid before tenders were payments (cart.tender_added): nothing to link
    change = settlement.allocate_change(tenders, s.change_due_minor)
    for p in tenders:
        payment_rows.upsert(
            conn, machine.settle_into_order(p, s.order_id, change.get(p.payment_id, 0)),
            stored.seq)


def _receipt(conn, card: ev.CardRef | None, payment_id: str, kind: str) -> None:
    if card is not None:
        conn.execute(
            "INSERT OR IGNORE INTO terminal_receipts(terminal_id, trace_no, receipt_no, "
            "payment_id, kind) VALUES (?,?,?,?,?)",
            (card.terminal_id, card.trace_no, card.receipt_no, payment_id, kind),
        )


def _payment(conn, stored: Event, b) -> None:
    before = None if isinstance(b, ev.PaymentCreated) else payment_rows.by_id(conn, b.payment_id)
    after = machine.step(before, b)
    payment_rows.upsert(conn, after, stored.seq)
    if isinstance(b, ev.PaymentCreated):
        conn.execute("UPDATE carts SET next_tender_id=? WHERE cart_id=?",
                     (b.tender_id + 1, b.cart_id))
    card = getattr(b, "card", None)
    if card is not None:
        _receipt(conn, card, b.payment_id, b.TYPE.removeprefix("payment."))
    if isinstance(b, (ev.PaymentRefunded, ev.PaymentRefundFailed)):
        conn.execute("UPDATE refund_allocations SET state=? WHERE refund_id=? AND payment_id=?",
                     ("refunded" if isinstance(b, ev.PaymentRefunded) else "failed",
                      b.refund_id, b.payment_id))


for _cls in (
    ev.PaymentCreated, ev.PaymentAuthorizing, ev.PaymentAuthorized, ev.PaymentCapturing,
    ev.PaymentCaptured, ev.PaymentDeclined, ev.PaymentFailed, ev.PaymentVoiding, ev.PaymentVoided,
    ev.PaymentVoidFailed, ev.PaymentStored, ev.PaymentForwarded, ev.PaymentForwardDeclined,
    ev.PaymentRefundRequested, ev.PaymentRefunded, ev.PaymentRefundFailed,
    ev.PaymentCaptureFailed,
):
    _on(_cls)(_payment)


@_on(ev.OrderRefundCreated)
def _refund(conn, stored: Event, b: ev.OrderRefundCreated) -> None:
    conn.execute(
        "INSERT INTO refunds(refund_id, order_id, lane_id, amount_minor, approved_by_role, "
        "reason, request_key, created_seq) VALUES (?,?,?,?,?,?,?,?)",
        (b.refund_id, b.order_id, b.lane_id, b.amount_minor, b.approved_by_role, b.reason,
         b.request_key, stored.seq),
    )
    for ln in b.lines:
        conn.execute(
            "INSERT INTO refund_lines(refund_id, line_no, order_id, qty_milli, amount_minor) "
            "VALUES (?,?,?,?,?)", (b.refund_id, ln.line_no, b.order_id, ln.qty_milli,
                                  ln.amount_minor))
    for a in b.allocations:
        conn.execute(
            "INSERT INTO refund_allocations(refund_id, payment_id, tender_type, amount_minor, "
            "state) VALUES (?,?,?,?,'refund_pending')",
            (b.refund_id, a.payment_id, a.tender_type, a.amount_minor))


# --- vouchers ----------------------------------------------------------------------------


@_on(ev.VoucherIssued)
def _voucher_issued(conn, stored: Event, b: ev.VoucherIssued) -> None:
    conn.execute(
        "INSERT INTO vouchers(code, currency, issued_minor, balance_minor, issued_seq, "
        "updated_seq) VALUES (?,?,?,?,?,?)",
        (b.code, b.currency, b.amount_minor, b.amount_minor, stored.seq, stored.seq),
    )


@_on(ev.VoucherRedeemed)
def _voucher_redeemed(conn, stored: Event, b: ev.VoucherRedeemed) -> None:
    # The CHECK (balance_minor >= 0) makes an overdraft impossible even if a command forgot.
    conn.execute("UPDATE vouchers SET balance_minor = balance_minor - ?, updated_seq = ? "
                 "WHERE code = ?", (b.amount_minor, stored.seq, b.code))


@_on(ev.VoucherCredited)
def _voucher_credited(conn, stored: Event, b: ev.VoucherCredited) -> None:
    conn.execute("UPDATE vouchers SET balance_minor = balance_minor + ?, updated_seq = ? "
                 "WHERE code = ?", (b.amount_minor, stored.seq, b.code))


# --- devices -----------------------------------------------------------------------------


@_on(ev.DeviceAttached)
@_on(ev.DeviceDetached)
def _device_audit(_conn, _stored, _body) -> None:
    """Attach/detach events are an audit trail for the log and the lane streams; no read model
    is built from them (live device state is the registry's, bindings are primary state)."""

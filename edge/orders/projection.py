"""Order read models: the completed sale (order, lines, tenders), the receipt counter, and
refunds with their lines and their split over the original tenders (each allocation follows
its payment's refund outcome)."""

from __future__ import annotations

from edge.store.projector import Registrations
from schemas import events as ev
from schemas.envelope import Event

PROJECTIONS = Registrations()
TABLES = {
    "orders": "order_id",
    "order_lines": "order_id, line_no",
    "order_tenders": "order_id, tender_no",
    "counters": "name",
    "refunds": "refund_id",
    "refund_lines": "refund_id, line_no",
    "refund_allocations": "refund_id, payment_id",
}


@PROJECTIONS.on(ev.SaleCompleted)
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
        "INSERT INTO counters(name, value) VALUES ('receipts', 1) "
        "ON CONFLICT(name) DO UPDATE SET value=value+1"
    )


@PROJECTIONS.on(ev.OrderRefundCreated)
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


@PROJECTIONS.on(ev.PaymentRefunded, ev.PaymentRefundFailed)
def _refund_outcome(conn, _stored: Event, b) -> None:
    conn.execute("UPDATE refund_allocations SET state=? WHERE refund_id=? AND payment_id=?",
                 ("refunded" if isinstance(b, ev.PaymentRefunded) else "failed",
                  b.refund_id, b.payment_id))

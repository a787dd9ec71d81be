"""Completing a sale, and reading orders and receipts back.

`complete` turns an open, fully tendered cart into one `sale.completed` event that carries
everything HQ needs (lines with unit price, price version and `sold_under_lock`, tenders,
totals, change); the order read model is its projection.
"""

from __future__ import annotations

import apsw

from core import price_lock
from edge.carts import Policy, load_for, reprice_lines
from edge.catalog import lookup
from core.clock import from_ms
from core.errors import NotFound
from edge.errors import EmptyCart, PriceLockExpired
from core.ids import uuid7
from edge.lanes import Principal
from core.money import format_minor
from edge.printing import queue as print_queue
from edge.store.writer import Tx
from edge.tender import rows as payment_rows
from edge.tender import settlement
from edge.tender.machine import PAID_STATES
from edge.tender.views import order_tender_view, receipt_line
from schemas import api
from schemas import events as ev


def complete(tx: Tx, who: Principal, policy: Policy, cart_id: str) -> str:
    """Returns the new order id. Raises before appending anything if the sale cannot close."""
    cart = load_for(tx.conn, cart_id, who, must_be_open=True)
    if not cart.lines:
        raise EmptyCart(f"cart {cart_id} has no lines to sell")
    points = lookup.price_points_for(tx.conn, {ln.sku for ln in cart.lines})
    expired = reprice_lines(cart, points, tx.now_ms, policy.lock_ttl_ms, only_expired=True)
    if expired:
        if policy.on_expiry == "refuse":
            raise PriceLockExpired(
                "the price lock expired on lines whose price has changed; re-price the cart "
                "(POST .../reprice), show the customer the new total, then complete",
                lines=[r.line_id for r in expired],
            )
        tx.append(ev.CartRepriced(cart_id=cart_id, lines=tuple(expired)),
                  stream=f"cart:{cart_id}", lane_id=who.lane_id)
        cart = load_for(tx.conn, cart_id, who, must_be_open=True)

    totals = cart.totals(policy.tax_mode)
    settled = settlement.settle(totals.total_minor, cart.payments, policy.cash_increment_minor)
    paid = [p for p in cart.payments if p.state in PAID_STATES]
    receipt_no = _next_receipt_number(tx.conn, policy.store_id)
    order_id = uuid7()
    lines = tuple(
        ev.SoldLine(
            line_no=i, sku=ln.sku, product_id=ln.product_id, name=ln.name,
            qty_milli=ln.qty_milli, unit_price_minor=ln.unit_price_minor,
            price_version=ln.price_version,
            sold_under_lock=price_lock.sold_under_lock(ln.locked_price, points[ln.sku], tx.now_ms),
            tax_class=ln.tax_class, tax_rate_ppm=ln.tax_rate_ppm, gross_minor=p.gross_minor,
            discount_minor=p.discount_minor, tax_minor=p.tax_minor, total_minor=p.total_minor,
        )
        for i, (ln, p) in enumerate(zip(cart.lines, totals.lines), start=1)
    )
    # Tender numbers follow the payments' order on the cart (tender_id), which is also how
    # the projection links each payment to the order.
    tenders = tuple(
        ev.SoldTender(tender_no=i, tender_type=p.tender_type, amount_minor=p.captured_minor)
        for i, p in enumerate(paid, start=1)
    )
    tx.append(
        ev.SaleCompleted(
            order_id=order_id, cart_id=cart_id, receipt_number=receipt_no, lane_id=cart.lane_id,
            completed_at_ms=tx.now_ms,
            business_date=tx.business_date,
            currency=cart.currency, tax_mode=policy.tax_mode,  # type: ignore[arg-type]
            lines=lines, tenders=tenders, subtotal_minor=totals.subtotal_minor,
            discount_minor=totals.discount_minor, tax_minor=totals.tax_minor,
            total_minor=totals.total_minor, tendered_minor=settled.tendered_minor,
            change_due_minor=settled.change_due_minor,
        ),
        stream=f"order:{order_id}", lane_id=cart.lane_id,
    )
    return order_id


def _next_receipt_number(conn: apsw.Connection, store_id: str) -> str:
    rows = conn.execute("SELECT value FROM counters WHERE name = 'receipts'").fetchall()
    return f"{store_id}-{(rows[0][0] if rows else 0) + 1:07d}"


# --- reads -------------------------------------------------------------------------------

_ORDER_COLS = (
    "order_id, receipt_number, cart_id, lane_id, completed_at_ms, business_date, currency, "
    "tax_mode, subtotal_minor, discount_minor, tax_minor, total_minor, tendered_minor, "
    "change_due_minor"
)


def _order(conn: apsw.Connection, where: str, arg: str) -> api.OrderView | None:
    rows = conn.execute(f"SELECT {_ORDER_COLS} FROM orders WHERE {where} = ?", (arg,)).fetchall()
    if not rows:
        return None
    r = rows[0]
    lines = [
        api.OrderLineView(line_no=row[0], sku=row[1], product_id=row[2], name=row[3],
                          qty_milli=row[4], unit_price_minor=row[5], price_version=row[6],
                          sold_under_lock=bool(row[7]), tax_rate_ppm=row[8], gross_minor=row[9],
                          discount_minor=row[10], tax_minor=row[11], total_minor=row[12])
        for row in conn.execute(
            "SELECT line_no, sku, product_id, name, qty_milli, unit_price_minor, price_version, "
            "sold_under_lock, tax_rate_ppm, gross_minor, discount_minor, tax_minor, total_minor "
            "FROM order_lines WHERE order_id = ? ORDER BY line_no", (r[0],))
    ]
    tenders = [
        api.OrderTenderView(*t)
        for t in conn.execute(
            "SELECT tender_no, tender_type, amount_minor FROM order_tenders WHERE order_id = ? "
            "ORDER BY tender_no", (r[0],))
    ]
    payments = [p for p in payment_rows.of_order(conn, r[0])]
    if len(payments) == len(tenders):  # orders paid before tenders were payments have none
        tenders = [order_tender_view(t.tender_no, p) for t, p in zip(tenders, payments)]
    refunded = conn.execute("SELECT COALESCE(SUM(amount_minor), 0) FROM refund_allocations "
                            "WHERE refund_id IN (SELECT refund_id FROM refunds WHERE order_id = ?) "
                            "AND state = 'refunded'", (r[0],)).fetchall()[0][0]
    return api.OrderView(
        order_id=r[0], receipt_number=r[1], cart_id=r[2], lane_id=r[3],
        completed_at=from_ms(r[4]), business_date=r[5],
        currency=r[6], tax_mode=r[7], lines=lines, tenders=tenders, subtotal_minor=r[8],
        discount_minor=r[9], tax_minor=r[10], total_minor=r[11], tendered_minor=r[12],
        change_due_minor=r[13], rounding_minor=r[12] - r[13] - r[11], refunded_minor=refunded,
        receipt_print=print_queue.for_order(conn, r[0]),
    )


def by_id(conn: apsw.Connection, order_id: str) -> api.OrderView:
    order = _order(conn, "order_id", order_id)
    if order is None:
        raise NotFound(f"no order {order_id}")
    return order


def by_receipt(conn: apsw.Connection, receipt_number: str) -> api.OrderView:
    order = _order(conn, "receipt_number", receipt_number)
    if order is None:
        raise NotFound(f"no order with receipt number {receipt_number}")
    return order


def _qty_text(qty_milli: int) -> str:
    if qty_milli % 1000 == 0:
        return f"{qty_milli // 1000} x"
    return f"{qty_milli / 1000:.3f} kg"


def receipt(order: api.OrderView, policy: Policy, tz) -> api.ReceiptView:
    cur = order.currency
    taxes: dict[int, list[int]] = {}
    for ln in order.lines:
        row = taxes.setdefault(ln.tax_rate_ppm, [0, 0])
        row[0] += ln.total_minor - (ln.tax_minor if order.tax_mode == "inclusive" else 0)
        row[1] += ln.tax_minor
    return api.ReceiptView(
        store_name=policy.store_name, store_id=policy.store_id, lane_id=order.lane_id,
        receipt_number=order.receipt_number, order_id=order.order_id,
        local_time=order.completed_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z"),
        business_date=order.business_date, currency=cur,
        lines=[
            api.ReceiptLine(
                text=ln.name + (" *" if ln.sold_under_lock else ""),
                qty_text=f"{_qty_text(ln.qty_milli)} {format_minor(ln.unit_price_minor, cur)}",
                amount_text=format_minor(ln.total_minor, cur),
            )
            for ln in order.lines
        ],
        taxes=[
            api.ReceiptTaxRow(rate_text=f"{rate / 10_000:g} %", net_minor=net, tax_minor=tax)
            for rate, (net, tax) in sorted(taxes.items())
        ],
        subtotal_text=format_minor(order.subtotal_minor, cur),
        discount_text=format_minor(-order.discount_minor, cur) if order.discount_minor else None,
        tax_text=format_minor(order.tax_minor, cur),
        total_text=format_minor(order.total_minor, cur),
        tenders=[receipt_line(t, cur) for t in order.tenders],
        change_text=format_minor(order.change_due_minor, cur),
        barcode=order.receipt_number,
        rounding_text=format_minor(order.rounding_minor, cur) if order.rounding_minor else None,
    )

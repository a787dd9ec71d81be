"""Reading orders back: by id or receipt number, with their tenders (as payments), what has
been refunded, and the receipt print job; and the receipt data a printer renders.

The print job's state comes from the printing domain through `ReceiptPrints` (printing builds
on orders, so orders only names what it needs)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import apsw

from core.clock import from_ms
from core.errors import NotFound
from core.money import format_minor
from edge.carts.model import Policy
from edge.payments import rows as payment_rows
from edge.payments.views import order_tender_view, receipt_line
from edge.promotions import orders as promotion_lines
from edge.store.writer import Tx
from schemas import api
from schemas.fiscal import FiscalStamp
from schemas.printing import ReceiptPrint


@runtime_checkable
class ReceiptPrints(Protocol):
    def enqueue_receipt(self, tx: Tx, order_id: str) -> ReceiptPrint | None:
        """Queue the sale's receipt in the sale's own transaction; never raises."""

    def for_order(self, conn: apsw.Connection, order_id: str) -> ReceiptPrint | None: ...


class NoPrints:
    """A store composed without printing: no order has a print job."""

    def enqueue_receipt(self, tx: Tx, order_id: str) -> ReceiptPrint | None:
        return None

    def for_order(self, conn: apsw.Connection, order_id: str) -> ReceiptPrint | None:
        return None


_ORDER_COLS = (
    "order_id, receipt_number, cart_id, lane_id, completed_at_ms, business_date, currency, "
    "tax_mode, subtotal_minor, discount_minor, tax_minor, total_minor, tendered_minor, "
    "change_due_minor"
)


def _order(conn: apsw.Connection, where: str, arg: str,
           prints: ReceiptPrints) -> api.OrderView | None:
    rows = conn.execute(f"SELECT {_ORDER_COLS} FROM orders WHERE {where} = ?", (arg,)).fetchall()
    if not rows:
        return None
    r = rows[0]
    promos = promotion_lines.of_order(conn, r[0])
    lines = [
        api.OrderLineView(line_id=row[0], line_no=row[0], sku=row[1], product_id=row[2],
                          name=row[3],
                          qty_milli=row[4], unit_price_minor=row[5], price_version=row[6],
                          sold_under_lock=bool(row[7]), tax_rate_ppm=row[8], gross_minor=row[9],
                          discount_minor=row[10], tax_minor=row[11], total_minor=row[12],
                          promotions=promos.get(row[0], []),
                          promotion_minor=sum(p.discount_minor for p in promos.get(row[0], [])))
        for row in conn.execute(
            "SELECT line_no, sku, product_id, name, qty_milli, unit_price_minor, price_version, "
            "sold_under_lock, tax_rate_ppm, gross_minor, discount_minor, tax_minor, total_minor "
            "FROM order_lines WHERE order_id = ? ORDER BY line_no", (r[0],))
    ]
    tenders = [
        api.OrderTenderView(t[0], *t)
        for t in conn.execute(
            "SELECT tender_no, tender_type, amount_minor FROM order_tenders WHERE order_id = ? "
            "ORDER BY tender_no", (r[0],))
    ]
    payments = [p for p in payment_rows.of_order(conn, r[0])]
    if len(payments) == len(tenders):  # orders paid before tenders were payments have none
        tenders = [order_tender_view(t.tender_id, p) for t, p in zip(tenders, payments)]
    refunded = conn.execute("SELECT COALESCE(SUM(amount_minor), 0) FROM refund_allocations "
                            "WHERE refund_id IN (SELECT refund_id FROM refunds WHERE order_id = ?) "
                            "AND state = 'refunded'", (r[0],)).fetchall()[0][0]
    return api.OrderView(
        order_id=r[0], receipt_number=r[1], cart_id=r[2], lane_id=r[3],
        completed_at=from_ms(r[4]), business_date=r[5],
        currency=r[6], tax_mode=r[7], lines=lines, tenders=tenders, subtotal_minor=r[8],
        discount_minor=r[9], tax_minor=r[10], total_minor=r[11], tendered_minor=r[12],
        change_due_minor=r[13], rounding_minor=r[12] - r[13] - r[11], refunded_minor=refunded,
        receipt_print=prints.for_order(conn, r[0]),
    )


def by_id(conn: apsw.Connection, order_id: str,
          prints: ReceiptPrints = NoPrints()) -> api.OrderView:
    order = _order(conn, "order_id", order_id, prints)
    if order is None:
        raise NotFound(f"no order {order_id}")
    return order


def by_receipt(conn: apsw.Connection, receipt_number: str,
               prints: ReceiptPrints = NoPrints()) -> api.OrderView:
    order = _order(conn, "receipt_number", receipt_number, prints)
    if order is None:
        raise NotFound(f"no order with receipt number {receipt_number}")
    return order


def _qty_text(qty_milli: int) -> str:
    if qty_milli % 1000 == 0:
        return f"{qty_milli // 1000} x"
    return f"{qty_milli / 1000:.3f} kg"


def receipt(order: api.OrderView, policy: Policy, tz,
            fiscal: FiscalStamp | None = None) -> api.ReceiptView:
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
            row
            for ln in order.lines
            for row in (
                api.ReceiptLine(
                    text=ln.name + (" *" if ln.sold_under_lock else ""),
                    qty_text=f"{_qty_text(ln.qty_milli)} {format_minor(ln.unit_price_minor, cur)}",
                    amount_text=format_minor(ln.total_minor, cur),
                    amount_minor=ln.total_minor, qty_milli=ln.qty_milli,
                    unit_price_minor=ln.unit_price_minor,
                ),
                # Each promotion under the line it applied to (already in the line's amount).
                *(api.ReceiptLine(text=f"  {p.name or p.rule_id}", qty_text="",
                                  amount_text=format_minor(-p.discount_minor, cur),
                                  amount_minor=-p.discount_minor)
                  for p in ln.promotions),
            )
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
        promotion_saving_text=format_minor(saved, cur) if (
            saved := sum(ln.promotion_minor for ln in order.lines)) else None,
        fiscal=fiscal,
        subtotal_minor=order.subtotal_minor, discount_minor=order.discount_minor,
        tax_minor=order.tax_minor, total_minor=order.total_minor,
        change_minor=order.change_due_minor, rounding_minor=order.rounding_minor,
    )

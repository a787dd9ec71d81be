"""The returns read model: one row per return document and one per returned line. Quantities
left to return are not kept here: they are the order's lines minus its refund lines (every
return records its lines as a refund of the order, `edge.orders.refunds.record`), so refunds
and returns share one count and the single writer decides between two lanes."""

from __future__ import annotations

import json

from edge.store.projector import Registrations
from schemas.envelope import Event
from schemas.returns import ReturnCompleted

PROJECTIONS = Registrations()
TABLES = {"returns": "return_id", "return_lines": "return_id, n"}


@PROJECTIONS.on(ReturnCompleted)
def _completed(conn, stored: Event, b: ReturnCompleted) -> None:
    conn.execute(
        "INSERT INTO returns(return_id, kind, order_id, receipt_number, lane_id, currency, "
        "fee_minor, amount_minor, refund_to, refund_id, store_credit_code, customer_hash, flags, "
        "approved_by_role, exchange_order_id, request_key, business_date, created_at_ms, seq) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (b.return_id, b.kind, b.order_id, b.receipt_number, b.lane_id, b.currency, b.fee_minor,
         b.amount_minor, b.refund_to, b.refund_id, b.store_credit_code, b.customer_hash,
         json.dumps(list(b.flags)), b.approved_by_role, b.exchange_order_id, b.request_key,
         stored.business_date, stored.recorded_at_ms, stored.seq))
    for n, ln in enumerate(b.lines, start=1):
        conn.execute(
            "INSERT INTO return_lines(return_id, n, order_id, line_no, sku, qty_milli, "
            "paid_minor, fee_minor, amount_minor, reason, disposition) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (b.return_id, n, ln.order_id, ln.line_no, ln.sku, ln.qty_milli, ln.paid_minor,
             ln.fee_minor, ln.amount_minor, ln.reason, ln.disposition))

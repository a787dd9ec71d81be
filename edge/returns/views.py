"""Reading returns back: what is left to return of an order, a return document, and the
return receipt (what a printer renders and the receipt view shows)."""

from __future__ import annotations

import json

import apsw

from core.errors import NotFound
from core.money import format_minor
from edge.carts.model import Policy
from edge.orders import refunds
from edge.payments.machine import REFUNDABLE_STATES
from edge.returns import rules
from edge.returns.commands import OrderHead, ReturnsPolicy, order_lines
from schemas import returns as rt


_REFUNDABLE = ", ".join(f"'{st}'" for st in sorted(REFUNDABLE_STATES))


def refundable_minor(conn: apsw.Connection, order_id: str) -> int:
    """What the order's tenders can still take back (Σ `Payment.refundable_minor`), summed by
    the database: the lookup reads no payment rows into objects."""
    return conn.execute(
        "SELECT COALESCE(SUM(captured_minor - change_minor - refunded_minor), 0) FROM payments "
        f"WHERE order_id = ? AND state IN ({_REFUNDABLE})", (order_id,)).fetchall()[0][0]


def returnable(conn: apsw.Connection, p: ReturnsPolicy, head: OrderHead,
               today: str) -> rt.ReturnableOrder:
    age = rules.age_days(head.business_date, today)
    lines = []
    window_ok = True
    for ln in order_lines(conn, head.order_id).values():
        left = rules.returnable(ln.qty_milli, ln.taken_milli)
        taken = min(ln.taken_milli, ln.qty_milli)
        value = rules.value_of(ln.total_minor, ln.qty_milli, taken, left) if left else 0
        window_ok &= age <= rules.window_days(ln.sku, ln.category, p.cfg)
        lines.append(rt.ReturnableLine(
            line_no=ln.line_no, sku=ln.sku, name=ln.name, sold_qty_milli=ln.qty_milli,
            returned_qty_milli=taken, returnable_qty_milli=left, returnable_minor=value,
            final_sale=rules.is_final_sale(ln.sku, ln.category, p.cfg),
            sold_under_lock=ln.sold_under_lock))
    kept = refundable_minor(conn, head.order_id)
    return rt.ReturnableOrder(
        order_id=head.order_id, receipt_number=head.receipt_number,
        business_date=head.business_date, currency=head.currency, age_days=age,
        within_window=window_ok, lines=lines, refundable_minor=kept)


_COLS = ("return_id, kind, order_id, receipt_number, lane_id, currency, fee_minor, "
         "amount_minor, refund_to, refund_id, store_credit_code, flags, exchange_order_id, "
         "business_date")


def view(conn: apsw.Connection, return_id: str) -> rt.ReturnView:
    rows = conn.execute(f"SELECT {_COLS} FROM returns WHERE return_id = ?",
                        (return_id,)).fetchall()
    if not rows:
        raise NotFound(f"no return {return_id}")
    r = rows[0]
    lines = [rt.ReturnedLineView(*x) for x in conn.execute(
        "SELECT order_id, line_no, sku, qty_milli, paid_minor, fee_minor, amount_minor, reason, "
        "disposition FROM return_lines WHERE return_id = ? ORDER BY n", (return_id,))]
    refund = refunds.view(conn, r[9]) if r[9] else None
    credit = None
    if r[10]:
        issued = conn.execute("SELECT issued_minor FROM vouchers WHERE code = ?",
                              (r[10],)).fetchall()
        credit = rt.StoreCreditView(code=r[10], amount_minor=issued[0][0] if issued else 0)
    return rt.ReturnView(
        return_id=r[0], kind=r[1], order_id=r[2], receipt_number=r[3], lane_id=r[4],
        currency=r[5], lines=lines, fee_minor=r[6], amount_minor=r[7], refund_to=r[8],
        flags=json.loads(r[11]), refund=refund, store_credit=credit, exchange_order_id=r[12],
        business_date=r[13])


def _qty_text(qty_milli: int) -> str:
    return f"{qty_milli // 1000} x" if qty_milli % 1000 == 0 else f"{qty_milli / 1000:.3f} kg"


def product_names(conn: apsw.Connection, skus: list[str]) -> dict[str, str]:
    marks = ",".join("?" * len(skus))
    return {sku: name for sku, name in conn.execute(
        f"SELECT v.sku, p.name FROM variants v JOIN products p ON p.product_id = v.product_id "
        f"WHERE v.sku IN ({marks})", skus)} if skus else {}


def receipt(ret: rt.ReturnView, policy: Policy,
            names: dict[str, str] | None = None) -> rt.ReturnReceiptView:
    cur = ret.currency
    names = names or {}
    money = []
    if ret.refund is not None:
        for a in ret.refund.allocations:
            detail = ""
            if a.reference:
                detail = (a.reference.masked_pan or a.reference.voucher
                          or a.reference.reference or "")
            money.append(rt.ReturnReceiptMoney(
                text=f"REFUND {a.tender_type.upper()}",
                detail=detail if a.state == "refunded" else f"{detail} ({a.state})".strip(),
                amount_text=format_minor(a.amount_minor, cur)))
    if ret.store_credit is not None:
        money.append(rt.ReturnReceiptMoney(text="STORE CREDIT", detail=ret.store_credit.code,
                                           amount_text=format_minor(ret.store_credit.amount_minor,
                                                                    cur)))
    return rt.ReturnReceiptView(
        store_name=policy.store_name, store_id=policy.store_id, lane_id=ret.lane_id,
        return_id=ret.return_id, original_receipt_number=ret.receipt_number,
        business_date=ret.business_date, currency=cur,
        lines=[rt.ReturnReceiptLine(
            text=names.get(ln.sku, ln.sku), qty_text=_qty_text(ln.qty_milli), reason=ln.reason,
            disposition=ln.disposition,
            fee_text=format_minor(-ln.fee_minor, cur) if ln.fee_minor else None,
            amount_text=format_minor(ln.amount_minor, cur)) for ln in ret.lines],
        fee_text=format_minor(-ret.fee_minor, cur) if ret.fee_minor else None,
        total_text=format_minor(ret.amount_minor, cur), money=money, flags=list(ret.flags))

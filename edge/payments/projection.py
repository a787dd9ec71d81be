"""The payments read model: every payment event is folded through the pure state machine
(`edge.payments.machine.step`), the same function the commands validate with, so live state and
a rebuild cannot differ. A sale settles its paid tenders into the order (change allocated), and
every terminal receipt a payment holds is indexed so no other payment can claim it."""

from __future__ import annotations

from edge.payments import machine, settlement
from edge.payments import rows as payment_rows
from edge.store.projector import Registrations
from schemas import events as ev
from schemas.envelope import Event

PROJECTIONS = Registrations()
TABLES = {
    "payments": "payment_id",
    "terminal_receipts": "terminal_id, trace_no, receipt_no",
}

PAYMENT_EVENTS = (
    ev.PaymentCreated, ev.PaymentAuthorizing, ev.PaymentAuthorized, ev.PaymentCapturing,
    ev.PaymentCaptured, ev.PaymentDeclined, ev.PaymentFailed, ev.PaymentVoiding, ev.PaymentVoided,
    ev.PaymentVoidFailed, ev.PaymentStored, ev.PaymentForwarded, ev.PaymentForwardDeclined,
    ev.PaymentRefundRequested, ev.PaymentRefunded, ev.PaymentRefundFailed,
    ev.PaymentCaptureFailed,
)


@PROJECTIONS.on(*PAYMENT_EVENTS)
def _payment(conn, stored: Event, b) -> None:
    before = None if isinstance(b, ev.PaymentCreated) else payment_rows.by_id(conn, b.payment_id)
    payment_rows.upsert(conn, machine.step(before, b), stored.seq)
    card = getattr(b, "card", None)
    if card is not None:
        conn.execute(
            "INSERT OR IGNORE INTO terminal_receipts(terminal_id, trace_no, receipt_no, "
            "payment_id, kind) VALUES (?,?,?,?,?)",
            (card.terminal_id, card.trace_no, card.receipt_no, b.payment_id,
             b.TYPE.removeprefix("payment.")),
        )


@PROJECTIONS.on(ev.SaleCompleted)
def _settle(conn, stored: Event, s: ev.SaleCompleted) -> None:
    tenders = [p for p in payment_rows.of_cart(conn, s.cart_id) if p.state in machine.PAID_STATES]
    if not tenders:
        return  # a sale paid before tenders were payments (cart.tender_added): nothing to link
    change = settlement.allocate_change(tenders, s.change_due_minor)
    for p in tenders:
        payment_rows.upsert(
            conn, machine.settle_into_order(p, s.order_id, change.get(p.payment_id, 0)),
            stored.seq)

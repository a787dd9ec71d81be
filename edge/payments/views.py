"""How a tender looks to a lane, on an order and on a receipt. Pure."""

from __future__ import annotations

from core.money import format_minor
from edge.payments.machine import Payment
from schemas import api


def _mask_voucher(code: str) -> str:
    return "*" * max(len(code) - 4, 0) + code[-4:]


def reference(p: Payment) -> api.TenderReference | None:
    if p.card is not None:
        c = p.card
        return api.TenderReference(
            masked_pan=c.masked_pan, card_brand=c.card_brand, approval_code=c.approval_code,
            terminal_id=c.terminal_id, trace_no=c.trace_no, receipt_no=c.receipt_no)
    if p.voucher_code is not None:
        return api.TenderReference(voucher=_mask_voucher(p.voucher_code))
    if p.reference is not None:
        return api.TenderReference(reference=p.reference)
    return None


def tender_view(p: Payment) -> api.TenderView:
    return api.TenderView(
        tender_id=p.tender_id, tender_type=p.tender_type, amount_minor=p.amount_minor,
        payment_id=p.payment_id, state=p.state, captured_minor=p.captured_minor,
        reference=reference(p))


def order_tender_view(tender_no: int, p: Payment) -> api.OrderTenderView:
    return api.OrderTenderView(
        tender_id=tender_no, tender_no=tender_no, tender_type=p.tender_type,
        amount_minor=p.captured_minor,
        payment_id=p.payment_id, state=p.state, change_minor=p.change_minor,
        refunded_minor=p.refunded_minor, reference=reference(p))


def receipt_line(t: api.OrderTenderView, currency: str) -> api.ReceiptLine:
    """One tender on the printed receipt: type, masked card and approval code when a card."""
    ref = t.reference
    detail = ""
    if ref is not None and ref.masked_pan is not None:
        parts = [ref.card_brand or "", ref.masked_pan,
                 f"AC {ref.approval_code}" if ref.approval_code else "",
                 f"TID {ref.terminal_id} TR {ref.trace_no} RN {ref.receipt_no}"]
        detail = " ".join(x for x in parts if x)
    elif ref is not None and ref.voucher is not None:
        detail = ref.voucher
    elif ref is not None and ref.reference is not None:
        detail = f"ref {ref.reference}"
    if t.state == "stored":
        detail = (detail + " (offline)").strip()
    card = ref is not None and ref.masked_pan is not None
    return api.ReceiptLine(text=t.tender_type.upper(), qty_text=detail,
                           amount_text=format_minor(t.amount_minor, currency),
                           amount_minor=t.amount_minor,
                           card_brand=ref.card_brand if card and ref else None,
                           masked_pan=ref.masked_pan if card and ref else None,
                           approval_code=ref.approval_code if card and ref else None)

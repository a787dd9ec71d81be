"""Refunds to the original tenders: how much, and onto which tender. Pure core + commands.

The refund order (docs/tender.md): card tenders first (each back to the same card by its
gateway reference, in the order they were taken), then vouchers (credited back), then "other",
cash last. No tender ever gets back more than it kept (captured − change − earlier refunds).
A line refund is worth the line's total pro rata to the quantity (half up); a whole refund is
everything still kept. A refund above `[tender] refund_manager_above_minor` (or the `refund` rule of
[approvals]) needs a manager: a manager token or an approval token (edge.approvals).
"""

from __future__ import annotations

from dataclasses import dataclass

import apsw

from core.errors import DomainError, InvalidInput, NotFound
from core.ids import uuid7
from core.money import div_round_half_up
from edge.carts.model import Policy
from edge.approvals.commands import require
from edge.approvals.rules import ApprovalPolicy, Facts, legacy
from edge.lanes import Principal
from edge.payments import rows as payment_rows
from edge.payments.machine import Payment
from edge.payments.views import reference
from edge.store.writer import Tx
from edge.tender.commands import CardRefunds, transition
from schemas import api
from schemas import events as ev

REFUND_ORDER: tuple[str, ...] = ("card", "voucher", "points", "other", "cash")


class RefundRefused(DomainError):
    status, slug, title = 409, "refund-refused", "This refund cannot be made"


def allocate(amount_minor: int, payments: list[Payment]) -> list[tuple[Payment, int]]:
    """Split `amount_minor` over the payments in REFUND_ORDER, each up to what it kept."""
    assert amount_minor > 0
    left = amount_minor
    out: list[tuple[Payment, int]] = []
    for kind in REFUND_ORDER:
        for p in sorted((p for p in payments if p.tender_type == kind), key=lambda p: p.tender_id):
            part = min(left, p.refundable_minor)
            if part > 0:
                out.append((p, part))
                left -= part
    if left:
        raise RefundRefused(f"the order's tenders can take back {amount_minor - left} of the "
                            f"{amount_minor} asked")
    return out


@dataclass(frozen=True, slots=True)
class SoldLine:
    line_no: int
    qty_milli: int
    total_minor: int
    refunded_qty_milli: int


def line_amounts(sold: dict[int, SoldLine], wanted: list[tuple[int, int]]) -> list[ev.RefundLine]:
    """Refund lines for (line_no, qty_milli) pairs; refuses more than is left of a line."""
    out, seen = [], set()
    for line_no, qty_milli in wanted:
        if line_no in seen:
            raise InvalidInput(f"line {line_no} appears twice", field="lines")
        seen.add(line_no)
        ln = sold.get(line_no)
        if ln is None:
            raise InvalidInput(f"the order has no line {line_no}", field="lines")
        left = ln.qty_milli - ln.refunded_qty_milli
        if qty_milli > left:
            raise RefundRefused(f"line {line_no}: {qty_milli / 1000:g} asked back, "
                                f"{left / 1000:g} left to refund")
        amount = div_round_half_up(ln.total_minor * qty_milli, ln.qty_milli)
        out.append(ev.RefundLine(line_no=line_no, qty_milli=qty_milli, amount_minor=amount))
    return out


def _sold_lines(conn: apsw.Connection, order_id: str) -> dict[int, SoldLine]:
    return {
        r[0]: SoldLine(r[0], r[1], r[2], r[3])
        for r in conn.execute(
            "SELECT l.line_no, l.qty_milli, l.total_minor, COALESCE(SUM(r.qty_milli), 0) "
            "FROM order_lines l LEFT JOIN refund_lines r "
            "ON r.order_id = l.order_id AND r.line_no = l.line_no "
            "WHERE l.order_id = ? GROUP BY l.line_no", (order_id,))
    }


def resume(tx: Tx, order_id: str, request_key: str) -> CardRefunds | None:
    """The refund a retried request (same "<lane>:<Idempotency-Key>") already recorded: its
    pending card parts are reconciled, never sent again. None if there is none."""
    if not request_key:
        return None
    found = tx.conn.execute("SELECT refund_id FROM refunds WHERE request_key = ?",
                            (request_key,)).fetchall()
    if not found:
        return None
    rid = found[0][0]
    pending = [p for p in payment_rows.of_order(tx.conn, order_id)
               if p.state == "refund_pending" and p.pending_refund_id == rid]
    return CardRefunds(rid, pending, resumed=True)


def refundable_payments(conn: apsw.Connection, order_id: str) -> list[Payment]:
    """The order's payments, if a refund may be split over them now; refuses otherwise."""
    payments = payment_rows.of_order(conn, order_id)
    busy = [p.tender_id for p in payments if p.state in ("refund_pending", "voiding")]
    if busy:
        raise RefundRefused(f"tenders {busy} have a refund in progress; retry when it is done")
    stored = [p.tender_id for p in payments if p.state == "stored"]
    if stored:
        raise RefundRefused(f"card tenders {stored} were taken offline and are not forwarded "
                            "yet; refund once they are (the card must be refunded, not cash)")
    return payments


def sold_lines(conn: apsw.Connection, order_id: str) -> dict[int, SoldLine]:
    """The order's lines with what every refund so far (returns included) took back."""
    return _sold_lines(conn, order_id)


def begin(tx: Tx, who: Principal, policy: Policy, order_id: str, req: api.RefundOrder,
          request_key: str = "", approvals: ApprovalPolicy | None = None,
          token: str | None = None) -> CardRefunds:
    """Record the refund and its split; settle cash/voucher/other at once; leave card parts
    refund_pending (committed before the terminal is asked)."""
    if not tx.conn.execute("SELECT 1 FROM orders WHERE order_id = ?", (order_id,)).fetchall():
        raise NotFound(f"no order {order_id}")
    resumed = resume(tx, order_id, request_key)
    if resumed is not None:
        return resumed
    payments = refundable_payments(tx.conn, order_id)
    kept = sum(p.refundable_minor for p in payments)
    sold = _sold_lines(tx.conn, order_id)
    if req.lines is None:
        wanted = [(n, ln.qty_milli - ln.refunded_qty_milli) for n, ln in sold.items()
                  if ln.qty_milli > ln.refunded_qty_milli]
        lines = line_amounts(sold, wanted)
        amount = kept
    else:
        wanted = []
        for rl in req.lines:
            if (rl.qty is None) == (rl.qty_milli is None):
                raise InvalidInput("give qty or qty_milli for each refund line", field="lines")
            wanted.append((rl.order_line, rl.qty_milli if rl.qty_milli is not None
                           else (rl.qty or 0) * 1000))
        lines = line_amounts(sold, wanted)
        # Rounding per line may add up to a cent more than is left: never refund beyond it.
        amount = min(sum(ln.amount_minor for ln in lines), kept)
    if amount <= 0:
        raise RefundRefused(f"nothing left to refund on order {order_id}")
    if approvals is None:
        approvals = ApprovalPolicy(legacy(policy.manager_threshold_bp,
                                          policy.refund_manager_above_minor))
    require(tx, who, approvals, Facts("refund", amount_minor=amount), f"order:{order_id}", token,
            detail=f"a refund of {amount} exceeds the cashier limit", reason=req.reason)
    return record(tx, who, order_id, payments, amount, lines, req.reason, request_key)


def record(tx: Tx, who: Principal, order_id: str, payments: list[Payment], amount_minor: int,
           lines: list[ev.RefundLine], reason: str, request_key: str, *,
           to_tenders: bool = True) -> CardRefunds:
    """Append the refund (`order.refund_created`) and pay it back onto the original tenders:
    cash, voucher and "other" parts settled at once, card parts left `refund_pending`.

    `to_tenders=False` records lines taken back with no money onto the tenders (the caller
    pays another way, e.g. store credit): they still count against what is left of each line,
    so no later refund or return can take them again."""
    split = allocate(amount_minor, payments) if to_tenders else []
    refund_id = uuid7()
    tx.append(ev.OrderRefundCreated(
        refund_id=refund_id, order_id=order_id, lane_id=who.lane_id,
        amount_minor=amount_minor if to_tenders else 0,
        lines=tuple(lines),
        allocations=tuple(ev.RefundAllocation(payment_id=p.payment_id,
                                              tender_type=p.tender_type, amount_minor=part)
                          for p, part in split),
        approved_by_role=who.role, reason=reason, request_key=request_key,
    ), stream=f"order:{order_id}", lane_id=who.lane_id)
    card_work = []
    for p, part in split:
        pending = transition(tx, p, ev.PaymentRefundRequested(
            payment_id=p.payment_id, refund_id=refund_id, amount_minor=part), who.lane_id)
        if p.tender_type == "card":
            card_work.append(pending)
            continue
        transition(tx, pending, ev.PaymentRefunded(
            payment_id=p.payment_id, refund_id=refund_id, amount_minor=part, via="local"),
            who.lane_id)
        if p.tender_type == "voucher" and p.voucher_code:
            tx.append(ev.VoucherCredited(code=p.voucher_code, payment_id=p.payment_id,
                                         amount_minor=part, reason="refund"),
                      stream=f"voucher:{p.voucher_code}", lane_id=who.lane_id)
    return CardRefunds(refund_id, card_work)


def view(conn: apsw.Connection, refund_id: str) -> api.RefundView:
    rows = conn.execute(
        "SELECT r.refund_id, r.order_id, o.currency, r.amount_minor FROM refunds r "
        "JOIN orders o ON o.order_id = r.order_id WHERE r.refund_id = ?", (refund_id,)).fetchall()
    if not rows:
        raise NotFound(f"no refund {refund_id}")
    rid, order_id, currency, amount = rows[0]
    lines = [{"line_id": n, "line_no": n, "qty_milli": q, "amount_minor": a}
             for n, q, a in conn.execute(
        "SELECT line_no, qty_milli, amount_minor FROM refund_lines WHERE refund_id = ? "
        "ORDER BY line_no", (rid,))]
    allocations, refunded = [], 0
    for pid, kind, part, state in conn.execute(
            "SELECT payment_id, tender_type, amount_minor, state FROM refund_allocations "
            "WHERE refund_id = ?", (rid,)).fetchall():
        p = payment_rows.by_id(conn, pid)
        assert p is not None
        refunded += part if state == "refunded" else 0
        allocations.append(api.RefundAllocationView(
            payment_id=pid, tender_type=kind, amount_minor=part, state=state,
            reference=reference(p)))
    order = {k: i for i, k in enumerate(REFUND_ORDER)}
    allocations.sort(key=lambda a: order[a.tender_type])
    return api.RefundView(refund_id=rid, order_id=order_id, currency=currency,
                          amount_minor=amount, refunded_minor=refunded, lines=lines,
                          allocations=allocations)


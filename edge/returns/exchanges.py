"""Exchanges: one document that returns lines of an order and sells an open cart, settling the
difference in the same writer transaction.

The new lines are an ordinary cart (price lock, discounts, tenders as in any sale). The returned
lines' value V (pro rata of what was paid, less fees) becomes an exchange credit on that cart:
a voucher issued for min(V, what non-cash tenders may still cover) and redeemed at once as a
voucher tender, so the sale completes through the normal completion (`edge.orders.commands`).
- T > V: the customer pays T - V with any tender added to the cart before (card, cash, ...);
  without it the completion refuses (409 `tender-insufficient`) and nothing is recorded.
- T < V: the rest, V - T, goes back to the original tenders (the refund path) or as store
  credit, per the request and the policy.
- T = V: the credit covers the sale exactly; no money moves.
The returned lines are recorded as a refund of the original order (one count of what is left
per line, as for any return), and `return.completed` names the new order (`exchange_order_id`).
"""

from __future__ import annotations

from core.errors import InvalidInput
from core.ids import uuid7
from edge.carts.model import Policy, fetch_for
from edge.lanes import Principal
from edge.orders import commands as orders
from edge.orders import refunds
from edge.payments import rows as payment_rows
from edge.payments import settlement
from edge.returns import commands
from edge.returns.commands import ReturnsPolicy
from edge.returns.rules import ReturnRefused
from edge.store.writer import Tx
from edge.tender import commands as tender
from edge.tender.commands import CardRefunds, HoldNotNeeded
from schemas import api
from schemas import events as ev
from schemas import returns as rt


__all__ = ["HoldNotNeeded", "covered", "exchange", "has_holds"]


def _holds(payments) -> list:
    """Card tenders held on the card (pre-authorized), or being booked."""
    return [pm for pm in payments if pm.tender_type == "card"
            and pm.state in ("authorized", "capturing")]


def has_holds(conn, cart_id: str) -> bool:
    """Whether the cart carries a pre-authorized card (the exchange books it first)."""
    return bool(_holds(payment_rows.of_cart(conn, cart_id)))


def _credit(value: int, total: int, payments) -> int:
    """The exchange credit: the return's value, at most what the non-cash tenders may still
    cover beside the cart's holds (a hold books only what the credit and the paid tenders
    leave; it gives way to the credit)."""
    held = {pm.payment_id for pm in _holds(payments)}
    return min(value, settlement.max_noncash_minor(
        total, [pm for pm in payments if pm.payment_id not in held]))


def _prepare(tx: Tx, who: Principal, p: ReturnsPolicy, policy: Policy, req: rt.ExchangeRequest,
             token: str | None, judged: bool = False) -> tuple[commands.Plan, object, int, int]:
    """Plan the exchange and judge it (approval included, unless `judged` already) before
    anything else is appended: the plan, the cart, the credit the new sale takes and what
    goes back."""
    head = commands.find_order(tx.conn, req.order_id, req.receipt_number)
    # Where the rest goes matters only when there is a rest: under a policy with one choice
    # an even exchange, or one the customer pays up, is judged by that choice.
    only = p.cfg.receipted_refund_to
    plan = commands.plan_receipted(tx.conn, p, rt.ReturnRequest(
        lines=req.lines, order_id=head.order_id,
        refund_to=req.refund_to if only == "either" else only), tx.business_date,
        to_tenders=False)
    cart = fetch_for(tx, req.cart_id, who, must_be_open=True)
    if not cart.lines:
        raise InvalidInput(f"cart {req.cart_id} has nothing to sell: an exchange sells the "
                           "new lines on it", field="cart_id")
    if cart.currency != plan.currency:
        raise InvalidInput("the cart and the returned order are in different currencies",
                           field="cart_id")
    value = plan.amount_minor
    credit = _credit(value, cart.totals(policy.tax_mode).total_minor, cart.payments)
    back = value - credit
    if back > 0 and req.refund_to != plan.refund_to:
        raise ReturnRefused(f"this store's policy refunds returns to {only} only; the "
                            f"exchange gives {back} back", field="refund_to")
    if back > 0 and plan.refund_to == "original_tenders":
        # The original order's tenders, settled, take the rest (the new sale leaves them be).
        plan.payments = refunds.refundable_payments(tx.conn, head.order_id)
        commands.check_card(p, plan, req.card, back)
        if plan.card_not_original:
            plan.flags.append("card_not_original")
    elif req.card is not None:
        raise InvalidInput("a card is named only when money goes back to the original tenders",
                           field="card")
    if not judged:
        commands.require(tx, p, who, plan, token)
    return plan, cart, credit, back


def covered(tx: Tx, who: Principal, p: ReturnsPolicy, policy: Policy, req: rt.ExchangeRequest,
            token: str | None = None) -> int:
    """What the exchange credit will pay of the cart, judged (approval included, recorded
    once, here) before a hold on it is booked: the holds book only the rest."""
    return _prepare(tx, who, p, policy, req, token)[2]


def exchange(tx: Tx, who: Principal, p: ReturnsPolicy, policy: Policy, req: rt.ExchangeRequest,
             request_key: str, token: str | None = None, *,
             judged: bool = False) -> tuple[CardRefunds, str | None]:
    """Record the exchange; card parts of money going back are left refund_pending. Returns
    the refund's terminal work and the new order's id (None for a resumed retry). `judged`:
    its approval was decided (and recorded) before a hold was booked (`covered`)."""
    head = commands.find_order(tx.conn, req.order_id, req.receipt_number)
    resumed = refunds.resume(tx, head.order_id, request_key)
    if resumed is not None:
        return resumed, None
    # The value is settled on the new sale first; only what is left may go onto the tenders.
    plan, _cart, credit, back = _prepare(tx, who, p, policy, req, token, judged)
    return_id = uuid7()
    if credit > 0:
        code = "EX" + uuid7().replace("-", "")[-14:].upper()
        tx.append(ev.VoucherIssued(code=code, currency=plan.currency, amount_minor=credit,
                                   reason=f"exchange credit, return {return_id}"),
                  stream=f"voucher:{code}", lane_id=who.lane_id)
        tender.add_local(tx, who, req.cart_id, api.AddTender(
            tender_type="voucher", amount_minor=credit, voucher_code=code), policy.tax_mode)
    order_id = orders.complete(tx, who, policy, req.cart_id)
    work = commands.record_lines(
        tx, who, plan, request_key, note=req.note or "exchange",
        to_tenders_minor=back if plan.refund_to == "original_tenders" else 0)
    store_credit = (commands.store_credit(tx, who, plan.currency, back, return_id)
                    if plan.refund_to == "store_credit" else None)
    commands.append_return(tx, who, plan, return_id, work.refund_id, store_credit, request_key,
                           exchange_order_id=order_id, credit_minor=back)
    return work, order_id

"""Returns: plan (pure over what is loaded), decide who may make it, and record it.

A receipted return is planned from the order's lines and what every refund or return already
took back (`edge.orders.refunds.sold_lines`), priced pro rata of what the customer paid for the
line after discounts (`rules.value_of`), less restocking fees. It is recorded in one writer
transaction: the lines as a refund of the order (`edge.orders.refunds.record`, the existing
refund path: original tenders, card by reference, never more than a tender kept; or no money
onto the tenders when it goes to store credit, a voucher), then `return.completed`. The writer
runs one command at a time, so two lanes returning the same line are decided in order: the
second sees the first's refund lines and is refused if it asks for more than is left.

Approval: `needs_manager` is the one place that says when a return needs a manager (and by
which rule); the writer commands refuse a cashier then (403 `manager-approval-required`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import apsw

from core.errors import InvalidInput, NotFound
from core.ids import uuid7
from core.money import div_round_half_up
from edge.approvals import commands as approvals
from edge.approvals.rules import ApprovalPolicy, Facts
from edge.errors import ManagerRequired
from edge.lanes import Principal
from edge.orders import refunds
from edge.payments import rows as payment_rows
from edge.payments.machine import Payment
from edge.returns import rules
from edge.returns.customers import CustomerHasher
from edge.returns.rules import ReturnRefused, Velocity
from edge.returns.settings import ReturnsConfig
from edge.store.writer import Tx
from edge.tender.commands import CardRefunds
from schemas import events as ev
from schemas import returns as rt

DAY_MS = 86_400_000


@dataclass(frozen=True)
class ReturnsPolicy:
    """What the returns commands need from the daemon's configuration."""

    cfg: ReturnsConfig
    store_id: str
    currency: str
    # Above this a return needs a manager (the tender refund limit unless [returns] says).
    manager_above_minor: int
    hasher: CustomerHasher
    # The store's approval rules (None: a manager token is the only approval).
    approvals: ApprovalPolicy | None = None


@dataclass(frozen=True)
class ManagerNeeded:
    """Why a return needs a manager: the rule and the amount it is judged on."""

    # "outside_window" | "receiptless" | "velocity" | "card_not_original" | "amount_over"
    rule: str
    amount_minor: int
    detail: str


@dataclass
class Plan:
    kind: rt.ReturnKind
    order_id: str | None
    receipt_number: str | None
    currency: str
    lines: list[rt.ReturnedLine]
    refund_to: rt.RefundTo
    flags: list[str] = field(default_factory=list)
    customer_hash: str | None = None
    # Facts `needs_manager` judges on.
    outside_window: bool = False
    velocity_exceeded: bool = False
    card_not_original: bool = False
    payments: list[Payment] = field(default_factory=list)

    @property
    def fee_minor(self) -> int:
        return sum(ln.fee_minor for ln in self.lines)

    @property
    def amount_minor(self) -> int:
        return sum(ln.amount_minor for ln in self.lines)


def needs_manager(p: ReturnsPolicy, plan: Plan) -> ManagerNeeded | None:
    """The one approval decision for returns (the approvals domain routes it at merge): the
    first rule that applies, or None when a cashier may make the return."""
    amount = plan.amount_minor
    if plan.outside_window:
        return ManagerNeeded("outside_window", amount,
                             f"the sale is outside the {p.cfg.window_days}-day return window")
    if plan.kind == "receiptless" and p.cfg.receiptless_needs_manager:
        return ManagerNeeded("receiptless", amount, "receiptless returns need a manager")
    if plan.velocity_exceeded:
        return ManagerNeeded(
            "velocity", amount,
            f"the customer would exceed {p.cfg.velocity_max_returns} receiptless returns or "
            f"{p.cfg.velocity_max_minor} in {p.cfg.velocity_days} days")
    if plan.card_not_original:
        return ManagerNeeded("card_not_original", amount,
                             "money back asked onto a card that did not pay the order")
    if amount > p.manager_above_minor:
        return ManagerNeeded("amount_over", amount,
                             f"a return of {amount} exceeds the cashier limit of "
                             f"{p.manager_above_minor}")
    return None


# The approvals domain's action for each of the returns policy's reasons.
APPROVAL_ACTIONS = {"outside_window": "return_outside_window", "receiptless": "receiptless_return",
                    "velocity": "receiptless_return", "card_not_original": "return",
                    "amount_over": "return"}


def require(tx: Tx, p: ReturnsPolicy, who: Principal, plan: Plan,
            token: str | None = None) -> None:
    """A return the policy says needs a manager goes through the approvals domain (a manager
    token, or an approval token for exactly this return: `edge.approvals`). Where the store's
    approval rules name no rule for the action, a manager token is still required."""
    needed = needs_manager(p, plan)
    if needed is None:
        return
    if p.approvals is not None:
        subject = (f"order:{plan.order_id}" if plan.order_id
                   else f"receiptless:{plan.customer_hash or '-'}")
        facts = Facts(APPROVAL_ACTIONS[needed.rule], amount_minor=needed.amount_minor)
        if approvals.require(tx, who, p.approvals, facts, subject, token,
                             detail=needed.detail, reason=needed.rule) is not None:
            return
    if not who.is_manager:
        raise ManagerRequired(f"{needed.detail} (rule {needed.rule}, amount "
                              f"{needed.amount_minor}); a manager token must make it")


def _flags(p: ReturnsPolicy, plan: Plan, lock_mismatch: bool) -> list[str]:
    out = []
    if plan.velocity_exceeded:
        out.append("velocity_exceeded")
    if plan.amount_minor > p.cfg.high_value_minor:
        out.append("high_value")
    if plan.kind == "receiptless" and plan.amount_minor > p.cfg.receiptless_flag_above_minor:
        out.append("receiptless_over_threshold")
    if lock_mismatch:
        out.append("price_lock_mismatch")
    if plan.outside_window:
        out.append("outside_window")
    if plan.card_not_original:
        out.append("card_not_original")
    return out


def check_card(p: ReturnsPolicy, plan: Plan, card: rt.RefundCard | None,
               amount_minor: int) -> None:
    """Money back asked onto the card the customer presents (`card`): it must be a card tender
    the refund rules put this money onto (by its terminal reference); another card is
    `card_not_original` — refused, or a manager's per `[returns] other_card` (then flagged,
    and the money still goes by the reference of the card that paid). Without `card`, each
    card tender gets its part by its reference, as for any refund."""
    if card is None:
        return
    if amount_minor <= 0 or plan.refund_to != "original_tenders":
        raise InvalidInput("a card is named only when money goes back to the original tenders",
                           field="card")
    split = refunds.allocate(amount_minor, plan.payments)
    cards = [(pm.tender_id, pm.card.masked_pan if pm.card else None,
              pm.card.approval_code if pm.card else None, pm.card is not None)
             for pm, _ in split if pm.tender_type == "card"]
    plan.card_not_original = not rules.card_refund(card.masked_pan, card.approval_code, cards,
                                                   p.cfg.other_card)


def _qty(qty: int | None, qty_milli: int | None) -> int:
    if (qty is None) == (qty_milli is None):
        raise InvalidInput("give qty or qty_milli for each line", field="lines")
    return qty_milli if qty_milli is not None else (qty or 0) * 1000


# --- finding the order -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderHead:
    order_id: str
    receipt_number: str
    business_date: str
    currency: str


def find_order(conn: apsw.Connection, order_id: str | None = None,
               receipt_number: str | None = None) -> OrderHead:
    if (order_id is None) == (receipt_number is None):
        raise InvalidInput("give the order_id or the receipt_number", field="order_id")
    col, arg = ("order_id", order_id) if order_id is not None else ("receipt_number",
                                                                    receipt_number)
    rows = conn.execute(f"SELECT order_id, receipt_number, business_date, currency FROM orders "
                        f"WHERE {col} = ?", (arg,)).fetchall()
    if not rows:
        raise NotFound(f"no order with {col} {arg}")
    return OrderHead(*rows[0])


# By the partial index payments_card_pan (migration 2), not a scan of every payment; the
# expiry, when given, filters the few rows the index finds.
BY_CARD = ("SELECT DISTINCT order_id FROM payments WHERE tender_type = 'card' "
           "AND card_masked_pan = ?1 AND card_approval_code = ?2 AND order_id IS NOT NULL "
           "AND (?3 IS NULL OR card_expiry = ?3) ORDER BY order_id")


def orders_by_card(conn: apsw.Connection, masked_pan: str, approval_code: str,
                   expiry: str | None = None) -> list[str]:
    """Orders paid by the card the terminal printed as `masked_pan` with `approval_code`; with
    `expiry` ("YYMM"), only those whose terminal reported that expiry (a payment recorded
    without one, before the terminal reported it, is found without `expiry` only)."""
    return [r[0] for r in conn.execute(BY_CARD, (masked_pan, approval_code, expiry))]


def expiry_yymm(text: str) -> str:
    """The lookup's `expiry` as the payments keep it: "MM/YY" (as the card prints it) or
    "YYMM" (as the terminal reports it) -> "YYMM". The route's pattern checked the form."""
    if "/" in text:
        month, year = text.split("/")
        return year + month
    return text


@dataclass(frozen=True, slots=True)
class Line:
    line_no: int
    sku: str
    name: str
    qty_milli: int
    total_minor: int
    taken_milli: int
    sold_under_lock: bool
    category: str | None


def order_lines(conn: apsw.Connection, order_id: str) -> dict[int, Line]:
    """The order's lines with what every refund or return already took back."""
    out = {}
    for r in conn.execute(
            "SELECT l.line_no, l.sku, l.name, l.qty_milli, l.total_minor, l.sold_under_lock, "
            "(SELECT COALESCE(SUM(qty_milli), 0) FROM refund_lines f "
            " WHERE f.order_id = l.order_id AND f.line_no = l.line_no), "
            "(SELECT attributes FROM variants v WHERE v.sku = l.sku) "
            "FROM order_lines l WHERE l.order_id = ? ORDER BY l.line_no", (order_id,)):
        attrs = json.loads(r[7]) if r[7] else {}
        out[r[0]] = Line(r[0], r[1], r[2], r[3], r[4], r[6], bool(r[5]), attrs.get("category"))
    return out


# --- planning ----------------------------------------------------------------------------


def plan_receipted(conn: apsw.Connection, p: ReturnsPolicy, req: rt.ReturnRequest,
                   today: str, *, to_tenders: bool | None = None) -> Plan:
    """The return a receipted request asks for, priced and flagged; refuses what the policy
    forbids outright (over-return, final sale, unknown reason or line). `to_tenders` (default:
    refund_to is original_tenders) says whether money goes onto the order's tenders, which
    must then be settled, and is capped at what they kept."""
    if to_tenders is None:
        to_tenders = req.refund_to == "original_tenders"
    head = find_order(conn, req.order_id, req.receipt_number)
    if p.cfg.receipted_refund_to != "either" and req.refund_to != p.cfg.receipted_refund_to:
        raise ReturnRefused(f"this store's policy refunds returns to "
                            f"{p.cfg.receipted_refund_to} only", field="refund_to")
    lines = order_lines(conn, head.order_id)
    age = rules.age_days(head.business_date, today)
    out: list[rt.ReturnedLine] = []
    seen: set[int] = set()
    outside = lock_mismatch = False
    for rl in req.lines:
        if rl.line_no in seen:
            raise InvalidInput(f"line {rl.line_no} appears twice", field="lines")
        seen.add(rl.line_no)
        ln = lines.get(rl.line_no)
        if ln is None:
            raise InvalidInput(f"the order has no line {rl.line_no}", field="lines")
        rules.check_reason(rl.reason, p.cfg)
        if rules.is_final_sale(ln.sku, ln.category, p.cfg):
            raise rules.FinalSale(f"line {rl.line_no} ({ln.sku}) was sold as final sale",
                                  lines=[rl.line_no])
        qty = _qty(rl.qty, rl.qty_milli)
        rules.take(rl.line_no, ln.qty_milli, ln.taken_milli, qty)
        paid = rules.value_of(ln.total_minor, ln.qty_milli, ln.taken_milli, qty)
        fee = rules.restocking_fee(paid, rules.rule_for(p.cfg.restocking_fees, ln.sku,
                                                        ln.category), rl.reason, p.cfg)
        outside |= age > rules.window_days(ln.sku, ln.category, p.cfg)
        lock_mismatch |= ln.sold_under_lock
        out.append(rt.ReturnedLine(
            order_id=head.order_id, line_no=rl.line_no, sku=ln.sku, qty_milli=qty,
            paid_minor=paid, fee_minor=fee, amount_minor=paid - fee, reason=rl.reason,
            disposition=rl.disposition))
    # Money onto the tenders needs them settled (no refund in progress, no card still stored
    # offline); store credit touches none of them.
    payments = (refunds.refundable_payments(conn, head.order_id) if to_tenders
                else payment_rows.of_order(conn, head.order_id))
    plan = Plan(kind="receipted", order_id=head.order_id, receipt_number=head.receipt_number,
                currency=head.currency, lines=out, refund_to=req.refund_to,
                customer_hash=p.hasher.hash(req.customer) if req.customer else None,
                outside_window=outside, payments=payments)
    if to_tenders:
        _cap_to_kept(plan)
        check_card(p, plan, req.card, plan.amount_minor)
    elif req.card is not None and req.refund_to != "original_tenders":
        raise InvalidInput("a card is named only when money goes back to the original tenders",
                           field="card")
    plan.flags = _flags(p, plan, lock_mismatch)
    return plan


def _cap_to_kept(plan: Plan) -> None:
    """Never more back onto the tenders than they kept (cash rounding, earlier refunds whose
    per-line rounding went the other way): the last lines give up the difference."""
    kept = sum(pm.refundable_minor for pm in plan.payments)
    over = plan.amount_minor - kept
    if over <= 0:
        return
    for i in range(len(plan.lines) - 1, -1, -1):
        ln = plan.lines[i]
        cut = min(over, ln.amount_minor)
        plan.lines[i] = rt.ReturnedLine(**{**_fields(ln), "amount_minor": ln.amount_minor - cut})
        over -= cut
        if not over:
            break


def _fields(s) -> dict:
    return {f: getattr(s, f) for f in s.__struct_fields__}


def velocity(conn: apsw.Connection, customer_hash: str, days: int, now_ms: int) -> Velocity:
    rows = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(amount_minor), 0) FROM returns WHERE customer_hash = ? "
        "AND kind = 'receiptless' AND created_at_ms > ?",
        (customer_hash, now_ms - days * DAY_MS)).fetchall()
    return Velocity(rows[0][0], rows[0][1])


def price_history(conn: apsw.Connection, sku: str) -> list[tuple[int, int]]:
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT effective_at_ms, amount_minor FROM prices WHERE sku = ?", (sku,))]


def plan_receiptless(conn: apsw.Connection, p: ReturnsPolicy, req: rt.ReceiptlessReturnRequest,
                     now_ms: int) -> Plan:
    if not p.cfg.receiptless_allowed:
        raise ReturnRefused("this store takes no returns without a receipt")
    out = []
    seen: set[str] = set()
    since = now_ms - p.cfg.receiptless_lookback_days * DAY_MS
    for item in req.items:
        if item.sku in seen:
            raise InvalidInput(f"sku {item.sku} appears twice", field="items")
        seen.add(item.sku)
        rules.check_reason(item.reason, p.cfg)
        found = conn.execute("SELECT attributes FROM variants WHERE sku = ?",
                             (item.sku,)).fetchall()
        if not found:
            raise InvalidInput(f"no product with sku {item.sku}", field="items")
        category = (json.loads(found[0][0]) if found[0][0] else {}).get("category")
        if rules.is_final_sale(item.sku, category, p.cfg):
            raise rules.FinalSale(f"{item.sku} is final sale")
        unit = rules.lowest_price(price_history(conn, item.sku), since, now_ms)
        if unit is None:
            raise ReturnRefused(f"{item.sku} had no price in the last "
                                f"{p.cfg.receiptless_lookback_days} days")
        qty = _qty(item.qty, item.qty_milli)
        paid = div_round_half_up(unit * qty, 1000)  # unit prices are per 1000 milli-units
        fee = rules.restocking_fee(paid, rules.rule_for(p.cfg.restocking_fees, item.sku,
                                                        category), item.reason, p.cfg)
        out.append(rt.ReturnedLine(order_id=None, line_no=None, sku=item.sku, qty_milli=qty,
                                   paid_minor=paid, fee_minor=fee, amount_minor=paid - fee,
                                   reason=item.reason, disposition=item.disposition))
    customer = p.hasher.hash(req.customer)
    plan = Plan(kind="receiptless", order_id=None, receipt_number=None, currency=p.currency,
                lines=out, refund_to="store_credit", customer_hash=customer)
    plan.velocity_exceeded = rules.velocity_exceeded(
        velocity(conn, customer, p.cfg.velocity_days, now_ms), plan.amount_minor, p.cfg)
    plan.flags = _flags(p, plan, False)
    return plan


def quote(plan: Plan, p: ReturnsPolicy) -> rt.ReturnQuote:
    needed = needs_manager(p, plan)
    return rt.ReturnQuote(
        kind=plan.kind, order_id=plan.order_id, currency=plan.currency,
        lines=[rt.ReturnedLineView(**_fields(ln)) for ln in plan.lines],
        fee_minor=plan.fee_minor, amount_minor=plan.amount_minor, refund_to=plan.refund_to,
        flags=list(plan.flags), manager_rule=needed.rule if needed else None)


# --- recording ---------------------------------------------------------------------------


def store_credit(tx: Tx, who: Principal, currency: str, amount_minor: int,
                  return_id: str) -> str | None:
    if amount_minor <= 0:
        return None
    code = "RC" + uuid7().replace("-", "")[-14:].upper()
    tx.append(ev.VoucherIssued(code=code, currency=currency, amount_minor=amount_minor,
                               reason=f"return {return_id}"),
              stream=f"voucher:{code}", lane_id=who.lane_id)
    return code


def append_return(tx: Tx, who: Principal, plan: Plan, return_id: str, refund_id: str | None,
                  credit: str | None, request_key: str, exchange_order_id: str | None = None,
                  credit_minor: int | None = None) -> None:
    tx.append(rt.ReturnCompleted(
        return_id=return_id, kind=plan.kind, order_id=plan.order_id,
        receipt_number=plan.receipt_number, lane_id=who.lane_id, currency=plan.currency,
        lines=tuple(plan.lines), fee_minor=plan.fee_minor, amount_minor=plan.amount_minor,
        refund_to=plan.refund_to, refund_id=refund_id, store_credit_code=credit,
        store_credit_minor=(0 if credit is None else
                            plan.amount_minor if credit_minor is None else credit_minor),
        customer_hash=plan.customer_hash, flags=tuple(plan.flags),
        approved_by_role=who.role, exchange_order_id=exchange_order_id,
        request_key=request_key,
    ), stream=f"return:{return_id}", lane_id=who.lane_id)


def record_lines(tx: Tx, who: Principal, plan: Plan, request_key: str, *,
                 to_tenders_minor: int | None = None, note: str = "") -> CardRefunds:
    """The return's lines as a refund of the order (one count of what is left per line), with
    `to_tenders_minor` (default: the whole return when refunding to the original tenders)
    paid back onto the tenders."""
    assert plan.order_id is not None
    amount = (plan.amount_minor if plan.refund_to == "original_tenders" else 0) \
        if to_tenders_minor is None else to_tenders_minor
    lines = [ev.RefundLine(line_no=ln.line_no or 0, qty_milli=ln.qty_milli,
                           amount_minor=ln.amount_minor) for ln in plan.lines]
    return refunds.record(tx, who, plan.order_id, plan.payments, amount, lines,
                          note or "return", request_key, to_tenders=amount > 0)


def begin_receipted(tx: Tx, who: Principal, p: ReturnsPolicy, req: rt.ReturnRequest,
                    request_key: str, token: str | None = None) -> CardRefunds:
    """Record a receipted return; card parts are left refund_pending for the terminal (the
    tender service sends them after this commits)."""
    head = find_order(tx.conn, req.order_id, req.receipt_number)
    resumed = refunds.resume(tx, head.order_id, request_key)
    if resumed is not None:
        return resumed
    plan = plan_receipted(tx.conn, p, req, tx.business_date)
    require(tx, p, who, plan, token)
    return_id = uuid7()
    work = record_lines(tx, who, plan, request_key, note=req.note)
    credit = (store_credit(tx, who, plan.currency, plan.amount_minor, return_id)
              if plan.refund_to == "store_credit" else None)
    append_return(tx, who, plan, return_id, work.refund_id, credit, request_key)
    return work


def receiptless(tx: Tx, who: Principal, p: ReturnsPolicy, req: rt.ReceiptlessReturnRequest,
                request_key: str, token: str | None = None) -> str:
    """Record a receiptless return as store credit; returns its id."""
    plan = plan_receiptless(tx.conn, p, req, tx.now_ms)
    require(tx, p, who, plan, token)
    if plan.amount_minor <= 0:
        raise ReturnRefused("the items are worth nothing after fees")
    return_id = uuid7()
    credit = store_credit(tx, who, plan.currency, plan.amount_minor, return_id)
    append_return(tx, who, plan, return_id, None, credit, request_key)
    return return_id


def return_of_refund(conn: apsw.Connection, refund_id: str) -> str:
    rows = conn.execute("SELECT return_id FROM returns WHERE refund_id = ?",
                        (refund_id,)).fetchall()
    if not rows:
        raise NotFound(f"no return for refund {refund_id}")
    return rows[0][0]

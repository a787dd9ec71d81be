"""Tender commands: the writes of the tender step, run inside the one writer (`Tx`).

Each command checks the rules, asks the pure state machine whether each transition is legal
(`machine.step`), then appends the events; projections do the rest. Nothing here talks to a
terminal: card work is split into an intent command (committed before the terminal sees a byte),
the terminal call (in `edge.tender.service`, outside the writer), and a result command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core import bodycodec
from core.errors import DomainError, InvalidInput, NotFound
from core.ids import uuid7
from edge.approvals.commands import require
from edge.approvals.rules import ApprovalPolicy, Facts
from edge.carts.model import MAX_TENDERS_PER_CART, Cart, Policy, fetch, fetch_for
from edge.lanes import Principal
from edge.loyalty import commands as loyalty
from edge.payments import machine, settlement
from edge.payments import rows as payment_rows
from edge.payments.machine import DEAD_STATES, PAID_STATES, Payment
from edge.store.writer import Tx
from edge.tender import offline
from schemas import api
from schemas import events as ev
from schemas.terminal import CardReference, TerminalResult

# Burns a points tender's points (payment id, amount): `edge.loyalty`, bound by the service.
Burn = Callable[[Tx, str, int], None]


class VoucherInsufficient(DomainError):
    status, slug, title = 409, "voucher-insufficient", "The voucher balance is too low"


class UnknownVoucher(DomainError):
    status, slug, title = 422, "unknown-voucher", "No voucher with this code"


class CardTenderActive(DomainError):
    status, slug, title = 409, "card-tender-active", "A card tender must be removed first"


def _stream(payment_id: str) -> str:
    return f"payment:{payment_id}"


def transition(tx: Tx, before: Payment | None, body: ev.EventBody, lane_id: str | None) -> Payment:
    """Check the transition against the machine, then append it. Refused = nothing appended."""
    after = machine.step(before, body)
    tx.append(body, stream=_stream(after.payment_id), lane_id=lane_id)
    return after


def card_ref(ref: CardReference) -> ev.CardRef:
    return ev.CardRef(
        terminal_id=ref.terminal_id, trace_no=ref.trace_no, receipt_no=ref.receipt_no,
        approval_code=ref.approval_code, masked_pan=ref.masked_pan, card_brand=ref.card_brand,
        card_token=ref.card_token, expiry=ref.expiry)


# --- taking a tender ---------------------------------------------------------------------


def _check_new_tender(tx: Tx, cart: Cart, req: api.AddTender, policy_tax_mode: str | None) -> None:
    if cart.next_tender_id > MAX_TENDERS_PER_CART:
        raise InvalidInput(f"a cart takes at most {MAX_TENDERS_PER_CART} tenders")
    if req.tender_type == "other" and not req.reference:
        raise InvalidInput("an \"other\" tender needs a reference (cheque number, voucher "
                           "slip, ...)", field="reference")
    if req.tender_type != "other" and req.reference is not None:
        raise InvalidInput("only an \"other\" tender takes a reference", field="reference")
    if req.tender_type != "card" and req.capture != "now":
        raise InvalidInput("only a card tender can be pre-authorized (capture \"deferred\")",
                           field="capture")
    if req.tender_type == "voucher" and not req.voucher_code:
        raise InvalidInput("a voucher tender needs the voucher_code", field="voucher_code")
    if req.tender_type != "voucher" and req.voucher_code is not None:
        raise InvalidInput("only a voucher tender takes a voucher_code", field="voucher_code")
    if req.tender_type != "cash":
        total = cart.totals(policy_tax_mode or "inclusive").total_minor
        room = settlement.max_noncash_minor(total, cart.payments)
        if req.amount_minor > room:
            raise settlement.OverTendered(
                f"a {req.tender_type} tender may be at most {room} here (the total less the "
                "other non-cash tenders); only cash may exceed the amount due",
                amount_due_minor=room)


def _created(tx: Tx, who: Principal, cart: Cart, req: api.AddTender, request_key: str) -> Payment:
    payment_id = uuid7()
    return transition(tx, None, ev.PaymentCreated(
        payment_id=payment_id, cart_id=cart.cart_id, tender_id=cart.next_tender_id,
        lane_id=who.lane_id, tender_type=req.tender_type, currency=cart.currency,
        amount_minor=req.amount_minor, request_key=request_key or f"{who.lane_id}:{payment_id}",
        voucher_code=req.voucher_code, reference=req.reference, created_at_ms=tx.now_ms,
    ), who.lane_id)


def add_local(tx: Tx, who: Principal, cart_id: str, req: api.AddTender, tax_mode: str | None = None,
              request_key: str = "", burn: Burn | None = None) -> Payment:
    """Cash, voucher, other or points: created and captured in one command (nothing
    external). Points are burned by `burn` (the loyalty domain's), in the same command."""
    if req.tender_type == "card":
        raise InvalidInput("card tenders are charged on the terminal (POST the tender through "
                           "the API)", field="tender_type")
    cart = fetch_for(tx, cart_id, who, must_be_open=True)
    _check_new_tender(tx, cart, req, tax_mode)
    if req.tender_type == "voucher":
        _check_voucher(tx, req.voucher_code or "", cart.currency, req.amount_minor)
    if req.tender_type == "points" and burn is None:
        raise InvalidInput("points tenders are not taken at this store", field="tender_type")
    p = _created(tx, who, cart, req, request_key)
    if req.tender_type == "points":
        assert burn is not None
        burn(tx, p.payment_id, req.amount_minor)
    if req.tender_type == "voucher":
        tx.append(ev.VoucherRedeemed(code=req.voucher_code or "", payment_id=p.payment_id,
                                     amount_minor=req.amount_minor),
                  stream=f"voucher:{req.voucher_code}", lane_id=who.lane_id)
    return transition(tx, p, ev.PaymentCaptured(
        payment_id=p.payment_id, amount_minor=req.amount_minor, via="local"), who.lane_id)


def add_tender(tx: Tx, who: Principal, cart_id: str, req: api.AddTender,
               policy: Policy | None = None, request_key: str = "",
               burn: Burn | None = None) -> Cart:
    """A cash, voucher or "other" tender, taken at the till in one step (a payment created
    and captured); the cart as it is after. Card tenders need the terminal (`service`)."""
    assert policy is not None or req.tender_type == "cash", "non-cash tenders check the total"
    add_local(tx, who, cart_id, req, policy.tax_mode if policy else None, request_key, burn)
    return _reload(tx, cart_id)


def approve_void(tx: Tx, who: Principal, cart: Cart, approvals: ApprovalPolicy,
                 tax_mode: str, token: str | None, reason: str = "") -> None:
    """A void of a cart over the `cart_void` rule's lines or amount needs a manager
    (edge.approvals); call it before the void's first event."""
    total = cart.totals(tax_mode).total_minor
    require(tx, who, approvals, Facts("cart_void", amount_minor=total, lines=len(cart.lines)),
            f"cart:{cart.cart_id}", token, reason=reason,
            detail=f"a void of {len(cart.lines)} lines worth {total}")


def void_cart(tx: Tx, who: Principal, cart_id: str, req: api.VoidCart,
              approvals: ApprovalPolicy | None = None, tax_mode: str = "inclusive",
              token: str | None = None) -> Cart:
    """Void an open cart: its cash/voucher/other tenders are voided (a voucher is credited
    back); a held or charged card refuses it until removed. With `approvals`, the void is
    judged by its rules first."""
    cart = fetch_for(tx, cart_id, who, must_be_open=True)
    if approvals is not None:
        approve_void(tx, who, cart, approvals, tax_mode, token, req.reason)
    void_local_tenders(tx, who, cart)
    tx.append(ev.CartVoided(cart_id=cart_id, reason=req.reason),
              stream=f"cart:{cart_id}", lane_id=who.lane_id)
    return _reload(tx, cart_id)


def _reload(tx: Tx, cart_id: str) -> Cart:
    cart = fetch(tx, cart_id)
    assert cart is not None
    return cart


def begin_card(tx: Tx, who: Principal, cart_id: str, req: api.AddTender, request_key: str,
               terminal_id: str, tax_mode: str, offline_check: tuple[offline.OfflinePolicy, bool]
               ) -> tuple[Payment, bool]:
    """The intent to charge: payment created + authorizing, committed before any terminal I/O.
    Returns (payment, fresh). A retry of a request whose intent is already recorded (the daemon
    died mid-payment and the lane retries with the same Idempotency-Key) gets that payment back
    with fresh=False: it is reconciled, never charged again."""
    existing = payment_rows.by_request(tx.conn, request_key)
    if existing is not None:
        return existing, False
    cart = fetch_for(tx, cart_id, who, must_be_open=True)
    _check_new_tender(tx, cart, req, tax_mode)
    policy, link_down = offline_check
    if link_down:
        offline.admit(policy, stored_summary(tx), req.amount_minor, tx.now_ms)
    p = _created(tx, who, cart, req, request_key)
    return transition(tx, p, ev.PaymentAuthorizing(
        payment_id=p.payment_id, terminal_id=terminal_id,
        preauthorize=req.capture == "deferred"), who.lane_id), True


def is_preauth(conn, payment_id: str) -> bool:
    """Was this card payment asked as a pre-authorization? (Read from its authorizing event:
    the read model keeps no column for it.)"""
    rows = conn.execute(
        # The literal type: `events_authorizing` is a partial index of exactly these rows.
        "SELECT schema_version, body FROM events WHERE stream = ? "
        "AND type = 'payment.authorizing' LIMIT 1", (_stream(payment_id),)).fetchall()
    if not rows:
        return False
    body = ev.decode_body(ev.PaymentAuthorizing.TYPE, rows[0][0], bodycodec.decode(rows[0][1]))
    return bool(getattr(body, "preauthorize", False))


def finish_card(tx: Tx, payment_id: str, result: TerminalResult) -> Payment:
    """Record the terminal's final answer. An unknown outcome (timeout, failed link) records
    nothing: the payment stays authorizing until reconciliation asks the terminal."""
    p = _payment(tx, payment_id)
    if p.state != "authorizing":
        return p  # already resolved (by reconciliation, or a concurrent retry)
    lane = p.lane_id
    match result.outcome:
        case "approved" if result.reference is not None and result.operation == "preauth":
            return transition(tx, p, ev.PaymentAuthorized(
                payment_id=p.payment_id, amount_minor=result.amount_minor or p.amount_minor,
                card=card_ref(result.reference)), lane)
        case "approved" if result.reference is not None:
            return transition(tx, p, ev.PaymentCaptured(
                payment_id=p.payment_id, amount_minor=result.amount_minor or p.amount_minor,
                via="terminal", card=card_ref(result.reference)), lane)
        case "stored_offline" if result.reference is not None:
            return transition(tx, p, ev.PaymentStored(
                payment_id=p.payment_id, amount_minor=result.amount_minor or p.amount_minor,
                card=card_ref(result.reference), stored_at_ms=tx.now_ms), lane)
        case "declined":
            return transition(tx, p, ev.PaymentDeclined(
                payment_id=p.payment_id, via="terminal", result_code=result.result_code,
                detail=result.detail or ""), lane)
        case "aborted":
            return transition(tx, p, ev.PaymentFailed(
                payment_id=p.payment_id, via="terminal", detail=result.detail or "aborted"), lane)
    return p


# --- capturing a pre-authorization -------------------------------------------------------


class HoldNotNeeded(DomainError):
    status, slug, title = 409, "hold-not-needed", "A card hold is not needed for this sale"


def begin_captures(tx: Tx, cart: Cart, tax_mode: str, cash_increment_minor: int = 1,
                   covered_minor: int = 0) -> list[Payment]:
    """Intent to book the total of each held (authorized) card tender, committed before the
    book-total goes to the terminal. Each hold books what the sale still needs after the
    paid tenders, in tender order, never more than it holds; cash counts rounded down to the
    cash increment, so the cash left to pay is a whole increment and rounding can never leave
    the sale short after the money is booked. Everything that would refuse the completion
    anyway (another tender pending, holds and tenders short of the total) refuses here, before
    anything is booked. `covered_minor` is what a tender the completion itself adds will pay
    (an exchange's credit): the holds book only what it leaves."""
    holds = [p for p in cart.payments if p.tender_type == "card" and p.state == "authorized"]
    if not holds:
        return []
    pending = [p.tender_id for p in cart.payments
               if p.state in machine.PENDING_STATES and p not in holds]
    if pending:
        raise settlement.TenderPending(
            f"tenders {pending} are still in progress; wait for them or remove them")
    total = cart.totals(tax_mode).total_minor
    paid = [p for p in cart.payments if p.state in PAID_STATES]
    cash = sum(p.captured_minor for p in paid if p.tender_type == "cash")
    cash -= cash % max(cash_increment_minor, 1)
    need = (total - cash - covered_minor
            - sum(p.captured_minor for p in paid if p.tender_type != "cash"))
    plan: list[tuple[Payment, int]] = []
    for p in sorted(holds, key=lambda p: p.tender_id):
        amount = min(p.amount_minor, need)
        if amount <= 0:
            raise HoldNotNeeded(
                f"the other tenders already cover the sale: remove card tender {p.tender_id} "
                "(that releases its hold), then complete", payment_id=p.payment_id,
                state=p.state)
        need -= amount
        plan.append((p, amount))
    if need > 0:
        raise settlement.TenderInsufficient(
            f"the card holds and tenders leave {need} of {total} unpaid; add a tender",
            amount_due_minor=need)
    return [transition(tx, p, ev.PaymentCapturing(payment_id=p.payment_id, amount_minor=amount),
                       p.lane_id) for p, amount in plan]


def finish_capture(tx: Tx, payment_id: str, result: TerminalResult) -> Payment:
    """Record the book total's answer. Refused → back to authorized (the hold stays); an
    unknown outcome records nothing: reconciliation asks the terminal."""
    p = _payment(tx, payment_id)
    if p.state != "capturing":
        return p
    if result.outcome == "approved" and result.reference is not None:
        return transition(tx, p, ev.PaymentCaptured(
            payment_id=p.payment_id, amount_minor=p.captured_minor, via="terminal",
            card=card_ref(result.reference)), p.lane_id)
    if result.outcome in ("declined", "aborted"):
        return transition(tx, p, ev.PaymentCaptureFailed(
            payment_id=p.payment_id, via="terminal", result_code=result.result_code,
            detail=result.detail or f"the terminal refused the book total ({result.outcome})"),
            p.lane_id)
    return p


# --- reconciliation ------------------------------------------------------------------------


# Operations whose ECR reference is the payment id (a book total echoes its hold's).
_ECHOES_PAYMENT_ID = frozenset({"sale", "preauth", "book_total"})


def _declined(p: Payment, last: TerminalResult | None, operation: str) -> bool:
    """The terminal's last transaction is this payment's decline."""
    return (last is not None and last.outcome == "declined"
            and last.amount_minor == p.amount_minor
            and last.ecr_ref in (None, p.payment_id)
            and last.operation in (None, operation))


def _matches(tx: Tx, p: Payment, last: TerminalResult | None, amount_minor: int,
             outcomes: tuple[str, ...], operation: str) -> bool:
    """The reconciliation rule (docs/tender.md): the terminal's last transaction is this
    payment's when its outcome fits, it is the kind of transaction we asked for, it carries our
    ECR reference (the payment id) when the terminal echoes one, its amount equals the amount
    asked, and its receipt is not already the reference of another payment — so one charge can
    never be attached twice."""
    if last is None or last.outcome not in outcomes or last.reference is None:
        return False
    if last.operation is not None and last.operation != operation:
        return False
    if operation in _ECHOES_PAYMENT_ID and last.ecr_ref not in (None, p.payment_id):
        return False
    ref = card_ref(last.reference)
    return (last.amount_minor == amount_minor
            and not payment_rows.reference_taken(tx.conn, ref, p.payment_id)
            and (p.card is None or ref != p.card))


def unanswered(last: TerminalResult | None) -> bool:
    """The terminal did not answer the question (busy, link down): ask again later. This is
    not "no transaction" and must never resolve a payment."""
    return last is not None and last.outcome in ("timeout", "failed")


def reconcile(tx: Tx, payment_id: str, last: TerminalResult | None) -> Payment:
    """Resolve a payment left pending (crash or unknown outcome) from what the terminal says
    it did last. Never leaves it pending, never attaches one charge twice."""
    p = _payment(tx, payment_id)
    lane = p.lane_id
    if unanswered(last):
        return p
    if p.state == "authorizing" and is_preauth(tx.conn, p.payment_id):
        if _matches(tx, p, last, p.amount_minor, ("approved",), "preauth"):
            assert last is not None and last.reference is not None
            return transition(tx, p, ev.PaymentAuthorized(
                payment_id=p.payment_id, amount_minor=last.amount_minor,
                card=card_ref(last.reference), via="reconciliation"), lane)
        if _declined(p, last, "preauth"):
            return transition(tx, p, ev.PaymentDeclined(
                payment_id=p.payment_id, via="reconciliation", result_code=last.result_code,
                detail=last.detail or "declined (found on reconciliation)"), lane)
        return transition(tx, p, ev.PaymentVoided(
            payment_id=p.payment_id, via="reconciliation",
            reason="the terminal has no hold for this payment: nothing was taken"), lane)
    if p.state == "capturing":
        # The book total is ours when the terminal's last transaction is an approved book
        # total of exactly the amount we asked, echoing this payment, on a receipt no other
        # payment holds. Otherwise it never happened: back to authorized (the hold stays);
        # the lock on the terminal means nothing else ran in between, so no booking is lost.
        if _matches(tx, p, last, p.captured_minor, ("approved",), "book_total"):
            assert last is not None and last.reference is not None
            return transition(tx, p, ev.PaymentCaptured(
                payment_id=p.payment_id, amount_minor=p.captured_minor, via="reconciliation",
                card=card_ref(last.reference)), lane)
        return transition(tx, p, ev.PaymentCaptureFailed(
            payment_id=p.payment_id, via="reconciliation",
            detail="the terminal has no book total for this payment: the hold stays"), lane)
    if p.state == "authorizing":
        if _matches(tx, p, last, p.amount_minor, ("approved",), "sale"):
            assert last is not None and last.reference is not None
            return transition(tx, p, ev.PaymentCaptured(
                payment_id=p.payment_id, amount_minor=last.amount_minor, via="reconciliation",
                card=card_ref(last.reference)), lane)
        if _matches(tx, p, last, p.amount_minor, ("stored_offline",), "sale"):
            assert last is not None and last.reference is not None
            return transition(tx, p, ev.PaymentStored(
                payment_id=p.payment_id, amount_minor=last.amount_minor,
                card=card_ref(last.reference), stored_at_ms=tx.now_ms,
                via="reconciliation"), lane)
        if _declined(p, last, "sale"):
            return transition(tx, p, ev.PaymentDeclined(
                payment_id=p.payment_id, via="reconciliation", result_code=last.result_code,
                detail=last.detail or "declined (found on reconciliation)"), lane)
        return transition(tx, p, ev.PaymentVoided(
            payment_id=p.payment_id, via="reconciliation",
            reason="the terminal has no charge for this payment: nothing was taken"), lane)
    if p.state == "voiding":
        # A held (pre-authorized) card reverses the whole hold; a captured one what it took.
        held = p.amount_minor if p.prior_state == "authorized" else p.captured_minor
        if _matches(tx, p, last, held, ("approved",), "reversal"):
            assert last is not None and last.reference is not None
            return transition(tx, p, ev.PaymentVoided(
                payment_id=p.payment_id, via="reconciliation", reason="reversal found",
                card=card_ref(last.reference)), lane)
        return transition(tx, p, ev.PaymentVoidFailed(
            payment_id=p.payment_id, via="reconciliation",
            detail="the terminal has no reversal for this payment"), lane)
    if p.state == "refund_pending":
        assert p.pending_refund_id is not None
        if p.tender_type == "card" and _matches(tx, p, last, p.pending_refund_minor,
                                                 ("approved",), "refund"):
            assert last is not None and last.reference is not None
            return transition(tx, p, ev.PaymentRefunded(
                payment_id=p.payment_id, refund_id=p.pending_refund_id,
                amount_minor=p.pending_refund_minor, via="reconciliation",
                card=card_ref(last.reference)), lane)
        return transition(tx, p, ev.PaymentRefundFailed(
            payment_id=p.payment_id, refund_id=p.pending_refund_id, via="reconciliation",
            detail="the terminal has no refund for this payment"), lane)
    return p


# --- removing tenders ----------------------------------------------------------------------


def _void_local(tx: Tx, who: Principal, p: Payment, reason: str) -> Payment:
    after = transition(tx, p, ev.PaymentVoided(payment_id=p.payment_id, via="local",
                                               reason=reason), who.lane_id)
    if p.tender_type == "voucher" and p.voucher_code and p.state in PAID_STATES:
        tx.append(ev.VoucherCredited(code=p.voucher_code, payment_id=p.payment_id,
                                     amount_minor=p.captured_minor, reason="void"),
                  stream=f"voucher:{p.voucher_code}", lane_id=who.lane_id)
    if p.tender_type == "points" and p.state in PAID_STATES:
        loyalty.give_back(tx, p.payment_id, p.captured_minor, "void", who.lane_id)
    return after


def remove_local(tx: Tx, who: Principal, cart_id: str, tender_id: int) -> Payment:
    cart = fetch_for(tx, cart_id, who, must_be_open=True)
    p = cart.payment(tender_id)
    if p.tender_type == "card":
        raise InvalidInput("a card tender is reversed on the terminal")
    if p.request_key == "":
        raise machine.IllegalTransition(
            f"tender {tender_id} predates the payment state machine and cannot be removed")
    return _void_local(tx, who, p, "removed by the lane")


def begin_card_void(tx: Tx, who: Principal, cart_id: str, tender_id: int) -> Payment:
    """Intent to reverse a card tender, committed before the reversal goes to the terminal."""
    cart = fetch_for(tx, cart_id, who, must_be_open=True)
    p = cart.payment(tender_id)
    if p.tender_type != "card":
        raise InvalidInput("only card tenders are reversed on the terminal")
    if p.state == "voiding":
        return p  # a retry: the caller re-issues / reconciles the reversal
    return transition(tx, p, ev.PaymentVoiding(payment_id=p.payment_id,
                                               reason="removed by the lane"), who.lane_id)


def finish_card_void(tx: Tx, payment_id: str, result: TerminalResult) -> Payment:
    p = _payment(tx, payment_id)
    if p.state != "voiding":
        return p
    if result.outcome == "approved":
        return transition(tx, p, ev.PaymentVoided(
            payment_id=p.payment_id, via="terminal", reason="reversed on the terminal",
            card=card_ref(result.reference) if result.reference else None), p.lane_id)
    if result.outcome in ("declined", "aborted"):
        return transition(tx, p, ev.PaymentVoidFailed(
            payment_id=p.payment_id, via="terminal",
            detail=result.detail or f"the terminal refused the reversal ({result.outcome})"),
            p.lane_id)
    return p  # unknown: reconciliation decides


def void_local_tenders(tx: Tx, who: Principal, cart: Cart) -> None:
    """Voiding a cart voids its cash/voucher/other tenders; a live card tender blocks it."""
    live_cards = [p.tender_id for p in cart.payments
                  if p.tender_type == "card" and p.state not in DEAD_STATES]
    if live_cards:
        raise CardTenderActive(
            f"card tenders {live_cards} are held or charged: remove them first (that reverses "
            "them on the terminal), then void the cart")
    for p in cart.payments:
        if p.state in PAID_STATES and p.request_key != "":
            _void_local(tx, who, p, "cart voided")


# --- refunds onto cards ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CardRefunds:
    """A refund recorded by its owner (`edge.orders.refunds`), as the terminal work it leaves:
    its card parts are `refund_pending` (committed before the terminal is asked)."""

    refund_id: str
    card_work: list[Payment]
    # A retry of a refund already recorded (the daemon died half-way): its pending card parts
    # are reconciled with the terminal, never sent again.
    resumed: bool = False


def finish_card_refund(tx: Tx, payment_id: str, refund_id: str, outcome: str,
                       card: ev.CardRef | None, detail: str) -> Payment:
    p = _payment(tx, payment_id)
    if p.state != "refund_pending" or p.pending_refund_id != refund_id:
        return p
    if outcome == "approved":
        return transition(tx, p, ev.PaymentRefunded(
            payment_id=p.payment_id, refund_id=refund_id, amount_minor=p.pending_refund_minor,
            via="terminal", card=card), p.lane_id)
    if outcome in ("declined", "aborted"):
        return transition(tx, p, ev.PaymentRefundFailed(
            payment_id=p.payment_id, refund_id=refund_id, via="terminal",
            detail=detail or outcome), p.lane_id)
    return p  # unknown outcome: reconciliation asks the terminal


# --- vouchers ------------------------------------------------------------------------------


def _check_voucher(tx: Tx, code: str, currency: str, amount_minor: int) -> None:
    rows = tx.conn.execute("SELECT currency, balance_minor FROM vouchers WHERE code = ?",
                           (code,)).fetchall()
    if not rows:
        raise UnknownVoucher(f"no voucher {code}", field="voucher_code")
    cur, balance = rows[0]
    if cur != currency:
        raise InvalidInput(f"voucher {code} is in {cur}, the cart in {currency}",
                           field="voucher_code")
    if amount_minor > balance:
        raise VoucherInsufficient(f"voucher balance is {balance}; {amount_minor} asked",
                                  amount_due_minor=balance)


def issue_voucher(tx: Tx, who: Principal, currency: str, req: api.IssueVoucher) -> str:
    code = req.code or uuid7().replace("-", "")[-16:].upper()
    if tx.conn.execute("SELECT 1 FROM vouchers WHERE code = ?", (code,)).fetchall():
        raise InvalidInput(f"voucher {code} already exists", field="code")
    tx.append(ev.VoucherIssued(code=code, currency=currency, amount_minor=req.amount_minor,
                               reason=req.reason), stream=f"voucher:{code}", lane_id=who.lane_id)
    return code


def voucher_view(conn, code: str) -> api.VoucherView:
    rows = conn.execute("SELECT code, currency, issued_minor, balance_minor FROM vouchers "
                        "WHERE code = ?", (code,)).fetchall()
    if not rows:
        raise NotFound(f"no voucher {code}")
    c, cur, issued, balance = rows[0]
    return api.VoucherView(code=c, currency=cur, issued_minor=issued, balance_minor=balance)


# --- helpers -------------------------------------------------------------------------------


def _payment(tx: Tx, payment_id: str) -> Payment:
    p = payment_rows.by_id(tx.conn, payment_id)
    if p is None:
        raise NotFound(f"no payment {payment_id}")
    return p


STORED_SUMMARY = (
    "SELECT COUNT(*), COALESCE(SUM(captured_minor), 0), MIN(stored_at_ms) FROM payments "
    f"WHERE state = 'stored' AND {payment_rows.WAITING}")


def stored_summary(tx_or_conn) -> offline.StoredSummary:
    conn = getattr(tx_or_conn, "conn", tx_or_conn)
    count, amount, oldest = conn.execute(STORED_SUMMARY).fetchall()[0]
    return offline.StoredSummary(count, amount, oldest)


@dataclass(frozen=True, slots=True)
class ForwardOutcome:
    forwarded: list[str]
    declined: list[str]


def record_forwarding(tx: Tx, declined_refs: list[ev.CardRef], all_forwarded: bool,
                      expired_ids: list[str],
                      held_by: Callable[[Payment], bool] | None = None) -> ForwardOutcome:
    """After an end-of-day / forward on a terminal: its stored payments (`held_by`; all when
    None) the processor refused (or that aged out) become forward_declined — a follow-up event
    HQ sees through sync — the rest forwarded. Expired payments are declined on any terminal."""
    out = ForwardOutcome([], [])
    for p in payment_rows.in_states(tx.conn, {"stored"}):
        if p.payment_id in expired_ids:
            reason = "stored longer than the maximum offline age; it can no longer be forwarded"
        elif held_by is not None and not held_by(p):
            continue
        elif p.card is not None and any(
                (r.terminal_id, r.trace_no, r.receipt_no)
                == (p.card.terminal_id, p.card.trace_no, p.card.receipt_no)
                for r in declined_refs):
            reason = "declined by the processor after forwarding"
        else:
            if all_forwarded:
                transition(tx, p, ev.PaymentForwarded(payment_id=p.payment_id), p.lane_id)
                out.forwarded.append(p.payment_id)
            continue
        transition(tx, p, ev.PaymentForwardDeclined(
            payment_id=p.payment_id, amount_minor=p.captured_minor, reason=reason), p.lane_id)
        out.declined.append(p.payment_id)
    return out

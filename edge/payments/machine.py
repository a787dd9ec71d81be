"""The payment state machine: a pure function from (payment, event) to the next payment.

Every tender on a cart is a `Payment`; every change of it is one `payment.*` event, and `step`
is the only code that decides whether that event is legal in the payment's current state. The
commands call it before appending (so an illegal request is refused and changes nothing), and
the projection calls it again while applying (so the live read model and a rebuild from the log
are the same fold of the same function).

States (see docs/tender.md for the diagram):

    created → authorizing → authorized → capturing → captured
    capturing → authorized                   (book total refused or not found: the hold stays)
    created → captured                       (cash, voucher, other: taken at the till)
    authorizing → captured | declined | failed | voided | stored
    stored → forwarded | forward_declined | voiding
    captured | authorized → voiding → voided      (voiding → back where it was on failure)
    captured | forwarded | refunded → refund_pending → refunded   (→ back on failure)

Invariants (asserted here, property-tested in tests/edge/tender):
- 0 <= refunded_minor + pending_refund_minor <= captured_minor - change_minor;
- captured_minor <= amount_minor (a capture never exceeds what was asked);
- a payment attached to a completed order is never voided, only refunded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from core.errors import DomainError
from schemas import events as ev

PaymentState = Literal[
    "created", "authorizing", "authorized", "capturing", "captured", "declined", "failed",
    "voiding", "voided", "stored", "forwarded", "forward_declined", "refund_pending", "refunded",
]

# Money the customer has paid (or, for stored, will have paid once forwarded).
PAID_STATES: frozenset[str] = frozenset({"captured", "stored", "forwarded", "refunded"})
# Work started whose outcome is not yet known: a sale cannot close over these, and after a
# restart each is reconciled with the terminal.
PENDING_STATES: frozenset[str] = frozenset(
    {"created", "authorizing", "authorized", "capturing", "voiding", "refund_pending"}
)
# Nothing moved and nothing will: the tender no longer counts.
DEAD_STATES: frozenset[str] = frozenset({"declined", "failed", "voided", "forward_declined"})
REFUNDABLE_STATES: frozenset[str] = frozenset({"captured", "forwarded", "refunded"})


class IllegalTransition(DomainError):
    status, slug, title = 409, "illegal-payment-transition", "The payment cannot do that now"


@dataclass(frozen=True, slots=True)
class Payment:
    payment_id: str
    cart_id: str
    tender_id: int
    lane_id: str
    tender_type: str
    currency: str
    amount_minor: int
    request_key: str
    state: PaymentState = "created"
    # Where a void or refund attempt returns to when it fails.
    prior_state: PaymentState | None = None
    captured_minor: int = 0
    change_minor: int = 0
    refunded_minor: int = 0
    pending_refund_minor: int = 0
    pending_refund_id: str | None = None
    voucher_code: str | None = None
    reference: str | None = None
    card: ev.CardRef | None = None
    terminal_id: str | None = None
    stored_at_ms: int | None = None
    order_id: str | None = None
    created_at_ms: int = 0

    @property
    def refundable_minor(self) -> int:
        if self.state not in REFUNDABLE_STATES:
            return 0
        return self.captured_minor - self.change_minor - self.refunded_minor

    @property
    def net_paid_minor(self) -> int:
        """What the store keeps of this tender now (stored counts: it is owed by the card)."""
        if self.state not in PAID_STATES and self.state not in ("refund_pending", "voiding"):
            return 0
        return self.captured_minor - self.change_minor - self.refunded_minor

    def check(self) -> None:
        assert 0 <= self.captured_minor <= self.amount_minor, self
        assert 0 <= self.change_minor <= self.captured_minor, self
        assert self.refunded_minor >= 0 and self.pending_refund_minor >= 0, self
        assert (self.refunded_minor + self.pending_refund_minor
                <= self.captured_minor - self.change_minor), self


def _refuse(p: Payment | None, body: ev.EventBody, why: str = "") -> IllegalTransition:
    state = p.state if p is not None else "none"
    pid = p.payment_id if p is not None else getattr(body, "payment_id", "?")
    return IllegalTransition(
        f"payment {pid} is {state}: {body.TYPE} is not allowed" + (f" ({why})" if why else ""),
        payment_id=pid, state=state,
    )


def _need(p: Payment | None, body: ev.EventBody, *states: str) -> Payment:
    if p is None or p.state not in states:
        raise _refuse(p, body)
    return p


def step(p: Payment | None, body: ev.EventBody) -> Payment:
    """The payment after `body`, or IllegalTransition. Pure: no I/O, no clock."""
    nxt = _step(p, body)
    nxt.check()
    return nxt


def _step(p: Payment | None, b: ev.EventBody) -> Payment:  # one table, one place
    match b:
        case ev.PaymentCreated():
            if p is not None:
                raise _refuse(p, b, "already exists")
            if b.amount_minor <= 0:
                raise _refuse(p, b, "amount must be positive")
            return Payment(
                payment_id=b.payment_id, cart_id=b.cart_id, tender_id=b.tender_id,
                lane_id=b.lane_id, tender_type=b.tender_type, currency=b.currency,
                amount_minor=b.amount_minor, request_key=b.request_key,
                voucher_code=b.voucher_code, reference=b.reference,
                created_at_ms=b.created_at_ms,
            )
        case ev.PaymentAuthorizing():
            p = _need(p, b, "created")
            if p.tender_type != "card":
                raise _refuse(p, b, "only card tenders go to a terminal")
            return replace(p, state="authorizing", terminal_id=b.terminal_id)
        case ev.PaymentAuthorized():
            p = _need(p, b, "authorizing")
            if not 0 < b.amount_minor <= p.amount_minor:
                raise _refuse(p, b, "authorized amount out of range")
            return replace(p, state="authorized", card=b.card)
        case ev.PaymentCapturing():
            p = _need(p, b, "authorized")
            if not 0 < b.amount_minor <= p.amount_minor:
                raise _refuse(p, b, "capture amount out of range")
            # While capturing, captured_minor is the amount being booked (not paid yet:
            # capturing is a pending state), so reconciliation knows what to look for.
            return replace(p, state="capturing", captured_minor=b.amount_minor)
        case ev.PaymentCaptureFailed():
            p = _need(p, b, "capturing")
            return replace(p, state="authorized", captured_minor=0)
        case ev.PaymentCaptured():
            if p is not None and p.state == "created" and p.tender_type == "card":
                raise _refuse(p, b, "a card is captured only through the terminal")
            p = _need(p, b, "created", "authorizing", "capturing")
            if not 0 < b.amount_minor <= p.amount_minor:
                raise _refuse(p, b, "captured amount out of range")
            return replace(p, state="captured", captured_minor=b.amount_minor,
                           card=b.card or p.card)
        case ev.PaymentDeclined():
            p = _need(p, b, "authorizing", "capturing")
            return replace(p, state="declined")
        case ev.PaymentFailed():
            p = _need(p, b, "created", "authorizing")
            return replace(p, state="failed")
        case ev.PaymentVoiding():
            p = _need(p, b, "authorized", "captured", "stored")
            if p.tender_type != "card":
                raise _refuse(p, b, "only card tenders are reversed on a terminal")
            if p.order_id is not None:
                raise _refuse(p, b, "part of a completed order: refund it instead")
            return replace(p, state="voiding", prior_state=p.state)
        case ev.PaymentVoided():
            if p is not None and p.state == "captured" and p.tender_type == "card":
                raise _refuse(p, b, "a captured card is voided by a reversal on the terminal")
            p = _need(p, b, "created", "authorizing", "voiding", "captured")
            if p.order_id is not None:
                raise _refuse(p, b, "part of a completed order: refund it instead")
            return replace(p, state="voided", prior_state=None, card=b.card or p.card)
        case ev.PaymentVoidFailed():
            p = _need(p, b, "voiding")
            assert p.prior_state is not None
            return replace(p, state=p.prior_state, prior_state=None)
        case ev.PaymentStored():
            p = _need(p, b, "authorizing")
            if not 0 < b.amount_minor <= p.amount_minor:
                raise _refuse(p, b, "stored amount out of range")
            return replace(p, state="stored", captured_minor=b.amount_minor, card=b.card,
                           stored_at_ms=b.stored_at_ms)
        case ev.PaymentForwarded():
            p = _need(p, b, "stored")
            return replace(p, state="forwarded")
        case ev.PaymentForwardDeclined():
            p = _need(p, b, "stored")
            # The money never arrived: nothing is kept on this tender any more.
            return replace(p, state="forward_declined", captured_minor=0, change_minor=0)
        case ev.PaymentRefundRequested():
            p = _need(p, b, "captured", "forwarded", "refunded")
            if not 0 < b.amount_minor <= p.refundable_minor:
                raise _refuse(p, b, f"refund {b.amount_minor} exceeds the refundable "
                                    f"{p.refundable_minor}")
            return replace(p, state="refund_pending", prior_state=p.state,
                           pending_refund_minor=b.amount_minor, pending_refund_id=b.refund_id)
        case ev.PaymentRefunded():
            p = _need(p, b, "refund_pending")
            if b.refund_id != p.pending_refund_id or b.amount_minor != p.pending_refund_minor:
                raise _refuse(p, b, "does not match the pending refund")
            return replace(p, state="refunded", prior_state=None,
                           refunded_minor=p.refunded_minor + b.amount_minor,
                           pending_refund_minor=0, pending_refund_id=None)
        case ev.PaymentRefundFailed():
            p = _need(p, b, "refund_pending")
            if b.refund_id != p.pending_refund_id:
                raise _refuse(p, b, "does not match the pending refund")
            assert p.prior_state is not None
            return replace(p, state=p.prior_state, prior_state=None, pending_refund_minor=0,
                           pending_refund_id=None)
    raise _refuse(p, b, "not a payment event")


def settle_into_order(p: Payment, order_id: str, change_minor: int) -> Payment:
    """The sale closed over this payment; `change_minor` of it went back as change (cash)."""
    assert p.order_id is None and p.state in PAID_STATES, p
    assert change_minor == 0 or p.tender_type == "cash", p
    nxt = replace(p, order_id=order_id, change_minor=change_minor)
    nxt.check()
    return nxt


def fold(bodies: list[ev.EventBody]) -> dict[str, Payment]:
    """Replay payment events from nothing (what a rebuild does), for checks and tests."""
    out: dict[str, Payment] = {}
    for b in bodies:
        pid = getattr(b, "payment_id", None)
        if pid is not None and b.TYPE.startswith("payment."):
            out[pid] = step(out.get(pid), b)
    return out

"""The payment state machine under random legal and illegal events (hypothesis stateful).

Invariants after every step: no payment keeps less than nothing (captured − change − refunded
>= 0), none is refunded beyond what it captured, an illegal event is refused and changes
nothing, and folding the accepted events from scratch (what a rebuild does) gives the same
payments."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from edge.payments import machine
from edge.payments.machine import IllegalTransition, Payment
from schemas import events as ev

CARD = ev.CardRef(terminal_id="T1", trace_no=1, receipt_no=1, approval_code="A1",
                  masked_pan="************1234", card_brand="VISA")
TYPES = ("cash", "card", "voucher", "other")


def any_event(pid: str, amount: int, refund_id: str) -> list[ev.EventBody]:
    """One of every payment event for `pid`, so a rule can try each in any state."""
    return [
        ev.PaymentAuthorizing(payment_id=pid, terminal_id="T1"),
        ev.PaymentAuthorized(payment_id=pid, amount_minor=amount, card=CARD),
        ev.PaymentCapturing(payment_id=pid, amount_minor=amount),
        ev.PaymentCaptured(payment_id=pid, amount_minor=amount, via="terminal", card=CARD),
        ev.PaymentDeclined(payment_id=pid, via="terminal"),
        ev.PaymentFailed(payment_id=pid, via="terminal"),
        ev.PaymentVoiding(payment_id=pid),
        ev.PaymentVoided(payment_id=pid, via="local"),
        ev.PaymentVoidFailed(payment_id=pid, via="terminal"),
        ev.PaymentStored(payment_id=pid, amount_minor=amount, card=CARD, stored_at_ms=1),
        ev.PaymentForwarded(payment_id=pid),
        ev.PaymentForwardDeclined(payment_id=pid, amount_minor=amount, reason="x"),
        ev.PaymentRefundRequested(payment_id=pid, refund_id=refund_id, amount_minor=amount),
        ev.PaymentRefunded(payment_id=pid, refund_id=refund_id, amount_minor=amount,
                           via="local"),
        ev.PaymentRefundFailed(payment_id=pid, refund_id=refund_id, via="terminal"),
        ev.PaymentCaptureFailed(payment_id=pid, via="terminal"),
    ]


class PaymentMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.payments: dict[str, Payment] = {}
        self.log: list[ev.EventBody] = []
        self.n = 0

    def _apply(self, body: ev.EventBody) -> bool:
        pid = body.payment_id  # type: ignore[attr-defined]
        before = self.payments.get(pid)
        try:
            after = machine.step(before, body)
        except IllegalTransition:
            assert self.payments.get(pid) == before  # refused: nothing changed
            return False
        self.payments[pid] = after
        self.log.append(body)
        return True

    @rule(kind=st.sampled_from(TYPES), amount=st.integers(1, 10_000))
    def create(self, kind: str, amount: int) -> None:
        self.n += 1
        assert self._apply(ev.PaymentCreated(
            payment_id=f"p{self.n}", cart_id="c", tender_id=self.n, lane_id="l",
            tender_type=kind, currency="EUR", amount_minor=amount, request_key=f"k{self.n}"))

    @precondition(lambda self: self.payments)
    @rule(data=st.data(), amount=st.integers(-5, 12_000), which=st.integers(0, 15),
          refund=st.sampled_from(["r1", "r2"]))
    def any_transition(self, data, amount: int, which: int, refund: str) -> None:
        pid = data.draw(st.sampled_from(sorted(self.payments)))
        p = self.payments[pid]
        # Aim half the amounts at what is legal right now, so deep states are reached.
        if data.draw(st.booleans()):
            amount = {"refund_pending": p.pending_refund_minor}.get(
                p.state, p.refundable_minor if p.state in machine.REFUNDABLE_STATES
                else p.amount_minor)
        refund_id = p.pending_refund_id or refund
        self._apply(any_event(pid, amount, refund_id)[which])

    @precondition(lambda self: any(p.state in machine.REFUNDABLE_STATES
                                   for p in self.payments.values()))
    @rule(data=st.data(), amount=st.integers(1, 12_000))
    def refund_request(self, data, amount: int) -> None:
        pid = data.draw(st.sampled_from(sorted(
            k for k, p in self.payments.items() if p.state in machine.REFUNDABLE_STATES)))
        p = self.payments[pid]
        accepted = self._apply(ev.PaymentRefundRequested(
            payment_id=pid, refund_id=f"r{len(self.log)}", amount_minor=amount))
        # Legal exactly when the amount fits what the tender still keeps.
        assert accepted == (amount <= p.captured_minor - p.change_minor - p.refunded_minor)

    @precondition(lambda self: any(p.state in machine.PAID_STATES and p.order_id is None
                                   for p in self.payments.values()))
    @rule(data=st.data(), change=st.integers(0, 500))
    def settle(self, data, change: int) -> None:
        pid = data.draw(st.sampled_from(sorted(
            k for k, p in self.payments.items()
            if p.state in machine.PAID_STATES and p.order_id is None)))
        p = self.payments[pid]
        change = min(change, p.captured_minor) if p.tender_type == "cash" else 0
        if p.refunded_minor + change > p.captured_minor:
            return
        self.payments[pid] = machine.settle_into_order(p, f"o-{pid}", change)
        self.log.append(ev.SaleCompleted(
            order_id=f"o-{pid}", cart_id=pid, receipt_number="r", lane_id="l",
            completed_at_ms=0, business_date="2026-01-01", currency="EUR", tax_mode="inclusive",
            lines=(), tenders=(), subtotal_minor=0, discount_minor=0, tax_minor=0,
            total_minor=0, tendered_minor=0, change_due_minor=change))

    @invariant()
    def money_never_negative(self) -> None:
        for p in self.payments.values():
            p.check()
            assert p.captured_minor - p.change_minor - p.refunded_minor >= 0
            assert p.refunded_minor <= p.captured_minor
            if p.state == "refunded":
                assert p.refunded_minor > 0

    @invariant()
    def settled_payments_are_never_voided(self) -> None:
        for p in self.payments.values():
            if p.order_id is not None:
                assert p.state not in ("voided", "voiding")

    @invariant()
    def replay_gives_the_same_states(self) -> None:
        replayed: dict[str, Payment] = {}
        for body in self.log:
            if isinstance(body, ev.SaleCompleted):
                pid = body.cart_id
                replayed[pid] = machine.settle_into_order(replayed[pid], body.order_id,
                                                          body.change_due_minor)
            else:
                pid = body.payment_id  # type: ignore[attr-defined]
                replayed[pid] = machine.step(replayed.get(pid), body)
        assert replayed == self.payments


PaymentMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestPaymentMachine = PaymentMachine.TestCase


def test_the_card_happy_path_and_its_refunds() -> None:
    p = machine.step(None, ev.PaymentCreated(
        payment_id="p", cart_id="c", tender_id=1, lane_id="l", tender_type="card",
        currency="EUR", amount_minor=1000, request_key="k"))
    for body in (ev.PaymentAuthorizing(payment_id="p", terminal_id="T1"),
                 ev.PaymentAuthorized(payment_id="p", amount_minor=1000, card=CARD),
                 ev.PaymentCapturing(payment_id="p", amount_minor=900),
                 ev.PaymentCaptured(payment_id="p", amount_minor=900, via="terminal")):
        p = machine.step(p, body)
    assert (p.state, p.captured_minor, p.card) == ("captured", 900, CARD)
    p = machine.step(p, ev.PaymentRefundRequested(payment_id="p", refund_id="r",
                                                  amount_minor=400))
    p = machine.step(p, ev.PaymentRefunded(payment_id="p", refund_id="r", amount_minor=400,
                                           via="terminal"))
    assert (p.state, p.refundable_minor) == ("refunded", 500)
    try:
        machine.step(p, ev.PaymentRefundRequested(payment_id="p", refund_id="r2",
                                                  amount_minor=501))
    except IllegalTransition as exc:
        assert exc.status == 409 and "exceeds the refundable 500" in exc.detail
    else:
        raise AssertionError("refunding beyond the captured amount was accepted")


def test_a_refused_book_total_returns_to_the_hold() -> None:
    p = machine.step(None, ev.PaymentCreated(
        payment_id="p", cart_id="c", tender_id=1, lane_id="l", tender_type="card",
        currency="EUR", amount_minor=1000, request_key="k"))
    for body in (ev.PaymentAuthorizing(payment_id="p", terminal_id="T1", preauthorize=True),
                 ev.PaymentAuthorized(payment_id="p", amount_minor=1000, card=CARD),
                 ev.PaymentCapturing(payment_id="p", amount_minor=700)):
        p = machine.step(p, body)
    # While capturing, the amount being booked is known (reconciliation looks for it) but it
    # is not paid: capturing is pending.
    assert (p.state, p.captured_minor, p.net_paid_minor) == ("capturing", 700, 0)
    p = machine.step(p, ev.PaymentCaptureFailed(payment_id="p", via="terminal"))
    assert (p.state, p.captured_minor, p.card) == ("authorized", 0, CARD)
    p = machine.step(p, ev.PaymentVoiding(payment_id="p"))
    assert machine.step(p, ev.PaymentVoided(payment_id="p", via="terminal")).state == "voided"

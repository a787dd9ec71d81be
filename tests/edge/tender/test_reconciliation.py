"""The reconciliation rule on a real store: a payment left authorizing is resolved from the
terminal's last transaction — captured only when that transaction is provably this payment's
(amount, ECR reference, a receipt no other payment holds), voided otherwise, and left alone
when the terminal did not answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.clock import ManualClock
from edge import config as config_mod
from edge import demo
from edge.carts import commands as carts
from edge.lanes import Principal
from edge.tender import commands, offline
from schemas import api
from schemas.terminal import CardReference, TerminalResult
from tests.support.live_app import START_MS
from tests.support.store import TestStore, verify

LANE = Principal("demo-tenant", "store-001", "lane-1", "cashier", "t")
POLICY = offline.OfflinePolicy(5000, 50000, 86_400_000, 259_200_000)


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[TestStore]:
    service = TestStore(tmp_path, config_mod.load(tmp_path, {}), ManualClock(START_MS))
    service.start()
    demo.seed(service)
    try:
        yield service
    finally:
        assert verify(service.db_path).ok  # every resolution rebuilds identically
        service.stop()


def _intent(svc: TestStore, key: str, sku: str = "BREAD-500G"):
    def run(tx):
        cart = carts.open_cart(tx, LANE, svc.policy)
        cart = carts.add_line(tx, LANE, svc.policy, cart.cart_id, api.AddLine(sku=sku))
        total = cart.totals(svc.policy.tax_mode).total_minor
        p, fresh = commands.begin_card(
            tx, LANE, cart.cart_id, api.AddTender(tender_type="card", amount_minor=total),
            f"lane-1:{key}", "zvt:test", svc.policy.tax_mode, (POLICY, False))
        assert fresh and p.state == "authorizing"
        return p

    return svc.writer.run_sync(run)


def _approved(amount: int, receipt_no: int, **extra) -> TerminalResult:
    return TerminalResult(outcome="approved", amount_minor=amount, reference=CardReference(
        terminal_id="52500001", trace_no=receipt_no, receipt_no=receipt_no,
        approval_code="123456", masked_pan="****1234", card_brand="VISA"), **extra)


def _reconcile(svc: TestStore, payment_id: str, last: TerminalResult | None):
    return svc.writer.run_sync(lambda tx: commands.reconcile(tx, payment_id, last))


def test_the_last_transaction_of_this_amount_is_attached_once(svc: TestStore) -> None:
    first = _intent(svc, "a")
    second = _intent(svc, "b")  # same basket, same amount: only the receipt tells them apart
    last = _approved(first.amount_minor, 7)
    assert _reconcile(svc, first.payment_id, last).state == "captured"
    # The same charge can never pay a second payment: that one took nothing.
    after = _reconcile(svc, second.payment_id, last)
    assert after.state == "voided" and after.captured_minor == 0


def test_another_amount_or_no_transaction_means_nothing_was_taken(svc: TestStore) -> None:
    p = _intent(svc, "a")
    assert _reconcile(svc, p.payment_id, _approved(p.amount_minor + 1, 3)).state == "voided"
    q = _intent(svc, "b")
    assert _reconcile(svc, q.payment_id, None).state == "voided"


def test_an_unanswered_question_resolves_nothing(svc: TestStore) -> None:
    p = _intent(svc, "a")
    busy = TerminalResult(outcome="failed", amount_minor=0, detail="terminal busy")
    assert _reconcile(svc, p.payment_id, busy).state == "authorizing"
    timeout = TerminalResult(outcome="timeout", amount_minor=0)
    assert _reconcile(svc, p.payment_id, timeout).state == "authorizing"
    assert _reconcile(svc, p.payment_id, _approved(p.amount_minor, 9)).state == "captured"


def test_a_decline_of_that_amount_is_a_decline(svc: TestStore) -> None:
    p = _intent(svc, "a")
    declined = TerminalResult(outcome="declined", amount_minor=p.amount_minor, result_code=5)
    assert _reconcile(svc, p.payment_id, declined).state == "declined"


def test_a_retry_finds_the_recorded_intent_instead_of_charging_again(svc: TestStore) -> None:
    p = _intent(svc, "same-key")

    def again(tx):
        return commands.begin_card(
            tx, LANE, p.cart_id, api.AddTender(tender_type="card", amount_minor=p.amount_minor),
            "lane-1:same-key", "zvt:test", svc.policy.tax_mode, (POLICY, False))

    found, fresh = svc.writer.run_sync(again)
    assert not fresh and found.payment_id == p.payment_id

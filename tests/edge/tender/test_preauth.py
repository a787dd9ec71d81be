"""Pre-authorized card tenders (`"capture": "deferred"`): a hold on the card, booked (book total,
ZVT 06 24) when the sale completes, released (reversal) when the tender is removed.

Money is checked against the ZVT emulator's journal over real TCP, not against what the daemon
believes. The crash cases leave a payment in `capturing` — the intent committed, the book total
sent, the answer lost — and prove reconciliation books it exactly once."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from core.clock import ManualClock
from drivers.emulators.zvt_terminal import ZvtTerminalEmulator
from drivers.zvt import ZvtTerminal
from edge import config as config_mod
from edge import demo
from edge.carts import commands as carts
from edge.carts.model import load_for
from edge.payments import rows as payment_rows
from edge.tender import commands
from schemas import api
from schemas.devices import DeviceAddress
from tests.conftest import new_key
from tests.edge.api.helpers import assert_problem, post
from tests.edge.tender.test_card_api import WAIT_S, _card_payment, _cart, card_store, terminal
from tests.edge.tender.test_reconciliation import LANE, POLICY
from tests.support.live_app import START_MS
from tests.support.store import TestStore, verify

__all__ = ["card_store", "terminal"]  # fixtures reused from the card API tests


def _hold(c: httpx.Client, cart: str, amount: int, key: str | None = None) -> httpx.Response:
    return post(c, f"/v1/carts/{cart}/tenders",
                {"tender_type": "card", "amount_minor": amount, "capture": "deferred"}, key)


def _ops(emu: ZvtTerminalEmulator) -> list[tuple[str, str, int]]:
    return [(e.operation, e.state, e.amount_minor) for e in emu.journal()]


def test_a_hold_is_booked_once_when_the_sale_completes(card_store, terminal) -> None:
    live = card_store()
    c = live.client()
    cart, total = _cart(c, "COFFEE-250G", "BREAD-500G")
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 300})
    r = _hold(c, cart, total)  # hold more than the card will need: cash pays 300
    assert r.status_code == 201, r.text
    card = _card_payment(r.json())
    assert card["state"] == "authorized" and card["captured_minor"] == 0
    assert r.json()["amount_due_minor"] == total - 300  # a hold is not payment yet
    assert terminal.charged_minor(card["payment_id"]) == 0
    assert_problem(post(c, f"/v1/carts/{cart}/tenders",
                        {"tender_type": "cash", "amount_minor": 1, "capture": "deferred"}),
                   422, "invalid-input")  # only a card can be held
    key = new_key()
    done = post(c, f"/v1/carts/{cart}/complete", {}, key)
    assert done.status_code == 201, done.text
    pid = card["payment_id"]
    p = c.get(f"/v1/payments/{pid}").json()
    assert p["state"] == "captured" and p["captured_minor"] == total - 300
    assert terminal.charged_minor(pid) == total - 300
    assert _ops(terminal) == [("preauth", "captured", total),
                              ("book_total", "booked", total - 300)]
    # A retried completion replays; nothing is booked again.
    assert post(c, f"/v1/carts/{cart}/complete", {}, key).status_code == 201
    assert len(terminal.journal()) == 2
    # A booked hold refunds to the same card by the booking's receipt.
    order = done.json()
    bread = order["lines"][1]["total_minor"]
    r = post(c, f"/v1/orders/{order['order_id']}/refunds", {"lines": [{"line_no": 2, "qty": 1}]})
    assert r.status_code == 201, r.text
    assert [(a["tender_type"], a["amount_minor"], a["state"])
            for a in r.json()["allocations"]] == [("card", bread, "refunded")]
    assert terminal.charged_minor(pid) == total - 300 - bread


def test_removing_a_held_tender_releases_the_hold(card_store, terminal) -> None:
    c = card_store().client()
    cart, total = _cart(c, "BREAD-500G")
    pid = _card_payment(_hold(c, cart, total).json())["payment_id"]
    r = c.delete(f"/v1/carts/{cart}/tenders/1", headers={"Idempotency-Key": new_key()})
    assert r.status_code == 200, r.text
    assert _card_payment(r.json())["state"] == "voided"
    assert _ops(terminal)[0] == ("preauth", "released", total)
    assert [e.operation for e in terminal.journal()] == ["preauth", "reversal"]
    assert terminal.charged_minor(pid) == 0
    # Paid another way, the sale completes and the released card is never booked.
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": total})
    assert post(c, f"/v1/carts/{cart}/complete", {}).status_code == 201
    assert [e.operation for e in terminal.journal()] == ["preauth", "reversal"]


def test_a_hold_the_other_tenders_cover_is_not_booked(card_store, terminal) -> None:
    c = card_store().client()
    cart, total = _cart(c, "BREAD-500G")
    _hold(c, cart, total)
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": total})
    assert_problem(post(c, f"/v1/carts/{cart}/complete", {}), 409, "hold-not-needed")
    assert [e.operation for e in terminal.journal()] == ["preauth"]  # nothing booked
    assert c.get(f"/v1/carts/{cart}").json()["tenders"][0]["state"] == "authorized"
    c.delete(f"/v1/carts/{cart}/tenders/1", headers={"Idempotency-Key": new_key()})
    assert post(c, f"/v1/carts/{cart}/complete", {}).status_code == 201
    assert _ops(terminal)[0] == ("preauth", "released", total)


def test_a_short_hold_is_refused_before_anything_is_booked(card_store, terminal) -> None:
    c = card_store().client()
    cart, total = _cart(c, "COFFEE-250G")
    _hold(c, cart, total - 100)
    body = assert_problem(post(c, f"/v1/carts/{cart}/complete", {}), 409, "tender-insufficient")
    assert body["amount_due_minor"] == 100
    assert [e.operation for e in terminal.journal()] == ["preauth"]  # nothing booked
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 100})
    assert post(c, f"/v1/carts/{cart}/complete", {}).status_code == 201
    assert [e.amount_minor for e in terminal.journal() if e.operation == "book_total"] == [
        total - 100]


def test_cash_rounding_never_leaves_a_booked_sale_short(card_store, terminal) -> None:
    """With 0.05 cash rounding, 3.03 in cash counts as 3.00 when sizing the booking: the cash
    left to pay is a whole increment, so the sale closes (0.03 change) after the booking."""
    c = card_store(cash_rounding_minor="5").client()
    cart, total = _cart(c, "COFFEE-250G", "BREAD-500G")
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 303})
    pid = _card_payment(_hold(c, cart, total).json())["payment_id"]
    r = post(c, f"/v1/carts/{cart}/complete", {})
    assert r.status_code == 201, r.text
    assert terminal.charged_minor(pid) == total - 300
    assert r.json()["change_due_minor"] == 3


def test_voiding_the_cart_releases_its_holds(card_store, terminal) -> None:
    c = card_store().client()
    cart, total = _cart(c, "COFFEE-250G", "BREAD-500G")
    first = _card_payment(_hold(c, cart, 500).json())["payment_id"]
    _hold(c, cart, total - 500)
    r = post(c, f"/v1/carts/{cart}/void", {"reason": "customer left"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "voided"
    assert [t["state"] for t in r.json()["tenders"]] == ["voided", "voided"]
    assert [e.state for e in terminal.journal() if e.operation == "preauth"] == [
        "released", "released"]
    assert terminal.charged_minor(first) == 0 and len(terminal.journal()) == 4


def test_a_declined_book_total_refuses_completion_and_keeps_the_hold(card_store,
                                                                     terminal) -> None:
    c = card_store().client()
    cart, total = _cart(c, "COFFEE-250G")
    pid = _card_payment(_hold(c, cart, total).json())["payment_id"]
    terminal.script("decline")
    r = post(c, f"/v1/carts/{cart}/complete", {})
    body = assert_problem(r, 402, "capture-refused")
    assert body["payment_id"] == pid and body["state"] == "authorized"
    assert c.get(f"/v1/payments/{pid}").json()["state"] == "authorized"
    assert c.get(f"/v1/carts/{cart}").json()["status"] == "open"
    assert terminal.charged_minor(pid) == 0
    assert _ops(terminal)[0] == ("preauth", "held", total)
    # Completing again books it (the terminal approves now), exactly once.
    assert post(c, f"/v1/carts/{cart}/complete", {}).status_code == 201
    assert terminal.charged_minor(pid) == total
    assert [e.operation for e in terminal.journal() if e.state == "booked"] == ["book_total"]


@pytest.mark.parametrize("outcome, params", [
    ("disconnect_after_booking", {}),
    ("timeout", {"after_booking": True, "hold_s": 3.0}),
])
def test_a_lost_book_total_answer_is_reconciled_to_one_capture(card_store, terminal, outcome,
                                                                params) -> None:
    c = card_store().client()
    cart, total = _cart(c, "COFFEE-250G")
    pid = _card_payment(_hold(c, cart, total).json())["payment_id"]
    terminal.script(outcome, **params)
    key = new_key()
    r = post(c, f"/v1/carts/{cart}/complete", {}, key)
    deadline = time.monotonic() + WAIT_S
    while r.status_code in (503, 409) and "in-flight" not in r.text:
        assert r.json()["type"].endswith(("/payment-outcome-unknown", "/payment-in-progress")), \
            r.text
        assert time.monotonic() < deadline, "capture never resolved"
        time.sleep(0.3)
        r = post(c, f"/v1/carts/{cart}/complete", {}, key)
    assert r.status_code == 201, r.text
    assert c.get(f"/v1/payments/{pid}").json()["state"] == "captured"
    assert terminal.charged_minor(pid) == total
    assert [e.operation for e in terminal.journal()] == ["preauth", "book_total"]


# --- a restart with a payment left in capturing: a real store, closed and reopened ---------


def _open_store(data_dir: Path) -> TestStore:
    service = TestStore(data_dir, config_mod.load(data_dir, {}), ManualClock(START_MS))
    service.start()
    return service


def _driver(emu: ZvtTerminalEmulator) -> ZvtTerminal:
    drv = ZvtTerminal("payment-terminal", DeviceAddress(transport="tcp", host="127.0.0.1",
                                                        port=emu.port),
                      ack_timeout_s=5.0, max_transaction_s=5.0)
    drv.open()
    return drv


def _held_then_capturing(svc: TestStore, drv: ZvtTerminal):
    """A pre-authorized tender on a real store, then the capturing intent committed."""
    def intent(tx):
        cart = carts.open_cart(tx, LANE, svc.policy)
        cart = carts.add_line(tx, LANE, svc.policy, cart.cart_id, api.AddLine(sku="BREAD-500G"))
        total = cart.totals(svc.policy.tax_mode).total_minor
        p, _ = commands.begin_card(
            tx, LANE, cart.cart_id, api.AddTender(tender_type="card", amount_minor=total,
                                                  capture="deferred"),
            f"lane-1:{new_key()}", "zvt:test", svc.policy.tax_mode, (POLICY, False))
        return p

    p = svc.writer.run_sync(intent)
    result = drv.preauthorize(p.amount_minor, "EUR", p.payment_id, timeout_s=5.0)
    p = svc.writer.run_sync(lambda tx: commands.finish_card(tx, p.payment_id, result))
    assert p.state == "authorized"

    def capturing(tx):
        cart = load_for(tx.conn, p.cart_id, LANE, must_be_open=True)
        return commands.begin_captures(tx, cart, svc.policy.tax_mode)

    [p] = svc.writer.run_sync(capturing)
    assert p.state == "capturing" and p.captured_minor == p.amount_minor
    return p


@pytest.mark.parametrize("booked_before_crash", [True, False])
def test_capturing_after_a_restart_is_booked_exactly_once(tmp_path: Path, terminal,
                                                          booked_before_crash: bool) -> None:
    data_dir = tmp_path / "store"
    svc = _open_store(data_dir)
    demo.seed(svc)
    drv = _driver(terminal)
    try:
        p = _held_then_capturing(svc, drv)
        if booked_before_crash:  # the book total went out; the daemon died before the answer
            drv.capture(commands_ref(p), p.captured_minor, timeout_s=5.0)
        svc.stop()  # the crash: the store closes with the payment in capturing

        svc = _open_store(data_dir)  # the restart
        assert payment_rows.by_id(svc.reader, p.payment_id).state == "capturing"
        last = drv.last_transaction(timeout_s=5.0)
        after = svc.writer.run_sync(lambda tx: commands.reconcile(tx, p.payment_id, last))
        if booked_before_crash:
            assert after.state == "captured" and after.captured_minor == p.amount_minor
        else:  # nothing was booked: back to authorized, the hold still on the card
            assert after.state == "authorized" and after.captured_minor == 0
            assert terminal.charged_minor(p.payment_id) == 0
            [again] = svc.writer.run_sync(lambda tx: commands.begin_captures(
                tx, load_for(tx.conn, p.cart_id, LANE, must_be_open=True),
                svc.policy.tax_mode))
            result = drv.capture(commands_ref(again), again.captured_minor, timeout_s=5.0)
            after = svc.writer.run_sync(
                lambda tx: commands.finish_capture(tx, p.payment_id, result))
            assert after.state == "captured"
        # Asked again (a second restart), the same booking is never attached twice.
        last = drv.last_transaction(timeout_s=5.0)
        assert svc.writer.run_sync(
            lambda tx: commands.reconcile(tx, p.payment_id, last)).state == "captured"
        assert terminal.charged_minor(p.payment_id) == p.amount_minor
        assert [e.operation for e in terminal.journal()] == ["preauth", "book_total"]
    finally:
        drv.close()
        assert verify(svc.db_path).ok
        svc.stop()


def commands_ref(p):
    from edge.tender.service import _terminal_ref

    assert p.card is not None
    return _terminal_ref(p.card)

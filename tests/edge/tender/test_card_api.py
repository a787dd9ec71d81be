"""Card tenders through the real HTTP API against the ZVT terminal emulator over real TCP.

The emulator keeps its own journal of what it charged; every test checks money against that
journal (what the card was charged), not against what the daemon believes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from drivers.emulators.zvt_terminal import ZvtTerminalEmulator
from tests.conftest import new_key
from tests.edge.api.helpers import assert_problem, head_seq, open_cart, post
from tests.support.live_app import LiveApp
from tests.support.store import verify

WAIT_S = 30.0


@pytest.fixture
def terminal() -> Iterator[ZvtTerminalEmulator]:
    with ZvtTerminalEmulator(busy_wait_s=0.5) as emu:
        yield emu


@pytest.fixture
def card_store(live_with, terminal: ZvtTerminalEmulator) -> Iterator:
    """A live store wired to the emulator; afterwards its log must rebuild to the same
    payments (what `novapos-edge verify` checks)."""
    started: list[LiveApp] = []

    def start(**env: str) -> LiveApp:
        started.append(live_with({
            "NOVAPOS_TENDER__TERMINAL_HOST": "127.0.0.1",
            "NOVAPOS_TENDER__TERMINAL_PORT": str(terminal.port),
            "NOVAPOS_TENDER__TERMINAL_TRANSACTION_TIMEOUT_S": "2",
            "NOVAPOS_TENDER__RECONCILE_INTERVAL_S": "0.2",
            **{f"NOVAPOS_TENDER__{k.upper()}": v for k, v in env.items()},
        }))
        return started[-1]

    yield start
    for app in started:
        report = verify(app.service.db_path)
        assert report.ok, report


def _cart(c: httpx.Client, *skus: str) -> tuple[str, int]:
    cart = open_cart(c)
    view = {}
    for sku in skus:
        view = post(c, f"/v1/carts/{cart}/lines", {"sku": sku}).json()
    return cart, view["total_minor"]


def _card(c: httpx.Client, cart: str, amount: int, key: str | None = None) -> httpx.Response:
    return post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "card", "amount_minor": amount},
                key)


def _card_payment(view: dict) -> dict:
    return next(t for t in view["tenders"] if t["tender_type"] == "card")


def test_split_cash_and_card_sale(card_store, terminal: ZvtTerminalEmulator) -> None:
    live = card_store()
    c = live.client()
    cart, total = _cart(c, "COFFEE-250G", "TSHIRT-BLK-M")
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 500})
    r = _card(c, cart, total - 500)
    assert r.status_code == 201, r.text
    card = _card_payment(r.json())
    assert card["state"] == "captured" and card["captured_minor"] == total - 500
    ref = card["reference"]
    assert ref["masked_pan"].endswith("1234") and "4999" not in ref["masked_pan"][4:-4]
    assert ref["card_brand"] and ref["approval_code"] and ref["terminal_id"]
    assert ref["trace_no"] > 0 and ref["receipt_no"] > 0
    assert terminal.charged_minor(card["payment_id"]) == total - 500

    order = post(c, f"/v1/carts/{cart}/complete", {}).json()
    assert order["change_due_minor"] == 0 and order["tendered_minor"] == total
    assert [t["tender_type"] for t in order["tenders"]] == ["cash", "card"]
    assert order["tenders"][1]["reference"] == ref
    receipt = c.get(f"/v1/orders/{order['order_id']}/receipt").json()
    card_line = receipt["tenders"][1]
    assert card_line["text"] == "CARD" and ref["masked_pan"] in card_line["qty_text"]
    assert f"AC {ref['approval_code']}" in card_line["qty_text"]
    metrics = httpx.get(f"{live.url}/metrics").text
    assert 'novapos_payment_duration_seconds_count{outcome="captured",tender_type="card"} 1.0' \
        in metrics


def test_a_retried_card_request_never_charges_twice(card_store, terminal) -> None:
    c = card_store().client()
    cart, total = _cart(c, "BREAD-500G")
    key = new_key()
    first = _card(c, cart, total, key)
    again = _card(c, cart, total, key)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    sales = [e for e in terminal.journal() if e.operation == "sale"]
    assert len(sales) == 1 and sales[0].amount_minor == total


def test_a_declined_card_is_recorded_and_takes_nothing(card_store, terminal) -> None:
    live = card_store()
    c = live.client()
    cart, total = _cart(c, "BREAD-500G")
    terminal.script("decline")
    key = new_key()
    body = assert_problem(_card(c, cart, total, key), 402, "card-declined")
    payment = c.get(f"/v1/payments/{body['payment_id']}").json()
    assert payment["state"] == "declined" and payment["captured_minor"] == 0
    seq = head_seq(live)
    assert_problem(_card(c, cart, total, key), 402, "card-declined")  # same key: same answer
    assert head_seq(live) == seq
    assert len(terminal.journal()) == 1
    view = c.get(f"/v1/carts/{cart}").json()
    assert view["amount_due_minor"] == total
    assert _card(c, cart, total).status_code == 201  # a new attempt is a new payment
    assert post(c, f"/v1/carts/{cart}/complete", {}).status_code == 201


@pytest.mark.parametrize("outcome, params", [
    ("disconnect_after_booking", {}),
    ("timeout", {"after_booking": True, "hold_s": 3.0}),
])
def test_a_lost_answer_is_reconciled_to_one_charge(card_store, terminal, outcome, params) -> None:
    """The terminal charged the card but the answer never arrived: the daemon asks the terminal
    (repeat receipt) and records the charge — it never sends a second authorization."""
    c = card_store().client()
    cart, total = _cart(c, "COFFEE-250G")
    terminal.script(outcome, **params)
    key = new_key()
    r = _card(c, cart, total, key)
    deadline = time.monotonic() + WAIT_S
    while r.status_code == 503:  # outcome not known yet: retry the same request
        assert r.json()["type"].endswith("/payment-outcome-unknown"), r.text
        assert time.monotonic() < deadline, "payment never resolved"
        time.sleep(0.3)
        r = _card(c, cart, total, key)
    assert r.status_code == 201, r.text
    card = _card_payment(r.json())
    assert card["state"] == "captured"
    assert terminal.charged_minor(card["payment_id"]) == total
    assert [e.operation for e in terminal.journal()] == ["sale"]
    assert post(c, f"/v1/carts/{cart}/complete", {}).status_code == 201


def test_removing_a_card_tender_reverses_it(card_store, terminal) -> None:
    c = card_store().client()
    cart, total = _cart(c, "BREAD-500G")
    pid = _card_payment(_card(c, cart, total).json())["payment_id"]
    assert terminal.charged_minor(pid) == total
    r = c.delete(f"/v1/carts/{cart}/tenders/1", headers={"Idempotency-Key": new_key()})
    assert r.status_code == 200, r.text
    assert _card_payment(r.json())["state"] == "voided" and r.json()["amount_due_minor"] == total
    assert terminal.charged_minor(pid) == 0
    assert_problem(c.delete(f"/v1/carts/{cart}/tenders/1", headers={"Idempotency-Key": new_key()}),
                   409, "illegal-payment-transition")
    assert [e.operation for e in terminal.journal()] == ["sale", "reversal"]


def test_a_card_refund_goes_back_to_the_same_card(card_store, terminal) -> None:
    live = card_store()
    c = live.client()
    cart, total = _cart(c, "COFFEE-250G", "BREAD-500G")
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 300})
    pid = _card_payment(_card(c, cart, total - 300).json())["payment_id"]
    order = post(c, f"/v1/carts/{cart}/complete", {}).json()
    # One line back: card first (it kept total - 300), cash untouched.
    bread = order["lines"][1]["total_minor"]
    r = post(c, f"/v1/orders/{order['order_id']}/refunds", {"lines": [{"line_no": 2, "qty": 1}]})
    assert r.status_code == 201, r.text
    assert [(a["tender_type"], a["amount_minor"], a["state"])
            for a in r.json()["allocations"]] == [("card", bread, "refunded")]
    assert terminal.charged_minor(pid) == total - 300 - bread
    refund = next(e for e in terminal.journal() if e.operation == "refund")
    assert refund.amount_minor == bread
    # The rest: card for what it still kept, then cash last.
    r = post(live.client("manager-1"), f"/v1/orders/{order['order_id']}/refunds", {})
    assert [(a["tender_type"], a["amount_minor"]) for a in r.json()["allocations"]] == [
        ("card", total - 300 - bread), ("cash", 300)]
    assert terminal.charged_minor(pid) == 0


def test_offline_cards_within_policy_then_forwarded(card_store, terminal) -> None:
    live = card_store(offline_floor_limit_minor="1000", offline_cap_minor="600")
    c, manager = live.client(), live.client("manager-1")
    terminal.set_link(False)
    cart, total = _cart(c, "BREAD-500G")
    r = _card(c, cart, total)
    assert r.status_code == 201, r.text
    card = _card_payment(r.json())
    assert card["state"] == "stored"
    big, big_total = _cart(c, "TSHIRT-BLK-M")
    seq = head_seq(live)
    body = assert_problem(_card(c, big, big_total), 409, "card-offline-refused")
    assert "floor limit" in body["detail"]
    second, coffee = _cart(c, "COFFEE-250G")
    seq = head_seq(live)
    body = assert_problem(_card(c, second, coffee), 409, "card-offline-refused")
    assert "cap" in body["detail"]  # 2.49 stored + 4.99 > 6.00
    assert head_seq(live) == seq
    text = httpx.get(f"{live.url}/metrics").text
    assert "novapos_payments_stored_offline 1.0" in text
    assert f"novapos_payments_stored_offline_minor {float(total)}" in text
    order = post(c, f"/v1/carts/{cart}/complete", {}).json()
    assert order["tenders"][0]["state"] == "stored"

    terminal.set_link(True)
    r = post(manager, "/v1/payments/forward", {})
    assert r.status_code == 200, r.text
    assert r.json() == {"forwarded": 1, "forward_declined": 0, "stored_count": 0,
                        "stored_minor": 0}
    assert c.get(f"/v1/payments/{card['payment_id']}").json()["state"] == "forwarded"
    assert terminal.charged_minor(card["payment_id"]) == total


def test_a_decline_after_forwarding_is_a_follow_up(card_store, terminal) -> None:
    live = card_store()
    c = live.client()
    cart, total = _cart(c, "BREAD-500G")
    terminal.script("offline", forward_decline=True)
    pid = _card_payment(_card(c, cart, total).json())["payment_id"]
    assert post(c, f"/v1/carts/{cart}/complete", {}).status_code == 201
    r = post(live.client("manager-1"), "/v1/payments/forward", {})
    assert r.json()["forward_declined"] == 1
    assert c.get(f"/v1/payments/{pid}").json()["state"] == "forward_declined"
    types = [t for (t,) in live.service.reader.execute(
        "SELECT type FROM events WHERE stream = ?", (f"payment:{pid}",))]
    assert types[-1] == "payment.forward_declined"
    assert "novapos_payments_forward_declined_total 1.0" in httpx.get(f"{live.url}/metrics").text


def test_stored_payments_age_out_under_the_policy(card_store, terminal) -> None:
    live = card_store()
    c = live.client()
    terminal.set_link(False)
    cart, total = _cart(c, "BREAD-500G")
    pid = _card_payment(_card(c, cart, total).json())["payment_id"]
    live.clock.advance(25 * 3_600_000)  # past the 24 h upload window
    other, _ = _cart(c, "MILK-1L")
    body = assert_problem(_card(c, other, 119), 409, "card-offline-refused")
    assert "upload window" in body["detail"]
    live.clock.advance(48 * 3_600_000)  # past 72 h: can never be forwarded
    r = post(live.client("manager-1"), "/v1/payments/forward", {})
    assert r.json()["forward_declined"] == 1
    assert c.get(f"/v1/payments/{pid}").json()["state"] == "forward_declined"


def test_terminal_unreachable_is_refused_before_anything_is_recorded(live_with) -> None:
    live = live_with({"NOVAPOS_TENDER__TERMINAL_HOST": "127.0.0.1",
                      "NOVAPOS_TENDER__TERMINAL_PORT": "9",
                      "NOVAPOS_TENDER__TERMINAL_CONNECT_TIMEOUT_S": "0.5"})
    c = live.client()
    cart, total = _cart(c, "BREAD-500G")
    seq = head_seq(live)
    assert_problem(_card(c, cart, total), 503, "payment-terminal-unavailable")
    assert head_seq(live) == seq


def test_refused_reversal_and_refund_leave_the_card_as_it_was(card_store, terminal) -> None:
    live = card_store()
    c = live.client()
    cart, total = _cart(c, "BREAD-500G")
    pid = _card_payment(_card(c, cart, total).json())["payment_id"]
    assert_problem(post(c, f"/v1/carts/{cart}/void", {}), 409, "card-tender-active")
    terminal.script("decline")
    body = assert_problem(c.delete(f"/v1/carts/{cart}/tenders/1",
                                   headers={"Idempotency-Key": new_key()}),
                          409, "reversal-refused")
    assert body["state"] == "captured" and terminal.charged_minor(pid) == total
    order = post(c, f"/v1/carts/{cart}/complete", {}).json()

    terminal.script("decline")
    r = post(c, f"/v1/orders/{order['order_id']}/refunds", {})
    assert r.status_code == 201, r.text
    assert [(a["tender_type"], a["state"]) for a in r.json()["allocations"]] == [
        ("card", "failed")]
    assert r.json()["refunded_minor"] == 0
    assert c.get(f"/v1/payments/{pid}").json()["state"] == "captured"
    assert terminal.charged_minor(pid) == total
    r = post(c, f"/v1/orders/{order['order_id']}/refunds", {})  # asked again: it goes through
    assert r.json()["refunded_minor"] == total and terminal.charged_minor(pid) == 0

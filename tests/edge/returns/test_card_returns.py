"""Returns and exchanges with cards, against the ZVT terminal emulator over real TCP: money is
checked in the emulator's journal, not only in what the daemon believes.

- money back asked onto a card that did not pay the order is `card_not_original`: refused
  (409 `card-not-original`, nothing appended, nothing sent to the terminal), or, where
  `[returns] other_card = "manager"`, a manager's (flagged, still by the original reference);
- an exchange whose new cart carries a pre-authorized card: the hold books only what the
  exchange credit leaves.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from drivers.emulators.zvt_terminal import ZvtTerminalEmulator
from tests.edge.api.helpers import assert_problem, head_seq, open_cart, post
from tests.support.live_app import LiveApp
from tests.support.store import verify

OTHER_PAN = "5100********9876"


@pytest.fixture
def terminal() -> Iterator[ZvtTerminalEmulator]:
    with ZvtTerminalEmulator(busy_wait_s=0.5) as emu:
        yield emu


@pytest.fixture
def card_store(live_with, terminal: ZvtTerminalEmulator):
    started: list[LiveApp] = []

    def start(**env: str) -> LiveApp:
        started.append(live_with({
            "NOVAPOS_TENDER__TERMINAL_HOST": "127.0.0.1",
            "NOVAPOS_TENDER__TERMINAL_PORT": str(terminal.port),
            "NOVAPOS_TENDER__TERMINAL_TRANSACTION_TIMEOUT_S": "2",
            "NOVAPOS_TENDER__RECONCILE_INTERVAL_S": "0.2",
            **env}))
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


def _tender(c: httpx.Client, cart: str, kind: str, amount: int, **kw) -> dict:
    r = post(c, f"/v1/carts/{cart}/tenders", {"tender_type": kind, "amount_minor": amount, **kw})
    assert r.status_code == 201, r.text
    return r.json()


def _sale(c: httpx.Client, *skus: str, kind: str = "card") -> dict:
    cart, total = _cart(c, *skus)
    _tender(c, cart, kind, total)
    r = post(c, f"/v1/carts/{cart}/complete", {})
    assert r.status_code == 201, r.text
    return r.json()


def _card_of(order: dict) -> dict:
    return next(t for t in order["tenders"] if t["tender_type"] == "card")["reference"]


def _ops(emu: ZvtTerminalEmulator) -> list[tuple[str, str, int]]:
    return [(e.operation, e.state, e.amount_minor) for e in emu.journal()]


def test_money_back_to_another_card_is_refused_card_not_original(card_store, terminal) -> None:
    live = card_store()
    c = live.client()
    order = _sale(c, "COFFEE-250G", "BREAD-500G")
    ref = _card_of(order)
    journal = _ops(terminal)
    line = {"line_no": 1, "qty": 1, "reason": "changed_mind"}
    req = {"receipt_number": order["receipt_number"], "lines": [line],
           "card": {"masked_pan": OTHER_PAN}}
    seq = head_seq(live)
    body = assert_problem(post(c, "/v1/returns", req), 409, "card-not-original")
    assert OTHER_PAN in body["detail"] and ref["masked_pan"] in body["detail"]
    assert "card_not_original" in body["detail"] and "card that paid" in body["detail"]
    # Shown before confirming: the quote refuses it the same way.
    assert_problem(post(c, "/v1/returns/quote", req), 409, "card-not-original")
    # The right last four with another approval code is not the card either.
    assert_problem(post(c, "/v1/returns", {**req, "card": {
        "masked_pan": "****" + ref["masked_pan"][-4:], "approval_code": "ZZZ999"}}),
        409, "card-not-original")
    # A whole card number is never taken as the card.
    assert_problem(post(c, "/v1/returns", {**req, "card": {"masked_pan": "4999123412341234"}}),
                   400, "invalid-request")
    assert head_seq(live) == seq and _ops(terminal) == journal
    [left] = c.get("/v1/returns/orders", params={"order_id": order["order_id"]}).json()
    assert left["lines"][0]["returnable_qty_milli"] == 1000
    assert left["refundable_minor"] == order["total_minor"]

    # The card that paid (as its slip shows it) takes the money back, by its reference.
    r = post(c, "/v1/returns", {**req, "card": {"masked_pan": "****" + ref["masked_pan"][-4:],
                                                "approval_code": ref["approval_code"]}})
    assert r.status_code == 201, r.text
    assert "card_not_original" not in r.json()["flags"]
    assert [(a["tender_type"], a["amount_minor"], a["state"])
            for a in r.json()["refund"]["allocations"]] == [("card", 499, "refunded")]
    assert _ops(terminal)[-1] == ("refund", "done", 499)
    [left] = c.get("/v1/returns/orders", params={"order_id": order["order_id"]}).json()
    assert left["refundable_minor"] == order["total_minor"] - 499

    # An order paid in cash has no card to send money back to.
    cash = _sale(c, "BREAD-500G", kind="cash")
    body = assert_problem(post(c, "/v1/returns", {
        "order_id": cash["order_id"], "lines": [line], "card": {"masked_pan": OTHER_PAN}}),
        409, "card-not-original")
    assert "no card paid" in body["detail"]
    # Store credit names no card.
    assert_problem(post(c, "/v1/returns", {**req, "refund_to": "store_credit", "lines": [
        {"line_no": 2, "qty": 1, "reason": "changed_mind"}]}), 422, "invalid-input")


def test_another_card_under_a_manager_policy_is_a_managers_and_flagged(card_store,
                                                                        terminal) -> None:
    live = card_store(NOVAPOS_RETURNS__OTHER_CARD="manager")
    c = live.client()
    order = _sale(c, "COFFEE-250G")
    req = {"order_id": order["order_id"], "card": {"masked_pan": OTHER_PAN},
           "lines": [{"line_no": 1, "qty": 1, "reason": "changed_mind"}]}
    q = post(c, "/v1/returns/quote", req)
    assert q.status_code == 200, q.text
    assert q.json()["manager_rule"] == "card_not_original"
    assert "card_not_original" in q.json()["flags"]
    seq = head_seq(live)
    body = assert_problem(post(c, "/v1/returns", req), 403, "manager-approval-required")
    assert "card_not_original" in body["detail"]
    assert head_seq(live) == seq
    r = post(live.client("manager-1"), "/v1/returns", req)
    assert r.status_code == 201, r.text
    assert "card_not_original" in r.json()["flags"]
    # The terminal refunds only by reference: the money lands where it came from.
    assert [(a["tender_type"], a["state"], a["reference"]["masked_pan"])
            for a in r.json()["refund"]["allocations"]] == [
        ("card", "refunded", _card_of(order)["masked_pan"])]
    assert terminal.journal()[-1].operation == "refund"
    assert terminal.journal()[-1].original_receipt_no == terminal.journal()[0].receipt_no


def test_an_exchange_books_a_hold_on_the_new_cart_for_only_the_difference(card_store,
                                                                           terminal) -> None:
    live = card_store()
    c = live.client()
    order = _sale(c, "BREAD-500G", kind="cash")  # 2.49 to return
    cart, total = _cart(c, "COFFEE-250G")  # 4.99 to sell
    view = _tender(c, cart, "card", total, capture="deferred")  # the whole total held
    hold = next(t for t in view["tenders"] if t["tender_type"] == "card")
    assert hold["state"] == "authorized"
    req = {"cart_id": cart, "order_id": order["order_id"],
           "lines": [{"line_no": 1, "qty": 1, "reason": "changed_mind"}]}
    r = post(c, "/v1/exchanges", req, key="exchange-over-a-hold")
    assert r.status_code == 201, r.text
    ex = r.json()
    assert ex["difference_minor"] == total - 249
    assert sorted((t["tender_type"], t["amount_minor"]) for t in ex["sold"]["tenders"]) == [
        ("card", total - 249), ("voucher", 249)]
    assert ex["returned"]["exchange_order_id"] == ex["sold"]["order_id"]
    assert ex["returned"]["refund"]["allocations"] == []
    # The card was charged the difference once, from its hold.
    assert _ops(terminal)[-2:] == [("preauth", "captured", total),
                                   ("book_total", "booked", total - 249)]
    assert terminal.charged_minor(hold["payment_id"]) == total - 249
    # A retry is the stored answer: nothing booked again, nothing returned twice.
    again = post(c, "/v1/exchanges", req, key="exchange-over-a-hold")
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["returned"]["return_id"] == ex["returned"]["return_id"]
    assert len(terminal.journal()) == 2  # the preauth and its one book total
    [left] = c.get("/v1/returns/orders", params={"order_id": order["order_id"]}).json()
    assert left["lines"][0]["returnable_qty_milli"] == 0


def test_an_exchange_whose_credit_covers_the_sale_refuses_the_hold(card_store,
                                                                   terminal) -> None:
    live = card_store()
    c = live.client()
    order = _sale(c, "COFFEE-250G", kind="cash")  # 4.99 to return
    cart, total = _cart(c, "BREAD-500G")  # 2.49 to sell
    _tender(c, cart, "card", total, capture="deferred")
    journal = _ops(terminal)
    seq = head_seq(live)
    req = {"cart_id": cart, "order_id": order["order_id"],
           "lines": [{"line_no": 1, "qty": 1, "reason": "changed_mind"}]}
    assert_problem(post(c, "/v1/exchanges", req), 409, "hold-not-needed")
    assert head_seq(live) == seq and _ops(terminal) == journal  # nothing booked, nothing kept
    # Over the line's returnable quantity: refused before the hold is booked.
    assert_problem(post(c, "/v1/exchanges", {**req, "lines": [
        {"line_no": 1, "qty": 2, "reason": "changed_mind"}]}), 409, "return-exceeds-returnable")
    assert head_seq(live) == seq and _ops(terminal) == journal


def test_an_exchange_gives_back_only_to_the_card_that_paid(card_store, terminal) -> None:
    live = card_store()
    c = live.client()
    order = _sale(c, "COFFEE-250G")  # 4.99 by card
    ref = _card_of(order)
    cart, total = _cart(c, "BREAD-500G")  # 2.49: 2.50 goes back
    req = {"cart_id": cart, "order_id": order["order_id"], "card": {"masked_pan": OTHER_PAN},
           "lines": [{"line_no": 1, "qty": 1, "reason": "wrong_size"}]}
    seq = head_seq(live)
    assert_problem(post(c, "/v1/exchanges", req), 409, "card-not-original")
    assert head_seq(live) == seq and [e.operation for e in terminal.journal()] == ["sale"]
    r = post(c, "/v1/exchanges", {**req, "card": {"masked_pan": ref["masked_pan"]}})
    assert r.status_code == 201, r.text
    assert [(a["tender_type"], a["amount_minor"], a["state"])
            for a in r.json()["returned"]["refund"]["allocations"]] == [
        ("card", 499 - total, "refunded")]
    assert _ops(terminal)[-1] == ("refund", "done", 499 - total)


def test_an_exchange_over_a_hold_is_approved_once_before_the_hold_is_booked(
        card_store, terminal) -> None:
    from tests.edge.approvals.helpers import PIN, admin, enroll

    live = card_store()
    with admin(live.url, live.service.data_dir) as a:
        enroll(a, "anna")
    c = live.client()
    sale = open_cart(c)
    view = post(c, f"/v1/carts/{sale}/lines", {"sku": "TSHIRT-BLK-M", "qty": 5}).json()
    _tender(c, sale, "cash", view["total_minor"])
    order = post(c, f"/v1/carts/{sale}/complete", {}).json()  # over the 50.00 cashier limit
    cart = open_cart(c)
    total = post(c, f"/v1/carts/{cart}/lines", {"sku": "TSHIRT-BLK-M", "qty": 6}).json()[
        "total_minor"]
    _tender(c, cart, "card", total, capture="deferred")
    req = {"cart_id": cart, "order_id": order["order_id"],
           "lines": [{"line_no": 1, "qty": 5, "reason": "wrong_size"}]}
    r = post(c, "/v1/exchanges", req, key="exchange-approved")
    need = assert_problem(r, 403, "approval-required")["approval"]
    assert [e.operation for e in terminal.journal()] == ["preauth"]  # nothing booked yet
    r = post(c, f"/v1/approvals/{need['approval_id']}/pin", {"approver_id": "anna", "pin": PIN})
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    r = post(c, "/v1/exchanges", req, key="exchange-approved",
             headers={"X-Approval-Token": token})
    assert r.status_code == 201, r.text
    assert _ops(terminal)[-1] == ("book_total", "booked", total - order["total_minor"])
    used = live.service.reader.execute(
        "SELECT COUNT(*) FROM events WHERE type = 'approval.used'").fetchall()[0][0]
    assert used == 1


def test_a_return_is_found_by_masked_pan_expiry_and_approval_code(card_store, terminal) -> None:
    """The card used, as its slip and the card itself show it: the masked PAN and approval
    code the terminal printed, and the card's expiry (reported by the terminal as BMP 0E and
    kept with the payment). A wrong expiry finds nothing; a lookup without one still works."""
    live = card_store()
    c = live.client()
    terminal.script("approve", masked_pan="5413EEEEEEEE0004", card_name="Mastercard",
                    expiry="2703")
    order = _sale(c, "COFFEE-250G")
    _sale(c, "BREAD-500G")  # another card sale: the emulator's default card, expiry 12/28
    ref = _card_of(order)
    assert ref["masked_pan"] == "5413********0004"
    card = {"masked_pan": ref["masked_pan"], "approval_code": ref["approval_code"]}

    def find(**params: str) -> httpx.Response:
        return c.get("/v1/returns/orders", params={**card, **params})

    for expiry in ("03/27", "2703"):  # as the card prints it, or as the terminal reports it
        r = find(expiry=expiry)
        assert r.status_code == 200, r.text
        assert [o["order_id"] for o in r.json()] == [order["order_id"]]
        assert r.json()[0]["lines"][0]["returnable_qty_milli"] == 1000
    body = assert_problem(find(expiry="12/28"), 404, "not-found")
    assert "expiry" in body["detail"]
    r = find()
    assert r.status_code == 200 and [o["order_id"] for o in r.json()] == [order["order_id"]]
    for bad in ("13/27", "2713", "3/27", "0327x"):
        assert_problem(find(expiry=bad), 400, "invalid-request")
    # An expiry alone is no card (as a masked PAN without its approval code is not).
    assert_problem(c.get("/v1/returns/orders", params={"expiry": "03/27"}), 422,
                   "invalid-input")
    # Kept with the payment as the terminal sent it, and never beside a whole PAN.
    rows = live.service.reader.execute(
        "SELECT card_masked_pan, card_expiry FROM payments WHERE order_id = ?",
        (order["order_id"],)).fetchall()
    assert rows == [("5413********0004", "2703")]

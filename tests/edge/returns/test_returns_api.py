"""Returns and exchanges through the real HTTP API on loopback (cash, voucher and "other"
tenders; cards in the acceptance test and `test_card_returns.py`)."""

from __future__ import annotations

import threading

import httpx

from tests.edge.api.helpers import assert_problem, head_seq, open_cart, post
from tests.support.live_app import LiveApp
from tests.support.store import verify

DAY_MS = 86_400_000


def _sale(c: httpx.Client, *lines: tuple[str, int], cash_extra: int = 0) -> dict:
    cart = open_cart(c)
    view = {}
    for sku, qty in lines:
        view = post(c, f"/v1/carts/{cart}/lines", {"sku": sku, "qty": qty}).json()
    r = post(c, f"/v1/carts/{cart}/tenders",
             {"tender_type": "cash", "amount_minor": view["total_minor"] + cash_extra})
    assert r.status_code == 201, r.text
    r = post(c, f"/v1/carts/{cart}/complete", {})
    assert r.status_code == 201, r.text
    return r.json()


def _ret(c: httpx.Client, order: dict, *lines: dict, **kw) -> httpx.Response:
    return post(c, "/v1/returns", {"receipt_number": order["receipt_number"],
                                   "lines": list(lines), **kw})


def test_find_by_receipt_then_return_part_and_the_rest_never_more(live: LiveApp) -> None:
    c = live.client()
    order = _sale(c, ("COFFEE-250G", 3), ("BREAD-500G", 1))
    found = c.get("/v1/returns/orders", params={"receipt_number": order["receipt_number"]})
    assert found.status_code == 200, found.text
    [ro] = found.json()
    assert ro["order_id"] == order["order_id"] and ro["within_window"]
    assert [(ln["returnable_qty_milli"], ln["returnable_minor"]) for ln in ro["lines"]] == [
        (3000, 1497), (1000, 249)]

    r = _ret(c, order, {"line_no": 1, "qty": 1, "reason": "changed_mind"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["amount_minor"] == 499 and body["refund"]["refunded_minor"] == 499
    assert [(a["tender_type"], a["amount_minor"]) for a in body["refund"]["allocations"]] == [
        ("cash", 499)]
    seq = head_seq(live)
    assert_problem(_ret(c, order, {"line_no": 1, "qty": 3, "reason": "changed_mind"}),
                   409, "return-exceeds-returnable")
    assert head_seq(live) == seq
    # The existing refund route sees what returns took: one count per line.
    assert_problem(post(c, f"/v1/orders/{order['order_id']}/refunds",
                        {"lines": [{"line_no": 1, "qty": 3}]}), 409, "refund-refused")
    r = _ret(c, order, {"line_no": 1, "qty": 2, "reason": "defective", "disposition": "damaged"})
    assert r.status_code == 201 and r.json()["amount_minor"] == 998  # 3 x 4.99 exactly
    [ro] = c.get("/v1/returns/orders", params={"order_id": order["order_id"]}).json()
    assert [(ln["returnable_qty_milli"], ln["returnable_minor"]) for ln in ro["lines"]] == [
        (0, 0), (1000, 249)]
    assert verify(live.service.db_path).ok


def test_the_same_line_from_two_lanes_at_once_exactly_one_wins(live: LiveApp) -> None:
    order = _sale(live.client(), ("TSHIRT-BLK-M", 1))
    start = threading.Barrier(2)
    answers: list[httpx.Response] = []

    def lane(name: str) -> None:
        with live.client(name) as c:
            start.wait()
            answers.append(_ret(c, order, {"line_no": 1, "qty": 1, "reason": "wrong_size"}))

    threads = [threading.Thread(target=lane, args=(n,)) for n in ("lane-1", "lane-2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
    loser = next(r for r in answers if r.status_code == 409)
    assert assert_problem(loser, 409, "return-exceeds-returnable")["lines"] == [1]
    rows = live.service.reader.execute("SELECT COUNT(*) FROM returns").fetchall()
    assert rows[0][0] == 1


def test_bad_returns_are_refused_and_change_nothing(live_with) -> None:
    live = live_with({"NOVAPOS_RETURNS__FINAL_SALE_SKUS": '["BREAD-500G"]'})
    c = live.client()
    order = _sale(c, ("COFFEE-250G", 1), ("BREAD-500G", 1))
    seq = head_seq(live)
    assert_problem(_ret(c, order, {"line_no": 2, "qty": 1, "reason": "changed_mind"}),
                   409, "final-sale")
    assert_problem(_ret(c, order, {"line_no": 1, "qty": 1, "reason": "no_such_reason"}),
                   422, "invalid-input")
    assert_problem(_ret(c, order, {"line_no": 9, "qty": 1, "reason": "changed_mind"}),
                   422, "invalid-input")
    assert_problem(_ret(c, order, {"line_no": 1, "reason": "changed_mind"}), 422,
                   "invalid-input")
    r = post(c, "/v1/returns", {"receipt_number": "nope", "lines": [
        {"line_no": 1, "qty": 1, "reason": "changed_mind"}]})
    assert_problem(r, 404, "not-found")
    assert head_seq(live) == seq


def test_restocking_fee_shown_in_the_quote_and_kept_from_the_refund(live_with) -> None:
    live = live_with({"NOVAPOS_RETURNS__RESTOCKING_FEES":
                      '[{sku = "COFFEE-250G", percent_bp = 1500, cap_minor = 60}]'})
    c = live.client()
    order = _sale(c, ("COFFEE-250G", 2))
    req = {"receipt_number": order["receipt_number"],
           "lines": [{"line_no": 1, "qty": 2, "reason": "changed_mind"}]}
    q = post(c, "/v1/returns/quote", req)
    assert q.status_code == 200, q.text
    assert (q.json()["fee_minor"], q.json()["amount_minor"]) == (60, 998 - 60)  # 15 % capped
    r = post(c, "/v1/returns", req)
    assert r.status_code == 201 and r.json()["refund"]["refunded_minor"] == 938
    receipt = c.get(f"/v1/returns/{r.json()['return_id']}/receipt").json()
    assert receipt["original_receipt_number"] == order["receipt_number"]
    assert receipt["fee_text"] == "-0.60 EUR" and receipt["total_text"] == "9.38 EUR"
    assert [(m["text"], m["amount_text"]) for m in receipt["money"]] == [
        ("REFUND CASH", "9.38 EUR")]
    assert receipt["lines"][0]["reason"] == "changed_mind"
    assert receipt["lines"][0]["text"] == "Arabica Ground Coffee 250 g"
    # A defect carries no fee.
    order = _sale(c, ("COFFEE-250G", 1))
    r = _ret(c, order, {"line_no": 1, "qty": 1, "reason": "defective"})
    assert r.json()["fee_minor"] == 0 and r.json()["amount_minor"] == 499


def test_store_credit_instead_of_cash(live: LiveApp) -> None:
    c = live.client()
    order = _sale(c, ("COFFEE-250G", 1))
    r = _ret(c, order, {"line_no": 1, "qty": 1, "reason": "changed_mind"},
             refund_to="store_credit")
    assert r.status_code == 201, r.text
    credit = r.json()["store_credit"]
    assert credit["amount_minor"] == 499 and r.json()["refund"]["refunded_minor"] == 0
    assert c.get(f"/v1/vouchers/{credit['code']}").json()["balance_minor"] == 499
    receipt = c.get(f"/v1/returns/{r.json()['return_id']}/receipt").json()
    assert [(m["text"], m["detail"]) for m in receipt["money"]] == [
        ("STORE CREDIT", credit["code"])]


def test_outside_the_window_or_over_the_limit_a_manager_must_make_it(live: LiveApp) -> None:
    c = live.client()
    big = _sale(c, ("TSHIRT-BLK-M", 5))  # above the 50.00 cashier limit
    body = assert_problem(_ret(c, big, {"line_no": 1, "qty": 5, "reason": "changed_mind"}),
                          403, "manager-approval-required")
    assert "exceeds the cashier limit" in body["detail"]
    order = _sale(c, ("COFFEE-250G", 1))
    live.clock.advance(31 * DAY_MS)
    [ro] = c.get("/v1/returns/orders", params={"receipt_number": order["receipt_number"]}).json()
    assert ro["age_days"] == 31 and not ro["within_window"]
    body = assert_problem(_ret(c, order, {"line_no": 1, "qty": 1, "reason": "changed_mind"}),
                          403, "manager-approval-required")
    assert "outside the 30-day return window" in body["detail"]
    r = _ret(live.client("manager-1"), order, {"line_no": 1, "qty": 1, "reason": "changed_mind"})
    assert r.status_code == 201 and "outside_window" in r.json()["flags"]


def test_receiptless_store_credit_at_the_lowest_recent_price_and_velocity(live: LiveApp) -> None:
    c = live.client()
    item = {"sku": "MILK-1L", "qty": 1, "reason": "changed_mind"}
    made = []
    for _ in range(3):
        r = post(c, "/v1/returns/receiptless", {"customer": "+49 170 1234567", "items": [item]})
        assert r.status_code == 201, r.text
        made.append(r.json())
    assert all(m["refund_to"] == "store_credit" and m["store_credit"]["amount_minor"] == 119
               for m in made)
    seq = head_seq(live)
    body = assert_problem(post(c, "/v1/returns/receiptless",
                               {"customer": "+49 (170) 123-4567", "items": [item]}),
                          403, "manager-approval-required")
    assert "receiptless returns" in body["detail"]
    assert head_seq(live) == seq
    # Another customer is not affected; the identifier is never stored, only its keyed hash.
    r = post(c, "/v1/returns/receiptless", {"customer": "ann@example.com", "items": [item]})
    assert r.status_code == 201
    rows = live.service.reader.execute("SELECT customer_hash FROM returns").fetchall()
    assert all(h and "1234567" not in h and "example" not in h for (h,) in rows)
    raw = live.service.db_path.read_bytes()
    assert b"1234567" not in raw and b"ann@example.com" not in raw
    assert_problem(post(c, "/v1/returns/receiptless", {"customer": "not a phone", "items": [item]}),
                   422, "invalid-input")


def test_uneven_and_even_exchanges(live: LiveApp) -> None:
    c = live.client()
    order = _sale(c, ("COFFEE-250G", 1), ("BREAD-500G", 2))
    # Bread back (2.49), coffee out (4.99): the customer pays 2.50.
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "COFFEE-250G"})
    req = {"cart_id": cart, "order_id": order["order_id"],
           "lines": [{"line_no": 2, "qty": 1, "reason": "changed_mind"}]}
    seq = head_seq(live)
    assert_problem(post(c, "/v1/exchanges", req), 409, "tender-insufficient")
    assert head_seq(live) == seq
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 250})
    r = post(c, "/v1/exchanges", req)
    assert r.status_code == 201, r.text
    ex = r.json()
    assert ex["difference_minor"] == 250 and ex["sold"]["total_minor"] == 499
    assert ex["returned"]["exchange_order_id"] == ex["sold"]["order_id"]
    assert ex["returned"]["refund"]["refunded_minor"] == 0
    # Even: the other bread for a bread. No money moves.
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"})
    r = post(c, "/v1/exchanges", {**req, "cart_id": cart})
    assert r.status_code == 201, r.text
    ex = r.json()
    assert ex["difference_minor"] == 0
    assert [t["tender_type"] for t in ex["sold"]["tenders"]] == ["voucher"]
    assert ex["returned"]["refund"]["allocations"] == []
    # Coffee back (4.99) for bread (2.49): 2.50 back to the original cash.
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"})
    r = post(c, "/v1/exchanges", {**req, "cart_id": cart,
                                  "lines": [{"line_no": 1, "qty": 1, "reason": "wrong_size"}]})
    ex = r.json()
    assert ex["difference_minor"] == -250
    assert [(a["tender_type"], a["amount_minor"]) for a in ex["returned"]["refund"]["allocations"]
            ] == [("cash", 250)]
    assert verify(live.service.db_path).ok


def test_the_z_report_counts_returns_exchanges_fees_and_store_credit(live_with) -> None:
    live = live_with({"NOVAPOS_RETURNS__RESTOCKING_FEES":
                      '[{sku = "COFFEE-250G", amount_minor = 50}]'})
    c = live.client()
    order = _sale(c, ("COFFEE-250G", 2), ("BREAD-500G", 2))
    assert _ret(c, order, {"line_no": 1, "qty": 1, "reason": "changed_mind"}).status_code == 201
    assert _ret(c, order, {"line_no": 2, "qty": 1, "reason": "changed_mind"},
                refund_to="store_credit").status_code == 201
    assert post(c, "/v1/returns/receiptless", {"customer": "bob@example.com", "items": [
        {"sku": "MILK-1L", "qty": 1, "reason": "changed_mind"}]}).status_code == 201
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"})
    r = post(c, "/v1/exchanges", {"cart_id": cart, "order_id": order["order_id"],
                                  "lines": [{"line_no": 2, "qty": 1, "reason": "wrong_size"}]})
    assert r.status_code == 201, r.text
    z = live.client("manager-1").get("/v1/reports/z").json()
    assert (z["returns_count"], z["receiptless_returns_count"], z["exchanges_count"]) == (4, 1, 1)
    assert z["restocking_fee_minor"] == 50
    assert z["returned_minor"] == (499 - 50) + 249 + 119 + 249
    assert z["store_credit_issued_minor"] == 249 + 119
    cash = next(t for t in z["tenders"] if t["tender_type"] == "cash")
    assert cash["refunded_minor"] == cash["returns_refunded_minor"] == 449


def test_a_retried_return_is_replayed_not_made_twice(live: LiveApp) -> None:
    c = live.client()
    order = _sale(c, ("COFFEE-250G", 2))
    body = {"order_id": order["order_id"],
            "lines": [{"line_no": 1, "qty": 1, "reason": "changed_mind"}]}
    first = post(c, "/v1/returns", body, key="return-once-1")
    again = post(c, "/v1/returns", body, key="return-once-1")
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["return_id"] == first.json()["return_id"]
    [ro] = c.get("/v1/returns/orders", params={"order_id": order["order_id"]}).json()
    assert ro["lines"][0]["returnable_qty_milli"] == 1000
    assert_problem(post(c, "/v1/returns", {**body, "lines": [
        {"line_no": 1, "qty": 1, "reason": "defective"}]}, key="return-once-1"), 422,
        "idempotency-key-reused")


def test_lookups_refuse_what_they_cannot_answer(live: LiveApp) -> None:
    c = live.client()
    assert_problem(c.get("/v1/returns/orders"), 422, "invalid-input")
    assert_problem(c.get("/v1/returns/orders", params={"masked_pan": "****1234"}), 422,
                   "invalid-input")
    assert_problem(c.get("/v1/returns/orders", params={"masked_pan": "****1234",
                                                       "approval_code": "X"}), 404, "not-found")
    assert_problem(c.get("/v1/returns/no-such-return"), 404, "not-found")


def test_a_return_puts_back_on_stock_only_what_goes_back_to_stock(live: LiveApp) -> None:
    c = live.client()

    def on_hand() -> int:
        r = c.get("/v1/stock", params={"sku": "COFFEE-250G"})
        assert r.status_code == 200, r.text
        return r.json()["on_hand_milli"]

    before = on_hand()
    order = _sale(c, ("COFFEE-250G", 3))
    assert on_hand() == before - 3000
    assert _ret(c, order, {"line_no": 1, "qty": 1, "reason": "changed_mind"}).status_code == 201
    assert on_hand() == before - 2000  # back to stock (the default disposition)
    r = _ret(c, order, {"line_no": 1, "qty": 2, "reason": "defective", "disposition": "damaged"})
    assert r.status_code == 201, r.text
    assert on_hand() == before - 2000  # damaged goods are not sellable stock
    assert verify(live.service.db_path).ok  # the stock read model rebuilds the same


def test_finding_orders_by_card_reads_an_index_not_every_payment(live: LiveApp) -> None:
    """The lookup by card runs on every receiptless-looking return at the counter: over a
    year's payments a scan of the table is seconds (bench/returns.py)."""
    from edge.returns import commands

    for expiry in (None, "2812"):  # the expiry filters what the index finds
        plan = live.service.reader.execute("EXPLAIN QUERY PLAN " + commands.BY_CARD,
                                           ("****1234", "A1", expiry)).fetchall()
        assert any("payments_card_pan" in row[-1] for row in plan), plan
        assert commands.orders_by_card(live.service.reader, "****1234", "A1", expiry) == []


def test_store_credit_as_the_policys_only_choice(live_with) -> None:
    live = live_with({"NOVAPOS_RETURNS__RECEIPTED_REFUND_TO": '"store_credit"'})
    c = live.client()
    order = _sale(c, ("COFFEE-250G", 1), ("BREAD-500G", 2))
    seq = head_seq(live)
    body = assert_problem(_ret(c, order, {"line_no": 1, "qty": 1, "reason": "changed_mind"},
                               refund_to="original_tenders"), 409, "return-refused")
    assert "store_credit only" in body["detail"]
    assert head_seq(live) == seq
    r = _ret(c, order, {"line_no": 1, "qty": 1, "reason": "changed_mind"},
             refund_to="store_credit")
    assert r.status_code == 201, r.text
    assert r.json()["store_credit"]["amount_minor"] == 499
    assert r.json()["refund"]["allocations"] == []
    # An even exchange moves no money, so it needs no refund destination at all.
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"})
    r = post(c, "/v1/exchanges", {"cart_id": cart, "order_id": order["order_id"],
                                  "lines": [{"line_no": 2, "qty": 1, "reason": "wrong_size"}]})
    assert r.status_code == 201, r.text
    assert r.json()["difference_minor"] == 0 and r.json()["returned"]["store_credit"] is None
    # An uneven one in the customer's favour gives the rest as store credit, never cash.
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L"})
    r = post(c, "/v1/exchanges", {"cart_id": cart, "order_id": order["order_id"],
                                  "refund_to": "store_credit",
                                  "lines": [{"line_no": 2, "qty": 1, "reason": "wrong_size"}]})
    assert r.status_code == 201, r.text
    assert r.json()["returned"]["store_credit"]["amount_minor"] == 249 - 119
    assert r.json()["returned"]["refund"]["allocations"] == []
    # ... and refuses money back onto the tenders when the policy says store credit only.
    order = _sale(c, ("COFFEE-250G", 1))
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L"})
    seq = head_seq(live)
    assert_problem(post(c, "/v1/exchanges", {
        "cart_id": cart, "order_id": order["order_id"],
        "lines": [{"line_no": 1, "qty": 1, "reason": "wrong_size"}]}), 409, "return-refused")
    assert head_seq(live) == seq


def test_a_return_pays_back_what_was_paid_after_discounts_pro_rata(live: LiveApp) -> None:
    c = live.client("manager-1")  # a discount this size is a manager's
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "COFFEE-250G", "qty": 3})
    view = post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G", "qty": 1}).json()
    r = post(c, f"/v1/carts/{cart}/discounts", {"kind": "percent", "value": 1000,
                                                "reason": "damaged box"})  # 10 % off the cart
    assert r.status_code == 200, r.text
    view = r.json()
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash",
                                          "amount_minor": view["total_minor"]})
    order = post(c, f"/v1/carts/{cart}/complete", {}).json()
    coffee = order["lines"][0]
    assert coffee["discount_minor"] > 0 and coffee["total_minor"] < 1497
    [ro] = c.get("/v1/returns/orders", params={"order_id": order["order_id"]}).json()
    assert ro["lines"][0]["returnable_minor"] == coffee["total_minor"]
    # One at a time, each a third of what was paid (cumulative rounding): all three add up
    # to exactly the discounted total, never the price before the discount.
    paid = []
    for _ in range(3):
        r = _ret(c, order, {"line_no": 1, "qty": 1, "reason": "changed_mind"})
        assert r.status_code == 201, r.text
        paid.append(r.json()["amount_minor"])
    assert sum(paid) == coffee["total_minor"] and max(paid) - min(paid) <= 1


def test_the_window_counts_store_local_business_days(live_with) -> None:
    """Europe/Berlin, day close 04:00: a sale at 11:00 on 2 March is business day 2 March;
    at 03:30 on 4 March it is still business day 3 March (1 day old), at 04:30 it is 4 March
    (2 days), whatever the UTC date says."""
    live = live_with({"NOVAPOS_RETURNS__WINDOW_DAYS": "1"})
    c = live.client()
    order = _sale(c, ("COFFEE-250G", 2))
    assert order["business_date"] == "2026-03-02"
    line = {"line_no": 1, "qty": 1, "reason": "changed_mind"}
    live.clock.advance(int(40.5 * 3_600_000))  # 4 March, 03:30 Berlin (02:30 UTC)
    [ro] = c.get("/v1/returns/orders", params={"order_id": order["order_id"]}).json()
    assert (ro["age_days"], ro["within_window"]) == (1, True)
    assert _ret(c, order, line).status_code == 201
    live.clock.advance(3_600_000)  # 04:30 Berlin: the next business day
    [ro] = c.get("/v1/returns/orders", params={"order_id": order["order_id"]}).json()
    assert (ro["age_days"], ro["within_window"]) == (2, False)
    body = assert_problem(_ret(c, order, line), 403, "manager-approval-required")
    assert "outside the 1-day return window" in body["detail"]

"""Split tender, vouchers, removal and refunds through the real HTTP API (no terminal needed)."""

from __future__ import annotations

import httpx

from tests.conftest import new_key
from tests.edge.api.helpers import assert_problem, head_seq, open_cart, post
from tests.support.live_app import LiveApp

MILK_EAN = "4006381333931"


def _voucher(live: LiveApp, amount: int, code: str | None = None) -> str:
    body = {"amount_minor": amount, **({"code": code} if code else {})}
    r = post(live.client("manager-1"), "/v1/vouchers", body)
    assert r.status_code == 201, r.text
    return r.json()["code"]


def _cart_with(c: httpx.Client, *skus: str) -> tuple[str, dict]:
    cart = open_cart(c)
    view = {}
    for sku in skus:
        view = post(c, f"/v1/carts/{cart}/lines", {"sku": sku}).json()
    return cart, view


def test_split_tender_sale_shows_each_tender_on_order_and_receipt(live: LiveApp) -> None:
    code = _voucher(live, 500, "GIFT-0001-2345")
    c = live.client()
    cart, view = _cart_with(c, "COFFEE-250G", "MILK-1L")
    total = view["total_minor"]
    r = post(c, f"/v1/carts/{cart}/tenders",
             {"tender_type": "voucher", "amount_minor": 300, "voucher_code": code})
    assert r.status_code == 201, r.text
    r = post(c, f"/v1/carts/{cart}/tenders",
             {"tender_type": "other", "amount_minor": 200, "reference": "CHQ-42"})
    assert r.json()["amount_due_minor"] == total - 500
    r = post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 2000})
    view = r.json()
    assert [(t["tender_type"], t["state"]) for t in view["tenders"]] == [
        ("voucher", "captured"), ("other", "captured"), ("cash", "captured")]
    assert view["change_due_minor"] == 2000 - (total - 500)
    assert view["tenders"][0]["reference"] == {"voucher": "**********2345"}

    order = post(c, f"/v1/carts/{cart}/complete", {}).json()
    assert order["total_minor"] == total and order["tendered_minor"] == 2500
    assert order["change_due_minor"] == 2500 - total and order["rounding_minor"] == 0
    tenders = order["tenders"]
    assert [(t["tender_no"], t["tender_type"], t["amount_minor"], t["state"]) for t in tenders] == [
        (1, "voucher", 300, "captured"), (2, "other", 200, "captured"), (3, "cash", 2000, "captured")]
    assert tenders[2]["change_minor"] == 2500 - total
    assert tenders[1]["reference"] == {"reference": "CHQ-42"}
    receipt = c.get(f"/v1/orders/{order['order_id']}/receipt").json()
    assert [(t["text"], t["qty_text"], t["amount_text"]) for t in receipt["tenders"]] == [
        ("VOUCHER", "**********2345", "3.00 EUR"), ("OTHER", "ref CHQ-42", "2.00 EUR"),
        ("CASH", "", "20.00 EUR")]
    assert c.get(f"/v1/vouchers/{code}").json()["balance_minor"] == 200
    payment = c.get(f"/v1/payments/{tenders[0]['payment_id']}").json()
    assert payment["order_id"] == order["order_id"] and payment["state"] == "captured"


def test_cash_rounding_applies_to_the_cash_due_only(live_with) -> None:
    live = live_with({"NOVAPOS_TENDER__CASH_ROUNDING_MINOR": "5"})
    c = live.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"barcode": MILK_EAN, "qty": 2})  # 2.38
    view = post(c, f"/v1/carts/{cart}/lines", {"sku": "BANANA", "qty_milli": 1234}).json()
    assert view["total_minor"] == 484
    assert (view["amount_due_minor"], view["rounding_minor"]) == (484, 0)  # no cash yet
    # An exact "other" tender of 100 leaves 3.84 due in cash, which rounds to 3.85.
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "other", "amount_minor": 100,
                                          "reference": "COUPON-7"})
    view = post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 500}).json()
    assert (view["change_due_minor"], view["rounding_minor"]) == (115, 1)
    order = post(c, f"/v1/carts/{cart}/complete", {}).json()
    assert (order["tendered_minor"], order["change_due_minor"], order["rounding_minor"]) == (
        600, 115, 1)
    receipt = c.get(f"/v1/orders/{order['order_id']}/receipt").json()
    assert receipt["rounding_text"] == "0.01 EUR" and receipt["change_text"] == "1.15 EUR"


def test_only_cash_may_over_tender_and_bad_tenders_change_nothing(live: LiveApp) -> None:
    code = _voucher(live, 100, "SMALL-VOUCHER")
    c = live.client()
    cart, _ = _cart_with(c, "BREAD-500G")  # 2.49
    seq = head_seq(live)
    assert_problem(post(c, f"/v1/carts/{cart}/tenders",
                        {"tender_type": "other", "amount_minor": 250, "reference": "X"}),
                   409, "over-tendered")
    assert_problem(post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "other", "amount_minor": 10}),
                   422, "invalid-input")
    assert_problem(post(c, f"/v1/carts/{cart}/tenders",
                        {"tender_type": "voucher", "amount_minor": 101, "voucher_code": code}),
                   409, "voucher-insufficient")
    assert_problem(post(c, f"/v1/carts/{cart}/tenders",
                        {"tender_type": "voucher", "amount_minor": 50, "voucher_code": "NO-SUCH-CODE"}),
                   422, "unknown-voucher")
    assert_problem(post(c, f"/v1/carts/{cart}/tenders",
                        {"tender_type": "cash", "amount_minor": 50, "reference": "X"}),
                   422, "invalid-input")
    assert head_seq(live) == seq
    assert c.get(f"/v1/vouchers/{code}").json()["balance_minor"] == 100


def test_removing_a_tender_voids_it_and_a_second_removal_is_refused(live: LiveApp) -> None:
    code = _voucher(live, 1000, "REMOVE-ME-1")
    c = live.client()
    cart, _ = _cart_with(c, "BREAD-500G")
    post(c, f"/v1/carts/{cart}/tenders",
         {"tender_type": "voucher", "amount_minor": 249, "voucher_code": code})
    assert c.get(f"/v1/vouchers/{code}").json()["balance_minor"] == 751
    r = c.delete(f"/v1/carts/{cart}/tenders/1", headers={"Idempotency-Key": new_key()})
    assert r.status_code == 200, r.text
    assert r.json()["tenders"][0]["state"] == "voided" and r.json()["amount_due_minor"] == 249
    assert c.get(f"/v1/vouchers/{code}").json()["balance_minor"] == 1000
    seq = head_seq(live)
    body = assert_problem(c.delete(f"/v1/carts/{cart}/tenders/1",
                                   headers={"Idempotency-Key": new_key()}),
                          409, "illegal-payment-transition")
    assert body["state"] == "voided"
    assert_problem(c.delete(f"/v1/carts/{cart}/tenders/9", headers={"Idempotency-Key": new_key()}),
                   404, "not-found")
    assert head_seq(live) == seq
    assert_problem(post(c, f"/v1/carts/{cart}/complete", {}), 409, "tender-insufficient")


def test_voiding_a_cart_gives_the_voucher_back(live: LiveApp) -> None:
    code = _voucher(live, 1000, "VOID-CART-1")
    c = live.client()
    cart, _ = _cart_with(c, "BREAD-500G")
    post(c, f"/v1/carts/{cart}/tenders",
         {"tender_type": "voucher", "amount_minor": 200, "voucher_code": code})
    assert post(c, f"/v1/carts/{cart}/void", {}).json()["status"] == "voided"
    assert c.get(f"/v1/vouchers/{code}").json()["balance_minor"] == 1000


def test_a_retried_tender_is_taken_once(live: LiveApp) -> None:
    c = live.client()
    cart, _ = _cart_with(c, "BREAD-500G")
    key = new_key()
    first = post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 300}, key)
    again = post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 300}, key)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    assert len(c.get(f"/v1/carts/{cart}").json()["tenders"]) == 1


def test_refunds_go_back_to_the_original_tenders_in_order(live: LiveApp) -> None:
    code = _voucher(live, 2000, "REFUND-TO-VOUCHER")
    c = live.client()
    cart, view = _cart_with(c, "COFFEE-250G", "BREAD-500G")
    total = view["total_minor"]
    bread = view["lines"][1]["total_minor"]
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 1000})
    post(c, f"/v1/carts/{cart}/tenders",
         {"tender_type": "voucher", "amount_minor": 300, "voucher_code": code})
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "other", "amount_minor": 40,
                                          "reference": "SLIP-1"})
    order = post(c, f"/v1/carts/{cart}/complete", {}).json()
    assert order["change_due_minor"] == 1000 + 340 - total
    oid = order["order_id"]

    # Line 2 (bread): back onto the voucher first (it kept 300), nothing reaches cash.
    r = post(c, f"/v1/orders/{oid}/refunds", {"lines": [{"line_no": 2, "qty": 1}]})
    assert r.status_code == 201, r.text
    refund = r.json()
    assert bread == 249 and refund["amount_minor"] == refund["refunded_minor"] == bread
    assert [(a["tender_type"], a["amount_minor"], a["state"]) for a in refund["allocations"]] == [
        ("voucher", bread, "refunded")]
    assert c.get(f"/v1/vouchers/{code}").json()["balance_minor"] == 2000 - 300 + bread
    # The same line cannot be refunded twice.
    assert_problem(post(c, f"/v1/orders/{oid}/refunds", {"lines": [{"line_no": 2, "qty": 1}]}),
                   409, "refund-refused")
    # The rest of the order: what each tender still keeps, card/voucher/other before cash.
    seq = head_seq(live)
    rest = post(live.client("manager-1"), f"/v1/orders/{oid}/refunds", {"reason": "faulty"})
    assert rest.status_code == 201, rest.text
    parts = [(a["tender_type"], a["amount_minor"]) for a in rest.json()["allocations"]]
    kept_cash = total - 300 - 40  # the cash kept is what was due in cash, change went back
    assert parts == [("voucher", 300 - bread), ("other", 40), ("cash", kept_cash)]
    assert head_seq(live) > seq
    again = c.get(f"/v1/orders/{oid}").json()
    assert again["refunded_minor"] == total
    assert [t["state"] for t in again["tenders"]] == ["refunded"] * 3
    assert_problem(post(c, f"/v1/orders/{oid}/refunds", {}), 409, "refund-refused")


def test_refund_above_the_limit_needs_a_manager(live_with) -> None:
    live = live_with({"NOVAPOS_TENDER__REFUND_MANAGER_ABOVE_MINOR": "100"})
    c = live.client()
    cart, _ = _cart_with(c, "BREAD-500G")
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 249})
    oid = post(c, f"/v1/carts/{cart}/complete", {}).json()["order_id"]
    seq = head_seq(live)
    assert_problem(post(c, f"/v1/orders/{oid}/refunds", {}), 403, "manager-approval-required")
    assert_problem(post(c, f"/v1/orders/{oid}/refunds", {"lines": [{"line_no": 7, "qty": 1}]}),
                   422, "invalid-input")
    assert_problem(post(c, "/v1/orders/nope/refunds", {}), 404, "not-found")
    assert head_seq(live) == seq
    r = post(live.client("manager-1"), f"/v1/orders/{oid}/refunds", {})
    assert r.status_code == 201 and r.json()["allocations"][0]["tender_type"] == "cash"


def test_vouchers_are_issued_by_managers_only(live: LiveApp) -> None:
    assert_problem(post(live.client(), "/v1/vouchers", {"amount_minor": 100}), 403, "forbidden")
    code = _voucher(live, 100)
    assert_problem(post(live.client("manager-1"), "/v1/vouchers", {"amount_minor": 5, "code": code}),
                   422, "invalid-input")
    assert_problem(live.client().get("/v1/vouchers/UNKNOWN-CODE"), 404, "not-found")


def test_payment_metrics_are_exported(live: LiveApp) -> None:
    c = live.client()
    cart, _ = _cart_with(c, "BREAD-500G")
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 300})
    text = httpx.get(f"{live.url}/metrics").text
    assert ('novapos_payment_duration_seconds_count{outcome="captured",tender_type="cash"} 1.0'
            in text)
    assert "novapos_payments_stored_offline 0.0" in text
    assert "novapos_payments_stored_offline_minor 0.0" in text

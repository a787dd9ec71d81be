"""One naming in the API (line_id / tender_id everywhere; line_no / tender_no deprecated
aliases for one release) and integer amounts next to the receipt's texts (docs/api.md)."""

from __future__ import annotations

from tests.edge.api.helpers import assert_problem, open_cart, post
from tests.support.live_app import LiveApp


def _sale(live: LiveApp) -> dict:
    c = live.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"})  # line 1, removed below
    post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L", "qty": 2})
    post(c, f"/v1/carts/{cart}/lines", {"sku": "BANANA", "qty_milli": 1234})
    r = c.delete(f"/v1/carts/{cart}/lines/1", headers={"Idempotency-Key": "rm-1"})
    assert r.status_code == 200, r.text
    post(c, f"/v1/carts/{cart}/discounts", {"kind": "amount", "value": 10})
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 1000})
    r = post(c, f"/v1/carts/{cart}/complete", {})
    assert r.status_code == 201, r.text
    return r.json()


def test_orders_name_lines_and_tenders_like_carts(live: LiveApp) -> None:
    order = _sale(live)
    assert [ln["line_id"] for ln in order["lines"]] == [1, 2]  # numbered in the order
    assert all(ln["line_no"] == ln["line_id"] for ln in order["lines"])  # deprecated alias
    assert [(t["tender_id"], t["tender_no"]) for t in order["tenders"]] == [(1, 1)]


def test_a_refund_names_the_line_by_line_id_or_its_old_name(live: LiveApp) -> None:
    order = _sale(live)
    manager = live.client("manager-1")
    path = f"/v1/orders/{order['order_id']}/refunds"
    r = post(manager, path, {"lines": [{"line_id": 1, "qty": 1}]})
    assert r.status_code == 201, r.text
    assert r.json()["lines"] == [{"line_id": 1, "line_no": 1, "qty_milli": 1000,
                                  "amount_minor": r.json()["lines"][0]["amount_minor"]}]
    r = post(manager, path, {"lines": [{"line_no": 2, "qty_milli": 234}]})
    assert r.status_code == 201, r.text
    for bad in [{"qty": 1}, {"line_id": 1, "line_no": 1, "qty": 1}, {"line_id": 1}]:
        assert_problem(post(manager, path, {"lines": [bad]}), 400, "invalid-request")


def test_the_receipt_carries_integer_amounts_next_to_its_texts(live: LiveApp) -> None:
    order = _sale(live)
    receipt = live.client().get(f"/v1/orders/{order['order_id']}/receipt").json()
    assert (receipt["total_minor"], receipt["total_text"]) == (order["total_minor"], "4.74 EUR")
    assert receipt["subtotal_minor"] == order["subtotal_minor"]
    assert receipt["discount_minor"] == 10 and receipt["discount_text"] == "-0.10 EUR"
    assert receipt["tax_minor"] == order["tax_minor"]
    assert receipt["change_minor"] == order["change_due_minor"] == 526
    assert [(ln["amount_minor"], ln["qty_milli"], ln["unit_price_minor"]) for ln in receipt["lines"]] \
        == [(ln["total_minor"], ln["qty_milli"], ln["unit_price_minor"]) for ln in order["lines"]]
    assert receipt["tenders"][0]["amount_minor"] == 1000

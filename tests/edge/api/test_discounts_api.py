"""Line and cart discounts, and the manager threshold."""

from __future__ import annotations

from core import bodycodec
from tests.edge.api.helpers import assert_problem, head_seq, open_cart, post
from tests.support.live_app import LiveApp


def _cart(live: LiveApp):
    c = live.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "TSHIRT-BLK-M"})  # 14.99, 19 %
    post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"})  # 2.49, 7 %
    return cart, c


def test_cashier_line_discount_within_limit(live: LiveApp) -> None:
    cart, c = _cart(live)
    view = post(c, f"/v1/carts/{cart}/discounts", {"line_id": 1, "kind": "percent", "value": 1000}).json()
    shirt = view["lines"][0]
    assert shirt["discount"] == {"kind": "percent", "value": 1000}
    assert (shirt["discount_minor"], shirt["total_minor"]) == (150, 1349)  # 149.9 -> 150
    assert view["total_minor"] == 1349 + 249
    assert view["discount_minor"] == 150


def test_cart_discount_is_allocated_over_lines_and_sums_exactly(live: LiveApp) -> None:
    cart, c = _cart(live)
    view = post(c, f"/v1/carts/{cart}/discounts", {"kind": "amount", "value": 100}).json()
    parts = [ln["discount_minor"] for ln in view["lines"]]
    assert sum(parts) == 100 and parts == [86, 14]  # pro rata 1499:249
    assert view["total_minor"] == 1499 + 249 - 100
    assert sum(ln["total_minor"] for ln in view["lines"]) == view["total_minor"]
    assert sum(ln["tax_minor"] for ln in view["lines"]) == view["tax_minor"]


def test_discount_above_threshold_needs_a_manager(live: LiveApp) -> None:
    cart, c = _cart(live)
    seq = head_seq(live)
    r = post(c, f"/v1/carts/{cart}/discounts", {"line_id": 1, "kind": "percent", "value": 5000})
    assert_problem(r, 403, "manager-approval-required")
    r = post(c, f"/v1/carts/{cart}/discounts", {"kind": "amount", "value": 1000})  # 57 % of 17.48
    assert_problem(r, 403, "manager-approval-required")
    assert head_seq(live) == seq
    manager = live.client("manager-1")
    r = post(manager, f"/v1/carts/{cart}/discounts",
             {"line_id": 1, "kind": "percent", "value": 5000, "reason": "damaged"})
    assert r.status_code == 200 and r.json()["lines"][0]["discount_minor"] == 750  # 749.5 -> 750
    events = live.service.reader.execute(
        "SELECT body FROM events WHERE type='cart.discount_applied'").fetchall()
    assert b'"approved_by_role":"manager"' in bodycodec.decode(events[-1][0])


def test_discount_larger_than_the_line_is_refused(live: LiveApp) -> None:
    cart, c = _cart(live)
    r = post(live.client("manager-1"), f"/v1/carts/{cart}/discounts",
             {"line_id": 2, "kind": "amount", "value": 250})
    assert_problem(r, 422, "invalid-input")
    r = post(c, f"/v1/carts/{cart}/discounts", {"line_id": 1, "kind": "percent", "value": 10001})
    assert_problem(r, 422, "invalid-input")
    r = post(c, f"/v1/carts/{cart}/discounts", {"line_id": 9, "kind": "percent", "value": 100})
    assert_problem(r, 404, "not-found")


def test_a_cashier_may_key_exactly_the_limit(live: LiveApp) -> None:
    # 20.00 % of 14.99 is 2.998, rounded to 3.00: 20.01 % of the price. The limit applies to
    # what the cashier keyed (core.pricing.within_discount_limit), so this is within it.
    cart, c = _cart(live)
    r = post(c, f"/v1/carts/{cart}/discounts", {"line_id": 1, "kind": "percent", "value": 2000})
    assert r.status_code == 200, r.text
    assert r.json()["lines"][0]["discount_minor"] == 300
    r = post(c, f"/v1/carts/{cart}/discounts", {"line_id": 1, "kind": "percent", "value": 2001})
    body = assert_problem(r, 403, "manager-approval-required")
    assert "a discount of 20.01 % (300 off) exceeds the cashier limit" in body["detail"]
    # An amount: 2.99 of 14.99 is 19.95 %, within; 3.00 is 20.01 %, over.
    assert post(c, f"/v1/carts/{cart}/discounts",
                {"line_id": 1, "kind": "amount", "value": 299}).status_code == 200
    r = post(c, f"/v1/carts/{cart}/discounts", {"line_id": 1, "kind": "amount", "value": 300})
    assert "a discount of 20.02 % (300 off) exceeds" in assert_problem(
        r, 403, "manager-approval-required")["detail"]

"""Promotions through the lane's API: the cart view and the sale show which promotion gave
what to which line; manual discounts apply after; coupons obey the local ledger; a bundle that
does not verify is refused and the previous one stays; windows end at store-local midnight."""

from __future__ import annotations

import base64

import msgspec
import pytest

from schemas import promotions as sp
from tests.edge.api.helpers import assert_problem, open_cart, post
from tests.edge.promotions.support import PINNED, THREE_FOR_TWO_MILK, deliver, sales, signed
from tests.support.live_app import LiveApp

MIN = 60_000


@pytest.fixture
def live(live_with) -> LiveApp:
    return live_with(PINNED)


def _promo_events(live: LiveApp) -> int:
    return live.service.reader.execute(
        "SELECT count(*) FROM events WHERE type = 'cart.promotions_applied'").fetchall()[0][0]


def test_without_a_bundle_a_cart_records_no_promotion(live: LiveApp) -> None:
    c = live.client()
    cart = open_cart(c)
    view = post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L", "qty": 3}).json()
    assert view["promotions"] == [] and view["promotion_saving_minor"] == 0
    assert view["total_minor"] == 3 * 119
    assert _promo_events(live) == 0
    assert c.get("/v1/promotions").json()["active_version"] is None


def test_a_promotion_shows_on_the_cart_and_travels_with_the_sale(live: LiveApp) -> None:
    assert deliver(live, signed(THREE_FOR_TWO_MILK)).startswith("installed bundle 1")
    c = live.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L", "qty": 2})
    view = post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"}).json()
    assert view["promotions"] == []  # two milks: not yet
    view = c.patch(f"/v1/carts/{cart}/lines/1", json={"qty": 3},
                   headers={"Idempotency-Key": "q3"}).json()
    assert view["promotions"] == [{"rule_id": "milk-3for2", "name": "Milk 3 for 2",
                                   "kind": "buy_x_get_y", "discount_minor": 119,
                                   "line_ids": [1], "coupon_code": None}]
    milk = view["lines"][0]
    assert milk["promotions"] == [{"rule_id": "milk-3for2", "name": "Milk 3 for 2",
                                   "discount_minor": 119}]
    assert milk["promotion_minor"] == 119 and milk["total_minor"] == 2 * 119
    assert view["promotion_saving_minor"] == 119 and view["promotion_bundle_version"] == 1
    assert view["total_minor"] == 2 * 119 + 249

    # A manual cart discount applies to what the promotion left.
    view = post(c, f"/v1/carts/{cart}/discounts", {"kind": "percent", "value": 1000}).json()
    assert view["discount_minor"] == 119 + round((2 * 119 + 249) * 0.1)

    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 1000})
    r = post(c, f"/v1/carts/{cart}/complete", {})
    assert r.status_code in (200, 201), r.text
    order = r.json()
    assert order["lines"][0]["promotions"] == [{"rule_id": "milk-3for2", "name": "Milk 3 for 2",
                                                "discount_minor": 119}]
    assert order["lines"][0]["promotion_minor"] == 119
    receipt = c.get(f"/v1/orders/{order['order_id']}/receipt").json()
    texts = [(ln["text"], ln["amount_text"]) for ln in receipt["lines"]]
    assert ("  Milk 3 for 2", "-1.19 EUR") in texts
    assert receipt["promotion_saving_text"] == "1.19 EUR"
    sale = sales(live)[-1]
    assert sale.promotion_bundle_version == 1
    milk_line = sale.lines[0]
    assert [(p.rule_id, p.discount_minor) for p in milk_line.promotions] == [("milk-3for2", 119)]
    assert milk_line.promotion_minor == 119
    assert sale.lines[1].promotions == ()


def test_removing_a_line_takes_its_promotion_off(live: LiveApp) -> None:
    deliver(live, signed(THREE_FOR_TWO_MILK))
    c = live.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L", "qty": 3})
    r = c.delete(f"/v1/carts/{cart}/lines/1", headers={"Idempotency-Key": "rm1"})
    assert r.json()["promotions"] == [] and r.json()["total_minor"] == 0


def test_a_tampered_bundle_is_refused_and_the_previous_one_stays(live: LiveApp) -> None:
    deliver(live, signed(THREE_FOR_TWO_MILK))
    good = signed(sp.Rule("bread-half", "Bread half price", sp.PercentOff(5000),
                          sp.Target(skus=("BREAD-500G",))), version=2)
    data = base64.b64decode(good.bundle_b64).replace(b"5000", b"9900")
    tampered = msgspec.structs.replace(good, bundle_b64=base64.b64encode(data).decode())
    assert deliver(live, tampered).startswith("refused: the bundle's signature does not verify")
    status = live.client().get("/v1/promotions").json()
    assert status["active_version"] == 1
    assert "does not verify" in status["last_refused_reason"]
    alarms = live.service.reader.execute(
        "SELECT detail FROM sync_alarms WHERE reason = 'promotion_bundle_refused' "
        "AND cleared_at_ms IS NULL").fetchall()
    assert alarms and "does not verify" in alarms[0][0]
    unsigned = msgspec.structs.replace(good, signature_b64="")
    assert deliver(live, unsigned) == "refused: the bundle is unsigned"
    # The old bundle still applies.
    c = live.client()
    cart = open_cart(c)
    view = post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L", "qty": 3}).json()
    assert view["promotion_saving_minor"] == 119
    # An older version than the active one is not installed.
    assert "not newer" in deliver(live, signed(THREE_FOR_TWO_MILK, version=1))
    # A good bundle resolves the alarm.
    assert deliver(live, good).startswith("installed bundle 2")
    assert live.service.reader.execute(
        "SELECT count(*) FROM sync_alarms WHERE reason = 'promotion_bundle_refused' "
        "AND cleared_at_ms IS NULL").fetchall()[0][0] == 0


def test_a_promotion_ends_at_store_local_midnight_and_locked_lines_keep_it(live: LiveApp) -> None:
    # The clock starts at 2026-03-02 10:00 UTC (11:00 in Berlin).
    rule = sp.Rule("milk-half", "Milk half price today", sp.PercentOff(5000),
                   sp.Target(skus=("MILK-1L",)), ends_local="2026-03-03T00:00")
    deliver(live, signed(rule))
    live.clock.advance((12 * 60 + 58) * MIN)  # 23:58 Berlin
    c = live.client()
    cart = open_cart(c)
    assert post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L"}).json()[
        "promotion_saving_minor"] == 60
    live.clock.advance(3 * MIN)  # 00:01: ended, but line 1's lock (15 min) holds it
    view = post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L"}).json()
    assert [ln["promotion_minor"] for ln in view["lines"]] == [60, 0]
    live.clock.advance(14 * MIN)  # 00:15: line 1's lock expired too
    view = post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"}).json()
    assert view["promotions"] == [] and view["total_minor"] == 2 * 119 + 249


def test_a_single_use_coupon_is_refused_once_redeemed_here(live: LiveApp) -> None:
    rule = sp.Rule("welcome", "Welcome 5.00 off", sp.AmountOff(500, "cart"),
                   coupon=sp.Coupon("WELCOME5"))
    deliver(live, signed(rule))
    c = live.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "COFFEE-250G", "qty": 2})
    view = post(c, f"/v1/carts/{cart}/coupons", {"code": " welcome5"}).json()
    assert view["coupons"] == ["WELCOME5"] and view["promotion_saving_minor"] == 500
    assert view["promotions"][0]["coupon_code"] == "WELCOME5"
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 1000})
    assert post(c, f"/v1/carts/{cart}/complete", {}).status_code in (200, 201)
    assert sales(live)[-1].coupons == ("WELCOME5",)

    again = open_cart(c)
    post(c, f"/v1/carts/{again}/lines", {"sku": "COFFEE-250G"})
    assert_problem(post(c, f"/v1/carts/{again}/coupons", {"code": "WELCOME5"}), 422,
                   "coupon-refused")
    assert_problem(post(c, f"/v1/carts/{again}/coupons", {"code": "NOPE"}), 422,
                   "coupon-refused")


def test_the_cashier_limit_is_judged_on_what_promotions_left(live: LiveApp) -> None:
    deliver(live, signed(sp.Rule("milk-half", "Milk half price", sp.PercentOff(5000),
                                 sp.Target(skus=("MILK-1L",)))))
    c = live.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L"})  # 119, 60 off: 59 left
    # 20 is 17 % of the price but 34 % of what is left: over the cashier's 20 %.
    r = post(c, f"/v1/carts/{cart}/discounts", {"kind": "amount", "value": 20, "line_id": 1})
    assert_problem(r, 403, "manager-approval-required")
    # An amount above what the promotion left is refused outright.
    r = post(live.client("manager-1"), f"/v1/carts/{cart}/discounts",
             {"kind": "amount", "value": 60, "line_id": 1})
    assert_problem(r, 422, "invalid-input")
    view = post(c, f"/v1/carts/{cart}/discounts",
                {"kind": "amount", "value": 10, "line_id": 1}).json()
    assert view["lines"][0]["discount_minor"] == 60 + 10 and view["total_minor"] == 49

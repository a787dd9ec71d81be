"""Till sessions over loopback HTTP: open with a counted float, cash and card sales and a cash
refund land in the drawer, drops confirmed by a second person, pay-outs and no-sales need a
manager, the blind close (a short above the threshold needs a manager), consecutive Z numbers,
and the X/Z reports equal to what the lane did."""

from __future__ import annotations

from tests.edge.api.helpers import assert_problem, head_seq, open_cart, post
from tests.support.live_app import LiveApp

FLOAT = [{"value_minor": 2000, "pieces": 5}, {"value_minor": 100, "pieces": 50}]  # 150.00


def _sale(live: LiveApp, lane: str, tenders: list[dict], skus=("COFFEE-250G",)) -> dict:
    c = live.client(lane)
    cart = open_cart(c)
    for sku in skus:
        assert post(c, f"/v1/carts/{cart}/lines", {"sku": sku}).status_code == 201
    for t in tenders:
        r = post(c, f"/v1/carts/{cart}/tenders", t)
        assert r.status_code == 201, r.text
    r = post(c, f"/v1/carts/{cart}/complete", {})
    assert r.status_code == 201, r.text
    return r.json()


def test_a_till_day_from_open_to_blind_close(live: LiveApp) -> None:
    lane, mgr = live.client("lane-1"), live.client("manager-1")
    r = post(lane, "/v1/tills/till-1/open", {"float_count": FLOAT})
    assert r.status_code == 201, r.text
    assert r.json()["float_minor"] == 15000 and r.json()["state"] == "open"
    assert "expected_minor" not in r.json() or r.json()["expected_minor"] is None  # blind
    assert_problem(post(lane, "/v1/tills/till-2/open", {"float_count": FLOAT}), 409, "till-open")

    cash_sale = _sale(live, "lane-1", [{"tender_type": "cash", "amount_minor": 5000}])
    kept = cash_sale["total_minor"]  # change given back: the drawer keeps the total
    # Split: 2.00 on another tender, the rest in cash; only the cash part is the drawer's.
    split = _sale(live, "lane-1", [{"tender_type": "other", "amount_minor": 200,
                                    "reference": "CHQ-1"},
                                   {"tender_type": "cash", "amount_minor": 5000}])
    kept += split["total_minor"] - 200
    # A cash refund asked at the till's lane comes out of its drawer.
    refunded = post(lane, f"/v1/orders/{cash_sale['order_id']}/refunds", {})
    assert refunded.status_code == 201, refunded.text
    kept -= cash_sale["total_minor"]
    # A sale at another lane (no till open there) does not touch till-1.
    _sale(live, "lane-2", [{"tender_type": "cash", "amount_minor": 5000}])

    # A drop: cash leaves at once; confirmed by another person, never by the one who dropped.
    r = post(lane, "/v1/tills/till-1/movements", {"kind": "drop", "amount_minor": 10000})
    assert r.status_code == 201, r.text
    drop = r.json()["movements"][0]["movement_id"]
    assert_problem(post(lane, f"/v1/tills/till-1/movements/{drop}/confirm", {}), 403,
                   "forbidden")
    # Unconfirmed: the till cannot close yet.
    assert_problem(post(mgr, "/v1/tills/till-1/close", {"counted": FLOAT}), 409,
                   "movements-unconfirmed")
    r = post(mgr, f"/v1/tills/till-1/movements/{drop}/confirm", {})
    assert r.status_code == 200 and r.json()["movements"][0]["confirmed_by"], r.text

    # A pay-out needs a manager; a cashier's is refused and changes nothing.
    before = head_seq(live)
    assert_problem(post(lane, "/v1/tills/till-1/movements",
                        {"kind": "pay_out", "amount_minor": 500, "reason": "milk"}),
                   403, "manager-approval-required")
    assert head_seq(live) == before
    r = post(mgr, "/v1/tills/till-1/movements",
             {"kind": "pay_out", "amount_minor": 500, "reason": "milk for the staff room"})
    assert r.status_code == 201, r.text
    assert_problem(post(mgr, "/v1/tills/till-1/movements",
                        {"kind": "pay_out", "amount_minor": 10_000_000, "reason": "all"}),
                   409, "insufficient-cash")
    # A no-sale needs a manager too.
    assert_problem(post(lane, "/v1/tills/till-1/no-sale", {"reason": "change"}), 403,
                   "manager-approval-required")
    assert post(mgr, "/v1/tills/till-1/no-sale", {"reason": "change for a note"}).status_code == 201

    expected = 15000 + kept - 10000 - 500
    x = mgr.get("/v1/tills/till-1/x")
    assert x.status_code == 200, x.text
    t = x.json()["totals"]
    assert t["expected_minor"] == expected and t["sales_count"] == 2 and t["no_sales"] == 1
    assert t["cash_refunds_minor"] == cash_sale["total_minor"]
    assert t["drops_minor"] == 10000 and t["pay_outs_minor"] == 500
    assert_problem(lane.get("/v1/tills/till-1/x"), 403, "forbidden")

    # Blind close by the cashier, 3.00 short: above the 5.00 threshold? No: allowed.
    counted_ok = expected - 300
    r = post(lane, "/v1/tills/till-1/close", {"counted": [{"value_minor": 1, "pieces": counted_ok}]})
    assert r.status_code == 201, r.text
    z = r.json()
    assert z["kind"] == "Z" and z["z_number"] == 1 and z["over_short_minor"] == -300
    assert z["totals"]["expected_minor"] == expected and z["counted_minor"] == counted_ok
    assert z["first_seq"] < z["last_seq"]

    # Second session: a short of 20.00 needs a manager.
    assert post(lane, "/v1/tills/till-1/open", {"float_count": FLOAT}).status_code == 201
    short = [{"value_minor": 100, "pieces": 130}]
    assert_problem(post(lane, "/v1/tills/till-1/close", {"counted": short}), 403,
                   "manager-approval-required")
    r = post(mgr, "/v1/tills/till-1/close", {"counted": short, "note": "counted twice"})
    assert r.status_code == 201, r.text
    assert r.json()["z_number"] == 2 and r.json()["over_short_minor"] == -2000
    assert mgr.get("/v1/tills/till-1/z/1").json()["over_short_minor"] == -300
    view = lane.get("/v1/tills/till-1").json()
    assert view["state"] == "closed" and view["approved_by"] and view["z_number"] == 2


def test_bad_counts_are_refused_and_change_nothing(live: LiveApp) -> None:
    lane = live.client("lane-1")
    before = head_seq(live)
    for count in ([{"value_minor": 3, "pieces": 1}],  # not a EUR denomination
                  [{"value_minor": 100, "pieces": 1}, {"value_minor": 100, "pieces": 2}],
                  [{"value_minor": 100, "pieces": -1}]):
        r = post(lane, "/v1/tills/till-1/open", {"float_count": count})
        assert r.status_code in (400, 422), r.text
    assert_problem(post(lane, "/v1/tills/nope/close", {"counted": FLOAT}), 409, "till-not-open")
    assert live.client("lane-1").get("/v1/tills/nope").status_code == 404
    assert head_seq(live) == before


def test_end_of_day_closes_every_till_and_the_store_z_is_their_aggregate(live: LiveApp) -> None:
    l1, l2, mgr = live.client("lane-1"), live.client("lane-2"), live.client("manager-1")
    assert post(l1, "/v1/tills/till-1/open", {"float_count": FLOAT}).status_code == 201
    assert post(l2, "/v1/tills/till-2/open", {"float_count": FLOAT}).status_code == 201
    a = _sale(live, "lane-1", [{"tender_type": "cash", "amount_minor": 5000}])
    b = _sale(live, "lane-2", [{"tender_type": "cash", "amount_minor": 5000}])
    before = head_seq(live)
    assert_problem(post(mgr, "/v1/tills/end-of-day", {"counts": {"till-1": FLOAT}}), 409,
                   "till-count-missing")
    assert head_seq(live) == before  # all or nothing
    counts = {"till-1": [{"value_minor": 1, "pieces": 15000 + a["total_minor"]}],
              "till-2": [{"value_minor": 1, "pieces": 15000 + b["total_minor"] - 100}]}
    r = post(mgr, "/v1/tills/end-of-day", {"counts": counts})
    assert r.status_code == 201, r.text
    z = r.json()
    assert [t["till_id"] for t in z["tills"]] == ["till-1", "till-2"]
    assert [t["z_number"] for t in z["tills"]] == [1, 1]
    assert sum(t["sales_total_minor"] for t in z["tills"]) == z["total_minor"]
    assert sum(t["sales_count"] for t in z["tills"]) == z["sales_count"] == 2
    assert z["over_short_minor"] == -100
    # The manager's Z report of the day says the same.
    assert mgr.get("/v1/reports/z").json() == z


def test_a_full_drawer_recommends_a_safe_drop_on_the_till_and_status(live_with) -> None:
    from edge.tills.alarms import safe_drop_check

    live = live_with({"NOVAPOS_CASH__SAFE_DROP_ABOVE_MINOR": "15100"})
    lane = live.client("lane-1")
    r = post(lane, "/v1/tills/till-1/open", {"float_count": FLOAT})
    assert r.json()["safe_drop_recommended"] is False
    check = safe_drop_check(live.daemon.config.cash.safe_drop_above_minor)
    assert check(live.service.reader) == "ok"
    _sale(live, "lane-1", [{"tender_type": "cash", "amount_minor": 5000}])
    assert lane.get("/v1/tills/till-1").json()["safe_drop_recommended"] is True
    assert "till-1 at lane-1" in check(live.service.reader)
    r = post(lane, "/v1/tills/till-1/movements", {"kind": "drop", "amount_minor": 5000})
    assert r.json()["safe_drop_recommended"] is False
    assert check(live.service.reader) == "ok"

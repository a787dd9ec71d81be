"""Loyalty at the lane through the real HTTP API: look-up by keyed hash, customer 360, earn
once per sale, claw-back on refund, erasure by crypto-shredding with `verify` still passing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest

from edge.compose import layout
from edge.store.rebuild import verify
from schemas import loyalty as lo
from tests.conftest import new_key
from tests.edge.api.helpers import assert_problem, open_cart, post
from tests.edge.loyalty.support import customer_change, down_sync_customer, down_sync_erasure, provision
from tests.support.live_app import LiveApp, start_live_app

ANN = lo.PersonalData(name="Ann Example", email="Ann@Example.org", phone="+49 170 5550123",
                      card="LOY-000123")


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[LiveApp]:
    provision(tmp_path / "store")
    app = start_live_app(tmp_path / "store")
    down_sync_customer(app.service, customer_change("c-ann", ANN, balance=1000, tier="silver"))
    try:
        yield app
    finally:
        app.close()


def _sale(c, *skus: str, key: str | None = None) -> dict:
    cart = open_cart(c)
    assert post(c, f"/v1/carts/{cart}/customer", {"customer_id": "c-ann"}).status_code == 200
    view = {}
    for sku in skus:
        view = post(c, f"/v1/carts/{cart}/lines", {"sku": sku, "qty": 2}).json()
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": view["total_minor"]})
    r = post(c, f"/v1/carts/{cart}/complete", {}, key=key)
    assert r.status_code == 201, r.text
    return r.json()


def test_lookup_by_card_phone_or_email_in_any_spelling(shop: LiveApp) -> None:
    c = shop.client()
    for body in ({"card": "loy-000123"}, {"phone": "0049 170 555-0123"},
                 {"email": " ann@example.ORG "}):
        r = post(c, "/v1/customers/lookup", body)
        assert r.status_code == 200, r.text
        v = r.json()
        assert (v["customer_id"], v["name"], v["tier"], v["balance_points"]) == (
            "c-ann", "Ann Example", "silver", 1000)
        assert v["consents"] == {"e_receipts": True, "marketing": False}
    assert_problem(post(c, "/v1/customers/lookup", {"phone": "0049 170 000"}), 404,
                   "customer-unknown")
    assert_problem(post(c, "/v1/customers/lookup", {"phone": "0049170", "card": "x"}), 422,
                   "invalid-input")


def test_a_sale_earns_once_and_shows_in_the_360(shop: LiveApp) -> None:
    c = shop.client()
    order = _sale(c, "COFFEE-250G", "MILK-1L", key="sale-once")
    total = order["total_minor"]
    v = c.get("/v1/customers/c-ann").json()
    assert v["balance_points"] == 1000 + sum(ln["total_minor"] // 100 for ln in order["lines"])
    assert v["pending_points"] == v["balance_points"] - 1000
    assert [(p["order_id"], p["total_minor"]) for p in v["last_purchases"]] == [
        (order["order_id"], total)]
    # The lane retries the completion (a lost answer): the stored answer, no second earn.
    cart_id = order["cart_id"]
    again = post(c, f"/v1/carts/{cart_id}/complete", {}, key="sale-once")
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert c.get("/v1/customers/c-ann").json()["balance_points"] == v["balance_points"]
    n = shop.service.reader.execute(
        "SELECT count(*) FROM events WHERE type = 'loyalty.points_earned'").fetchall()[0][0]
    assert n == 1


def test_a_refund_claws_back_the_lines_points_pro_rata(shop: LiveApp) -> None:
    c = shop.client()
    order = _sale(c, "COFFEE-250G")  # 2 x 4.99 = 9 points
    assert c.get("/v1/customers/c-ann").json()["balance_points"] == 1009
    r = post(shop.client("manager-1"), f"/v1/orders/{order['order_id']}/refunds",
             {"lines": [{"line_no": 1, "qty": 1}], "reason": "damaged"})
    assert r.status_code == 201, r.text
    assert c.get("/v1/customers/c-ann").json()["balance_points"] == 1009 - 5  # half of 9, half up
    r = post(shop.client("manager-1"), f"/v1/orders/{order['order_id']}/refunds",
             {"lines": [{"line_no": 1, "qty": 1}], "reason": "damaged"})
    assert r.status_code == 201, r.text
    assert c.get("/v1/customers/c-ann").json()["balance_points"] == 1000  # all 9 back, no more


def test_attach_refuses_an_unknown_customer_and_changes_nothing(shop: LiveApp) -> None:
    c = shop.client()
    cart = open_cart(c)
    assert_problem(post(c, f"/v1/carts/{cart}/customer", {"customer_id": "nobody"}), 404,
                   "customer-unknown")
    assert_problem(post(c, f"/v1/carts/{cart}/customer", {"customer_id": "bad id!"}), 400,
                   "invalid-request")
    assert not shop.service.reader.execute(
        "SELECT 1 FROM events WHERE type = 'loyalty.customer_attached'").fetchall()


def _files(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("*.db*")))


def test_erasure_shreds_the_key_and_verify_still_passes(shop: LiveApp, tmp_path: Path) -> None:
    c = shop.client()
    _sale(c, "COFFEE-250G")
    wrapped = shop.service.reader.execute(
        "SELECT wrapped_key FROM loyalty_keys WHERE customer_id = 'c-ann'").fetchall()[0][0]
    data_dir = tmp_path / "store"
    for clear in (b"Ann Example", b"ann@example.org", b"Ann@Example.org", b"5550123",
                  b"LOY-000123"):
        assert clear not in _files(data_dir)  # never in clear, even before erasure

    down_sync_erasure(shop.service, "c-ann")
    assert_problem(post(c, "/v1/customers/lookup", {"card": "LOY-000123"}), 404,
                   "customer-unknown")
    v = c.get("/v1/customers/c-ann").json()
    assert (v["name"], v["erased"]) == (None, True)
    conn = apsw.Connection(str(shop.service.db_path))
    busy, _frames, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()[0]
    conn.close()
    assert busy == 0
    # The data key is gone from every page of the database (secure_delete zeroes what is
    # freed) and, once checkpointed, from the write-ahead log too.
    assert wrapped not in _files(data_dir)
    # The sealed personal data is still in the log, and nothing can open it; the chain and
    # the rebuild of every read model still agree.
    sealed = [r[0] for r in shop.service.reader.execute(
        "SELECT body FROM events WHERE type = 'loyalty.customer_cached'")]
    assert sealed
    report = verify(shop.service.db_path, layout())
    assert report.ok, report
    # A later down-sync of the erased customer does not bring it back.
    down_sync_customer(shop.service, customer_change("c-ann", ANN, revision=9))
    assert_problem(post(c, "/v1/customers/lookup", {"card": "LOY-000123"}), 404,
                   "customer-unknown")


def test_points_pay_within_the_offline_cap_and_a_refund_gives_them_back(
        tmp_path: Path) -> None:
    provision(tmp_path / "s")
    shop = start_live_app(tmp_path / "s", env={"NOVAPOS_LOYALTY__OFFLINE_BURN_CAP_POINTS": "300"})
    try:
        down_sync_customer(shop.service, customer_change("c-ann", ANN, balance=1000))
        c = shop.client()
        cart = open_cart(c)
        post(c, f"/v1/carts/{cart}/customer", {"customer_id": "c-ann"})
        view = post(c, f"/v1/carts/{cart}/lines", {"sku": "COFFEE-250G", "qty": 2}).json()
        assert c.get("/v1/customers/c-ann").json()["burnable_points"] == 300
        r = post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "points", "amount_minor": 301})
        assert_problem(r, 409, "not-enough-points")
        r = post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "points", "amount_minor": 300})
        assert r.status_code == 201, r.text
        assert c.get("/v1/customers/c-ann").json()["burnable_points"] == 0  # the cap is used
        rest = view["total_minor"] - 300
        post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": rest})
        order = post(c, f"/v1/carts/{cart}/complete", {}).json()
        # The points-paid part earns nothing: (998 - 300) // 100 = 6 points.
        v = c.get("/v1/customers/c-ann").json()
        assert v["balance_points"] == 1000 - 300 + 6
        r = post(shop.client("manager-1"), f"/v1/orders/{order['order_id']}/refunds",
                 {"reason": "changed mind"})
        assert r.status_code == 201, r.text
        alloc = {a["tender_type"]: a["amount_minor"] for a in r.json()["allocations"]}
        assert alloc == {"points": 300, "cash": rest}
        # All 300 burned points come back, all 6 earned go: the balance is where it started.
        assert c.get("/v1/customers/c-ann").json()["balance_points"] == 1000
    finally:
        shop.close()


def test_a_points_tender_needs_a_customer_on_the_cart(shop: LiveApp) -> None:
    c = shop.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "COFFEE-250G"})
    assert_problem(post(c, f"/v1/carts/{cart}/tenders",
                        {"tender_type": "points", "amount_minor": 100}), 422, "invalid-input")


def test_hq_balance_replaces_the_counted_movements_and_the_lane_shows_the_correction(
        shop: LiveApp) -> None:
    """Two stores burned the same points offline; HQ counted this store's burn, recorded the
    overdraft and sent the corrected balance down: the lane shows it, with nothing pending."""
    c = shop.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/customer", {"customer_id": "c-ann"})
    post(c, f"/v1/carts/{cart}/lines", {"sku": "COFFEE-250G", "qty": 2})
    assert post(c, f"/v1/carts/{cart}/tenders",
                {"tender_type": "points", "amount_minor": 998}).status_code == 201
    post(c, f"/v1/carts/{cart}/complete", {})
    v = c.get("/v1/customers/c-ann").json()
    assert (v["balance_points"], v["pending_points"]) == (2, -998)
    seq = shop.service.reader.execute(
        "SELECT max(seq) FROM events WHERE type = 'loyalty.points_burned'").fetchall()[0][0]
    store_id = shop.service.identity.store_id
    # HQ: 1000 - 998 here - 998 at store-002 = -996, owed (a recorded compensation).
    down_sync_customer(shop.service, customer_change(
        "c-ann", ANN, balance=-996, revision=2, hq_seqs={store_id: seq, "store-002": 77}))
    v = c.get("/v1/customers/c-ann").json()
    assert (v["balance_points"], v["pending_points"], v["burnable_points"]) == (-996, 0, 0)
    assert v["name"] == "Ann Example"


def test_removing_a_points_tender_or_voiding_the_cart_gives_the_points_back(
        shop: LiveApp) -> None:
    c = shop.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/customer", {"customer_id": "c-ann"})
    post(c, f"/v1/carts/{cart}/lines", {"sku": "COFFEE-250G", "qty": 2})
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "points", "amount_minor": 400})
    assert c.get("/v1/customers/c-ann").json()["balance_points"] == 600
    r = c.delete(f"/v1/carts/{cart}/tenders/1", headers={"Idempotency-Key": new_key()})
    assert r.status_code == 200, r.text
    assert c.get("/v1/customers/c-ann").json()["balance_points"] == 1000
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "points", "amount_minor": 300})
    assert c.get("/v1/customers/c-ann").json()["balance_points"] == 700
    r = post(c, f"/v1/carts/{cart}/void", {"reason": "customer left"})
    assert r.status_code == 200, r.text
    v = c.get("/v1/customers/c-ann").json()
    assert (v["balance_points"], v["burnable_points"], v["last_purchases"]) == (1000, 1000, [])


def test_the_segment_promotions_see_has_no_personal_data(shop: LiveApp) -> None:
    c = shop.client()
    cart = open_cart(c)
    loyalty = shop.daemon.loyalty
    assert loyalty.segment(shop.service.reader, cart) is None
    post(c, f"/v1/carts/{cart}/customer", {"customer_id": "c-ann"})
    assert loyalty.segment(shop.service.reader, cart) == lo.CustomerSegment(
        customer_id="c-ann", tier="silver", marketing=False)

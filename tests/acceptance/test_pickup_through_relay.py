"""Inventory and BOPIS through the real path: a live store daemon (real HTTP, its own sync
engine and pickup sweeper, a clock the test moves) and a real relay (SQLite and PostgreSQL).

HQ announces a delivery, the store receives it against the announcement; HQ places a pickup
order, it comes down and is accepted; a lane sells the same SKU down to zero available; a
second order for the last unit is rejected (with the line), the first is picked, packed,
made ready and handed over. With the relay down, an order nobody collects is released after
the no-show timer at the store; when the relay is back, HQ sees every outcome, and HQ's stock
view equals the store's, as of the store's synced seq."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from tests.edge.api.helpers import open_cart, post
from tests.support.live_app import LiveApp, start_live_app
from tests.support.relay import BACKENDS, Relay, skip_without_pg, start_relay
from tests.support.ports import stable_port
from tests.support.store import verify
from tests.support.process import wait_until

DAY_MS = 86_400_000
WAIT_S = 60.0
ENV = {"NOVAPOS_SYNC__POLL_INTERVAL_S": "0.05", "NOVAPOS_SYNC__DOWNSYNC_INTERVAL_S": "0.05",
       "NOVAPOS_SYNC__BACKOFF_BASE_S": "0.05",
       "NOVAPOS_SYNC__BACKOFF_CAP_S": "0.2", "NOVAPOS_PICKUP__SWEEP_INTERVAL_S": "0.05"}


def _wait(pred, what: str) -> None:
    wait_until(pred, what, WAIT_S, poll_s=0.02)


@pytest.fixture(params=BACKENDS)
def relay_box(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict]:
    skip_without_pg(request.param)
    # The relay goes away and comes back on its address: a port no other socket can take meanwhile.
    box = {"relay": start_relay(request.param, tmp_path / "relay", port=stable_port()),
           "dir": tmp_path / "relay"}
    try:
        yield box
    finally:
        box["relay"].close()


@pytest.fixture
def store(relay_box: dict, tmp_path: Path) -> Iterator[LiveApp]:
    relay: Relay = relay_box["relay"]
    data = tmp_path / "store"
    data.mkdir()
    cred = relay.enroll("demo-tenant", "store-001")
    (data / "sync-credential.json").write_bytes(msgspec.json.encode(cred))
    live = start_live_app(data, env={**ENV, "NOVAPOS_SYNC__RELAY_URL": relay.url})
    try:
        yield live
    finally:
        live.close()
    assert verify(data / "store.db").ok


def _sell(c: httpx.Client, sku: str, qty: int) -> dict:
    cart = open_cart(c)
    assert post(c, f"/v1/carts/{cart}/lines", {"sku": sku, "qty": qty}).status_code == 201
    assert post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash",
                                                 "amount_minor": 100_000}).status_code == 201
    r = post(c, f"/v1/carts/{cart}/complete", {})
    assert r.status_code == 201, r.text
    return r.json()


def _hq_order(hq: httpx.Client, order_id: str) -> dict:
    orders = hq.get("/v1/hq/pickup-orders", params={"store": "store-001"}).json()["orders"]
    return next(o for o in orders if o["order_id"] == order_id)


def _store_order(c: httpx.Client, order_id: str) -> dict | None:
    r = c.get(f"/v1/pickup-orders/{order_id}")
    return r.json() if r.status_code == 200 else None


def _synced(live: LiveApp, hq: httpx.Client) -> bool:
    head = live.service.reader.execute("SELECT max(seq) FROM events").fetchall()[0][0]
    stores = hq.get("/v1/hq/stock", params={"store": "store-001"}).json()["stores"]
    return bool(stores) and stores[0]["synced_seq"] == head


def test_pickup_orders_and_stock_through_a_live_daemon_and_a_real_relay(
        store: LiveApp, relay_box: dict) -> None:
    live, relay = store, relay_box["relay"]
    c = live.client()
    hq = relay.hq_client(relay.hq_token("demo-tenant"))

    # HQ announces a delivery; the store receives it against the announcement, one short.
    r = hq.post("/v1/hq/deliveries", json={
        "delivery_id": "DL-1", "store_id": "store-001", "supplier": "Roastery",
        "lines": [{"sku": "COFFEE-250G", "qty_milli": 4000}]})
    assert r.status_code == 201, r.text
    _wait(lambda: c.get("/v1/stock/deliveries", params={"state": "expected"}).json(),
          "the delivery to come down")
    r = post(c, "/v1/stock/receipts", {"delivery_id": "DL-1",
                                       "lines": [{"sku": "COFFEE-250G", "counted_milli": 3000}]})
    assert r.status_code == 201 and r.json()["discrepancies"] == 1, r.text

    # A pickup order from HQ is accepted: its unit is reserved.
    r = hq.post("/v1/hq/pickup-orders", json={
        "order_id": "WEB-1", "store_id": "store-001", "pickup_code": "918273",
        "lines": [{"sku": "COFFEE-250G", "qty_milli": 1000, "name": "Coffee"}]})
    assert r.status_code == 201 and r.json()["state"] == "sent", r.text
    again = hq.post("/v1/hq/pickup-orders", json={
        "order_id": "WEB-1", "store_id": "store-001", "pickup_code": "918273",
        "lines": [{"sku": "COFFEE-250G", "qty_milli": 1000, "name": "Coffee"}]})
    assert again.status_code == 201  # the same order again: one order
    _wait(lambda: (_store_order(c, "WEB-1") or {}).get("state") == "accepted", "acceptance")

    # A lane sells the same SKU down to zero available: allowed, the held unit stays held.
    _sell(c, "COFFEE-250G", 2)
    coffee = c.get("/v1/stock", params={"sku": "COFFEE-250G"}).json()
    assert (coffee["on_hand_milli"], coffee["reserved_milli"], coffee["available_milli"]) == (
        1000, 1000, 0)

    # A second order for the last unit is rejected, naming the line.
    assert hq.post("/v1/hq/pickup-orders", json={
        "order_id": "WEB-2", "store_id": "store-001",
        "lines": [{"sku": "COFFEE-250G", "qty_milli": 1000}]}).status_code == 201
    _wait(lambda: (_store_order(c, "WEB-2") or {}).get("state") == "rejected", "rejection")

    # The first is picked by scanning, packed, ready, and handed over with its code.
    assert post(c, "/v1/pickup-orders/WEB-1/picks", {"code": "4004170200006"}).status_code == 200
    assert post(c, "/v1/pickup-orders/WEB-1/pack", {}).status_code == 200
    assert post(c, "/v1/pickup-orders/WEB-1/ready", {}).status_code == 200
    r = post(c, "/v1/pickup-orders/WEB-1/handover", {"pickup_code": "918273"})
    assert r.status_code == 200 and r.json()["state"] == "handed_over", r.text

    # An order nobody collects: the relay goes down, the no-show timer fires at the store.
    assert post(c, "/v1/stock/receipts", {"lines": [{"sku": "MILK-1L", "counted_milli": 1000}]}
                ).status_code == 201
    assert hq.post("/v1/hq/pickup-orders", json={
        "order_id": "WEB-3", "store_id": "store-001",
        "lines": [{"sku": "MILK-1L", "qty_milli": 1000}]}).status_code == 201
    _wait(lambda: (_store_order(c, "WEB-3") or {}).get("state") == "accepted", "acceptance")
    _wait(lambda: _hq_order(hq, "WEB-3")["state"] == "accepted", "HQ to see the acceptance")
    port = int(relay.url.rsplit(":", 1)[1])
    relay.close(drop=False)
    live.clock.advance(live.daemon.config.pickup.no_show_days * DAY_MS)
    _wait(lambda: _store_order(c, "WEB-3")["state"] == "cancelled", "the no-show release")
    assert _store_order(c, "WEB-3")["cancel_reason"] == "no_show"
    assert c.get("/v1/stock", params={"sku": "MILK-1L"}).json()["available_milli"] == 1000

    # The relay is back: HQ sees every outcome and the same stock as the store.
    relay = relay_box["relay"] = start_relay(relay.backend, relay_box["dir"],
                                             database=relay.database_url, port=port)
    hq = relay.hq_client(relay.hq_token("demo-tenant"))
    _wait(lambda: _synced(live, hq), "the store's log to reach HQ")
    assert [_hq_order(hq, o)["state"] for o in ("WEB-1", "WEB-2", "WEB-3")] == [
        "handed_over", "rejected", "cancelled"]
    assert _hq_order(hq, "WEB-2")["rejected_lines"] == ["COFFEE-250G"]
    assert _hq_order(hq, "WEB-3")["cancel_reason"] == "no_show"
    ready = hq.get("/v1/hq/pickup-orders", params={"state": "handed_over"}).json()["orders"]
    assert [o["order_id"] for o in ready] == ["WEB-1"]
    hq_items = hq.get("/v1/hq/stock", params={"store": "store-001"}).json()["stores"][0]["items"]
    store_items = {r[0]: (r[1], r[2]) for r in live.service.reader.execute(
        "SELECT sku, on_hand_milli, reserved_milli FROM stock_levels")}
    assert {i["sku"]: (i["on_hand_milli"], i["reserved_milli"]) for i in hq_items} == store_items
    one = hq.get("/v1/hq/stock", params={"store": "store-001", "sku": "COFFEE-250G"}).json()
    assert one["stores"][0]["items"] == [{"sku": "COFFEE-250G", "on_hand_milli": 0,
                                          "reserved_milli": 0}]

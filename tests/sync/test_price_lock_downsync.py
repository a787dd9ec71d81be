"""Conflict policy, end to end: HQ publishes a new price through the real relay while a cart
holds a locked line; the store applies it by down-sync (as log events), the locked line keeps
its price until the lock expires, the sale records the version it charged, and HQ lists the
sale as made under a superseded price once it has come up."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from edge import demo
from edge.sync_link import status as sync_status
from tests.edge.api.helpers import open_cart, post
from tests.support.live_app import start_live_app
from tests.support.relay import start_relay
from tests.support.process import wait_until

ENV = {"NOVAPOS_SYNC__POLL_INTERVAL_S": "0.05", "NOVAPOS_SYNC__DOWNSYNC_INTERVAL_S": "0.05",
       "NOVAPOS_SYNC__BACKOFF_BASE_S": "0.05", "NOVAPOS_SYNC__BACKOFF_CAP_S": "0.2"}


def _wait(pred, what: str, timeout_s: float = 30.0) -> None:
    wait_until(pred, what, timeout_s, poll_s=0.02)


def test_new_price_from_hq_does_not_move_a_locked_line(tmp_path: Path) -> None:
    relay = start_relay("sqlite", tmp_path / "relay")
    cred = relay.enroll("demo-tenant", "store-001")
    hq = relay.hq_client(relay.hq_token("demo-tenant"))
    data = tmp_path / "store"
    data.mkdir()
    (data / "sync-credential.json").write_bytes(msgspec.json.encode(cred))
    live = start_live_app(data, env={**ENV, "NOVAPOS_SYNC__RELAY_URL": relay.url})
    try:
        status = lambda: sync_status(live.service, live.daemon.config.sync)
        # HQ's catalog is the demo catalog; the store already has it, applying it is a no-op
        # for prices (same versions) and still recorded as applied.
        r = hq.post("/v1/hq/catalog", content=demo.demo_catalog_bytes(),
                    headers={"Content-Type": "application/json"})
        assert r.status_code == 201, r.text
        first = r.json()["last_change_id"]
        _wait(lambda: status().applied_change_id >= first, "the demo catalog to come down")

        c = live.client()
        cart = open_cart(c)
        post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L", "qty": 2})
        live.clock.advance(60_000)
        now = datetime.fromtimestamp(live.clock.now_ms() / 1000, tz=UTC).isoformat()
        r = hq.post("/v1/hq/changes", json={"catalog": {"prices": [
            {"sku": "MILK-1L", "version": 2, "amount_minor": 149, "effective_at": now}]}})
        assert r.status_code == 201, r.text
        price_change = r.json()["last_change_id"]
        _wait(lambda: status().applied_change_id >= price_change, "the new price to come down")
        seq = live.service.reader.execute(
            "SELECT last_seq FROM sync_inbox WHERE change_id = ?", (price_change,)).fetchall()
        assert seq and seq[0][0] is not None  # applied as a log event
        assert live.service.reader.execute(
            "SELECT type FROM events WHERE seq = ?", (seq[0][0],)).fetchall() == [
                ("catalog.price_set",)]

        view = c.get(f"/v1/carts/{cart}").json()
        milk = view["lines"][0]
        assert (milk["unit_price_minor"], milk["price_version"]) == (119, 1)
        assert milk["price_lock"]["locked"] and milk["price_lock"]["current_unit_price_minor"] == 149
        post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 500})
        order = post(c, f"/v1/carts/{cart}/complete", {}).json()
        line = order["lines"][0]
        assert (line["unit_price_minor"], line["price_version"], line["sold_under_lock"]) == (
            119, 1, True)
        # A new scan takes the new price.
        cart2 = open_cart(c)
        added = post(c, f"/v1/carts/{cart2}/lines", {"sku": "MILK-1L"}).json()["lines"][0]
        assert (added["unit_price_minor"], added["price_version"]) == (149, 2)

        # The store reported the change id it applied; HQ sees it.
        stores = hq.get("/v1/stores").json()["stores"]
        assert stores[0]["applied_catalog_change_id"] >= price_change
        # Once the sale is up, HQ lists it as sold under a superseded price.
        _wait(lambda: status().lag_events == 0 and status().acked_seq > 0, "the sale to upload")
        variances = hq.get("/v1/hq/price-variances").json()["variances"]
        assert [(v["order_id"], v["sku"], v["price_version"], v["hq_price_version"])
                for v in variances] == [(order["order_id"], "MILK-1L", 1, 2)]
    finally:
        live.close()
        relay.close()

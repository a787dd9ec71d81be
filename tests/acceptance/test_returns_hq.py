"""Returns at HQ, through the real path: two live stores of one tenant (real HTTP) take sales,
returns with a restocking fee, store credit, receiptless returns and an exchange; their own sync
engines ship the logs to a real relay. Then HQ's reconciliation equals each store's Z report
field for field (returns, fees and store credit included), and `GET /v1/hq/returns` lists the
returns with their flags, HQ's velocity re-check across stores among them."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from edge.returns.customers import KEY_FILENAME
from edge.store import eventlog
from schemas.zreport import ZReport
from tests.edge.api.helpers import open_cart, post
from tests.support.live_app import LiveApp, start_live_app
from tests.support.relay import Relay, start_relay
from tests.support.store import verify
from tests.support.process import wait_until

WAIT_S = 60.0
ENV = {"NOVAPOS_SYNC__POLL_INTERVAL_S": "0.05", "NOVAPOS_SYNC__BACKOFF_BASE_S": "0.05",
       "NOVAPOS_SYNC__BACKOFF_CAP_S": "0.2",
       "NOVAPOS_RETURNS__RESTOCKING_FEES": '[{sku = "COFFEE-250G", percent_bp = 1000}]'}


def _wait(pred, what: str) -> None:
    wait_until(pred, what, WAIT_S, poll_s=0.02)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    r = start_relay("sqlite", tmp_path / "relay")
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def stores(relay: Relay, tmp_path: Path) -> Iterator[list[LiveApp]]:
    key = secrets.token_bytes(32)  # one customer key for the tenant's stores
    apps = []
    try:
        for store_id in ("store-001", "store-002"):
            data = tmp_path / store_id
            data.mkdir()
            (data / KEY_FILENAME).write_bytes(key)
            cred = relay.enroll("demo-tenant", store_id)
            (data / "sync-credential.json").write_bytes(msgspec.json.encode(cred))
            apps.append(start_live_app(data, env={**ENV, "NOVAPOS_SYNC__RELAY_URL": relay.url,
                                                  "NOVAPOS_STORE__STORE_ID": store_id}))
        yield apps
    finally:
        for app in apps:
            app.close()
    for app in apps:
        assert verify(app.service.db_path).ok


def _sale(live: LiveApp, *skus: str) -> dict:
    c = live.client()
    cart = open_cart(c)
    total = 0
    for sku in skus:
        total = post(c, f"/v1/carts/{cart}/lines", {"sku": sku}).json()["total_minor"]
    assert post(c, f"/v1/carts/{cart}/tenders",
                {"tender_type": "cash", "amount_minor": total}).status_code == 201
    r = post(c, f"/v1/carts/{cart}/complete", {})
    assert r.status_code == 201, r.text
    return r.json()


def _receiptless(live: LiveApp, customer: str) -> dict:
    r = post(live.client(), "/v1/returns/receiptless", {"customer": customer, "items": [
        {"sku": "MILK-1L", "qty": 1, "reason": "changed_mind"}]})
    assert r.status_code == 201, r.text
    return r.json()


def test_hq_reconciliation_and_returns_with_flags(stores: list[LiveApp], relay: Relay) -> None:
    one, two = stores
    c = one.client()
    order = _sale(one, "COFFEE-250G", "BREAD-500G", "BREAD-500G")
    r = post(c, "/v1/returns", {"order_id": order["order_id"], "lines": [
        {"line_no": 1, "qty": 1, "reason": "changed_mind"}]})
    assert r.status_code == 201 and r.json()["fee_minor"] == 50, r.text
    r = post(c, "/v1/returns", {"order_id": order["order_id"], "refund_to": "store_credit",
                                "lines": [{"line_no": 2, "qty": 1, "reason": "defective"}]})
    assert r.status_code == 201, r.text
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L"})
    r = post(c, "/v1/exchanges", {"cart_id": cart, "order_id": order["order_id"],
                                  "refund_to": "store_credit",
                                  "lines": [{"line_no": 3, "qty": 1, "reason": "wrong_size"}]})
    assert r.status_code == 201, r.text
    # The same customer: twice here, twice at the other store. Each store is within its own
    # limit of 3; HQ sees 4.
    for live in (one, one, two, two):
        _receiptless(live, "+44 7700 900123")

    hq = relay.hq_client(relay.hq_token("demo-tenant"))
    for live in stores:
        head = eventlog.head(live.service.reader)[0]
        sid = live.service.identity.store_id
        _wait(lambda: any(s["store_id"] == sid and s["high_seq"] >= head
                          for s in hq.get("/v1/stores").json()["stores"]), f"{sid} at HQ")
        own = msgspec.convert(live.client("manager-1").get("/v1/reports/z").json(), ZReport)
        r = hq.get("/v1/reconciliation", params={"store": sid, "business_date":
                                                 own.business_date})
        assert msgspec.convert(r.json()["reports"], list[ZReport]) == [own]
    z = msgspec.convert(one.client("manager-1").get("/v1/reports/z").json(), ZReport)
    assert (z.returns_count, z.exchanges_count, z.receiptless_returns_count) == (5, 1, 2)
    assert z.restocking_fee_minor == 50
    assert z.store_credit_issued_minor == 249 + (249 - 119) + 2 * 119

    every = hq.get("/v1/hq/returns").json()["returns"]
    assert len(every) == 7
    assert {r["store_id"] for r in every} == {"store-001", "store-002"}
    flagged = hq.get("/v1/hq/returns", params={"flag": "velocity_exceeded_across_stores"})
    assert [(r["store_id"], r["kind"]) for r in flagged.json()["returns"]] == [
        ("store-002", "receiptless")]
    mine = hq.get("/v1/hq/returns", params={"store": "store-002"}).json()["returns"]
    assert len(mine) == 2

"""Promotions end to end through real processes: HQ publishes a signed bundle to a real relay
(`novapos-relay serve`, a subprocess), two store daemons get it by down-sync, then the relay
goes down (SIGKILL) and the stores trade for the rest of the day on it: the promotion applies
offline, stops at store-local midnight, and a single-use coupon is redeemed at both stores
(each within its own offline allowance). The relay comes back: the sales sync, HQ lists the
coupon as overused and simulates the bundle over the synced baskets; a tampered bundle sent
through the relay is refused by the stores and the old one stays active."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from core.promotions.bundle import sign
from schemas import promotions as sp
from tests.edge.api.helpers import open_cart, post
from tests.edge.promotions.support import HQ_KEY, PINNED
from tests.support.live_app import LiveApp, start_live_app
from tests.support.relay import RelayProcess, database_url
from tests.support.process import wait_until

MIN = 60_000
WAIT_S = 60.0
ENV = {"NOVAPOS_SYNC__POLL_INTERVAL_S": "0.05", "NOVAPOS_SYNC__BACKOFF_BASE_S": "0.05",
       "NOVAPOS_SYNC__BACKOFF_CAP_S": "0.2", "NOVAPOS_SYNC__DOWNSYNC_INTERVAL_S": "0.1",
       **PINNED}
MILK = sp.Rule("milk-3for2", "Milk 3 for 2", sp.BuyXGetY(2, 1), sp.Target(skus=("MILK-1L",)),
               ends_local="2026-03-03T00:00")
COUPON = sp.Rule("single1", "1.00 off with SINGLE1", sp.AmountOff(100, "cart"),
                 coupon=sp.Coupon("SINGLE1", max_uses=1, offline_allowance_per_store=1))
BUNDLE = sp.Bundle(1, 0, (MILK, COUPON))


def _wait(pred, what: str) -> None:
    wait_until(pred, what, WAIT_S, poll_s=0.05)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayProcess]:
    data = tmp_path / "relay"
    data.mkdir()
    r = RelayProcess(database_url("sqlite", data), data / "relay.log").start()
    try:
        yield r
    finally:
        r.stop()


def _store(relay: RelayProcess, tmp_path: Path, store_id: str) -> LiveApp:
    data = tmp_path / store_id
    data.mkdir()
    cred = relay.enroll("demo-tenant", store_id)
    (data / "sync-credential.json").write_bytes(msgspec.json.encode(cred))
    return start_live_app(data, env={**ENV, "NOVAPOS_SYNC__RELAY_URL": relay.url,
                                     "NOVAPOS_STORE__STORE_ID": store_id})


def _sale(c: httpx.Client, qty: int, coupon: str | None = None) -> dict:
    cart = open_cart(c)
    view = post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L", "qty": qty}).json()
    if coupon:
        r = post(c, f"/v1/carts/{cart}/coupons", {"code": coupon})
        assert r.status_code == 200, r.text
        view = r.json()
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash",
                                         "amount_minor": view["total_minor"]})
    r = post(c, f"/v1/carts/{cart}/complete", {})
    assert r.status_code in (200, 201), r.text
    return view


def _active(live: LiveApp) -> int | None:
    return live.client().get("/v1/promotions").json()["active_version"]


def test_a_bundle_from_hq_runs_offline_for_a_day_and_hq_sees_the_overuse(
        relay: RelayProcess, tmp_path: Path) -> None:
    hq = httpx.Client(base_url=relay.url, timeout=30.0,
                      headers={"Authorization": f"Bearer {relay.hq_token('demo-tenant')}"})
    stores = [_store(relay, tmp_path, "store-001"), _store(relay, tmp_path, "store-002")]
    try:
        r = hq.post("/v1/hq/promotions", content=msgspec.json.encode(sign(BUNDLE, HQ_KEY)))
        assert r.status_code == 201, r.text
        _wait(lambda: all(_active(s) == 1 for s in stores), "both stores to install bundle 1")

        relay.kill9()  # the rest of the day without HQ
        for live in stores:
            c = live.client()
            # 11:00 Berlin: 3 for 2 and the coupon, each store within its own allowance.
            view = _sale(c, 3, coupon="SINGLE1")
            assert view["promotion_saving_minor"] == 119 + 100
            assert {p["rule_id"] for p in view["promotions"]} == {"milk-3for2", "single1"}
            live.clock.advance(12 * 60 * MIN)  # 23:00 Berlin, still offline
            assert _sale(c, 3)["promotion_saving_minor"] == 119
            live.clock.advance(80 * MIN)  # 00:20 the next day: the promotion has ended
            late = _sale(c, 3)
            assert late["promotions"] == [] and late["total_minor"] == 3 * 119

        relay.start()  # same port: the stores' sync resumes on its own
        _wait(lambda: hq.get("/v1/hq/promotions/overuse").json()["coupons"] != [],
              "the coupon redemptions to reach HQ")
        _wait(lambda: len(hq.get("/v1/hq/promotions/overuse").json()["coupons"][0]["stores"])
              == 2, "both stores' redemptions")
        assert hq.get("/v1/hq/promotions/overuse").json()["coupons"] == [{
            "code": "SINGLE1", "rule_id": "single1", "max_uses": 1, "used": 2,
            "stores": {"store-001": 1, "store-002": 1}}]

        report = hq.post("/v1/hq/promotions/simulate",
                         params={"from": "2026-03-02", "to": "2026-03-03", "tz": "Europe/Berlin"},
                         content=msgspec.json.encode(BUNDLE)).json()
        assert report["baskets"] == 6
        milk = {r["store_id"]: r for r in report["rows"] if r["rule_id"] == "milk-3for2"}
        for store in ("store-001", "store-002"):
            # Two baskets before midnight got it and would again; the one after would not.
            assert (milk[store]["baskets_hit"], milk[store]["discount_minor"]) == (2, 238)
            assert (milk[store]["baskets_given"], milk[store]["given_minor"]) == (2, 238)

        # A tampered bundle passes through the relay; every store refuses it, keeps bundle 1.
        good = sign(sp.Bundle(2, 0, (sp.Rule("milk-free", "Milk free", sp.PercentOff(10000),
                                              sp.Target(skus=("MILK-1L",))),)), HQ_KEY)
        data = base64.b64decode(good.bundle_b64).replace(b"MILK-1L", b"BREAD-1")
        tampered = msgspec.structs.replace(good, bundle_b64=base64.b64encode(data).decode())
        assert hq.post("/v1/hq/promotions",
                       content=msgspec.json.encode(tampered)).status_code == 201
        _wait(lambda: all(s.client().get("/v1/promotions").json()["last_refused_reason"]
                          for s in stores), "the stores to refuse the tampered bundle")
        assert all(_active(s) == 1 for s in stores)
        # The alarm stays open while the link is fine (a new sale's batch is accepted).
        for live in stores:
            seq = _sale(live.client(), 1) and live.service.reader.execute(
                "SELECT max(seq) FROM events").fetchall()[0][0]
            _wait(lambda: live.service.reader.execute(
                "SELECT acked_seq FROM sync_state").fetchall()[0][0] >= seq,
                "the sale to be accepted by the relay")
            assert live.service.reader.execute(
                "SELECT detail FROM sync_alarms WHERE reason = 'promotion_bundle_refused' "
                "AND cleared_at_ms IS NULL").fetchall()[0][0].startswith(
                    "the bundle's signature does not verify")
    finally:
        hq.close()
        for live in stores:
            live.close()

"""The pickup API over loopback HTTP, with the daemon's own sweeper deciding orders: accept,
pick by scan (wrong item: 409 problem, nothing recorded), pack, ready, handover with the
code; SLA breaches on /metrics and the readiness checks."""

from __future__ import annotations


from edge.pickup import commands
from schemas.pickup import PickupLine, PickupOrder
from tests.edge.api.helpers import assert_problem, head_seq, post
from tests.support.live_app import LiveApp
from tests.support.process import wait_until


def _wait(pred, what: str, timeout_s: float = 20.0) -> None:
    wait_until(pred, what, timeout_s, poll_s=0.02)


def _place(live: LiveApp, order_id: str, sku: str, units: int) -> None:
    placed = PickupOrder(order_id=order_id, store_id="store-001", pickup_code="7341",
                         lines=(PickupLine(sku, units * 1000, "Milk"),))
    live.service.writer.run_sync(lambda tx: commands.receive(tx, placed))


def test_an_order_is_picked_packed_ready_and_handed_over(live: LiveApp) -> None:
    c = live.client()
    r = post(c, "/v1/stock/receipts", {"lines": [{"sku": "MILK-1L", "counted_milli": 1000}]})
    assert r.status_code == 201
    _place(live, "W-9", "MILK-1L", 1)
    _wait(lambda: c.get("/v1/pickup-orders/W-9").json()["state"] == "accepted", "acceptance")
    assert c.get("/v1/stock", params={"sku": "MILK-1L"}).json()["available_milli"] == 0
    assert [o["order_id"] for o in c.get("/v1/pickup-orders",
                                         params={"state": "accepted"}).json()["orders"]] == ["W-9"]
    before = head_seq(live)
    assert_problem(post(c, "/v1/pickup-orders/W-9/picks", {"code": "BREAD-500G"}), 409,
                   "pickup-wrong-item")
    assert_problem(post(c, "/v1/pickup-orders/W-9/ready", {}), 409, "pickup-wrong-state")
    assert head_seq(live) == before
    r = post(c, "/v1/pickup-orders/W-9/picks", {"code": "4006381333931"})
    assert r.status_code == 200, r.text
    assert r.json()["lines"][0]["picked_milli"] == 1000
    assert post(c, "/v1/pickup-orders/W-9/pack", {}).json()["state"] == "packed"
    assert post(c, "/v1/pickup-orders/W-9/ready", {}).json()["state"] == "ready"
    assert_problem(post(c, "/v1/pickup-orders/W-9/handover", {"pickup_code": "0000"}), 409,
                   "pickup-wrong-code")
    r = post(c, "/v1/pickup-orders/W-9/handover", {"pickup_code": "7341"})
    assert r.status_code == 200 and r.json()["state"] == "handed_over", r.text
    milk = c.get("/v1/stock", params={"sku": "MILK-1L"}).json()
    assert (milk["on_hand_milli"], milk["reserved_milli"]) == (0, 0)
    assert_problem(c.get("/v1/pickup-orders/NOPE"), 404, "unknown-pickup-order")
    assert_problem(c.get("/v1/pickup-orders", params={"state": "lost"}), 400, "invalid-request")


def test_a_breached_sla_shows_on_metrics_and_readiness(live: LiveApp) -> None:
    c = live.client()
    _place(live, "LATE", "BREAD-500G", 1)  # no stock: the sweeper rejects it at once
    _wait(lambda: c.get("/v1/pickup-orders/LATE").json()["state"] == "rejected", "rejection")
    r = post(c, "/v1/stock/receipts", {"lines": [{"sku": "COFFEE-250G", "counted_milli": 1000}]})
    _place(live, "SLOW", "COFFEE-250G", 1)
    _wait(lambda: c.get("/v1/pickup-orders/SLOW").json()["state"] == "accepted", "acceptance")
    live.clock.advance(live.daemon.config.pickup.ready_within_min * 60_000 + 1)
    assert c.get("/v1/pickup-orders/SLOW").json()["alarms"] == ["ready"]
    _wait(lambda: 'novapos_pickup_sla_breached{timer="ready"} 1.0' in c.get("/metrics").text,
          "the gauge")
    ready = c.get("/health/ready").json()
    assert ready["status"] == "degraded" and "SLOW (ready)" in ready["checks"]["pickup_sla"]

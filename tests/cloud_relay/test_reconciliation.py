"""Reconciliation at HQ equals the store's own Z report, computed over a real edge log shipped
to the relay; sales under a superseded price are listed for HQ, never refused; offline card
payments declined after forwarding are listed as follow-ups with the order that counted them."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from edge import demo
from edge.reports.zreport import z_report_for_day
from edge.store import eventlog
from edge.store.db import open_connection
from schemas.events import (
    CardRef,
    PaymentAuthorizing,
    PaymentCreated,
    PaymentForwardDeclined,
    PaymentStored,
    SaleCompleted,
    SoldTender,
)
from schemas.relay import FollowUps
from schemas.sync import PROTOCOL_VERSION, Batch, batch_id
from schemas.zreport import ZReport
from tests.edge.api.helpers import open_cart, post
from tests.support.live_app import LiveApp
from tests.support.relay import Chain, Relay

DAY_MS = 86_400_000


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def _sell(live: LiveApp, lines: list[dict], cash_minor: int, lane: str = "lane-1") -> dict:
    c = live.client(lane)
    cart = open_cart(c)
    for line in lines:
        assert post(c, f"/v1/carts/{cart}/lines", line).status_code == 201
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": cash_minor})
    resp = post(c, f"/v1/carts/{cart}/complete", {})
    assert resp.status_code == 201, resp.text
    return resp.json()


def _ship(live: LiveApp, relay: Relay, batch_events: int = 25) -> int:
    """Upload the edge's whole log as the sync engine would: contiguous signed batches."""
    ident = live.service.identity
    client = relay.store_client(relay.enroll(ident.tenant_id, ident.store_id))
    conn = open_connection(live.service.db_path, readonly=True)
    try:
        log = list(eventlog.read(conn))  # the log's own envelopes, as the sync engine sends
    finally:
        conn.close()
    for i in range(0, len(log), batch_events):
        part = log[i:i + batch_events]
        client.ack(Batch(PROTOCOL_VERSION, batch_id(ident.store_id, part[0].seq, part[-1].seq),
                         ident.tenant_id, ident.store_id, part[0].seq, part[-1].seq,
                         part[0].prev_hash, part[-1].hash, part))
    return len(log)


def test_relay_reconciliation_equals_the_stores_z_report(live: LiveApp, relay: Relay) -> None:
    ident = live.service.identity
    hq = relay.hq_client(relay.hq_token(ident.tenant_id))
    # HQ's catalog is the one the store runs.
    resp = hq.post("/v1/hq/catalog", content=demo.demo_catalog_bytes(),
                   headers={"Content-Type": "application/json"})
    assert resp.status_code == 201, resp.text

    _sell(live, [{"sku": "MILK-1L", "qty": 2}, {"sku": "BANANA", "qty_milli": 1234}], 1000)
    # A price change mid-cart at both ends: the locked line keeps version 1.
    c = live.client("lane-2")
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L", "qty": 1})
    live.clock.advance(60_000)
    change_ms = live.clock.now_ms()
    price = {"sku": "MILK-1L", "version": 2, "amount_minor": 149, "effective_at": _iso(change_ms)}
    assert post(live.client("manager-1"), "/v1/catalog/imports",
                {"prices": [price]}).status_code == 201
    assert hq.post("/v1/hq/changes", json={"catalog": {"prices": [price]}}).status_code == 201
    live.clock.advance(30_000)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L", "qty": 1})
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 500})
    locked_sale = post(c, f"/v1/carts/{cart}/complete", {}).json()
    assert [ln["sold_under_lock"] for ln in locked_sale["lines"]] == [True, False]
    # Next business day.
    live.clock.advance(DAY_MS)
    _sell(live, [{"sku": "BREAD-500G", "qty": 3}], 2000)
    _sell(live, [{"sku": "MILK-1L", "qty": 1}], 149, lane="lane-2")

    _ship(live, relay)
    days = sorted({e["business_date"] for e in [locked_sale]} | {
        r.business_date for r in relay.storage.store_events(ident.tenant_id, ident.store_id)})
    assert len(days) == 2
    conn = open_connection(live.service.db_path, readonly=True)
    try:
        edge_reports = [z_report_for_day(conn, ident.store_id, day) for day in days]
    finally:
        conn.close()
    resp = hq.get("/v1/reconciliation", params={"store": ident.store_id})
    relay_reports = msgspec.convert(resp.json()["reports"], list[ZReport])
    assert relay_reports == edge_reports
    assert [r.sales_count for r in relay_reports] == [2, 2]
    first = relay_reports[0]
    assert first.total_minor == 484 + 119 + 149
    assert first.tenders[0].tender_type == "cash" and first.tenders[0].amount_minor == 1500
    assert first.net_minor == first.total_minor - first.tax_minor
    # One day on its own, and a day without sales reports zeros rather than nothing.
    one = hq.get("/v1/reconciliation", params={"store": ident.store_id,
                                                "business_date": days[1]}).json()["reports"]
    assert msgspec.convert(one, list[ZReport]) == edge_reports[1:]
    empty = hq.get("/v1/reconciliation", params={"store": ident.store_id,
                                                  "business_date": "2020-01-01"}).json()
    assert empty["reports"][0]["sales_count"] == 0

    variances = hq.get("/v1/hq/price-variances").json()["variances"]
    assert [(v["receipt_number"], v["sku"], v["price_version"], v["hq_price_version"],
             v["sold_under_lock"]) for v in variances] == [
        (locked_sale["receipt_number"], "MILK-1L", 1, 2, True)]


def _card(receipt_no: int) -> CardRef:
    return CardRef(terminal_id="T-1", trace_no=receipt_no, receipt_no=receipt_no,
                   approval_code="A1", masked_pan="************1234", card_brand="VISA",
                   card_token="tok-secret")


def _stored_card_payment(chain: Chain, pid: str, cart_id: str, amount: int) -> None:
    stream = f"payment:{pid}"
    chain.append(PaymentCreated(payment_id=pid, cart_id=cart_id, tender_id=1, lane_id="lane-1",
                                tender_type="card", currency="EUR", amount_minor=amount,
                                request_key=f"lane-1:{pid}"), stream=stream)
    chain.append(PaymentAuthorizing(payment_id=pid, terminal_id="T-1"), stream=stream)
    chain.append(PaymentStored(payment_id=pid, amount_minor=amount, card=_card(len(chain.log)),
                               stored_at_ms=chain.recorded_at_ms), stream=stream)


def _sale(cart_id: str, order_id: str, amount: int, day: str) -> SaleCompleted:
    return SaleCompleted(
        order_id=order_id, cart_id=cart_id, receipt_number=f"s1-{order_id}", lane_id="lane-1",
        completed_at_ms=1, business_date=day, currency="EUR", tax_mode="inclusive", lines=(),
        tenders=(SoldTender(1, "card", amount),), subtotal_minor=amount, discount_minor=0,
        tax_minor=0, total_minor=amount, tendered_minor=amount, change_due_minor=0)


def test_follow_ups_name_the_sale_that_counted_the_declined_payment(relay: Relay) -> None:
    """Two stored cards declined after forwarding, on a later business day: one whose cart was
    sold while it was stored (its order is named, even among other sales), one whose cart only
    completed after the decline (no order: no sale counted the dead payment). Tenant-scoped;
    the card token never leaves the relay."""
    client = relay.store_client(relay.enroll("t1", "s1"))
    chain = Chain("t1", "s1")
    _stored_card_payment(chain, "p-sold", "cart-1", 700)
    chain.append(_sale("cart-0", "o-other", 300, chain.business_date), stream="order:o-other")
    _stored_card_payment(chain, "p-open", "cart-2", 200)  # its cart never completes
    chain.append(_sale("cart-1", "o-1", 700, chain.business_date), stream="order:o-1")
    stored_day, chain.business_date = chain.business_date, "2026-03-03"
    for pid, amount in (("p-sold", 700), ("p-open", 200)):
        chain.append(PaymentForwardDeclined(payment_id=pid, amount_minor=amount,
                                            reason="declined by the processor"),
                     stream=f"payment:{pid}")
    # The cart completes after the decline: with other money, not the dead payment.
    chain.append(_sale("cart-2", "o-late", 200, chain.business_date), stream="order:o-late")
    client.ack(chain.batch(1, chain.seq))
    hq = relay.hq_client(relay.hq_token("t1"))

    r = hq.get("/v1/hq/follow-ups", params={"store": "s1"})
    assert r.status_code == 200, r.text
    assert all("card_token" not in f["card"] for f in r.json()["follow_ups"])
    got = msgspec.convert(r.json(), FollowUps).follow_ups
    assert [(f.payment_id, f.amount_minor, f.order_id, f.business_date, f.stored_business_date)
            for f in got] == [("p-sold", 700, "o-1", "2026-03-03", stored_day),
                              ("p-open", 200, None, "2026-03-03", stored_day)]
    assert got[0].receipt_number == "s1-o-1" and got[0].card is not None
    assert got[0].card.masked_pan == "************1234" and got[0].card.card_brand == "VISA"
    assert msgspec.convert(hq.get("/v1/hq/follow-ups").json(), FollowUps).follow_ups == got
    other = relay.hq_client(relay.hq_token("t2"))
    assert other.get("/v1/hq/follow-ups", params={"store": "s1"}).json()["follow_ups"] == []
    # Both days' reports count their own: the sales on the first, the declines on the second.
    days = msgspec.convert(hq.get("/v1/reconciliation", params={"store": "s1"}).json()["reports"],
                           list[ZReport])
    assert [(z.business_date, z.sales_count, z.forward_declined_count, z.forward_declined_minor)
            for z in days] == [(stored_day, 2, 0, 0), ("2026-03-03", 1, 2, 900)]


def test_reconciliation_refuses_a_bad_business_date(relay: Relay) -> None:
    hq = relay.hq_client(relay.hq_token("t1"))
    for bad in ("2026-02-30", "yesterday", "2026-3-1"):
        r = hq.get("/v1/reconciliation", params={"business_date": bad})
        assert r.status_code == 400, r.text
        assert r.json()["type"].endswith("/invalid-request")

"""bench/checkout.py picks the template sale's rows by stream: a device event that lands inside
the sale (the demo printer attaching) must not make the bench fail."""

from __future__ import annotations

import msgspec

from bench import checkout
from core.idempotency import StoredResponse
from edge import compose
from edge.store import eventlog, idempotency
from edge.store.db import DB_FILENAME, open_store
from schemas.envelope import Event

CART, ORDER, PAYMENT = "c-1", "o-1", "p-1"


def _events() -> list[Event]:
    rows = [("cart:" + CART, "cart.opened", {})]
    rows += [("cart:" + CART, "cart.line_added", {})] * checkout.SCANS_PER_SALE
    # The demo printer attaches in the middle of the sale.
    rows.insert(2, ("device:printer-1", "device.attached", {}))
    rows += [("payment:" + PAYMENT, "payment.created", {"cart_id": CART}),
             ("payment:" + PAYMENT, "payment.captured", {}),
             ("order:" + ORDER, "sale.completed", {})]
    return [Event(seq=i, event_id=f"e{i}", tenant_id="t", store_id="s", lane_id="lane-1",
                  stream=stream, type=type_, schema_version=1, recorded_at_ms=0,
                  business_date="2026-01-01", body=msgspec.json.encode(body),
                  prev_hash=b"", hash=b"")
            for i, (stream, type_, body) in enumerate(rows, start=1)]


def test_device_event_inside_the_template_sale_is_left_out(tmp_path):
    conn = open_store(tmp_path, compose.layout().schema)
    keys = [f"k{i}" for i in range(6)]
    with conn:
        for ev in _events():
            eventlog.insert(conn, ev)
        for key in keys:
            idempotency.SqliteKeys(conn, 0).save("lane-1", key, StoredResponse(b"f", 200, b"{}"))
    conn.close()
    sale = {"lane_id": "lane-1", "cart_id": CART, "order_id": ORDER, "keys": keys}

    templates = checkout._load_templates(tmp_path / DB_FILENAME, sale)

    assert [e.type for e in templates["events"]] == (
        ["cart.opened"] + ["cart.line_added"] * checkout.SCANS_PER_SALE
        + ["payment.created", "payment.captured", "sale.completed"])
    assert templates["payment_ids"] == [PAYMENT.encode()]


def test_another_carts_payment_is_not_the_sales():
    other = Event(seq=99, event_id="x", tenant_id="t", store_id="s", lane_id="lane-2",
                  stream="payment:p-2", type="payment.created", schema_version=1,
                  recorded_at_ms=0, business_date="2026-01-01",
                  body=msgspec.json.encode({"cart_id": "c-2"}), prev_hash=b"", hash=b"")
    picked = checkout.sale_events([*_events(), other], CART, ORDER)
    assert "payment:p-2" not in {e.stream for e in picked}
    assert "device:printer-1" not in {e.stream for e in picked}

"""A store written before card expiries were kept: its payment events are schema version 1
(a card without `expiry`) and its payments table has no `card_expiry`. After the upgrade the
migration adds the column, every old event still replays (`verify` rebuilds the read models
through the upcaster and finds them equal), the order is still found by its card without an
expiry, and new payment events (version 2) carry the expiry next to the old ones."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from core import chain
from core.chain import GENESIS_HASH
from edge import compose
from edge.returns import commands as returns
from edge.store import eventlog
from edge.store.db import migrate, open_connection
from schemas import events as ev
from schemas.envelope import Event
from tests.support.store import verify

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "events_v1.jsonl"
PAYMENT = "01a23373-50e0-70e7-af32-aa10a5e64625"  # the golden card payment
PAN, APPROVAL = "4999********1234", "015838"


def _golden(type_: str) -> dict:
    return next(json.loads(line)["body"] for line in GOLDEN.read_text().splitlines()
                if json.loads(line)["type"] == type_)


def _old_log() -> list[tuple[str, str, int, bytes]]:
    """(stream, type, schema version, body bytes) of one card sale as the old build wrote it."""
    created = _golden("payment.created")
    captured = {**_golden("payment.captured"), "via": "terminal"}
    assert "expiry" not in captured["card"]
    sale = {**_golden("sale.completed"), "cart_id": created["cart_id"],
            "total_minor": created["amount_minor"], "tendered_minor": created["amount_minor"],
            "change_due_minor": 0}
    stream = f"payment:{PAYMENT}"
    raw = [(stream, "payment.created", created),
           (stream, "payment.authorizing", {"payment_id": PAYMENT,
                                            "terminal_id": "payment-terminal",
                                            "preauthorize": False}),
           (stream, "payment.captured", captured),
           (f"order:{sale['order_id']}", "sale.completed", sale)]
    return [(s, t, 1, msgspec.json.encode(b)) for s, t, b in raw]


def _append(conn, events: list[tuple[str, str, int, bytes]]) -> None:
    layout = compose.layout()
    seq, prev = eventlog.head(conn)
    with conn:
        for stream, type_, version, body in events:
            seq += 1
            fields = dict(seq=seq, event_id=f"00000000-0000-7000-8000-{seq:012d}",
                          tenant_id="demo-tenant", store_id="store-001", lane_id="lane-1",
                          stream=stream, type=type_, schema_version=version,
                          recorded_at_ms=1_772_445_600_000 + seq, business_date="2026-03-02",
                          body=body)
            stored = Event(**fields, prev_hash=prev, hash=chain.chain_hash(prev, **fields))
            eventlog.insert(conn, stored)
            layout.projector.apply(conn, stored, ev.decode_body(type_, version, body))
            prev = stored.hash


def test_an_old_store_upgrades_and_its_payment_events_without_expiry_still_replay(
        tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    layout = compose.layout()
    conn = open_connection(db)
    migrate(conn, layout.schema)
    _append(conn, _old_log())
    # Make it the store the old build left: no card_expiry column, the migration not applied.
    with conn:
        conn.execute("ALTER TABLE payments DROP COLUMN card_expiry")
        conn.execute("DELETE FROM schema_versions WHERE component = 'payments'")
    assert eventlog.head(conn)[1] != GENESIS_HASH

    migrate(conn, layout.schema)  # the upgrade
    assert conn.execute("SELECT card_masked_pan, card_expiry FROM payments WHERE payment_id = ?",
                        (PAYMENT,)).fetchall() == [(PAN, None)]
    report = verify(db)
    assert report.ok and report.rebuilt_events == 4, report

    order_id = _golden("sale.completed")["order_id"]
    assert returns.orders_by_card(conn, PAN, APPROVAL) == [order_id]
    # Its expiry was never recorded: an expiry given does not match it (look up without one).
    assert returns.orders_by_card(conn, PAN, APPROVAL, "2812") == []

    # After the upgrade the same stream goes on at version 2: a refund by the terminal, whose
    # card carries the expiry; the old and the new events replay together.
    refund_id = "01a23373-7d99-71d2-9879-c71565bba6a2"
    card = {**_golden("payment.captured")["card"], "trace_no": 3, "receipt_no": 3,
            "expiry": "2812"}
    _append(conn, [
        (f"payment:{PAYMENT}", "payment.refund_requested", ev.PaymentRefundRequested.SCHEMA_VERSION,
         msgspec.json.encode({"payment_id": PAYMENT, "refund_id": refund_id,
                              "amount_minor": 100})),
        (f"payment:{PAYMENT}", "payment.refunded", ev.PaymentRefunded.SCHEMA_VERSION,
         msgspec.json.encode({"payment_id": PAYMENT, "refund_id": refund_id,
                              "amount_minor": 100, "via": "terminal", "card": card})),
    ])
    assert ev.PaymentRefunded.SCHEMA_VERSION == 2
    versions = conn.execute("SELECT type, schema_version FROM events WHERE type LIKE "
                            "'payment.%' ORDER BY seq").fetchall()
    assert ("payment.captured", 1) in versions and ("payment.refunded", 2) in versions
    report = verify(db)
    assert report.ok and report.rebuilt_events == 6, report
    conn.close()

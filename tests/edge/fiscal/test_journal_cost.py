"""What sealing a sale costs must not grow with the store's history: no statement the writer
runs for a whole sale (open, scans, tender, complete and its signature record) searches the
event log by anything but its key; a busy store's log holds millions of events. And the record
still says when the sale began: its cart's opening."""

from __future__ import annotations

from edge.store import eventlog
from schemas import fiscal as f
from schemas.events import decode_body
from tests.edge.api.helpers import open_cart, post
from tests.support.live_app import LiveApp


def test_a_sale_scans_no_table_of_the_log_and_its_record_starts_at_the_cart_opening(
        live: LiveApp) -> None:
    lane = live.client("lane-1")
    statements: set[str] = set()
    conn = live.service.writer._conn
    assert conn is not None

    def trace(_cursor, sql: str, _bindings) -> bool:
        statements.add(sql.strip())
        return True

    conn.exec_trace = trace
    try:
        cart = open_cart(lane)
        live.clock.advance(95_000)  # the cashier takes a minute and a half
        assert post(lane, f"/v1/carts/{cart}/lines", {"sku": "COFFEE-250G"}).status_code == 201
        assert post(lane, f"/v1/carts/{cart}/tenders",
                    {"tender_type": "cash", "amount_minor": 5000}).status_code == 201
        done = post(lane, f"/v1/carts/{cart}/complete", {})
        assert done.status_code == 201, done.text
    finally:
        conn.exec_trace = None

    reader = live.service.reader
    scans = []
    for sql in statements:
        if not sql.upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")):
            continue
        plan = reader.execute("EXPLAIN QUERY PLAN " + sql, (None,) * sql.count("?")).fetchall()
        if any(detail.startswith("SCAN events") for *_ids, detail in plan):
            scans.append(sql)
    assert scans == [], scans

    events = list(eventlog.read(reader))
    opened = next(e for e in events if e.type == "cart.opened" and e.stream == f"cart:{cart}")
    sale = [e for e in events if e.type == "sale.completed"][-1]
    record = next(r for r in (decode_body(e.type, e.schema_version, e.body) for e in events
                              if e.type == f.FiscalSigned.TYPE) if r.event_seq == sale.seq)
    assert (record.start_ms, record.end_ms) == (opened.recorded_at_ms, sale.recorded_at_ms)
    assert sale.recorded_at_ms - opened.recorded_at_ms == 95_000

"""Storage benchmark: bytes per event of the mix checkout writes, `verify` rate, and the
`report z` and `status` wall times on that database, with the pre-compaction layout measured
in the same run as the baseline.

    .venv/bin/python bench/storage.py [--events 100000] [--sales-per-day 2000] [--tmp-dir D]
    .venv/bin/python bench/storage.py --events 1000000        # the figures of docs/benchmarks.md

What it does:
1. Creates a store (`edge.compose.store_of`: the real schema, every domain) with the demo
   catalog and rings ONE real sale through the domain commands and the one writer: cart
   opened, 3 lines added, a cash payment created and captured, the sale completed (7 events;
   the fiscal seal adds its signature record, `fiscal.signed`: 8 events a sale).
2. Appends `--events` events of that mix through the writer (`Tx.append`: the live path, the
   projections included, so the database verifies): the template's bodies with fresh cart,
   payment and order ids and receipt numbers, `--sales-per-day` sales per business day (the
   clock moves a day between days), 2,000 sales per transaction.
3. Baseline, same run: the same events (canonical bodies) inserted into a database holding
   the baseline store schema alone (the layout before `store.log` migration 1: bodies as JSON,
   `event_id` UNIQUE, `(stream, seq)` index). Bytes per event of its `events` table and
   indexes (`dbstat`) and its chain walk rate; then the rate of the one-time upgrade of such a
   database (the `store.log` migration rewriting its `events` table).
4. Measures on the built store: file bytes per event (after a WAL checkpoint: the whole
   database, read models included) and the event log's own (table + indexes, `dbstat`);
   `verify` (chain walk + rebuild of every read model + comparison, `edge.store.rebuild`)
   events/s, and the chain walk alone; `novapos-edge report z` (the busiest day) and
   `novapos-edge status` (daemon down) as subprocesses, wall time (each the best of 3).
5. Retention (`--no-compact` skips it): the relay acknowledged everything, the events of the
   older half of the days leave (`edge.store.retention.run`, timed); `verify` from the
   checkpoint (must pass); VACUUM; the file size after.

The last line of stdout is one JSON object; exit 0 when the targets hold (<= 500 bytes per
event for the whole database, verify >= 20k events/s), 1 otherwise. The box is shared: the
load average is reported with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import apsw  # noqa: E402
import msgspec  # noqa: E402

from core import chain  # noqa: E402
from core.clock import ManualClock  # noqa: E402
from core.ids import uuid7  # noqa: E402
from edge import compose, demo  # noqa: E402
from edge import config as config_mod  # noqa: E402
from edge.carts import commands as carts  # noqa: E402
from edge.lanes import Principal  # noqa: E402
from edge.orders import commands as orders  # noqa: E402
from edge.store import eventlog, log_migrations, migrations, rebuild  # noqa: E402
from edge.store.db import migrate, open_connection  # noqa: E402
from edge.tender import commands as tender  # noqa: E402
from schemas import api  # noqa: E402
from schemas.envelope import Event  # noqa: E402
from schemas.events import decode_body  # noqa: E402

TARGET_BYTES_PER_EVENT = 500  # 0.5 GB per 1,000,000 events
TARGET_VERIFY_PER_S = 20_000
START_MS = 1_772_445_600_000  # 2026-03-02 10:00 UTC
DAY_MS = 86_400_000
SALES_PER_TX = 2_000
CASHIER = Principal("demo-tenant", "store-001", "lane-1", "cashier", "t")


def _template(store, policy) -> list[Event]:
    head = eventlog.head(store.reader)[0]

    def sell(tx):
        cart = carts.open_cart(tx, CASHIER, policy)
        for sku in ("COFFEE-250G", "BREAD-500G", "MILK-1L"):
            cart = carts.add_line(tx, CASHIER, policy, cart.cart_id, api.AddLine(sku=sku, qty=2))
        total = cart.totals(policy.tax_mode).total_minor
        tender.add_tender(tx, CASHIER, cart.cart_id,
                          api.AddTender(tender_type="cash", amount_minor=total), policy)
        return orders.complete(tx, CASHIER, policy, cart.cart_id)

    store.writer.run_sync(sell)
    # The fiscal seal (`Writer.sealer`) adds its own records to every sale; the writer adds
    # them again for each sale of the mix, so the template is the sale's own events.
    return [e for e in eventlog.read(store.reader, head) if not e.type.startswith("fiscal.")]


class Mix:
    """The template sale again and again: fresh ids, receipt numbers and business date."""

    def __init__(self, template: list[Event], store_id: str) -> None:
        self.template = template
        sale = decode_body(template[-1].type, template[-1].schema_version, template[-1].body)
        pay = decode_body(template[4].type, template[4].schema_version, template[4].body)
        self.ids = (sale.cart_id, pay.payment_id, sale.order_id)
        self.receipt = sale.receipt_number
        self.day = sale.business_date
        self.prefix = f"{store_id}-B"
        self.n = 0

    def sale(self, business_date: str) -> list[tuple[str, str, int, bytes, str]]:
        self.n += 1
        new = (uuid7(), uuid7(), uuid7())
        out = []
        for ev in self.template:
            body, stream = ev.body, ev.stream
            for old, fresh in zip(self.ids, new):
                body = body.replace(old.encode(), fresh.encode())
                stream = stream.replace(old, fresh)
            body = body.replace(self.receipt.encode(), f"{self.prefix}{self.n:09d}".encode())
            body = body.replace(f'"{self.day}"'.encode(), f'"{business_date}"'.encode())
            out.append((ev.type, stream, ev.schema_version, body, ev.lane_id))
        return out


def build(store, mix: Mix, clock: ManualClock, events: int, per_day: int) -> int:
    """Append about `events` events of the mix through the writer (each sale's own events and
    the fiscal seal's record the writer adds to it); returns the count."""
    made = 0
    sales_today = 0
    per_sale = len(mix.template) + 1  # + fiscal.signed

    while made < events:
        k = min(SALES_PER_TX, per_day - sales_today, -(-(events - made) // per_sale))
        first = eventlog.head(store.reader)[0]

        def append(tx, k=k):
            for _ in range(k):
                for type_, stream, version, body, lane in mix.sale(tx.business_date):
                    tx.append(decode_body(type_, version, body), stream=stream, lane_id=lane)
            return k

        store.writer.run_sync(append)
        step = eventlog.head(store.reader)[0] - first
        made += step
        sales_today += k
        if sales_today >= per_day:
            clock.advance(DAY_MS)
            sales_today = 0
        if made // 100_000 != (made - step) // 100_000:
            print(f"  appended {made:,} events", file=sys.stderr, flush=True)
    return made


def log_bytes(conn: apsw.Connection) -> int:
    """Bytes of the events table and its indexes (pages in use, `dbstat`)."""
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE tbl_name = 'events' AND type IN ('table','index')")]
    marks = ",".join("?" * len(names))
    return conn.execute(f"SELECT sum(pgsize) FROM dbstat WHERE name IN ({marks})",
                        names).fetchall()[0][0]


def baseline(path: Path, events: list[Event]) -> dict:
    """The pre-compaction layout: baseline migrations only, canonical bodies."""
    conn = open_connection(path)
    conn.execute("PRAGMA synchronous=OFF")
    migrate(conn, ((migrations.COMPONENT, migrations.MIGRATIONS),))
    cols = ", ".join(eventlog.COLUMNS.split(", "))
    with conn:
        conn.executemany(f"INSERT INTO events ({cols}) VALUES ({','.join('?' * 13)})",
                         [msgspec.structs.astuple(e) for e in events])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    n = len(events)
    size = log_bytes(conn)
    t0 = time.perf_counter()
    report = chain.verify((Event(*row) for row in conn.execute(
        f"SELECT {eventlog.COLUMNS} FROM events ORDER BY seq")), first_seq=events[0].seq,
        prev_hash=events[0].prev_hash)
    chain_s = time.perf_counter() - t0
    assert report.ok and report.events == n, report
    # The upgrade an existing store runs once: the `store.log` migration rewrites the table.
    t0 = time.perf_counter()
    migrate(conn, ((log_migrations.COMPONENT, log_migrations.MIGRATIONS),))
    upgrade_s = time.perf_counter() - t0
    conn.close()
    return {"log_bytes_per_event": round(size / n, 1), "chain_events_per_s": round(n / chain_s),
            "upgrade_events_per_s": round(n / upgrade_s)}


def compact(data: Path, cfg, clock: ManualClock, layout) -> dict:
    """Retention on the built store: the relay acknowledged everything, the older half of the
    days leave (`max_age_days` = half the days the build spanned); then verify from the
    checkpoint, and VACUUM."""
    from edge.store import retention
    from sync import cursor

    store = compose.store_of(data, cfg, clock)
    store.start()
    try:
        seq, digest = eventlog.head(store.reader)
        store.writer.run_sync(lambda tx: cursor.rewind(tx.conn, to_seq=seq, to_hash=digest,
                                                       relay_epoch="bench", now_ms=tx.now_ms))
        days = (clock.now_ms() - START_MS) // DAY_MS
        t0 = time.perf_counter()
        outcome = retention.run(store, layout, max_age_days=max(1, days // 2))
        compact_s = time.perf_counter() - t0
    finally:
        store.stop()
    t0 = time.perf_counter()
    report = rebuild.verify(store.db_path, layout)
    verify_s = time.perf_counter() - t0
    assert report.ok, (report.chain, report.mismatched_tables)
    before, after = retention.vacuum(store.db_path)
    return {"compact_removed": outcome.removed if outcome else 0,
            "compact_s": round(compact_s, 1),
            "compact_snapshot_rows": outcome.snapshot_rows if outcome else 0,
            "verify_after_compact_events": report.chain.events,
            "verify_after_compact_s": round(verify_s, 1),
            "db_bytes_after_compact_vacuum": after, "db_bytes_before_vacuum": before}


def _best_wall(argv: list[str], runs: int = 3) -> tuple[float, int]:
    best, code = float("inf"), 0
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        best = min(best, time.perf_counter() - t0)
        code = proc.returncode
    return best, code


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--sales-per-day", type=int, default=2_000)
    ap.add_argument("--baseline-events", type=int, default=None,
                    help="events of the baseline layout (default: all of them, up to 200,000)")
    ap.add_argument("--tmp-dir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--compact", action=argparse.BooleanOptionalAction, default=True,
                    help="then run retention on the older half of the days, verify, VACUUM")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="novapos-bench-storage-", dir=args.tmp_dir))
    try:
        data = base / "store"
        data.mkdir()
        cfg = config_mod.load(data, {})
        clock = ManualClock(START_MS)
        store = compose.store_of(data, cfg, clock)
        store.start()
        try:
            demo.seed(store)
            template = _template(store, compose.policy_of(cfg))
            assert [e.type for e in template] == [
                "cart.opened", "cart.line_added", "cart.line_added", "cart.line_added",
                "payment.created", "payment.captured", "sale.completed"], template
            mix = Mix(template, cfg.store.store_id)
            keep = args.baseline_events if args.baseline_events is not None else min(
                args.events, 200_000)
            first = eventlog.head(store.reader)[0]
            t0 = time.perf_counter()
            made = build(store, mix, clock, args.events, args.sales_per_day)
            build_s = time.perf_counter() - t0
            raw = list(eventlog.read(store.reader, first, keep))  # canonical bodies
            busiest = store.reader.execute(
                "SELECT business_date FROM events WHERE type = 'sale.completed' "
                "GROUP BY business_date ORDER BY count(*) DESC LIMIT 1").fetchall()[0][0]
        finally:
            store.stop()
        conn = open_connection(store.db_path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        total_events = conn.execute("SELECT count(*) FROM events").fetchall()[0][0]
        log_size = log_bytes(conn)
        conn.close()
        file_size = store.db_path.stat().st_size
        before = baseline(base / "baseline.db", raw[:keep])
        del raw

        layout = compose.layout()
        t0 = time.perf_counter()
        conn = open_connection(store.db_path, readonly=True)
        ch = eventlog.verify_chain(conn)
        conn.close()
        chain_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = rebuild.verify(store.db_path, layout)
        verify_s = time.perf_counter() - t0
        assert report.ok, (report.chain, report.mismatched_tables)
        assert ch.ok and ch.events == total_events

        py = sys.executable
        z_s, z_code = _best_wall([py, "-m", "edge.cli", "report", "z", "--date", busiest,
                                  "--data-dir", str(data), "--json"])
        st_s, st_code = _best_wall([py, "-m", "edge.cli", "status", "--data-dir", str(data),
                                    "--json"])
        assert z_code == 0
        compacted = compact(data, cfg, clock, layout) if args.compact else None
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    out = {
        "bench": "storage", "events": total_events, "mix_events": made,
        "sales_per_day": args.sales_per_day, "build_s": round(build_s, 1),
        "db_bytes": file_size, "db_bytes_per_event": round(file_size / total_events, 1),
        "db_gb_per_million_events": round(file_size / total_events * 1e6 / 1e9, 3),
        "log_bytes_per_event": round(log_size / total_events, 1),
        "baseline_log_bytes_per_event": before["log_bytes_per_event"],
        "baseline_events": keep,
        "verify_s": round(verify_s, 1), "verify_events_per_s": round(total_events / verify_s),
        "chain_events_per_s": round(total_events / chain_s),
        "baseline_chain_events_per_s": before["chain_events_per_s"],
        "upgrade_migration_events_per_s": before["upgrade_events_per_s"],
        "report_z_s": round(z_s, 2), "report_z_day": busiest,
        "status_s": round(st_s, 2), "status_exit": st_code,
        "load_avg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
    }
    if compacted:
        out.update(compacted)
    out["ok"] = (out["db_bytes_per_event"] <= TARGET_BYTES_PER_EVENT
                 and out["verify_events_per_s"] >= TARGET_VERIFY_PER_S)
    for k, v in out.items():
        print(f"{k:32} {v}", file=sys.stderr)
    print(json.dumps(out))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Returns benchmark: find an order by receipt number and compute its returnable lines, on a
store database holding N orders, with a raw-apsw baseline measured in the same run.

    .venv/bin/python bench/returns.py [--orders 20000] [--lookups 3000] [--tmp-dir D] [--keep]
    .venv/bin/python bench/returns.py --orders 1000000      # the figure of docs/returns.md

What it does:
1. Creates a store (`edge.compose.store_of`: the real schema and migrations, every domain's
   tables) with the demo catalog, and rings ONE real sale (cash and card-like tenders are not
   needed: cash) and one real return through the domain commands and the one writer, so the
   template rows are exactly what the daemon writes.
2. Bulk-fills the read models the lookup reads with N orders copied from that template (new
   ids and receipt numbers; 3 lines, 1 payment each; every 10th order with a returned line as
   a refund of the order, as returns record them), in transactions of 20,000 orders. The event
   log is not filled: the lookup never reads it.
3. Measures (wall time, and the thread's CPU time, since a shared machine's load shows in
   the wall-clock tail), on the store's read connection, `--lookups` random receipts (one in ten
   unknown: a 404 costs a look too): `find_order(receipt_number)` + `views.returnable(...)`,
   what `GET /v1/returns/orders?receipt_number=` runs (without HTTP). Latency per lookup by
   `time.perf_counter_ns`.
4. Baseline, same run, same connection, same receipts: the bare indexed
   `SELECT ... FROM orders WHERE receipt_number = ?` (the floor any lookup pays).

The last line of stdout is one JSON object with the figures; exit 0 when p99 is under the
target (10 ms), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.clock import ManualClock  # noqa: E402
from edge import compose, demo  # noqa: E402
from edge import config as config_mod  # noqa: E402
from edge.carts import commands as carts  # noqa: E402
from edge.lanes import Principal  # noqa: E402
from edge.orders import commands as orders  # noqa: E402
from edge.returns import commands as returns  # noqa: E402
from edge.returns import views  # noqa: E402
from edge.tender import commands as tender  # noqa: E402
from schemas import api  # noqa: E402
from schemas import returns as rt  # noqa: E402

TARGET_P99_MS = 10.0
BATCH = 20_000
CARD_EVERY = 5  # every 5th bulk order is paid by card
START_MS = 1_772_445_600_000
CASHIER = Principal("demo-tenant", "store-001", "lane-1", "cashier", "t")


def card_of(i: int) -> tuple[str, str]:
    """The masked PAN and approval code of the card that paid bulk order i (i % CARD_EVERY
    == 0): 10,000 different cards, each approval code its own."""
    return f"4999********{i % 10_000:04d}", f"A{i:09d}"


def _percentile(sorted_ns: list[int], p: float) -> float:
    k = min(len(sorted_ns) - 1, max(0, int(round(p / 100 * (len(sorted_ns) - 1)))))
    return sorted_ns[k] / 1e6


def _template(store, policy) -> str:
    def sell(tx):
        cart = carts.open_cart(tx, CASHIER, policy)
        for sku in ("COFFEE-250G", "BREAD-500G", "MILK-1L"):
            cart = carts.add_line(tx, CASHIER, policy, cart.cart_id,
                                  api.AddLine(sku=sku, qty=2))
        total = cart.totals(policy.tax_mode).total_minor
        tender.add_tender(tx, CASHIER, cart.cart_id,
                          api.AddTender(tender_type="cash", amount_minor=total), policy)
        return orders.complete(tx, CASHIER, policy, cart.cart_id)

    return store.writer.run_sync(sell)


def _fill(conn, template_id: str, n: int, store_id: str) -> None:
    order = conn.execute("SELECT * FROM orders WHERE order_id = ?", (template_id,)).fetchall()[0]
    lines = conn.execute("SELECT * FROM order_lines WHERE order_id = ?", (template_id,)).fetchall()
    tenders = conn.execute("SELECT * FROM order_tenders WHERE order_id = ?",
                           (template_id,)).fetchall()
    pay_cols = [r[1] for r in conn.execute("PRAGMA table_info(payments)")]
    pays = conn.execute("SELECT * FROM payments WHERE order_id = ?", (template_id,)).fetchall()
    o_cols = [r[1] for r in conn.execute("PRAGMA table_info(orders)")]
    i_oid, i_cart, i_rcpt = (o_cols.index(c) for c in ("order_id", "cart_id", "receipt_number"))
    i_pid, i_pcart, i_poid = (pay_cols.index(c) for c in ("payment_id", "cart_id", "order_id"))
    i_req = pay_cols.index("request_key")
    i_type, i_pan, i_code = (pay_cols.index(c) for c in ("tender_type", "card_masked_pan",
                                                          "card_approval_code"))
    marks = lambda k: ",".join("?" * k)  # noqa: E731
    done = 0
    while done < n:
        o_rows, l_rows, t_rows, p_rows, r_rows, rl_rows = [], [], [], [], [], []
        for i in range(done, min(n, done + BATCH)):
            oid, cid, pid = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
            row = list(order)
            row[i_oid], row[i_cart], row[i_rcpt] = oid, cid, f"{store_id}-B{i + 1:09d}"
            o_rows.append(row)
            l_rows += [(oid, *ln[1:]) for ln in lines]
            t_rows += [(oid, *t[1:]) for t in tenders]
            for p in pays:
                prow = list(p)
                prow[i_pid], prow[i_pcart], prow[i_poid], prow[i_req] = pid, cid, oid, pid
                if i % CARD_EVERY == 0:  # paid by card: what a lookup by card finds
                    prow[i_type], prow[i_pan], prow[i_code] = "card", *card_of(i)
                p_rows.append(prow)
            if i % 10 == 0:  # a returned line, recorded as returns record them
                rid = str(uuid.uuid4())
                r_rows.append((rid, oid, "lane-1", 0, "cashier", "return", rid, 0))
                rl_rows.append((rid, 1, oid, 1000, 499))
        conn.execute("BEGIN")
        for table, rows in (("orders", o_rows), ("order_lines", l_rows),
                            ("order_tenders", t_rows), ("payments", p_rows),
                            ("refunds", r_rows), ("refund_lines", rl_rows)):
            if rows:
                conn.executemany(f"INSERT INTO {table} VALUES ({marks(len(rows[0]))})", rows)
        conn.execute("COMMIT")
        done = min(n, done + BATCH)
        if done % 100_000 == 0 or done == n:
            print(f"  filled {done:,} orders", file=sys.stderr, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=20_000)
    ap.add_argument("--lookups", type=int, default=3_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tmp-dir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="novapos-bench-returns-", dir=args.tmp_dir))
    try:
        data = base / "store"
        data.mkdir()
        cfg = config_mod.load(data, {})
        store = compose.store_of(data, cfg, ManualClock(START_MS))
        store.start()
        try:
            demo.seed(store)
            policy = compose.policy_of(cfg)
            rp = compose.returns_policy_of(data, cfg)
            template = _template(store, policy)
            # One real return, so the template store has every table the domain writes.
            store.writer.run_sync(lambda tx: returns.begin_receipted(
                tx, CASHIER, rp, rt.ReturnRequest(order_id=template, lines=[
                    rt.ReturnLineRequest(line_no=2, qty=1, reason="changed_mind")]), "bench:1"))
            started = time.perf_counter()
            import apsw  # the bulk fill uses its own connection (the writer is idle)

            bulk = apsw.Connection(str(store.db_path))
            bulk.execute("PRAGMA synchronous=OFF")
            _fill(bulk, template, args.orders, cfg.store.store_id)
            bulk.execute("ANALYZE")
            bulk.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as a running store's would be
            bulk.close()
            fill_s = time.perf_counter() - started

            rng = random.Random(args.seed)
            receipts = [f"{cfg.store.store_id}-B{rng.randint(1, args.orders):09d}"
                        if rng.random() > 0.1 else f"{cfg.store.store_id}-X{rng.randint(1, 9)}"
                        for _ in range(args.lookups)]
            conn = store.reader
            today = "2026-03-02"
            for r in receipts[:100]:  # warm the page cache like a running store's
                conn.execute("SELECT 1 FROM orders WHERE receipt_number = ?", (r,)).fetchall()

            lookup_ns: list[int] = []
            cpu_ns: list[int] = []
            # Lookups the scheduler took the CPU from (involuntary context switches of this
            # thread while it ran): the wall-clock tail of a shared machine, not the lookup's.
            quiet_ns: list[int] = []
            found = 0
            for r in receipts:
                s0 = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw
                c0 = time.thread_time_ns()
                t0 = time.perf_counter_ns()
                try:
                    head = returns.find_order(conn, receipt_number=r)
                    view = views.returnable(conn, rp, head, today)
                    found += 1
                    assert len(view.lines) == 3
                except Exception as exc:  # noqa: BLE001 - NotFound is part of the load
                    if type(exc).__name__ != "NotFound":
                        raise
                wall = time.perf_counter_ns() - t0
                lookup_ns.append(wall)
                cpu_ns.append(time.thread_time_ns() - c0)
                if resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw == s0:
                    quiet_ns.append(wall)
            base_ns: list[int] = []
            for r in receipts:
                t0 = time.perf_counter_ns()
                conn.execute("SELECT order_id, receipt_number, business_date, currency FROM "
                             "orders WHERE receipt_number = ?", (r,)).fetchall()
                base_ns.append(time.perf_counter_ns() - t0)
            # Finding orders by the card that paid (masked PAN + approval code), what
            # `GET /v1/returns/orders?masked_pan=&approval_code=` runs before the returnable
            # lines: an indexed look-up, not a scan of every payment.
            card_ns: list[int] = []
            cards = [card_of(CARD_EVERY * rng.randrange(max(args.orders // CARD_EVERY, 1)))
                     for _ in range(min(args.lookups, 500))]
            for pan, code in cards:
                t0 = time.perf_counter_ns()
                ids = returns.orders_by_card(conn, pan, code)
                card_ns.append(time.perf_counter_ns() - t0)
                assert len(ids) <= 1
        finally:
            store.stop()
        db_mb = store.db_path.stat().st_size / 1e6
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    lookup_ns.sort()
    base_ns.sort()
    cpu_ns.sort()
    quiet_ns.sort()
    card_ns.sort()
    wall_p99, cpu_p99 = _percentile(lookup_ns, 99), _percentile(cpu_ns, 99)
    out = {
        "bench": "returns", "orders": args.orders, "lookups": args.lookups, "found": found,
        "db_mb": round(db_mb, 1), "fill_s": round(fill_s, 1),
        # The figures the target is judged on: find by receipt + returnable lines.
        "wall_p99_ms": round(wall_p99, 3),
        # CPU time of the lookup thread alone: what the lookup costs when the machine's other
        # work (the box is shared) does not preempt it.
        "cpu_p99_ms": round(cpu_p99, 3),
        "lookup_p50_ms": round(_percentile(lookup_ns, 50), 3),
        "lookup_p95_ms": round(_percentile(lookup_ns, 95), 3),
        "lookup_p99_ms": round(wall_p99, 3),
        "lookup_max_ms": round(lookup_ns[-1] / 1e6, 3),
        "lookup_cpu_p50_ms": round(_percentile(cpu_ns, 50), 3),
        "lookup_cpu_p99_ms": round(cpu_p99, 3),
        # Lookups during which the scheduler preempted the thread, and the wall p99 of the
        # others: how much of the wall tail is the machine rather than the lookup.
        "preempted": len(lookup_ns) - len(quiet_ns),
        "wall_p99_not_preempted_ms": round(_percentile(quiet_ns, 99), 3) if quiet_ns else None,
        "card_lookup_p50_ms": round(_percentile(card_ns, 50), 3),
        "card_lookup_p99_ms": round(_percentile(card_ns, 99), 3),
        "load_avg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
        "baseline_p50_ms": round(_percentile(base_ns, 50), 3),
        "baseline_p99_ms": round(_percentile(base_ns, 99), 3),
        "target_p99_ms": TARGET_P99_MS,
    }
    out["p99_over_baseline"] = round(out["lookup_p99_ms"] / max(out["baseline_p99_ms"], 1e-6), 1)
    print(f"find by receipt + returnable lines over {args.orders:,} orders: "
          f"p50 {out['lookup_p50_ms']} ms, p99 {out['lookup_p99_ms']} ms "
          f"(target < {TARGET_P99_MS} ms), CPU p99 {out['cpu_p99_ms']} ms; "
          f"{out['preempted']} of {args.lookups} lookups preempted, wall p99 of the others "
          f"{out['wall_p99_not_preempted_ms']} ms; by card p99 {out['card_lookup_p99_ms']} ms; "
          f"bare indexed lookup p99 {out['baseline_p99_ms']} ms; load average "
          f"{out['load_avg_1m']} on {out['cpus']} CPUs")
    print(json.dumps(out))
    return 0 if out["lookup_p99_ms"] < TARGET_P99_MS else 1


if __name__ == "__main__":
    sys.exit(main())

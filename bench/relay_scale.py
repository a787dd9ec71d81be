"""Many stores of one tenant at the relay: 200 stores draining at once into 2 relay processes
that share one PostgreSQL database.

    .venv/bin/python bench/relay_scale.py          # 200 stores x 500 events, batches of 250
    .venv/bin/python bench/relay_scale.py --stores 50 --events-per-store 200 --batch 50

1. A fresh schema in db `test` on 127.0.0.1:5432 (trust auth); `--stores` stores of one tenant
   enrolled; for each a hash-chained log of `--events-per-store` real `sale.completed` bodies
   (the sync benchmark's sale generator), cut into signed batches of `--batch` events.
2. Baseline, the database's own rate in the same run: the same rows COPYed by one connection
   into a copy of the `events` table (same indexes), one transaction per batch, no relay.
3. `--relays` (2) `novapos-relay serve` processes on that database; every store drains its
   backlog concurrently (one thread per store, store i talks to relay i mod 2, as behind a load
   balancer), sending its next batch when the previous one is acked, as the edge does.
4. Checks the ledger afterwards: every event exactly once, `ledger_seq` 1..N without a gap,
   each store's events in its own order.

Figures: aggregate events/s (all events / wall time from the first upload to the last ack),
its ratio to the baseline, per-store p99 batch ack latency (the worst store's, and the median
store's), how far apart the first and the last store finished, and the load average. The last
line of stdout is one JSON object. Skips (exit 0, "skipped") when PostgreSQL is unreachable.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT), *(p for p in sys.path if p not in (str(ROOT), str(ROOT / "bench")))]

import psycopg  # noqa: E402

from cloud_relay import admin  # noqa: E402
from cloud_relay.sealing import KEY_FILENAME  # noqa: E402
from cloud_relay.storage import open_storage  # noqa: E402
from schemas import events as ev  # noqa: E402
from schemas.sync import encode_batch  # noqa: E402
from tests.support.relay import (  # noqa: E402
    PG_BASE,
    Chain,
    RelayProcess,
    StoreClient,
    drop_pg_schema,
    new_pg_schema,
    pg_available,
)
from tests.support.sync_store import sale_body  # noqa: E402

TENANT = "chain"
_COLUMNS = ("tenant_id", "store_id", "seq", "ledger_seq", "event_id", "lane_id", "stream",
            "type", "schema_version", "recorded_at_ms", "business_date", "body", "prev_hash",
            "hash", "received_at_ms", "quarantine")
_TYPES = ["text", "text", "int8", "int8", "text", "text", "text", "text", "int8", "int8",
          "text", "bytea", "bytea", "bytea", "int8", "text"]


def build(stores: int, per_store: int, batch: int) -> list[tuple[str, list[tuple[bytes, str]],
                                                                 Chain]]:
    rng = random.Random(11)
    bodies = [ev.encode_body(sale_body(n, rng, 1_772_445_600_000, "2026-03-02", "B"))
              for n in range(500)]
    out = []
    for s in range(stores):
        store_id = f"store-{s:03d}"
        chain = Chain(TENANT, store_id)
        for n in range(per_store):
            chain.append(bodies[(s * 7 + n) % len(bodies)], type_=ev.SaleCompleted.TYPE,
                         stream=f"order:{store_id}-{n}")
        batches = []
        for first in range(1, per_store + 1, batch):
            b = chain.batch(first, min(per_store, first + batch - 1))
            batches.append((encode_batch(b), b.batch_id))
        out.append((store_id, batches, chain))
    return out


def baseline(url: str, work: list, batch: int) -> float:
    """The same rows, one connection, one COPY and one commit per batch, into a copy of the
    events table with its indexes: what the database does for a single writer."""
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE events_baseline (LIKE events INCLUDING ALL)")
        conn.commit()
        ledger = 0
        now = int(time.time() * 1000)
        # Interleaved like the concurrent drain: every store's first batch, then the second...
        rounds = max(len(b) for _, b, _ in work)
        started = time.perf_counter()
        for r in range(rounds):
            for store_id, batches, chain in work:
                if r >= len(batches):
                    continue
                events = chain.log[r * batch:(r + 1) * batch]
                with conn.cursor() as cur, cur.copy(
                        f"COPY events_baseline ({', '.join(_COLUMNS)}) FROM STDIN "
                        "(FORMAT BINARY)") as copy:
                    copy.set_types(_TYPES)
                    for e in events:
                        ledger += 1
                        copy.write_row((TENANT, store_id, e.seq, ledger, e.event_id, e.lane_id,
                                        e.stream, e.type, e.schema_version, e.recorded_at_ms,
                                        e.business_date, e.body, e.prev_hash, e.hash, now,
                                        None))
                conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE events_baseline")
        conn.commit()
    return ledger / elapsed


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def warm_up(relays: list[RelayProcess], url: str, key_file: Path) -> None:
    """One small batch of another tenant through each relay first: the first request of a
    process pays its lazy imports and connections, which are not ingest."""
    storage = open_storage(url, key_file=key_file)
    try:
        creds = [admin.enroll_store(storage, "warm-up", f"w{i}", int(time.time() * 1000))
                 for i in range(len(relays))]
    finally:
        storage.close()
    for i, (relay, cred) in enumerate(zip(relays, creds)):
        chain = Chain("warm-up", f"w{i}")
        chain.extend(10)
        client = StoreClient(relay.url, cred)
        try:
            for first in (1, 6):
                client.ack(chain.batch(first, first + 4))
        finally:
            client.close()


def drain(relays: list[RelayProcess], creds: dict, work: list) -> dict:
    n_stores = len(work)
    latencies: list[list[float]] = [[] for _ in work]
    finished = [0.0] * n_stores
    retries = [0] * n_stores
    errors: list[str] = []
    gate = threading.Barrier(n_stores + 1)

    def run(i: int, store_id: str, batches: list[tuple[bytes, str]]) -> None:
        client = StoreClient(relays[i % len(relays)].url, creds[store_id])
        client.http.timeout = 120.0
        try:
            gate.wait()
            for raw, key in batches:
                while True:
                    t0 = time.perf_counter()
                    resp = client.upload_raw(raw, key)
                    if resp.status_code == 200:
                        latencies[i].append(time.perf_counter() - t0)
                        break
                    if resp.status_code in (409, 503) and "Retry-After" in resp.headers:
                        retries[i] += 1
                        time.sleep(0.05)
                        continue
                    raise RuntimeError(f"{store_id} {key}: {resp.status_code} {resp.text[:300]}")
            finished[i] = time.perf_counter()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=(i, s, b), daemon=True)
               for i, (s, b, _) in enumerate(work)]
    for t in threads:
        t.start()
    cpu0 = [_cpu_s(r.proc.pid) for r in relays]  # type: ignore[union-attr]
    gate.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    cpu = [_cpu_s(r.proc.pid) - c for r, c in zip(relays, cpu0)]  # type: ignore[union-attr]
    if errors:
        raise RuntimeError(f"{len(errors)} stores failed; first: {errors[0]}")
    p99s = sorted(_p99(lat) for lat in latencies)
    return {"elapsed_s": elapsed, "store_p99_ms": p99s,
            "all_p50_ms": statistics.median(x for lat in latencies for x in lat) * 1000,
            "first_done_s": min(finished) - started, "last_done_s": max(finished) - started,
            "retries": sum(retries), "relay_cpu_s": cpu}


def _p99(values: list[float]) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * 0.99))] * 1000


def check_ledger(url: str, total: int, work: list) -> None:
    with psycopg.connect(url) as conn:
        n, lo, hi, distinct = conn.execute(
            "SELECT count(*), min(ledger_seq), max(ledger_seq), count(DISTINCT event_id) "
            "FROM events WHERE tenant_id = %s", (TENANT,)).fetchone()
        assert (n, lo, hi, distinct) == (total, 1, total, total), (n, lo, hi, distinct)
        disorder = conn.execute(
            "SELECT count(*) FROM (SELECT ledger_seq, lag(ledger_seq) OVER "
            "(PARTITION BY store_id ORDER BY seq) AS before FROM events WHERE tenant_id = %s) x "
            "WHERE ledger_seq < before", (TENANT,)).fetchone()[0]
        assert disorder == 0, f"{disorder} events ahead of an earlier one of their store"
        per_store = dict(conn.execute("SELECT store_id, max(seq) FROM events WHERE tenant_id = %s "
                                      "GROUP BY store_id", (TENANT,)).fetchall())
    for store_id, _, chain in work:
        assert per_store.get(store_id) == chain.seq, (store_id, per_store.get(store_id))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stores", type=int, default=200)
    ap.add_argument("--events-per-store", type=int, default=500)
    ap.add_argument("--batch", type=int, default=250, help="events per batch")
    ap.add_argument("--relays", type=int, default=2)
    ap.add_argument("--tmp-dir", type=Path, default=None)
    args = ap.parse_args()
    problem = pg_available()
    if problem:
        print(f"PostgreSQL at {PG_BASE} unreachable: {problem}", file=sys.stderr)
        print(json.dumps({"skipped": f"no PostgreSQL: {problem}"}))
        return 0
    total = args.stores * args.events_per_store
    result: dict = {"stores": args.stores, "events_per_store": args.events_per_store,
                    "batch": args.batch, "relays": args.relays, "events": total,
                    "load_before": [round(x, 2) for x in os.getloadavg()]}
    t0 = time.perf_counter()
    work = build(args.stores, args.events_per_store, args.batch)
    print(f"built {total} events in {sum(len(b) for _, b, _ in work)} batches "
          f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    url = new_pg_schema()
    with tempfile.TemporaryDirectory(prefix="novapos-relay-scale-", dir=args.tmp_dir) as tmp:
        data = Path(tmp)
        relays: list[RelayProcess] = []
        try:
            storage = open_storage(url, key_file=data / KEY_FILENAME)
            try:
                now = int(time.time() * 1000)
                creds = {s: admin.enroll_store(storage, TENANT, s, now) for s, _, _ in work}
            finally:
                storage.close()
            base = baseline(url, work, args.batch)
            result["baseline_events_per_s"] = round(base)
            relays = [RelayProcess(url, data / f"relay-{i}.log").start()
                      for i in range(args.relays)]
            warm_up(relays, url, data / KEY_FILENAME)
            got = drain(relays, creds, work)
            result["load_after"] = [round(x, 2) for x in os.getloadavg()]
            check_ledger(url, total, work)
        finally:
            for r in relays:
                r.stop()
            drop_pg_schema(url)
    rate = total / got["elapsed_s"]
    p99s = got["store_p99_ms"]
    result.update({
        "aggregate_events_per_s": round(rate),
        "ratio": round(rate / base, 3),
        "elapsed_s": round(got["elapsed_s"], 2),
        "batch_ack_p50_ms": round(got["all_p50_ms"], 1),
        "store_p99_ack_ms_max": round(p99s[-1], 1),
        "store_p99_ack_ms_median": round(p99s[len(p99s) // 2], 1),
        "store_p99_ack_ms_min": round(p99s[0], 1),
        "first_store_done_s": round(got["first_done_s"], 2),
        "last_store_done_s": round(got["last_done_s"], 2),
        "retries": got["retries"],
        "relay_cpu_us_per_event": round(sum(got["relay_cpu_s"]) / total * 1e6, 1),
        "ledger_checked": True,
        "targets": {"aggregate_events_per_s": 40_000},
    })
    print(f"{args.stores} stores x {args.events_per_store} events, batches of {args.batch}, "
          f"{args.relays} relays: {rate:,.0f} ev/s aggregate (baseline one-connection COPY "
          f"{base:,.0f} ev/s, {result['ratio']}x); per-store p99 ack max "
          f"{result['store_p99_ack_ms_max']} ms, median {result['store_p99_ack_ms_median']} ms; "
          f"stores finished between {result['first_store_done_s']} and "
          f"{result['last_store_done_s']} s; load {result['load_after']}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

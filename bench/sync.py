"""Sync drain benchmark: how fast a store's backlog reaches the relay.

    .venv/bin/python bench/sync.py                 # 100,000 events
    .venv/bin/python bench/sync.py --events 20000

1. Builds an N-event backlog on an edge store (real `sale.completed` events appended through
   the store's writer, 1,000 per transaction) in a temp dir.
2. Drains it with the real sync engine (`sync.engine.SyncEngine`, default batch limits) to a
   real relay subprocess (`novapos-relay serve`) on loopback: once over SQLite, once over
   PostgreSQL (127.0.0.1:5432, db `test`, a fresh schema; skipped when unreachable). Each
   drain starts from a fresh copy of the backlog. Events/s = N / wall time from the first
   request to the last ack, and the relay's copy is checked equal to the store's log. CPU per
   event on each side over the drain: the relay process (all its threads, from /proc) and
   this process (the store's writer and the engine); PostgreSQL's own server CPU is in
   neither. On a shared box the CPU figures move far less than the wall-clock rate.
3. Naive baseline: the same engine with one event per HTTP request (`max_batch_events=1`)
   over a 2,000-event backlog to a SQLite relay; its rate is compared with the SQLite drain.
4. PostgreSQL ingest alone: the backlog's batches, decoded once, stored by the relay's storage
   layer (`Storage.ingest`) in this process with no HTTP: events/s of the database path, and
   this thread's CPU per event (the rest of the wall time is PostgreSQL's).

The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloud_relay import admin
from cloud_relay.sealing import KEY_FILENAME
from cloud_relay.storage import open_storage
from edge.compose import appliers
from edge.sync_link import StoreLink
from schemas.sync import decode_batch
from sync import cursor, outbox
from sync.engine import SyncEngine
from sync.metrics import SyncMetrics
from sync.settings import SyncConfig
from tests.support.relay import (
    RelayProcess,
    database_url,
    drop_pg_schema,
    pg_available,
)
from tests.support.sync_proof import edge_log, relay_log
from tests.support.sync_store import SaleFactory, make_service, running_store

NAIVE_EVENTS = 2_000
PER_COMMAND = 1_000


def build_backlog(data_dir: Path, events: int, seed: int = 1) -> None:
    svc = make_service(data_dir)
    svc.start()
    try:
        sales = SaleFactory(seed)
        done = 0
        while done < events:
            k = min(PER_COMMAND, events - done)
            svc.writer.run_sync(sales.command(k))
            done += k
    finally:
        svc.stop()


def fresh_copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU of process `pid` (every thread), None where /proc is not there."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_relay(backend: str, work: Path, tenant: str, store: str):
    url = database_url(backend, work)
    proc = RelayProcess(url, work / "relay.log")
    storage = proc.open_storage()
    try:
        cred = admin.enroll_store(storage, tenant, store, int(time.time() * 1000))
    finally:
        storage.close()
    return proc.start(), url, cred


@dataclass(frozen=True)
class Drained:
    events: int
    wall_s: float
    sent_bytes: int
    edge_cpu_s: float
    relay_cpu_s: float | None


async def drain(store_dir: Path, relay_url: str, cred, relay_pid: int, **settings) -> Drained:
    async with running_store(store_dir) as svc:
        cfg = SyncConfig(relay_url=relay_url, **settings)
        eng = SyncEngine(
            store=StoreLink(svc, appliers()), settings=cfg, credential=cred,
            metrics=SyncMetrics.of(svc.metrics.registry))
        head = outbox.head_seq(svc.reader)
        relay_cpu0, edge_cpu0 = process_cpu_s(relay_pid), time.process_time()
        started = time.perf_counter()
        try:
            while cursor.load(svc.reader).acked_seq < head:
                wait_s = await eng.round()
                if eng.backoff.failures:
                    raise RuntimeError(f"drain failed: {cursor.load(svc.reader).last_error}")
                del wait_s
        finally:
            elapsed = time.perf_counter() - started
            edge_cpu = time.process_time() - edge_cpu0
            relay_cpu1 = process_cpu_s(relay_pid)
            await eng.close()
        sent = int(svc.metrics.registry.get_sample_value("novapos_sync_bytes_sent_total") or 0)
        relay_cpu = (None if relay_cpu0 is None or relay_cpu1 is None
                     else relay_cpu1 - relay_cpu0)
        return Drained(head, elapsed, sent, edge_cpu, relay_cpu)


def us_per_event(cpu_s: float | None, events: int) -> float | None:
    return None if cpu_s is None else round(cpu_s / events * 1e6, 1)


def check_equal(proc: RelayProcess, store_dir: Path, tenant_id: str, store_id: str) -> None:
    storage = proc.open_storage()
    try:
        assert relay_log(storage, tenant_id, store_id) == edge_log(store_dir / "store.db"), \
            "the relay's copy differs from the store's log"
    finally:
        storage.close()


def pg_ingest(store_dir: Path, tenant: str, store: str, work: Path) -> tuple[float, float]:
    svc = make_service(store_dir)
    svc.start()
    try:
        batches, after = [], 0
        while (b := outbox.next_batch(svc.reader, tenant, store, after,
                                      max_events=SyncConfig().max_batch_events,
                                      max_bytes=SyncConfig().max_batch_bytes)) is not None:
            batches.append((decode_batch(b.body), hashlib.sha256(b.body).digest()))
            after = b.last_seq
    finally:
        svc.stop()
    url = database_url("postgresql", work)
    storage = open_storage(url, key_file=work / KEY_FILENAME)
    try:
        admin.enroll_store(storage, tenant, store, int(time.time() * 1000))
        now = int(time.time() * 1000)
        started, cpu0 = time.perf_counter(), time.thread_time()
        for batch, fp in batches:
            storage.ingest(batch, fp, now)
        elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu0
        return after / elapsed, cpu / after * 1e6
    finally:
        storage.close()
        drop_pg_schema(url)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--tmp-dir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="novapos-bench-sync-", dir=args.tmp_dir))
    result: dict = {"events": args.events, "load_average_1m": round(os.getloadavg()[0], 2)}
    pg_problem = pg_available()
    try:
        t0 = time.perf_counter()
        build_backlog(work / "backlog", args.events)
        print(f"backlog: {args.events} events built in {time.perf_counter() - t0:.1f} s")
        svc = make_service(work / "backlog")
        tenant, store = svc.identity.tenant_id, svc.identity.store_id
        backends = ["sqlite"] + ([] if pg_problem else ["postgresql"])
        for backend in backends:
            rdir = work / f"relay-{backend}"
            rdir.mkdir()
            proc, url, cred = start_relay(backend, rdir, tenant, store)
            try:
                edge_dir = fresh_copy(work / "backlog", work / f"edge-{backend}")
                d = asyncio.run(drain(edge_dir, proc.url, cred, proc.proc.pid))
            finally:
                proc.stop()
            check_equal(proc, edge_dir, tenant, store)
            if backend == "postgresql":
                drop_pg_schema(url)
            n, secs = d.events, d.wall_s
            rate = n / secs
            edge_us, relay_us = us_per_event(d.edge_cpu_s, n), us_per_event(d.relay_cpu_s, n)
            result[f"drain_{backend}_events_per_s"] = round(rate)
            result[f"drain_{backend}_edge_cpu_us_per_event"] = edge_us
            result[f"drain_{backend}_relay_cpu_us_per_event"] = relay_us
            print(f"drain to {backend} relay: {n} events in {secs:.2f} s = {rate:,.0f} events/s "
                  f"({d.sent_bytes / n:.0f} compressed bytes/event on the wire); CPU per event: "
                  f"edge {edge_us} us, relay {relay_us} us")
        if pg_problem:
            print(f"PostgreSQL not reachable ({pg_problem}): PostgreSQL figures are null")
            result["drain_postgresql_events_per_s"] = None

        build_backlog(work / "naive-backlog", min(NAIVE_EVENTS, args.events), seed=2)
        rdir = work / "relay-naive"
        rdir.mkdir()
        proc, url, cred = start_relay("sqlite", rdir, tenant, store)
        try:
            d = asyncio.run(drain(work / "naive-backlog", proc.url, cred, proc.proc.pid,
                                  max_batch_events=1))
            n, secs = d.events, d.wall_s
        finally:
            proc.stop()
        check_equal(proc, work / "naive-backlog", tenant, store)
        naive = n / secs
        print(f"naive, one event per request, to sqlite relay: {n} events in {secs:.2f} s = "
              f"{naive:,.0f} events/s")
        drain_rate = result["drain_sqlite_events_per_s"]
        result["drain_events_per_s"] = drain_rate
        result["naive_events_per_s"] = round(naive)
        result["ratio"] = round(drain_rate / naive, 1)
        print(f"batched drain / naive = {result['ratio']}x")
        if pg_problem:
            result["pg_ingest_events_per_s"] = None
        else:
            rate, cpu_us = pg_ingest(work / "backlog", tenant, store, work)
            result["pg_ingest_events_per_s"] = round(rate)
            result["pg_ingest_cpu_us_per_event"] = round(cpu_us, 1)
            print(f"PostgreSQL ingest alone (Storage.ingest, decoded batches): {rate:,.0f} "
                  f"events/s, {cpu_us:.1f} us CPU per event in the relay's code")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

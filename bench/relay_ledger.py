"""HQ's side of the relay: how fast a tenant's ledger comes out of a PostgreSQL relay.

    .venv/bin/python bench/relay_ledger.py                     # 200,000 events
    .venv/bin/python bench/relay_ledger.py --events 1000000    # the issue's figure

1. Builds the ledger: `--stores` stores of one tenant, each a hash-chained log of real
   `sale.completed` bodies (the sync benchmark's sale generator), ingested in 5,000-event
   batches through the relay's own storage layer (`Storage.ingest`) into a fresh schema of the
   PostgreSQL server on 127.0.0.1:5432.
2. Baseline, the database's own rate: every row of the tenant's ledger read in ledger order by
   psycopg with a server-side cursor, the columns a page needs, no decoding.
3. HQ ledger pull over the API: a real relay process (`novapos-relay serve`), one client
   following cursors with pages of `--page` events (5,000), decoding each page
   (the fields an HQ client reads of `schemas.relay.LedgerPage`) as HQ would.
4. Export: `novapos-relay export --format jsonl --out FILE` as a process, events / wall time
   (and its CPU time per event and bytes per event); then the same with `--body once`.

Each rate is events / wall time, with its ratio to the baseline; the load average before and
after is recorded (the box may be shared: compare runs made alternately). Skips (exit 0, a JSON line
with "skipped") when PostgreSQL is unreachable. The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT), *(p for p in sys.path if p not in (str(ROOT), str(ROOT / "bench")))]

import httpx  # noqa: E402
import msgspec  # noqa: E402

from cloud_relay import admin  # noqa: E402
from cloud_relay.sealing import KEY_FILENAME  # noqa: E402
from cloud_relay.storage import open_storage  # noqa: E402
from schemas import events as ev  # noqa: E402
from schemas.sync import encode_batch  # noqa: E402
from tests.support.relay import (  # noqa: E402
    PG_BASE,
    Chain,
    RelayProcess,
    drop_pg_schema,
    new_pg_schema,
    pg_available,
)
from tests.support.sync_store import sale_body  # noqa: E402

TENANT = "bench-tenant"
BATCH_EVENTS = 5_000
MSGPACK = "application/msgpack"


def build(url: str, key_file: Path, events: int, stores: int) -> None:
    storage = open_storage(url, key_file=key_file)
    rng = random.Random(7)
    bodies = [ev.encode_body(sale_body(n, rng, 1_772_445_600_000, "2026-03-02", "B"))
              for n in range(500)]
    try:
        per_store = events // stores
        for s in range(stores):
            store_id = f"store-{s:03d}"
            admin.enroll_store(storage, TENANT, store_id, int(time.time() * 1000))
            chain = Chain(TENANT, store_id)
            for n in range(per_store):
                chain.append(bodies[n % len(bodies)], type_=ev.SaleCompleted.TYPE,
                             stream=f"order:{store_id}-{n}")
            for first in range(1, per_store + 1, BATCH_EVENTS):
                last = min(per_store, first + BATCH_EVENTS - 1)
                batch = chain.batch(first, last)
                storage.ingest(batch, hashlib.sha256(encode_batch(batch)).digest(),
                               int(time.time() * 1000))
            print(f"  built {store_id}: {per_store} events", file=sys.stderr)
    finally:
        storage.close()


def baseline(url: str) -> tuple[int, float]:
    import psycopg

    started = time.perf_counter()
    n = 0
    with psycopg.connect(url) as conn, conn.cursor(name="ledger") as cur:
        cur.itersize = 5_000
        cur.execute(
            "SELECT ledger_seq, received_at_ms, quarantine, seq, event_id, tenant_id, store_id, "
            "lane_id, stream, type, schema_version, recorded_at_ms, business_date, body, "
            "prev_hash, hash FROM events WHERE tenant_id = %s ORDER BY ledger_seq", (TENANT,))
        for _ in cur:
            n += 1
    return n, time.perf_counter() - started


class ClientEvent(msgspec.Struct):
    """What an HQ client reads of each ledger event (unknown fields are skipped)."""

    ledger_seq: int
    store_id: str
    seq: int
    type: str
    hash_hex: str
    body: msgspec.Raw = msgspec.Raw(b"null")


class ClientPage(msgspec.Struct):
    events: list[ClientEvent]
    next_cursor: str
    more: bool


def pull(base_url: str, token: str, page: int, accept: str) -> tuple[int, float]:
    decode = (msgspec.msgpack.Decoder(ClientPage) if accept == MSGPACK
              else msgspec.json.Decoder(ClientPage)).decode
    headers = {"Authorization": f"Bearer {token}", "Accept": accept}
    n, after = 0, None
    started = time.perf_counter()
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
        while True:
            params = {"limit": str(page), **({"after": after} if after else {})}
            resp = client.get("/v1/ledger", params=params)
            if resp.status_code != 200:
                raise RuntimeError(f"ledger page: {resp.status_code} {resp.text[:300]}")
            got = decode(resp.content)
            n += len(got.events)
            after = got.next_cursor
            if not got.more:
                break
    return n, time.perf_counter() - started


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def export(url: str, data_dir: Path, out: Path, body: str) -> tuple[int, float, float]:
    cpu = _children_cpu_s()
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "cloud_relay.cli", "export", "--tenant", TENANT, "--format", "jsonl",
         "--out", str(out), "--body", body, "--database", url, "--data-dir", str(data_dir)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    elapsed = time.perf_counter() - started
    cpu = _children_cpu_s() - cpu
    if proc.returncode != 0:
        raise RuntimeError(f"export failed ({proc.returncode}): {proc.stderr[-2000:]}")
    with out.open("rb") as f:
        lines = sum(1 for _ in f)
    return lines, elapsed, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--stores", type=int, default=20)
    ap.add_argument("--page", type=int, default=5_000)
    ap.add_argument("--tmp-dir", type=Path, default=None)
    args = ap.parse_args()
    problem = pg_available()
    if problem:
        print(f"PostgreSQL at {PG_BASE} unreachable: {problem}", file=sys.stderr)
        print(json.dumps({"skipped": f"no PostgreSQL: {problem}"}))
        return 0
    result: dict = {"events": args.events, "stores": args.stores, "page": args.page,
                    "load_before": [round(x, 2) for x in os.getloadavg()]}
    url = new_pg_schema()
    with tempfile.TemporaryDirectory(prefix="novapos-ledger-", dir=args.tmp_dir) as tmp:
        work = Path(tmp)
        try:
            t0 = time.perf_counter()
            build(url, work / KEY_FILENAME, args.events, args.stores)
            result["build_s"] = round(time.perf_counter() - t0, 1)
            n, s = baseline(url)
            assert n == args.events // args.stores * args.stores, n
            result["baseline_events_per_s"] = round(n / s)
            storage = open_storage(url, key_file=work / KEY_FILENAME)
            try:
                token = admin.create_hq_token(storage, TENANT, int(time.time() * 1000)).token
            finally:
                storage.close()
            relay = RelayProcess(url, work / "relay.log").start()
            try:
                for name, accept in (("json", "application/json"),):
                    got, s = pull(relay.url, token, args.page, accept)
                    assert got == n, (got, n)
                    result[f"pull_{name}_events_per_s"] = round(got / s)
            finally:
                relay.stop()
            for body, key in (("both", "export_jsonl"), ("once", "export_jsonl_body_once")):
                out = work / f"ledger-{body}.jsonl"
                got, s, cpu = export(url, work, out, body)
                assert got == n, (got, n)
                result[f"{key}_events_per_s"] = round(got / s)
                result[f"{key}_process_cpu_us_per_event"] = round(cpu / got * 1e6, 1)
                result[f"{key}_bytes_per_event"] = round(out.stat().st_size / got)
                out.unlink()
        finally:
            drop_pg_schema(url)
    base = result["baseline_events_per_s"]
    for k in ("pull_json", "export_jsonl", "export_jsonl_body_once"):
        result[f"{k}_ratio"] = round(result[f"{k}_events_per_s"] / base, 3)
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    result["targets"] = {"pull_events_per_s": 50_000, "export_events_per_s": 100_000}
    print(f"ledger of {n} events ({args.stores} stores): baseline {base:,} ev/s, "
          f"pull JSON {result['pull_json_events_per_s']:,} ev/s, "
          f"export JSONL {result['export_jsonl_events_per_s']:,} ev/s, "
          f"--body once {result['export_jsonl_body_once_events_per_s']:,} ev/s")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

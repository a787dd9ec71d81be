"""Checkout benchmark: N lanes ringing full sales against a real daemon, plus a raw-apsw baseline.

    .venv/bin/python bench/checkout.py [--lanes 20] [--duration-s 20] [--think-ms 0]
        [--client-procs 2] [--client httpx|raw] [--baseline-s S] [--sign-sales N]
        [--tmp-dir D] [--keep]

What it does, in one run (docs/benchmarks.md explains how to read the output):

1. `novapos-edge init` on a fresh temp dir, enrolls lanes lane-3..lane-N (lane-1 and lane-2
   come from demo mode), and starts `novapos-edge serve --demo` as a real subprocess
   (`tests.support.daemon.DaemonProcess`).
2. Rings one template sale (kept for step 5), then starts the client processes (spawned, uvloop).
   Each owns a share of the lanes; a lane has its own token and its own keep-alive connection
   (an `httpx.AsyncClient`; `--client raw` swaps in a minimal HTTP/1.1 client to show what the
   client's own CPU costs). Every lane rings one warm-up sale, then all lanes start together and
   ring full sales (open cart, 3 scans, cash tender, complete) until the duration is up; a sale
   in flight at the deadline is finished. `--think-ms` puts a pause (uniform 0.5x-1.5x) before
   every request of a lane; without it the run is closed-loop saturation.
3. Latency of every request is taken with `time.perf_counter_ns` around the HTTP call (send to
   full response body). Every non-2xx answer or transport error is an error.
4. `/metrics` is read before and after the measured window; the difference gives the writer's
   group-commit figures for the window alone. CPU time of the daemon, the clients and the whole
   machine is read from /proc, so noise from other processes on the box is visible.
5. The daemon is restarted on the same, now existing, data dir: `start_to_ready_s` is from
   spawning `serve` to the first 200 from `/health/ready`, `rss_mb` its resident memory then
   (`rss_mb_after_load`: the first daemon's at the end of the window).
6. After the daemon has stopped, the raw-apsw baseline: one `BEGIN IMMEDIATE ... COMMIT`
   (WAL, synchronous=FULL) per sale on a fresh database migrated by the project's own
   migrations, writing the rows the daemon wrote for the template sale: the 7 events (same
   body bytes, fresh ids, hash chain computed), their projections (applied by
   the composed `Projector.apply`, so the very same INSERT/UPDATE statements), and the 6
   idempotency rows (same stored response bytes). Sequentially, from one thread. Reads the
   daemon does to decide (cart loads, catalog look-ups) are not durable work and are left out.

8. The signing probe (`sign_ms_per_sale`): the template sale's `sale.completed` committed
   through a real writer of a composed store in this process, alternating blocks with and
   without the fiscal journal's sealer; the CPU difference per sale is what signing costs
   the daemon (the daemon of step 1 signs every sale, as a store does by default).

7. The physical limit of the disk for a sale: one `synchronous=FULL` transaction per sale
   writing 1 event and 3 line rows, nothing else, for as long as the baseline ran;
   `physical_ratio` is the daemon's sales/s over it.

The last line of stdout is one JSON object with the figures. Exit code 0 when every request
succeeded, 1 when any failed, 2 when the bench itself could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import queue
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec

# `tests.support.daemon` lives in the repository, not in the installed package. Run as a
# script, Python puts bench/ itself first on the path, where bench/sync.py would shadow the
# `sync` package (edge.compose imports it): the repository root replaces it.
ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Demo catalog items, by barcode or by SKU (a lane scans most items, keys in a few).
ITEMS: tuple[dict[str, Any], ...] = (
    {"barcode": "4006381333931", "qty": 1},  # MILK-1L
    {"sku": "BREAD-500G"},
    {"barcode": "4004170200006", "qty": 1},  # COFFEE-250G
    {"barcode": "4260123451028"},            # TSHIRT-BLK-M
    {"sku": "MILK-1L", "qty": 1},
    {"barcode": "4260123450014"},            # BREAD-500G
    {"sku": "COFFEE-250G"},
    {"sku": "TSHIRT-BLK-M", "qty": 1},
)
SCANS_PER_SALE = 3
TENDER_STEP_MINOR = 1_000  # cash tendered: the total rounded up to the next 10.00
REQUEST_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 120.0
MAX_ERRORS_KEPT = 200
KINDS = ("open", "scan", "tender", "complete")

_encode = msgspec.json.encode
_decode = msgspec.json.decode


# --- client side (runs in the worker processes) ---------------------------------------------


class LaneStats:
    """Latencies (ns) per request kind, errors, completed sales, of one worker process."""

    def __init__(self) -> None:
        self.lat: dict[str, list[int]] = {k: [] for k in KINDS}
        self.errors: list[str] = []
        self.error_count = 0
        self.sales = 0
        self.recording = False

    def error(self, lane: str, kind: str, path: str, what: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            phase = "measured" if self.recording else "warm-up"
            self.errors.append(f"[{phase}] {lane} {kind} POST {path}: {what}")


class HttpxTransport:
    """One keep-alive `httpx.AsyncClient` per lane (one connection, like a till)."""

    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=REQUEST_TIMEOUT_S,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1), trust_env=False,
        )

    async def post(self, path: str, content: bytes, key: str) -> tuple[int, bytes]:
        resp = await self.client.post(
            path, content=content,
            headers={"Idempotency-Key": key, "Content-Type": "application/json"},
        )
        return resp.status_code, resp.content

    async def aclose(self) -> None:
        await self.client.aclose()


class RawTransport:
    """Diagnostic only (`--client raw`): a minimal HTTP/1.1 keep-alive client on asyncio
    streams, to show how much of the machine httpx itself costs. Content-Length bodies only
    (what the daemon sends); anything unexpected is an error."""

    def __init__(self, url: str, token: str) -> None:
        hostport = url.split("://", 1)[1].rstrip("/")
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)
        self.prefix = (f"Host: {hostport}\r\nAuthorization: Bearer {token}\r\n"
                       "Content-Type: application/json\r\n").encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, content: bytes, key: str) -> tuple[int, bytes]:
        return await asyncio.wait_for(self._post(path, content, key), REQUEST_TIMEOUT_S)

    async def _post(self, path: str, content: bytes, key: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(b"POST " + path.encode() + b" HTTP/1.1\r\n" + self.prefix +
                          f"Idempotency-Key: {key}\r\nContent-Length: {len(content)}\r\n\r\n"
                          .encode() + content)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length, close = None, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
                elif name == b"transfer-encoding":
                    raise RuntimeError(f"unsupported transfer-encoding {value.strip()!r}")
            if length is None:
                raise RuntimeError("response without Content-Length")
            body = await self.reader.readexactly(length)
        except BaseException:
            await self.aclose()
            raise
        if close:
            await self.aclose()
        return status, body

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer, self.reader = None, None


TRANSPORTS = {"httpx": HttpxTransport, "raw": RawTransport}


class Lane:
    def __init__(self, lane_id: str, transport: Any, stats: LaneStats,
                 think_s: float, item_offset: int) -> None:
        self.lane_id = lane_id
        self.transport = transport
        self.stats = stats
        self.think_s = think_s
        self.next_item = item_offset
        self.rng = random.Random(lane_id)

    async def post(self, kind: str, path: str, body: dict) -> dict | None:
        if self.think_s:
            # A cashier's pace varies: uniform +-50 % keeps the lanes from marching in lockstep.
            await asyncio.sleep(self.think_s * self.rng.uniform(0.5, 1.5))
        content = _encode(body)
        key = uuid.uuid4().hex
        started = time.perf_counter_ns()
        try:
            status, data = await self.transport.post(path, content, key)
        except Exception as exc:  # noqa: BLE001 - transport failures are request errors
            self.stats.error(self.lane_id, kind, path, f"{type(exc).__name__}: {exc!r}")
            return None
        elapsed = time.perf_counter_ns() - started
        if not 200 <= status < 300:
            self.stats.error(self.lane_id, kind, path,
                             f"HTTP {status}: {data[:400].decode(errors='replace')}")
            return None
        if self.stats.recording:
            self.stats.lat[kind].append(elapsed)
        try:
            return _decode(data)
        except msgspec.DecodeError as exc:
            self.stats.error(self.lane_id, kind, path, f"undecodable {status} body: {exc}")
            return None

    async def ring_sale(self) -> bool:
        """open, 3 scans, cash tender, complete. False (error recorded) if any step failed."""
        cart = await self.post("open", "/v1/carts", {})
        if cart is None:
            return False
        cart_id = cart["cart_id"]
        view = cart
        for _ in range(SCANS_PER_SALE):
            item = ITEMS[self.next_item % len(ITEMS)]
            self.next_item += 1
            view = await self.post("scan", f"/v1/carts/{cart_id}/lines", item)
            if view is None:
                return False
        total = int(view["total_minor"])
        amount = max(TENDER_STEP_MINOR, -(-total // TENDER_STEP_MINOR) * TENDER_STEP_MINOR)
        if await self.post("tender", f"/v1/carts/{cart_id}/tenders",
                           {"tender_type": "cash", "amount_minor": amount}) is None:
            return False
        order = await self.post("complete", f"/v1/carts/{cart_id}/complete", {})
        if order is None:
            return False
        if not order.get("order_id") or not order.get("receipt_number"):
            self.stats.error(self.lane_id, "complete", f"/v1/carts/{cart_id}/complete",
                             f"order without order_id/receipt_number: {str(order)[:200]}")
            return False
        if self.stats.recording:
            self.stats.sales += 1
        return True

    async def run_until(self, deadline_ns: int) -> None:
        if self.think_s:
            await asyncio.sleep(self.think_s * self.rng.random())  # stagger the lanes' start
        while time.monotonic_ns() < deadline_ns:
            if not await self.ring_sale():
                await asyncio.sleep(0.05)  # a failing daemon must not turn the lane into a spin


async def _worker_async(worker_id: int, url: str, lanes: list[tuple[str, str]], duration_s: float,
                        think_ms: float, client: str, ready_q: Any, go: Any) -> dict:
    stats = LaneStats()
    transports = [TRANSPORTS[client](url, token) for _, token in lanes]
    try:
        pairs = enumerate(zip(lanes, transports, strict=True))
        runners = [Lane(lane_id, transport, stats, think_ms / 1000.0, i)
                   for i, ((lane_id, _), transport) in pairs]
        # Warm-up: connect, authenticate (fills the daemon's token cache), one full sale each.
        await asyncio.gather(*(r.ring_sale() for r in runners))
        ready_q.put(worker_id)
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, go.wait, READY_TIMEOUT_S):
            raise RuntimeError("never told to start")
        stats.recording = True
        cpu0 = time.process_time()
        t0 = time.monotonic_ns()
        deadline = t0 + int(duration_s * 1e9)
        await asyncio.gather(*(r.run_until(deadline) for r in runners))
        t1 = time.monotonic_ns()
        cpu_s = time.process_time() - cpu0
    finally:
        await asyncio.gather(*(t.aclose() for t in transports), return_exceptions=True)
    return {
        "worker": worker_id, "lat": stats.lat, "errors": stats.errors,
        "error_count": stats.error_count, "sales": stats.sales, "t0": t0, "t1": t1,
        "cpu_s": cpu_s,
    }


def _worker_main(worker_id: int, url: str, lanes: list[tuple[str, str]], duration_s: float,
                 think_ms: float, client: str, ready_q: Any, go: Any, result_q: Any) -> None:
    try:
        coro = _worker_async(worker_id, url, lanes, duration_s, think_ms, client, ready_q, go)
        try:
            import uvloop

            result = uvloop.run(coro)
        except ImportError:
            result = asyncio.run(coro)
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the run
        result = {"worker": worker_id, "fatal": traceback.format_exc()}
    result_q.put(result)


# --- daemon side helpers (parent process) ---------------------------------------------------


def _prepare_store(store_dir: Path, lanes: int) -> dict[str, str]:
    """`novapos-edge init`, then enroll lane-3..lane-N before the daemon starts."""
    proc = subprocess.run(
        [sys.executable, "-m", "edge.cli", "init", "--data-dir", str(store_dir)],
        check=False, capture_output=True, text=True, cwd=ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"novapos-edge init failed ({proc.returncode}): {proc.stderr}")
    tokens: dict[str, str] = {}
    if lanes > 2:
        from edge import config as config_mod
        from tests.support.store import TestStore

        service = TestStore(store_dir, config_mod.load(store_dir))
        for k in range(3, lanes + 1):
            tokens[f"lane-{k}"] = service.enroll_lane(f"lane-{k}", "cashier").token
    return tokens


def _proc_cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_cpu() -> tuple[float, float] | None:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    vals = [int(v) for v in first[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return float(sum(vals) - idle), float(sum(vals))


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _wait_ready(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{url}/health/ready", timeout=5.0, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url}/health/ready not 200 within {timeout_s:g} s")
        time.sleep(0.002)


def start_probe(store_dir: Path) -> dict:
    """Restart the daemon on the store's existing data dir (its history, its devices): seconds
    from spawning `serve` to the first 200 from /health/ready, and its resident memory then."""
    from tests.support.daemon import DaemonProcess

    started = time.perf_counter()
    daemon = DaemonProcess(store_dir).start()
    try:
        assert daemon.proc is not None
        _wait_ready(daemon.url, READY_TIMEOUT_S)
        seconds = time.perf_counter() - started
        return {"start_to_ready_s": seconds, "rss_mb": _rss_mb(daemon.proc.pid)}
    finally:
        daemon.stop()


def run_physical(work_dir: Path, seconds: float) -> dict:
    """The disk's limit for a sale: one `synchronous=FULL` transaction writing 1 event and 3
    line rows (no hashing, no projections, no idempotency), sequential, for `seconds`."""
    import apsw

    work_dir.mkdir(parents=True, exist_ok=True)
    conn = apsw.Connection(str(work_dir / "physical.db"))
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, stream TEXT, body BLOB)")
    conn.execute("CREATE TABLE lines (sale INTEGER, n INTEGER, sku TEXT, qty INTEGER, "
                 "price_minor INTEGER, PRIMARY KEY (sale, n))")
    body = b"x" * 400
    n = 0
    started = time.perf_counter()
    deadline = started + seconds
    try:
        while time.perf_counter() < deadline:
            n += 1
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO events VALUES (?, ?, ?)", (n, f"sale-{n}", body))
            conn.executemany("INSERT INTO lines VALUES (?, ?, ?, ?, ?)",
                             [(n, i, "MILK-1L", 1, 129) for i in range(3)])
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    return {"sales": n, "seconds": elapsed, "sales_per_s": n / elapsed if elapsed else 0.0}


# Label values may contain braces (route templates such as /v1/carts/{cart_id:str}).
_METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$")


def _scrape(url: str) -> dict[tuple[str, str], float]:
    """The daemon's Prometheus metrics; empty (and a warning) if it cannot be read."""
    try:
        resp = httpx.get(f"{url}/metrics", timeout=10.0, trust_env=False)
        resp.raise_for_status()
    except httpx.HTTPError as exc:
        print(f"warning: could not read {url}/metrics: {exc!r}", file=sys.stderr, flush=True)
        return {}
    text = resp.text
    out: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = _METRIC_LINE.match(line.strip())
        if m:
            try:
                out[(m.group(1), m.group(2) or "")] = float(m.group(3))
            except ValueError:
                pass
    return out


def _delta(after: dict, before: dict, name: str, labels: str = "") -> float:
    return after.get((name, labels), 0.0) - before.get((name, labels), 0.0)


def _template_sale(url: str, token: str) -> dict:
    """Ring one sale from the parent, remembering ids and keys, for the baseline's templates."""
    keys: list[str] = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                      timeout=REQUEST_TIMEOUT_S, trust_env=False) as client:
        def post(path: str, body: dict) -> dict:
            key = uuid.uuid4().hex
            keys.append(key)
            resp = client.post(path, content=_encode(body),
                               headers={"Idempotency-Key": key, "Content-Type": "application/json"})
            if not 200 <= resp.status_code < 300:
                raise RuntimeError(
                    f"template sale: POST {path} -> {resp.status_code} {resp.text[:400]}")
            return _decode(resp.content)

        cart = post("/v1/carts", {})
        cart_id = cart["cart_id"]
        view = cart
        for item in ITEMS[:SCANS_PER_SALE]:
            view = post(f"/v1/carts/{cart_id}/lines", item)
        total = int(view["total_minor"])
        post(f"/v1/carts/{cart_id}/tenders", {"tender_type": "cash",
             "amount_minor": -(-total // TENDER_STEP_MINOR) * TENDER_STEP_MINOR})
        order = post(f"/v1/carts/{cart_id}/complete", {})
    return {"lane_id": "lane-1", "cart_id": cart_id, "order_id": order["order_id"],
            "receipt_number": order["receipt_number"], "keys": keys}


# --- baseline -------------------------------------------------------------------------------


def sale_events(events: list, cart_id: str, order_id: str) -> list:
    """The events of one sale, in log order: its cart's and order's streams, and the streams of
    the payments created for its cart. Anything else in the same seq range is dropped."""
    payment_streams = set()
    for e in events:
        if e.type == "payment.created":
            body = msgspec.json.decode(e.body)
            if body.get("cart_id") == cart_id:
                payment_streams.add(e.stream)
    own = {f"cart:{cart_id}", f"order:{order_id}"} | payment_streams
    return [e for e in events if e.stream in own]


def _load_templates(db_path: Path, sale: dict) -> dict:
    """The rows the daemon wrote for the template sale: events and idempotency keys (the
    projection rows are re-derived from the events by the project's own projection code)."""
    import apsw

    from core import bodycodec
    from edge.store import eventlog
    from schemas.envelope import Event

    conn = apsw.Connection(str(db_path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        # The sale's events lie between the first and last of its cart and order streams; other
        # events (a `device.attached` from the demo printer, ...) may land in between, so the
        # sale's own are picked by stream (`sale_events`), never by position.
        first, last = conn.execute(
            "SELECT MIN(seq), MAX(seq) FROM events WHERE stream IN (?, ?)",
            (f"cart:{sale['cart_id']}", f"order:{sale['order_id']}")).fetchall()[0]
        events = sale_events([
            bodycodec.event_of(row) for row in conn.execute(
                f"SELECT {eventlog.COLUMNS} FROM events WHERE seq BETWEEN ? AND ? ORDER BY seq",
                (first, last))
        ], sale["cart_id"], sale["order_id"])
        marks = ",".join("?" * len(sale["keys"]))
        idem = conn.execute(
            f"SELECT key, fingerprint, status, body FROM idempotency_keys "
            f"WHERE lane_id = ? AND key IN ({marks})", (sale["lane_id"], *sale["keys"]),
        ).fetchall()
    finally:
        conn.close()
    types = [e.type for e in events]
    expected = (["cart.opened"] + ["cart.line_added"] * SCANS_PER_SALE
                + ["payment.created", "payment.captured", "sale.completed"])
    if types != expected or len(idem) != len(sale["keys"]):
        raise RuntimeError(f"template sale has unexpected rows: events {types}, "
                           f"{len(idem)} idempotency rows for {len(sale['keys'])} keys")
    payment_ids = [e.stream.removeprefix("payment:").encode() for e in events
                   if e.type == "payment.created"]
    return {"events": events, "idem": idem, "payment_ids": payment_ids}


def run_sign_probe(work_dir: Path, templates: dict, sales: int) -> dict:
    """Daemon CPU that signing adds to a sale, measured in this process on the daemon's own
    code: the template sale's `sale.completed` (fresh ids) appended through a real writer of a
    fully composed store, with the fiscal journal's sealer (the Ed25519 signature record in
    the sale's commit) and without, in alternating blocks so drift hits both alike."""
    from core.ids import uuid7
    from edge import compose
    from edge.config import Config
    from edge.fiscal.journal import Journal
    from edge.fiscal.signer import SoftwareSigner
    from edge.store.kernel import Store
    from schemas.events import SaleCompleted, decode_body

    tmpl = next(e for e in templates["events"] if e.type == SaleCompleted.TYPE)
    body = decode_body(tmpl.type, tmpl.schema_version, tmpl.body)
    work_dir.mkdir(parents=True)
    config = Config()
    store = Store(work_dir, config.store, compose.layout(), writer=config.writer)
    store.start()
    seal = Journal(config.store.store_id, SoftwareSigner.load_or_create(work_dir)).seal
    cpu = {True: 0.0, False: 0.0}
    block = 50
    try:
        for i in range(max(sales // block, 1) * 2):
            signing = i % 2 == 0
            store.writer.sealer = seal if signing else None
            t0 = time.process_time()
            for _ in range(block):
                order_id = uuid7()
                sale = msgspec.structs.replace(body, order_id=order_id, cart_id=uuid7(),
                                               receipt_number=order_id)
                store.writer.run_sync(lambda tx, sale=sale: tx.append(
                    sale, stream=f"order:{sale.order_id}", lane_id=sale.lane_id))
            cpu[signing] += time.process_time() - t0
    finally:
        store.stop()
    n = max(sales // block, 1) * block
    return {"sales": n, "with_ms": cpu[True] / n * 1000, "without_ms": cpu[False] / n * 1000,
            "sign_ms_per_sale": (cpu[True] - cpu[False]) / n * 1000}


def _swap(data: bytes, swaps: tuple[tuple[bytes, bytes], ...]) -> bytes:
    """The template's ids replaced by this sale's (same lengths, so same byte sizes)."""
    for old, new in swaps:
        data = data.replace(old, new)
    return data


def run_baseline(work_dir: Path, templates: dict, sale: dict, seconds: float) -> dict:
    """One durable transaction per sale, sequential, writing the template sale's rows."""
    from core import chain
    from core.idempotency import StoredResponse
    from core.ids import uuid7
    from edge import compose
    from edge.store import eventlog, idempotency
    from edge.store.db import open_store
    from schemas.envelope import Event
    from schemas.events import decode_body

    layout = compose.layout()
    conn = open_store(work_dir, layout.schema)
    mode = conn.execute("PRAGMA journal_mode").fetchall()[0][0]
    sync = conn.execute("PRAGMA synchronous").fetchall()[0][0]
    assert mode == "wal" and sync == 2, f"baseline db not WAL/FULL: {mode}/{sync}"
    old_cart, old_order = sale["cart_id"].encode(), sale["order_id"].encode()
    old_receipt = sale["receipt_number"].encode()
    store_prefix = sale["receipt_number"].rsplit("-", 1)[0]
    events, idem = templates["events"], templates["idem"]
    latencies: list[int] = []
    n = 0
    started = time.perf_counter_ns()
    deadline = started + int(seconds * 1e9)
    try:
        while time.perf_counter_ns() < deadline:
            t = time.perf_counter_ns()
            cart_id, order_id = uuid7().encode(), uuid7().encode()
            receipt = f"{store_prefix}-{n + 1:07d}".encode()
            swaps = ((old_cart, cart_id), (old_order, order_id), (old_receipt, receipt),
                     *((old, uuid7().encode()) for old in templates["payment_ids"]))
            now_ms = time.time_ns() // 1_000_000
            conn.execute("BEGIN IMMEDIATE")
            seq, prev = eventlog.head(conn)
            for tmpl in events:
                seq += 1
                body = _swap(tmpl.body, swaps)
                fields = {
                    "seq": seq, "event_id": uuid7(), "tenant_id": tmpl.tenant_id,
                    "store_id": tmpl.store_id, "lane_id": tmpl.lane_id,
                    "stream": _swap(tmpl.stream.encode(), swaps).decode(), "type": tmpl.type,
                    "schema_version": tmpl.schema_version, "recorded_at_ms": now_ms,
                    "business_date": tmpl.business_date, "body": body,
                }
                digest = chain.chain_hash(prev, **fields)
                stored = Event(**fields, prev_hash=prev, hash=digest)
                eventlog.insert(conn, stored)
                layout.projector.apply(conn, stored, decode_body(tmpl.type, tmpl.schema_version, body))
                prev = digest
            for _key, fp, status, body in idem:
                idempotency.SqliteKeys(conn, now_ms).save(
                    sale["lane_id"], uuid.uuid4().hex, StoredResponse(fp, status, _swap(body, swaps)))
            conn.execute("COMMIT")
            latencies.append(time.perf_counter_ns() - t)
            n += 1
        elapsed = (time.perf_counter_ns() - started) / 1e9
    finally:
        conn.close()
    return {"sales": n, "seconds": elapsed, "sales_per_s": n / elapsed if elapsed else 0.0,
            "lat": latencies}


# --- reporting ------------------------------------------------------------------------------


def _pct(sorted_ns: list[int], p: float) -> float | None:
    """Nearest-rank percentile, in ms."""
    if not sorted_ns:
        return None
    rank = max(1, -(-len(sorted_ns) * p // 100))
    return sorted_ns[int(rank) - 1] / 1e6


def _summary(values: list[int]) -> dict:
    s = sorted(values)
    return {"count": len(s), "p50": _pct(s, 50), "p95": _pct(s, 95), "p99": _pct(s, 99),
            "max": s[-1] / 1e6 if s else None, "mean": (sum(s) / len(s) / 1e6) if s else None}


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:8.2f}"


def _r(v: float | None, nd: int = 3) -> float | None:
    return None if v is None else round(v, nd)


# --- main -----------------------------------------------------------------------------------


def _await_workers(q: Any, fatal_q: Any, procs: list, timeout_s: float, what: str) -> list:
    """One message per worker from `q`. Fails fast on a worker's traceback (sent on `fatal_q`,
    or on `q` itself) or on a worker that died without a word."""
    got: list = []
    deadline = time.monotonic() + timeout_s
    while len(got) < len(procs):
        try:
            msg = q.get(timeout=0.5)
        except queue.Empty:
            msg = None
        if msg is None and fatal_q is not None:
            try:
                msg = fatal_q.get_nowait()
            except queue.Empty:
                pass
        if isinstance(msg, dict) and "fatal" in msg:
            raise RuntimeError(f"client worker {msg['worker']} failed:\n{msg['fatal']}")
        if msg is not None:
            got.append(msg)
            continue
        if any(p.exitcode not in (None, 0) for p in procs):
            raise RuntimeError(f"a client worker died before it could {what}: "
                               f"exit codes {[p.exitcode for p in procs]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"client workers did not {what} within {timeout_s:g} s")
    return got


def _split(items: list, parts: int) -> list[list]:
    return [items[i::parts] for i in range(parts) if items[i::parts]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lanes", type=int, default=20, help="concurrent lanes (default 20)")
    ap.add_argument("--duration-s", type=float, default=20.0,
                    help="measured window in seconds (default 20)")
    ap.add_argument("--think-ms", type=float, default=0.0,
                    help="mean pause before every request of a lane, drawn uniformly in "
                         "[0.5, 1.5] x this (default 0: no pause, saturation)")
    ap.add_argument("--client-procs", type=int, default=2,
                    help="client processes the lanes are split across (default 2)")
    ap.add_argument("--client", choices=sorted(TRANSPORTS), default="httpx",
                    help="HTTP client: httpx (default) or raw, a minimal asyncio HTTP/1.1 client "
                         "for checking how much CPU the client takes from the daemon")
    ap.add_argument("--baseline-s", type=float, default=None,
                    help="raw-apsw baseline duration (default min(duration, 10))")
    ap.add_argument("--tmp-dir", type=Path, default=None,
                    help="where the temp store is created (default: system temp dir); use the "
                         "disk the store would live on")
    ap.add_argument("--sign-sales", type=int, default=2000,
                    help="sales per side of the signing probe (default 2000)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (prints its path)")
    args = ap.parse_args(argv)
    if args.lanes < 1 or args.duration_s <= 0 or args.client_procs < 1 or args.think_ms < 0:
        ap.error("--lanes and --client-procs must be >= 1, --duration-s > 0, --think-ms >= 0")
    baseline_s = args.baseline_s if args.baseline_s is not None else min(args.duration_s, 10.0)

    from tests.support.daemon import DaemonProcess

    work = Path(tempfile.mkdtemp(prefix="novapos-bench-", dir=args.tmp_dir))
    store_dir = work / "store"
    daemon: DaemonProcess | None = None
    procs: list[mp.process.BaseProcess] = []
    mode = ("saturated (closed loop, no think time)" if args.think_ms == 0
            else f"paced ({args.think_ms:g} ms +-50 % think time before every request)")
    print(f"novapos checkout bench: {args.lanes} lanes, {args.duration_s:g} s, {mode}, "
          f"{args.client_procs} {args.client} client process(es), {os.cpu_count()} CPUs, "
          f"temp dir {work}",
          flush=True)
    try:
        extra_tokens = _prepare_store(store_dir, args.lanes)
        daemon = DaemonProcess(store_dir).start()
        assert daemon.proc is not None
        demo_lanes = {k: v for k, v in daemon.tokens.items() if k.startswith("lane-")}
        tokens = {**extra_tokens, **demo_lanes}
        lane_ids = [f"lane-{k}" for k in range(1, args.lanes + 1)]
        missing = [lane for lane in lane_ids if lane not in tokens]
        if missing:
            raise RuntimeError(f"no token for lanes {missing}")
        print(f"daemon pid {daemon.proc.pid} at {daemon.url}", flush=True)

        sale = _template_sale(daemon.url, tokens["lane-1"])

        ctx = mp.get_context("spawn")
        ready_q, result_q, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        shares = _split([(lane, tokens[lane]) for lane in lane_ids], args.client_procs)
        for wid, share in enumerate(shares):
            p = ctx.Process(target=_worker_main, name=f"bench-client-{wid}", daemon=True,
                            args=(wid, daemon.url, share, args.duration_s, args.think_ms,
                                  args.client, ready_q, go, result_q))
            p.start()
            procs.append(p)
        _await_workers(ready_q, result_q, procs, READY_TIMEOUT_S, "warm up")

        before = _scrape(daemon.url)
        srv_cpu0, mach0 = _proc_cpu_s(daemon.proc.pid), _machine_cpu()
        parent_cpu0 = time.process_time()  # this process: the daemon's log drain thread
        wall0 = time.monotonic()
        go.set()
        results = _await_workers(result_q, None, procs, args.duration_s + READY_TIMEOUT_S,
                                 "finish")
        wall = time.monotonic() - wall0
        srv_cpu1, mach1 = _proc_cpu_s(daemon.proc.pid), _machine_cpu()
        parent_cpu = time.process_time() - parent_cpu0
        after = _scrape(daemon.url)
        rss_loaded = _rss_mb(daemon.proc.pid)
        for p in procs:
            p.join(timeout=10)
        daemon.stop()
        print("restart on the existing data dir ...", flush=True)
        start = start_probe(store_dir)
        templates = _load_templates(store_dir / "store.db", sale)
        print(f"raw-apsw baseline: {baseline_s:g} s ...", flush=True)
        base = run_baseline(work / "baseline", templates, sale, baseline_s)
        print(f"physical limit probe: {baseline_s:g} s ...", flush=True)
        physical = run_physical(work / "physical", baseline_s)
        print(f"signing probe: {args.sign_sales} sales with and without the fiscal signer ...",
              flush=True)
        signing = run_sign_probe(work / "signing", templates, args.sign_sales)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        print(json.dumps({"error": "bench could not run; see above"}), flush=True)
        return 2
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        if daemon is not None:
            daemon.stop()
        if args.keep:
            print(f"kept {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)

    # --- figures ---------------------------------------------------------------------------
    lat = {k: [v for r in results for v in r["lat"][k]] for k in KINDS}
    stats = {k: _summary(lat[k]) for k in KINDS}
    sales = sum(r["sales"] for r in results)
    errors = [e for r in results for e in r["errors"]]
    error_count = sum(r["error_count"] for r in results)
    measured_s = (max(r["t1"] for r in results) - min(r["t0"] for r in results)) / 1e9
    sales_per_s = sales / measured_s if measured_s > 0 else 0.0
    ratio = sales_per_s / base["sales_per_s"] if base["sales_per_s"] else None
    physical_ratio = sales_per_s / physical["sales_per_s"] if physical["sales_per_s"] else None
    base_stats = _summary(base["lat"])

    if not (before and after):
        before, after = {}, {}  # a failed scrape: report no daemon-side figures at all
    batches = _delta(after, before, "novapos_writer_batch_commands_count")
    commands = _delta(after, before, "novapos_writer_batch_commands_sum")
    commit_s = _delta(after, before, "novapos_writer_commit_duration_seconds_sum")
    mean_batch = commands / batches if batches else None
    mean_commit_ms = commit_s / batches * 1000 if batches else None

    print()
    print(f"mode: {mode}")
    print(f"measured window: {measured_s:.2f} s ({args.lanes} lanes, "
          f"{len(results)} client process(es))")
    print(f"{'request':<10}{'count':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}"
          f"{'max ms':>10}{'mean ms':>10}")
    for k in KINDS:
        s = stats[k]
        print(f"{k:<10}{s['count']:>8}{_ms(s['p50']):>10}{_ms(s['p95']):>10}"
              f"{_ms(s['p99']):>10}{_ms(s['max']):>10}{_ms(s['mean']):>10}")
    print(f"sales completed: {sales}  -> {sales_per_s:.1f} sales/s "
          f"({sales * (SCANS_PER_SALE + 3) / measured_s:.0f} requests/s)")
    print(f"errors: {error_count}")
    print(f"raw-apsw baseline: {base['sales']} sales in {base['seconds']:.2f} s -> "
          f"{base['sales_per_s']:.1f} sales/s (txn p50 {_ms(base_stats['p50']).strip()} ms, "
          f"p99 {_ms(base_stats['p99']).strip()} ms)")
    print(f"ratio daemon/baseline: {ratio:.3f}" if ratio is not None else "ratio: -")
    print(f"physical limit (1 event + 3 lines per synchronous=FULL transaction): "
          f"{physical['sales_per_s']:.0f} sales/s -> daemon at "
          + (f"{physical_ratio:.3f}x" if physical_ratio is not None else "-"))
    print(f"restart on the existing data dir: ready in {start['start_to_ready_s']:.2f} s, "
          f"resident {_ms(start['rss_mb']).strip()} MB after start, "
          f"{_ms(rss_loaded).strip()} MB at the end of the window")
    print(f"fiscal signing: {signing['with_ms']:.3f} ms CPU per sale commit with the signer, "
          f"{signing['without_ms']:.3f} ms without -> signing adds "
          f"{signing['sign_ms_per_sale']:.3f} ms/sale ({signing['sales']} sales each)")
    srv_cpu = (srv_cpu1 - srv_cpu0) if srv_cpu0 is not None and srv_cpu1 is not None else None
    cpu_ms = srv_cpu / sales * 1000 if srv_cpu is not None and sales else None
    checks = (("signing < 1 ms CPU/sale", signing["sign_ms_per_sale"] < 1),
              ("scan p99 < 5 ms (paced)", (stats["scan"]["p99"] or 1e9) < 5),
              ("complete p99 < 10 ms (paced)", (stats["complete"]["p99"] or 1e9) < 10),
              ("sales/s >= 0.5x baseline", (ratio or 0) >= 0.5),
              (">= 0.1x physical", (physical_ratio or 0) >= 0.1),
              ("daemon CPU <= 3 ms/sale", (cpu_ms or 1e9) <= 3),
              ("ready < 1 s", start["start_to_ready_s"] < 1),
              ("RSS < 60 MB", (start["rss_mb"] or 1e9) < 60))
    print("targets: " + ", ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in checks))
    req_per_s = sales * (SCANS_PER_SALE + 3) / measured_s if measured_s > 0 else 0.0
    if args.think_ms == 0:
        print(f"note: ran SATURATED (closed loop, no think time): latency here is queueing. "
              f"Little's law: mean latency ~ in-flight / throughput = {args.lanes} / "
              f"{req_per_s:.0f} req/s = {args.lanes / max(req_per_s, 1e-9) * 1000:.1f} ms. "
              f"Use --think-ms for a paced (realistic) load.")
    else:
        offered = args.lanes * 1000.0 / args.think_ms
        print(f"note: ran PACED ({args.think_ms:g} ms before every request, {args.lanes} lanes): "
              f"offered load at most {offered:.0f} req/s, achieved {req_per_s:.0f} req/s; "
              f"latency here is service time, not queueing behind other lanes' saturation.")
    print()
    print("daemon, during the window (from /metrics):")
    if batches:
        print(f"  writer group commits: {batches:.0f} commits of {commands:.0f} commands -> "
              f"mean {mean_batch:.2f} commands/commit, mean commit {mean_commit_ms:.2f} ms, "
              f"{batches / measured_s:.0f} commits/s")
    else:
        print("  writer group commits: none observed (or /metrics unreadable)")
    for (name, labels), value in sorted(after.items()):
        if name != "novapos_http_request_duration_seconds_count" or 'method="POST"' not in labels:
            continue
        n = value - before.get((name, labels), 0.0)
        if n <= 0:
            continue
        total = _delta(after, before, "novapos_http_request_duration_seconds_sum", labels)
        route = re.search(r'route="([^"]*)"', labels)
        status = re.search(r'status_class="([^"]*)"', labels)
        print(f"  server-side POST {route.group(1) if route else '?'} "
              f"[{status.group(1) if status else '?'}]: {n:.0f} requests, "
              f"mean {total / n * 1000:.2f} ms")
    client_cpu = sum(r["cpu_s"] for r in results)
    cpu_line = (f"  CPU over {wall:.1f} s, in cores: clients {client_cpu / wall:.2f}, bench parent "
                f"{parent_cpu / wall:.2f}")
    if srv_cpu is not None:
        cpu_line += (f", daemon {srv_cpu / wall:.2f} "
                     f"({srv_cpu / max(sales, 1) * 1000:.2f} ms CPU/sale)")
    other_cores = None
    if mach0 and mach1 and mach1[1] > mach0[1]:
        busy_cores = (mach1[0] - mach0[0]) / (mach1[1] - mach0[1]) * (os.cpu_count() or 1)
        cpu_line += f", whole machine {busy_cores:.2f} of {os.cpu_count()}"
        if srv_cpu is not None:
            # Neither the daemon nor the bench: other work on the box skews the figures.
            other_cores = max(0.0, busy_cores - (client_cpu + parent_cpu + srv_cpu) / wall)
            cpu_line += f" (other processes ~{other_cores:.2f}: should be ~0 for clean figures)"
    print(cpu_line)

    if error_count:
        print()
        print(f"FAILED: {error_count} request(s) failed.")
        groups: dict[str, int] = {}
        for e in errors:
            head = e.split(": ", 1)
            key = head[0].split(" ", 2)[0] + " " + head[0].split(" ", 3)[2] + ": " + (
                head[1].split(":", 1)[0] if len(head) > 1 else "?")
            groups[key] = groups.get(key, 0) + 1
        print(f"by kind, among the first {len(errors)} kept:")
        for key, count in sorted(groups.items(), key=lambda kv: -kv[1]):
            print(f"  {count:6d}  {key}")
        print("requests that failed:")
        for e in errors:
            print(f"  {e}")

    summary = {
        "scan_p99_ms": _r(stats["scan"]["p99"]), "complete_p99_ms": _r(stats["complete"]["p99"]),
        "sales_per_s": _r(sales_per_s, 2), "baseline_sales_per_s": _r(base["sales_per_s"], 2),
        "ratio": _r(ratio), "tender_p99_ms": _r(stats["tender"]["p99"]),
        "scan_p50_ms": _r(stats["scan"]["p50"]), "complete_p50_ms": _r(stats["complete"]["p50"]),
        "tender_p50_ms": _r(stats["tender"]["p50"]), "open_p99_ms": _r(stats["open"]["p99"]),
        "lanes": args.lanes, "duration_s": _r(measured_s, 2), "think_ms": args.think_ms,
        "saturated": args.think_ms == 0, "client_procs": len(results), "client": args.client,
        "sales": sales,
        "errors": error_count, "mean_commit_batch": _r(mean_batch, 2),
        "mean_commit_ms": _r(mean_commit_ms),
        "daemon_cpu_ms_per_sale": _r(cpu_ms),
        "client_cpu_cores": _r(client_cpu / wall, 2), "other_load_cores": _r(other_cores, 2),
        "physical_sales_per_s": _r(physical["sales_per_s"], 1),
        "physical_ratio": _r(physical_ratio, 4),
        "start_to_ready_s": _r(start["start_to_ready_s"], 3), "rss_mb": _r(start["rss_mb"], 1),
        "rss_mb_after_load": _r(rss_loaded, 1),
        "sign_ms_per_sale": _r(signing["sign_ms_per_sale"], 4),
        "sale_commit_cpu_ms_signed": _r(signing["with_ms"], 4),
        "sale_commit_cpu_ms_unsigned": _r(signing["without_ms"], 4),
    }
    print(json.dumps(summary), flush=True)
    return 1 if error_count else 0


if __name__ == "__main__":
    sys.exit(main())

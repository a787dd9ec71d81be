"""Stock benchmark: a store with N SKUs in stock (default 50,000), against a real daemon and
in-process, with baselines measured in the same run.

    .venv/bin/python bench/stock.py [--skus 50000] [--lookups 3000] [--sales 300]
        [--writer-sales 2000] [--tmp-dir D] [--against CHECKOUT]

1. A store is made (`novapos-edge init`, as bench/checkout.py prepares it), a catalog of N
   SKUs imported and every SKU received into stock (receipts of 1,000 lines), through the
   store's own writer and commands.
2. `novapos-edge serve` runs it as a real subprocess (`tests.support.daemon.DaemonProcess`).
   A lane looks up random SKUs: `GET /v1/stock?sku=` (the figure: p99 < 5 ms), and, as the
   baseline, `GET /v1/catalog/items/{sku}` for the same SKUs (the look-up a lane already does
   on every scan), and the daemon's CPU per look-up is read from /proc. With `--against
   CHECKOUT` (e.g. a worktree of main), that checkout's daemon serves a copy of the same store
   and each look-up is made on both, alternating: the baseline in the same run. Then it rings
   `--sales` full sales over HTTP (open, 3 scans, cash, complete) and the daemon's CPU per
   sale is read from /proc (bench/checkout.py's helpers), with stock kept.
3. The stock effect of a sale, in the same run: two copies of the prepared store, one opened
   with every domain (the sale's projection upserts `stock_levels`), one composed without the
   inventory and pickup domains (no stock at all). The same sales (the same writer commands
   the daemon runs for open, 3 scans, tender, complete) alternate between the two in chunks,
   and the process CPU per sale is compared: `stock_cpu_ms_per_sale` = with - without
   (target < 0.5 ms).
4. The app's own CPU per look-up, in the same run and without HTTP: the ASGI app with the
   fast lane and without it (`create_asgi(..., fast_lane=False)`) on a third copy of the
   store, called alternately with the same stock and item look-ups, `thread_time` around each
   call.

The last line of stdout is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.checkout import _pct, _prepare_store, _proc_cpu_s  # noqa: E402

RECEIPT_LINES = 1_000
CHUNK = 100


def _sku(i: int) -> str:
    return f"SKU-{i:06d}"


def _stock_store(store_dir: Path, skus: int) -> None:
    """Import N SKUs and receive every one into stock, through the writer and commands."""
    import msgspec

    from edge import compose
    from edge import config as config_mod
    from edge.catalog.service import import_document
    from edge.inventory import commands
    from schemas.catalog import CatalogDocument, PriceVersion, Product, TaxClass, Variant
    from schemas.inventory_api import CountedQty, ReceiveStock

    store = compose.store_of(store_dir, config_mod.load(store_dir))
    store.start()
    try:
        since = datetime(2026, 1, 1, tzinfo=UTC)
        doc = CatalogDocument(
            tax_classes=(TaxClass("std", 190_000),),
            products=tuple(Product(f"P{i}", f"Item {i}", "std", (Variant(_sku(i)),))
                           for i in range(skus)),
            prices=tuple(PriceVersion(_sku(i), 1, 100 + i % 900, since) for i in range(skus)))
        doc = msgspec.convert(msgspec.to_builtins(doc), CatalogDocument)
        store.writer.run_sync(lambda tx: import_document(tx, doc, lane_id=None))
        for first in range(0, skus, RECEIPT_LINES):
            req = ReceiveStock(lines=tuple(
                CountedQty(_sku(i), 50_000) for i in range(first, min(skus, first + RECEIPT_LINES))))
            store.writer.run_sync(lambda tx, r=req: commands.receive(tx, "bench", r))
    finally:
        store.stop()


class _Lookups:
    """One daemon's look-up figures: wall time per request and the daemon's CPU."""

    def __init__(self, daemon) -> None:
        import httpx

        self.daemon = daemon
        self.client = httpx.Client(base_url=daemon.url, timeout=30, headers={
            "Authorization": f"Bearer {daemon.tokens['lane-1']}"})
        self.stock_ns: list[int] = []
        self.item_ns: list[int] = []
        self.cpu_s = 0.0

    def one(self, sku: str) -> None:
        t0 = time.perf_counter_ns()
        r = self.client.get("/v1/stock", params={"sku": sku})
        t1 = time.perf_counter_ns()
        q = self.client.get(f"/v1/catalog/items/{sku}")
        t2 = time.perf_counter_ns()
        assert r.status_code == 200 and q.status_code == 200, (r.text, q.text)
        self.stock_ns.append(t1 - t0)
        self.item_ns.append(t2 - t1)

    def cpu(self) -> float | None:
        return _proc_cpu_s(self.daemon.proc.pid)

    def figures(self, prefix: str = "") -> dict:
        self.stock_ns.sort()
        self.item_ns.sort()
        n = len(self.stock_ns)
        return {f"{prefix}stock_lookup_p50_ms": _pct(self.stock_ns, 50),
                f"{prefix}stock_lookup_p99_ms": _pct(self.stock_ns, 99),
                f"{prefix}item_lookup_p50_ms": _pct(self.item_ns, 50),
                f"{prefix}item_lookup_p99_ms": _pct(self.item_ns, 99),
                # Both look-ups together: CPU is steadier than wall time on a shared machine.
                f"{prefix}daemon_cpu_ms_per_lookup": self.cpu_s / (2 * n) * 1000}


def _http_figures(store_dir: Path, skus: int, lookups: int, sales: int, rng: random.Random,
                  against: Path | None = None) -> dict:
    """Look-ups, then sales, over HTTP. With `against` (another checkout, e.g. main's
    worktree), that checkout's daemon serves a copy of the same store and every look-up is
    made on both, in alternating order: a baseline that saw the same machine at the same
    moment."""
    from tests.support.daemon import DaemonProcess

    other_dir = store_dir.parent / "against"
    if against is not None:
        shutil.copytree(store_dir, other_dir)
    daemon = DaemonProcess(store_dir).start()
    other = None
    if against is not None:
        with contextlib.chdir(against):  # `python -m` puts the working directory first
            other = DaemonProcess(other_dir, extra_env={"PYTHONPATH": str(against)}).start()
    try:
        assert daemon.proc is not None
        mine = _Lookups(daemon)
        theirs = _Lookups(other) if other is not None else None
        sides = [s for s in (mine, theirs) if s is not None]
        c = mine.client
        picks = [_sku(rng.randrange(skus)) for _ in range(lookups)]
        for side in sides:
            for sku in picks[:50]:  # warm the connection and the caches
                side.client.get("/v1/stock", params={"sku": sku}).raise_for_status()
        cpu0 = [side.cpu() for side in sides]
        for i, sku in enumerate(picks):  # stock and item interleaved, the sides alternating
            for side in (sides if i % 2 == 0 else sides[::-1]):
                side.one(sku)
        for side, before in zip(sides, cpu0, strict=True):
            after = side.cpu()
            side.cpu_s = after - before if after is not None and before is not None else 0.0
        figures = mine.figures()
        if theirs is not None:
            figures.update(theirs.figures("against_"))
            theirs.client.close()
            other.stop()
            other = None
        n = 0

        def post(path: str, body: dict) -> dict:
            nonlocal n
            n += 1
            r = c.post(path, json=body, headers={"Idempotency-Key": f"bench-{n}"})
            assert r.status_code in (200, 201), r.text
            return r.json()

        def sale() -> None:
            cart = post("/v1/carts", {})["cart_id"]
            for _ in range(3):
                post(f"/v1/carts/{cart}/lines", {"sku": _sku(rng.randrange(skus))})
            post(f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 10_000})
            post(f"/v1/carts/{cart}/complete", {})

        for _ in range(20):
            sale()
        cpu0 = _proc_cpu_s(daemon.proc.pid)
        for _ in range(sales):
            sale()
        cpu1 = _proc_cpu_s(daemon.proc.pid)
        c.close()
    finally:
        daemon.stop()
        if other is not None:
            other.stop()
    return {
        **figures,
        "daemon_cpu_ms_per_sale_http": ((cpu1 - cpu0) / sales * 1000
                                        if cpu0 is not None and cpu1 is not None else None),
    }


def _writer_figures(a_dir: Path, b_dir: Path, skus: int, sales: int, rng: random.Random
                    ) -> dict:
    from edge import compose
    from edge import config as config_mod
    from edge.carts import commands as carts
    from edge.lanes import Principal
    from edge.orders import commands as orders
    from edge.store.kernel import Store
    from edge.tender import commands as tender
    from schemas import api

    cfg = config_mod.load(a_dir)
    policy = compose.policy_of(cfg)
    without = tuple(d for d in compose.DOMAINS if d.name not in ("inventory", "pickup"))
    stores = {
        "with_stock": Store(a_dir, cfg.store, compose.layout(), writer=cfg.writer),
        "without_stock": Store(b_dir, cfg.store, compose.layout(without), writer=cfg.writer),
    }
    who = Principal(cfg.store.tenant_id, cfg.store.store_id, "lane-1", "cashier", "bench")

    def one_sale(s: Store, lines: list[str]) -> None:
        def command(tx):
            cart = carts.open_cart(tx, who, policy)
            for sku in lines:
                carts.add_line(tx, who, policy, cart.cart_id, api.AddLine(sku=sku))
            tender.add_tender(tx, who, cart.cart_id, api.AddTender("cash", 10_000), policy)
            return orders.complete(tx, who, policy, cart.cart_id)
        s.writer.run_sync(command)

    cpu = {k: 0.0 for k in stores}
    done = {k: 0 for k in stores}
    for s in stores.values():
        s.start()
    try:
        for s in stores.values():
            for _ in range(20):
                one_sale(s, [_sku(rng.randrange(skus)) for _ in range(3)])
        for _ in range(max(1, sales // CHUNK)):
            chunk = [[_sku(rng.randrange(skus)) for _ in range(3)] for _ in range(CHUNK)]
            for name, s in stores.items():  # the same sales on both, alternating
                t0 = time.process_time()
                for lines in chunk:
                    one_sale(s, lines)
                cpu[name] += time.process_time() - t0
                done[name] += len(chunk)
    finally:
        for s in stores.values():
            s.stop()
    per = {k: cpu[k] / done[k] * 1000 for k in stores}
    return {"writer_cpu_ms_per_sale_with_stock": per["with_stock"],
            "writer_cpu_ms_per_sale_without_stock": per["without_stock"],
            "stock_cpu_ms_per_sale": per["with_stock"] - per["without_stock"],
            "writer_sales_each": done["with_stock"]}


def _query_figures(a_dir: Path, skus: int, lookups: int, rng: random.Random) -> dict:
    """The look-up's own cost, without HTTP: `GET /v1/stock`'s function on a read connection,
    and the catalog's item look-up on the same SKUs as the baseline."""
    from edge.catalog import lookup
    from edge.inventory.routes import stock_of
    from edge.store.db import open_connection

    conn = open_connection(a_dir / "store.db")
    picks = [_sku(rng.randrange(skus)) for _ in range(lookups)]
    stock_ns, item_ns = [], []
    for sku in picks:
        t0 = time.perf_counter_ns()
        stock_of(conn, sku)
        t1 = time.perf_counter_ns()
        lookup.by_sku(conn, sku)
        item_ns.append(time.perf_counter_ns() - t1)
        stock_ns.append(t1 - t0)
    conn.close()
    stock_ns.sort()
    item_ns.sort()
    return {"stock_query_p99_ms": _pct(stock_ns, 99), "item_query_p99_ms": _pct(item_ns, 99)}


def _asgi_figures(c_dir: Path, skus: int, lookups: int, rng: random.Random) -> dict:
    """The daemon's own CPU per look-up without HTTP or a neighbour's noise: the ASGI app with
    the fast lane and without it, on one store in this process, called alternately with the
    same requests (`thread_time` around each call)."""
    import asyncio

    from edge import compose, demo
    from edge import config as config_mod
    from edge.app import create_asgi

    daemon = compose.compose(c_dir, config_mod.load(c_dir))
    daemon.start()
    try:
        token = demo.seed(daemon.store)["lane-1"]
        apps = {"fast": create_asgi(daemon), "framework": create_asgi(daemon, fast_lane=False)}
        picks = [_sku(rng.randrange(skus)) for _ in range(lookups)]
        cpu_ns: dict[str, list[int]] = {name: [] for name in apps}

        async def one(app, path: str, query: bytes) -> int:
            sent: list[dict] = []

            async def receive() -> dict:
                return {"type": "http.request", "body": b"", "more_body": False}

            async def send(message: dict) -> None:
                sent.append(message)

            scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                     "method": "GET", "scheme": "http", "path": path,
                     "raw_path": path.encode(), "query_string": query, "root_path": "",
                     "headers": [(b"host", b"127.0.0.1"),
                                 (b"authorization", f"Bearer {token}".encode())],
                     "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080)}
            t0 = time.thread_time_ns()
            await app(scope, receive, send)
            took = time.thread_time_ns() - t0
            assert sent[0]["status"] == 200, sent
            return took

        async def run() -> None:
            for i, sku in enumerate(picks + picks[:200]):  # the first 200: warm-up
                order = list(apps.items()) if i % 2 == 0 else list(apps.items())[::-1]
                for name, app in order:
                    took = await one(app, "/v1/stock", f"sku={sku}".encode())
                    took += await one(app, f"/v1/catalog/items/{sku}", b"")
                    if i >= 200:
                        cpu_ns[name].append(took)

        asyncio.run(run())
    finally:
        daemon.stop()
    out = {}
    for name, ns in cpu_ns.items():
        ns.sort()
        out[f"asgi_cpu_ms_per_lookup_pair_{name}_p50"] = _pct(ns, 50)
        out[f"asgi_cpu_ms_per_lookup_pair_{name}_mean"] = sum(ns) / len(ns) / 1e6
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--skus", type=int, default=50_000, help="SKUs in stock (default 50,000)")
    ap.add_argument("--lookups", type=int, default=3_000, help="stock look-ups (default 3,000)")
    ap.add_argument("--sales", type=int, default=300, help="HTTP sales (default 300)")
    ap.add_argument("--writer-sales", type=int, default=2_000,
                    help="in-process sales per configuration (default 2,000)")
    ap.add_argument("--tmp-dir", type=Path, default=None)
    ap.add_argument("--against", type=Path, default=None,
                    help="another checkout (e.g. a worktree of main): its daemon serves a copy "
                    "of the store, look-ups alternate between the two")
    args = ap.parse_args(argv)
    rng = random.Random(13)
    work = Path(tempfile.mkdtemp(prefix="novapos-stock-bench-", dir=args.tmp_dir))
    print(f"novapos stock bench: {args.skus} SKUs in stock, temp dir {work}", flush=True)
    try:
        store_dir = work / "store"
        _prepare_store(store_dir, 2)
        t0 = time.monotonic()
        _stock_store(store_dir, args.skus)
        print(f"catalog and stock of {args.skus} SKUs loaded in {time.monotonic() - t0:.1f} s",
              flush=True)
        shutil.copytree(store_dir, work / "a")
        shutil.copytree(store_dir, work / "b")
        shutil.copytree(store_dir, work / "c")
        http = _http_figures(store_dir, args.skus, args.lookups, args.sales, rng,
                             args.against.resolve() if args.against else None)
        query = _query_figures(work / "a", args.skus, args.lookups, rng)
        writer = _writer_figures(work / "a", work / "b", args.skus, args.writer_sales, rng)
        asgi = _asgi_figures(work / "c", args.skus, args.lookups, rng)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    f = {**http, **query, **writer, **asgi, "load_average_1m": os.getloadavg()[0],
         "skus": args.skus, "lookups": args.lookups, "http_sales": args.sales}
    print(f"GET /v1/stock?sku=          p50 {f['stock_lookup_p50_ms']:.2f} ms, "
          f"p99 {f['stock_lookup_p99_ms']:.2f} ms ({args.lookups} look-ups, {args.skus} SKUs)")
    print(f"GET /v1/catalog/items/{{sku}} p50 {f['item_lookup_p50_ms']:.2f} ms, "
          f"p99 {f['item_lookup_p99_ms']:.2f} ms (baseline, same SKUs, interleaved)")
    print(f"in-process look-up p99: stock {f['stock_query_p99_ms']:.3f} ms, catalog item "
          f"{f['item_query_p99_ms']:.3f} ms (the query alone, read connection)")
    print(f"machine load average (1 min): {f['load_average_1m']:.1f} on {os.cpu_count()} CPUs: "
          "HTTP latencies and CPU figures include waiting for a busy machine")
    print(f"daemon CPU per look-up (stock and item alike): "
          f"{f['daemon_cpu_ms_per_lookup']:.3f} ms")
    if args.against is not None:
        print(f"against {args.against} (same look-ups, alternating): "
              f"stock p50 {f['against_stock_lookup_p50_ms']:.2f} ms, "
              f"p99 {f['against_stock_lookup_p99_ms']:.2f} ms; "
              f"item p50 {f['against_item_lookup_p50_ms']:.2f} ms, "
              f"p99 {f['against_item_lookup_p99_ms']:.2f} ms; "
              f"daemon CPU per look-up {f['against_daemon_cpu_ms_per_lookup']:.3f} ms")
    print(f"in-process ASGI CPU per stock + item look-up (thread time, alternating): fast lane "
          f"p50 {f['asgi_cpu_ms_per_lookup_pair_fast_p50']:.3f} ms (mean "
          f"{f['asgi_cpu_ms_per_lookup_pair_fast_mean']:.3f}), framework p50 "
          f"{f['asgi_cpu_ms_per_lookup_pair_framework_p50']:.3f} ms (mean "
          f"{f['asgi_cpu_ms_per_lookup_pair_framework_mean']:.3f})")
    if f["daemon_cpu_ms_per_sale_http"] is not None:
        print(f"daemon CPU per HTTP sale, stock kept: {f['daemon_cpu_ms_per_sale_http']:.2f} ms "
              f"({args.sales} sequential sales)")
    print(f"writer CPU per sale: {f['writer_cpu_ms_per_sale_with_stock']:.3f} ms with stock, "
          f"{f['writer_cpu_ms_per_sale_without_stock']:.3f} ms without -> stock adds "
          f"{f['stock_cpu_ms_per_sale']:.3f} ms ({f['writer_sales_each']} sales each)")
    ok_lookup = f["stock_lookup_p99_ms"] < 5
    ok_cpu = f["stock_cpu_ms_per_sale"] < 0.5
    print(f"targets: stock lookup p99 < 5 ms: {'yes' if ok_lookup else 'NO'}, "
          f"stock effect < 0.5 ms CPU/sale: {'yes' if ok_cpu else 'NO'}")
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in f.items()}),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

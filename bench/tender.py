"""Split-tender benchmark: sales paid part cash, part card on ZVT emulators, over HTTP against
a real daemon, plus the raw-SQLite baseline of the same rows.

    .venv/bin/python bench/tender.py [--lanes 4] [--duration-s 15] [--shared-terminal]
        [--baseline-s S] [--tmp-dir D] [--keep]

1. Starts one ZVT terminal emulator per lane in this process (real TCP, zero simulated delay:
   every card is approved at once), `novapos-edge init` with one `[[devices.terminals]]` per
   lane (lane-k takes cards on till-k), and `serve --demo` as a real subprocess.
   `--shared-terminal` configures one terminal for all lanes instead: their card steps then
   queue for it (one transaction at a time), which is what the lane-per-terminal setup avoids.
2. Rings one template sale, then N lanes (asyncio, one keep-alive httpx client each) ring
   sales until the duration is up: open, 3 scans, a cash tender for about half the total, a
   card tender for the rest (the daemon charges it on the lane's terminal), complete.
3. The tender step of a sale = from the cash tender request to the card tender's answer; its
   p99 is `tender_p99_ms`. Card and cash requests are reported separately too.
4. Baseline (bench/checkout.py's `run_baseline`): one durable transaction per sale writing the
   rows the daemon wrote for the template sale (its 9 events via the project's projections,
   its 7 idempotency rows), sequentially, WAL + synchronous=FULL.

The last line of stdout is one JSON object: tender_p99_ms, sales_per_s, baseline_sales_per_s,
ratio, terminals, and more. Exit 0 when every request succeeded, 1 otherwise, 2 if the bench
could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec

ROOT = Path(__file__).resolve().parents[1]
# The repository first, and never this directory: `bench/sync.py` would shadow the `sync`
# package for every `import sync` below.
sys.path[:] = [str(ROOT), *(p for p in sys.path if p not in (str(ROOT), str(ROOT / "bench")))]

from bench.checkout import (
    _prepare_store,
    _r,
    _summary,
    run_baseline,
)

SKUS = ("MILK-1L", "BREAD-500G", "COFFEE-250G", "TSHIRT-BLK-M")
SCANS_PER_SALE = 3
REQUEST_TIMEOUT_S = 30.0
KINDS = ("open", "scan", "cash", "card", "complete", "tender_step")
TEMPLATE_TYPES = (["cart.opened"] + ["cart.line_added"] * SCANS_PER_SALE
                  + ["payment.created", "payment.captured",
                     "payment.created", "payment.authorizing", "payment.captured",
                     "sale.completed"])


class Lane:
    def __init__(self, url: str, token: str, offset: int) -> None:
        self.client = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=REQUEST_TIMEOUT_S,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1), trust_env=False)
        self.offset = offset
        self.lat: dict[str, list[int]] = {k: [] for k in KINDS}
        self.errors: list[str] = []
        self.sales = 0
        self.recording = False

    async def post(self, kind: str, path: str, body: dict) -> dict | None:
        started = time.perf_counter_ns()
        try:
            r = await self.client.post(path, content=msgspec.json.encode(body), headers={
                "Idempotency-Key": uuid.uuid4().hex, "Content-Type": "application/json"})
        except httpx.HTTPError as exc:
            self.errors.append(f"{kind} {path}: {exc!r}")
            return None
        if not 200 <= r.status_code < 300:
            self.errors.append(f"{kind} {path}: HTTP {r.status_code} {r.text[:300]}")
            return None
        if self.recording:
            self.lat[kind].append(time.perf_counter_ns() - started)
        return msgspec.json.decode(r.content)

    async def ring_sale(self) -> bool:
        cart = await self.post("open", "/v1/carts", {})
        if cart is None:
            return False
        cid = cart["cart_id"]
        view = cart
        for i in range(SCANS_PER_SALE):
            sku = SKUS[(self.offset + i) % len(SKUS)]
            view = await self.post("scan", f"/v1/carts/{cid}/lines", {"sku": sku})
            if view is None:
                return False
        self.offset += 1
        total = int(view["total_minor"])
        cash = total // 2
        step0 = time.perf_counter_ns()
        if await self.post("cash", f"/v1/carts/{cid}/tenders",
                           {"tender_type": "cash", "amount_minor": cash}) is None:
            return False
        if await self.post("card", f"/v1/carts/{cid}/tenders",
                           {"tender_type": "card", "amount_minor": total - cash}) is None:
            return False
        if self.recording:
            self.lat["tender_step"].append(time.perf_counter_ns() - step0)
        order = await self.post("complete", f"/v1/carts/{cid}/complete", {})
        if order is None or order.get("tendered_minor") != total:
            return False
        if self.recording:
            self.sales += 1
        return True


async def _load(url: str, tokens: list[str], duration_s: float) -> tuple[list[Lane], float]:
    lanes = [Lane(url, token, i) for i, token in enumerate(tokens)]
    try:
        await asyncio.gather(*(lane.ring_sale() for lane in lanes))  # warm-up
        for lane in lanes:
            lane.recording = True
        t0 = time.monotonic()
        deadline = t0 + duration_s

        async def run(lane: Lane) -> None:
            while time.monotonic() < deadline:
                if not await lane.ring_sale():
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(run(lane) for lane in lanes))
        return lanes, time.monotonic() - t0
    finally:
        await asyncio.gather(*(lane.client.aclose() for lane in lanes))


def _template_sale(url: str, token: str) -> dict:
    keys: list[str] = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                      timeout=REQUEST_TIMEOUT_S, trust_env=False) as client:
        def post(path: str, body: dict) -> dict:
            key = uuid.uuid4().hex
            keys.append(key)
            r = client.post(path, json=body, headers={"Idempotency-Key": key})
            if not 200 <= r.status_code < 300:
                raise RuntimeError(f"template sale: POST {path} -> {r.status_code} {r.text[:300]}")
            return r.json()

        cart = post("/v1/carts", {})
        cid = cart["cart_id"]
        view = cart
        for sku in SKUS[:SCANS_PER_SALE]:
            view = post(f"/v1/carts/{cid}/lines", {"sku": sku})
        total = view["total_minor"]
        post(f"/v1/carts/{cid}/tenders", {"tender_type": "cash", "amount_minor": total // 2})
        post(f"/v1/carts/{cid}/tenders", {"tender_type": "card",
                                          "amount_minor": total - total // 2})
        order = post(f"/v1/carts/{cid}/complete", {})
    return {"lane_id": "lane-1", "cart_id": cid, "order_id": order["order_id"],
            "receipt_number": order["receipt_number"], "keys": keys}


def _templates(db_path: Path, sale: dict) -> dict:
    import apsw

    from core import bodycodec
    from edge.store import eventlog
    from schemas.envelope import Event

    conn = apsw.Connection(str(db_path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        first, last = conn.execute(
            "SELECT MIN(seq), MAX(seq) FROM events WHERE stream IN (?, ?)",
            (f"cart:{sale['cart_id']}", f"order:{sale['order_id']}")).fetchall()[0]
        events = [bodycodec.event_of(row) for row in conn.execute(
            f"SELECT {eventlog.COLUMNS} FROM events WHERE seq BETWEEN ? AND ? ORDER BY seq",
            (first, last))]
        marks = ",".join("?" * len(sale["keys"]))
        idem = conn.execute(
            f"SELECT key, fingerprint, status, body FROM idempotency_keys "
            f"WHERE lane_id = ? AND key IN ({marks})", (sale["lane_id"], *sale["keys"])).fetchall()
    finally:
        conn.close()
    types = [e.type for e in events]
    if types != TEMPLATE_TYPES or len(idem) != len(sale["keys"]):
        raise RuntimeError(f"template sale has unexpected rows: {types}, {len(idem)} keys")
    payment_ids = [e.stream.removeprefix("payment:").encode() for e in events
                   if e.type == "payment.created"]
    return {"events": events, "idem": idem, "payment_ids": payment_ids}


def _configure_terminals(config_path: Path, terminals: list, lanes: int) -> None:
    """One `[[devices.terminals]]` per terminal: till-k for lane-k, or one for all lanes."""
    text = config_path.read_text()
    if len(terminals) == 1:
        groups = [[f"lane-{k}" for k in range(1, lanes + 1)]]
    else:
        groups = [[f"lane-{k}"] for k in range(1, lanes + 1)]
    for k, (terminal, group) in enumerate(zip(terminals, groups, strict=True), start=1):
        text += (f'\n[[devices.terminals]]\nid = "till-{k}"\nhost = "127.0.0.1"\n'
                 f"port = {terminal.port}\nlanes = {json.dumps(group)}\n")
    config_path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lanes", type=int, default=4)
    ap.add_argument("--duration-s", type=float, default=15.0)
    ap.add_argument("--shared-terminal", action="store_true",
                    help="one terminal for all lanes (default: one per lane)")
    ap.add_argument("--baseline-s", type=float, default=None)
    ap.add_argument("--tmp-dir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    if args.lanes < 1 or args.duration_s <= 0:
        ap.error("--lanes >= 1 and --duration-s > 0")
    baseline_s = args.baseline_s if args.baseline_s is not None else min(args.duration_s, 10.0)

    from drivers.emulators.zvt_terminal import ZvtTerminalEmulator
    from tests.support.daemon import DaemonProcess

    work = Path(tempfile.mkdtemp(prefix="novapos-bench-tender-", dir=args.tmp_dir))
    store_dir = work / "store"
    count = 1 if args.shared_terminal else args.lanes
    terminals = [ZvtTerminalEmulator().start() for _ in range(count)]
    daemon: DaemonProcess | None = None
    print(f"novapos tender bench: {args.lanes} lanes, {args.duration_s:g} s, split cash + card "
          f"on {count} ZVT emulator(s) (zero delay), {os.cpu_count()} CPUs, {work}", flush=True)
    try:
        extra = _prepare_store(store_dir, args.lanes)
        _configure_terminals(store_dir / "config.toml", terminals, args.lanes)
        daemon = DaemonProcess(store_dir).start()
        tokens = {**extra, **{k: v for k, v in daemon.tokens.items() if k.startswith("lane-")}}
        lane_tokens = [tokens[f"lane-{k}"] for k in range(1, args.lanes + 1)]
        sale = _template_sale(daemon.url, tokens["lane-1"])
        charged_before = sum(len(t.journal()) for t in terminals)
        lanes, measured_s = asyncio.run(_load(daemon.url, lane_tokens, args.duration_s))
        charges = sum(len(t.journal()) for t in terminals) - charged_before
        daemon.stop()
        templates = _templates(store_dir / "store.db", sale)
        print(f"raw-SQLite baseline: {baseline_s:g} s ...", flush=True)
        base = run_baseline(work / "baseline", templates, sale, baseline_s)
    except Exception:  # noqa: BLE001 - the bench reports and exits 2
        traceback.print_exc()
        print(json.dumps({"error": "bench could not run; see above"}), flush=True)
        return 2
    finally:
        if daemon is not None:
            daemon.stop()
        for terminal in terminals:
            terminal.stop()
        if args.keep:
            print(f"kept {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)

    stats = {k: _summary([v for lane in lanes for v in lane.lat[k]]) for k in KINDS}
    sales = sum(lane.sales for lane in lanes)
    errors = [e for lane in lanes for e in lane.errors]
    sales_per_s = sales / measured_s if measured_s else 0.0
    ratio = sales_per_s / base["sales_per_s"] if base["sales_per_s"] else None
    print(f"\nmeasured window {measured_s:.2f} s, {args.lanes} lanes, saturated (no think time)")
    print(f"{'step':<12}{'count':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for k in KINDS:
        s = stats[k]
        print(f"{k:<12}{s['count']:>8}{(s['p50'] or 0):>10.2f}{(s['p99'] or 0):>10.2f}"
              f"{(s['max'] or 0):>10.2f}")
    print(f"sales: {sales} -> {sales_per_s:.1f} sales/s; terminal journals grew by {charges}")
    print(f"raw-SQLite baseline: {base['sales']} sales in {base['seconds']:.2f} s -> "
          f"{base['sales_per_s']:.1f} sales/s")
    print(f"ratio daemon/baseline: {ratio:.3f}" if ratio is not None else "ratio: -")
    print(f"errors: {len(errors)}")
    for e in errors[:20]:
        print(f"  {e}")
    summary: dict[str, Any] = {
        "tender_p99_ms": _r(stats["tender_step"]["p99"]),
        "tender_p50_ms": _r(stats["tender_step"]["p50"]),
        "card_p99_ms": _r(stats["card"]["p99"]), "cash_p99_ms": _r(stats["cash"]["p99"]),
        "complete_p99_ms": _r(stats["complete"]["p99"]),
        "sales_per_s": _r(sales_per_s, 2), "baseline_sales_per_s": _r(base["sales_per_s"], 2),
        "ratio": _r(ratio), "lanes": args.lanes, "duration_s": _r(measured_s, 2),
        "sales": sales, "errors": len(errors), "terminals": count,
    }
    print(json.dumps(summary), flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

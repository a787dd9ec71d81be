"""Loyalty benchmark: customer look-up latency with many customers cached, and the daemon CPU
earning adds to a sale.

    .venv/bin/python bench/loyalty.py [--customers 20000] [--full] [--lookups 2000] [--sales 300]

1. A fresh store (the project's own composition: `edge.compose.store_of`, demo catalog) gets
   `--customers` customers (`--full`: 1,000,000) through the real down-sync applier, in
   batches of 2,000 per writer command: each one a `loyalty.customer_cached` event with its
   sealed personal data, three look-up hashes and its wrapped data key.
2. Look-up: `--lookups` random customers found by phone the way the lane route does it (keyed
   hash, indexed select, then the full customer 360 with the name decrypted); p50/p99 in ms.
   Baseline in the same run: the bare indexed select of the hash (no HMAC, no view).
3. Earn: `--sales` sales (open cart, 3 scans, cash, complete) run as writer commands, half with
   a customer attached and earning, half without (alternated); process CPU time per sale of
   each kind, and the difference is what earning adds (the attach command included).

The last line of stdout is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import pii  # noqa: E402
from edge import config as config_mod  # noqa: E402
from edge import demo  # noqa: E402
from edge.carts import commands as carts  # noqa: E402
from edge.compose import policy_of, store_of  # noqa: E402
from edge.lanes import Principal  # noqa: E402
from edge.loyalty.commands import apply_customers  # noqa: E402
from edge.loyalty.service import Loyalty, import_key  # noqa: E402
from edge.orders import commands as orders  # noqa: E402
from edge.tender import commands as tender  # noqa: E402
from schemas import api  # noqa: E402
from schemas import loyalty as lo  # noqa: E402
from schemas.sync import Change  # noqa: E402

BATCH = 2_000


def _phone(i: int) -> str:
    return f"+49 170 {i:07d}"


def build(store, key: pii.TenantKey, n: int) -> float:
    started = time.perf_counter()
    change_id = 0
    for first in range(0, n, BATCH):
        changes = []
        for i in range(first, min(first + BATCH, n)):
            cid = f"c-{i:07d}"
            person = lo.PersonalData(name=f"Customer {i}", phone=_phone(i),
                                     email=f"c{i}@example.org", card=f"LOY-{i:09d}")
            sealed, wrapped = pii.seal_customer(key, cid, msgspec.json.encode(person))
            change_id += 1
            changes.append(Change(change_id, "loyalty.customer", msgspec.json.encode(
                lo.CustomerChange(customer_id=cid, revision=1, lookup=pii.lookups(key, person),
                                  pii=sealed, wrapped_key=wrapped, tier="",
                                  balance_points=1000, hq_seqs={})), 0))
        store.writer.run_sync(lambda tx, c=changes: apply_customers(tx, c))
        if (first + BATCH) % 100_000 == 0:
            print(f"  {first + BATCH} customers cached, {time.perf_counter() - started:.0f} s",
                  flush=True)
    return time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--full", action="store_true", help="1,000,000 customers")
    ap.add_argument("--lookups", type=int, default=2_000)
    ap.add_argument("--sales", type=int, default=300)
    args = ap.parse_args()
    n = 1_000_000 if args.full else args.customers

    with tempfile.TemporaryDirectory(prefix="novapos-bench-loyalty-") as tmp:
        data_dir = Path(tmp)
        cfg = config_mod.load(data_dir, {})
        import_key(data_dir, cfg.loyalty, bytes(range(32)))
        store = store_of(data_dir, cfg)
        store.start()
        try:
            demo.seed(store)
            loyalty = Loyalty.from_data_dir(data_dir, cfg.loyalty)
            key = loyalty.key
            build_s = build(store, key, n)
            print(f"cached {n} customers in {build_s:.1f} s", flush=True)

            conn = store.reader
            rng = random.Random(7)
            picks = [rng.randrange(n) for _ in range(args.lookups)]
            base, full = [], []
            for i in picks:
                h = key.lookup_hash("phone", _phone(i))
                t0 = time.perf_counter()
                conn.execute("SELECT customer_id FROM loyalty_lookup WHERE hash = ?",
                             (h,)).fetchall()
                base.append((time.perf_counter() - t0) * 1000)
            for i in picks:
                t0 = time.perf_counter()
                view = loyalty.view(conn, loyalty.find(conn, lo.CustomerLookup(phone=_phone(i))))
                full.append((time.perf_counter() - t0) * 1000)
                assert view.name == f"Customer {i}"

            policy = policy_of(cfg)
            who = Principal(store.identity.tenant_id, store.identity.store_id, "lane-1",
                            "cashier", "bench")

            def sale(customer: str | None) -> float:
                t0 = time.process_time()

                def run(tx):
                    cart = carts.open_cart(tx, who, policy)
                    if customer is not None:
                        loyalty.attach(tx, who, cart.cart_id, customer)
                    for sku in ("COFFEE-250G", "MILK-1L", "COFFEE-250G"):
                        view = carts.add_line(tx, who, policy, cart.cart_id, api.AddLine(sku=sku))
                    total = view.totals(policy.tax_mode).total_minor
                    tender.add_tender(tx, who, cart.cart_id,
                                      api.AddTender(tender_type="cash", amount_minor=total))
                    order_id = orders.complete(tx, who, policy, cart.cart_id)
                    loyalty.on_sale(tx, order_id)

                store.writer.run_sync(run)
                return (time.process_time() - t0) * 1000

            with_c, without = [], []
            for k in range(args.sales):
                if k % 2:
                    with_c.append(sale(f"c-{rng.randrange(n):07d}"))
                else:
                    without.append(sale(None))
            earned = conn.execute("SELECT count(*) FROM loyalty_earned").fetchall()[0][0]
            assert earned == len(with_c)
        finally:
            store.stop()

    out = {
        "customers": n, "build_s": round(build_s, 1),
        "lookup_p50_ms": round(pct(full, 0.5), 3), "lookup_p99_ms": round(pct(full, 0.99), 3),
        "baseline_select_p99_ms": round(pct(base, 0.99), 3),
        "sale_cpu_ms_without_customer": round(statistics.median(without), 3),
        "sale_cpu_ms_with_earn": round(statistics.median(with_c), 3),
        "earn_adds_cpu_ms": round(statistics.median(with_c) - statistics.median(without), 3),
    }
    out["targets_met"] = out["lookup_p99_ms"] < 10 and out["earn_adds_cpu_ms"] < 1
    print(f"look-up p50 {out['lookup_p50_ms']} ms, p99 {out['lookup_p99_ms']} ms (bare select "
          f"p99 {out['baseline_select_p99_ms']} ms); sale CPU {out['sale_cpu_ms_without_customer']}"
          f" ms without a customer, {out['sale_cpu_ms_with_earn']} ms with earn: "
          f"+{out['earn_adds_cpu_ms']} ms")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

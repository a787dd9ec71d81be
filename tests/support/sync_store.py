"""An edge store running inside the test's event loop (service + writer task), and realistic
sale events appended straight through the writer: the fixtures of the sync tests and of
`bench/sync.py`. The events are the ones checkout writes (`sale.completed` with lines and
tenders), so the relay's ledger and reconciliation see real bodies."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path

from core.clock import ManualClock
from edge import config as config_mod
from edge.store.writer import Tx
from schemas import events as ev
from tests.support.store import TestStore

START_MS = 1_772_445_600_000  # 2026-03-02 10:00 UTC
_SKUS = (("MILK-1L", "p-milk", "Milk 1 l", 119, "food"), ("BREAD-500G", "p-bread", "Bread", 249,
         "food"), ("SOAP-3", "p-soap", "Soap x3", 399, "standard"))


def sale_body(n: int, rng: random.Random, now_ms: int, business_date: str,
              store_tag: str = "S") -> ev.SaleCompleted:
    lines = []
    total = tax = 0
    for line_no in range(1, rng.randint(1, 4) + 1):
        sku, pid, name, price, tax_class = rng.choice(_SKUS)
        qty = rng.randint(1, 3)
        gross = price * qty
        rate = 70_000 if tax_class == "food" else 190_000
        line_tax = gross * rate // (1_000_000 + rate)
        lines.append(ev.SoldLine(
            line_no=line_no, sku=sku, product_id=pid, name=name, qty_milli=qty * 1000,
            unit_price_minor=price, price_version=1, sold_under_lock=False, tax_class=tax_class,
            tax_rate_ppm=rate, gross_minor=gross, discount_minor=0, tax_minor=line_tax,
            total_minor=gross))
        total += gross
        tax += line_tax
    tendered = -(-total // 500) * 500
    return ev.SaleCompleted(
        order_id=f"o-{store_tag}-{n}", cart_id=f"c-{store_tag}-{n}",
        receipt_number=f"{store_tag}-{n:08d}", lane_id="lane-1", completed_at_ms=now_ms,
        business_date=business_date, currency="EUR", tax_mode="inclusive", lines=tuple(lines),
        tenders=(ev.SoldTender(tender_no=1, tender_type="cash", amount_minor=tendered),),
        subtotal_minor=total, discount_minor=0, tax_minor=tax, total_minor=total,
        tendered_minor=tendered, change_due_minor=tendered - total)


class SaleFactory:
    """Numbered sales: appending them never collides with earlier ones of the same store."""

    def __init__(self, seed: int = 0, tag: str | None = None) -> None:
        self.rng = random.Random(seed)
        self.next_n = 0
        self.tag = tag or f"S{seed}"  # distinct seeds never collide on receipt numbers

    def command(self, count: int):
        """A writer command appending `count` sales (one transaction)."""
        first = self.next_n
        self.next_n += count

        def append(tx: Tx) -> int:
            for n in range(first, first + count):
                tx.append(sale_body(n, self.rng, tx.now_ms, tx.business_date, self.tag),
                          stream=f"order-{self.tag}-{n}", lane_id="lane-1")
            return tx.head_seq
        return append


def make_service(data_dir: Path, env: dict[str, str] | None = None,
                 clock=None) -> TestStore:
    cfg = config_mod.load(data_dir, env or {})
    return TestStore(data_dir, cfg, clock or ManualClock(START_MS))


@contextlib.asynccontextmanager
async def running_store(data_dir: Path, env: dict[str, str] | None = None,
                        clock=None) -> AsyncIterator[TestStore]:
    """A started service whose writer task runs on the current loop."""
    service = make_service(data_dir, env, clock)
    service.start()
    task = asyncio.create_task(service.writer.serve(), name="store-writer")
    await asyncio.sleep(0)
    try:
        yield service
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        service.stop()

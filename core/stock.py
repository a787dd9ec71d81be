"""Stock arithmetic, pure: which on-hand and reserved deltas an event carries, the fold of a
log into levels, and availability. The store's projection (`edge.inventory.projection`) and
HQ's stock view (`cloud_relay.inventory`) both use `deltas`, so equal logs give equal stock.

Invariants:
- on_hand(sku) = the sum of the on-hand deltas of every event, in any order (addition);
  reserved(sku) likewise. Nothing here reads a clock or config.
- available = on_hand - reserved - safety, and may be negative (selling is never blocked by
  default); a *new reservation* is only made when every line fits (`shortfalls` is empty).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from schemas.eventbase import EventBody
from schemas.events import SaleCompleted
from schemas.returns import ReturnCompleted
from schemas.inventory import (
    ReservationEnded,
    StockAdjusted,
    StockCounted,
    StockLine,
    StockReceived,
    StockReserved,
    StockTransferredOut,
)


@dataclass(frozen=True, slots=True)
class Delta:
    sku: str
    on_hand_milli: int = 0
    reserved_milli: int = 0


def deltas(body: EventBody) -> Iterator[Delta]:
    """The stock deltas of one event body (none for events that do not move stock). A return
    puts back only its lines with disposition `back_to_stock` (damaged, to-vendor and destroyed
    goods never become sellable again)."""
    if isinstance(body, SaleCompleted):
        for ln in body.lines:
            yield Delta(ln.sku, -ln.qty_milli)
    elif isinstance(body, ReturnCompleted):
        for rl in body.lines:
            if rl.disposition == "back_to_stock":
                yield Delta(rl.sku, rl.qty_milli)
    elif isinstance(body, StockReceived):
        for r in body.lines:
            yield Delta(r.sku, r.counted_milli)
    elif isinstance(body, StockAdjusted):
        yield Delta(body.sku, body.delta_milli)
    elif isinstance(body, StockCounted):
        for c in body.lines:
            yield Delta(c.sku, c.variance_milli)
    elif isinstance(body, StockTransferredOut):
        for t in body.lines:
            yield Delta(t.sku, -t.qty_milli)
    elif isinstance(body, StockReserved):
        for s in body.lines:
            yield Delta(s.sku, 0, s.qty_milli)
    elif isinstance(body, ReservationEnded):
        for s in body.lines:
            yield Delta(s.sku, 0, -s.qty_milli)
        for t in body.taken:
            yield Delta(t.sku, -t.qty_milli)


@dataclass(slots=True)
class Level:
    on_hand_milli: int = 0
    reserved_milli: int = 0


def fold(bodies: Iterable[EventBody], levels: dict[str, Level] | None = None
         ) -> dict[str, Level]:
    """Stock levels by SKU after `bodies` (added to `levels` when given)."""
    out = levels if levels is not None else {}
    for body in bodies:
        for d in deltas(body):
            level = out.setdefault(d.sku, Level())
            level.on_hand_milli += d.on_hand_milli
            level.reserved_milli += d.reserved_milli
    return out


def available(on_hand_milli: int, reserved_milli: int, safety_milli: int) -> int:
    return on_hand_milli - reserved_milli - safety_milli


@dataclass(frozen=True, slots=True)
class Shortfall:
    sku: str
    requested_milli: int
    available_milli: int


def shortfalls(lines: Iterable[StockLine], availability: Mapping[str, int]) -> list[Shortfall]:
    """The lines a new reservation cannot cover (the same SKU on several lines adds up);
    empty when every line fits, so reserving never drives available below zero."""
    wanted: dict[str, int] = {}
    for ln in lines:
        wanted[ln.sku] = wanted.get(ln.sku, 0) + ln.qty_milli
    return [Shortfall(sku, qty, max(0, availability.get(sku, 0)))
            for sku, qty in wanted.items() if qty > availability.get(sku, 0)]

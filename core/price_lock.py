"""Price lock: a line keeps the unit price it was scanned at until its lock expires.

Pure functions. A price version is (version, amount_minor, effective_at_ms). The current price
of a SKU at time t is the version with the latest effective_at_ms <= t (ties: highest version).
A line whose lock has not expired never moves; a line whose lock expired is re-priced or the
completion refused, per the store's policy (`PriceLockPolicy.on_expiry`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class PricePoint:
    version: int
    amount_minor: int
    effective_at_ms: int


@dataclass(frozen=True, slots=True)
class LockedPrice:
    unit_price_minor: int
    price_version: int
    lock_expires_at_ms: int


@dataclass(frozen=True, slots=True)
class LockView:
    locked: bool            # lock still holds at `now`
    would_reprice: bool     # the current price differs from the locked one
    current: PricePoint | None


OnExpiry = Literal["refuse", "reprice"]


def current_price(points: list[PricePoint], now_ms: int) -> PricePoint | None:
    best: PricePoint | None = None
    for p in points:
        if p.effective_at_ms <= now_ms and (
            best is None or (p.effective_at_ms, p.version) > (best.effective_at_ms, best.version)
        ):
            best = p
    return best


def lock(point: PricePoint, now_ms: int, ttl_ms: int) -> LockedPrice:
    assert ttl_ms > 0
    return LockedPrice(point.amount_minor, point.version, now_ms + ttl_ms)


def view(line: LockedPrice, points: list[PricePoint], now_ms: int) -> LockView:
    cur = current_price(points, now_ms)
    differs = cur is not None and cur.version != line.price_version
    moves = differs and cur is not None and cur.amount_minor != line.unit_price_minor
    return LockView(locked=now_ms < line.lock_expires_at_ms, would_reprice=moves, current=cur)


def sold_under_lock(line: LockedPrice, points: list[PricePoint], now_ms: int) -> bool:
    """True when the price charged is no longer the current one: the lock is what held it."""
    cur = current_price(points, now_ms)
    return cur is not None and cur.version != line.price_version

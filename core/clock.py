"""Time sources. The daemon reads time only through a Clock so tests can move it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock tests advance by hand."""

    def __init__(self, start_ms: int) -> None:
        self._now_ms = start_ms

    def now_ms(self) -> int:
        return self._now_ms

    def advance(self, delta_ms: int) -> None:
        assert delta_ms >= 0, "time never runs backwards"
        self._now_ms += delta_ms


def to_ms(moment: datetime) -> int:
    """An aware datetime as UTC epoch milliseconds (how the store keeps time)."""
    assert moment.utcoffset() is not None, "naive datetimes are ambiguous"
    return int(moment.timestamp() * 1000)


def from_ms(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)

"""Store-local business date: sales after midnight but before the day-close hour belong to
the previous trading day, in the store's own time zone (DST included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


def business_date(recorded_at_ms: int, tz: ZoneInfo, day_close_hour: int) -> str:
    assert 0 <= day_close_hour < 24
    local = datetime.fromtimestamp(recorded_at_ms / 1000, tz=UTC).astimezone(tz)
    return (local - timedelta(hours=day_close_hour)).date().isoformat()

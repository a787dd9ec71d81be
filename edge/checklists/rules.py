"""Checklist rules, pure: when is an item overdue, what is still open."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def overdue(due_local: str | None, ticked: bool, business_date: str, now_ms: int,
            tz: ZoneInfo) -> bool:
    """An unticked item is overdue once the store-local time on its business day passed its
    deadline (days before today: every deadline has passed)."""
    if ticked or due_local is None:
        return False
    now = datetime.fromtimestamp(now_ms / 1000, tz)
    today = now.date().isoformat()
    if business_date < today:
        return True
    return business_date == today and now.strftime("%H:%M") > due_local

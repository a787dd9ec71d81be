"""Business date and price-lock rules (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from core.business_day import business_date
from core.price_lock import PricePoint, current_price, lock, sold_under_lock, view

BERLIN = ZoneInfo("Europe/Berlin")


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_sales_before_day_close_belong_to_the_previous_day() -> None:
    # 02:30 local on 2026-03-03 (01:30 UTC) is still the 2nd's trading day with a 04:00 close.
    assert business_date(ms("2026-03-03T01:30:00+00:00"), BERLIN, 4) == "2026-03-02"
    assert business_date(ms("2026-03-03T03:00:00+00:00"), BERLIN, 4) == "2026-03-03"
    assert business_date(ms("2026-03-02T23:30:00+00:00"), BERLIN, 0) == "2026-03-03"


def test_business_date_across_dst_change() -> None:
    # Clocks go forward at 02:00 on 2026-03-29 in Berlin: 03:30 local is 01:30 UTC.
    assert business_date(ms("2026-03-29T01:30:00+00:00"), BERLIN, 4) == "2026-03-28"
    assert business_date(ms("2026-03-29T02:00:00+00:00"), BERLIN, 4) == "2026-03-29"


@given(st.integers(1_700_000_000_000, 1_900_000_000_000), st.integers(0, 23))
def test_business_date_is_local_date_or_the_day_before(t_ms: int, close_hour: int) -> None:
    local = datetime.fromtimestamp(t_ms / 1000, tz=UTC).astimezone(BERLIN)
    got = business_date(t_ms, BERLIN, close_hour)
    assert got == local.date().isoformat() if local.hour >= close_hour else got < local.date().isoformat()


points = [PricePoint(1, 100, 0), PricePoint(2, 150, 1_000), PricePoint(3, 90, 5_000)]


def test_current_price_is_latest_effective() -> None:
    assert current_price(points, -1) is None
    assert current_price(points, 999).version == 1
    assert current_price(points, 1_000).version == 2
    assert current_price(points, 10_000).version == 3


def test_locked_line_keeps_its_price_until_expiry() -> None:
    held = lock(current_price(points, 500), 500, ttl_ms=1_000)
    assert held.unit_price_minor == 100 and held.lock_expires_at_ms == 1_500
    v = view(held, points, 1_200)
    assert v.locked and v.would_reprice and v.current.amount_minor == 150
    assert not view(held, points, 1_500).locked
    assert sold_under_lock(held, points, 1_200)
    assert not sold_under_lock(held, points, 900)

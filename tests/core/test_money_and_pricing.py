"""Money rounding and cart pricing: the invariants, property-tested."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from core.money import allocate, div_round_half_up, format_minor
from core.pricing import Discount, LineInput, line_tax_minor, price


@given(st.integers(-10**12, 10**12), st.integers(1, 10**9))
def test_div_round_half_up_is_nearest_with_halves_away_from_zero(n: int, d: int) -> None:
    q = div_round_half_up(n, d)
    exact = Fraction(n, d)
    assert abs(exact - q) <= Fraction(1, 2)
    if abs(exact - q) == Fraction(1, 2):
        assert abs(q) > abs(exact)


def test_div_round_half_up_examples() -> None:
    assert [div_round_half_up(n, 2) for n in (1, 3, -1, -3, 4)] == [1, 2, -1, -2, 2]
    assert div_round_half_up(2455660, 1_000_000) == 2


@given(st.integers(0, 10**9), st.lists(st.integers(0, 10**7), min_size=1, max_size=50))
def test_allocate_sums_exactly_and_is_pro_rata_within_one(total: int, weights: list[int]) -> None:
    parts = allocate(total, weights)
    assert sum(parts) == total and all(p >= 0 for p in parts)
    w = sum(weights)
    if w:
        for p, wi in zip(parts, weights):
            assert abs(Fraction(p) - Fraction(total * wi, w)) < 1


discounts = st.one_of(
    st.none(),
    st.builds(Discount, st.just("amount"), st.integers(0, 100_000)),
    st.builds(Discount, st.just("percent"), st.integers(0, 10_000)),
)
lines = st.lists(
    st.builds(
        LineInput,
        line_id=st.integers(1, 10**6),
        unit_price_minor=st.integers(0, 1_000_000),
        qty_milli=st.integers(1, 100_000),
        tax_rate_ppm=st.sampled_from([0, 50_000, 70_000, 88_750, 190_000, 200_000, 250_000]),
        discount=discounts,
    ),
    max_size=30,
)


@given(lines, discounts, st.sampled_from(["inclusive", "exclusive"]))
def test_line_totals_always_sum_to_the_order_total(ls, cart_discount, tax_mode) -> None:
    t = price(ls, cart_discount, tax_mode)
    assert sum(p.total_minor for p in t.lines) == t.total_minor
    assert sum(p.tax_minor for p in t.lines) == t.tax_minor
    assert sum(p.discount_minor for p in t.lines) == t.discount_minor
    assert sum(p.gross_minor for p in t.lines) == t.subtotal_minor
    assert 0 <= t.discount_minor <= t.subtotal_minor
    expected = t.subtotal_minor - t.discount_minor + (t.tax_minor if tax_mode == "exclusive" else 0)
    assert t.total_minor == expected
    for ln, p in zip(ls, t.lines):
        assert p.net_minor == p.gross_minor - p.discount_minor >= 0
        # Tax is the exact rate applied to the net, rounded once per line.
        exact = (Fraction(p.net_minor * ln.tax_rate_ppm, 10**6) if tax_mode == "exclusive"
                 else Fraction(p.net_minor * ln.tax_rate_ppm, 10**6 + ln.tax_rate_ppm))
        assert abs(exact - p.tax_minor) <= Fraction(1, 2)


@given(lines, st.integers(0, 10_000))
def test_cart_percent_discount_is_the_rounded_share_of_the_discounted_subtotal(ls, bp) -> None:
    without = price(ls, None, "inclusive")
    with_cart = price(ls, Discount("percent", bp), "inclusive")
    base = without.subtotal_minor - without.discount_minor
    assert with_cart.discount_minor - without.discount_minor == div_round_half_up(base * bp, 10_000)


def test_inclusive_tax_extraction_example() -> None:
    assert line_tax_minor(1190, 190_000, "inclusive") == 190
    assert line_tax_minor(1000, 190_000, "exclusive") == 190


def test_format_minor() -> None:
    assert format_minor(484, "EUR") == "4.84 EUR"
    assert format_minor(-5, "EUR") == "-0.05 EUR"
    assert format_minor(1500, "JPY") == "1500 JPY"
    assert format_minor(1234, "KWD") == "1.234 KWD"


def test_uuid7_ids_are_unique_sorted_and_version_7() -> None:
    import uuid

    from core.ids import uuid7

    ids = [uuid7() for _ in range(20_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122

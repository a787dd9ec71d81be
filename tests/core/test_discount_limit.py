"""The cashier's discount limit applies to what the cashier keyed (core.pricing)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from core import pricing

limits = st.integers(0, pricing.BASIS_POINTS)
bases = st.integers(1, 10**9)


@given(st.integers(0, pricing.BASIS_POINTS), limits, st.integers(0, 10**9))
def test_a_percent_is_judged_as_keyed_whatever_the_price(value: int, limit: int, base: int) -> None:
    assert pricing.within_discount_limit("percent", value, base, limit) == (value <= limit)


@given(st.integers(0, 10**9), limits, bases)
def test_an_amount_is_judged_by_its_exact_share(value: int, limit: int, base: int) -> None:
    exact = Fraction(value, base) <= Fraction(limit, pricing.BASIS_POINTS)
    assert pricing.within_discount_limit("amount", value, base, limit) == exact


@given(limits, bases)
def test_the_limit_itself_is_always_allowed(limit: int, base: int) -> None:
    assert pricing.within_discount_limit("percent", limit, base, limit)
    # The largest whole amount within the limit is allowed, one minor unit more is not.
    most = limit * base // pricing.BASIS_POINTS
    assert pricing.within_discount_limit("amount", most, base, limit)
    assert not pricing.within_discount_limit("amount", most + 1, base, limit)


@given(st.integers(1, 10**9), limits, bases)
def test_a_refusal_message_never_shows_the_limit_itself(value: int, limit: int, base: int) -> None:
    if not pricing.within_discount_limit("amount", value, base, limit):
        shown = pricing.keyed_share_text("amount", value, base)
        assert float(shown.split()[0]) > limit / 100

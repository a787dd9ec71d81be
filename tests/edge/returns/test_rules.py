"""The return policy's pure rules, property-tested without a database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidInput
from edge.returns import rules
from edge.returns.settings import RestockingFee, ReturnsConfig

CFG = ReturnsConfig()


@given(sold=st.integers(1, 50_000), total=st.integers(0, 10**7),
       asks=st.lists(st.integers(-5, 20_000), max_size=30))
def test_any_sequence_of_returns_never_goes_below_zero_nor_above_what_was_paid(
        sold: int, total: int, asks: list[int]) -> None:
    taken = paid_out = 0
    for qty in asks:
        try:
            rules.take(1, sold, taken, qty)
        except (rules.OverReturn, InvalidInput):
            assert qty <= 0 or qty > rules.returnable(sold, taken)
            continue
        paid_out += rules.value_of(total, sold, taken, qty)
        taken += qty
        assert rules.returnable(sold, taken) >= 0
    assert taken <= sold and 0 <= paid_out <= total
    if taken == sold:
        assert paid_out == total  # everything back: exactly what was paid, not a cent more


@given(sold=st.integers(1, 10_000), taken=st.integers(0, 20_000))
def test_returnable_is_never_negative(sold: int, taken: int) -> None:
    assert rules.returnable(sold, taken) == max(0, sold - taken)


@given(paid=st.integers(0, 10**7), bp=st.integers(0, 10_000), amount=st.integers(0, 10**5),
       cap=st.none() | st.integers(0, 10**5), reason=st.sampled_from(CFG.reasons))
def test_a_fee_is_never_negative_nor_above_what_was_paid_nor_its_cap(
        paid, bp, amount, cap, reason) -> None:
    if not bp and not amount:
        return
    rule = RestockingFee(category="x", percent_bp=bp, amount_minor=amount, cap_minor=cap)
    fee = rules.restocking_fee(paid, rule, reason, CFG)
    assert 0 <= fee <= paid and (cap is None or fee <= cap)
    if reason in CFG.fee_free_reasons:
        assert fee == 0


def test_a_sku_rule_wins_over_its_category() -> None:
    by_cat = RestockingFee(category="shoes", percent_bp=1000)
    by_sku = RestockingFee(sku="BOOT-1", amount_minor=200)
    assert rules.rule_for([by_cat, by_sku], "BOOT-1", "shoes") is by_sku
    assert rules.rule_for([by_cat, by_sku], "SANDAL-1", "shoes") is by_cat
    assert rules.rule_for([by_cat, by_sku], "HAT-1", None) is None


@given(history=st.lists(st.tuples(st.integers(0, 100), st.integers(1, 1000)), min_size=1,
                        max_size=8), since=st.integers(0, 100), span=st.integers(0, 100))
def test_the_lowest_price_is_one_in_force_in_the_window(history, since, span) -> None:
    now = since + span
    low = rules.lowest_price(history, since, now)
    in_window = [a for at, a in history if since < at <= now]
    before = [p for p in history if p[0] <= since]
    if before:
        in_window.append(max(before)[1])
    assert low == (min(in_window) if in_window else None)


def test_velocity_limits_count_and_amount() -> None:
    v = rules.Velocity(count=2, amount_minor=5_000)
    assert not rules.velocity_exceeded(v, 5_000, CFG)  # 3rd return, exactly 100.00
    assert rules.velocity_exceeded(v, 5_001, CFG)
    assert rules.velocity_exceeded(rules.Velocity(3, 0), 1, CFG)


def test_config_is_validated_at_load() -> None:
    with pytest.raises(ValueError):
        ReturnsConfig(fee_free_reasons=("no_such_reason",))
    with pytest.raises(ValueError):
        RestockingFee(category="a", sku="b", percent_bp=1)
    with pytest.raises(ValueError):
        RestockingFee(category="a")


STORED = "4999********1234"


@pytest.mark.parametrize(("pan", "code", "same"), [
    ("****1234", None, True), (STORED, None, True), ("4999****1234", "A1B2C3", True),
    ("499*****1234", "a1b2c3", True), ("****1234", "ZZZ", False), ("****4321", None, False),
    ("5100********1234", None, False), ("4998****1234", None, False), ("12*4", None, False),
    ("4999000000001234", None, False)])
def test_a_presented_card_is_the_stored_one_only_where_every_shown_digit_agrees(
        pan: str, code: str | None, same: bool) -> None:
    assert rules.same_card(pan, code, STORED, "A1B2C3") is same


@given(digits=st.text("0123456789", min_size=4, max_size=4),
       other=st.text("0123456789", min_size=4, max_size=4))
def test_last_four_decide_between_two_cards(digits: str, other: str) -> None:
    assert rules.same_card("****" + digits, None, "4999****" + other, None) is (digits == other)


def test_card_refund_refuses_another_card_or_no_reference_and_lets_a_manager_decide() -> None:
    paid = [(1, STORED, "A1B2C3", True)]
    assert rules.card_refund("****1234", None, paid, "refuse") is True
    with pytest.raises(rules.CardNotOriginal, match=r"did not pay.*4999\*{8}1234"):
        rules.card_refund("****9876", None, paid, "refuse")
    assert rules.card_refund("****9876", None, paid, "manager") is False  # flagged, a manager's
    with pytest.raises(rules.CardNotOriginal, match="no card paid"):
        rules.card_refund("****1234", None, [], "manager")
    with pytest.raises(rules.CardNotOriginal, match="no terminal reference"):
        rules.card_refund("****1234", None, [(2, None, None, False)], "manager")

"""Every rule kind on hand-computed baskets: what each promotion gives, line by line.

Each case: the rules, the cart, and the expected {rule_id: {line_id: discount}} worked out by
hand in the comment beside it. Prices in minor units (cents)."""

from __future__ import annotations

from datetime import datetime

import pytest

from core import promotions as p
from schemas import promotions as sp
from tests.core.promotions.support import NOW, active, ctx, line, rule

PCT = sp.PercentOff
AMT = sp.AmountOff
END = "2026-03-11T00:00"


def case(name, rules, lines, expected, *, context=None, store="s1", region=None, max_per_cart=10,
         categories=None):
    return pytest.param(rules, lines, expected, context or ctx(), store, region,
                        (max_per_cart, categories or {}), id=name)


CASES = [
    # --- percent off -------------------------------------------------------------------
    case("pct-item-rounds-up", [rule("r", PCT(1000), skus=("A",))],
         [line(1, "A", 199)], {"r": {1: 20}}),  # 19.9 -> 20
    case("pct-item-once-per-line", [rule("r", PCT(1000), skus=("A",))],
         [line(1, "A", 199, 3)], {"r": {1: 60}}),  # 59.7 -> 60, not 3 x 20
    case("pct-category", [rule("r", PCT(2500), cats=("dairy",))],
         [line(1, "MILK", 100, 2, "dairy"), line(2, "BREAD", 200, 1, "bakery")],
         {"r": {1: 50}}),
    case("pct-weighed-item", [rule("r", PCT(1000), skus=("APPLE",))],
         [line(1, "APPLE", 1000, weight_milli=1500)], {"r": {1: 150}}),  # 1.5 kg at 10.00
    case("pct-cart-allocated", [rule("r", PCT(1000, "cart"))],
         [line(1, "A", 333), line(2, "B", 667)], {"r": {1: 33, 2: 67}}),  # 33.3 / 66.7
    case("pct-cart-category-only", [rule("r", PCT(1000, "cart"), cats=("dairy",))],
         [line(1, "MILK", 500, 1, "dairy"), line(2, "BREAD", 500)], {"r": {1: 50}}),
    case("pct-100-is-free", [rule("r", PCT(10000), skus=("A",))],
         [line(1, "A", 250, 2)], {"r": {1: 500}}),
    case("segment-mismatch", [rule("r", PCT(5000, "cart"), segments=("gold",))],
         [line(1, "A", 1000)], {}, context=ctx(segment="silver")),
    case("segment-match", [rule("r", PCT(5000, "cart"), segments=("gold",))],
         [line(1, "A", 1000)], {"r": {1: 500}}, context=ctx(segment="gold")),
    # --- amount off --------------------------------------------------------------------
    case("amount-item-capped-at-price", [rule("r", AMT(50), skus=("A",))],
         [line(1, "A", 30, 2)], {"r": {1: 60}}),
    case("amount-item-per-unit", [rule("r", AMT(100), skus=("A",))],
         [line(1, "A", 500, 3)], {"r": {1: 300}}),
    case("amount-cart-capped", [rule("r", AMT(500, "cart"))],
         [line(1, "A", 300)], {"r": {1: 300}}),
    case("amount-cart-pro-rata", [rule("r", AMT(100, "cart"))],
         [line(1, "A", 100), line(2, "B", 300)], {"r": {1: 25, 2: 75}}),
    case("amount-category", [rule("r", AMT(20), cats=("snacks",))],
         [line(1, "CHIPS", 150, 2, "snacks"), line(2, "SODA", 120, 1, "drinks")],
         {"r": {1: 40}}),
    # --- fixed price -------------------------------------------------------------------
    case("fixed-price", [rule("r", sp.FixedPrice(99), skus=("A",))],
         [line(1, "A", 150, 2)], {"r": {1: 102}}),  # 2 x (150 - 99)
    case("fixed-price-never-raises", [rule("r", sp.FixedPrice(200), skus=("A",))],
         [line(1, "A", 150)], {}),
    # --- buy x get y -------------------------------------------------------------------
    case("3-for-2", [rule("r", sp.BuyXGetY(2, 1), skus=("A",))],
         [line(1, "A", 100, 3)], {"r": {1: 100}}),
    case("3-for-2-five-units", [rule("r", sp.BuyXGetY(2, 1), skus=("A",))],
         [line(1, "A", 100, 5)], {"r": {1: 100}}),
    case("3-for-2-six-units", [rule("r", sp.BuyXGetY(2, 1), skus=("A",))],
         [line(1, "A", 100, 6)], {"r": {1: 200}}),
    case("3-for-2-cheapest-free", [rule("r", sp.BuyXGetY(2, 1), cats=("toys",))],
         [line(1, "T1", 300, 1, "toys"), line(2, "T2", 200, 1, "toys"),
          line(3, "T3", 100, 1, "toys")], {"r": {3: 100}}),
    case("3-for-2-dearest-free", [rule("r", sp.BuyXGetY(2, 1, reward="dearest"), cats=("toys",))],
         [line(1, "T1", 300, 1, "toys"), line(2, "T2", 200, 1, "toys"),
          line(3, "T3", 100, 1, "toys")], {"r": {1: 300}}),
    case("3-for-2-two-groups-cheapest", [rule("r", sp.BuyXGetY(2, 1), cats=("toys",))],
         [line(i, f"T{i}", 100 * i, 1, "toys") for i in range(1, 7)],
         {"r": {4: 400, 1: 100}}),  # [600 500 400] [300 200 100]: 400 and 100 free
    case("bogo-half-price", [rule("r", sp.BuyXGetY(1, 1, percent_bp=5000), skus=("A",))],
         [line(1, "A", 200, 2)], {"r": {1: 100}}),
    case("buy-a-get-b-free",
         [rule("r", sp.BuyXGetY(1, 1, get=sp.Target(skus=("B",))), skus=("A",))],
         [line(1, "A", 500), line(2, "B", 150, 2)], {"r": {2: 150}}),
    case("buy-a-get-b-without-b",
         [rule("r", sp.BuyXGetY(1, 1, get=sp.Target(skus=("B",))), skus=("A",))],
         [line(1, "A", 500, 2)], {}),
    case("bxgy-max-applications", [rule("r", sp.BuyXGetY(2, 1, max_applications=1), skus=("A",))],
         [line(1, "A", 100, 6)], {"r": {1: 100}}),
    case("bxgy-not-enough", [rule("r", sp.BuyXGetY(2, 1), skus=("A",))],
         [line(1, "A", 100, 2)], {}),
    case("bxgy-ignores-weighed", [rule("r", sp.BuyXGetY(1, 1), skus=("A",))],
         [line(1, "A", 100, weight_milli=2000)], {}),
    # --- mix and match -----------------------------------------------------------------
    case("mix-3-for-500", [rule("r", sp.MixMatch(3, 500), skus=("A", "B", "C"))],
         [line(1, "A", 200), line(2, "B", 200), line(3, "C", 250)],
         {"r": {3: 58, 1: 46, 2: 46}}),  # 150 over 250/200/200, the odd cent to the largest
    case("mix-dearest-grouped", [rule("r", sp.MixMatch(3, 450), skus=("A", "B", "C", "D"))],
         [line(1, "A", 300), line(2, "B", 200), line(3, "C", 100), line(4, "D", 50)],
         {"r": {1: 75, 2: 50, 3: 25}}),  # D pays in full
    case("mix-no-saving", [rule("r", sp.MixMatch(3, 400), skus=("A",))],
         [line(1, "A", 100, 3)], {}),
    case("mix-two-groups", [rule("r", sp.MixMatch(2, 150), skus=("A",))],
         [line(1, "A", 100, 4)], {"r": {1: 100}}),
    # --- multi-buy tiers ---------------------------------------------------------------
    case("tier-low", [rule("r", sp.MultiBuy((sp.Tier(2, 1000), sp.Tier(4, 2000))), skus=("A",))],
         [line(1, "A", 100, 3)], {"r": {1: 30}}),
    case("tier-high", [rule("r", sp.MultiBuy((sp.Tier(2, 1000), sp.Tier(4, 2000))), skus=("A",))],
         [line(1, "A", 100, 4)], {"r": {1: 80}}),
    case("tier-none", [rule("r", sp.MultiBuy((sp.Tier(2, 1000),)), skus=("A",))],
         [line(1, "A", 100, 1)], {}),
    case("tier-unit-price", [rule("r", sp.MultiBuy((sp.Tier(3, unit_price_minor=80),)),
                                  skus=("A",))],
         [line(1, "A", 100, 3)], {"r": {1: 60}}),
    # --- spend thresholds --------------------------------------------------------------
    case("spend-below", [rule("r", sp.SpendThreshold(5000, 500))],
         [line(1, "A", 4999)], {}),
    case("spend-reached", [rule("r", sp.SpendThreshold(5000, 500))],
         [line(1, "A", 2500), line(2, "B", 2500)], {"r": {1: 250, 2: 250}}),
    case("spend-free-item", [rule("r", sp.SpendThreshold(2000, free_sku="G"))],
         [line(1, "A", 2000), line(2, "G", 300)], {"r": {2: 300}}),
    case("spend-free-item-gift-not-counted", [rule("r", sp.SpendThreshold(2000, free_sku="G"))],
         [line(1, "A", 1900), line(2, "G", 300)], {}),
    case("spend-category-only", [rule("r", sp.SpendThreshold(1000, 100), cats=("dairy",))],
         [line(1, "MILK", 600, 1, "dairy"), line(2, "BREAD", 900)], {}),
    # --- coupons -----------------------------------------------------------------------
    case("coupon-missing", [rule("r", PCT(1000, "cart"), coupon=sp.Coupon("SAVE10"))],
         [line(1, "A", 1000)], {}),
    case("coupon-entered", [rule("r", PCT(1000, "cart"), coupon=sp.Coupon("SAVE10"))],
         [line(1, "A", 1000)], {"r": {1: 100}}, context=ctx(coupons=(" save10",))),
    # --- windows (store-local) ---------------------------------------------------------
    case("window-before-midnight", [rule("r", PCT(1000), skus=("A",), ends_local=END)],
         [line(1, "A", 1000)], {"r": {1: 100}}, context=ctx(datetime(2026, 3, 10, 23, 59, 59))),
    case("window-at-midnight", [rule("r", PCT(1000), skus=("A",), ends_local=END)],
         [line(1, "A", 1000)], {}, context=ctx(datetime(2026, 3, 11, 0, 0))),
    case("window-held-by-lock", [rule("r", PCT(1000), skus=("A",), ends_local=END)],
         [line(1, "A", 1000, held=datetime(2026, 3, 10, 23, 58)), line(2, "A", 1000)],
         {"r": {1: 100}}, context=ctx(datetime(2026, 3, 11, 0, 1))),
    case("window-not-started", [rule("r", PCT(1000), skus=("A",),
                                     starts_local="2026-03-11T00:00")],
         [line(1, "A", 1000)], {}),
    # --- scope -------------------------------------------------------------------------
    case("other-store", [rule("r", PCT(1000), skus=("A",), stores=("s2",))],
         [line(1, "A", 1000)], {}),
    case("lock-does-not-delay-a-new-promotion",
         [rule("r", PCT(1000), skus=("A",), starts_local="2026-03-10T12:00")],
         [line(1, "A", 1000, held=datetime(2026, 3, 10, 11, 0))], {"r": {1: 100}}),
    case("bundle-category", [rule("r", PCT(1000), cats=("fruit",))],
         [line(1, "APPLE", 1000), line(2, "BREAD", 1000)], {"r": {1: 100}},
         categories={"fruit": ("APPLE", "PEAR")}),
    case("region", [rule("r", PCT(1000), skus=("A",), regions=("north",))],
         [line(1, "A", 1000)], {"r": {1: 100}}, region="north"),
    # --- stacking ----------------------------------------------------------------------
    case("group-best-one", [rule("a", PCT(1000), skus=("A",), group="g"),
                            rule("b", PCT(2000), skus=("A",), group="g")],
         [line(1, "A", 1000)], {"b": {1: 200}}),
    case("stackable-beats-exclusive",
         [rule("x", PCT(1500), skus=("A",), exclusive=True),
          rule("i", PCT(1000), skus=("A",), priority=2), rule("c", PCT(1000, "cart"))],
         [line(1, "A", 1000)], {"i": {1: 100}, "c": {1: 90}}),  # 100 + 10 % of 900 > 150
    case("exclusive-wins-alone",
         [rule("x", PCT(3000), skus=("A",), exclusive=True),
          rule("i", PCT(1000), skus=("A",), priority=2), rule("c", PCT(1000, "cart"))],
         [line(1, "A", 1000)], {"x": {1: 300}}),
    case("after-other-discounts", [rule("i", AMT(100), skus=("A",), priority=2),
                                   rule("c", PCT(1000, "cart"), priority=1)],
         [line(1, "A", 1000)], {"i": {1: 100}, "c": {1: 90}}),
    case("before-other-discounts", [rule("i", AMT(100), skus=("A",), priority=2),
                                    rule("c", PCT(1000, "cart"), priority=1, base="original")],
         [line(1, "A", 1000)], {"i": {1: 100}, "c": {1: 100}}),
    case("max-per-cart", [rule("a", AMT(100), skus=("A",)), rule("b", AMT(50), skus=("B",))],
         [line(1, "A", 1000), line(2, "B", 1000)], {"a": {1: 100}}, max_per_cart=1),
    case("unit-claimed-once", [rule("bx", sp.BuyXGetY(2, 1), skus=("A",), priority=1),
                               rule("fp", sp.FixedPrice(60), skus=("A",))],
         [line(1, "A", 100, 3)], {"fp": {1: 120}}),  # fixed 3 x 40 beats one free (100)
    case("qty-rule-then-cart-pct", [rule("bx", sp.BuyXGetY(2, 1), skus=("A",), priority=1),
                                    rule("c", PCT(1000, "cart"))],
         [line(1, "A", 100, 3)], {"bx": {1: 100}, "c": {1: 20}}),  # 10 % of the 200 left
]


@pytest.mark.parametrize(("rules", "lines", "expected", "context", "store", "region", "cap"),
                         CASES)
def test_table(rules, lines, expected, context, store, region, cap):
    rules_active = active(*rules, store=store, region=region, max_per_cart=cap[0],
                          categories=cap[1])
    result = p.evaluate(lines, rules_active, context)
    got = {a.rule_id: {al.line_id: al.discount_minor for al in a.lines} for a in result.applied}
    assert got == expected
    assert result.discount_minor == sum(sum(v.values()) for v in expected.values())
    # The index changes how fast, never what: the naive evaluator gives the same answer.
    assert p.evaluate_naive(lines, rules_active, context) == result


def test_there_are_enough_cases():
    assert len(CASES) >= 40


def test_no_bundle_gives_nothing():
    assert p.evaluate([line(1, "A", 100)], None, ctx()).discount_minor == 0


def test_invalid_rules_are_refused():
    with pytest.raises(ValueError, match="percent_bp"):
        active(rule("r", PCT(10001)))
    with pytest.raises(ValueError, match="ends_local"):
        active(rule("r", PCT(100), starts_local="2026-01-02T00:00", ends_local="2026-01-01T00:00"))
    with pytest.raises(ValueError, match="twice"):
        active(rule("r", PCT(100)), rule("r", PCT(200)))
    with pytest.raises(ValueError, match="offset"):
        active(rule("r", PCT(100), ends_local="2026-01-01T00:00+01:00"))

"""Invariants of the evaluator over random carts and random bundles (hypothesis)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from core import promotions as p
from schemas import promotions as sp
from tests.core.promotions.support import active, ctx

SKUS = ("A", "B", "C", "D", "E")
CATS = ("c1", "c2", "c3")

targets = st.builds(
    sp.Target,
    skus=st.lists(st.sampled_from(SKUS), max_size=3, unique=True).map(tuple),
    categories=st.lists(st.sampled_from(CATS), max_size=2, unique=True).map(tuple),
)
bp = st.integers(0, 10_000)
money = st.integers(0, 3_000)
effects = st.one_of(
    st.builds(sp.PercentOff, bp, st.sampled_from(["item", "cart"])),
    st.builds(sp.AmountOff, money, st.sampled_from(["item", "cart"])),
    st.builds(sp.FixedPrice, money),
    st.builds(sp.BuyXGetY, st.integers(1, 3), st.integers(1, 2), bp,
              st.sampled_from(["cheapest", "dearest"]),
              st.none() | targets.filter(lambda t: not t.is_cart),
              st.none() | st.integers(1, 3)),
    st.builds(sp.MixMatch, st.integers(2, 4), money, st.none() | st.integers(1, 2)),
    st.builds(sp.MultiBuy, st.lists(
        st.one_of(st.builds(sp.Tier, st.integers(1, 5), bp),
                  st.builds(sp.Tier, st.integers(1, 5), st.none(), money)),
        min_size=1, max_size=3).map(tuple)),
    st.one_of(st.builds(sp.SpendThreshold, money, st.integers(1, 3_000)),
              st.builds(sp.SpendThreshold, money, st.just(0), st.sampled_from(SKUS))),
)


@st.composite
def bundles(draw, sizes=st.integers(1, 7)):
    n = draw(sizes)
    rules = []
    for i in range(n):
        rules.append(sp.Rule(
            rule_id=f"r{i}", name=f"rule {i}", effect=draw(effects), target=draw(targets),
            priority=draw(st.integers(0, 2)),
            group=draw(st.none() | st.sampled_from(["g1", "g2"])),
            exclusive=draw(st.booleans().map(lambda b: b and draw(st.integers(0, 3)) == 0)),
            base=draw(st.sampled_from(["discounted", "original"])),
        ))
    return rules, draw(st.integers(1, 5))


@st.composite
def carts(draw):
    n = draw(st.integers(1, 8))
    out = []
    for line_id in draw(st.lists(st.integers(1, 50), min_size=n, max_size=n, unique=True)):
        sku = draw(st.sampled_from(SKUS))
        cats = tuple(draw(st.lists(st.sampled_from(CATS), max_size=2, unique=True)))
        price = draw(st.integers(0, 2_000))
        if draw(st.integers(0, 5)) == 0:
            out.append(p.CartLine(line_id, sku, price, draw(st.integers(1, 3_000)), "weight", cats))
        else:
            out.append(p.CartLine(line_id, sku, price, draw(st.integers(1, 5)) * 1000, "each",
                                  cats))
    return out


@settings(max_examples=300, deadline=None)
@given(bundles(), carts(), st.randoms(use_true_random=False))
def test_invariants(bundle, lines, rnd):
    check_invariants(bundle, lines, rnd)


@settings(max_examples=100, deadline=None)
@given(bundles(st.integers(9, 14)), carts(), st.randoms(use_true_random=False))
def test_invariants_when_too_many_sets_to_try_them_all(bundle, lines, rnd):
    """Beyond EXACT_LIMIT allowed sets the choice is greedy; the guarantees are the same."""
    check_invariants(bundle, lines, rnd)


def check_invariants(bundle, lines, rnd):
    rules, cap = bundle
    rules_active = active(*rules, max_per_cart=cap)
    result = p.evaluate(lines, rules_active, ctx())

    # Allocations add up: per promotion, per line, and in total.
    for a in result.applied:
        assert a.discount_minor > 0
        assert sum(al.discount_minor for al in a.lines) == a.discount_minor
    per_line = Counter()
    for a in result.applied:
        for al in a.lines:
            per_line[al.line_id] += al.discount_minor
    assert dict(per_line) == result.line_discount
    assert sum(a.discount_minor for a in result.applied) == result.discount_minor

    # No line below zero, none above its price.
    gross = {ln.line_id: ln.gross_minor for ln in lines}
    assert all(0 < d <= gross[k] for k, d in result.line_discount.items())

    # Stacking: one rule per group, an exclusive rule alone, no more than the cap.
    by_id = {r.rule_id: r for r in rules}
    groups = Counter(by_id[a.rule_id].group for a in result.applied
                     if by_id[a.rule_id].group is not None)
    assert all(n == 1 for n in groups.values())
    if any(by_id[a.rule_id].exclusive for a in result.applied):
        assert len(result.applied) == 1
    assert len(result.applied) <= cap

    # Stable: the same again, in any line order, with or without the index.
    assert p.evaluate(lines, rules_active, ctx()) == result
    shuffled = lines[:]
    rnd.shuffle(shuffled)
    assert p.evaluate(shuffled, rules_active, ctx()) == result
    assert p.evaluate_naive(shuffled, rules_active, ctx()) == result


@settings(max_examples=150, deadline=None)
@given(bundles(), carts())
def test_best_single_promotion_is_a_floor(bundle, lines):
    """The chosen result saves at least as much as any one applicable rule alone."""
    rules, cap = bundle
    result = p.evaluate(lines, active(*rules, max_per_cart=cap), ctx())
    for r in rules:
        alone = p.evaluate(lines, active(r), ctx())
        assert result.discount_minor >= alone.discount_minor


cart_effects = st.one_of(
    st.builds(sp.PercentOff, bp, st.sampled_from(["cart", "item"])),
    st.builds(sp.AmountOff, money, st.sampled_from(["cart", "item"])),
    st.builds(sp.SpendThreshold, money, st.integers(1, 3_000)),
)
# Quantity rules: their total alone, without marking claims, is the evaluator's shortcut too.
claiming_effects = st.one_of(
    st.builds(sp.FixedPrice, money),
    st.builds(sp.MixMatch, st.integers(2, 4), money, st.none() | st.integers(1, 2)),
    st.builds(sp.MultiBuy, st.lists(
        st.one_of(st.builds(sp.Tier, st.integers(1, 5), bp),
                  st.builds(sp.Tier, st.integers(1, 5), st.none(), money)),
        min_size=1, max_size=3).map(tuple)),
    st.builds(sp.BuyXGetY, st.integers(1, 3), st.integers(1, 2), bp,
              st.sampled_from(["cheapest", "dearest"]),
              st.none() | st.just(sp.Target(skus=("A",))), st.none() | st.integers(1, 3)),
    st.builds(sp.SpendThreshold, money, st.just(0), st.just("A")),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2_000), st.integers(0, 2_000), st.booleans(),
                          st.booleans(), st.booleans()), min_size=1, max_size=12),
       st.one_of(cart_effects, claiming_effects), st.booleans(), st.integers(1, 4))
def test_the_quick_total_of_a_rule_is_what_it_allocates(units_drawn, effect, original, per_line):
    """`effects.cart_total` (the evaluator's shortcut for what a rule gives alone) equals the
    sum of the allocation the rule's own function makes, whatever earlier rules left and
    claimed; units of one line share its rounding; it marks no claims itself."""
    from core.promotions import effects as fx
    n = len(units_drawn)
    units = fx.Units([k // per_line for k in range(n)], [p for p, *_ in units_drawn],
                     [min(p, left) for p, left, *_ in units_drawn],
                     [countable for _, _, countable, _, _ in units_drawn],
                     [claimed for _, _, _, claimed, _ in units_drawn])
    idx = list(range(n))
    rewards = isinstance(effect, sp.BuyXGetY) and effect.get is not None or \
        isinstance(effect, sp.SpendThreshold) and effect.free_sku is not None
    get_idx = [k for k, (*_, reward) in enumerate(units_drawn) if reward] if rewards else None
    claimed_before = units.claimed[:]
    quick = fx.cart_total(units, idx, effect, original, get_idx)
    assert units.claimed == claimed_before
    if isinstance(effect, sp.PercentOff):
        off = fx.percent_off(units, idx, effect, original)
    elif isinstance(effect, sp.AmountOff):
        off = fx.amount_off(units, idx, effect)
    elif isinstance(effect, sp.FixedPrice):
        off = fx.fixed_price(units, idx, effect)
    elif isinstance(effect, sp.MixMatch):
        off = fx.mix_match(units, idx, effect)
    elif isinstance(effect, sp.MultiBuy):
        off = fx.multi_buy(units, idx, effect, original)
    elif isinstance(effect, sp.BuyXGetY):
        off = fx.buy_x_get_y(units, idx, get_idx, effect, original)
    else:
        off = fx.spend_threshold(units, idx, get_idx or [], effect, original)
    assert quick == sum(off.values())


@settings(max_examples=200, deadline=None)
@given(bundles(st.integers(2, 12)), carts())
def test_dropping_a_rule_reruns_only_what_it_changes(bundle, lines):
    """The greedy choice tries dropping each chosen rule by re-running only the later rules
    whose units the drop changed; that total is the one a full re-run without it gives."""
    from core.promotions import engine as en
    rules, _ = bundle
    rules_active = active(*rules)
    ordered = en._canonical(lines, rules_active)
    base, spans = en._units(ordered)
    every_unit = list(range(len(base.line)))
    cands = en._candidates([en._matched(cr, ordered, spans, every_unit)
                            for cr in rules_active.rules], ordered, base, ctx())
    states = en._trace(en._State(base, 0, [], {}), cands)
    assert (states[-1].total, states[-1].gave) == en._run(base, cands)
    for k in range(len(cands)):
        without = cands[:k] + cands[k + 1:]
        assert en._total_without(states, cands, k) == en._run(base, without)[0]

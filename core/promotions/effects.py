"""What one rule gives on one cart state: a discount per unit. Pure; one function per kind.

The cart is a list of units (an each-item line of qty 3 is three units; a weighed line is one
unit that quantity rules do not count). `Units` holds each unit's original price and what is
still left to pay after the rules applied so far, and which units a quantity rule (fixed price,
buy X get Y, mix and match, multi-buy, a free item) has already claimed: a unit is claimed at
most once, so "3 for 2" and "any 5 for 10" never share a unit. Percent and amount rules do not
claim; they stack on what is left.

Invariant (asserted by the caller): a unit's discount is never more than what is left to pay
on it, so no unit goes below zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.money import allocate, div_round_half_up
from schemas import promotions as sp

BP = sp.BP


@dataclass(slots=True)
class Units:
    line: list[int]          # line_id of each unit
    price: list[int]         # original price of each unit
    left: list[int]          # left to pay
    countable: list[bool]    # an each-item unit (quantity rules count it)
    claimed: list[bool]

    def copy(self) -> Units:
        return Units(self.line, self.price, self.left[:], self.countable, self.claimed[:])


Off = dict[int, int]  # unit index -> discount


def _base(units: Units, i: int, original: bool) -> int:
    return units.price[i] if original else units.left[i]


def _base_sum(units: Units, idx: list[int], original: bool) -> int:
    values = units.price if original else units.left
    return sum(map(values.__getitem__, idx))


def _pct(amount: int, bp: int) -> int:
    if amount < 0:
        return div_round_half_up(amount * bp, BP)
    quotient, remainder = divmod(amount * bp, BP)  # `div_round_half_up`, inlined: it is hot
    return quotient + 1 if remainder * 2 >= BP else quotient


def _spread(units: Units, idx: list[int], total: int, off: Off) -> None:
    """`total` over `idx` pro rata to what is left on each (never more than that)."""
    left = units.left
    weights = [left[i] for i in idx]
    total = min(total, sum(weights))
    if total <= 0:
        return
    if len(idx) == 1:
        off[idx[0]] = off.get(idx[0], 0) + total
        return
    for i, part in zip(idx, allocate(total, weights)):
        if part:
            off[i] = off.get(i, 0) + part


def percent_off(units: Units, idx: list[int], e: sp.PercentOff, original: bool) -> Off:
    off: Off = {}
    if e.scope == "cart":
        _spread(units, idx, _pct(_base_sum(units, idx, original), e.percent_bp), off)
        return off
    by_line: dict[int, list[int]] = {}
    line = units.line
    for i in idx:
        by_line.setdefault(line[i], []).append(i)
    for group in by_line.values():  # rounded once per line, like every other line amount
        _spread(units, group, _pct(_base_sum(units, group, original), e.percent_bp), off)
    return off


def amount_off(units: Units, idx: list[int], e: sp.AmountOff) -> Off:
    off: Off = {}
    if e.scope == "cart":
        _spread(units, idx, e.amount_minor, off)
        return off
    for i in idx:
        d = min(e.amount_minor, units.left[i])
        if d:
            off[i] = d
    return off


def fixed_price(units: Units, idx: list[int], e: sp.FixedPrice) -> Off:
    off: Off = {}
    for i in idx:
        if not units.claimed[i] and units.left[i] > e.price_minor:
            off[i] = units.left[i] - e.price_minor
            units.claimed[i] = True
    return off


def _free(units: Units, idx: list[int]) -> list[int]:
    countable, claimed, left = units.countable, units.claimed, units.left
    return [i for i in idx if countable[i] and not claimed[i] and left[i] > 0]


def _dearest_first(units: Units, idx: list[int]) -> list[int]:
    price, line = units.price, units.line
    return sorted(idx, key=lambda i: (-price[i], line[i], i))


def _reward(units: Units, rewarded: list[int], paid: list[int], bp: int, original: bool,
            off: Off) -> None:
    for i in rewarded:
        d = min(_pct(_base(units, i, original), bp), units.left[i])
        if d:
            off[i] = d
    for i in (*rewarded, *paid):
        units.claimed[i] = True


def _bxgy_plan(units: Units, idx: list[int], get_idx: list[int] | None, e: sp.BuyXGetY
               ) -> tuple[list[int], list[int]]:
    """The units buy X get Y rewards, and the units paid for them (both empty: none)."""
    limit = e.max_applications if e.max_applications is not None else 1 << 30
    if get_idx is None:  # the same set: groups of X + Y, dearest first
        pool = _dearest_first(units, _free(units, idx))
        size = e.buy_qty + e.get_qty
        groups = min(len(pool) // size, limit)
        if groups == 0:
            return [], []
        used = pool[: groups * size]
        if e.reward == "cheapest":
            # Each group's last Y units: never dearer than the X paid for in that group.
            rewarded = [u for g in range(groups) for u in
                        used[g * size + e.buy_qty:(g + 1) * size]]
        else:
            rewarded = used[: groups * e.get_qty]
        chosen = set(rewarded)
        return rewarded, [u for u in used if u not in chosen]
    buy_pool = _free(units, idx)
    get_pool = _dearest_first(units, _free(units, get_idx))
    if e.reward == "cheapest":
        get_pool.reverse()
    groups = min(len(buy_pool) // e.buy_qty, len(get_pool) // e.get_qty, limit)
    while groups > 0:
        rewarded = get_pool[: groups * e.get_qty]
        chosen = set(rewarded)
        # Pay with the cheapest qualifying units: the dearer ones stay free for other rules.
        payers = [u for u in reversed(_dearest_first(units, buy_pool)) if u not in chosen]
        if len(payers) >= groups * e.buy_qty:
            return rewarded, payers[: groups * e.buy_qty]
        groups -= 1
    return [], []


def buy_x_get_y(units: Units, idx: list[int], get_idx: list[int] | None,
                e: sp.BuyXGetY, original: bool) -> Off:
    off: Off = {}
    rewarded, paid = _bxgy_plan(units, idx, get_idx, e)
    _reward(units, rewarded, paid, e.percent_bp, original, off)
    return off


def _bxgy_total(units: Units, idx: list[int], get_idx: list[int] | None,
                e: sp.BuyXGetY, original: bool) -> int:
    rewarded, _ = _bxgy_plan(units, idx, get_idx, e)
    base, left, bp = units.price if original else units.left, units.left, e.percent_bp
    return sum([min(_pct(base[i], bp), left[i]) for i in rewarded])


def mix_match(units: Units, idx: list[int], e: sp.MixMatch) -> Off:
    off: Off = {}
    left, line = units.left, units.line
    pool = sorted(_free(units, idx), key=lambda i: (-left[i], line[i], i))
    groups = min(len(pool) // e.qty, e.max_applications if e.max_applications is not None
                 else 1 << 30)
    for g in range(groups):
        chunk = pool[g * e.qty:(g + 1) * e.qty]
        saving = sum(units.left[i] for i in chunk) - e.price_minor
        if saving <= 0:
            break  # later chunks are cheaper still
        _spread(units, chunk, saving, off)
        for i in chunk:
            units.claimed[i] = True
    return off


def _tier(e: sp.MultiBuy, qty: int) -> sp.Tier | None:
    """The highest tier `qty` units reach (of equal ones, the first listed)."""
    tier = None
    for t in e.tiers:
        if t.min_qty <= qty and (tier is None or t.min_qty > tier.min_qty):
            tier = t
    return tier


def multi_buy(units: Units, idx: list[int], e: sp.MultiBuy, original: bool) -> Off:
    off: Off = {}
    pool = _free(units, idx)
    tier = _tier(e, len(pool))
    if tier is None:
        return off
    for i in pool:
        if tier.percent_bp is not None:
            d = min(_pct(_base(units, i, original), tier.percent_bp), units.left[i])
        else:
            d = max(0, units.left[i] - (tier.unit_price_minor or 0))
        if d:
            off[i] = d
        units.claimed[i] = True
    return off


def _threshold_total(units: Units, idx: list[int], get_idx: list[int] | None,
                     e: sp.SpendThreshold, original: bool) -> int:
    if _base_sum(units, idx, original) < e.threshold_minor:
        return 0
    return max(0, min(e.amount_off_minor, _base_sum(units, idx, False)))


def _amount_cart_total(units: Units, idx: list[int], get_idx: list[int] | None,
                       e: sp.AmountOff, original: bool) -> int:
    return max(0, min(e.amount_minor, _base_sum(units, idx, False)))


def _percent_cart_total(units: Units, idx: list[int], get_idx: list[int] | None,
                        e: sp.PercentOff, original: bool) -> int:
    return max(0, min(_pct(_base_sum(units, idx, original), e.percent_bp),
                      _base_sum(units, idx, False)))


def _amount_item_total(units: Units, idx: list[int], get_idx: list[int] | None,
                       e: sp.AmountOff, original: bool) -> int:
    # Off every unit, never more than is left on it.
    amount, left = e.amount_minor, units.left
    return sum([lft if lft < amount else amount for lft in map(left.__getitem__, idx)])


def _percent_item_total(units: Units, idx: list[int], get_idx: list[int] | None,
                        e: sp.PercentOff, original: bool) -> int:
    # Rounded once per line, as `percent_off` spreads it.
    base = units.price if original else units.left
    left, line = units.left, units.line
    per_line: dict[int, list[int]] = {}
    for i in idx:
        acc = per_line.get(line[i])
        if acc is None:
            per_line[line[i]] = [base[i], left[i]]
        else:
            acc[0] += base[i]
            acc[1] += left[i]
    bp = e.percent_bp
    return sum([max(0, min(_pct(b, bp), lft)) for b, lft in per_line.values()])


def _fixed_total(units: Units, idx: list[int], get_idx: list[int] | None,
                 e: sp.FixedPrice, original: bool) -> int:
    claimed, left, price = units.claimed, units.left, e.price_minor
    return sum([left[i] - price for i in idx if not claimed[i] and left[i] > price])


def _mix_match_total(units: Units, idx: list[int], get_idx: list[int] | None,
                     e: sp.MixMatch, original: bool) -> int:
    # The chunks `mix_match` forms, dearest first: only their sums matter, not which unit of
    # equal price is in which.
    left = units.left
    pool = sorted([left[i] for i in _free(units, idx)], reverse=True)
    groups = min(len(pool) // e.qty, e.max_applications if e.max_applications is not None
                 else 1 << 30)
    total = 0
    for g in range(groups):
        chunk_sum = sum(pool[g * e.qty:(g + 1) * e.qty])
        saving = chunk_sum - e.price_minor
        if saving <= 0:
            break
        total += min(saving, chunk_sum)
    return total


def _multi_buy_total(units: Units, idx: list[int], get_idx: list[int] | None,
                     e: sp.MultiBuy, original: bool) -> int:
    pool = _free(units, idx)
    tier = _tier(e, len(pool))
    if tier is None:
        return 0
    left = units.left
    if tier.percent_bp is not None:
        base, bp = units.price if original else left, tier.percent_bp
        return sum([min(_pct(base[i], bp), left[i]) for i in pool])
    price = tier.unit_price_minor or 0
    return sum([max(0, left[i] - price) for i in pool])


# (units, target units, reward units or None, the effect, base="original") -> what the rule
# gives on them, without allocating it or marking claims.
Quick = Callable[[Units, list[int], "list[int] | None", Any, bool], int]


def quick_total(e: sp.Effect) -> Quick | None:
    """The function giving what a rule gives on some units without allocating it or marking
    claims. Chosen once per rule, when the bundle is compiled; the evaluator uses it for each
    rule's saving alone."""
    if isinstance(e, sp.SpendThreshold):
        return _threshold_total if e.free_sku is None else _gift_total
    if isinstance(e, sp.BuyXGetY):
        return _bxgy_total
    if isinstance(e, sp.AmountOff):
        return _amount_cart_total if e.scope == "cart" else _amount_item_total
    if isinstance(e, sp.PercentOff):
        return _percent_cart_total if e.scope == "cart" else _percent_item_total
    if isinstance(e, sp.FixedPrice):
        return _fixed_total
    if isinstance(e, sp.MixMatch):
        return _mix_match_total
    if isinstance(e, sp.MultiBuy):
        return _multi_buy_total
    return None


def cart_total(units: Units, idx: list[int], e: sp.Effect, original: bool,
               get_idx: list[int] | None = None) -> int | None:
    """What a rule gives on these units, without allocating it or marking claims (None: not
    such a rule). Equal to the sum of what its function allocates."""
    quick = quick_total(e)
    return None if quick is None else quick(units, idx, get_idx, e, original)


def _gift(units: Units, idx: list[int], free_idx: list[int], e: sp.SpendThreshold,
          original: bool) -> int | None:
    """The unit a free-item threshold gives (None: none)."""
    pool = _free(units, free_idx)
    if not pool:
        return None
    left, line = units.left, units.line
    gift = min(pool, key=lambda i: (left[i], line[i], i))
    spend = _base_sum(units, idx, original) - (
        _base(units, gift, original) if gift in idx else 0)
    return gift if spend >= e.threshold_minor else None


def _gift_total(units: Units, idx: list[int], free_idx: list[int] | None,
                e: sp.SpendThreshold, original: bool) -> int:
    gift = _gift(units, idx, free_idx or [], e, original)
    return 0 if gift is None else units.left[gift]


def spend_threshold(units: Units, idx: list[int], free_idx: list[int], e: sp.SpendThreshold,
                    original: bool) -> Off:
    off: Off = {}
    if e.free_sku is not None:
        gift = _gift(units, idx, free_idx, e, original)
        if gift is not None:
            off[gift] = units.left[gift]
            units.claimed[gift] = True
        return off
    if _base_sum(units, idx, original) >= e.threshold_minor:
        _spread(units, idx, e.amount_off_minor, off)
    return off


# One rule on the units (claims marked in place): (units, target units, reward units or None,
# the effect, base="original") -> the discount per unit.
Give = Callable[[Units, list[int], "list[int] | None", Any, bool], Off]

GIVES: dict[type, Give] = {
    sp.PercentOff: lambda u, idx, get, e, o: percent_off(u, idx, e, o),
    sp.AmountOff: lambda u, idx, get, e, o: amount_off(u, idx, e),
    sp.FixedPrice: lambda u, idx, get, e, o: fixed_price(u, idx, e),
    sp.BuyXGetY: buy_x_get_y,
    sp.MixMatch: lambda u, idx, get, e, o: mix_match(u, idx, e),
    sp.MultiBuy: lambda u, idx, get, e, o: multi_buy(u, idx, e, o),
    sp.SpendThreshold: lambda u, idx, get, e, o: spend_threshold(u, idx, get or [], e, o),
}
assert set(GIVES) == set(sp.Effect.__args__), "every effect kind has its function"  # type: ignore[attr-defined]
